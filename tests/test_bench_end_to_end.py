"""The pure logic of bench/bench_end_to_end.py: the per-sample comparison of two sides, the
split of a process's wall time into the table's columns and the sum of a workflow. No
scoring, no timing asserted (the benchmark itself never runs in the test suite)."""

from __future__ import annotations

import math

import pytest

from tests.test_peers_bench import bench_module


def _bench():
    return bench_module("bench_end_to_end.py", "bench_end_to_end")


def test_equal_sides_have_zero_difference_and_nothing_mismatched():
    b = _bench()
    one = {"MoCha/a": {"hkc[mediapipe]": {"hkc": 0.5, "hand_frames": 1.0}}}
    c = b.compare_values(one, {"MoCha/a": {"hkc[mediapipe]": {"hkc": 0.5, "hand_frames": 1.0}}}, "hkc[mediapipe]")
    assert (c["n"], c["max_abs_diff"], c["mismatched"]) == (2, 0.0, [])


def test_differences_are_measured_per_output_and_restricted_to_the_outputs_asked():
    b = _bench()
    one = {"m/a": {"iqa[niqe-1fps]": {"niqe": 5.0}}, "m/b": {"iqa[niqe-1fps]": {"niqe": 4.0}}}
    peer = {"m/a": {"iqa[niqe-1fps]": {"niqe": 5.5, "other": 1.0}}, "m/b": {"iqa[niqe-1fps]": {"niqe": 3.9}}}
    c = b.compare_values(one, peer, "iqa[niqe-1fps]", ["niqe"])
    assert c["n"] == 2
    assert c["max_abs_diff"] == pytest.approx(0.5)
    assert c["mean_abs_diff"] == pytest.approx(0.3)
    assert c["max_rel_diff"] == pytest.approx(0.5 / 5.5)


def test_a_sample_scored_on_one_side_and_failed_or_missing_on_the_other_is_mismatched():
    b = _bench()
    one = {"m/a": {"k": {"x": 1.0}}, "m/b": {"k": {"error": "no face"}}, "m/c": {"k": {"x": 2.0}}}
    other = {"m/a": {"k": {"error": "no face"}}, "m/b": {"k": {"error": "no face"}}}
    c = b.compare_values(one, other, "k")
    assert c["mismatched"] == ["m/a", "m/c"]  # m/b failed on both sides: reported, not compared
    assert c["n"] == 0


def test_nan_on_both_sides_is_equal_and_on_one_side_a_mismatch():
    b = _bench()
    nan = math.nan
    c = b.compare_values({"s": {"k": {"x": nan, "y": 1.0}}}, {"s": {"k": {"x": nan, "y": nan}}}, "k")
    assert c["n"] == 0 and c["mismatched"] == ["s y"]


def test_split_columns_group_the_timed_parts_and_leave_the_rest_as_other():
    b = _bench()
    seconds = {"decode": 2.0, "face mesh": 3.0, "hands": 1.0, "pose": 1.0, "FaceNet": 0.5, "validate": 0.25,
               "id_sim[facenet-512]": 0.75, "hkc[mediapipe]": 0.5}
    cols = b.split_columns(seconds, total=10.0)
    assert cols == {"decode": 2.0, "validate": 0.25, "detection": 5.0, "network": 0.5, "metric": 1.25, "other": 1.0}


def test_a_workflow_adds_time_and_takes_the_largest_peak():
    b = _bench()
    split = dict.fromkeys(b.COLUMNS, 1.0)
    rows = [{"wall": 2.0, "cpu": 3.0, "peak_mib": 800.0, "split": split},
            {"wall": 4.0, "cpu": 5.0, "peak_mib": 1200.0, "split": split}]
    total = b.sum_processes(rows)
    assert (total["wall"], total["cpu"], total["peak_mib"]) == (6.0, 8.0, 1200.0)
    assert total["split"] == dict.fromkeys(b.COLUMNS, 2.0)


def test_resume_reuses_a_saved_process_only_under_the_same_configuration(tmp_path, monkeypatch):
    import argparse
    import json

    b = _bench()
    args = argparse.Namespace(work=tmp_path, models=["MoCha"], samples=3, metrics=["hkc[mediapipe]"], threads=2,
                              resume=True)
    (tmp_path / "results").mkdir()
    row = {"name": "alone hkc[mediapipe]", "wall": 5.0, "cpu": 4.0, "peak_mib": 900.0, "measured": "then"}
    saved = tmp_path / "results" / "alone hkc[mediapipe].row.json"
    saved.write_text(json.dumps({"config": b.run_config(args), "row": row}))

    class Ran(Exception):
        pass

    def no_run(*a, **k):
        raise Ran

    monkeypatch.setattr(b.subprocess, "run", no_run)
    assert b.run_child(args, "alone hkc[mediapipe]", ["--metrics", "hkc[mediapipe]"]) == row
    for changed in ({"threads": 1}, {"samples": None}, {"resume": False}):
        with pytest.raises(Ran):  # measured again
            b.run_child(argparse.Namespace(**(vars(args) | changed)), "alone hkc[mediapipe]", [])
