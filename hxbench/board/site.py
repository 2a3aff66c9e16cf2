"""Static leaderboard site: plain HTML + one CSS file + a few lines of inline JS (column
sorting). No server, no external assets; plots are inline SVG.

Layout of the output folder::

    index.html               all boards
    style.css
    <board>/index.html       ranking table with 95% CIs, scatter and distribution plots
    <board>/<entry>.html     model card, metric values, worst samples
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

from hxbench.board.leaderboard import Board, BoardError, Column, Entry, load_board

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;color:#1d2430;max-width:1150px;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #dde3ea;padding-bottom:.3rem}
a{color:#1d4ed8}table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{padding:.35rem .6rem;border-bottom:1px solid #e8ecf1;text-align:right;vertical-align:top}
th.l,td.l{text-align:left}th{background:#f4f6f9}th[data-col]{cursor:pointer;user-select:none}
th[data-dir=asc]::after{content:" ▲"}th[data-dir=desc]::after{content:" ▼"}
.ci{color:#6b7785;font-size:.78rem;display:block}.muted{color:#6b7785;font-size:.85rem}
.banner{background:#fff4e5;border:1px solid #f0b45a;padding:.6rem .9rem;border-radius:6px;font-weight:600}
.plots{display:flex;flex-wrap:wrap;gap:1.5rem}.excluded{color:#9a3412}
code{background:#f4f6f9;padding:0 .25rem}dl.card dt{font-weight:600}dl.card dd{margin:0 0 .5rem 1rem}
"""

SORT_JS = """<script>
document.querySelectorAll('table.sortable th[data-col]').forEach(function(th){th.addEventListener('click',function(){
var t=th.closest('table'),b=t.tBodies[0],i=th.cellIndex,asc=th.dataset.dir!=='asc';
t.querySelectorAll('th').forEach(function(h){delete h.dataset.dir});th.dataset.dir=asc?'asc':'desc';
Array.from(b.rows).sort(function(x,y){var a=parseFloat(x.cells[i].dataset.v),c=parseFloat(y.cells[i].dataset.v);
if(isNaN(a))return isNaN(c)?0:1;if(isNaN(c))return -1;return asc?a-c:c-a}).forEach(function(r){b.appendChild(r)});});});
</script>"""

PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04"]
esc = html.escape


def _fmt(v: Any, spec: str = ".4g") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return format(v, spec) if isinstance(v, (int, float)) else esc(str(v))


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "entry"


def _page(title: str, body: str, css_href: str) -> str:
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'><title>{esc(title)}</title>"
            f"<link rel='stylesheet' href='{css_href}'></head><body>{body}</body></html>")


# -- plots --------------------------------------------------------------------------------------
def _ticks(lo: float, hi: float) -> list[float]:
    return [lo + f * (hi - lo) for f in (0, 0.25, 0.5, 0.75, 1)]


