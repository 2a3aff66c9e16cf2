"""Side-by-side benchmark: hxbench LPIPS / FVD vs the common_metrics_on_video_quality way.

The "peer" side restates what common_metrics_on_video_quality does (its code is not a PyPI
package, so its loops are restated here, line for line in behaviour):

- FVD (``calculate_fvd`` with ``calculate_final``, only the final value, the cheapest way to
  call it): all videos in memory as one float32 tensor (B, T, C, H, W) in [0, 1] (how its
  README and demo build the input), permuted to BCTHW, ``get_fvd_feats`` with bs=10:
  ``preprocess_single`` (shorter side to 224, centre crop, [-1, 1]) per video of a batch,
  ``torch.stack``, I3D under ``torch.no_grad``, features gathered with ``np.vstack``; then
  ``np.cov`` and ``scipy.linalg.sqrtm`` as its ``frechet_distance``. Network: the peer loads
  StyleGAN-V's ``i3d_torchscript.pt`` (a Dropbox download, not reachable offline); here it
  runs hxbench's plain I3D port (``build_i3d(fast=False)``: TF SAME padding by ``F.pad``,
  separate BatchNorm, NCTHW layout, the structure of a direct port such as that
  TorchScript) with the same DeepMind weights. The hxbench side runs the same weights
  through ``optimize_for_inference`` (same function; see ``hxbench/nets/i3d.py``), so the
  ratio = pipeline gains (cross-sample batching, streaming) + network execution gains;
  ``--same-network`` adds a row where hxbench runs the plain port too (pipeline gains alone).
- LPIPS (``calculate_lpips``): videos as float32 in memory, x*2-1, ``lpips.LPIPS(net='alex',
  spatial=True)`` frame by frame (batch 1), ``.mean()`` of the spatial map. Same converted
  weights on both sides.

The hxbench side is what ``hxbench compute`` runs: ``inputs.from_paths`` on the .npy files
(memory-mapped, one video decoded at a time) and ``scoring.score`` (cross-sample batches of
``batch_samples``, float64 running sums).

Each (metric, side, number of videos) runs in a fresh subprocess after a warm-up (model
built, one small pass), so peak-RSS growth is not hidden by a previous run's heap; timings
are wall seconds and CPU seconds (process_time, all threads; fairer than wall when other
jobs share the cores). Memory flatness: hxbench's peak growth at 2N videos / at N.

    .venv/bin/python bench/bench_quality.py [--videos 4 8] [--frames 16] [--size 64]
        [--metrics lpips fvd] [--same-network] [--threads N] [--repeats K] [--device cpu]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
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


# -- peer: common_metrics_on_video_quality, restated --------------------------------------------
def _peer_videos(path: Path) -> torch.Tensor:
    """The user's input: every video in one float32 tensor (B, T, C, H, W) in [0, 1]."""
    return torch.from_numpy(np.load(path)).float().div(255).permute(0, 1, 4, 2, 3).contiguous()


def peer_lpips(gen: Path, ref: Path, device: str) -> float:
    from hxbench.metrics.lpips import get_lpips_model

    loss_fn = get_lpips_model("alex", device)
    loss_fn.spatial = True  # calculate_lpips: lpips.LPIPS(net='alex', spatial=True)
    try:
        videos1, videos2 = _peer_videos(gen) * 2 - 1, _peer_videos(ref) * 2 - 1  # trans()
        results = []
        for b in range(videos1.shape[0]):
            for t in range(videos1.shape[1]):
                img1 = videos1[b, t].unsqueeze(0).to(device)
                img2 = videos2[b, t].unsqueeze(0).to(device)
                results.append(loss_fn.forward(img1, img2).mean().detach().cpu().tolist())
        return float(np.mean(np.array(results)))
    finally:
        loss_fn.spatial = False


def _preprocess_single(video: torch.Tensor, resolution: int = 224) -> torch.Tensor:
    import math

    import torch.nn.functional as F

    c, t, h, w = video.shape  # CTHW in [0, 1]
    scale = resolution / min(h, w)
    size = (resolution, math.ceil(w * scale)) if h < w else (math.ceil(h * scale), resolution)
    video = F.interpolate(video, size=size, mode="bilinear", align_corners=False)
    c, t, h, w = video.shape
    w_start, h_start = (w - resolution) // 2, (h - resolution) // 2
    video = video[:, :, h_start:h_start + resolution, w_start:w_start + resolution]
    return ((video - 0.5) * 2).contiguous()


