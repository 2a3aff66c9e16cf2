"""Sync-C/D speed: the syncnet-python pipeline vs hxbench, same videos, same weights, one run.

    .venv/bin/python bench/bench_sync.py [--videos 2] [--seconds 4] [--protocol whole|tracks]

Both sides get the same randomly initialised (seeded) SyncNet weights and the same synthetic
talking-head videos (H.264 + AAC, 25 fps). Each side runs in its own subprocess so that its
wall time and peak RSS (ru_maxrss, including ffmpeg children for the package) are its own.

- ``whole``: demo_syncnet / Wav2Lip flow. Package: ``ffmpeg`` extracts JPEG frames and a
  16 kHz WAV into a temp folder (subprocess), then ``SyncNetInstance.evaluate`` (batch 20).
  hxbench: ``sync[demo-syncnet]`` (decode in memory, sequence-chunked lip CNN, batched audio
  CNN, vectorised offsets).
- ``tracks``: MoChaBench flow. Package: ``SyncNetPipeline.inference`` (ffmpeg AVI conversion,
  JPEG frames, scene detection, tracking, XVID crops, ffmpeg slicing, JPEG re-extraction,
  evaluate). hxbench: ``sync[mochabench]``. The S3FD weights are not available offline, so both
  sides get the same stand-in detector (one fixed box per frame): the detector's own cost,
  which hxbench batches, is not part of this comparison.

The numbers differ slightly between the sides because the package's pipeline re-encodes the
frames (JPEG, and for tracks MPEG-4/XVID) before SyncNet sees them; on identical pixels the two
computations agree to 1e-4 (tests/test_sync.py). The printed max |difference| shows how much
that lossy round trip moves Sync-C/D on these videos.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BOX = [60.0, 40.0, 196.0, 216.0]


def make_inputs(out: Path, n_videos: int, seconds: float, size: int) -> list[Path]:
    import torch

    from hxbench.media import write_video

    sys.path.insert(0, str(ROOT / "tests"))
    from test_sync import random_state, talking  # the tests' synthetic talking face

    torch.save(random_state(0), out / "syncnet_random.model")
    paths = []
    for i in range(n_videos):
        frames, pcm = talking(n_frames=int(seconds * 25), size=size, seed=i)
        paths.append(write_video(out / f"v{i}.mp4", frames, fps=25, audio=pcm / 32768.0))
    return paths


class FixedBoxS3FD:
    """Stand-in for the package's S3FD object (same box every frame)."""

    def detect_faces(self, image, conf_th=0.9, scales=(0.25,)):
        return np.array([BOX + [0.99]])


def run_package(paths: list[Path], weights: Path, protocol: str) -> list[dict]:
    import torch

    from hxbench.metrics.sync import package_module

    state = torch.load(str(weights), map_location="cpu", weights_only=True)
    results = []
    if protocol == "whole":
        inst_mod = package_module("SyncNetInstance")
        net = package_module("SyncNetModel").S()
        net.load_state_dict(state)
        inst = inst_mod.SyncNetInstance(net=net, device="cpu")
        for p in paths:
            tmp = Path(tempfile.mkdtemp())
            try:  # demo_syncnet / SyncNetInstance.evaluate(opt, videofile) conversion steps
                subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(p), "-threads", "1",
                                "-f", "image2", str(tmp / "%06d.jpg")], check=True)
                subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(p), "-async", "1",
                                "-ac", "1", "-vn", "-acodec", "pcm_s16le", "-ar", "16000",
                                str(tmp / "audio.wav")], check=True)
                opt = types.SimpleNamespace(tmp_dir=str(tmp), batch_size=20, vshift=15)
                off, conf, dist = inst.evaluate(opt)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            results.append({"sync_c": float(conf), "sync_d": float(dist), "offset": float(off)})
        return results
    mod = package_module("syncnet_pipeline")
    net = package_module("SyncNetModel").S()
    net.load_state_dict(state)
    pipe = mod.SyncNetPipeline.__new__(mod.SyncNetPipeline)
    pipe.cfg = mod.PipelineConfig()
    pipe.device = "cpu"
    pipe.s3fd = FixedBoxS3FD()
    pipe.syncnet = mod.SyncNetInstance(net=net.eval(), device="cpu")
    for p in paths:
        offsets, confs, dists, *_ = pipe.inference(str(p), None)
        best = int(np.argmax(confs))
        results.append({"sync_c": float(max(confs)), "sync_d": float(min(dists)),
                        "offset": float(offsets[best])})
    return results