def scatter_svg(points: list[tuple[str, float, float, list | None, list | None]], cx: Column, cy: Column,
                width: int = 460, height: int = 340) -> str:
    """Metric-vs-metric scatter: one labelled point per entry with its 95% CI as error bars."""
    pts = [p for p in points if p[1] is not None and p[2] is not None]
    if not pts:
        return ""
    xs = [p[1] for p in pts] + [v for p in pts if p[3] for v in p[3]]
    ys = [p[2] for p in pts] + [v for p in pts if p[4] for v in p[4]]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    if x1 - x0 < 1e-12:
        x0, x1 = x0 - 0.5, x1 + 0.5
    if y1 - y0 < 1e-12:
        y0, y1 = y0 - 0.5, y1 + 0.5
    padx, pady = (x1 - x0) * 0.08, (y1 - y0) * 0.08
    x0, x1, y0, y1 = x0 - padx, x1 + padx, y0 - pady, y1 + pady
    L, R, T, B = 60, 20, 20, 46
    sx = lambda v: L + (v - x0) / (x1 - x0) * (width - L - R)  # noqa: E731
    sy = lambda v: height - B - (v - y0) / (y1 - y0) * (height - T - B)  # noqa: E731
    arrow = lambda c: "↑" if c.higher_is_better else "↓"  # noqa: E731
    o = [f'<svg class="scatter" width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg" '
         f'font-size="11" role="img" aria-label="{esc(cx.label)} vs {esc(cy.label)}">',
         f'<rect x="{L}" y="{T}" width="{width - L - R}" height="{height - T - B}" fill="#fafbfc" stroke="#ccd"/>']
    for v in _ticks(x0, x1):
        o.append(f'<text x="{sx(v):.1f}" y="{height - B + 14}" text-anchor="middle">{_fmt(v, ".3g")}</text>')
    for v in _ticks(y0, y1):
        o.append(f'<text x="{L - 4}" y="{sy(v) + 4:.1f}" text-anchor="end">{_fmt(v, ".3g")}</text>')
    o.append(f'<text x="{(L + width - R) / 2}" y="{height - 8}" text-anchor="middle" font-weight="600">'
             f'{esc(cx.label)} {arrow(cx)}</text>')
    o.append(f'<text transform="translate(14,{(T + height - B) / 2}) rotate(-90)" text-anchor="middle" '
             f'font-weight="600">{esc(cy.label)} {arrow(cy)}</text>')
    for i, (name, x, y, cix, ciy) in enumerate(pts):
        col = PALETTE[i % len(PALETTE)]
        if cix:
            o.append(f'<line x1="{sx(cix[0]):.1f}" x2="{sx(cix[1]):.1f}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" stroke="{col}"/>')
        if ciy:
            o.append(f'<line x1="{sx(x):.1f}" x2="{sx(x):.1f}" y1="{sy(ciy[0]):.1f}" y2="{sy(ciy[1]):.1f}" stroke="{col}"/>')
        o.append(f'<circle class="pt" cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="4.5" fill="{col}"><title>{esc(name)}: '
                 f'{_fmt(x)}, {_fmt(y)}</title></circle>')
        right = sx(x) > L + 0.6 * (width - L - R)  # label to the left of points near the right edge
        o.append(f'<text x="{sx(x) + (-7 if right else 7):.1f}" y="{sy(y) - 6:.1f}" fill="{col}" '
                 f'text-anchor="{"end" if right else "start"}">{esc(name[:28])}</text>')
    o.append("</svg>")
    return "".join(o)


def distribution_svg(series: list[tuple[str, list[float]]], col: Column, width: int = 620) -> str:
    """Per-sample strip plot: one row of dots per entry, its mean as a bar (hxbench.board.report)."""
    from hxbench.board.report import _strip_plot

    svg = _strip_plot(series, width)
    return svg.replace("<svg ", '<svg class="dist" role="img" aria-label="' + esc(col.label) + '" ', 1) if svg else ""


# -- pages --------------------------------------------------------------------------------------
def _cell(e: Entry, c: Column) -> str:
    v = e.values.get(c.id)
    ci = e.ci.get(c.id)
    ci_html = f"<span class='ci'>[{_fmt(ci[0], c.format)}, {_fmt(ci[1], c.format)}]</span>" if ci else ""
    dv = "" if v is None else repr(float(v))
    return f"<td data-v='{dv}'>{_fmt(v, c.format)}{ci_html}</td>"


