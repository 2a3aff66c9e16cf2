"""SSIM: structural similarity (Wang et al. 2004) with the reference settings, in torch.

Settings (fixed; they are what "SSIM" means in the papers hxbench reproduces):
Gaussian window 11x11, sigma 1.5 (truncate 3.5), K1 = 0.01, K2 = 0.03, population
covariance (no N/(N-1) correction), data range 255 on uint8 frames -- which is identical to
data range 1.0 on the same frames as floats in [0, 1] (SSIM is invariant to that rescaling).
The map is averaged over the "valid" region only (pixels whose window lies inside the image,
a 5-pixel border dropped), exactly as scikit-image crops it.

Reference matched: ``skimage.metrics.structural_similarity(x, y, gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=-1)`` (tested to 1e-6),
which equals the MATLAB ``ssim_index`` of Wang et al. and common_metrics_on_video_quality's
``calculate_ssim`` on [0, 1] frames.

Variants:
- ``rgb-255`` (default): SSIM of each RGB channel, averaged over the three channels;
- ``y-255``: SSIM of the BT.601 luma channel Y = 16 + (65.481 R + 128.553 G + 24.966 B)/255
  (as MATLAB ``rgb2ycbcr`` / BasicSR), the super-resolution convention.

Two implementations of the same arithmetic, both float64: on the CPU, ``ssim_planes`` filters
one frame's channel at a time with ``scipy.ndimage.correlate1d`` (the filter scikit-image calls),
so working memory is about 40 bytes per pixel of one frame whatever the video's length; on a
GPU, the torch ``ssim_frames`` filters a chunk of frames at once.

Inputs: ``SampleData.gen`` and ``.ref`` clips, frames (T, H, W, 3) uint8 (or float arrays in
[0, 1], converted by ``hxbench.io.media``), same T and same H x W (else ``SampleError``), H and W
at least 11. Output: ``ssim`` in [-1, 1] (1 = identical): per frame, averaged over the frames
of a video (the per-sample value), then averaged over videos (the set value, with stderr).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from hxbench.errors import SampleError
from hxbench.io.budget import frames_per_chunk
from hxbench.metrics._frames import PairedStream, luma, rgb_to_y, to_tensor
from hxbench.metrics.base import HIGHER, PerSampleMetric, SampleData, register_metric
from hxbench.metrics.base import AUDIO_PERTURBATIONS, DEGRADATIONS, INVARIANT, TEMPORAL, WORSE, expect_all

WIN_SIGMA = 1.5
WIN_TRUNCATE = 3.5
K1, K2 = 0.01, 0.03


def gaussian_kernel1d(sigma: float = WIN_SIGMA, truncate: float = WIN_TRUNCATE,
                      dtype: torch.dtype = torch.float64, device="cpu") -> torch.Tensor:
    """The 1-D Gaussian that scipy.ndimage.gaussian_filter uses (radius int(truncate*sigma+0.5))."""
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return (k / k.sum()).to(dtype=dtype, device=device)


def ssim_map(ux, uy, uxx, uyy, uxy, data_range: float = 255.0):
    """The SSIM map from the Gaussian-filtered x, y, x^2, y^2, xy (numpy arrays or tensors)."""
    vx = uxx - ux * ux
    vy = uyy - uy * uy
    vxy = uxy - ux * uy
    c1 = (K1 * data_range) ** 2
    c2 = (K2 * data_range) ** 2
    return ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))


def _filter_valid(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Separable 2-D filter of every channel of (B, C, H, W), 'valid' region only."""
    c = x.shape[1]
    n = k.numel()
    x = F.conv2d(x, k.view(1, 1, n, 1).expand(c, 1, n, 1), groups=c)
    return F.conv2d(x, k.view(1, 1, 1, n).expand(c, 1, 1, n), groups=c)


def ssim_per_channel(x: torch.Tensor, y: torch.Tensor, data_range: float = 255.0) -> torch.Tensor:
    """Mean SSIM of each image and channel: x, y (B, C, H, W) float -> (B, C).

    Use float64 for parity with scikit-image to 1e-6 (float32 loses ~1e-5 to cancellation in
    the variance terms on [0, 255] data).
    """
    if x.shape != y.shape:
        raise ValueError(f"shapes differ: {tuple(x.shape)} vs {tuple(y.shape)}")
    k = gaussian_kernel1d(dtype=x.dtype, device=x.device)
    if min(x.shape[-2:]) < k.numel():
        raise ValueError(f"SSIM needs frames of at least {k.numel()}x{k.numel()} pixels, got "
                         f"{x.shape[-1]}x{x.shape[-2]}")
    c = x.shape[1]
    stacked = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    mu = _filter_valid(stacked, k)
    return ssim_map(*mu.split(c, dim=1), data_range).mean(dim=(-2, -1))


