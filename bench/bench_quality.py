"""Side-by-side benchmark: hxbench LPIPS / FVD vs the common_metrics_on_video_quality way.

The "peer" path reproduces what common_metrics_on_video_quality does (its code is not a
PyPI package, so its loops are restated here): all videos stacked in one float32 tensor in
memory, LPIPS frame by frame with the ``lpips`` package (batch 1), FVD with every video's
I3D features gathered before the statistics. The hxbench path streams: one video at a time
from a memory-mapped .npy, batched network passes, float64 running sums.

Both paths use the same networks and weights, so the values must agree (printed).

    .venv/bin/python bench/bench_quality.py [--videos 4 8] [--frames 16] [--size 64] [--device cpu]

Prints, per number of videos: throughput (videos/s) and peak RSS growth of each path, and
their ratios (hxbench / peer).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


class PeakRSS:
    """Samples this process's RSS every 5 ms; ``peak - start`` is the growth in MiB."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()

    @staticmethod
    def rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def __enter__(self):
        gc.collect()
        self.start = self.rss()
        self.peak = self.start
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.rss())
            time.sleep(0.005)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.rss())

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.start) / 2 ** 20


# -- peer: common_metrics_on_video_quality style -----------------------------------------------
def peer_lpips(v1: np.ndarray, v2: np.ndarray, device: str) -> float:
    from hxbench.metrics.lpips import get_lpips_model

    model = get_lpips_model("alex", device)
    # calculate_lpips: videos as one float tensor (B, T, C, H, W) in [0, 1], frame by frame, x*2-1
    videos1 = torch.from_numpy(v1).float().div(255).permute(0, 1, 4, 2, 3)
    videos2 = torch.from_numpy(v2).float().div(255).permute(0, 1, 4, 2, 3)
    results = []
    with torch.no_grad():
        for b in range(videos1.shape[0]):
            for t in range(videos1.shape[1]):
                img1 = videos1[b, t].unsqueeze(0).to(device) * 2 - 1
                img2 = videos2[b, t].unsqueeze(0).to(device) * 2 - 1
                results.append(model.forward(img1, img2).mean().item())
    return float(np.mean(results))


def peer_fvd(v1: np.ndarray, v2: np.ndarray, device: str) -> float:
    from scipy.linalg import sqrtm

    from hxbench.metrics.fvd import get_i3d, preprocess

    i3d = get_i3d("fvd-i3d-kinetics400", device)
    videos1 = torch.from_numpy(v1)
    videos2 = torch.from_numpy(v2)

    def feats(videos):
        x = torch.stack([preprocess(v, "common") for v in videos])  # every clip materialised
        out = []
        with torch.no_grad():
            for i in range(0, len(x), 10):
                out.append(i3d(x[i:i + 10].to(device)).cpu().numpy())
        return np.concatenate(out).astype(np.float64)

    f1, f2 = feats(videos1), feats(videos2)
    mu1, s1 = f1.mean(0), np.cov(f1, rowvar=False)
    mu2, s2 = f2.mean(0), np.cov(f2, rowvar=False)
    s, _ = sqrtm(s1 @ s2, disp=False)
    return float(np.real(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * s)))


# -- hxbench: streaming -------------------------------------------------------------------------
def hx_metric(key: str, gen_path: Path, ref_path: Path, device: str) -> float:
    from hxbench.media import open_inputs
    from hxbench.metrics.base import SampleData, build_metric

    gen, ref = open_inputs(gen_path), open_inputs(ref_path)
    m = build_metric(key, device=device)
    for sid in sorted(gen):
        m.update(SampleData(sid, gen=gen[sid], ref=ref[sid]))
    return next(iter(m.compute().values())).value


def run(n: int, frames: int, size: int, device: str, which: list[str]) -> list[dict]:
    rng = np.random.default_rng(n)
    v2 = rng.integers(0, 256, (n, frames, size, size, 3), dtype=np.uint8)
    v1 = np.clip(v2.astype(np.int16) + rng.integers(-40, 41, v2.shape, dtype=np.int16), 0, 255).astype(np.uint8)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        gp, rp = Path(tmp) / "gen.npy", Path(tmp) / "ref.npy"
        np.save(gp, v1)
        np.save(rp, v2)
        for metric in which:
            key = {"lpips": "lpips[alex-v0.1]", "fvd": "fvd[common-allf]"}[metric]
            peer_fn = {"lpips": peer_lpips, "fvd": peer_fvd}[metric]
            # warm both (model build, first-call allocations) on one video
            peer_fn(v1[:2], v2[:2], device)
            hx_metric(key, gp, rp, device)
            # peer: arrays loaded from disk like the hxbench path
            with PeakRSS() as pm:
                t0 = time.perf_counter()
                pv = peer_fn(np.load(gp), np.load(rp), device)
                t_peer = time.perf_counter() - t0
            with PeakRSS() as hm:
                t0 = time.perf_counter()
                hv = hx_metric(key, gp, rp, device)
                t_hx = time.perf_counter() - t0
            rows.append({
                "metric": metric, "videos": n, "frames": frames, "size": size, "device": device,
                "peer_value": pv, "hxbench_value": hv,
                "peer_videos_per_s": n / t_peer, "hxbench_videos_per_s": n / t_hx,
                "throughput_ratio": t_peer / t_hx,
                "peer_peak_mib": pm.growth_mib, "hxbench_peak_mib": hm.growth_mib,
                "memory_ratio": hm.growth_mib / max(pm.growth_mib, 1e-9),
            })
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videos", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--metrics", nargs="+", default=["lpips", "fvd"], choices=["lpips", "fvd"])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = ap.parse_args()
    rows = []
    for n in args.videos:
        rows += run(n, args.frames, args.size, args.device, args.metrics)
    print(f"\n{'metric':6} {'videos':>6} {'peer v/s':>9} {'hx v/s':>9} {'speed x':>8} "
          f"{'peer MiB':>9} {'hx MiB':>8} {'mem ratio':>9}  values (peer / hxbench)")
    for r in rows:
        print(f"{r['metric']:6} {r['videos']:6d} {r['peer_videos_per_s']:9.3f} {r['hxbench_videos_per_s']:9.3f} "
              f"{r['throughput_ratio']:8.2f} {r['peer_peak_mib']:9.1f} {r['hxbench_peak_mib']:8.1f} "
              f"{r['memory_ratio']:9.2f}  {r['peer_value']:.6g} / {r['hxbench_value']:.6g}")
    _ = resource  # noqa
    return 0


if __name__ == "__main__":
    sys.exit(main())
