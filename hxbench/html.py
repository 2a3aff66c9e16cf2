"""HTML rendering shared by the run report, the leaderboard site and the user-study report:
the page shell and its one stylesheet, escaping, tables, the number format and the inline
SVG plots (strip, scatter with error bars, bars with CIs).

Pages are self-contained (the stylesheet inline) unless they link a CSS file, and never load
external assets, so a report can be mailed or archived as one file.
"""

from __future__ import annotations

import html
import numbers
from typing import Callable, Iterable, Sequence, Union

import numpy as np

esc = html.escape

STYLE = """/* hxbench stylesheet */
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;color:#1d2430;max-width:1150px;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #dde3ea;padding-bottom:.3rem}
a{color:#1d4ed8}table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{padding:.35rem .6rem;border-bottom:1px solid #e8ecf1;text-align:right;vertical-align:top}
th:first-child,td:first-child,th.l,td.l{text-align:left}th{background:#f4f6f9}
th[data-col]{cursor:pointer;user-select:none}th[data-dir=asc]::after{content:" ▲"}th[data-dir=desc]::after{content:" ▼"}
.ci{color:#6b7785;font-size:.78rem;display:block}.muted{color:#6b7785;font-size:.85rem}
.best{font-weight:700;color:#0a6b2d}.na,.excluded{color:#9a3412}
.banner{background:#fff4e5;border:1px solid #f0b45a;padding:.6rem .9rem;border-radius:6px;font-weight:600}
.plots{display:flex;flex-wrap:wrap;gap:1.5rem}.scroll{overflow-x:auto}
.thumbs{display:flex;flex-wrap:wrap;gap:.8rem}.thumb{font-size:.8rem;text-align:center}
.thumb img{width:128px;height:128px;object-fit:cover;border:1px solid #ccd}
code{background:#f4f6f9;padding:0 .25rem}dl.card dt{font-weight:600}dl.card dd{margin:0 0 .5rem 1rem}
"""

# series colours, in order; the first two also mark positive / negative bars
PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04"]
INK, AXIS, FAINT = "#111", "#999", "#fafbfc"


def page(title: str, body: str, css_href: str | None = None, scripts: str = "") -> str:
    """A whole HTML document. The stylesheet is inline unless ``css_href`` links a file
    holding ``STYLE``; ``scripts`` go at the end of the body."""
    style = f"<link rel='stylesheet' href='{esc(css_href)}'>" if css_href else f"<style>{STYLE}</style>"
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'>"
            f"<meta name='generator' content='hxbench'><title>{esc(title)}</title>{style}</head>"
            f"<body>{body}{scripts}</body></html>")


def fmt_number(x: object, spec: str = "auto", missing: str = "–", nan: str | None = None) -> str:
    """``x`` as text: ``missing`` for None, ``nan`` (default: ``missing``) for NaN, else
    ``format(x, spec)``. ``spec="auto"`` prints integers as they are and floats with four
    decimals, or four significant digits from 1e4 on (so large values stay short).
    A non-number is printed with ``str``."""
    if x is None:
        return missing
    if not isinstance(x, numbers.Real):
        return str(x)
    if x != x:
        return missing if nan is None else nan
    if spec != "auto":
        return format(x, spec)
    if isinstance(x, numbers.Integral):
        return str(x)
    return format(x, ".4f" if abs(x) < 1e4 else ".4g")


Cell = Union[str, tuple[str, str]]  # HTML, or (HTML, attributes of its th/td)


def _cell(tag: str, c: Cell) -> str:
    content, attrs = (c, "") if isinstance(c, str) else c
    return f"<{tag}{' ' + attrs if attrs else ''}>{content}</{tag}>"


def table(header: Sequence[Cell], rows: Iterable[Sequence[Cell]], attrs: str = "") -> str:
    """A table of HTML cells (escape text first); the first column is left-aligned."""
    head = "".join(_cell("th", c) for c in header)
    body = "".join("<tr>" + "".join(_cell("td", c) for c in r) + "</tr>" for r in rows)
    return f"<table{' ' + attrs if attrs else ''}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


