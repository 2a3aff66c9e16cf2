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

from hxbench.metrics._frames import PairedStream, luma
from hxbench.metrics.base import HIGHER, PerSampleMetric, SampleData, register_metric
from hxbench.metrics.base import AUDIO_PERTURBATIONS, DEGRADATIONS, INVARIANT, TEMPORAL, WORSE, expect_all

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
    declared = (expect_all(DEGRADATIONS + TEMPORAL + ("reencode",), ("psnr",), WORSE, "pixels differ from the reference")
                + expect_all(AUDIO_PERTURBATIONS, ("psnr",), INVARIANT, "reads no audio"))
    description = "Peak signal-to-noise ratio (dB), data range 255, per-frame mean per video"

    def open_stream(self, sample: SampleData) -> "PSNRStream":
        return PSNRStream(self.key, sample.sample_id, self.variant.split("-")[0])


class PSNRStream(PairedStream):
    """Per-frame PSNR of each chunk of frame pairs; the per-video mean at the end."""

    def __init__(self, key: str, sample_id: str, channel: str) -> None:
        super().__init__(key, sample_id)
        self.channel = channel
        self.per_frame: list[float] = []

    def pairs(self, gen: np.ndarray, ref: np.ndarray) -> None:
        self.per_frame += [psnr_frame(g, r, self.channel) for g, r in zip(gen, ref)]

    def result(self) -> dict[str, float]:
        return {"psnr": math.fsum(self.per_frame) / len(self.per_frame)}  # exact sum: any chunking, same value
