"""VBench's ``aesthetic_quality`` and ``imaging_quality`` protocols (Huang et al. 2024,
github.com/Vchitect/VBench ``vbench/aesthetic_quality.py``, ``vbench/imaging_quality.py``,
``vbench/utils.py``), independent of the networks that run them.

Both read **every frame** of a video (VBench's ``load_video`` without ``num_frames``), as
float32 RGB in 0..255 (``torch.Tensor`` of the uint8 frames), shaped (T, 3, H, W), and score a
video by the mean of its frame scores:

- ``ase[laion-vbench]`` (aesthetic_quality): ``clip_transform(224)`` = torchvision
  ``Resize(224, BICUBIC, antialias=False)`` (shorter side to 224, the longer
  int(224 * long / short); no clamping of the float frames), ``CenterCrop(224)``, / 255,
  ``Normalize`` with CLIP's mean (0.48145466, 0.4578275, 0.40821073) and std (0.26862954,
  0.26130258, 0.27577711); CLIP ViT-L/14 ``encode_image``, cast to float32, L2-normalised,
  the LAION linear head; the frame score is head / 10 (about 0.1-1: the head's 1-10 scale,
  higher is better, unbounded in principle), frames in batches of 32 as VBench.
- ``iqa[musiq-spaq-vbench]`` (imaging_quality, VBench's default ``preprocess_mode='longer'``):
  a frame whose longer side exceeds 512 is resized with torchvision ``Resize((int(s * h),
  int(s * w)), antialias=False)`` (bilinear), s = 512 / max(h, w); then / 255; MUSIQ-SPAQ
  (pyiqa) per frame; the video score is the mean MOS / 100 (MOS 0-100, so 0-1, higher is
  better). VBench divides the mean over videos by 100; the mean of per-video means / 100 is the
  same number.

hxbench adds a minimum frame size (VBench has none): frames under 32x32 pixels (one MUSIQ patch;
for CLIP a 7x or larger upscale to 224) fail the sample with the size.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from hxbench.errors import SampleError
from hxbench.metrics._sampling import FrameSampler
from hxbench.metrics.stream import SampleStream

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CLIP_SIZE = 224
LAION_BATCH = 32
MUSIQ_LONGER = 512
MIN_SIDE = 32


def clip_transform(frames: torch.Tensor, n_px: int = CLIP_SIZE) -> torch.Tensor:
    """VBench's ``clip_transform(n_px)`` on (T, 3, H, W) float32 frames in 0..255."""
    from torchvision import transforms as T

    x = T.Resize(n_px, interpolation=T.InterpolationMode.BICUBIC, antialias=False)(frames)
    x = T.CenterCrop(n_px)(x)
    return T.Normalize(CLIP_MEAN, CLIP_STD)(x.float().div(255.0))


def musiq_transform(frames: torch.Tensor, longer: int = MUSIQ_LONGER) -> torch.Tensor:
    """VBench's imaging_quality ``transform(images, 'longer')`` on (T, 3, H, W) float32 frames in
    0..255: the longer side brought to ``longer`` when above it (bilinear, no antialias), / 255."""
    from torchvision import transforms as T

    _, _, h, w = frames.shape
    if max(h, w) > longer:
        s = longer / max(h, w)
        frames = T.Resize(size=(int(s * h), int(s * w)), antialias=False)(frames)
    return frames / 255.0


def as_float_frames(frames: np.ndarray) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (T, 3, H, W) float32 in 0..255, as VBench's ``load_video``."""
    return torch.from_numpy(np.ascontiguousarray(frames)).float().permute(0, 3, 1, 2)


class VBenchStream(SampleStream):
    """Every frame of the generated clip scored as it arrives; the mean of the frame scores,
    divided by ``divisor`` (10 for LAION, 100 for MUSIQ). ``score_batch`` maps (n, 3, H, W)
    float32 0..255 frames of one size to n raw scores."""

    def __init__(self, output: str, score_batch, divisor: float, batch: int, source: str, where: str) -> None:
        self.output, self.score_batch, self.divisor, self.batch = output, score_batch, divisor, batch
        self.sampler = FrameSampler("all", None, source, where)
        self.where = where
        self.pending: list[np.ndarray] = []
        self.scores: list[float] = []

    def feed(self, gen: np.ndarray | None, ref: np.ndarray | None) -> None:
        for t, frame in self.sampler.feed(gen):
            h, w = frame.shape[:2]
            if h < MIN_SIDE or w < MIN_SIDE:
                raise SampleError(f"{self.where}frame {t}: needs frames of at least {MIN_SIDE}x{MIN_SIDE} "
                                  f"pixels, got {w}x{h}")
            self.pending.append(frame)
            if len(self.pending) >= self.batch:
                self._flush()

    def _flush(self) -> None:
        if self.pending:
            out = self.score_batch(as_float_frames(np.stack(self.pending)))
            self.scores.extend(float(v) for v in out.double().cpu().reshape(-1))
            self.pending.clear()

    def finish(self) -> dict[str, float]:
        self.sampler.finish()
        self._flush()
        value = math.fsum(self.scores) / len(self.scores) / self.divisor
        return {self.output: value}


def laion_scorer(visual, head, device: str):
    """Raw LAION scores (1-10 scale) of a batch: ``clip_transform``, CLIP, normalise, head."""
    from hxbench.nets.clip_vit import aesthetic_scores

    def score(frames: torch.Tensor) -> torch.Tensor:
        return aesthetic_scores(visual, head, clip_transform(frames).to(device))

    return score


def musiq_scorer(model, device: str):
    """Raw MUSIQ MOS (0-100) of each frame of a batch, one frame per forward pass as VBench."""

    def score(frames: torch.Tensor) -> torch.Tensor:
        x = musiq_transform(frames)
        with torch.inference_mode():
            return torch.stack([model(x[i:i + 1].to(device)).reshape(()) for i in range(len(x))])

    return score


def describe(variant: str) -> str:
    if variant == "laion-vbench":
        return ("VBench aesthetic_quality: LAION aesthetic head on L2-normalised CLIP ViT-L/14 embeddings / 10 "
                "(about 0.1-1, the head's 1-10 scale / 10), every frame, mean per video; higher is better")
    return ("VBench imaging_quality: MUSIQ-SPAQ MOS / 100 (0-1), longer side to 512 when above, every frame, "
            "mean per video; higher is better")
