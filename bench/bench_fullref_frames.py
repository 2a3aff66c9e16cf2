"""SSIM / PSNR / LPIPS per frame at real sizes: hxbench vs the package a user runs per frame.

The peer side is what a researcher writes with the reference packages: decode both videos
(PyAV), then per frame ``skimage.metrics.structural_similarity(gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=-1)``,
``skimage.metrics.peak_signal_noise_ratio(data_range=255)``, or ``lpips.LPIPS(net='alex')``
on the [-1, 1] frame pair (the lpips package's own weights; hxbench's converted weights are
identical, tests/test_lpips.py). The hxbench side is ``hxbench compute METRIC`` in-process
(``eval.scoring.score`` on the two files: decoding in budget-sized chunks included). Each
(metric, side) runs in its own process, one thread unless ``--threads``; wall and CPU seconds,
peak RSS (the process's high-water mark, networks and libraries included), and the values.

    .venv/bin/python bench/bench_fullref_frames.py --gen GEN.mp4 --ref REF.mp4 [--frames 25]
        [--metrics ssim psnr lpips] [--threads 1]

Make a 1080p pair from any video, e.g.
``ffmpeg -i in.mp4 -t 1 -vf scale=1920:1080 -r 25 gen.mp4`` and the same with
``-vf scale=1920:1080,eq=brightness=0.02`` for ``ref.mp4``.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _frames(path: str, n: int):
    import numpy as np

    from hxbench.io.media import iter_frames

    out = []
    for chunk in iter_frames(path, chunk_size=8):
        out.extend(chunk)
        if len(out) >= n:
            break
    return np.stack(out[:n])


def peer(metric: str, gen: str, ref: str, n: int) -> float:
    import numpy as np

    g, r = _frames(gen, n), _frames(ref, n)
    if metric == "ssim":
        from skimage.metrics import structural_similarity

        vals = [structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                      data_range=255, channel_axis=-1) for a, b in zip(g, r)]
    elif metric == "psnr":
        from skimage.metrics import peak_signal_noise_ratio

        vals = [peak_signal_noise_ratio(a, b, data_range=255) for a, b in zip(g, r)]
    else:
        import lpips
        import torch

        net = lpips.LPIPS(net="alex", verbose=False).eval()
        with torch.no_grad():
            vals = [float(net(torch.from_numpy(a).permute(2, 0, 1)[None].float() / 127.5 - 1,
                              torch.from_numpy(b).permute(2, 0, 1)[None].float() / 127.5 - 1))
                    for a, b in zip(g, r)]
    return float(np.mean(vals))


def ours(metric: str, gen: str, ref: str, n: int, tmp: Path) -> float:
    import numpy as np

    from hxbench.eval.inputs import from_paths
    from hxbench.eval.scoring import score

    np.save(tmp / "gen.npy", _frames(gen, n)[None])  # the same n frames as the peer
    np.save(tmp / "ref.npy", _frames(ref, n)[None])
    results = score(from_paths(tmp / "gen.npy", tmp / "ref.npy"), [metric], progress=False)
    return next(iter(results.metrics.values())).outputs[metric].value


def child(args: argparse.Namespace) -> None:
    import tempfile

    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), time.process_time()
        if args.side == "peer":
            value = peer(args.metric, args.gen, args.ref, args.frames)
        else:
            value = ours(args.metric, args.gen, args.ref, args.frames, Path(tmp))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(json.dumps({"value": value, "wall": wall, "cpu": cpu,
                      "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gen", required=True)
    ap.add_argument("--ref", required=True)
    ap.add_argument("--frames", type=int, default=25)
    ap.add_argument("--metrics", nargs="+", default=["ssim", "psnr", "lpips"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--side", help=argparse.SUPPRESS)
    ap.add_argument("--metric", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.side:
        return child(args)
    print(f"{'metric':6} {'side':8} {'value':>12} {'wall s':>8} {'CPU s':>8} {'peak MiB':>9}")
    for metric in args.metrics:
        rows = {}
        for side in ("peer", "hxbench"):
            cmd = [sys.executable, __file__, "--side", side, "--metric", metric, "--gen", args.gen,
                   "--ref", args.ref, "--frames", str(args.frames), "--threads", str(args.threads)]
            rows[side] = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            r = rows[side]
            print(f"{metric:6} {side:8} {r['value']:12.6f} {r['wall']:8.2f} {r['cpu']:8.2f} {r['peak_mib']:9.0f}")
        p, h = rows["peer"], rows["hxbench"]
        print(f"{metric:6} ratio    |diff| {abs(p['value'] - h['value']):.1e}  wall x{p['wall'] / h['wall']:.2f}"
              f"  CPU x{p['cpu'] / h['cpu']:.2f}  (peer / hxbench: above 1 = hxbench faster)")


if __name__ == "__main__":
    main()
