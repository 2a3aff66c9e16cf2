"""Helpers shared by the full-reference quality metrics (SSIM, PSNR, LPIPS, FID, FVD).

- ``PairedStream``: the base of a full-reference metric's per-sample stream; it receives gen
  and ref chunks in lockstep (``hxbench.metrics.stream``), checks that the two clips have the
  same frame size and the same number of frames, and hands each chunk of frame pairs to
  ``pairs``;
- ``to_tensor``: (T, H, W, 3) uint8 -> (T, 3, H, W) float tensor on a device;
- ``rgb_to_y``: ITU-R BT.601 luma as MATLAB ``rgb2ycbcr`` / BasicSR compute it.

Policy for mismatched pairs (SSIM, PSNR, LPIPS are full-reference, frame-by-frame): gen and
ref must have identical frame counts and frame sizes; anything else is a ``SampleError``
naming both shapes. Nothing is resized or trimmed silently (resizing changes the numbers;
resample or crop the inputs explicitly before scoring).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from hxbench.errors import SampleError
from hxbench.metrics.base import SampleStream


class PairedStream(SampleStream):
    """A full-reference stream: subclasses implement ``pairs(gen, ref)`` (two (t, H, W, 3)
    uint8 chunks of equal shape) and ``result()`` (the per-sample values)."""

    sides = ("gen", "ref")

    def __init__(self, key: str, sample_id: str) -> None:
        self.key, self.sample_id = key, sample_id
        self.n_gen = self.n_ref = 0
        self.size: tuple | None = None

    def feed(self, gen: np.ndarray | None, ref: np.ndarray | None) -> None:
        self.n_gen += 0 if gen is None else len(gen)
        self.n_ref += 0 if ref is None else len(ref)
        if gen is None or ref is None:
            return  # one clip is longer: counted, reported by finish()
        for name, x in (("gen", gen), ("ref", ref)):
            if x.ndim != 4 or x.shape[-1] != 3:
                raise SampleError(f"{self.key}: sample {self.sample_id!r}: expected {name} frames shaped "
                                  f"(T, H, W, 3), got {x.shape}")
        if gen.shape[1:] != ref.shape[1:]:
            gh, gw = gen.shape[1:3]
            rh, rw = ref.shape[1:3]
            raise SampleError(
                f"{self.key}: sample {self.sample_id!r} frame sizes differ: gen {gw}x{gh} vs ref "
                f"{rw}x{rh} (full-reference metrics compare frames pixel for pixel; resize "
                "the generated videos to the reference resolution first)")
        if self.size is not None and gen.shape[1:] != self.size:
            raise SampleError(f"{self.key}: sample {self.sample_id!r} frame size changes mid-video "
                              f"({self.size} then {gen.shape[1:]})")
        self.size = gen.shape[1:]
        self.pairs(gen, ref)

    def finish(self) -> Any:
        if self.n_gen == 0 or self.n_ref == 0:
            raise SampleError(f"{self.key}: sample {self.sample_id!r} has no frames "
                              f"(gen {self.n_gen}, ref {self.n_ref})")
        if self.n_gen != self.n_ref:
            raise SampleError(
                f"{self.key}: sample {self.sample_id!r} frame counts differ: gen has {self.n_gen} "
                f"frames, ref has {self.n_ref} (full-reference metrics pair frame t with frame t; "
                "trim or resample to the same length and fps first)")
        return self.result()

    def pairs(self, gen: np.ndarray, ref: np.ndarray) -> None:
        raise NotImplementedError

    def result(self) -> Any:
        raise NotImplementedError


def to_tensor(frames: np.ndarray, device: str | torch.device = "cpu",
              dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """(T, H, W, 3) uint8 -> (T, 3, H, W) tensor of ``dtype`` with values in [0, 255]."""
    t = torch.from_numpy(np.ascontiguousarray(frames)).to(device)
    return t.permute(0, 3, 1, 2).to(dtype)


def rgb_to_y(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 255] -> (B, 1, H, W) luma Y in [16, 235] (BT.601, as MATLAB
    ``rgb2ycbcr`` and BasicSR ``rgb2ycbcr(y_only=True)``; not rounded)."""
    w = torch.tensor([65.481, 128.553, 24.966], dtype=x.dtype, device=x.device) / 255.0
    return (x * w.view(1, 3, 1, 1)).sum(dim=1, keepdim=True) + 16.0


def luma(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) float64 BT.601 luma, the numpy form of ``rgb_to_y``."""
    return frame.astype(np.float64) @ (np.array([65.481, 128.553, 24.966]) / 255.0) + 16.0
