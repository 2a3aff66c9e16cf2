"""The validity report (``hxbench validity``): the table of declared behaviours checked on the
user's videos, the metrics that fail their declaration listed first, and one AUC plot per
metric output (bars with bootstrap CIs; 0.5 is chance), rendered with ``hxbench.html``."""

from __future__ import annotations

from typing import Any

from hxbench.html import bar_chart, esc, fmt_number, page, table

COLUMNS = ("metric", "output", "perturbation", "expect", "n", "refused", "clean", "perturbed", "delta", "share",
           "AUC", "AUC 95% CI", "effect", "verdict")


def row_cells(r: dict[str, Any]) -> list[str]:
    """One row of the table as text cells (shared by the terminal table and the HTML)."""
    ci = r.get("auc_ci")
    return [r["metric"], r["output"], r["perturbation"], r["expect"], str(r["n"]), str(r["n_refused"]),
            fmt_number(r["clean"]), fmt_number(r["perturbed"]), fmt_number(r["delta"]),
            fmt_number(r["share"], ".2f"), fmt_number(r["auc"], ".3f"),
            f"[{fmt_number(ci[0], '.2f')}, {fmt_number(ci[1], '.2f')}]" if ci else "–",
            fmt_number(r["effect"], ".2f"), r["verdict"]]


def text_table(result: dict[str, Any]) -> str:
    rows = [list(COLUMNS)] + [row_cells(r) for r in result["rows"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines = []
    for j, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if j == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary_lines(result: dict[str, Any]) -> list[str]:
    out = []
    for metric, s in result["summary"].items():
        if s["fails"]:
            out.append(f"{metric}: FAILS {len(s['fails'])} of {s['checked']} checked declarations: "
                       + "; ".join(s["fails"]))
        else:
            out.append(f"{metric}: meets all {s['checked']} checked declarations")
    for key, why in result.get("unavailable", {}).items():
        out.append(f"{key}: unavailable, not checked: {why}")
    return out


def render(result: dict[str, Any], title: str = "hxbench validity") -> str:
    st = result["settings"]
    body = [f"<h1>{esc(title)}</h1>",
            f"<p class='muted'>{result['n_samples']} samples from <code>{esc(str(st.get('gen')))}</code>"
            f"{', audio ' + esc(str(st['audio'])) if st.get('audio') else ''}"
            f"{', reference ' + esc(str(st['ref'])) if st.get('ref') else ', reference: each clean copy'}"
            f"; max side {esc(str(st.get('max_side')))} px, max {esc(str(st.get('max_seconds')))} s. "
            f"Thresholds: {esc(str(result['thresholds']))}.</p>"]
    fails = [ln for ln in summary_lines(result) if "FAILS" in ln]
    if fails:
        body.append("<div class='banner'>Metrics that fail their declared behaviour on these videos:<ul>"
                    + "".join(f"<li>{esc(ln)}</li>" for ln in fails) + "</ul></div>")
    body.append("<h2>Summary</h2><ul>" + "".join(f"<li>{esc(ln)}</li>" for ln in summary_lines(result)) + "</ul>")
    body.append("<h2>Declared behaviour vs measured</h2><p class='muted'>AUC: P(perturbed scores worse than clean), "
                "0.5 = no response; effect: |mean change| / spread of clean values; share: WORSE rows, share of "
                "samples moving worse; INVARIANT rows, share moving more than half the spread; TRACKS_SHIFT rows, "
                "share whose offset follows the shift.</p>")
    cells = []
    for r in result["rows"]:
        c = [esc(x) for x in row_cells(r)]
        if r["verdict"] == "FAILS":
            c[-1] = (f"<b>{c[-1]}</b>", "class='na'")
        cells.append(c)
    body.append("<div class='scroll'>" + table(list(COLUMNS), cells) + "</div>")
    body.append("<h2>AUC clean vs perturbed</h2><div class='plots'>")
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in result["rows"]:
        if r["auc"] is not None:
            groups.setdefault((r["metric"], r["output"]), []).append(r)
    for (metric, output), rs in groups.items():
        labels = [f"{r['perturbation']} ({'ignore' if r['expect'] == 'invariant' else r['expect']})" for r in rs]
        body.append(bar_chart(labels, [r["auc"] for r in rs], 0.0, 1.0, [r["auc_ci"] for r in rs],
                              title=f"{metric} {output}: AUC", spec=".2f"))
    body.append("</div>")
    return page(title, "".join(body))


def markdown_table(result: dict[str, Any], columns: tuple[str, ...] = ("metric", "output", "perturbation", "expect",
                   "n", "refused", "clean", "perturbed", "delta", "share", "AUC", "AUC 95% CI", "effect", "verdict"),
                   skip_not_run: bool = True) -> str:
    """The table as Markdown (docs/validity.md), FAILS in bold."""
    idx = [COLUMNS.index(c) for c in columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for r in result["rows"]:
        if skip_not_run and (r["verdict"] == "not run" or r.get("note") == "not run"):
            continue
        cells = row_cells(r)
        cells[-1] = "**FAILS**" if cells[-1] == "FAILS" else cells[-1]
        lines.append("| " + " | ".join(cells[i].replace("|", "\\|") for i in idx) + " |")
    return "\n".join(lines)
