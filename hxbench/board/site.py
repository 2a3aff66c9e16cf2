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
from pathlib import Path

from hxbench.board.leaderboard import Board, BoardError, Column, Entry, load_board
from hxbench.html import STYLE, fmt_number, page, scatter_plot, strip_plot, table

SORT_JS = """<script>
document.querySelectorAll('table.sortable th[data-col]').forEach(function(th){th.addEventListener('click',function(){
var t=th.closest('table'),b=t.tBodies[0],i=th.cellIndex,asc=th.dataset.dir!=='asc';
t.querySelectorAll('th').forEach(function(h){delete h.dataset.dir});th.dataset.dir=asc?'asc':'desc';
Array.from(b.rows).sort(function(x,y){var a=parseFloat(x.cells[i].dataset.v),c=parseFloat(y.cells[i].dataset.v);
if(isNaN(a))return isNaN(c)?0:1;if(isNaN(c))return -1;return asc?a-c:c-a}).forEach(function(r){b.appendChild(r)});});});
</script>"""

esc = html.escape


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "entry"


def _heading(c: Column) -> str:
    return f"{c.label} {'↑' if c.higher_is_better else '↓'}"


def _sortable(v: float | None, spec: str) -> tuple[str, str]:
    """A number cell whose ``data-v`` the sorting script reads (empty: missing, sorts last)."""
    return fmt_number(v, spec), f"data-v='{'' if v is None else repr(float(v))}'"


# -- pages --------------------------------------------------------------------------------------
def _cell(e: Entry, c: Column) -> str:
    text, attrs = _sortable(e.values.get(c.id), c.format)
    ci = e.ci.get(c.id)
    ci_html = f"<span class='ci'>[{fmt_number(ci[0], c.format)}, {fmt_number(ci[1], c.format)}]</span>" if ci else ""
    return f"<td {attrs}>{text}{ci_html}</td>"


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
        entry_page = f"{_slug(e.path.name)}.html"
        base = " <span class='muted'>(baseline)</span>" if e.card.get("baseline") else ""
        out.append(f"<tr data-entry='{esc(e.name)}'><td data-v='{e.rank}'>{e.rank}</td>"
                   f"<td class='l'><a href='{entry_page}'>{esc(e.name)}</a>{base}</td>")
        if board.rank_method == "mean_rank":
            out.append(f"<td data-v='{e.score!r}'>{e.score:.2f}</td>")
        out.extend(_cell(e, c) for c in board.columns)
        out.append("</tr>")
        pages[entry_page] = render_entry(board, e)
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
            svg = scatter_plot(pts, _heading(ca), _heading(cb), cls="scatter")
            if svg:
                out.append(f"<figure>{svg}<figcaption class='muted'>{esc(ca.label)} vs {esc(cb.label)} "
                           "(bars: 95% CI)</figcaption></figure>")
        out.append("</div>")
        for cid in board.distributions:
            c = board.column(cid)
            series = [(e.name, list(e.per_sample(c).values())) for e in board.entries]
            svg = strip_plot(series, 620, cls="dist", label=c.label)
            if svg:
                out.append(f"<h3>{esc(c.label)} per sample ({'higher' if c.higher_is_better else 'lower'} "
                           f"is better)</h3>{svg}")
    out.append(_per_category(board))
    if board.notes:
        out.append(f"<p class='muted'>{esc(board.notes)}</p>")
    pages["index.html"] = page(board.title, "".join(out), "../style.css", SORT_JS)
    return pages


def _per_category(board: Board) -> str:
    """Per category (sample ids ``<category>/<name>``, MoChaBench's per-category table): for each
    column a table with a row per category and a cell per entry (mean over the category's
    scored samples, n); empty for boards whose samples have no category."""
    from hxbench.io.manifest import sample_group

    groups = sorted({g for e in board.entries for r in e.records if (g := sample_group(r.sample_id))})
    if not groups:
        return ""
    out = ["<h2 id='per-category'>Per category</h2><p class='muted'>Means over each category's samples "
           "that scored (n in brackets); samples are <code>&lt;category&gt;/&lt;context&gt;</code>.</p>"]
    for c in board.columns:
        out.append(f"<h3>{esc(c.label)} {'↑' if c.higher_is_better else '↓'}</h3><table class='per-category'>"
                   "<thead><tr><th class='l'>category</th>"
                   + "".join(f"<th>{esc(e.name)}</th>" for e in board.entries) + "</tr></thead><tbody>")
        for g in groups:
            out.append(f"<tr><td class='l'>{esc(g)}</td>")
            for e in board.entries:
                vs = [v for sid, v in e.per_sample(c).items() if sample_group(sid) == g and v is not None]
                out.append(f"<td>{fmt_number(sum(vs) / len(vs), c.format)} <span class='muted'>({len(vs)})</span></td>"
                           if vs else "<td class='muted'>-</td>")
            out.append("</tr>")
        out.append("</tbody></table>")
    return "".join(out)


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
                   f"<td>{fmt_number(row.value, c.format)}</td>"
                   f"<td>{'[' + fmt_number(ci[0], c.format) + ', ' + fmt_number(ci[1], c.format) + ']' if ci else '–'}</td>"
                   f"<td>{row.n}</td><td>{m.n_failed}</td></tr>")
    out.append("</table>")
    for c in board.columns:
        vals = e.per_sample(c)
        if not vals:
            continue
        worst = sorted(vals.items(), key=lambda kv: kv[1], reverse=not c.higher_is_better)[:n_worst]
        out.append(f"<h2>Worst samples by {esc(c.label)}</h2>" + table(
            ["sample", esc(c.label)], [[esc(s), fmt_number(v, c.format)] for s, v in worst], "class='worst'"))
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
    return page(f"{e.name} · {board.title}", "".join(out), "../style.css")


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
        header = [("#", "data-col='order'"), ("method", "class='l'"),
                  *((esc(_heading(c)), f"data-col='{esc(c.id)}'") for c in cols)]
        rows = [[(str(i), f"data-v='{i}'"), (esc(str(r["method"])), "class='l'"),
                 *(_sortable(r["values"].get(c.id), c.format) for c in cols)] for i, r in enumerate(t["rows"], 1)]
        out.append(table(header, rows, "class='sortable reported'"))
        if t.get("notes"):
            out.append(f"<p class='muted'>{esc(str(t['notes']))}</p>")
    return {"index.html": page(board.title, "".join(out), "../style.css", SORT_JS)}


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
    (out_dir / "style.css").write_text(STYLE)
    items = []
    for b in boards:
        pages = render_reported(b) if b.kind == "reported" else render_board(b)
        bdir = out_dir / b.name
        bdir.mkdir(parents=True, exist_ok=True)
        for name, text in pages.items():
            (bdir / name).write_text(text)
        what = "reported, not reproduced" if b.kind == "reported" else f"{len(b.entries)} entries"
        items.append(f"<li><a href='{esc(b.name)}/index.html'>{esc(b.title)}</a> <span class='muted'>({what})</span></li>")
    (out_dir / "index.html").write_text(page("hxbench leaderboards", "<h1>hxbench leaderboards</h1><ul id='boards'>"
                                              + "".join(items) + "</ul>", "style.css"))
    return boards