def peer_fvd(gen: Path, ref: Path, device: str) -> float:
    from scipy.linalg import sqrtm

    from hxbench.metrics.fvd import get_i3d

    i3d = get_i3d("fvd-i3d-kinetics400", device, fast=False)

    def get_feats(videos, bs=10):
        feats = np.empty((0, 400))
        with torch.no_grad():
            for i in range((len(videos) - 1) // bs + 1):
                x = torch.stack([_preprocess_single(v) for v in videos[i * bs:(i + 1) * bs]]).to(device)
                feats = np.vstack([feats, i3d(x).detach().cpu().numpy()])
        return feats

    videos1 = _peer_videos(gen).permute(0, 2, 1, 3, 4)  # trans(): BTCHW -> BCTHW
    videos2 = _peer_videos(ref).permute(0, 2, 1, 3, 4)
    f1, f2 = get_feats(videos1), get_feats(videos2)
    mu1, s1 = f1.mean(axis=0), np.cov(f1, rowvar=False)
    mu2, s2 = f2.mean(axis=0), np.cov(f2, rowvar=False)
    m = np.square(mu1 - mu2).sum()
    s, _ = sqrtm(np.dot(s1, s2), disp=False)
    return float(np.real(m + np.trace(s1 + s2 - s * 2)))


# -- hxbench: what `hxbench compute` runs -------------------------------------------------------
THREADS: int | None = None
KEYS = {"lpips": "lpips[alex-v0.1]", "fvd": "fvd[common-allf]"}


def hx_metric(metric: str, gen: Path, ref: Path, device: str, fast: bool = True) -> float:
    from hxbench.eval.inputs import from_paths
    from hxbench.metrics.base import build_metric
    from hxbench.eval.scoring import score

    m = build_metric(KEYS[metric], device=device)
    if metric == "fvd":
        m.fast_i3d = fast
    res = score(from_paths(gen, ref), [m.key], progress=False, metrics=[m])
    return res.metrics[m.key].outputs[metric].value


def child(metric: str, side: str, gen: Path, ref: Path, warm_gen: Path, warm_ref: Path, device: str) -> dict:
    if side == "peer":
        fn = {"lpips": peer_lpips, "fvd": peer_fvd}[metric]
    else:
        fast = side != "hxbench-plain-i3d"
        fn = lambda g, r, d: hx_metric(metric, g, r, d, fast=fast)  # noqa: E731
    fn(warm_gen, warm_ref, device)  # warm-up: model built, first-call allocations
    with PeakRSS() as mem:
        t0, c0 = time.perf_counter(), time.process_time()
        value = fn(gen, ref, device)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"value": value, "wall_s": wall, "cpu_s": cpu, "peak_mib": mem.growth_mib}


