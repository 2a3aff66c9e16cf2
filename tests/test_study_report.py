"""Report maths of the user study on hand-computed cases."""

from __future__ import annotations

import math

import pytest

from hxbench.study.plan import BROKEN
from hxbench.study.report import bradley_terry, compute, gsb, krippendorff_alpha_nominal, render_html


def row(item, rater, sample, runs, answer, kind="pair", check=None):
    return {"item_id": item, "rater_id": int(rater[-1]), "rater": rater, "position": item,
            "kind": kind, "sample_id": sample, "runs": runs, "check_kind": check, "answer": answer}


def pv(pref, left=(), right=(), da=None):
    a = {"pref": pref, "defects": {"left": list(left), "right": list(right)}}
    if da:
        a["da"] = da
    return a


def test_gsb_formula():
    assert gsb(5, 2, 3) == pytest.approx(0.3)
    assert gsb(0, 4, 0) == -1.0
    assert gsb(0, 0, 0) is None


PAIR_ROWS = [
    row(1, "r1", "s1", ["A", "B"], pv("left", ["LSI"], ["MU", "ID"], {"left": [2, 2], "right": [1, 2]})),
    row(2, "r2", "s1", ["B", "A"], pv("left", [], ["MU"], {"left": [2, 2], "right": [2, 2]})),
    row(3, "r1", "s2", ["B", "A"], pv("right", ["ID"], [], {"left": [0, 1], "right": [1, 1]})),
    row(4, "r2", "s2", ["A", "B"], pv("same", [], [], {"left": [3, 3], "right": [3, 3]})),
    # attention checks: r1 passes both, r2 fails the broken one (prefers the broken side)
    row(5, "r1", "s1", ["A", "A"], pv("same"), check="identical"),
    row(6, "r1", "s2", [BROKEN, "B"], pv("right"), check="broken"),
    row(7, "r2", "s1", ["B", BROKEN], pv("right"), check="broken"),
    row(8, "r2", "s1", ["A", "B"], None),  # planned, not answered yet
]


def test_pairwise_gsb_defects_da_by_hand():
    rep = compute(PAIR_ROWS, ["A", "B"], "pairwise", n_boot=200, max_check_fail=1.0)
    (pair,) = rep["pairwise"]["pairs"]
    # A wins items 1 and 3, loses item 2, ties item 4 -> GSB = (2 - 1) / 4
    assert (pair["wins"], pair["losses"], pair["ties"], pair["n"]) == (2, 1, 1, 4)
    assert pair["gsb"] == pytest.approx(0.25)
    assert rep["pairwise"]["gsb_matrix"]["B"]["A"] == pytest.approx(-0.25)
    # A shown 4 times: LSI once (item 1 left), MU once (item 2 right), ID never
    dr = rep["pairwise"]["defect_rates"]
    assert dr["A"] == {"LSI": 0.25, "MU": 0.25, "ID": 0.0, "n": 4}
    # B: MU once (item 1 right), ID twice (item 1 right, item 3 left)
    assert dr["B"] == {"LSI": 0.0, "MU": 0.25, "ID": 0.5, "n": 4}
    assert pair["defect_rates"]["B"]["ID"] == 0.5
    # DA: A correct 2+2+1+3 of 2+2+1+3 persons; B 1+2+0+3 of 2+2+1+3 = 6 / 8
    assert rep["pairwise"]["da"]["A"] == pytest.approx(1.0)
    assert rep["pairwise"]["da"]["B"] == pytest.approx(6 / 8)
    att = rep["attention"]["per_rater"]
    assert att["r1"]["failed"] == 0 and att["r1"]["checks"] == 2
    assert att["r2"]["failed"] == 1 and att["r2"]["failures"][0]["item"] == 7
    assert rep["votes"]["used"] == 4 and rep["votes"]["answered"] == 7
    assert rep["ranking"]["order"] == ["A", "B"]


def test_failed_checks_exclude_rater():
    # r2 failed 1 of 1 answered checks: with max_check_fail 0.5 its votes are dropped
    rows = [r for r in PAIR_ROWS if r["item_id"] != 5]
    rep = compute(rows, ["A", "B"], "pairwise", n_boot=50, max_check_fail=0.5)
    assert rep["votes"]["excluded_raters"] == ["r2"]
    (pair,) = rep["pairwise"]["pairs"]
    assert (pair["wins"], pair["losses"], pair["ties"]) == (2, 0, 0)
    rep = compute(rows, ["A", "B"], "pairwise", n_boot=50, max_check_fail=1.0)
    assert rep["votes"]["excluded_raters"] == []


