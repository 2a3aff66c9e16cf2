"""Inference-only levers of ``omnihuman-tiny-hxsynth``, each scored with the lip_sync task's metrics.

    .venv/bin/python -c "from hxbench.synth import build; build('/tmp/omd/data', 'tiny', seed=0)"
    .venv/bin/python -m reference_models.omnihuman.levers --data /tmp/omd/data --out /tmp/omd/levers \
        [--only default steps20 ...]

For each variant below: the adapter with those sampler settings generates the task's clips into
``OUT/<variant>/outputs`` (resumable), ``hxbench run --model folder:`` scores them into
``OUT/<variant>/results.json``, and a markdown table of all variants is printed. ``seed1`` changes
only the sampling noise: its distance from ``default`` is the noise floor a lever has to clear.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

VARIANTS: dict[str, dict] = {
    "default": {},                                   # 10 Euler steps, CFG 1.5 joint, plf_shift 1
    "seed1": {"seed": 1},                            # sampling noise only
    "seed2": {"seed": 2},
    "steps5": {"steps": 5},
    "steps20": {"steps": 20},
    "cfg1": {"guidance": 1.0},                       # no guidance
    "cfg3": {"guidance": 3.0},
    "audio3-text1.5": {"guidance_audio": 3.0, "guidance_text": 1.5},
    "audio1.5-text1": {"guidance_audio": 1.5, "guidance_text": 1.0},
    "plf0": {"plf_shift": 0},
    "plf2": {"plf_shift": 2},
    "ref-first": {"ref_mode": "first_frame"},        # reference latent as first frame instead
    "ref-both": {"ref_mode": "both"},                # reference latent as first frame too
    "tshift3": {"time_shift": 3.0},                  # SD3 time shift: more steps at high noise
}

COLUMNS = [("ssim[rgb-255]", "ssim", "SSIM"), ("psnr[rgb-255]", "psnr", "PSNR"),
           ("lpips[alex-v0.1]", "lpips", "LPIPS"), ("fid[pytorch-fid]", "fid", "FID"),
           ("fvd[styleganv-16f]", "fvd", "FVD"), ("lmd[mediapipe-lips40]", "lmd", "LMD"),
           ("av_sync[mouth-energy]", "av_corr", "av_corr")]


def table(run_dirs: list[Path]) -> str:
    """A markdown table of the COLUMNS of each run's results.json."""
    lines = ["| run | " + " | ".join(c[2] for c in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for d in run_dirs:
        p = Path(d) / "results.json"
        if not p.is_file():
            continue
        m = json.loads(p.read_text())["metrics"]
        vals = []
        for key, out, _ in COLUMNS:
            try:
                v = m[key]["outputs"][out]["value"]
                vals.append(f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}")
            except (KeyError, TypeError):
                vals.append("-")
        lines.append(f"| {Path(d).name} | " + " | ".join(vals) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True, type=Path, help="hx-synth build (the lip_sync task's data)")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--only", nargs="+", default=None, choices=sorted(VARIANTS))
    ap.add_argument("--task", default="lip_sync")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)

    import torch

    from hxbench.eval.inputs import from_manifest
    from hxbench.eval.runner import generate
    from hxbench.eval.scoring import score
    from hxbench.eval.tasks import get_task
    from hxbench.io.manifest import load_manifest
    from hxbench.registry import load_plugins

    from .adapter import OmniHumanTinyHxSynth

    torch.set_num_threads(args.threads)
    load_plugins()
    task = get_task(args.task)
    manifest = load_manifest(task.manifest_path(args.data))
    names = args.only or list(VARIANTS)
    for name in names:
        run_dir = args.out / name
        if (run_dir / "results.json").is_file():
            continue
        print(f"[levers] {name}: generating {VARIANTS[name]}", file=sys.stderr)
        generate(OmniHumanTinyHxSynth(**VARIANTS[name]), manifest, run_dir / "outputs", task=args.task)
        score(from_manifest(manifest, run_dir / "outputs"), task.metrics, run_dir=run_dir, task=task.identity(),
              model={"name": f"omnihuman-tiny-hxsynth {name}", "settings": VARIANTS[name]},
              dataset={"manifest": str(manifest.path), "revision": manifest.revision, "n_samples": len(manifest)})
    print(table([args.out / n for n in names]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
