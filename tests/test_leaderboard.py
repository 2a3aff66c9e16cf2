"""Leaderboards: schema checks, ranking exactly as the schema says, refusal of incompatible or
tampered entries, and the built static site checked in headless Debian chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

from hxbench.cli import main
from hxbench.board.leaderboard import Board, BoardError, Column, Entry, load_board, load_schema, rank_entries
from hxbench.board.testing import make_outputs, make_task_data

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
REPO = Path(__file__).resolve().parent.parent

BOARD_YAML = """
name: demo
title: Demo board
kind: measured
columns:
  - {id: ssim, metric: "ssim[rgb-255]", output: ssim, label: SSIM, higher_is_better: true}
  - {id: psnr, metric: "psnr[rgb-255]", output: psnr, label: PSNR, higher_is_better: true, format: ".2f"}
ranking: {method: lexicographic, columns: [ssim, psnr]}
plots: {scatter: [[ssim, psnr]], distributions: [ssim, psnr]}
"""


@pytest.fixture(scope="module")
def boards(tmp_path_factory):
    """A board with three bundles: checkpoints of decreasing quality (noise 3, 9, 20)."""
    root = tmp_path_factory.mktemp("lb")
    m = make_task_data(root / "data", n=4)
    bdir = root / "boards" / "demo"
    (bdir / "entries").mkdir(parents=True)
    (bdir / "board.yaml").write_text(BOARD_YAML)
    for name, noise in (("sharp", 3), ("blurry", 9), ("still-noise", 20)):
        out = make_outputs(m, root / f"out_{name}", noise=noise, seed=noise)
        card = root / f"{name}.yaml"
        card.write_text(yaml.safe_dump({"name": name, "description": f"noise std {noise}",
                                        "baseline": name == "still-noise"}))
        assert main(["submit", "--manifest", str(m.path), "--outputs", str(out), "--model-card", str(card),
                     "--out", str(bdir / "entries" / name), "--metrics", "ssim", "psnr"]) == 0
    return root / "boards"


def _entry(name, **values):
    return Entry(name, Path(name), {}, {}, {}, [], values=dict(values))


def test_ranking_follows_the_schema():
    cols = [Column("a", "A", True, "a[x]", "a"), Column("b", "B", False, "b[x]", "b")]
    b = Board("t", "t", "measured", Path("."), columns=cols, rank_method="lexicographic", rank_columns=["b", "a"])
    b.entries = [_entry("p", a=0.9, b=3.0), _entry("q", a=0.5, b=1.0), _entry("r", a=0.99, b=1.0),
                 _entry("s", a=1.0, b=None)]
    rank_entries(b)
    # lower b first; tie on b broken by higher a; a missing value ranks last
    assert [(e.name, e.rank) for e in b.entries] == [("r", 1), ("q", 2), ("p", 3), ("s", 4)]
    b.rank_method, b.rank_columns = "mean_rank", ["a", "b"]
    rank_entries(b)
    # ranks a: s1 r2 p3 q4 ; b: q1.5 r1.5 p3 s4 -> means r1.75 s2.5 q2.75 p3
    assert [(e.name, e.score) for e in b.entries] == [("r", 1.75), ("s", 2.5), ("q", 2.75), ("p", 3.0)]
    assert "each column weight 1" in b.ranking_text()


def test_schema_is_strict(tmp_path):
    d = tmp_path / "x"
    d.mkdir()
    (d / "board.yaml").write_text(BOARD_YAML.replace("name: demo", "name: x")
                                  .replace("columns: [ssim, psnr]}", "columns: [ssim, lpips]}") + "weights: {ssim: 2}\n")
    with pytest.raises(BoardError) as err:
        load_schema(d)
    text = str(err.value)
    assert "unknown key(s) ['weights']" in text and "ranking.columns ['lpips'] are not column ids" in text


def test_incompatible_and_tampered_entries_are_refused(boards, tmp_path):
    from hxbench.board.bundle import write_bundle

    b = tmp_path / "boards"
    shutil.copytree(boards, b)
    entries = b / "demo" / "entries"
    # an entry scored with another ssim version, correctly re-bundled (it verifies)
    odd = entries / "zz-other-version"
    shutil.copytree(entries / "sharp", odd)
    res = json.loads((odd / "results.json").read_text())
    res["metrics"]["ssim[rgb-255]"]["version"] = "9"
    (odd / "results.json").write_text(json.dumps(res))
    write_bundle(odd, odd, odd / "manifest.jsonl", {"name": "other-version"})
    with pytest.raises(BoardError, match=r"entry zz-other-version: ssim\[rgb-255\] version 9 differs from"):
        load_board(b / "demo")
    shutil.rmtree(odd)
    # a tampered bundle (a number improved after bundling) is never shown
    lines = (entries / "blurry" / "samples.jsonl").read_text().replace('"psnr": 3', '"psnr": 4')
    assert lines != (entries / "blurry" / "samples.jsonl").read_text()
    (entries / "blurry" / "samples.jsonl").write_text(lines)
    with pytest.raises(BoardError, match="entry blurry: bundle fails verification: samples.jsonl was modified"):
        load_board(b / "demo")
    board = load_board(b / "demo", exclude_incompatible=True)
    assert [e.name for e in board.entries] == ["sharp", "still-noise"]
    assert board.excluded[0][0] == "blurry"


def test_published_board_transcribes_the_papers_exactly():
    """Every row, formatted as the board prints it, appears verbatim in the paper's text."""
    board = load_schema(REPO / "hxbench" / "resources" / "leaderboards" / "published")
    papers = REPO.parent / "shared" / "papers"  # ../shared beside the checkout (CI has it)
    if not papers.is_dir():
        pytest.skip("papers not available")
    text = {"humanexpert": (papers / "humanexpert.txt").read_text(),
            "omnihuman15": re.sub(r"</?b>", "", (papers / "omnihuman-1.5.txt").read_text())}
    n = 0
    for t in board.tables:
        if t["id"].startswith("mochabench"):
            continue  # not in a paper: test_published_board_has_mochabench_readme_numbers
        src = text["humanexpert" if t["id"].startswith("humanexpert") else "omnihuman15"]
        for r in t["rows"]:
            cells = "\t".join(format(r["values"][c.id], c.format) for c in t["columns"])
            assert cells in src, (t["id"], r["method"], cells)
            n += 1
    assert n == 3 + 6 + 3 + 7 + 6


