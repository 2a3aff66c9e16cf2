"""`hxbench compute` on every supported input kind, and its JSON contract."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from hxbench.io import media
from tests.conftest import moving_square_video


def compute(*args):
    proc = subprocess.run([sys.executable, "-m", "hxbench", "compute", *args], capture_output=True, text=True)
    return proc


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """The same two 2-video sets as .npy, video folders, single videos, image and frame folders."""
    root = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    ref = np.stack([moving_square_video(8, 32, seed=i) for i in range(2)])
    gen = np.clip(ref.astype(int) + rng.integers(-30, 30, ref.shape), 0, 255).astype(np.uint8)
    out = {}
    for name, arr in (("gen", gen), ("ref", ref)):
        np.save(root / f"{name}.npy", arr)
        np.save(root / f"{name}_float.npy", arr.astype(np.float32) / 255.0)
        for i in range(2):
            media.write_video(root / f"{name}_videos" / f"v{i}.mp4", arr[i], 25, crf=0)
            for t in range(arr.shape[1]):
                (root / f"{name}_frames" / f"v{i}").mkdir(parents=True, exist_ok=True)
                Image.fromarray(arr[i, t]).save(root / f"{name}_frames" / f"v{i}" / f"{t:03d}.png")
        (root / f"{name}_images").mkdir()
        for t in range(arr.shape[1]):
            Image.fromarray(arr[0, t]).save(root / f"{name}_images" / f"im{t:02d}.png")
        out[name] = arr
    out["root"] = root
    return out


def test_npy_json_contract_and_value(pairs):
    root = pairs["root"]
    proc = compute("ssim", "--gen", str(root / "gen.npy"), "--ref", str(root / "ref.npy"), "--json", "--per-sample")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["metric"], out["variant"], out["key"], out["n"]) == ("ssim", "rgb-255", "ssim[rgb-255]", 2)
    from skimage.metrics import structural_similarity

    expected = np.mean([np.mean([structural_similarity(g, r, channel_axis=-1, data_range=255, gaussian_weights=True,
                                                       sigma=1.5, use_sample_covariance=False)
                                 for g, r in zip(pairs["gen"][i], pairs["ref"][i])]) for i in range(2)])
    assert abs(out["value"] - expected) < 1e-6
    assert [s["sample_id"] for s in out["per_sample"]] == ["0", "1"]


@pytest.mark.parametrize("gen, ref", [
    ("gen_float.npy", "ref_float.npy"),
    ("gen_frames", "ref_frames"),
    ("gen_videos", "ref_videos"),
    ("gen_videos/v0.mp4", "ref_videos/v0.mp4"),
    ("gen_images", "ref_images"),
])
def test_every_input_kind(pairs, gen, ref):
    root = pairs["root"]
    base = json.loads(compute("psnr", "--gen", str(root / "gen.npy"), "--ref", str(root / "ref.npy"), "--json",
                              "--per-sample").stdout)
    proc = compute("psnr", "--gen", str(root / gen), "--ref", str(root / ref), "--json", "--per-sample")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    per_sample = {s["sample_id"]: s["values"]["psnr"] for s in out["per_sample"]}
    if gen.endswith("images"):  # 8 one-frame samples from video 0
        assert out["n"] == 8
    elif gen.endswith(".mp4") or gen.endswith("videos"):
        # videos are scored on their decoded frames (4:2:0 chroma changes noisy pixels)
        from skimage.metrics import peak_signal_noise_ratio

        names = ["v0"] if gen.endswith(".mp4") else ["v0", "v1"]
        assert list(per_sample) == names
        for name in names:
            g = media.read_video(root / "gen_videos" / f"{name}.mp4")
            r = media.read_video(root / "ref_videos" / f"{name}.mp4")
            expected = np.mean([peak_signal_noise_ratio(a, b, data_range=255) for a, b in zip(r, g)])
            assert abs(per_sample[name] - expected) < 1e-6
    else:  # float arrays and PNG frames are exact
        assert out["n"] == 2 and abs(out["value"] - base["value"]) < 1e-9


def test_mismatched_sets_and_unknown_metric(pairs, tmp_path):
    root = pairs["root"]
    proc = compute("ssim", "--gen", str(root / "gen_videos"), "--ref", str(root / "ref_images"))
    assert proc.returncode == 2 and "only in --gen" in proc.stderr
    proc = compute("ssmi", "--gen", str(root / "gen.npy"), "--ref", str(root / "ref.npy"))
    assert proc.returncode == 2 and "did you mean: ssim" in proc.stderr


def test_unavailable_metric_reports_the_fix(pairs, tmp_path):
    root = pairs["root"]
    proc = compute("sync", "--variant", "syncnet-pipeline", "--gen", str(root / "gen_videos"), "--json")
    assert proc.returncode == 3
    out = json.loads(proc.stdout)
    assert out["status"] == "unavailable" and out["value"] is None
    assert "hxbench weights import syncnet_v2" in out["fix"]


def test_every_sample_failed_exits_nonzero_with_strict_json(tmp_path):
    small = np.random.default_rng(0).integers(0, 255, (2, 3, 8, 8, 3), dtype=np.uint8)  # under SSIM's 11x11
    np.save(tmp_path / "small.npy", small)
    r = compute("ssim", "--gen", str(tmp_path / "small.npy"), "--ref", str(tmp_path / "small.npy"), "--json")
    assert r.returncode == 4
    out = json.loads(r.stdout, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))  # no NaN
    assert out["value"] is None and out["outputs"]["ssim"]["value"] is None and out["n_failed"] == 2
    assert "every one of the 2 samples failed" in r.stderr


def test_a_set_metric_on_too_few_samples_says_so(tmp_path, monkeypatch, capsys):
    from hxbench.cli import main
    from hxbench.metrics.fvd import FVD
    from tests.test_fvd import _fake_available, _fake_forward

    monkeypatch.setattr(FVD, "forward", _fake_forward)
    monkeypatch.setattr(FVD, "check_available", _fake_available)
    np.save(tmp_path / "one.npy", moving_square_video(12, 32)[None])
    args = ["compute", "fvd[common-allf]", "--gen", str(tmp_path / "one.npy"), "--ref", str(tmp_path / "one.npy")]
    assert main(args + ["--json"]) == 4
    captured = capsys.readouterr()
    assert json.loads(captured.out)["value"] is None
    assert "1 sample(s) are too few for it (FID/FVD need at least 2)" in captured.err


@pytest.mark.parametrize("metric", ["fvd[styleganv-16f]", "fid", "ssim"])
def test_zero_size_frames_are_a_per_sample_error(tmp_path, monkeypatch, capsys, metric):
    """(N, T, 0, 0, 3) videos: each sample fails with one line naming it, as for any bad
    sample, instead of a traceback from the network's resize (FID/FVD before)."""
    from hxbench.cli import main
    from hxbench.metrics.fvd import FVD
    from tests.test_fvd import _fake_available, _fake_forward

    monkeypatch.setattr(FVD, "forward", _fake_forward)  # I3D is not what is tested (FID runs its own)
    monkeypatch.setattr(FVD, "check_available", _fake_available)
    np.save(tmp_path / "empty.npy", np.zeros((3, 16, 0, 0, 3), np.uint8))
    np.save(tmp_path / "ref.npy", np.stack([moving_square_video(16, 32, seed=i) for i in range(3)]))
    rc = main(["compute", metric, "--gen", str(tmp_path / "empty.npy"), "--ref", str(tmp_path / "ref.npy")])
    captured = capsys.readouterr()
    assert rc == 4
    for i in range(3):
        assert f"sample '{i}' failed: {tmp_path / 'empty.npy'}[{i}]: frames are 0x0 pixels" in captured.out
    assert "every one of the 3 samples failed" in captured.err


