"""SSIM: parity with scikit-image, variants, pairing rules, published all-zeros/all-ones value."""

import numpy as np
import pytest
import torch

from hxbench.errors import SampleError
from hxbench.io.media import Clip
from hxbench.metrics.base import SampleData, build_metric
from hxbench.metrics.ssim import ssim_frames


def _clip(arr, name="x"):
    return Clip(source=name, kind="array", _array=arr)


def _pair(rng, t=3, h=40, w=48):
    ref = rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8)
    noise = rng.integers(-40, 41, ref.shape)
    gen = np.clip(ref.astype(int) + noise, 0, 255).astype(np.uint8)
    return gen, ref


def _skimage_ssim(a, b):
    from skimage.metrics import structural_similarity

    return structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                 data_range=255, channel_axis=-1)


def test_ssim_matches_skimage_per_frame():
    rng = np.random.default_rng(0)
    gen, ref = _pair(rng, t=4, h=37, w=53)
    ours = ssim_frames(torch.from_numpy(gen).permute(0, 3, 1, 2).double(),
                       torch.from_numpy(ref).permute(0, 3, 1, 2).double()).numpy()
    theirs = np.array([_skimage_ssim(g, r) for g, r in zip(gen, ref)])
    assert np.max(np.abs(ours - theirs)) <= 1e-6
    assert 0.0 < theirs.min() < 0.99  # a real, non-trivial comparison


def test_ssim_y_variant_matches_skimage_on_luma():
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(1)
    gen, ref = _pair(rng, t=2)
    m = build_metric("ssim[y-255]")
    score = m.update(SampleData("a", gen=_clip(gen), ref=_clip(ref)))
    w = np.array([65.481, 128.553, 24.966]) / 255.0
    ys = [(g.astype(np.float64) @ w + 16.0, r.astype(np.float64) @ w + 16.0) for g, r in zip(gen, ref)]
    expected = np.mean([structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
                                              use_sample_covariance=False, data_range=255)
                        for a, b in ys])
    assert abs(score.values["ssim"] - expected) <= 1e-6


def test_ssim_metric_video_mean_and_set_aggregate():
    rng = np.random.default_rng(2)
    m = build_metric("ssim")
    assert m.key == "ssim[rgb-255]"
    expected = []
    for i in range(3):
        gen, ref = _pair(rng, t=5)
        # chunks of 16 frames must not change the per-video mean: use a length past one chunk
        gen = np.concatenate([gen] * 4)
        ref = np.concatenate([ref] * 4)
        v = m.update(SampleData(str(i), gen=_clip(gen), ref=_clip(ref))).values["ssim"]
        e = np.mean([_skimage_ssim(g, r) for g, r in zip(gen, ref)])
        assert abs(v - e) <= 1e-6
        expected.append(e)
    agg = m.compute()["ssim"]
    assert agg.n == 3 and abs(agg.value - np.mean(expected)) <= 1e-6


def test_ssim_float_input_in_unit_range_equals_uint8():
    rng = np.random.default_rng(3)
    gen, ref = _pair(rng, t=2)
    a = build_metric("ssim").update(SampleData("a", gen=_clip(gen), ref=_clip(ref))).values["ssim"]
    b = build_metric("ssim").update(SampleData("a", gen=_clip(gen / 255.0), ref=_clip(ref / 255.0))).values["ssim"]
    assert abs(a - b) <= 1e-9


def test_ssim_all_zeros_vs_all_ones_published_value():
    # common_metrics_on_video_quality README: all-zero vs all-one videos -> 9.999000099990664e-05
    zeros = np.zeros((3, 64, 64, 3), np.float32)
    ones = np.ones((3, 64, 64, 3), np.float32)
    v = build_metric("ssim").update(SampleData("z", gen=_clip(zeros), ref=_clip(ones))).values["ssim"]
    assert abs(v - 9.999000099990664e-05) <= 1e-12


def test_ssim_identical_is_one():
    rng = np.random.default_rng(4)
    _, ref = _pair(rng)
    v = build_metric("ssim").update(SampleData("a", gen=_clip(ref), ref=_clip(ref.copy()))).values["ssim"]
    assert abs(v - 1.0) < 1e-12


def test_ssim_rejects_mismatched_frames_and_sizes():
    rng = np.random.default_rng(5)
    gen, ref = _pair(rng, t=4)
    m = build_metric("ssim")
    with pytest.raises(SampleError, match="frame counts differ: gen has 3 frames, ref has 4"):
        m.update(SampleData("a", gen=_clip(gen[:3]), ref=_clip(ref)))
    with pytest.raises(SampleError, match="frame sizes differ"):
        m.update(SampleData("a", gen=_clip(gen[:, :32]), ref=_clip(ref)))
    with pytest.raises(SampleError, match="at least 11x11"):
        m.update(SampleData("a", gen=_clip(gen[:, :8, :8]), ref=_clip(ref[:, :8, :8])))
    assert m.compute()["ssim"].n == 0
