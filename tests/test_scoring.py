"""The scoring loop: per-sample records, errors per sample, resume after a kill, shards."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from hxbench.io import media
from hxbench.io.manifest import Expected, Sample, write_manifest
from tests.conftest import moving_square_video

N_SAMPLES = 10


@pytest.fixture
def task_dir(tmp_path):
    """Reference videos and slightly noisy 'generated' outputs for N_SAMPLES samples."""
    rng = np.random.default_rng(0)
    root = tmp_path / "data"
    outputs = tmp_path / "outputs"
    samples = []
    for i in range(N_SAMPLES):
        sid = f"clip{i:02d}"
        ref = moving_square_video(40, 64, seed=i)
        noisy = np.clip(ref.astype(int) + rng.integers(-8 * (i + 1), 8 * (i + 1), ref.shape), 0, 255).astype(np.uint8)
        media.write_video(root / "videos" / f"{sid}.mp4", ref, 25)
        media.write_video(outputs / f"{sid}.mp4", noisy, 25)
        samples.append(Sample(sid, reference_video=f"videos/{sid}.mp4", expected=Expected(fps=25)))
    manifest = write_manifest(root / "test.jsonl", samples)
    return manifest, outputs


def run_score(manifest, outputs, run_dir, *extra):
    cmd = [sys.executable, "-m", "hxbench", "score", "--manifest", str(manifest.path), "--outputs", str(outputs),
           "--run-dir", str(run_dir), "--metrics", "ssim", "psnr", "--json", *extra]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def lines(run_dir):
    return [json.loads(x) for x in (run_dir / "samples.jsonl").read_text().splitlines()]


def values(results):
    return {k: {o: r["value"] for o, r in e["outputs"].items()} for k, e in results["metrics"].items()}


def test_per_sample_records_and_identity(task_dir, tmp_path):
    manifest, outputs = task_dir
    results = run_score(manifest, outputs, tmp_path / "run")
    recs = lines(tmp_path / "run")
    assert len(recs) == 2 * N_SAMPLES
    assert {r["metric"] for r in recs} == {"ssim[rgb-255]", "psnr[rgb-255]"}
    # noisier samples score lower: per-sample values are real, not a constant
    psnr = {r["sample_id"]: r["values"]["psnr"] for r in recs if r["metric"] == "psnr[rgb-255]"}
    assert psnr["clip00"] > psnr["clip05"] > psnr["clip09"]
    assert results["dataset"]["revision"] == manifest.revision
    assert results["hxbench_version"] and results["environment"]["torch"]
    entry = results["metrics"]["psnr[rgb-255]"]
    assert entry["version"] and entry["outputs"]["psnr"]["n"] == N_SAMPLES
    assert np.isclose(entry["outputs"]["psnr"]["value"], np.mean(list(psnr.values())))
    lo, hi = entry["outputs"]["psnr"]["ci95"]
    assert lo < entry["outputs"]["psnr"]["value"] < hi


def test_kill_and_resume_recomputes_nothing(task_dir, tmp_path):
    manifest, outputs = task_dir
    full = run_score(manifest, outputs, tmp_path / "full")

    run_dir = tmp_path / "killed"
    cmd = [sys.executable, "-m", "hxbench", "score", "--manifest", str(manifest.path), "--outputs", str(outputs),
           "--run-dir", str(run_dir), "--metrics", "ssim", "psnr", "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    samples_file = run_dir / "samples.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if samples_file.is_file() and len(samples_file.read_text().splitlines()) >= 4:
            break
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = lines(run_dir)
    assert 4 <= len(before) < 2 * N_SAMPLES, "the run finished before it could be killed"
    # simulate a kill in the middle of writing a line
    with open(samples_file, "a") as f:
        f.write('{"sample_id": "clip0')

    resumed = run_score(manifest, outputs, run_dir)
    after = lines(run_dir)
    assert resumed["n_reused_records"] == len(before)
    assert after[: len(before)] == before  # stored records untouched
    keys = [(r["sample_id"], r["metric"]) for r in after]
    assert len(keys) == len(set(keys)) == 2 * N_SAMPLES  # nothing recorded twice
    assert values(resumed) == values(full)

    again = run_score(manifest, outputs, run_dir)
    assert again["n_reused_records"] == 2 * N_SAMPLES
    assert values(again) == values(full)


def test_shards_merge_to_the_unsharded_result(task_dir, tmp_path):
    manifest, outputs = task_dir
    full = run_score(manifest, outputs, tmp_path / "full")
    run_score(manifest, outputs, tmp_path / "s0", "--shard", "0/2")
    run_score(manifest, outputs, tmp_path / "s1", "--shard", "1/2")
    proc = subprocess.run([sys.executable, "-m", "hxbench", "merge", str(tmp_path / "s0"), str(tmp_path / "s1"),
                           "--out", str(tmp_path / "merged")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    merged = json.loads((tmp_path / "merged" / "results.json").read_text())
    for key, outs in values(full).items():
        for out, v in outs.items():
            assert np.isclose(values(merged)[key][out], v, rtol=1e-12)


def test_a_broken_sample_is_recorded_not_dropped(task_dir, tmp_path):
    manifest, outputs = task_dir
    (outputs / "clip03.mp4").write_bytes(b"garbage" * 100)
    results = run_score(manifest, outputs, tmp_path / "run", "--no-validate")
    entry = results["metrics"]["ssim[rgb-255]"]
    assert entry["n_failed"] == 1 and entry["outputs"]["ssim"]["n"] == N_SAMPLES - 1
    assert entry["failures"][0]["sample_id"] == "clip03" and "clip03.mp4" in entry["failures"][0]["error"]
    errors = [r for r in lines(tmp_path / "run") if "error" in r]
    assert {r["sample_id"] for r in errors} == {"clip03"}


def test_invalid_outputs_are_not_scored(task_dir, tmp_path):
    manifest, outputs = task_dir
    (outputs / "clip03.mp4").unlink()
    proc = subprocess.run([sys.executable, "-m", "hxbench", "score", "--manifest", str(manifest.path),
                           "--outputs", str(outputs), "--run-dir", str(tmp_path / "run"), "--metrics", "ssim"],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "clip03" in proc.stdout and not (tmp_path / "run" / "samples.jsonl").exists()


def test_a_sample_out_of_memory_fails_alone_and_the_run_goes_on(tmp_path, monkeypatch):
    """A MemoryError (a video too large for the memory left) is that sample's error, not the run's."""
    from hxbench.eval.scoring import score
    from hxbench.metrics.psnr import PSNRStream

    real = PSNRStream.pairs

    def pairs_or_run_out(self, gen, ref):  # mid-video, as a large frame buffer would
        if self.sample_id == "1":
            raise MemoryError("Unable to allocate 9.00 GiB for an array")
        return real(self, gen, ref)

    monkeypatch.setattr(PSNRStream, "pairs", pairs_or_run_out)
    clips = np.stack([moving_square_video(6, 32, seed=i) for i in range(3)])
    np.save(tmp_path / "v.npy", clips)
    from hxbench.eval.inputs import from_paths

    results = score(from_paths(tmp_path / "v.npy", tmp_path / "v.npy"), ["psnr"], run_dir=tmp_path / "run",
                    progress=False)
    entry = results.metrics["psnr[rgb-255]"]
    assert entry.outputs["psnr"].n == 2 and entry.n_failed == 1
    assert entry.failures[0].sample_id == "1" and "Unable to allocate" in entry.failures[0].error


def test_a_set_metric_on_one_sample_says_why_it_has_no_value(tmp_path, monkeypatch, capsys):
    """FVD of one sample is no number, and the results and the table say why."""
    from hxbench.commands._common import print_results_table
    from hxbench.eval.inputs import from_paths
    from hxbench.eval.schema import RunResults
    from hxbench.eval.scoring import score
    from hxbench.metrics.fvd import FVD
    from tests.test_fvd import _fake_available, _fake_forward

    monkeypatch.setattr(FVD, "forward", _fake_forward)
    monkeypatch.setattr(FVD, "check_available", _fake_available)
    np.save(tmp_path / "v.npy", moving_square_video(20, 32)[None])
    results = score(from_paths(tmp_path / "v.npy", tmp_path / "v.npy"), ["fvd[styleganv-16f]"],
                    run_dir=tmp_path / "run", progress=False)
    row = results.metrics["fvd[styleganv-16f]"].outputs["fvd"]
    assert np.isnan(row.value) and row.n == 1 and "needs at least 2 samples" in row.note
    again = RunResults.load(tmp_path / "run")  # the note survives the file
    assert again.metrics["fvd[styleganv-16f]"].outputs["fvd"].note == row.note
    print_results_table(results)
    assert "needs at least 2 samples on each side; this run has 1" in capsys.readouterr().out


def test_a_killed_run_keeps_every_finished_video_sample(tmp_path, monkeypatch):
    """Records of a video sample are on disk as soon as its decoding pass ends: a run killed
    while scoring the second sample keeps the first sample's records of every metric."""
    from hxbench.eval.inputs import from_paths
    from hxbench.eval.schema import load_samples
    from hxbench.eval.scoring import score
    from hxbench.io.media import write_video
    from hxbench.metrics.psnr import PSNRStream

    for i in range(3):
        for side in ("gen", "ref"):
            (tmp_path / side).mkdir(exist_ok=True)
            write_video(tmp_path / side / f"s{i}.mp4", moving_square_video(8, 32, seed=i), 25)
    real = PSNRStream.pairs

    def killed_at_s1(self, gen, ref):
        if self.sample_id == "s1":
            raise KeyboardInterrupt  # what a kill looks like from inside the loop
        return real(self, gen, ref)

    monkeypatch.setattr(PSNRStream, "pairs", killed_at_s1)
    with pytest.raises(KeyboardInterrupt):
        score(from_paths(tmp_path / "gen", tmp_path / "ref"), ["ssim", "psnr"], run_dir=tmp_path / "run",
              progress=False)
    kept = load_samples(tmp_path / "run")
    assert {k for k in kept} == {("s0", "ssim[rgb-255]"), ("s0", "psnr[rgb-255]")}
