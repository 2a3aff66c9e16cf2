"""`hxbench demo --out DIR`: the main job on the embedded default, end to end.

1. builds the hx-synth benchmark (``--size tiny`` by default) into ``DIR/data``;
2. for each demo task, runs the ground truth (``folder:`` adapter over the reference videos),
   the still-image baseline and the bundled reference models, scoring each with the task's
   metrics (unavailable metrics are reported with their fix, never estimated);
3. writes ``DIR/report.html`` (one section per task) and prints the score tables.

Everything is resumable: re-running skips the data, outputs and scores that exist.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from hxbench.commands._common import print_results_table

DEMO_TASKS: dict[str, list[str]] = {
    "lip_sync": ["ground-truth", "still-image", "humanexpert-tiny", "omnihuman-tiny-hxsynth"],
    "listen_to_command": ["ground-truth", "still-image", "humanexpert-tiny", "omnihuman-tiny-hxsynth"],
    "audio_qa_text": ["echo-answer", "humanexpert-tiny"],
}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="build the tiny benchmark, run the bundled models, write a report")
    p.add_argument("--out", type=Path, default=Path("demo"))
    p.add_argument("--size", default="tiny", choices=["tiny", "small", "full"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tasks", nargs="+", default=None, help=f"default: {' '.join(DEMO_TASKS)}")
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def _ground_truth_outputs(manifest, folder: Path) -> Path:
    """The reference videos as an outputs folder named by sample_id."""
    folder.mkdir(parents=True, exist_ok=True)
    for s in manifest.samples:
        target = folder / f"{s.sample_id}.mp4"
        if s.reference_video and not target.exists():
            shutil.copyfile(manifest.resolve(s.reference_video), target)
    return folder


def run(args: argparse.Namespace) -> int:
    import json

    from hxbench.adapters.base import load_adapter
    from hxbench.eval.inputs import from_manifest
    from hxbench.io.manifest import load_manifest
    from hxbench.registry import TASKS
    from hxbench.board.report import report_body
    from hxbench.html import page
    from hxbench.eval.runner import generate
    from hxbench.eval.scoring import score
    from hxbench.synth import build
    from hxbench.eval.tasks import get_task
    from hxbench.eval.validate import validate_outputs

    out: Path = args.out
    data = out / "data"
    stamp = data / "dataset.json"
    if stamp.is_file() and json.loads(stamp.read_text()).get("size") == args.size:
        print(f"[demo] data: {data} (already built)", file=sys.stderr)
    else:
        print(f"[demo] building hx-synth {args.size} into {data}", file=sys.stderr)
        build(data, size=args.size, seed=args.seed, progress=True)

    sections = []
    for task_name in args.tasks or list(DEMO_TASKS):
        if task_name not in TASKS:
            print(f"[demo] task {task_name} is not registered here; skipped", file=sys.stderr)
            continue
        task = get_task(task_name)
        manifest = load_manifest(task.manifest_path(data))
        run_dirs = []
        for model in DEMO_TASKS.get(task_name, ["still-image"]):
            run_dir = out / "runs" / task_name / model
            outputs = run_dir / "outputs"
            try:
                if model == "ground-truth":
                    _ground_truth_outputs(manifest, outputs)
                    info = {"name": "ground-truth", "adapter": "folder", "outputs": str(outputs)}
                else:
                    adapter = load_adapter(model)
                    print(f"[demo] {task_name}: generating with {model}", file=sys.stderr)
                    generate(adapter, manifest, outputs, task=task_name)
                    info = {"name": model, "adapter": adapter.info() if hasattr(adapter, "info") else {},
                            "outputs": str(outputs)}
            except Exception as err:  # one model failing must not hide the others' results
                print(f"[demo] {task_name}: {model} could not run: {err}", file=sys.stderr)
                continue
            problems = validate_outputs(manifest, outputs)
            if problems:
                print(f"[demo] {task_name}: {model} outputs are invalid: {problems[0]}", file=sys.stderr)
                continue
            print(f"[demo] {task_name}: scoring {model}", file=sys.stderr)
            results = score(from_manifest(manifest, outputs), task.metrics, run_dir=run_dir, device=args.device,
                            task=task.identity(), model=info,
                            dataset={"manifest": str(manifest.path), "revision": manifest.revision,
                                     "n_samples": len(manifest)})
            print(f"\n== {task_name} · {model}")
            print_results_table(results)
            run_dirs.append(run_dir)
        if run_dirs:
            sections.append(report_body(run_dirs, title=f"{task_name} (hx-synth {args.size})"))
    report = out / "report.html"
    report.write_text(page("hxbench demo", "".join(sections)))
    print(f"\nreport: {report}")
    return 0