# -- SVG plots -----------------------------------------------------------------------------------
def ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """``n`` evenly spaced axis values from ``lo`` to ``hi``."""
    return [lo + i / (n - 1) * (hi - lo) for i in range(n)]


def _open_svg(width: float, height: float, cls: str | None, label: str) -> str:
    klass = f' class="{esc(cls)}"' if cls else ""
    return (f'<svg{klass} width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg" '
            f'font-size="11" role="img" aria-label="{esc(label)}">')


def _x_ticks(lo: float, hi: float, sx: Callable[[float], float], y: float, spec: str) -> list[str]:
    return [f'<text x="{sx(v):.1f}" y="{y}" text-anchor="middle" fill="#666">{fmt_number(v, spec)}</text>'
            for v in ticks(lo, hi)]


def _span(values: list[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    return (lo - 0.5, hi + 0.5) if hi - lo < 1e-12 else (lo, hi)


def strip_plot(series: list[tuple[str, list[float]]], width: int = 560, cls: str | None = None,
               label: str = "per-sample values") -> str:
    """Per-sample distributions: one row of jittered dots per series, its mean as a bar, on a
    shared x axis. Empty when there are no values."""
    values = [v for _, vs in series for v in vs]
    if not values:
        return ""
    lo, hi = _span(values)
    pad, label_w, row_h = 10, 150, 26
    h = row_h * len(series) + 28
    sx = lambda v: label_w + pad + (v - lo) / (hi - lo) * (width - label_w - 2 * pad)  # noqa: E731
    parts = [_open_svg(width, h, cls, label)]
    for i, (name, vs) in enumerate(series):
        y = row_h * i + row_h / 2 + 4
        color = PALETTE[i % len(PALETTE)]
        parts.append(f'<text x="4" y="{y + 4}">{esc(name[:24])}</text>')
        rng = np.random.default_rng(i)  # the same jitter on every render
        for v in vs:
            jitter = float(rng.uniform(-6, 6))
            parts.append(f'<circle cx="{sx(v):.1f}" cy="{y + jitter:.1f}" r="2.6" fill="{color}" fill-opacity="0.55"/>')
        if vs:
            m = float(np.mean(vs))
            parts.append(f'<line x1="{sx(m):.1f}" x2="{sx(m):.1f}" y1="{y - 10}" y2="{y + 10}" stroke="{INK}" stroke-width="2"/>')
    axis_y = row_h * len(series) + 8
    parts.append(f'<line x1="{label_w + pad}" x2="{width - pad}" y1="{axis_y}" y2="{axis_y}" stroke="{AXIS}"/>')
    parts += _x_ticks(lo, hi, sx, axis_y + 14, "auto")
    parts.append("</svg>")
    return "".join(parts)


Point = tuple[str, float | None, float | None, Sequence[float] | None, Sequence[float] | None]


def scatter_plot(points: list[Point], x_label: str, y_label: str, width: int = 460, height: int = 340,
                 cls: str | None = None, spec: str = ".4g") -> str:
    """One labelled point per (name, x, y, x CI, y CI), the CIs as error bars. Points missing
    x or y are left out; empty when none is left."""
    pts = [p for p in points if p[1] is not None and p[2] is not None]
    if not pts:
        return ""
    x0, x1 = _span([p[1] for p in pts] + [v for p in pts if p[3] for v in p[3]])
    y0, y1 = _span([p[2] for p in pts] + [v for p in pts if p[4] for v in p[4]])
    padx, pady = (x1 - x0) * 0.08, (y1 - y0) * 0.08
    x0, x1, y0, y1 = x0 - padx, x1 + padx, y0 - pady, y1 + pady
    L, R, T, B = 60, 20, 20, 46
    sx = lambda v: L + (v - x0) / (x1 - x0) * (width - L - R)  # noqa: E731
    sy = lambda v: height - B - (v - y0) / (y1 - y0) * (height - T - B)  # noqa: E731
    o = [_open_svg(width, height, cls, f"{x_label} vs {y_label}"),
         f'<rect x="{L}" y="{T}" width="{width - L - R}" height="{height - T - B}" fill="{FAINT}" stroke="#ccd"/>']
    o += _x_ticks(x0, x1, sx, height - B + 14, ".3g")
    o += [f'<text x="{L - 4}" y="{sy(v) + 4:.1f}" text-anchor="end" fill="#666">{fmt_number(v, ".3g")}</text>'
          for v in ticks(y0, y1)]
    o.append(f'<text x="{(L + width - R) / 2}" y="{height - 8}" text-anchor="middle" font-weight="600">'
             f'{esc(x_label)}</text>')
    o.append(f'<text transform="translate(14,{(T + height - B) / 2}) rotate(-90)" text-anchor="middle" '
             f'font-weight="600">{esc(y_label)}</text>')
    for i, (name, x, y, cix, ciy) in enumerate(pts):
        col = PALETTE[i % len(PALETTE)]
        if cix:
            o.append(f'<line x1="{sx(cix[0]):.1f}" x2="{sx(cix[1]):.1f}" y1="{sy(y):.1f}" y2="{sy(y):.1f}" stroke="{col}"/>')
        if ciy:
            o.append(f'<line x1="{sx(x):.1f}" x2="{sx(x):.1f}" y1="{sy(ciy[0]):.1f}" y2="{sy(ciy[1]):.1f}" stroke="{col}"/>')
        o.append(f'<circle class="pt" cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="4.5" fill="{col}"><title>{esc(name)}: '
                 f'{fmt_number(x, spec)}, {fmt_number(y, spec)}</title></circle>')
        right = sx(x) > L + 0.6 * (width - L - R)  # label to the left of points near the right edge
        o.append(f'<text x="{sx(x) + (-7 if right else 7):.1f}" y="{sy(y) - 6:.1f}" fill="{col}" '
                 f'text-anchor="{"end" if right else "start"}">{esc(name[:28])}</text>')
    o.append("</svg>")
    return "".join(o)


def bar_chart(labels: list[str], values: list[float | None], lo: float, hi: float,
              ci: Sequence[Sequence[float] | None] | None = None, title: str = "",
              spec: str = "+.2f", width: int = 560) -> str:
    """Horizontal bars from zero (or ``lo`` when zero is off the axis) on a ``lo``..``hi`` axis,
    with optional CI whiskers; each value printed with ``spec``, a missing one as n/a."""
    row_h, left, right, top = 26, 180, 70, 28
    h = top + row_h * len(labels) + 24
    plot_w = width - left - right

    def x(v: float) -> float:
        return left + (min(max(v, lo), hi) - lo) / (hi - lo) * plot_w

    parts = [_open_svg(width, h, None, title), f'<text x="{left}" y="16" font-weight="bold">{esc(title)}</text>']
    x0 = x(0.0 if lo <= 0 <= hi else lo)
    parts.append(f'<line x1="{x0:.1f}" y1="{top - 4}" x2="{x0:.1f}" y2="{h - 20}" stroke="#444"/>')
    parts += _x_ticks(lo, hi, x, h - 6, "g")
    for i, (lab, v) in enumerate(zip(labels, values)):
        y = top + i * row_h
        parts.append(f'<text x="{left - 6}" y="{y + 16}" text-anchor="end">{esc(lab)}</text>')
        if v is None:
            parts.append(f'<text x="{x0 + 4:.1f}" y="{y + 16}" fill="{AXIS}">n/a</text>')
            continue
        xa, xb = sorted((x0, x(v)))
        color = PALETTE[0] if v >= 0 else PALETTE[1]
        parts.append(f'<rect x="{xa:.1f}" y="{y + 4}" width="{max(xb - xa, 1):.1f}" height="16" fill="{color}"/>')
        if ci and ci[i]:
            c0, c1 = x(ci[i][0]), x(ci[i][1])
            parts.append(f'<line x1="{c0:.1f}" y1="{y + 12}" x2="{c1:.1f}" y2="{y + 12}" stroke="{INK}" stroke-width="1.5"/>')
            parts += [f'<line x1="{c:.1f}" y1="{y + 7}" x2="{c:.1f}" y2="{y + 17}" stroke="{INK}"/>' for c in (c0, c1)]
        parts.append(f'<text x="{width - right + 6}" y="{y + 16}">{esc(fmt_number(v, spec))}</text>')
    parts.append("</svg>")
    return "".join(parts)