def test_few_samples_for_fvd_are_flagged_once_and_recorded(tmp_path, monkeypatch, capsys):
    """3 videos against FVD's 400-d features: the value is given, with one warning in the
    table and the same note in the JSON (and so in results.json)."""
    from hxbench.cli import main
    from hxbench.metrics.fvd import FVD
    from tests.test_fvd import _fake_available, _fake_forward

    monkeypatch.setattr(FVD, "forward", _fake_forward)
    monkeypatch.setattr(FVD, "check_available", _fake_available)
    np.save(tmp_path / "gen.npy", np.stack([moving_square_video(16, 32, seed=i) for i in range(3)]))
    np.save(tmp_path / "ref.npy", np.stack([moving_square_video(16, 32, seed=i + 5) for i in range(3)]))
    args = ["compute", "fvd", "--gen", str(tmp_path / "gen.npy"), "--ref", str(tmp_path / "ref.npy")]
    assert main(args + ["--run-dir", str(tmp_path / "run")]) == 0
    out = capsys.readouterr().out
    warning = "computed on 3 generated and 3 reference clips, fewer than the 256 that make a 400-d"
    assert out.count(warning) == 1, out
    stored = json.loads((tmp_path / "run" / "results.json").read_text())["metrics"]["fvd[styleganv-16f]"]
    assert len(stored["notes"]) == 1 and warning in stored["notes"][0]
    assert main(args + ["--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["notes"] == stored["notes"] and captured.err.count(warning) == 1
