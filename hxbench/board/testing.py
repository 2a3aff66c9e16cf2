"""Tiny synthetic submissions for tests and the regression-check recipe.

``make_task_data(root, n)`` writes ``n`` short reference videos (32x32, 10 frames, 25 fps;
smooth moving gradients) and a manifest; ``make_outputs(manifest, out, noise, seed)`` writes
one output per sample: the reference plus Gaussian pixel noise of std ``noise`` (0 = an
exact copy up to H.264), a "checkpoint" whose quality degrades as ``noise`` grows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hxbench.io import media
from hxbench.io.manifest import Expected, Manifest, Sample, write_manifest

SIZE, FRAMES, FPS = 32, 10, 25.0


def _clip(i: int) -> np.ndarray:
    y, x = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    t = np.arange(FRAMES, dtype=np.float32)[:, None, None]
    phase = 0.7 * i
    r = 128 + 90 * np.sin((x + 2 * t) / 6.0 + phase)
    g = 128 + 90 * np.cos((y - t) / 5.0 + phase)
    b = 128 + 60 * np.sin((x + y + 3 * t) / 9.0 - phase)
    return np.clip(np.stack([r, g, b], axis=-1), 0, 255).astype(np.uint8)


def make_task_data(root: str | Path, n: int = 6) -> Manifest:
    root = Path(root)
    samples = []
    for i in range(n):
        sid = f"s{i:02d}"
        media.write_video(root / "videos" / f"{sid}.mp4", _clip(i), FPS, crf=0)
        samples.append(Sample(sample_id=sid, reference_video=f"videos/{sid}.mp4",
                              expected=Expected(fps=FPS, width=SIZE, height=SIZE, duration=FRAMES / FPS)))
    return write_manifest(root / "manifest.jsonl", samples)


def make_outputs(manifest: Manifest, out: str | Path, noise: float = 0.0, seed: int = 0,
                 fps: float = FPS) -> Path:
    out = Path(out)
    rng = np.random.default_rng(seed)
    for i, s in enumerate(manifest.samples):
        clip = _clip(int(s.sample_id[1:])).astype(np.float32)
        if noise:
            clip = clip + rng.normal(0, noise, clip.shape)
        media.write_video(out / f"{s.sample_id}.mp4", np.clip(clip, 0, 255).astype(np.uint8), fps, crf=0)
    return out
