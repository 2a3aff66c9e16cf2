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
from urllib.parse import quote

import numpy as np

from hxbench.html import bar_chart, fmt_number, page, table
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
def _n(v: float | None, spec: str = ".3f") -> str:
    """A rate or statistic as the study prints it; a missing one (no votes) as n/a."""
    return fmt_number(v, spec, missing="n/a")


def _sections(report: dict[str, Any]) -> list[str]:
    """The report's parts after its summary, one per statistic."""
    e = html.escape
    out = []
    if "pairwise" in report:
        pw = report["pairwise"]
        out.append("<h2>Pairwise preference (GSB)</h2>" + table(
            ["A vs B", "n", "wins", "ties", "losses", "GSB", "95% CI"],
            [[f"{e(p['a'])} vs {e(p['b'])}", str(p["n"]), str(p["wins"]), str(p["ties"]), str(p["losses"]),
              _n(p["gsb"], "+.3f"), "n/a" if not p["gsb_ci95"] else
              f"[{_n(p['gsb_ci95'][0], '+.3f')}, {_n(p['gsb_ci95'][1], '+.3f')}]"] for p in pw["pairs"]]))
        out.append(bar_chart([f"{p['a']} vs {p['b']}" for p in pw["pairs"]], [p["gsb"] for p in pw["pairs"]],
                             -1, 1, [p["gsb_ci95"] for p in pw["pairs"]], "GSB (A vs B), 95% CI"))
        out.append("<h2>Defect rates (lower is better)</h2>" + table(
            ["model", "showings", *DEFECTS, "DA"],
            [[e(m), str(d["n"]), *(_n(d[k]) for k in DEFECTS), _n(pw["da"].get(m))]
             for m, d in pw["defect_rates"].items()]))
        for k in DEFECTS:
            out.append(bar_chart(list(pw["defect_rates"]), [d[k] for d in pw["defect_rates"].values()],
                                 0, 1, title=f"{k} defect rate", spec=".2f"))
    if "best_choice" in report:
        bc = report["best_choice"]
        ci = bc.get("top1_ci95") or {}
        out.append(f"<h2>Best choice: Top-1 selection rate</h2><p>{bc['n']} votes.</p>")
        out.append(bar_chart(list(bc["top1"]), list(bc["top1"].values()), 0, 1,
                             [tuple(ci[m]) if m in ci else None for m in bc["top1"]],
                             "Top-1 rate, 95% CI", spec=".1%"))
    rk = report["ranking"]
    if rk["order"]:
        out.append("<h2>Bradley–Terry ranking</h2>" + table(
            ["rank", ("model", "class='l'"), "strength"],
            [[str(i + 1), (e(m), "class='l'"), _n(rk["strength"][m])] for i, m in enumerate(rk["order"])]))
    items = []
    for k, v in report["agreement"].items():
        if isinstance(v, dict):
            items.extend(f"<li>{e(k)} {e(d)}: {_n(a)}</li>" for d, a in v.items())
        else:
            items.append(f"<li>{e(k)}: {_n(v)}</li>")
    out.append("<h2>Inter-rater agreement (Krippendorff's alpha, nominal)</h2><ul>" + "".join(items) + "</ul>")
    att = report["attention"]
    out.append(f"<h2>Attention checks</h2><p>{att['failed']} failed of {att['checks_answered']} "
               f"answered. Excluded raters (failed more than {report['votes']['max_check_fail']:.0%}): "
               f"{', '.join(e(r) for r in report['votes']['excluded_raters']) or 'none'}.</p>")
    out.append(table(["rater", "checks", "answered", "failed"],
                     [[e(r), str(a["checks"]), str(a["answered"]), str(a["failed"])]
                      for r, a in sorted(att["per_rater"].items())]))
    return out


def _body(report: dict[str, Any], controls: str = "") -> str:
    """Summary, then ``controls`` (HTML), the sections and the provenance line."""
    e = html.escape
    st, votes = report["study"], report["votes"]
    out = [f"<h1>User study report ({e(st['protocol'])})</h1>",
           f"<p>Runs: {', '.join(e(r) for r in st['runs'])}. Samples matched: {st['n_samples']}. "
           f"Raters: {st['n_raters']}. Votes used: {votes['used']} of {votes['answered']} answered "
           f"({votes['items']} planned items, {votes['check_items']} attention checks).</p>"]
    if st.get("missing"):
        out.append("<p class='muted'>Samples missing from some runs (excluded): " + "; ".join(
            f"{e(k)}: {len(v)}" for k, v in st["missing"].items()) + "</p>")
    if controls:
        out.append(controls)
    out += _sections(report)
    out.append(f"<p class='muted'>hxbench {e(str(report.get('hxbench_version')))}, created "
               f"{e(str(report.get('created')))}.</p>")
    return "\n".join(out)


def render_html(report: dict[str, Any]) -> str:
    """The self-contained HTML report (inline SVG plots, no external resources)."""
    return page("hxbench user study report", _body(report))


def render_admin_html(report: dict[str, Any], progress: dict[str, tuple[int, int]], token: str) -> str:
    """The live admin page: per-rater progress (rater: (answered, items)) and links exporting
    the votes, above the report. ``token`` authenticates the export links."""
    q = quote(token, safe="")
    controls = ("<h2>Rater progress</h2>" + table(
        ["rater", "done", "items"], [[html.escape(r), str(d), str(t)] for r, (d, t) in sorted(progress.items())],
        "id='progress'") + f"<p id='export'>Export the votes: <a href='/admin/export.json?token={q}'>JSON</a> · "
        f"<a href='/admin/export.csv?token={q}'>CSV</a></p>")
    return page("hxbench user study admin", _body(report, controls))