def ssim_frames(x: torch.Tensor, y: torch.Tensor, channel: str = "rgb") -> torch.Tensor:
    """Per-frame SSIM of (B, 3, H, W) frames with values in [0, 255] -> (B,).

    ``channel``: "rgb" (mean over R, G, B) or "y" (BT.601 luma)."""
    if channel == "y":
        x, y = rgb_to_y(x), rgb_to_y(y)
    elif channel != "rgb":
        raise ValueError(f"channel must be 'rgb' or 'y', got {channel!r}")
    return ssim_per_channel(x, y, 255.0).mean(dim=1)


def ssim_planes(x: np.ndarray, y: np.ndarray, data_range: float = 255.0) -> float:
    """Mean SSIM over the valid region of two (H, W) float64 planes (scikit-image's arithmetic:
    Gaussian filtering by separable ``correlate1d``, population covariance)."""
    from scipy.ndimage import correlate1d

    k = gaussian_kernel1d().numpy()
    r = (k.size - 1) // 2
    if min(x.shape) < k.size:
        raise ValueError(f"SSIM needs frames of at least {k.size}x{k.size} pixels, got "
                         f"{x.shape[1]}x{x.shape[0]}")
    # each map filtered on its own as a 2-D array (rows, then columns), as scikit-image's
    # gaussian_filter does: ~25 % less CPU than one call on the (5, H, W) stack at 256 px (the
    # strided middle axis), same values
    maps = [correlate1d(correlate1d(m, k, axis=0), k, axis=1)[r:-r, r:-r] for m in (x, y, x * x, y * y, x * y)]
    return float(ssim_map(*maps, data_range).mean())


def ssim_frame(x: np.ndarray, y: np.ndarray, channel: str = "rgb") -> float:
    """SSIM of two (H, W, 3) uint8 frames: mean over R, G, B ("rgb") or of the luma ("y")."""
    if channel == "y":
        return ssim_planes(luma(x), luma(y))
    if channel != "rgb":
        raise ValueError(f"channel must be 'rgb' or 'y', got {channel!r}")
    xs = np.ascontiguousarray(x.transpose(2, 0, 1), dtype=np.float64)  # (3, H, W): contiguous planes
    ys = np.ascontiguousarray(y.transpose(2, 0, 1), dtype=np.float64)
    return sum(ssim_planes(xs[c], ys[c]) for c in range(3)) / 3


@register_metric
class SSIM(PerSampleMetric):
    name = "ssim"
    version = "1"
    variants = ("rgb-255", "y-255")
    outputs = {"ssim": HIGHER}
    requires = ("gen", "ref")
    # full reference (without ground truth: the clean video is the reference, clean scores 1)
    declared = (expect_all(DEGRADATIONS + TEMPORAL + ("reencode",), ("ssim",), WORSE, "pixels differ from the reference")
                + expect_all(AUDIO_PERTURBATIONS, ("ssim",), INVARIANT, "reads no audio")
                + expect_all(("identity",), ("ssim",), INVARIANT, "lossless rewrite"))
    description = ("Structural similarity, Gaussian 11x11 sigma 1.5, K1 0.01, K2 0.03, population "
                   "covariance; per-frame, averaged per video (parity: scikit-image)")

    gpu_bytes_per_input_byte = 400  # torch path: 15 float64 maps and their filtered copies

    def open_stream(self, sample: SampleData) -> "SSIMStream":
        return SSIMStream(self.key, sample.sample_id, self.variant.split("-")[0], self.device)


class SSIMStream(PairedStream):
    """Per-frame SSIM of each chunk of frame pairs (on the CPU one frame's channel at a time;
    on a GPU, as many frames per pass as the budget allows); the per-video mean at the end."""

    def __init__(self, key: str, sample_id: str, channel: str, device: str) -> None:
        super().__init__(key, sample_id)
        self.channel, self.device = channel, device
        self.per_frame: list[float] = []

    def pairs(self, gen: np.ndarray, ref: np.ndarray) -> None:
        try:
            if self.device == "cpu":
                self.per_frame += [ssim_frame(g, r, self.channel) for g, r in zip(gen, ref)]
                return
            step = frames_per_chunk(gen[0].nbytes, SSIM.gpu_bytes_per_input_byte)
            for i in range(0, len(gen), step):
                g = to_tensor(gen[i:i + step], self.device, torch.float64)
                r = to_tensor(ref[i:i + step], self.device, torch.float64)
                self.per_frame += ssim_frames(g, r, self.channel).tolist()
        except ValueError as err:
            raise SampleError(f"{self.key}: sample {self.sample_id!r}: {err}") from None

    def result(self) -> dict[str, float]:
        value = math.fsum(self.per_frame) / len(self.per_frame)  # exact sum: any chunking, same value
        if not math.isfinite(value):
            raise SampleError(f"{self.key}: sample {self.sample_id!r} gave a non-finite SSIM")
        return {"ssim": value}
