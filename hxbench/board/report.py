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
from typing import Any

import numpy as np

from hxbench.eval.schema import RunResults, SampleRecord, load_samples

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem;color:#1d2430;max-width:1200px}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #dde3ea;padding-bottom:.3rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}th,td{padding:.3rem .6rem;border-bottom:1px solid #e8ecf1;text-align:right}
th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}
th{background:#f4f6f9}.best{font-weight:700;color:#0a6b2d}.na{color:#9a3412}.muted{color:#6b7785;font-size:.85rem}
.thumbs{display:flex;flex-wrap:wrap;gap:.8rem}.thumb{font-size:.8rem;text-align:center}.thumb img{width:128px;height:128px;object-fit:cover;border:1px solid #ccd}
code{background:#f4f6f9;padding:0 .25rem}.scroll{overflow-x:auto}
"""

PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04"]


def _load(run_dir: Path) -> tuple[RunResults, list[SampleRecord]]:
    return RunResults.load(run_dir), list(load_samples(run_dir).values())


def _fmt(x: Any) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    return f"{x:.4f}" if abs(x) < 1e4 else f"{x:.4g}"


def _strip_plot(series: list[tuple[str, list[float]]], width: int = 560) -> str:
    """One row of dots per run, with the mean marked; x axis shared."""
    values = [v for _, vs in series for v in vs]
    if not values:
        return ""
    lo, hi = min(values), max(values)
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    pad, label_w, row_h = 10, 150, 26
    h = row_h * len(series) + 28
    sx = lambda v: label_w + pad + (v - lo) / (hi - lo) * (width - label_w - 2 * pad)  # noqa: E731
    parts = [f'<svg width="{width}" height="{h}" xmlns="http://www.w3.org/2000/svg" font-size="11">']
    for i, (name, vs) in enumerate(series):
        y = row_h * i + row_h / 2 + 4
        color = PALETTE[i % len(PALETTE)]
        parts.append(f'<text x="4" y="{y + 4}">{html.escape(name[:24])}</text>')
        rng = np.random.default_rng(i)
        for v in vs:
            jitter = float(rng.uniform(-6, 6))
            parts.append(f'<circle cx="{sx(v):.1f}" cy="{y + jitter:.1f}" r="2.6" fill="{color}" fill-opacity="0.55"/>')
        if vs:
            m = float(np.mean(vs))
            parts.append(f'<line x1="{sx(m):.1f}" x2="{sx(m):.1f}" y1="{y - 10}" y2="{y + 10}" stroke="#111" stroke-width="2"/>')
    axis_y = row_h * len(series) + 8
    parts.append(f'<line x1="{label_w + pad}" x2="{width - pad}" y1="{axis_y}" y2="{axis_y}" stroke="#999"/>')
    for frac in (0, 0.25, 0.5, 0.75, 1):
        v = lo + frac * (hi - lo)
        parts.append(f'<text x="{sx(v):.1f}" y="{axis_y + 14}" text-anchor="middle">{_fmt(v)}</text>')
    parts.append("</svg>")
    return "".join(parts)


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

    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
           f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"]
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
                ci_text = f"<br><span class='muted'>[{_fmt(ci[0])}, {_fmt(ci[1])}]</span>" if ci else ""
                failed = f"<br><span class='na'>{entry.n_failed} failed</span>" if entry.n_failed else ""
                out.append(f"<td{cls}>{_fmt(v)}{ci_text}{failed}</td>")
        out.append("</tr>")
    out.append("</table></div>")
    if notes:
        out.append("<p>Unavailable metrics (never estimated):</p><ul>" + "".join(notes) + "</ul>")

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
        out.append(f"<h3>{html.escape(key)} · {html.escape(o)}{arrow}</h3>{_strip_plot(series)}")

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
                out.append(f"<div class='thumb'>{img}<br>{html.escape(sid)}<br>{_fmt(v)}</div>")
            out.append("</div>")
    env = first.environment
    out.append(f"<p class='muted'>environment: {html.escape(json.dumps(env))}</p></body></html>")
    return "".join(out)


def write_report(run_dirs: list[Path], out_html: Path, title: str | None = None) -> Path:
    out_html = Path(out_html)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text(render_report([Path(d) for d in run_dirs], title))
    return out_html
