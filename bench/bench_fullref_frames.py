"""SSIM / PSNR / LPIPS per frame at real sizes: hxbench vs the package a user runs per frame.

The peer side is what a researcher writes with the reference packages: decode both videos
(PyAV), then per frame ``skimage.metrics.structural_similarity(gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=-1)``,
``skimage.metrics.peak_signal_noise_ratio(data_range=255)``, or ``lpips.LPIPS(net='alex')``
on the [-1, 1] frame pair (loaded with hxbench's converted weights, see ``_lpips_package_net``). The hxbench side is ``hxbench compute METRIC`` in-process
(``eval.scoring.score`` on the same frames saved as .npy, read in budget-sized chunks). Both
sides get the frames decoded before timing and warm up on one frame (imports, networks); then
``--frames`` frames are timed. Each (metric, side) runs in its own process, one thread unless
``--threads``: wall and CPU seconds, peak RSS (the process's high-water mark, networks, libraries
and the decoded frames included), and the values.

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


def peer(metric: str, g, r) -> float:
    import numpy as np

    if metric == "ssim":
        from skimage.metrics import structural_similarity

        vals = [structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                      data_range=255, channel_axis=-1) for a, b in zip(g, r)]
    elif metric == "psnr":
        from skimage.metrics import peak_signal_noise_ratio

        vals = [peak_signal_noise_ratio(a, b, data_range=255) for a, b in zip(g, r)]
    else:
        import torch

        net = _lpips_package_net()
        with torch.no_grad():
            vals = [float(net(torch.from_numpy(a).permute(2, 0, 1)[None].float() / 127.5 - 1,
                              torch.from_numpy(b).permute(2, 0, 1)[None].float() / 127.5 - 1))
                    for a, b in zip(g, r)]
    return float(np.mean(vals))


def _lpips_package_net():
    """The lpips package's module with the same converted weights hxbench uses (the package
    would download its AlexNet backbone from torchvision's servers; tests/test_lpips.py checks
    the weights are identical)."""
    import lpips

    from hxbench.nets.lpips_convert import NETS, convert_state_dict, load_flax_pickle
    from hxbench.weights import resolve

    net = lpips.LPIPS(pretrained=False, net="alex", pnet_rand=True, verbose=False)
    net.load_state_dict(convert_state_dict(load_flax_pickle(resolve(NETS["alex"][0])), "alex"), strict=False)
    return net.eval()


def ours(metric: str, gen_npy: Path, ref_npy: Path) -> float:
    from hxbench.eval.inputs import from_paths
    from hxbench.eval.scoring import score

    results = score(from_paths(gen_npy, ref_npy), [metric], progress=False)
    return next(iter(results.metrics.values())).outputs[metric].value


def child(args: argparse.Namespace) -> None:
    """Decode the frames, warm up on one frame (imports, networks), then time ``--frames``."""
    import tempfile

    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    g, r = _frames(args.gen, args.frames), _frames(args.ref, args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for name, frames in (("warm", 1), ("all", len(g))):
            files[name] = (Path(tmp) / f"g{name}.npy", Path(tmp) / f"r{name}.npy")
            np.save(files[name][0], g[None, :frames])
            np.save(files[name][1], r[None, :frames])
        run = ((lambda n: peer(args.metric, g[:n], r[:n])) if args.side == "peer"
               else (lambda n: ours(args.metric, *files["warm" if n == 1 else "all"])))
        run(1)
        t0, c0 = time.perf_counter(), time.process_time()
        value = run(len(g))
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
