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


def iter_sampled_frames(clip, sampling: str, max_bytes: int | None = None,
                        where: str = "") -> Iterator[tuple[int, np.ndarray]]:
    """Yield (frame index, (H, W, 3) uint8 frame) of ``clip`` under ``sampling``.

    Raises SampleError for a clip without frames or frames that are not (H, W, 3).
    """
    if sampling not in SAMPLINGS:
        raise ValueError(f"unknown sampling {sampling!r}; choose one of {SAMPLINGS}")
    fps = getattr(clip, "target_fps", None) or getattr(clip, "fps", None)
    every = sampling == "all" or not fps
    seen = 0
    k = 0  # next second whose frame is wanted
    pending: list[tuple[int, int, np.ndarray]] = []  # (second k, frame index, frame)
    first: np.ndarray | None = None
    for chunk in clip.iter_chunks(16, max_bytes=max_bytes):
        chunk = np.asarray(chunk)
        if chunk.ndim == 3:
            chunk = chunk[None]
        if chunk.ndim != 4 or chunk.shape[-1] != 3:
            raise SampleError(f"{where}{clip.source}: expected frames shaped (T, H, W, 3), got {chunk.shape}")
        for j, frame in enumerate(chunk):
            t = seen + j
            if every:
                yield t, frame
                continue
            if t == 0:
                first = frame.copy()
            while int(fps * k) == t:
                pending.append((k, t, frame.copy()))
                k += 1
            # a pending frame of second k' is confirmed once the clip is known to last k' + 1 s
            while pending and pending[0][0] < int((t + 1) / fps):
                _, ti, f = pending.pop(0)
                yield ti, f
        seen += len(chunk)
    if seen == 0:
        raise SampleError(f"{where}{clip.source}: the clip has no frames")
    if not every and int(seen / fps) == 0:  # shorter than one second: the first frame
        assert first is not None
        yield 0, first
