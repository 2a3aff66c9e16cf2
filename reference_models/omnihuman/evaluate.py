"""Summarise hxbench runs of omnihuman-tiny and its ablations (+ a toy-only lip diagnostic).

    .venv/bin/python -m reference_models.omnihuman.evaluate --manifest M --runs NAME=RUN_DIR ...

prints a markdown table of every aggregate in each run's ``results.json`` and, for the toy
stand-in data only (``toydata.py``, whose mouth is a dark-red ellipse at a known place), the
**toy mouth-audio correlation**: Pearson r between the per-frame fraction of mouth-coloured
pixels in the lower-centre box and the driving audio's RMS envelope. It is a diagnostic of
this stand-in set, NOT a hxbench metric and not comparable with Sync-C.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def mouth_openness(frames: np.ndarray) -> np.ndarray:
    """uint8 (T, H, W, 3) toy faces -> (T,) fraction of mouth-coloured pixels in the box."""
    T, H, W, _ = frames.shape
    box = frames[:, int(0.52 * H):int(0.80 * H), int(0.30 * W):int(0.70 * W)].astype(np.float32)
    mouth = np.array([120, 30, 40], np.float32)
    d = np.linalg.norm(box - mouth, axis=-1)
    return (d < 60).mean(axis=(1, 2))


def toy_lip_corr(video_path: Path, audio_path: Path) -> float:
    from hxbench.io.media import read_audio, read_video
    from hxbench.io.speech import envelope

    frames = read_video(video_path)
    env = envelope(read_audio(audio_path), 16000, 25.0)
    n = min(len(frames), len(env))
    m, e = mouth_openness(frames[:n]), env[:n]
    if m.std() < 1e-9 or e.std() < 1e-9:
        return 0.0
    return float(np.corrcoef(m, e)[0, 1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--runs", nargs="+", required=True, help="NAME=RUN_DIR")
    ap.add_argument("--toy", action="store_true", help="add the toy mouth-audio correlation")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    from hxbench.eval.schema import RunResults
    from hxbench.io.manifest import load_manifest

    man = load_manifest(args.manifest)
    rows = {}
    for spec in args.runs:
        name, _, run = spec.partition("=")
        res = RunResults.load(run)
        row = {f"{k}": m.outputs[o].value for k, m in res.metrics.items() for o in m.outputs}
        if args.toy:
            vals = [toy_lip_corr(Path(run) / "outputs" / f"{s.sample_id}.mp4",
                                 man.resolve(s.driving_audio)) for s in man.samples]
            row["toy_mouth_audio_r"] = float(np.mean(vals))
        rows[name] = row
    if args.toy:
        gt = [toy_lip_corr(man.resolve(s.reference_video), man.resolve(s.driving_audio))
              for s in man.samples]
        rows["ground truth (toy)"] = {"toy_mouth_audio_r": float(np.mean(gt))}
    keys = sorted({k for r in rows.values() for k in r})
    print("| model | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(f"{r[k]:.4f}" if k in r else "-" for k in keys) + " |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