def run_child(metric, side, gen, ref, warm_gen, warm_ref, device) -> dict:
    cmd = [sys.executable, __file__, "--_child", metric, side, str(gen), str(ref), str(warm_gen),
           str(warm_ref), "--device", device] + (["--threads", str(THREADS)] if THREADS else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def make_videos(n: int, frames: int, size: int, seed: int):
    rng = np.random.default_rng(seed)
    ref = rng.integers(0, 256, (n, frames, size, size, 3), dtype=np.uint8)
    gen = np.clip(ref.astype(np.int16) + rng.integers(-40, 41, ref.shape, dtype=np.int16), 0, 255).astype(np.uint8)
    return gen, ref


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--videos", type=int, nargs="+", default=[4, 8])
    ap.add_argument("--frames", type=int, default=16)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--metrics", nargs="+", default=["lpips", "fvd"], choices=["lpips", "fvd"])
    ap.add_argument("--same-network", action="store_true",
                    help="FVD: also run hxbench with the plain I3D port the peer uses")
    ap.add_argument("--repeats", type=int, default=1,
                    help="run the sides alternately this many times; each keeps its fastest run")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch intra-op threads for both sides (default: torch's own choice)")
    ap.add_argument("--_child", nargs=6, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args._child:
        metric, side, *paths = args._child
        print(json.dumps(child(metric, side, *map(Path, paths), args.device)))
        return 0

    global THREADS
    THREADS = args.threads
    print(f"load average before: {os.getloadavg()}  cores: {os.cpu_count()}  torch threads: "
          f"{torch.get_num_threads()}  device: {args.device}  repeats: {args.repeats}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        wg, wr = make_videos(2, args.frames, args.size, 0)
        np.save(tmp / "warm_gen.npy", wg)
        np.save(tmp / "warm_ref.npy", wr)
        for n in args.videos:
            g, r = make_videos(n, args.frames, args.size, n)
            gp, rp = tmp / f"gen{n}.npy", tmp / f"ref{n}.npy"
            np.save(gp, g)
            np.save(rp, r)
            for metric in args.metrics:
                sides = ["peer", "hxbench"] + (["hxbench-plain-i3d"] if metric == "fvd" and args.same_network else [])
                # --repeats K: the sides alternate K times (peer, hxbench, peer, hxbench, ...) so
                # that load changes on a shared machine hit both; each side keeps its fastest
                # run (min CPU s, min wall s; the largest peak memory)
                runs = {s: [] for s in sides}
                for _ in range(args.repeats):
                    for s in sides:
                        runs[s].append(run_child(metric, s, gp, rp, tmp / "warm_gen.npy", tmp / "warm_ref.npy",
                                                 args.device))
                res = {s: {"value": r[0]["value"], "wall_s": min(x["wall_s"] for x in r),
                           "cpu_s": min(x["cpu_s"] for x in r), "peak_mib": max(x["peak_mib"] for x in r),
                           "cpu_s_all": [round(x["cpu_s"], 2) for x in r]} for s, r in runs.items()}
                for s in sides[1:]:
                    p, h = res["peer"], res[s]
                    rows.append({
                        "metric": metric, "hx_side": s, "videos": n, "frames": args.frames, "size": args.size,
                        "device": args.device, "peer_value": p["value"], "hxbench_value": h["value"],
                        "peer_wall_s": p["wall_s"], "hxbench_wall_s": h["wall_s"],
                        "peer_cpu_s": p["cpu_s"], "hxbench_cpu_s": h["cpu_s"],
                        "peer_cpu_s_runs": p["cpu_s_all"], "hxbench_cpu_s_runs": h["cpu_s_all"],
                        "throughput_ratio_wall": p["wall_s"] / h["wall_s"],
                        "throughput_ratio_cpu": p["cpu_s"] / h["cpu_s"],
                        "peer_peak_mib": p["peak_mib"], "hxbench_peak_mib": h["peak_mib"],
                        "memory_ratio": h["peak_mib"] / max(p["peak_mib"], 1e-9),
                        "load_avg_1m": os.getloadavg()[0],
                    })
                    print(json.dumps(rows[-1]), flush=True)
    print(f"\nload average after: {os.getloadavg()}")
    print(f"\n{'metric':6} {'hxbench side':17} {'videos':>6} {'speed x (cpu)':>13} {'speed x (wall)':>14} "
          f"{'peer cpu s':>10} {'hx cpu s':>9} {'peer MiB':>9} {'hx MiB':>8} {'mem ratio':>9}  values (peer / hxbench)")
    for r in rows:
        print(f"{r['metric']:6} {r['hx_side']:17} {r['videos']:6d} {r['throughput_ratio_cpu']:13.2f} "
              f"{r['throughput_ratio_wall']:14.2f} {r['peer_cpu_s']:10.1f} {r['hxbench_cpu_s']:9.1f} "
              f"{r['peer_peak_mib']:9.1f} {r['hxbench_peak_mib']:8.1f} {r['memory_ratio']:9.3f}  "
              f"{r['peer_value']:.6g} / {r['hxbench_value']:.6g}")
    # memory flatness: hxbench's peak growth as the number of videos grows
    for metric in args.metrics:
        for side in ("hxbench", "peer"):
            col = "hxbench_peak_mib" if side == "hxbench" else "peer_peak_mib"
            pts = sorted((r["videos"], r[col]) for r in rows if r["metric"] == metric and r["hx_side"] == "hxbench")
            if len(pts) >= 2:
                (n0, m0), (n1, m1) = pts[0], pts[-1]
                print(f"memory growth {metric:5} {side:8}: {m0:.1f} MiB at {n0} videos -> {m1:.1f} MiB at {n1} "
                      f"videos (x{m1 / max(m0, 1e-9):.2f} for x{n1 / n0:.1f} videos)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
