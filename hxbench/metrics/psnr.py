"""PSNR: peak signal-to-noise ratio, per frame, averaged per video.

Definition: for each frame, MSE over all pixels (and all channels for ``rgb-255``) in float64,
PSNR = 10 log10(255^2 / MSE) dB, data range 255 on uint8 frames (identical to data range 1.0
on floats in [0, 1]). A frame with MSE below 1e-10 on the [0, 1] scale (i.e. identical
frames) scores 100 dB, the convention of common_metrics_on_video_quality (scikit-image would
return inf, which cannot be averaged). The per-video value is the mean of per-frame PSNRs (not
the PSNR of the mean MSE), as common_metrics_on_video_quality and BasicSR compute it.

Reference matched: ``skimage.metrics.peak_signal_noise_ratio(x, y, data_range=255)`` per
frame (tested to 1e-6) and common_metrics_on_video_quality ``calculate_psnr`` (all-zeros vs
all-ones videos -> 0.0 dB).

Variants:
- ``rgb-255`` (default): MSE over the three RGB channels;
- ``y-255``: MSE of the BT.601 luma Y = 16 + (65.481 R + 128.553 G + 24.966 B)/255, not
  rounded (MATLAB ``rgb2ycbcr`` / BasicSR ``calculate_psnr(test_y_channel=True)``).

Inputs: gen and ref clips, (T, H, W, 3) uint8, same T and H x W (else ``SampleError``).
Output: ``psnr`` in dB, in [0, 100] for uint8 inputs (higher is better).
"""

from __future__ import annotations

import math

import numpy as np

from hxbench.io.budget import memory_budget
from hxbench.metrics._frames import iter_paired_chunks, luma
from hxbench.metrics.base import HIGHER, PerSampleMetric, SampleData, register_metric

MAX_PSNR = 100.0
MSE_FLOOR_01 = 1e-10  # on the [0, 1] scale, as common_metrics_on_video_quality


def psnr_frame(x: np.ndarray, y: np.ndarray, channel: str = "rgb") -> float:
    """PSNR (dB) of two (H, W, 3) uint8 frames. The RGB MSE is an exact integer sum (what
    scikit-image's float64 mean gives too, every partial sum being an integer below 2^53)."""
    if channel == "y":
        d = luma(x) - luma(y)
        mse = float(np.mean(d * d))
    elif channel == "rgb":
        d = x.astype(np.int32) - y.astype(np.int32)
        mse = int(np.einsum("ijk,ijk->", d, d, dtype=np.int64)) / d.size
    else:
        raise ValueError(f"channel must be 'rgb' or 'y', got {channel!r}")
    if mse / 255.0 ** 2 < MSE_FLOOR_01:
        return MAX_PSNR
    return 10.0 * math.log10(255.0 ** 2 / mse)


@register_metric
class PSNR(PerSampleMetric):
    name = "psnr"
    version = "1"
    variants = ("rgb-255", "y-255")
    outputs = {"psnr": HIGHER}
    requires = ("gen", "ref")
    description = "Peak signal-to-noise ratio (dB), data range 255, per-frame mean per video"

    batch_frames = 32

    def score_sample(self, sample: SampleData) -> dict[str, float]:
        channel = self.variant.split("-")[0]
        per_frame: list[float] = []
        # uint8 chunks of 1/16 of the budget (decoder and pairing buffers hold ~8 such chunks);
        # each frame is then compared alone
        for g, r in iter_paired_chunks(sample, self.key, self.batch_frames, memory_budget() // 16):
            per_frame += [psnr_frame(gf, rf, channel) for gf, rf in zip(g, r)]
        return {"psnr": math.fsum(per_frame) / len(per_frame)}  # exact sum: any chunking, same value
