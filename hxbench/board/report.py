"""Self-contained HTML reports of run directories (no server, no external assets).

``write_report(run_dirs, out_html)`` renders, for one or several runs of the same task:
the metric table (value, 95% CI, n, failures; unavailable metrics with their fix), a
per-sample distribution plot per metric output (inline SVG strip plots, one row per run),
and the worst samples of each run with a thumbnail of their first output frame.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path

from hxbench.eval.schema import RunResults, SampleRecord, load_samples
from hxbench.html import fmt_number, page, strip_plot


def _load(run_dir: Path) -> tuple[RunResults, list[SampleRecord]]:
    return RunResults.load(run_dir), list(load_samples(run_dir).values())


def _thumbnail(video: Path, size: int = 128) -> str | None:
    from PIL import Image

    from hxbench.io import media

    try:
        frame = next(media.iter_frames(video, chunk_size=1))[0]
    except Exception:  # a thumbnail is decoration: a broken file is reported elsewhere
        return None
    img = Image.fromarray(frame)
    img.thumbnail((size, size))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def render_report(run_dirs: list[Path], title: str | None = None, n_worst: int = 4) -> str:
    """A whole HTML page comparing the runs (one task)."""
    return page(_title(run_dirs, title), report_body(run_dirs, title, n_worst))


def _title(run_dirs: list[Path], title: str | None) -> str:
    task = RunResults.load(Path(run_dirs[0])).task or {}
    return title or f"hxbench report: {task.get('name', 'scores')}"


def validity_warnings(keys: list[str], results: list) -> list[str]:
    """A banner naming every metric of the report that fails its declared behaviour on real
    videos (``Metric.validity_caveat``, measured with ``hxbench validity``: docs/validity.md),
    then the caveats recorded with the results (``MetricResult.notes``), each once."""
    from hxbench.metrics.base import parse_metric_key
    from hxbench.registry import METRICS

    caveats, notes = [], []
    for key in keys:
        name, variant = parse_metric_key(key)
        cls = METRICS._entries.get(name) if hasattr(METRICS, "_entries") else None
        caveat = cls.caveat(variant or cls.variants[0]) if cls is not None and hasattr(cls, "caveat") else None
        if caveat:
            caveats.append(f"<li><b>{html.escape(key)}</b>: {html.escape(caveat)}</li>")
        for r in results:
            entry = r.metrics.get(key)
            for n in (entry.notes if entry is not None and entry.ok else []):
                item = f"<li><b>{html.escape(key)}</b>: {html.escape(n)}</li>"
                if item not in notes and not n.startswith("validity:"):
                    notes.append(item)
    out = []
    if caveats:
        out.append("<div class='banner'>Fails its declared behaviour on real videos (hxbench validity):<ul>"
                   + "".join(caveats) + "</ul></div>")
    if notes:
        out.append("<p>Caveats recorded with the results:</p><ul>" + "".join(notes) + "</ul>")
    return out


def report_body(run_dirs: list[Path], title: str | None = None, n_worst: int = 4) -> str:
    """The report's sections (heading, scores, distributions, worst samples) without the page
    shell, so that several tasks can share one page."""
    runs = []
    for d in run_dirs:
        results, records = _load(Path(d))
        name = (results.model or {}).get("name") or Path(d).name
        runs.append((Path(d), name, results, records))
    task = runs[0][2].task or {}
    title = title or f"hxbench report: {task.get('name', 'scores')}"
    keys: list[str] = []
    for _, _, results, _ in runs:
        keys += [k for k in results.metrics if k not in keys]

    out = [f"<h1>{html.escape(title)}</h1>"]
    first = runs[0][2]
    out.append(f"<p class='muted'>hxbench {html.escape(first.hxbench_version)} · task "
               f"{html.escape(str(task.get('name')))} v{html.escape(str(task.get('version')))} · dataset revision "
               f"<code>{html.escape(str((first.dataset or {}).get('revision')))}</code> · "
               f"{first.n_samples} samples · {html.escape(first.created)}</p>")

    # metric table: one row per run, one column per metric output
    columns = []
    for key in keys:
        for _, _, results, _ in runs:
            entry = results.metrics.get(key)
            if entry is not None and entry.ok:
                columns += [(key, o, row.higher_is_better) for o, row in entry.outputs.items()
                            if (key, o, row.higher_is_better) not in columns]
                break
        else:
            columns.append((key, None, None))
    out.append("<h2>Scores</h2><div class='scroll'><table><tr><th>model</th>")
    for key, o, hib in columns:
        arrow = {True: " ↑", False: " ↓"}.get(hib, "")
        out.append(f"<th>{html.escape(key)}{'<br>' + html.escape(o) if o else ''}{arrow}</th>")
    out.append("</tr>")
    best: dict[tuple[str, str], float] = {}
    for key, o, hib in columns:
        vals = [r.metrics[key].outputs[o].value for _, _, r, _ in runs
                if key in r.metrics and o in r.metrics[key].outputs]
        vals = [v for v in vals if v is not None and not math.isnan(v)]
        if o and vals and hib is not None and len(runs) > 1:
            best[(key, o)] = max(vals) if hib else min(vals)
    notes = []
    for _, name, results, _ in runs:
        out.append(f"<tr><td>{html.escape(name)}</td>")
        for key, o, hib in columns:
            entry = results.metrics.get(key)
            if entry is None:
                out.append("<td class='muted'>not run</td>")
            elif not entry.ok:
                out.append("<td class='na'>unavailable</td>")
                note = f"<li><b>{html.escape(key)}</b>: {html.escape(entry.reason)}. Fix: <code>{html.escape(entry.fix)}</code></li>"
                if note not in notes:
                    notes.append(note)
            else:
                row = entry.outputs.get(o)
                v = row.value if row else None
                ci = row.ci95 if row else None
                cls = " class='best'" if best.get((key, o)) == v else ""
                ci_text = f"<br><span class='muted'>[{fmt_number(ci[0])}, {fmt_number(ci[1])}]</span>" if ci else ""
                failed = f"<br><span class='na'>{entry.n_failed} failed</span>" if entry.n_failed else ""
                note = (f"<br><span class='muted'>{html.escape(row.note)}</span>"
                        if row is not None and row.note else "")
                out.append(f"<td{cls}>{fmt_number(v)}{ci_text}{failed}{note}</td>")
        out.append("</tr>")
    out.append("</table></div>")
    if notes:
        out.append("<p>Unavailable metrics (never estimated):</p><ul>" + "".join(notes) + "</ul>")
    out += validity_warnings(keys, [r for _, _, r, _ in runs])

    out.append(_group_section(runs))

    # per-sample distributions
    out.append("<h2>Per-sample distributions</h2><p class='muted'>dots: samples; bar: mean.</p>")
    for key, o, hib in columns:
        if o is None:
            continue
        series = []
        for _, name, _, records in runs:
            vs = [r.values[o] for r in records if r.metric == key and r.values is not None and o in r.values]
            series.append((name, vs))
        if sum(len(v) for _, v in series) < 2:
            continue  # set-level metrics (FID/FVD) have no per-sample values
        arrow = {True: " (higher is better)", False: " (lower is better)"}.get(hib, "")
        out.append(f"<h3>{html.escape(key)} · {html.escape(o)}{arrow}</h3>{strip_plot(series)}")

    # worst samples by the main metric
    main = task.get("main_metric") if isinstance(task, dict) else None
    per_sample_cols = [c for c in columns if c[1] and any(
        r.metric == c[0] and r.values is not None for _, _, _, recs in runs for r in recs)]
    main_key = next((c for c in per_sample_cols if c[0] == main), per_sample_cols[0] if per_sample_cols else None)
    if main_key:
        key, o, hib = main_key
        out.append(f"<h2>Worst samples by {html.escape(key)} · {html.escape(o)}</h2>")
        for run_dir, name, results, records in runs:
            outputs_dir = Path((results.model or {}).get("outputs") or run_dir / "outputs")
            scored = [(r.values[o], r.sample_id) for r in records
                      if r.metric == key and r.values is not None and o in r.values]
            scored.sort(reverse=not (hib is None or hib))
            out.append(f"<h3>{html.escape(name)}</h3><div class='thumbs'>")
            for v, sid in scored[:n_worst]:
                src = _thumbnail(outputs_dir / f"{sid}.mp4")
                img = f"<img src='{src}' alt='{html.escape(sid)}'>" if src else "<div class='muted'>(no video)</div>"
                out.append(f"<div class='thumb'>{img}<br>{html.escape(sid)}<br>{fmt_number(v)}</div>")
            out.append("</div>")
    env = first.environment
    out.append(f"<p class='muted'>environment: {html.escape(json.dumps(env))}</p>")
    return "".join(out)


def _group_section(runs) -> str:
    """Per category (sample ids ``<category>/<name>``, as MoChaBench's per-category table):
    one table per metric output, a row per category and a column per run; empty otherwise."""
    from hxbench.eval.groups import group_rows

    per_run = [(name, {(r.group, r.metric, r.output): r for r in group_rows(results, records)})
               for _, name, results, records in runs]
    keys: list[tuple[str, str]] = []
    groups: list[str] = []
    hib: dict[tuple[str, str], bool | None] = {}
    for _, rows in per_run:
        for (g, m, o), r in rows.items():
            if (m, o) not in keys:
                keys.append((m, o))
            if g not in groups:
                groups.append(g)
            hib[(m, o)] = r.higher_is_better
    if not keys:
        return ""
    groups.sort()
    out = ["<h2>Per category</h2><p class='muted'>Samples whose id is <code>&lt;category&gt;/&lt;name&gt;</code> "
           "(MoChaBench), averaged per category over the samples that scored; n scored, and failed samples "
           "(reasons in samples.jsonl).</p>"]
    for m, o in keys:
        arrow = {True: " ↑", False: " ↓"}.get(hib[(m, o)], "")
        out.append(f"<h3>{html.escape(m)} · {html.escape(o)}{arrow}</h3><div class='scroll'><table><tr><th>category</th>")
        out += [f"<th>{html.escape(name)}</th>" for name, _ in per_run]
        out.append("</tr>")
        for g in groups:
            out.append(f"<tr><td>{html.escape(g)}</td>")
            for _, rows in per_run:
                r = rows.get((g, m, o))
                if r is None:
                    out.append("<td class='muted'>-</td>")
                    continue
                failed = f" <span class='na'>{r.n_failed} failed</span>" if r.n_failed else ""
                out.append(f"<td>{fmt_number(r.value)} <span class='muted'>(n={r.n})</span>{failed}</td>")
            out.append("</tr>")
        out.append("</table></div>")
    return "".join(out)


def write_report(run_dirs: list[Path], out_html: Path, title: str | None = None) -> Path:
    out_html = Path(out_html)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text(render_report([Path(d) for d in run_dirs], title))
    return out_html
