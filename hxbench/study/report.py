"""Report maths of the user study, and the JSON / self-contained HTML report.

Definitions (OmniHuman-1.5 §4.1, Tables 2-3, Figure 5):

- GSB of A against B over the pairwise votes showing A and B:
  ``(Wins - Losses) / (Wins + Losses + Ties)`` in [-1, 1] (Wins: A preferred).
  95 % confidence interval: percentile bootstrap resampling *samples* (all votes on one
  sample stay together: a cluster bootstrap, since raters judge the same clips).
- Defect rate of model M for defect D (LSI lip-sync inconsistency, MU motion unnaturalness,
  ID image distortion): flagged showings of M / all showings of M in pairwise votes;
  reported overall and within each pair (as Table 2 reports them per comparison).
- DA (driving accuracy, Table 3): correctly animated persons / persons present, summed
  over the pairwise votes showing M.
- Top-1 rate (best-choice, Figure 5a): votes choosing M / best-choice votes showing M.
- Inter-rater agreement: Krippendorff's alpha, nominal (Krippendorff 2011, "Computing
  Krippendorff's alpha-reliability"), over units = one comparison (sample, pair of runs) with
  the outcome in model space (winner or tie), = one sample for best-choice, and = one
  (sample, pair, model) per defect.
- Bradley-Terry strengths by Hunter's (2004) MM algorithm on the pairwise outcomes (a tie
  is half a win each way; best-choice votes count as the chosen model beating every other
  one shown), with ``prior`` virtual ties per compared pair to keep unbeaten models finite.
- Attention checks (excluded from every statistic): identical pair passed iff "same";
  broken video passed iff the intact side is preferred / the broken one not chosen. Raters
  failing more than ``max_check_fail`` of their checks are excluded (listed in the report).
"""

from __future__ import annotations

import html
import itertools
import math
from typing import Any, Iterable

import numpy as np

from hxbench.stats.bootstrap import DEFAULT_N_BOOT, DEFAULT_SEED, cluster_bootstrap_ratio
from hxbench.study.plan import BROKEN

DEFECTS = ("LSI", "MU", "ID")


# -- elementary statistics ---------------------------------------------------------------------------
def gsb(wins: int, losses: int, ties: int) -> float | None:
    n = wins + losses + ties
    return None if n == 0 else (wins - losses) / n


def krippendorff_alpha_nominal(units: Iterable[Iterable[Any]]) -> float | None:
    """Krippendorff's alpha for nominal data. ``units``: per unit, the values given to it
    (any hashable; missing values simply left out). Units with fewer than 2 values are not
    pairable and ignored. None when no pairable unit exists or all values are one category."""
    coincid: dict[tuple[Any, Any], float] = {}
    for unit in units:
        vals = list(unit)
        m = len(vals)
        if m < 2:
            continue
        for i, j in itertools.permutations(range(m), 2):
            key = (vals[i], vals[j])
            coincid[key] = coincid.get(key, 0.0) + 1.0 / (m - 1)
    if not coincid:
        return None
    n_c: dict[Any, float] = {}
    for (c, _k), v in coincid.items():
        n_c[c] = n_c.get(c, 0.0) + v
    n = sum(n_c.values())
    d_o = sum(v for (c, k), v in coincid.items() if c != k)
    d_e = (n * n - sum(v * v for v in n_c.values())) / (n - 1)
    if d_e <= 0:
        return None
    return 1.0 - d_o / d_e


def bradley_terry(models: list[str], wins: dict[tuple[str, str], float], prior: float = 0.5,
                  iters: int = 10000, tol: float = 1e-12) -> dict[str, float]:
    """Bradley-Terry strengths p (sum 1) by MM (Hunter 2004): P(i beats j) = p_i / (p_i + p_j).
    ``wins[(i, j)]``: times i beat j (ties as 0.5 each way). ``prior`` virtual ties are added
    to every pair compared at least once."""
    k = len(models)
    ix = {m: i for i, m in enumerate(models)}
    w = np.zeros((k, k))
    for (a, b), v in wins.items():
        w[ix[a], ix[b]] += v
    compared = (w + w.T) > 0
    w = w + prior * 0.5 * compared
    n = w + w.T
    total = w.sum(axis=1)
    p = np.full(k, 1.0 / k)
    for _ in range(iters):
        denom = (n / (p[:, None] + p[None, :])).sum(axis=1)
        new = np.where(denom > 0, total / np.where(denom > 0, denom, 1), p)
        s = new.sum()
        new = new / s if s > 0 else p
        if np.max(np.abs(new - p)) < tol:
            p = new
            break
        p = new
    return {m: float(p[ix[m]]) for m in models}