def run_hxbench(paths: list[Path], weights: Path, protocol: str) -> list[dict]:
    import torch

    from hxbench.media import clip_from_video
    from hxbench.metrics.base import SampleData
    from hxbench.metrics.sync import SyncNetSync, syncnet_model

    state = torch.load(str(weights), map_location="cpu", weights_only=True)
    metric = SyncNetSync("demo-syncnet" if protocol == "whole" else "mochabench")
    metric._net = syncnet_model(state)
    metric._detector = lambda frames: [[{"frame": i, "bbox": list(BOX), "conf": 0.99}]
                                       for i in range(len(frames))]
    metric.check_available = lambda: None  # weights are injected
    return [metric.score_sample(SampleData(p.stem, gen=clip_from_video(p))) for p in paths]


def side_main(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    paths = [Path(p) for p in args.paths]
    t0 = time.perf_counter()
    fn = run_package if args.side == "package" else run_hxbench
    results = fn(paths, Path(args.weights), args.protocol)
    wall = time.perf_counter() - t0
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": max(me.ru_maxrss, kids.ru_maxrss) / 1024,
                      "results": results}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--protocol", choices=("whole", "tracks", "both"), default="both")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--side", choices=("package", "hxbench"), help=argparse.SUPPRESS)
    ap.add_argument("--weights", help=argparse.SUPPRESS)
    ap.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        side_main(args)
        return
    if shutil.which("ffmpeg") is None:
        sys.exit("bench_sync: the syncnet-python pipeline needs the ffmpeg binary (apt-get install ffmpeg)")
    protocols = ("whole", "tracks") if args.protocol == "both" else (args.protocol,)
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        for protocol in protocols:
            sub = tmp / protocol
            sub.mkdir()
            paths = make_inputs(sub, args.videos, args.seconds, 224 if protocol == "whole" else 256)
            out = {}
            for side in ("package", "hxbench"):
                cmd = [sys.executable, __file__, "--side", side, "--protocol", protocol,
                       "--threads", str(args.threads), "--weights", str(sub / "syncnet_random.model"),
                       *map(str, paths)]
                proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
                if proc.returncode != 0:
                    sys.exit(f"{side} side failed:\n{proc.stderr[-3000:]}")
                out[side] = json.loads(proc.stdout.strip().splitlines()[-1])
            pk, hx = out["package"], out["hxbench"]
            diffs = {k: max(abs(a[k] - b[k]) for a, b in zip(pk["results"], hx["results"]))
                     for k in ("sync_c", "sync_d", "offset")}
            print(f"[{protocol}] {args.videos} videos x {args.seconds:g} s, {args.threads} threads")
            for name, r in (("syncnet-python", pk), ("hxbench", hx)):
                print(f"  {name:14s}: wall {r['wall_s']:7.2f} s  cpu {r['cpu_s']:7.2f} s  "
                      f"peak RSS {r['peak_rss_mb']:7.1f} MB")
            print(f"  speed ratio   : wall {pk['wall_s'] / hx['wall_s']:.2f}x  cpu "
                  f"{pk['cpu_s'] / hx['cpu_s']:.2f}x   max |diff| "
                  + ", ".join(f"{k} {v:.4g}" for k, v in diffs.items()))


if __name__ == "__main__":
    main()
