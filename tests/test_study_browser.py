"""End to end in a real browser: headless Debian chromium driven by Playwright opens a rater
link, watches every item (synced playback to the end), votes with the keyboard and with the
mouse, closes the browser half-way and resumes, and the report shows the expected GSB."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--autoplay-policy=no-user-gesture-required"]

pytest.importorskip("flask")
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not os.path.exists(CHROMIUM):
    pytest.skip(f"{CHROMIUM} not found: apt-get install -y chromium (listed in apt-packages.txt)",
                allow_module_level=True)

from hxbench.study.core import build_report, create_study, open_db  # noqa: E402
from hxbench.study.plan import BROKEN, parse_run_args  # noqa: E402
from hxbench.study.testing import make_run, serve_in_thread  # noqa: E402


def wait_watched(page) -> None:
    # both videos must really have played to their end (the submit button unlocks then)
    # (selector waits, not wait_for_function: the page's CSP forbids string evaluation)
    page.locator("#submit:enabled").wait_for(timeout=20000)
    ended = page.locator("video.sv").evaluate_all("vs => vs.map(v => v.ended && v.duration > 0.5)")
    assert ended == [True, True]


def test_rater_session_in_chromium(tmp_path: Path):
    make_run(tmp_path / "A", ["s1", "s2", "s3"], shade=40)
    make_run(tmp_path / "B", ["s1", "s2", "s3"], shade=160)
    study = tmp_path / "study"
    summary = create_study(study, parse_run_args([f"A={tmp_path / 'A'}", f"B={tmp_path / 'B'}"]),
                           "pairwise", 1, n_checks=2, seed=11)
    token = summary["links"][0]["token"]
    store = open_db(study)  # the test's view of the plan: which side shows which model
    # intended votes: A preferred on s1 and s2, "same" on s3 -> GSB(A vs B) = (2 - 0) / 3
    intent = {"s1": "A", "s2": "A", "s3": None}
    n_items = summary["items"]
    assert n_items == 5
    with serve_in_thread(study) as base, playwright_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{base}/r/{token}")
        done = 0
        while "All done" not in page.content():
            item_id = int(page.get_attribute("input[name=item_id]", "value"))
            item = store.item(item_id)
            assert page.locator("#progress").inner_text().startswith(f"{done} / {n_items}")
            assert page.locator("#submit").is_disabled()  # not before watching
            left, right = item["runs"]
            if item["check_kind"] == "identical":
                pref = "same"
            elif BROKEN in item["runs"]:
                pref = "right" if left == BROKEN else "left"
            else:
                fav = intent[item["sample_id"]]
                pref = "same" if fav is None else ("left" if left == fav else "right")
            loser_side = {"left": "right", "right": "left"}.get(pref)
            if done % 2 == 0:  # keyboard
                page.keyboard.press("Space")
                wait_watched(page)
                page.keyboard.press({"left": "1", "same": "2", "right": "3"}[pref])
                if loser_side:
                    page.keyboard.press("w" if loser_side == "left" else "o")  # MU on the loser
                with page.expect_navigation():
                    page.keyboard.press("Enter")
            else:  # mouse
                page.click("#play")
                wait_watched(page)
                page.click(f"#pref_{pref}")
                if loser_side:
                    page.click(f"#defect_{loser_side}_MU")
                with page.expect_navigation():
                    page.click("#submit")
            done += 1
            vote = store.vote(item_id)
            assert vote is not None and vote["answer"]["pref"] == pref  # written before the next item
            if loser_side:
                assert vote["answer"]["defects"][loser_side] == ["MU"]
            if done == 2:  # close the browser and come back later: resume where we left off
                context.close()
                context = browser.new_context()
                page = context.new_page()
                page.goto(f"{base}/r/{token}")
                assert f"{done} / {n_items} answered" in page.content()
            assert done <= n_items
        assert done == n_items
        context.close()
        browser.close()
    store.close()
    rep = build_report(study, n_boot=200)
    (pair,) = rep["pairwise"]["pairs"]
    assert (pair["wins"], pair["ties"], pair["losses"]) == (2, 1, 0)
    assert pair["gsb"] == pytest.approx(2 / 3)
    assert rep["pairwise"]["defect_rates"]["B"]["MU"] == pytest.approx(2 / 3)
    assert rep["pairwise"]["defect_rates"]["A"]["MU"] == 0.0
    assert rep["attention"]["failed"] == 0 and rep["attention"]["checks_answered"] == 2
    assert "+0.667" in (study / "report.html").read_text()