def test_published_board_has_mochabench_readme_numbers():
    """MoChaBench's published Sync-C / Sync-D, as its README at the pinned commit prints them
    (hxbench.data.mochabench.PUBLISHED; the monologue rows are also in the shared subset's README)."""
    from hxbench.data.mochabench import PUBLISHED

    board = load_schema(REPO / "hxbench" / "resources" / "leaderboards" / "published")
    tables = {t["id"]: t for t in board.tables}
    for tid, key in (("mochabench-monologue", "single_character_english"), ("mochabench-dialogue", "dialogue_english")):
        rows = {r["method"]: [r["values"]["sync_c"], r["values"]["sync_d"]] for r in tables[tid]["rows"]}
        assert rows == PUBLISHED[key], tid
        assert "043908d" in tables[tid]["source"]
    readme = REPO.parent / "shared" / "data" / "mochabench" / "README.md"
    if not readme.is_file():
        pytest.skip("../shared/data/mochabench is not available")
    text = " ".join(readme.read_text().split())
    for method, (c, d) in PUBLISHED["single_character_english"].items():
        assert f"{c:.3f} / {d:.3f}" in text, method


def test_site_pages_share_one_stylesheet_and_shell(boards, tmp_path):
    from hxbench.board.site import build_site
    from hxbench.html import STYLE

    site = tmp_path / "site"
    build_site(boards, site)
    assert (site / "style.css").read_text() == STYLE
    pages = sorted(site.rglob("*.html"))
    assert len(pages) == 1 + 1 + 3  # all boards, the demo board, one page per entry
    for p in pages:
        text = p.read_text()
        href = "style.css" if p.parent == site else "../style.css"
        assert "<meta name='generator' content='hxbench'>" in text, p
        assert f"<link rel='stylesheet' href='{href}'>" in text and "<style>" not in text, p


chromium = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} not found (apt-get install chromium)")


