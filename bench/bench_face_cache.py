"""Shared face / hand detection cache vs one detector run per metric: frames per second.

    .venv/bin/python bench/bench_face_cache.py [--frames 16] [--size 256] [--repeats 1]

One video (``--frames`` frames of ``--size`` x 2 ``--size`` px): a rendered talking face
(hx-synth: the astronaut photo with head motion and mouth / smile behaviour) beside a drawn
waving hand (``hxbench.face.synthetic_hand``), is scored by the four metrics of
issue 5 that need detectors: ``id_sim[facenet-512]`` and ``emo_sim[fer-7class]`` (face mesh)
and ``hkc[mediapipe]`` / ``hkv[mediapipe]`` (hands + pose). Two ways:

- ``shared``: the normal hxbench path: ``hxbench.face`` caches each detector's result per
  video content, so the face mesh runs once for id_sim and emo_sim (gen and ref are the same
  video here, as in a self-reconstruction test: once in total) and hands + pose run once for
  hkc and hkv;
- ``separate``: the cache is cleared before every metric, i.e. what running each metric's
  own detector costs (the peer: one detector pass per metric, as separate scripts do).

Reported: wall seconds, frames/second (video frames scored per second of wall time, all four
metrics), detector frames processed (from ``hxbench.face.cache_stats``) and the speed ratio.
The embedding / expression networks run in both modes; only the detection work differs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def make_video(frames: int, size: int) -> np.ndarray:
    import skimage.data

    from hxbench.synth.photos import _ASTRO_FACE, crop_face
    from hxbench.synth.renderer import BEHAVIOUR_DIM, B, render

    face = crop_face(skimage.data.astronaut(), _ASTRO_FACE, size)
    t = np.arange(frames)
    beh = np.zeros((frames, BEHAVIOUR_DIM), np.float32)
    beh[:, B["yaw"]] = 6 * np.sin(t / 5)
    beh[:, B["jaw_open"]] = 0.5 * (1 + np.sin(t / 2)) / 2
    beh[:, B["smile"]] = np.clip(np.sin(t / 7), 0, 1)
    faces = render(face, beh)
    from hxbench.face.synthetic_hand import draw_hand

    hand = np.stack([draw_hand(size, cx=size / 2 + 0.1 * size * np.sin(i / 3), cy=0.55 * size,
                               scale=0.6 * size / 256, angle=20 * np.sin(i / 3)) for i in t])
    return np.ascontiguousarray(np.concatenate([faces, hand], axis=2))  # face | waving hand


def run(video: np.ndarray, shared: bool) -> tuple[float, int, dict]:
    from hxbench.face import cache_stats, clear_cache
    from hxbench.io.media import Clip
    from hxbench.metrics.base import SampleData, build_metric

    clear_cache()
    before = cache_stats()["frames_processed"]
    sample = SampleData("bench", gen=Clip(source="gen", kind="array", _array=video),
                        ref=Clip(source="ref", kind="array", _array=video), ref_image=video[0])
    metrics = [build_metric(k) for k in ("id_sim", "emo_sim", "hkc", "hkv")]
    values = {}
    t0 = time.perf_counter()
    for m in metrics:
        if not shared:
            clear_cache()
        values[m.key] = m.update(sample).values
    wall = time.perf_counter() - t0
    return wall, cache_stats()["frames_processed"] - before, values


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()

    video = make_video(args.frames, args.size)
    # warm up: load every network once so that neither side pays the model loading
    run(video[:2], shared=True)
    results = {}
    for mode in ("separate", "shared"):
        walls, frames, values = [], 0, {}
        for _ in range(args.repeats):
            w, frames, values = run(video, shared=mode == "shared")
            walls.append(w)
        results[mode] = (min(walls), frames, values)
    T = len(video)
    print(f"{T} frames of {video.shape[2]}x{video.shape[1]}; metrics: id_sim, emo_sim, hkc, hkv "
          f"(best of {args.repeats})")
    for mode, (wall, frames, _) in results.items():
        print(f"  {mode:9s}: wall {wall:7.2f} s  {T / wall:6.2f} video frames/s  "
              f"detector frames processed {frames}")
    print(f"  speed ratio (separate / shared wall): {results['separate'][0] / results['shared'][0]:.2f}x")
    same = all(np.isclose(results['shared'][2][k][o], results['separate'][2][k][o])
               for k in results['shared'][2] for o in results['shared'][2][k])
    print(f"  identical values in both modes: {same}")


if __name__ == "__main__":
    main()
