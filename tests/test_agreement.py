"""Rank statistics of hxbench.stats.agreement: AUC, Spearman, and MoChaBench's human-alignment method."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hxbench.stats.agreement import alignment, auc, paired_auc_ci, per_example_spearman, rankdata, spearman


def test_auc_counts_pairs_and_ties():
    assert auc([0, 1], [2, 3]) == 1.0
    assert auc([2, 3], [0, 1]) == 0.0
    assert auc([1, 1], [1, 1]) == 0.5
    assert auc([0, 2], [1, 3]) == 0.75  # pairs (0,1) (0,3) (2,3) above, (2,1) below
    assert auc([0.0], [math.inf]) == 1.0  # a refused sample counts as worse than any
    assert math.isnan(auc([], [1]))


def test_paired_auc_ci_brackets_the_value():
    rng = np.random.default_rng(0)
    clean = rng.normal(0, 1, 40)
    lo, hi = paired_auc_ci(clean, clean + 1.0)
    assert lo < auc(clean, clean + 1.0) < hi and lo > 0.5
    assert paired_auc_ci([1.0], [2.0]) is None


def test_spearman_matches_the_textbook_with_ties():
    assert np.array_equal(rankdata([10, 20, 20, 5]), [2, 3.5, 3.5, 1])
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ranks (1, 2.5, 2.5, 4) vs (1, 2, 3, 4): Pearson of ranks = 0.9486833
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(0.9486833, abs=1e-7)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))


def test_alignment_reproduces_mochabench_compute_alignment_on_a_hand_made_table():
    # 4 examples x 4 models; MoChaBench: rho per example only where both rows vary, then nanmean
    human = np.array([[4, 3, 1, 2],    # rho with gpt row: 1.0
                      [4, 2, 1, 1],    # vs (3, 3, 1, 2): ranks h (4, 3, 1.5, 1.5), g (3.5, 3.5, 1, 2) -> 0.7379
                      [2, 2, 2, 2],    # human constant: left out
                      [1, 2, 3, 4]])   # vs (4, 3, 2, 1): -1.0
    gpt = np.array([[4, 3, 1, 2],
                    [3, 3, 1, 2],
                    [1, 2, 3, 4],
                    [4, 3, 2, 1]])
    per = per_example_spearman(human, gpt)
    assert per[0] == pytest.approx(1.0) and math.isnan(per[2]) and per[3] == pytest.approx(-1.0)
    hr = np.array([4, 3, 1.5, 1.5]); gr = np.array([3.5, 3.5, 1, 2])
    hr, gr = hr - hr.mean(), gr - gr.mean()
    expected = (hr * gr).sum() / np.sqrt((hr * hr).sum() * (gr * gr).sum())
    assert per[1] == pytest.approx(expected)
    a = alignment(human, gpt, n_boot=200)
    assert a["n_example"] == 3
    assert a["rho_example"] == pytest.approx((1.0 + expected - 1.0) / 3)
    lo, hi = a["ci_example"]
    assert lo <= a["rho_example"] <= hi
    # pooled: Spearman over all 16 cells
    assert a["rho_pooled"] == pytest.approx(spearman(human.reshape(-1), gpt.reshape(-1)))
    # same as scipy where it is installed
    scipy_stats = pytest.importorskip("scipy.stats")
    assert per[1] == pytest.approx(scipy_stats.spearmanr(human[1], gpt[1])[0])


def test_alignment_checks_shapes():
    with pytest.raises(ValueError):
        alignment(np.ones((3, 4)), np.ones((3, 3)))


def test_mochabench_bench_script_reads_the_three_header_csv(tmp_path):
    """bench/mochabench.py on a hand-made viescore-alignment.csv (3 examples): per-example
    Spearman across the four models, as MoChaBench's compute_alignment; --drop-last drops the
    last example as its script does."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "bench" / "mochabench.py"
    spec = importlib.util.spec_from_file_location("mochabench_bench", path)
    mb = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mb)
    models = ["MoCha", "Hallo3", "Aniportrait", "SadTalker"]  # the csv's column order
    aspects = list(mb.ASPECTS)
    head = [["Model"], ["Aspect"], ["Example idx"]]
    for m in models:
        for a in aspects:
            for rater in ("Human Major Vote", "GPT4o"):
                head[0].append(m), head[1].append(a), head[2].append(rater)
    # human / gpt per example and model (same for every aspect); models in csv order
    human = [[4, 3, 1, 2], [4, 2, 1, 1], [1, 2, 3, 4]]
    gpt = [[4, 3, 1, 2], [3, 3, 1, 2], [4, 3, 2, 1]]
    body = []
    for e in range(3):
        row = [str(e + 1)]
        for j in range(4):
            for _ in aspects:
                row += [str(human[e][j]), str(gpt[e][j])]
        body.append(row)
    (tmp_path / "viescore-alignment.csv").write_text("\n".join(",".join(r) for r in head + body) + "\n")
    rows = mb.alignment_table(tmp_path, None)
    assert len(rows) == 4 and all(r["rater"] == "GPT-4o (anchor)" for r in rows)
    expected = np.nanmean(per_example_spearman(np.array(human, float), np.array(gpt, float)))
    assert rows[0]["rho_example"] == pytest.approx(expected) and rows[0]["n_example"] == 3
    dropped = mb.alignment_table(tmp_path, None, drop_last=True)
    assert dropped[0]["n_example"] == 2 and dropped[0]["rho_example"] == pytest.approx(
        np.nanmean(per_example_spearman(np.array(human[:2], float), np.array(gpt[:2], float))))
