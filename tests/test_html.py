"""The shared HTML module: number format, page shell, tables, SVG plots; and the run report
built on it."""

from __future__ import annotations

import json
import math

import numpy as np

from hxbench.board.report import render_report
from hxbench.eval.schema import MetricResult, OutputValue, RunResults, SampleRecord
from hxbench.html import STYLE, bar_chart, fmt_number, page, scatter_plot, strip_plot, table

SHELL = "<meta name='generator' content='hxbench'>"


def test_fmt_number_missing_nan_inf():
    assert fmt_number(None) == "–"
    assert fmt_number(None, missing="n/a") == "n/a"
    assert fmt_number(float("nan")) == "–"
    assert fmt_number(np.float32("nan"), nan="nan") == "nan"
    assert fmt_number(math.inf) == "inf" and fmt_number(-math.inf, ".3f") == "-inf"


def test_fmt_number_auto_keeps_large_and_small_values_short():
    assert fmt_number(0.5) == "0.5000"
    assert fmt_number(1.23456e-7) == "0.0000"
    assert fmt_number(9999.5) == "9999.5000"
    assert fmt_number(123456.789) == "1.235e+05"
    assert fmt_number(-123456.789) == "-1.235e+05"
    assert fmt_number(42) == "42" and fmt_number(np.int64(7)) == "7"
    assert fmt_number(np.float64(2.0)) == "2.0000"


def test_fmt_number_spec_and_non_numbers():
    assert fmt_number(0.25, "+.3f") == "+0.250"
    assert fmt_number(0.123, ".1%") == "12.3%"
    assert fmt_number(792.6, ".4g") == "792.6"
    assert fmt_number(3, ".2f") == "3.00"
    assert fmt_number("abc") == "abc"


def test_page_inlines_or_links_the_one_stylesheet():
    inline = page("a <b>", "<p>x</p>")
    assert inline.startswith("<!doctype html>") and SHELL in inline
    assert f"<style>{STYLE}</style>" in inline and "<title>a &lt;b&gt;</title>" in inline
    linked = page("t", "<p>x</p>", css_href="../style.css", scripts="<script>1</script>")
    assert "<link rel='stylesheet' href='../style.css'>" in linked and "<style>" not in linked
    assert linked.endswith("<p>x</p><script>1</script></body></html>")


def test_table_cells_with_attributes():
    t = table(["a", ("b", "data-col='b'")], [["x", ("1", "class='best'")]], "id='t'")
    assert t == ("<table id='t'><thead><tr><th>a</th><th data-col='b'>b</th></tr></thead>"
                 "<tbody><tr><td>x</td><td class='best'>1</td></tr></tbody></table>")


def test_plots():
    strip = strip_plot([("a", [1.0, 2.0]), ("b", [3.0])], cls="dist", label="L")
    assert strip.startswith('<svg class="dist"') and 'aria-label="L"' in strip
    assert strip.count("<circle") == 3 and strip.count("stroke-width=\"2\"") == 2  # dots, one mean bar per row
    assert strip_plot([("a", [])]) == ""
    sc = scatter_plot([("m", 1.0, 2.0, [0.5, 1.5], None), ("gone", None, 1.0, None, None)], "x ↑", "y ↓")
    assert sc.count('class="pt"') == 1 and "<title>m: 1, 2</title>" in sc and 'aria-label="x ↑ vs y ↓"' in sc
    assert scatter_plot([("gone", None, 1.0, None, None)], "x", "y") == ""
    bars = bar_chart(["p", "q"], [0.25, None], -1, 1, [(0.1, 0.4), None], "T")
    assert "+0.25" in bars and "n/a" in bars and bars.count("<rect") == 1


def test_run_report_uses_the_shared_shell(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    results = RunResults(
        hxbench_version="0", git_hash=None, created="now", task={"name": "t", "version": 1}, dataset=None,
        model={"name": "m"}, environment={}, n_samples=2, n_reused_records=0,
        metrics={"psnr[x]": MetricResult(key="psnr[x]", status="ok", metric="psnr", variant="x", version="1", outputs={
            "psnr": OutputValue(value=123456.789, n=2, ci95=[1.0, 2.5], higher_is_better=True, bootstrapped=True)})})
    (run / "results.json").write_text(json.dumps(results.to_json()))
    (run / "samples.jsonl").write_text("".join(
        json.dumps(SampleRecord(sample_id=s, metric="psnr[x]", metric_version="1", values={"psnr": v}).to_json()) + "\n"
        for s, v in (("a", 1.0), ("b", 2.0))))
    html = render_report([run])
    assert SHELL in html and f"<style>{STYLE}</style>" in html
    assert "1.235e+05" in html and "[1.0000, 2.5000]" in html
    assert html.count("<svg") == 1
