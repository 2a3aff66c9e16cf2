"""Helpers shared by the full-reference quality metrics (SSIM, PSNR, LPIPS, FID, FVD).

- ``iter_paired_chunks``: stream a sample's gen and ref clips in lockstep as uint8 chunks,
  checking that they have the same frame size and the same number of frames;
- ``to_tensor``: (T, H, W, 3) uint8 -> (T, 3, H, W) float tensor on a device;
- ``rgb_to_y``: ITU-R BT.601 luma as MATLAB ``rgb2ycbcr`` / BasicSR compute it.

Policy for mismatched pairs (SSIM, PSNR, LPIPS are full-reference, frame-by-frame): gen and
ref must have identical frame counts and frame sizes; anything else is a ``SampleError``
naming both shapes. Nothing is resized or trimmed silently (resizing changes the numbers;
resample or crop the inputs explicitly before scoring).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
import torch

from hxbench.errors import SampleError
from hxbench.io.media import chunk_frames


def _chunks(clip, chunk_size: int, max_bytes: int | None) -> Iterator[np.ndarray]:
    for chunk in clip.iter_chunks(chunk_size, max_bytes=max_bytes):
        chunk = np.asarray(chunk)
        if chunk.ndim == 3:
            chunk = chunk[None]
        if chunk.ndim != 4 or chunk.shape[-1] != 3:
            raise SampleError(f"{clip.source}: expected frames shaped (T, H, W, 3), got {chunk.shape}")
        yield chunk


def iter_paired_chunks(sample, key: str, chunk_size: int = 16,
                       max_bytes: int | None = None) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (gen, ref) uint8 chunks of equal length, each (t, H, W, 3), each side at most
    ``chunk_size`` frames and ``max_bytes`` bytes (but at least one frame).

    Raises SampleError if a clip is missing, the frame sizes differ or the frame counts differ
    (the count check happens when the shorter clip ends, so nothing is loaded whole).
    """
    if sample.gen is None or sample.ref is None:
        missing = [n for n in ("gen", "ref") if getattr(sample, n) is None]
        raise SampleError(f"{key} needs {' and '.join(missing)} for sample {sample.sample_id!r}")
    gi, ri = _chunks(sample.gen, chunk_size, max_bytes), _chunks(sample.ref, chunk_size, max_bytes)
    gbuf: list[np.ndarray] = []
    rbuf: list[np.ndarray] = []
    glen = rlen = 0
    n_gen = n_ref = 0
    g_done = r_done = False
    checked = False
    while True:
        while not g_done and glen < chunk_size:
            try:
                c = next(gi)
                if n_gen == 0:  # the budget in frames, now that the frame size is known
                    chunk_size = chunk_frames(chunk_size, c[0].nbytes, max_bytes)
                gbuf.append(c)
                glen += len(c)
                n_gen += len(c)
            except StopIteration:
                g_done = True
        while not r_done and rlen < chunk_size:
            try:
                c = next(ri)
                rbuf.append(c)
                rlen += len(c)
                n_ref += len(c)
            except StopIteration:
                r_done = True
        if not checked and gbuf and rbuf:
            if gbuf[0].shape[1:] != rbuf[0].shape[1:]:
                gh, gw = gbuf[0].shape[1:3]
                rh, rw = rbuf[0].shape[1:3]
                raise SampleError(
                    f"{key}: sample {sample.sample_id!r} frame sizes differ: gen {gw}x{gh} vs ref "
                    f"{rw}x{rh} (full-reference metrics compare frames pixel for pixel; resize "
                    "the generated videos to the reference resolution first)")
            checked = True
        n = min(glen, rlen, chunk_size)
        if n == 0:
            break
        g = np.concatenate(gbuf, axis=0)
        r = np.concatenate(rbuf, axis=0)
        if g.shape[1:] != r.shape[1:]:
            raise SampleError(f"{key}: sample {sample.sample_id!r} frame size changes mid-video "
                              f"(gen {g.shape[1:]}, ref {r.shape[1:]})")
        yield g[:n], r[:n]
        gbuf, rbuf = [g[n:]], [r[n:]]
        glen, rlen = glen - n, rlen - n
    if n_gen != n_ref or n_gen == 0:
        if n_gen == 0 or n_ref == 0:
            raise SampleError(f"{key}: sample {sample.sample_id!r} has no frames "
                              f"(gen {n_gen}, ref {n_ref})")
        raise SampleError(
            f"{key}: sample {sample.sample_id!r} frame counts differ: gen has {n_gen} frames, ref has "
            f"{n_ref} (full-reference metrics pair frame t with frame t; trim or resample to the "
            "same length and fps first)")


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


def stream_pairs(sample, key: str, device: str, dtype: torch.dtype = torch.float64,
                 chunk_size: int = 16, max_bytes: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``iter_paired_chunks`` converted with ``to_tensor`` (values in [0, 255])."""
    for g, r in iter_paired_chunks(sample, key, chunk_size, max_bytes):
        yield to_tensor(g, device, dtype), to_tensor(r, device, dtype)
