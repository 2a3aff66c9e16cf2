"""Frame sampling of the no-reference image metrics (``iqa``, ``ase``), streamed.

Two samplings, named in every variant:

- ``1fps``: Q-Align's ``load_video`` (``q_align/evaluate/scorer.py``): with ``fps`` the clip's
  (decoded) frame rate and ``n`` its frame count, frames ``int(fps * i)`` for
  ``i in range(int(n / fps))``, i.e. one frame at the start of every whole second. A clip
  shorter than one second (where that list is empty) is scored on its first frame; a clip
  with no frame rate (an image, an image folder, an array) has every frame scored.
- ``all``: every frame (VBench's aesthetic and imaging quality read every frame).

Frames arrive through ``clip.iter_chunks(max_bytes=...)``; at most the selected frames of one
second are held beyond the current chunk.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

from hxbench.errors import SampleError

SAMPLINGS = ("1fps", "all")


def sampled_indices(n_frames: int, fps: float) -> list[int]:
    """The frame indices ``1fps`` sampling picks from a clip of ``n_frames`` at ``fps``."""
    idx = [int(fps * i) for i in range(int(n_frames / fps))]
    return idx or [0]


class FrameSampler:
    """``sampling`` applied to a clip's frames as they arrive: ``feed(chunk)`` returns the
    (frame index, (H, W, 3) uint8 frame) pairs that chunk confirms, ``finish()`` those the
    clip's end confirms. At most the selected frames of one second are held."""

    def __init__(self, sampling: str, fps: float | None, source: str = "", where: str = "") -> None:
        if sampling not in SAMPLINGS:
            raise ValueError(f"unknown sampling {sampling!r}; choose one of {SAMPLINGS}")
        self.fps, self.source, self.where = fps, source, where
        self.every = sampling == "all" or not fps
        self.seen = 0
        self.k = 0  # next second whose frame is wanted
        self.pending: list[tuple[int, int, np.ndarray]] = []  # (second k, frame index, frame)
        self.first: np.ndarray | None = None

    def feed(self, chunk: np.ndarray) -> list[tuple[int, np.ndarray]]:
        chunk = np.asarray(chunk)
        if chunk.ndim == 3:
            chunk = chunk[None]
        if chunk.ndim != 4 or chunk.shape[-1] != 3:
            raise SampleError(f"{self.where}{self.source}: expected frames shaped (T, H, W, 3), got {chunk.shape}")
        out = []
        fps = self.fps
        for j, frame in enumerate(chunk):
            t = self.seen + j
            if self.every:
                out.append((t, frame))
                continue
            if t == 0:
                self.first = frame.copy()
            while int(fps * self.k) == t:
                self.pending.append((self.k, t, frame.copy()))
                self.k += 1
            # a pending frame of second k' is confirmed once the clip is known to last k' + 1 s
            while self.pending and self.pending[0][0] < int((t + 1) / fps):
                _, ti, f = self.pending.pop(0)
                out.append((ti, f))
        self.seen += len(chunk)
        return out

    def finish(self) -> list[tuple[int, np.ndarray]]:
        if self.seen == 0:
            raise SampleError(f"{self.where}{self.source}: the clip has no frames")
        if not self.every and int(self.seen / self.fps) == 0:  # shorter than one second: the first frame
            assert self.first is not None
            return [(0, self.first)]
        return []


def iter_sampled_frames(clip, sampling: str, max_bytes: int | None = None,
                        where: str = "") -> Iterator[tuple[int, np.ndarray]]:
    """Yield (frame index, (H, W, 3) uint8 frame) of ``clip`` under ``sampling``.

    Raises SampleError for a clip without frames or frames that are not (H, W, 3).
    """
    fps = getattr(clip, "target_fps", None) or getattr(clip, "fps", None)
    sampler = FrameSampler(sampling, fps, clip.source, where)
    for chunk in clip.iter_chunks(16, max_bytes=max_bytes):
        yield from sampler.feed(chunk)
    yield from sampler.finish()
