"""Scoring at real sizes: peak memory, wall and CPU time, and where the time goes.

Two modes, each configuration in its own process (so peak RSS is that run's alone):

- ``--source VIDEO``: builds gen/ref pairs from one real video at every ``--sizes`` (short side
  512, 720, 1080; 16:9) and ``--seconds`` (looped to length, 25 fps, H.264 crf 20; ref = gen
  with brightness +0.02, audio copied), then scores each pair with ``--metrics``;
- ``--gen DIR [--ref DIR] [--audio DIR]``: scores a folder of real videos as ``hxbench
  compute`` pairs them (e.g. each video its own reference).

Each run reports peak RSS (``ru_maxrss``: torch, the networks and the libraries included), wall
and CPU seconds, and the split of the wall time: decoding (the one shared pass), the face mesh
(MediaPipe tracking, shared by the landmark metrics) and each metric's own work (its network
and arithmetic), plus a decode-only pass over the same videos for scale. A thread samples the
resident size every 0.5 s; ``rss_by_tenth`` is the largest sample in each tenth of the scoring
(whether memory levels off or keeps growing), ``peak_rise_mib_by_part`` the largest resident
size during each part's calls and the largest rise within one call (``bench/_instrument.py``: which part makes the peak), and ``env`` holds the allocator settings the run
had (``MALLOC_*``, ``GLIBC_TUNABLES``, ``HXBENCH_MEMORY_BUDGET``).

    .venv/bin/python bench/bench_real_sizes.py --source SadTalker/01.mp4 --sizes 512 720 1080 \\
        --seconds 5 60 --metrics ssim psnr lpips fid fvd av_sync --out bench/real_sizes.json
    .venv/bin/python bench/bench_real_sizes.py --gen example_results/SadTalker \\
        --ref example_results/SadTalker --metrics ssim psnr lpips fid fvd "id_sim[facenet-512]" av_sync
"""

from __future__ import annotations

import argparse
import json
import resource
import os
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._instrument import instrumented_metrics, peak_mib  # noqa: E402

DEFAULT_METRICS = ["ssim", "psnr", "lpips", "fid", "fvd[styleganv-16f-all]", "id_sim[facenet-512]",
                   "av_sync", "lmd"]


def make_pair(source: Path, short_side: int, seconds: float, folder: Path) -> tuple[Path, Path]:
    """A 16:9 gen/ref pair of ``seconds`` at 25 fps from ``source`` (cached in ``folder``)."""
    w = (short_side * 16 // 9 + 1) // 2 * 2
    gen = folder / f"gen_{short_side}p_{seconds:g}s.mp4"
    ref = folder / f"ref_{short_side}p_{seconds:g}s.mp4"
    if not gen.exists():
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(source), "-t", f"{seconds}",
                        "-vf", f"scale={w}:{short_side}", "-r", "25", "-c:v", "libx264", "-crf", "20",
                        "-pix_fmt", "yuv420p", "-c:a", "aac", str(gen)], check=True)
    if not ref.exists():
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(gen), "-vf", "eq=brightness=0.02",
                        "-c:v", "libx264", "-crf", "20", "-pix_fmt", "yuv420p", "-c:a", "copy", str(ref)], check=True)
    return gen, ref


class RssSampler(threading.Thread):
    """Resident size (from /proc/self/statm) every ``period`` seconds while scoring runs."""

    def __init__(self, period: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.period, self.samples, self.halt = period, [], threading.Event()
        self.page = os.sysconf("SC_PAGE_SIZE")

    def run(self) -> None:
        while not self.halt.wait(self.period):
            with open("/proc/self/statm") as f:
                self.samples.append(int(f.read().split()[1]) * self.page)

    def by_tenth(self) -> list[float]:
        """MiB: the largest sample in each tenth of the samples (fewer tenths on a short run)."""
        n = len(self.samples)
        if n == 0:
            return []
        edges = sorted({round(i * n / 10) for i in range(11)})
        return [round(max(self.samples[a:b]) / 2**20, 1) for a, b in zip(edges, edges[1:]) if b > a]


def run_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items()
            if k.startswith("MALLOC_") or k in ("GLIBC_TUNABLES", "HXBENCH_MEMORY_BUDGET", "LD_PRELOAD")}