def test_top1_by_hand():
    rows = [
        row(1, "r1", "s1", ["A", "B", "C"], {"choice": 0}, kind="choice"),
        row(2, "r2", "s1", ["C", "A", "B"], {"choice": 1}, kind="choice"),
        row(3, "r1", "s2", ["B", "C", "A"], {"choice": 1}, kind="choice"),
        row(4, "r2", "s2", ["A", "B", "C"], {"choice": 1}, kind="choice"),
        row(5, "r1", "s3", ["A", BROKEN, "C"], {"choice": 1}, kind="choice", check="broken"),
    ]
    rep = compute(rows, ["A", "B", "C"], "best-choice", n_boot=100, max_check_fail=1.0)
    bc = rep["best_choice"]
    # A chosen in items 1, 2; C in item 3; B in item 4; the check is not counted
    assert bc["n"] == 4
    assert bc["top1"] == {"A": 0.5, "B": 0.25, "C": 0.25}
    assert rep["attention"]["per_rater"]["r1"]["failed"] == 1
    assert rep["ranking"]["order"][0] == "A"
    # s1: both raters chose A -> agreement on that unit; s2: disagree
    assert rep["agreement"]["best_choice"] is not None


def test_krippendorff_alpha_hand_cases():
    assert krippendorff_alpha_nominal([["a", "a"], ["b", "b"]]) == pytest.approx(1.0)
    # o_aa = 2, o_ab = o_ba = 1; n_a = 3, n_b = 1, n = 4; D_o = 2, D_e = (16-9-1)/3 = 2
    assert krippendorff_alpha_nominal([["a", "a"], ["a", "b"]]) == pytest.approx(0.0)
    assert krippendorff_alpha_nominal([["a"], ["b"]]) is None  # nothing pairable
    assert krippendorff_alpha_nominal([["a", "a"], ["a", "a"]]) is None  # one category only


def test_krippendorff_alpha_reference_example():
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability", nominal example:
    # 4 observers x 12 units with missing values; published alpha = 0.743
    data = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    units = [[obs[u] for obs in data if obs[u] is not None] for u in range(12)]
    assert round(krippendorff_alpha_nominal(units), 3) == 0.743


def test_bradley_terry_hand_cases():
    p = bradley_terry(["A", "B"], {("A", "B"): 3, ("B", "A"): 1}, prior=0.0)
    assert p["A"] / p["B"] == pytest.approx(3.0, rel=1e-6)  # ML: p_A/p_B = wins ratio
    assert p["A"] + p["B"] == pytest.approx(1.0)
    p = bradley_terry(["A", "B"], {("A", "B"): 3, ("B", "A"): 1}, prior=0.5)
    assert p["A"] / p["B"] == pytest.approx(3.25 / 1.25, rel=1e-6)
    p = bradley_terry(["C", "B", "A"], {("A", "B"): 3, ("B", "A"): 1, ("B", "C"): 3, ("C", "B"): 1,
                                        ("A", "C"): 3, ("C", "A"): 1}, prior=0.0)
    assert sorted(p, key=lambda m: -p[m]) == ["A", "B", "C"]
    # symmetric wins -> equal strengths
    p = bradley_terry(["A", "B", "C"], {("A", "B"): 2, ("B", "A"): 2, ("B", "C"): 1, ("C", "B"): 1},
                      prior=0.0)
    assert p["A"] == pytest.approx(p["B"]) and p["B"] == pytest.approx(p["C"])
    # an unbeaten model stays finite with the prior
    p = bradley_terry(["A", "B"], {("A", "B"): 5}, prior=0.5)
    assert math.isfinite(p["A"]) and p["A"] / p["B"] == pytest.approx(5.25 / 0.25, rel=1e-6)


def test_html_is_self_contained():
    rep = compute(PAIR_ROWS, ["A", "B"], "pairwise", n_boot=50, max_check_fail=1.0)
    rep["study"] = {"protocol": "pairwise", "runs": ["A", "B"], "n_samples": 2, "missing": {},
                    "n_raters": 2}
    page = render_html(rep)
    assert "<svg" in page and "+0.250" in page
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "<script src" not in page and "<link" not in page


def test_html_uses_the_shared_page_shell():
    from hxbench.html import STYLE

    rep = compute(PAIR_ROWS, ["A", "B"], "pairwise", n_boot=50, max_check_fail=1.0)
    rep["study"] = {"protocol": "pairwise", "runs": ["A", "B"], "n_samples": 2, "missing": {},
                    "n_raters": 2}
    page = render_html(rep)
    assert "<meta name='generator' content='hxbench'>" in page and f"<style>{STYLE}</style>" in page
    assert "Rater progress" not in page and "export.json" not in page  # admin controls only on the admin page
