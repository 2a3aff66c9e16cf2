"""Regression checks: a degraded checkpoint is flagged worse (exit 1), a re-run of the same
checkpoint is the same (exit 0), incomparable runs are refused with the reason, and the set
bootstrap of FID-style metrics works from stored payload features."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from hxbench.cli import main
from hxbench.board.compare import NotComparable, compare_runs, load_run
from hxbench.board.testing import make_outputs, make_task_data
from hxbench.io.manifest import Manifest


def score(manifest, outputs, run_dir) -> Path:
    assert main(["score", "--manifest", str(manifest.path), "--outputs", str(outputs), "--run-dir", str(run_dir),
                 "--metrics", "ssim", "psnr", "--json"]) == 0
    return run_dir


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    m = make_task_data(root / "data", n=5)
    ckpt = make_outputs(m, root / "ckpt", noise=4, seed=1)
    degraded = make_outputs(m, root / "degraded", noise=12, seed=2)
    return {"manifest": m, "root": root,
            "base": score(m, ckpt, root / "base"),
            "rerun": score(m, ckpt, root / "rerun"),  # the same checkpoint scored again from scratch
            "degraded": score(m, degraded, root / "worse")}


def test_rerun_is_same_exit_0(runs, capsys):
    capsys.readouterr()
    rc = main(["compare", str(runs["base"]), str(runs["rerun"]), "--fail-on-regression", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert [r["decision"] for r in doc["rows"]] == ["same", "same"] and doc["regressions"] == []
    assert all(r["n"] == 5 and r["method"] == "paired" for r in doc["rows"])


def test_degraded_checkpoint_is_worse_exit_1(runs, capsys, tmp_path):
    capsys.readouterr()
    rc = main(["compare", str(runs["base"]), str(runs["degraded"]), "--fail-on-regression",
               "--json-out", str(tmp_path / "c.json")])
    text = capsys.readouterr().out
    assert rc == 1
    assert "REGRESSION: ssim[rgb-255].ssim, psnr[rgb-255].psnr" in text
    doc = json.loads((tmp_path / "c.json").read_text())
    for r in doc["rows"]:
        assert r["decision"] == "worse" and r["ci"][1] < 0 < r["base"] - r["new"]
    # without --fail-on-regression the table is informative only
    assert main(["compare", str(runs["base"]), str(runs["degraded"])]) == 0
    # the other way round it is an improvement
    capsys.readouterr()
    assert main(["compare", str(runs["degraded"]), str(runs["base"]), "--fail-on-regression", "--json"]) == 0
    assert [r["decision"] for r in json.loads(capsys.readouterr().out)["rows"]] == ["better", "better"]


def _variant(run: Path, dest: Path, edit) -> Path:
    shutil.copytree(run, dest)
    res = json.loads((dest / "results.json").read_text())
    edit(res)
    (dest / "results.json").write_text(json.dumps(res))
    return dest


def test_refuses_incomparable_runs(runs, tmp_path, capsys):
    base = runs["base"]

    def version(r):
        r["metrics"]["ssim[rgb-255]"]["version"] = "2"

    def weights(r):
        r["metrics"]["psnr[rgb-255]"]["weights"] = {"some-net": "ab" * 32}

    def revision(r):
        r["dataset"]["revision"] = "0123456789abcdef"

    def task(r):
        r["task"] = {"name": "other-task", "version": 1}

    cases = {"version": (version, "ssim[rgb-255]: metric version 1 vs 2"),
             "weights": (weights, "psnr[rgb-255]: different weights (some-net=abababababab)"),
             "revision": (revision, "different manifest revisions"),
             "task": (task, "different tasks: None vs other-task")}
    for name, (edit, reason) in cases.items():
        other = _variant(base, tmp_path / name, edit)
        capsys.readouterr()
        assert main(["compare", str(base), str(other), "--fail-on-regression"]) == 2
        err = capsys.readouterr().err
        assert "refusing to compare" in err and reason in err, (name, err)
    # a different variant of a metric is a different metric
    with pytest.raises(NotComparable, match=r"ssim\[y-255\] is not in the base run \(it has: psnr\[rgb-255\], ssim\[rgb-255\]\)"):
        compare_runs(load_run(base), load_run(runs["rerun"]), ["ssim[y-255]"])


def _fake_set_run(path: Path, gens: dict, refs: dict, revision: str = "r1") -> Path:
    """A run directory of a FID-style metric with payload features (d = 6)."""
    from hxbench.stats.frechet import FeatureStats, frechet_distance
    from hxbench.eval.results import RunStore, write_json
    from hxbench.eval.schema import MetricResult, OutputValue, RunResults, SampleRecord

    store = RunStore(path)
    g, r = FeatureStats(6), FeatureStats(6)
    for sid in sorted(gens):
        store.save_payload("fid[pytorch-fid]", sid, {"gen": gens[sid], "ref": refs[sid]})
        store.append(SampleRecord(sid, "fid[pytorch-fid]", "1", values={}, payload=True))
        g.add(gens[sid])
        r.add(refs[sid])
    value = frechet_distance(*g.mean_cov(1), *r.mean_cov(1))
    fid = MetricResult("fid[pytorch-fid]", "ok", metric="fid", variant="pytorch-fid", version="1",
                       weights={"fid-inception-pt": "cd" * 32},
                       outputs={"fid": OutputValue(value, len(gens), higher_is_better=False)})
    results = RunResults(hxbench_version="0", git_hash=None, created="", task=None, dataset={"revision": revision},
                         model={"name": path.name}, environment={}, n_samples=len(gens), n_reused_records=0,
                         metrics={"fid[pytorch-fid]": fid})
    write_json(path / "results.json", results.to_json())
    return path


def test_set_bootstrap_for_fid_payloads(tmp_path):
    rng = np.random.default_rng(1)
    ids = [f"v{i}" for i in range(12)]
    refs = {s: rng.normal(0, 1, (5, 6)).astype(np.float32) for s in ids}
    close = {s: rng.normal(0, 1, (5, 6)).astype(np.float32) for s in ids}
    far = {s: (close[s] + 1.5).astype(np.float32) for s in ids}
    base = load_run(_fake_set_run(tmp_path / "base", close, refs))
    again = load_run(_fake_set_run(tmp_path / "again", close, refs))
    worse = load_run(_fake_set_run(tmp_path / "worse", far, refs))
    (row,) = compare_runs(base, again, n_boot_set=50)
    assert row.kind == "set" and row.decision == "same" and row.diff == 0 and not row.notes
    (row,) = compare_runs(base, worse, n_boot_set=50)
    assert row.kind == "set" and row.decision == "worse" and row.ci[0] > 0 and row.n == 12
    assert not row.notes  # the FD recomputed from payloads equals the stored value
    assert abs(row.new - worse.results.metrics["fid[pytorch-fid]"].outputs["fid"].value) < 1e-6
    (row,) = compare_runs(worse, base, n_boot_set=50)
    assert row.decision == "better"
    other = load_run(_fake_set_run(tmp_path / "rev2", close, refs, revision="r2"))
    with pytest.raises(NotComparable, match="different manifest revisions: r1 vs r2"):
        compare_runs(base, other)


def test_training_loop_regression_recipe(runs, tmp_path):
    """The docs/leaderboards.md recipe: score every checkpoint on a fixed subset and compare
    with the best-so-far run; stop when a metric regresses."""
    from hxbench.board.compare import compare_runs, load_run
    from hxbench.eval.inputs import from_manifest
    from hxbench.eval.scoring import score as score_samples

    m = runs["manifest"]
    subset = Manifest(m.path, m.samples[:3])  # a fixed subset, the same for every checkpoint
    header = {"dataset": {"manifest": str(m.path), "revision": m.revision}, "task": None}

    def evaluate(step: int, noise: float) -> Path:
        outputs = make_outputs(subset, tmp_path / f"out{step}", noise=noise, seed=step)  # "generate"
        run_dir = tmp_path / f"step{step}"
        score_samples(from_manifest(subset, outputs), ["psnr"], run_dir=run_dir, progress=False,
                      model={"name": f"step{step}"}, **header)
        return run_dir

    reference = evaluate(0, noise=6)
    history = []
    for step, noise in [(1, 3), (2, 14)]:  # training improves, then a bad update degrades it
        run = evaluate(step, noise)
        rows = compare_runs(load_run(reference), load_run(run), n_boot=500)
        decision = rows[0].decision
        history.append((step, decision))
        if decision == "worse":
            break
        if decision == "better":
            reference = run
    assert history == [(1, "better"), (2, "worse")]