@chromium
def test_site_in_headless_chromium(boards, tmp_path):
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    site = tmp_path / "site"
    shutil.copytree(REPO / "hxbench" / "resources" / "leaderboards" / "published", boards / "published")
    assert main(["leaderboard", "build", "--boards", str(boards), "--out", str(site)]) == 0
    board = load_board(boards / "demo")
    expected = [e.name for e in board.entries]
    assert expected == ["sharp", "blurry", "still-noise"]  # SSIM falls as the noise grows
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page()
        page.goto((site / "index.html").as_uri())
        assert page.locator("#boards li").count() == 2
        page.click("text=Demo board")
        table = page.locator("table#ranking")
        assert table.is_visible()
        assert page.locator("table#ranking tbody tr").evaluate_all(
            "rs => rs.map(r => r.dataset.entry)") == expected
        ssim = [float(x) for x in page.locator("table#ranking tbody tr td:nth-child(3)").evaluate_all(
            "cs => cs.map(c => c.dataset.v)")]
        assert ssim == sorted(ssim, reverse=True)
        assert page.locator("table#ranking tbody tr").first.locator(".ci").first.inner_text().startswith("[")
        # plots render: a scatter with one point per entry, distributions with a dot per sample
        scatter = page.locator("svg.scatter")
        assert scatter.count() == 1
        box = scatter.bounding_box()
        assert box["width"] > 300 and box["height"] > 200
        pts = scatter.locator("circle.pt")
        assert pts.count() == 3
        assert all(pts.nth(i).bounding_box()["width"] > 0 for i in range(3))
        dists = page.locator("svg.dist")
        assert dists.count() == 2 and dists.first.locator("circle").count() == 3 * 4
        # sorting by a column header (client side), then back to the official order
        page.click("th[data-col=psnr]")  # ascending first
        assert page.locator("table#ranking tbody tr").evaluate_all(
            "rs => rs.map(r => r.dataset.entry)") == expected[::-1]
        page.click("th[data-col=rank]")
        assert page.locator("table#ranking tbody tr").evaluate_all(
            "rs => rs.map(r => r.dataset.entry)") == expected
        # an entry page: model card and worst samples
        page.click("text=still-noise")
        assert page.locator("h1").inner_text() == "still-noise"
        assert "noise std 20" in page.locator("dl.card").inner_text()
        assert page.locator("table.worst tr").count() == 1 + 4
        # the published board is marked as reported
        page.goto((site / "published" / "index.html").as_uri())
        assert "Reported, not reproduced" in page.locator("#reported").inner_text()
        assert page.locator("table.reported").count() == 7  # 5 paper tables, 2 MoChaBench tables
        assert "792.6" in page.content()
        browser.close()


@chromium
def test_bundled_mochabench_board_in_headless_chromium(tmp_path):
    """The bundled boards as `hxbench leaderboard build` makes them: the MoChaBench board with
    its four verified entries (the published models' real videos) beside the hx-synth board,
    stating its coverage, with per-category tables; MoChaBench's Sync-C/D on the published page."""
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    from hxbench.paths import BOARDS_DIR

    entries = sorted((BOARDS_DIR / "mochabench" / "entries").iterdir())
    assert [e.name for e in entries] == ["aniportrait", "hallo3", "mocha", "sadtalker"]
    for e in entries:
        assert main(["verify", str(e)]) == 0, e
        assert sum(f.stat().st_size for f in e.rglob("*") if f.is_file()) < 200_000  # bundles stay small
    board = load_board(BOARDS_DIR / "mochabench")
    assert {e.name for e in board.entries} == {"MoCha", "Hallo3", "SadTalker", "AniPortrait"}
    assert all(e.results.dataset["n_samples"] == 20 for e in board.entries)
    site = tmp_path / "site"
    assert main(["leaderboard", "build", "--out", str(site)]) == 0
    with playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        page = browser.new_page()
        page.goto((site / "index.html").as_uri())
        links = page.locator("#boards li").all_inner_texts()
        assert any("MoChaBench" in t for t in links) and any("lip_sync" in t for t in links)
        page.click("text=MoChaBench: four published models")
        assert "covers 20 of MoChaBench's 220 contexts" in page.locator("body").inner_text()
        names = page.locator("table#ranking tbody tr").evaluate_all("rs => rs.map(r => r.dataset.entry)")
        assert sorted(names) == ["AniPortrait", "Hallo3", "MoCha", "SadTalker"]
        assert names == [e.name for e in board.entries]  # the official order
        cats = page.locator("table.per-category").first.locator("tbody tr").all_inner_texts()
        assert [c.split()[0] for c in cats] == ["1p_closeup_facingcamera", "1p_emotion",
                                               "1p_mediumshot_actioncontrol", "1p_protrait", "2p_1clip_1talk"]
        page.goto((site / "published" / "index.html").as_uri())
        assert "6.333" in page.content() and "11.383" in page.content()
        browser.close()