# -- votes in model space ---------------------------------------------------------------------------
def _check_passed(row: dict) -> bool | None:
    ans, runs = row["answer"], row["runs"]
    if ans is None:
        return None
    if row["kind"] == "pair":
        if row["check_kind"] == "identical":
            return ans.get("pref") == "same"
        broken_left = runs[0] == BROKEN
        return ans.get("pref") == ("right" if broken_left else "left")
    choice = ans.get("choice")
    return choice is not None and runs[int(choice)] != BROKEN


def attention(rows: list[dict]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for row in rows:
        if not row["check_kind"]:
            continue
        rec = out.setdefault(row["rater"], {"checks": 0, "answered": 0, "failed": 0, "failures": []})
        rec["checks"] += 1
        passed = _check_passed(row)
        if passed is None:
            continue
        rec["answered"] += 1
        if not passed:
            rec["failed"] += 1
            rec["failures"].append({"item": row["item_id"], "check": row["check_kind"],
                                    "sample_id": row["sample_id"]})
    return out


def compute(rows: list[dict], runs: list[str], protocol: str, n_boot: int = DEFAULT_N_BOOT,
            seed: int = DEFAULT_SEED, max_check_fail: float = 0.5, bt_prior: float = 0.5) -> dict[str, Any]:
    """All statistics from exported rows (``StudyDB.export()``)."""
    att = attention(rows)
    excluded = sorted(r for r, a in att.items()
                      if a["answered"] and a["failed"] / a["answered"] > max_check_fail)
    used = [r for r in rows if r["answer"] is not None and not r["check_kind"]
            and r["rater"] not in excluded]
    out: dict[str, Any] = {
        "votes": {"items": len(rows), "answered": sum(r["answer"] is not None for r in rows),
                  "check_items": sum(bool(r["check_kind"]) for r in rows), "used": len(used),
                  "excluded_raters": excluded, "max_check_fail": max_check_fail},
        "attention": {"per_rater": att,
                      "checks_answered": sum(a["answered"] for a in att.values()),
                      "failed": sum(a["failed"] for a in att.values())},
    }
    bt_wins: dict[tuple[str, str], float] = {}
    if protocol == "pairwise":
        out["pairwise"] = _pairwise(used, runs, n_boot, seed, bt_wins)
        out["agreement"] = _agreement_pairwise(used)
    else:
        out["best_choice"] = _best_choice(used, runs, n_boot, seed, bt_wins)
        out["agreement"] = {"best_choice": krippendorff_alpha_nominal(
            [v for v in _group(used, lambda r: r["sample_id"],
                               lambda r: r["runs"][int(r["answer"]["choice"])]).values()])}
    strength = bradley_terry(runs, bt_wins, prior=bt_prior) if bt_wins else {}
    order = sorted(runs, key=lambda m: -strength.get(m, 0.0))
    out["ranking"] = {"method": "bradley-terry (MM, Hunter 2004)", "prior_ties_per_pair": bt_prior,
                      "order": order if strength else [], "strength": strength,
                      "log_strength": {m: (math.log(v) if v > 0 else None) for m, v in strength.items()}}
    return out


def _group(rows: list[dict], key, value) -> dict:  # noqa: ANN001
    groups: dict = {}
    for r in rows:
        groups.setdefault(key(r), []).append(value(r))
    return groups


def _winner(row: dict) -> str | None:
    pref = row["answer"]["pref"]
    return None if pref == "same" else row["runs"][0 if pref == "left" else 1]


def _pairwise(used: list[dict], runs: list[str], n_boot: int, seed: int,
              bt_wins: dict[tuple[str, str], float]) -> dict[str, Any]:
    pairs = []
    shown = {m: {"n": 0, **{d: 0 for d in DEFECTS}} for m in runs}
    da_tot = {m: [0, 0] for m in runs}
    for a, b in itertools.combinations(runs, 2):
        votes = [r for r in used if r["kind"] == "pair" and set(r["runs"]) == {a, b}]
        wins = sum(_winner(r) == a for r in votes)
        losses = sum(_winner(r) == b for r in votes)
        ties = len(votes) - wins - losses
        if wins or losses or ties:
            bt_wins[(a, b)] = bt_wins.get((a, b), 0.0) + wins + 0.5 * ties
            bt_wins[(b, a)] = bt_wins.get((b, a), 0.0) + losses + 0.5 * ties
        per_sample = _group(votes, lambda r: r["sample_id"],
                            lambda r: 1 if _winner(r) == a else (-1 if _winner(r) == b else 0))
        num = np.array([sum(v) for v in per_sample.values()], dtype=float)
        den = np.array([len(v) for v in per_sample.values()], dtype=float)
        ci = cluster_bootstrap_ratio(num, den, n_boot=n_boot, seed=seed)
        defects: dict[str, dict] = {}
        da: dict[str, float | None] = {}
        for m in (a, b):
            flags = {d: 0 for d in DEFECTS}
            dc = [0, 0]
            for r in votes:
                side = "left" if r["runs"][0] == m else "right"
                for d in r["answer"].get("defects", {}).get(side, []):
                    flags[d] += 1
                if r["answer"].get("da"):
                    c, p = r["answer"]["da"][side]
                    dc[0] += c
                    dc[1] += p
            defects[m] = {d: (flags[d] / len(votes) if votes else None) for d in DEFECTS}
            da[m] = dc[0] / dc[1] if dc[1] else None
            shown[m]["n"] += len(votes)
            for d in DEFECTS:
                shown[m][d] += flags[d]
            da_tot[m][0] += dc[0]
            da_tot[m][1] += dc[1]
        pairs.append({"a": a, "b": b, "n": len(votes), "wins": wins, "losses": losses, "ties": ties,
                      "gsb": gsb(wins, losses, ties), "gsb_ci95": ci, "samples": len(per_sample),
                      "defect_rates": defects, "da": da})
    defect_rates = {m: {**{d: (s[d] / s["n"] if s["n"] else None) for d in DEFECTS}, "n": s["n"]}
                    for m, s in shown.items()}
    da_rates = {m: (c / p if p else None) for m, (c, p) in da_tot.items()}
    matrix = {a: {b: None for b in runs} for a in runs}
    for p in pairs:
        matrix[p["a"]][p["b"]] = p["gsb"]
        matrix[p["b"]][p["a"]] = None if p["gsb"] is None else -p["gsb"]
    return {"pairs": pairs, "gsb_matrix": matrix, "defect_rates": defect_rates, "da": da_rates}


def _agreement_pairwise(used: list[dict]) -> dict[str, Any]:
    pair_votes = [r for r in used if r["kind"] == "pair"]
    key = lambda r: (r["sample_id"], tuple(sorted(r["runs"])))  # noqa: E731
    pref = krippendorff_alpha_nominal(
        _group(pair_votes, key, lambda r: _winner(r) or "tie").values())
    out: dict[str, Any] = {"preference": pref, "defects": {}}
    for d in DEFECTS:
        units: dict = {}
        for r in pair_votes:
            for side, m in zip(("left", "right"), r["runs"]):
                flagged = d in r["answer"].get("defects", {}).get(side, [])
                units.setdefault(key(r) + (m,), []).append(int(flagged))
        out["defects"][d] = krippendorff_alpha_nominal(units.values())
    return out


def _best_choice(used: list[dict], runs: list[str], n_boot: int, seed: int,
                 bt_wins: dict[tuple[str, str], float]) -> dict[str, Any]:
    votes = [r for r in used if r["kind"] == "choice"]
    chosen = {m: 0 for m in runs}
    shown = {m: 0 for m in runs}
    ix = {m: i for i, m in enumerate(runs)}
    per_sample: dict[str, np.ndarray] = {}
    per_sample_n: dict[str, int] = {}
    for r in votes:
        c = r["runs"][int(r["answer"]["choice"])]
        chosen[c] += 1
        for m in r["runs"]:
            shown[m] += 1
            if m != c:
                bt_wins[(c, m)] = bt_wins.get((c, m), 0.0) + 1.0
        per_sample.setdefault(r["sample_id"], np.zeros(len(runs)))[ix[c]] += 1
        per_sample_n[r["sample_id"]] = per_sample_n.get(r["sample_id"], 0) + 1
    top1 = {m: (chosen[m] / shown[m] if shown[m] else None) for m in runs}
    ci = None
    if per_sample:
        keys = sorted(per_sample)
        ci_list = cluster_bootstrap_ratio(np.stack([per_sample[k] for k in keys]),
                                          np.array([per_sample_n[k] for k in keys], dtype=float),
                                          n_boot=n_boot, seed=seed)
        ci = None if ci_list is None else {m: list(ci_list[ix[m]]) for m in runs}
    return {"n": len(votes), "chosen": chosen, "top1": top1, "top1_ci95": ci}


# -- HTML ---------------------------------------------------------------------------------------------
def svg_bars(labels: list[str], values: list[float | None], lo: float, hi: float,
             ci: list[tuple[float, float] | None] | None = None, title: str = "",
             fmt: str = "{:+.2f}", width: int = 560) -> str:
    """A horizontal bar chart as inline SVG (value axis from lo to hi; zero line drawn)."""
    row_h, left, right, top = 26, 180, 70, 28
    h = top + row_h * len(labels) + 24
    plot_w = width - left - right

    def x(v: float) -> float:
        return left + (min(max(v, lo), hi) - lo) / (hi - lo) * plot_w

    e = html.escape
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" '
             f'role="img" aria-label="{e(title)}" font-family="sans-serif" font-size="12">',
             f'<text x="{left}" y="16" font-weight="bold">{e(title)}</text>']
    x0 = x(0.0 if lo <= 0 <= hi else lo)
    parts.append(f'<line x1="{x0:.1f}" y1="{top - 4}" x2="{x0:.1f}" y2="{h - 20}" stroke="#444"/>')
    for tick in np.linspace(lo, hi, 5):
        parts.append(f'<text x="{x(tick):.1f}" y="{h - 6}" text-anchor="middle" fill="#666">'
                     f'{tick:g}</text>')
    for i, (lab, v) in enumerate(zip(labels, values)):
        y = top + i * row_h
        parts.append(f'<text x="{left - 6}" y="{y + 16}" text-anchor="end">{e(lab)}</text>')
        if v is None:
            parts.append(f'<text x="{x0 + 4:.1f}" y="{y + 16}" fill="#999">n/a</text>')
            continue
        xa, xb = sorted((x0, x(v)))
        color = "#2a7ab9" if v >= 0 else "#c0504d"
        parts.append(f'<rect x="{xa:.1f}" y="{y + 4}" width="{max(xb - xa, 1):.1f}" height="16" '
                     f'fill="{color}"/>')
        if ci and ci[i]:
            c0, c1 = x(ci[i][0]), x(ci[i][1])
            parts.append(f'<line x1="{c0:.1f}" y1="{y + 12}" x2="{c1:.1f}" y2="{y + 12}" '
                         f'stroke="#000" stroke-width="1.5"/>')
            for c in (c0, c1):
                parts.append(f'<line x1="{c:.1f}" y1="{y + 7}" x2="{c:.1f}" y2="{y + 17}" stroke="#000"/>')
        parts.append(f'<text x="{width - right + 6}" y="{y + 16}">{e(fmt.format(v))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _f(v: float | None, fmt: str = "{:.3f}") -> str:
    return "n/a" if v is None else fmt.format(v)


def render_html(report: dict[str, Any]) -> str:
    """The self-contained HTML report (inline SVG plots, no external resources)."""
    e = html.escape
    st = report["study"]
    out = ["<!doctype html><html><head><meta charset='utf-8'><title>hxbench user study report</title>",
           "<style>body{font-family:sans-serif;max-width:960px;margin:2em auto;color:#222}"
           "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;"
           "text-align:right}th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}"
           ".note{color:#666;font-size:90%}</style></head><body>",
           f"<h1>User study report ({e(st['protocol'])})</h1>",
           f"<p>Runs: {', '.join(e(r) for r in st['runs'])}. Samples matched: {st['n_samples']}. "
           f"Raters: {st['n_raters']}. Votes used: {report['votes']['used']} of "
           f"{report['votes']['answered']} answered ({report['votes']['items']} planned items, "
           f"{report['votes']['check_items']} attention checks).</p>"]
    if st.get("missing"):
        out.append("<p class='note'>Samples missing from some runs (excluded): " + "; ".join(
            f"{e(k)}: {len(v)}" for k, v in st["missing"].items()) + "</p>")
    if "pairwise" in report:
        pw = report["pairwise"]
        out.append("<h2>Pairwise preference (GSB)</h2><table><tr><th>A vs B</th><th>n</th><th>wins</th>"
                   "<th>ties</th><th>losses</th><th>GSB</th><th>95% CI</th></tr>")
        for p in pw["pairs"]:
            ci = p["gsb_ci95"]
            out.append(f"<tr><td>{e(p['a'])} vs {e(p['b'])}</td><td>{p['n']}</td><td>{p['wins']}</td>"
                       f"<td>{p['ties']}</td><td>{p['losses']}</td><td>{_f(p['gsb'], '{:+.3f}')}</td>"
                       f"<td>{'n/a' if not ci else f'[{ci[0]:+.3f}, {ci[1]:+.3f}]'}</td></tr>")
        out.append("</table>")
        out.append(svg_bars([f"{p['a']} vs {p['b']}" for p in pw["pairs"]], [p["gsb"] for p in pw["pairs"]],
                            -1, 1, [p["gsb_ci95"] for p in pw["pairs"]], "GSB (A vs B), 95% CI"))
        out.append("<h2>Defect rates (lower is better)</h2><table><tr><th>model</th><th>showings</th>"
                   + "".join(f"<th>{d}</th>" for d in DEFECTS) + "<th>DA</th></tr>")
        for m, d in pw["defect_rates"].items():
            out.append(f"<tr><td>{e(m)}</td><td>{d['n']}</td>" + "".join(
                f"<td>{_f(d[k])}</td>" for k in DEFECTS) + f"<td>{_f(pw['da'].get(m))}</td></tr>")
        out.append("</table>")
        for k in DEFECTS:
            out.append(svg_bars(list(pw["defect_rates"]), [d[k] for d in pw["defect_rates"].values()],
                                0, 1, title=f"{k} defect rate", fmt="{:.2f}"))
    if "best_choice" in report:
        bc = report["best_choice"]
        ci = bc.get("top1_ci95") or {}
        out.append(f"<h2>Best choice: Top-1 selection rate</h2><p>{bc['n']} votes.</p>")
        out.append(svg_bars(list(bc["top1"]), list(bc["top1"].values()), 0, 1,
                            [tuple(ci[m]) if m in ci else None for m in bc["top1"]],
                            "Top-1 rate, 95% CI", fmt="{:.1%}"))
    rk = report["ranking"]
    if rk["order"]:
        out.append("<h2>Bradley–Terry ranking</h2><table><tr><th>rank</th><th>model</th>"
                   "<th>strength</th></tr>" + "".join(
                       f"<tr><td>{i + 1}</td><td>{e(m)}</td><td>{rk['strength'][m]:.3f}</td></tr>"
                       for i, m in enumerate(rk["order"])) + "</table>")
    ag = report["agreement"]
    out.append("<h2>Inter-rater agreement (Krippendorff's alpha, nominal)</h2><ul>")
    for k, v in ag.items():
        if isinstance(v, dict):
            out.extend(f"<li>{e(k)} {e(d)}: {_f(a)}</li>" for d, a in v.items())
        else:
            out.append(f"<li>{e(k)}: {_f(v)}</li>")
    out.append("</ul>")
    att = report["attention"]
    out.append(f"<h2>Attention checks</h2><p>{att['failed']} failed of {att['checks_answered']} "
               f"answered. Excluded raters (failed more than {report['votes']['max_check_fail']:.0%}): "
               f"{', '.join(e(r) for r in report['votes']['excluded_raters']) or 'none'}.</p>")
    out.append("<table><tr><th>rater</th><th>checks</th><th>answered</th><th>failed</th></tr>" + "".join(
        f"<tr><td>{e(r)}</td><td>{a['checks']}</td><td>{a['answered']}</td><td>{a['failed']}</td></tr>"
        for r, a in sorted(att["per_rater"].items())) + "</table>")
    out.append(f"<p class='note'>hxbench {e(str(report.get('hxbench_version')))}, created "
               f"{e(str(report.get('created')))}.</p></body></html>")
    return "\n".join(out)