def render_board(board: Board) -> dict[str, str]:
    """{relative file name: html} for one measured board."""
    pages: dict[str, str] = {}
    out = [f"<p><a href='../index.html'>all boards</a></p><h1>{esc(board.title)}</h1>"]
    if board.description:
        out.append(f"<p>{esc(board.description)}</p>")
    task = (f"task <code>{esc(str(board.task))}</code>" + (f" v{board.task_version}" if board.task_version else "")
            if board.task else "no task pinned")
    rev = board.manifest_revision or (board.entries[0].meta.get("manifest_revision") if board.entries else None)
    out.append(f"<p class='muted'>{task} · manifest revision <code>{esc(str(rev))}</code> · "
               f"{len(board.entries)} entries · metrics: "
               + ", ".join(f"<code>{esc(c.metric)}</code>" for c in board.columns) + "</p>")
    out.append(f"<p id='ranking-rule'><b>Ranking.</b> {esc(board.ranking_text())} "
               "Values are means over samples (FID/FVD: over the set) with 95% bootstrap CIs.</p>")
    if not board.entries:
        out.append("<p class='muted' id='empty'>No entries yet. See the board's README for how to add one.</p>")
    out.append("<table id='ranking' class='sortable'><thead><tr><th data-col='rank'>#</th><th class='l'>model</th>")
    if board.rank_method == "mean_rank":
        out.append("<th data-col='score' title='mean of per-column ranks'>mean rank</th>")
    for c in board.columns:
        out.append(f"<th data-col='{esc(c.id)}' title='{esc(c.metric)} · {esc(c.output)}'>{esc(c.label)} "
                   f"{'↑' if c.higher_is_better else '↓'}</th>")
    out.append("</tr></thead><tbody>")
    for e in board.entries:
        page = f"{_slug(e.path.name)}.html"
        base = " <span class='muted'>(baseline)</span>" if e.card.get("baseline") else ""
        out.append(f"<tr data-entry='{esc(e.name)}'><td data-v='{e.rank}'>{e.rank}</td>"
                   f"<td class='l'><a href='{page}'>{esc(e.name)}</a>{base}</td>")
        if board.rank_method == "mean_rank":
            out.append(f"<td data-v='{e.score!r}'>{e.score:.2f}</td>")
        out.extend(_cell(e, c) for c in board.columns)
        out.append("</tr>")
        pages[page] = render_entry(board, e)
    out.append("</tbody></table><p class='muted'>Click a column header to sort by it (the rank column "
               "restores the official order).</p>")
    if board.excluded:
        out.append("<h2>Excluded entries</h2><ul class='excluded'>"
                   + "".join(f"<li><b>{esc(n)}</b>: {esc(r)}</li>" for n, r in board.excluded) + "</ul>")
    if board.entries and (board.scatter or board.distributions):
        out.append("<h2>Plots</h2><div class='plots'>")
        for a, b in board.scatter:
            ca, cb = board.column(a), board.column(b)
            pts = [(e.name, e.values.get(a), e.values.get(b), e.ci.get(a), e.ci.get(b)) for e in board.entries]
            svg = scatter_svg(pts, ca, cb)
            if svg:
                out.append(f"<figure>{svg}<figcaption class='muted'>{esc(ca.label)} vs {esc(cb.label)} "
                           "(bars: 95% CI)</figcaption></figure>")
        out.append("</div>")
        for cid in board.distributions:
            c = board.column(cid)
            series = [(e.name, list(e.per_sample(c).values())) for e in board.entries]
            svg = distribution_svg(series, c)
            if svg:
                out.append(f"<h3>{esc(c.label)} per sample ({'higher' if c.higher_is_better else 'lower'} "
                           f"is better)</h3>{svg}")
    if board.notes:
        out.append(f"<p class='muted'>{esc(board.notes)}</p>")
    out.append(SORT_JS)
    pages["index.html"] = _page(board.title, "".join(out), "../style.css")
    return pages


def render_entry(board: Board, e: Entry, n_worst: int = 8) -> str:
    out = [f"<p><a href='index.html'>{esc(board.title)}</a></p><h1>{esc(e.name)}</h1>",
           f"<p>Rank <b>{e.rank}</b> of {len(board.entries)}</p><h2>Model card</h2><dl class='card'>"]
    for k, v in e.card.items():
        val = v if isinstance(v, str) else json.dumps(v)
        if k == "url" and isinstance(v, str) and v.startswith(("https://", "http://")):
            val_html = f"<a href='{esc(v)}' rel='nofollow'>{esc(v)}</a>"
        else:
            val_html = esc(val)
        out.append(f"<dt>{esc(str(k))}</dt><dd>{val_html}</dd>")
    out.append("</dl><h2>Scores</h2><table><tr><th class='l'>metric</th><th>value</th><th>95% CI</th><th>n</th>"
               "<th>failed</th></tr>")
    for c in board.columns:
        m = e.results.metrics[c.metric]
        row = m.outputs[c.output]
        ci = row.ci95
        out.append(f"<tr><td class='l'>{esc(c.label)} <span class='muted'>{esc(c.metric)}</span></td>"
                   f"<td>{_fmt(row.value, c.format)}</td>"
                   f"<td>{'[' + _fmt(ci[0], c.format) + ', ' + _fmt(ci[1], c.format) + ']' if ci else '–'}</td>"
                   f"<td>{row.n}</td><td>{m.n_failed}</td></tr>")
    out.append("</table>")
    for c in board.columns:
        vals = e.per_sample(c)
        if not vals:
            continue
        worst = sorted(vals.items(), key=lambda kv: kv[1], reverse=not c.higher_is_better)[:n_worst]
        out.append(f"<h2>Worst samples by {esc(c.label)}</h2><table class='worst'><tr><th class='l'>sample</th>"
                   f"<th>{esc(c.label)}</th></tr>"
                   + "".join(f"<tr><td class='l'>{esc(s)}</td><td>{_fmt(v, c.format)}</td></tr>" for s, v in worst)
                   + "</table>")
        break  # the first per-sample column (the ranking's leading one comes first in the schema)
    failures = [(k, f) for k, m in e.results.metrics.items() for f in m.failures]
    if failures:
        out.append("<h2>Failed samples</h2><ul>" + "".join(
            f"<li>{esc(k)}: {esc(f.sample_id)}: {esc(f.error)}</li>" for k, f in failures[:30]) + "</ul>")
    m = e.meta
    sig = "HMAC-signed" if m.get("signature") else "unsigned (integrity hash only)"
    out.append(f"<h2>Provenance</h2><p class='muted'>bundle integrity sha256 <code>{esc(str(m.get('integrity_sha256')))}</code>"
               f" · {sig} · hxbench {esc(str(m.get('hxbench_version')))} · git {esc(str(m.get('git_hash')))} · "
               f"scored {esc(e.results.created)}</p><p class='muted'>metric identity: "
               f"<code>{esc(json.dumps(m.get('metrics')))}</code></p>")
    return _page(f"{e.name} · {board.title}", "".join(out), "../style.css")


