"""PSNR: parity with scikit-image per frame, variants, published all-zeros/all-ones value."""

import numpy as np
import pytest

from hxbench.errors import SampleError
from hxbench.io.media import Clip
from hxbench.metrics.base import SampleData, build_metric


def _clip(arr):
    return Clip(source="x", kind="array", _array=arr)


def _pair(rng, t=3, h=24, w=20):
    ref = rng.integers(0, 256, (t, h, w, 3), dtype=np.uint8)
    gen = np.clip(ref.astype(int) + rng.integers(-30, 31, ref.shape), 0, 255).astype(np.uint8)
    return gen, ref


def test_psnr_matches_skimage_frame_mean():
    from skimage.metrics import peak_signal_noise_ratio

    rng = np.random.default_rng(0)
    gen, ref = _pair(rng, t=40)
    v = build_metric("psnr").update(SampleData("a", gen=_clip(gen), ref=_clip(ref))).values["psnr"]
    e = np.mean([peak_signal_noise_ratio(r, g, data_range=255) for g, r in zip(gen, ref)])
    assert abs(v - e) <= 1e-6
    assert 15 < v < 40


def test_psnr_y_variant():
    from skimage.metrics import peak_signal_noise_ratio

    rng = np.random.default_rng(1)
    gen, ref = _pair(rng)
    m = build_metric("psnr[y-255]")
    v = m.update(SampleData("a", gen=_clip(gen), ref=_clip(ref))).values["psnr"]
    w = np.array([65.481, 128.553, 24.966]) / 255.0
    e = np.mean([peak_signal_noise_ratio(r.astype(float) @ w + 16, g.astype(float) @ w + 16, data_range=255)
                 for g, r in zip(gen, ref)])
    assert abs(v - e) <= 1e-6


def test_psnr_published_zeros_ones_and_identical_cap():
    zeros = np.zeros((2, 16, 16, 3), np.float32)
    ones = np.ones((2, 16, 16, 3), np.float32)
    m = build_metric("psnr")
    # common_metrics_on_video_quality README: all-zeros vs all-ones -> 0.0
    assert m.update(SampleData("z", gen=_clip(zeros), ref=_clip(ones))).values["psnr"] == pytest.approx(0.0, abs=1e-12)
    # identical frames -> 100 dB (their convention), not inf
    assert m.update(SampleData("i", gen=_clip(ones), ref=_clip(ones))).values["psnr"] == 100.0
    agg = m.compute()["psnr"]
    assert agg.n == 2 and agg.value == pytest.approx(50.0)


def test_psnr_rejects_frame_count_mismatch():
    rng = np.random.default_rng(2)
    gen, ref = _pair(rng, t=3)
    with pytest.raises(SampleError, match="frame counts differ"):
        build_metric("psnr").update(SampleData("a", gen=_clip(gen), ref=_clip(ref[:2])))