def child(args: argparse.Namespace) -> None:
    import torch

    from hxbench.eval.inputs import from_paths
    from hxbench.eval.scoring import score
    from hxbench.io.media import open_inputs

    torch.set_num_threads(args.threads)
    seconds: dict[str, float] = defaultdict(float)
    if args.decode_only:
        t0, c0 = time.perf_counter(), time.process_time()
        n = 0
        for folder in filter(None, (args.gen, args.ref)):
            for clip in open_inputs(folder).values():
                for chunk in clip.iter_chunks(1 << 16, max_bytes=48 << 20):
                    n += len(chunk)
        print(json.dumps({"frames": n, "wall": time.perf_counter() - t0, "cpu": time.process_time() - c0,
                          "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
        return
    peaks: dict[str, tuple[float, float]] = {}
    metrics = instrumented_metrics(args.metrics, seconds, peaks)
    sources = from_paths(args.gen, args.ref, args.audio)
    sampler = RssSampler()
    sampler.start()
    t0, c0 = time.perf_counter(), time.process_time()
    results = score(sources, args.metrics, progress=False, metrics=metrics)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    sampler.halt.set()
    values = {}
    for key, entry in results.metrics.items():
        if entry.ok:
            values[key] = {o: v.value for o, v in entry.outputs.items()} | {"failed": entry.n_failed}
        else:
            values[key] = "unavailable"
    print(json.dumps({"wall": wall, "cpu": cpu, "peak_mib": peak_mib(),
                      "seconds": dict(seconds), "values": values, "rss_by_tenth_mib": sampler.by_tenth(),
                      "peak_rise_mib_by_part": {k: [round(v, 1) for v in pr] for k, pr in peaks.items()},
                      "env": run_env()}))


def run_child(args: argparse.Namespace, gen: str, ref: str | None, audio: str | None, decode_only: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--child", "--gen", gen, "--threads", str(args.threads), "--metrics", *args.metrics]
    if ref:
        cmd += ["--ref", ref]
    if audio:
        cmd += ["--audio", audio]
    if decode_only:
        cmd.append("--decode-only")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"child failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(name: str, run: dict, decode: dict) -> None:
    s = run["seconds"]
    parts = ", ".join(f"{k} {v:.1f}" for k, v in sorted(s.items(), key=lambda kv: -kv[1]))
    print(f"{name}: peak {run['peak_mib'] / 1024:.2f} GiB, wall {run['wall']:.1f} s, CPU {run['cpu']:.1f} s; "
          f"decode-only pass {decode['wall']:.1f} s ({decode['frames']} frames)\n    time split (s): {parts}")
    print(f"    resident MiB, largest in each tenth of the run: {run.get('rss_by_tenth_mib')}; env {run.get('env')}")
    print(f"    MiB (peak, largest rise in one call) of each part: {run.get('peak_rise_mib_by_part')}")
    for key, v in run["values"].items():
        print(f"    {key}: {v}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--source", type=Path, help="a real video to build sized pairs from")
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 720, 1080])
    ap.add_argument("--seconds", type=float, nargs="+", default=[5])
    ap.add_argument("--gen")
    ap.add_argument("--ref")
    ap.add_argument("--audio")
    ap.add_argument("--metrics", nargs="+", default=DEFAULT_METRICS)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/hxbench-real-sizes"))
    ap.add_argument("--out", type=Path)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--decode-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args)
    runs = []
    if args.source:
        args.work.mkdir(parents=True, exist_ok=True)
        configs = [(size, sec) for size in args.sizes for sec in args.seconds]
        for size, sec in configs:
            gen, ref = make_pair(args.source, size, sec, args.work)
            decode = run_child(args, str(gen), str(ref), None, decode_only=True)
            run = run_child(args, str(gen), str(ref), None)
            report(f"{size}p {sec:g} s", run, decode)
            runs.append({"size": size, "seconds": sec, "run": run, "decode_only": decode})
            if args.out:  # after each configuration, so that a stopped run keeps the finished ones
                args.out.write_text(json.dumps({"metrics": args.metrics, "threads": args.threads, "runs": runs}, indent=2))
    else:
        decode = run_child(args, args.gen, args.ref, args.audio, decode_only=True)
        run = run_child(args, args.gen, args.ref, args.audio)
        report(args.gen, run, decode)
        runs.append({"gen": args.gen, "ref": args.ref, "run": run, "decode_only": decode})
    if args.out:
        args.out.write_text(json.dumps({"metrics": args.metrics, "threads": args.threads, "runs": runs}, indent=2))


if __name__ == "__main__":
    main()