def render_reported(board: Board) -> dict[str, str]:
    out = [f"<p><a href='../index.html'>all boards</a></p><h1>{esc(board.title)}</h1>",
           "<p class='banner' id='reported'>Reported, not reproduced: numbers transcribed from the papers' tables. "
           "hxbench did not compute them; protocols, data and metric implementations differ between papers, "
           "so rows of different tables must not be compared.</p>"]
    if board.description:
        out.append(f"<p>{esc(board.description)}</p>")
    for t in board.tables:
        cols: list[Column] = t["columns"]
        out.append(f"<h2 id='{esc(str(t['id']))}'>{esc(str(t['source']))}</h2>")
        if t.get("caption"):
            out.append(f"<p class='muted'>{esc(str(t['caption']))}</p>")
        out.append("<table class='sortable reported'><thead><tr><th data-col='order'>#</th><th class='l'>method</th>"
                   + "".join(f"<th data-col='{esc(c.id)}'>{esc(c.label)} {'↑' if c.higher_is_better else '↓'}</th>"
                             for c in cols) + "</tr></thead><tbody>")
        for i, r in enumerate(t["rows"], 1):
            out.append(f"<tr><td data-v='{i}'>{i}</td><td class='l'>{esc(str(r['method']))}</td>")
            for c in cols:
                v = r["values"].get(c.id)
                out.append(f"<td data-v='{'' if v is None else repr(float(v))}'>{_fmt(v, c.format)}</td>")
            out.append("</tr>")
        out.append("</tbody></table>")
        if t.get("notes"):
            out.append(f"<p class='muted'>{esc(str(t['notes']))}</p>")
    out.append(SORT_JS)
    return {"index.html": _page(board.title, "".join(out), "../style.css")}


def build_site(boards_dir: str | Path, out_dir: str | Path, names: list[str] | None = None,
               exclude_incompatible: bool = False) -> list[Board]:
    """Render every board under ``boards_dir`` (or ``names``) into ``out_dir``."""
    boards_dir, out_dir = Path(boards_dir), Path(out_dir)
    dirs = sorted(p for p in boards_dir.iterdir() if (p / "board.yaml").is_file()) if boards_dir.is_dir() else []
    if names:
        missing = [n for n in names if not (boards_dir / n / "board.yaml").is_file()]
        if missing:
            raise BoardError(str(boards_dir), [f"no board {n!r} (no {boards_dir / n / 'board.yaml'})" for n in missing])
        dirs = [boards_dir / n for n in names]
    if not dirs:
        raise BoardError(str(boards_dir), ["no boards found (folders with a board.yaml)"])
    boards = [load_board(d, exclude_incompatible=exclude_incompatible) for d in dirs]
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "style.css").write_text(CSS.strip() + "\n")
    items = []
    for b in boards:
        pages = render_reported(b) if b.kind == "reported" else render_board(b)
        bdir = out_dir / b.name
        bdir.mkdir(parents=True, exist_ok=True)
        for name, text in pages.items():
            (bdir / name).write_text(text)
        what = "reported, not reproduced" if b.kind == "reported" else f"{len(b.entries)} entries"
        items.append(f"<li><a href='{esc(b.name)}/index.html'>{esc(b.title)}</a> <span class='muted'>({what})</span></li>")
    (out_dir / "index.html").write_text(_page("hxbench leaderboards", "<h1>hxbench leaderboards</h1><ul id='boards'>"
                                              + "".join(items) + "</ul>", "style.css"))
    return boards
