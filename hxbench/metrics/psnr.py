"""PSNR: peak signal-to-noise ratio, per frame, averaged per video, in torch.

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

import torch

from hxbench.io.budget import memory_budget
from hxbench.metrics._frames import rgb_to_y, stream_pairs
from hxbench.metrics.base import HIGHER, PerSampleMetric, SampleData, register_metric

MAX_PSNR = 100.0
MSE_FLOOR_01 = 1e-10  # on the [0, 1] scale, as common_metrics_on_video_quality


def psnr_frames(x: torch.Tensor, y: torch.Tensor, channel: str = "rgb") -> torch.Tensor:
    """Per-frame PSNR (dB) of (B, 3, H, W) frames with values in [0, 255] -> (B,) float64."""
    x = x.to(torch.float64)
    y = y.to(torch.float64)
    if channel == "y":
        x, y = rgb_to_y(x), rgb_to_y(y)
    elif channel != "rgb":
        raise ValueError(f"channel must be 'rgb' or 'y', got {channel!r}")
    mse = ((x - y) ** 2).flatten(1).mean(dim=1)
    psnr = 10.0 * torch.log10(255.0 ** 2 / mse.clamp_min(1e-300))
    return torch.where(mse / 255.0 ** 2 < MSE_FLOOR_01, torch.full_like(psnr, MAX_PSNR), psnr)


@register_metric
class PSNR(PerSampleMetric):
    name = "psnr"
    version = "1"
    variants = ("rgb-255", "y-255")
    outputs = {"psnr": HIGHER}
    requires = ("gen", "ref")
    description = "Peak signal-to-noise ratio (dB), data range 255, per-frame mean per video"

    batch_frames = 32
    bytes_per_input_byte = 40  # float64 copies of both sides and their difference

    def score_sample(self, sample: SampleData) -> dict[str, float]:
        channel = self.variant.split("-")[0]
        per_frame: list[float] = []
        max_bytes = memory_budget() // self.bytes_per_input_byte
        for g, r in stream_pairs(sample, self.key, self.device, torch.float64, self.batch_frames, max_bytes):
            per_frame += psnr_frames(g, r, channel).tolist()
        return {"psnr": math.fsum(per_frame) / len(per_frame)}  # exact sum: any chunking, same value
