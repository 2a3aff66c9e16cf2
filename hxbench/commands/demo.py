"""`hxbench demo --out DIR`: the main job on the embedded default, end to end.

1. builds the hx-synth benchmark (``--size tiny`` by default) into ``DIR/data``;
2. for each demo task, runs the ground truth (``folder:`` adapter over the reference videos),
   the still-image baseline and the bundled reference models, scoring each with the task's
   metrics (unavailable metrics are reported with their fix, never estimated); for lip_sync
   also ``vae-recon``, the ground truth through the OmniHuman-style checkpoint's VAE (its
   ceiling: what a perfect generator on that VAE would score, ``reference_models/omnihuman/vae_recon.py``);
3. scores real videos: the outputs that four published models (MoCha, Hallo3, SadTalker,
   AniPortrait) made on MoChaBench, when its data has been imported or fetched (``hxbench data
   import mochabench PATH``; otherwise the demo prints that one command and goes on), staged in
   MoChaBench's own layout and scored on the ``mochabench`` task, per category;
4. writes ``DIR/report.html`` (one section per task) and prints the score tables.

Everything is resumable: re-running skips the data, outputs and scores that exist.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from hxbench.commands._common import print_group_table, print_results_table

DEMO_TASKS: dict[str, list[str]] = {
    "lip_sync": ["ground-truth", "still-image", "humanexpert-tiny", "vae-recon", "omnihuman-tiny-hxsynth"],
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
    p.add_argument("--real", type=int, default=20, metavar="N",
                   help="MoChaBench contexts to score per published model (0: skip the real-video part; "
                        "default 20, all of the shared subset: about 30 min on 2 cores)")
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
    from hxbench.registry import CEILINGS, TASKS
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
    info = json.loads(stamp.read_text())
    # the bytes scored: a build on another machine can differ (espeak-ng, CPU), and so the scores
    built = info.get("built_with", {})
    print("[demo] data content: " + " ".join(f"{k}={v}" for k, v in sorted(info.get("content", {}).items()))
          + f" (espeak-ng {built.get('espeak_ng')}, {built.get('cpu')}, numpy {built.get('numpy_simd')})",
          file=sys.stderr)

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
                elif model in CEILINGS:  # made from the ground truth: not an adapter
                    write = CEILINGS.get(model)
                    doc = (write.__doc__ or "").strip().splitlines()
                    print(f"[demo] {task_name}: {model}: {doc[0] if doc else 'a ceiling row'}", file=sys.stderr)
                    info = {"name": model, "adapter": "folder", "outputs": str(outputs),
                            **write(manifest.path, outputs)}
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
    if args.real > 0:
        sections += _real_videos(out, args.real, args.device)
    report = out / "report.html"
    report.write_text(page("hxbench demo", "".join(sections)))
    print(f"\nreport: {report}")
    return 0


def _real_videos(out: Path, limit: int, device: str) -> list[str]:
    """The real-video part: the published models' MoChaBench outputs (from the imported data),
    staged as ``<category>/<context_id>.mp4``, validated and scored on the ``mochabench`` task
    (its first ``limit`` contexts that have example outputs). Returns report sections."""
    from hxbench.board.report import report_body
    from hxbench.data import DataError, data_root, read_record
    from hxbench.data.mochabench import example_contexts, example_models, stage_examples
    from hxbench.eval.inputs import from_manifest
    from hxbench.eval.scoring import score
    from hxbench.eval.tasks import get_task
    from hxbench.eval.validate import validate_outputs
    from hxbench.io.manifest import Manifest, load_manifest

    root = data_root("mochabench")
    task = get_task("mochabench")
    path = task.manifest_path(root)
    models = example_models(root) if read_record(root) is not None else []
    if not path.is_file() or not models:
        print("\n[demo] real videos: no MoChaBench data with example outputs here; to score the published "
              "models' real videos, run\n    hxbench data import mochabench ../shared/data/mochabench\n"
              "(or a clone of github.com/congwei1230/MoChaBench) and re-run the demo", file=sys.stderr)
        return []
    full = load_manifest(path)
    try:
        wanted = {f"{c}/{x}" for c, x in example_contexts(root / "example_results_contexts.csv").values()}
    except DataError as err:
        print(f"[demo] real videos skipped: {err}", file=sys.stderr)
        return []
    samples = [s for s in full.samples if s.sample_id in wanted][:limit]
    manifest = Manifest(full.path, samples)  # the same file and revision; a subset of its samples
    run_dirs = []
    for model in models:
        run_dir = out / "runs" / "mochabench" / model
        outputs = run_dir / "outputs"
        stage_examples(root, model, outputs)
        problems = validate_outputs(full if len(samples) == len(full.samples) else manifest, outputs)
        problems = [p for p in problems if p.kind != "extra"]  # contexts beyond --real are not scored
        if problems:
            print(f"[demo] mochabench: {model} outputs are invalid: {problems[0]}", file=sys.stderr)
            continue
        print(f"[demo] mochabench: scoring {model}'s real videos ({len(samples)} contexts)", file=sys.stderr)
        results = score(from_manifest(manifest, outputs), task.metrics, run_dir=run_dir, device=device,
                        task=task.identity(), model={"name": model, "adapter": "folder", "outputs": str(outputs)},
                        dataset={"manifest": str(full.path), "revision": full.revision, "n_samples": len(samples)})
        print(f"\n== mochabench · {model} (real videos, {len(samples)} of 220 contexts)")
        print_results_table(results)
        print_group_table(results, run_dir)
        run_dirs.append(run_dir)
    if not run_dirs:
        return []
    return [report_body(run_dirs, title=f"mochabench: published models' real videos ({len(samples)} of 220 "
                                          "MoChaBench contexts)")]
