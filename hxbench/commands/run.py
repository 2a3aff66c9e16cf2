"""`hxbench run --task T --model M --run-dir R`: generate with a model adapter, then score.

Generation writes ``R/outputs/<sample_id>.*`` as samples finish and scoring appends to
``R/samples.jsonl``: a killed run resumes where it stopped. ``--mock`` runs the adapter on
two samples in a scratch folder and validates the outputs, to catch a broken adapter before
a long run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from hxbench.commands._common import (add_budget_arg, add_manifest_args, dump_json, parse_shard,
                                      print_group_table, print_results_table,
                                      resolve_manifest, score_outputs)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="generate a task's outputs with a model and score them")
    add_manifest_args(p)
    p.add_argument("--model", required=True, help="registered model name or module.path:Class")
    p.add_argument("--run-dir", type=Path, default=None, help="default: runs/<task>/<model>")
    p.add_argument("--metrics", nargs="+", default=None, help="override the task's metric list")
    p.add_argument("--shard", default=None, help="only shard i of n (i/n)")
    p.add_argument("--device", default="cpu")
    add_budget_arg(p)
    p.add_argument("--mock", action="store_true", help="check the adapter on 2 samples and stop")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hxbench.adapters.base import load_adapter
    from hxbench.io.manifest import Manifest
    from hxbench.eval.runner import generate
    from hxbench.eval.validate import validate_outputs

    manifest, task = resolve_manifest(args)
    task_name = task.name if task else None
    if args.model.startswith("folder:"):
        return _score_folder(args, manifest, task, Path(args.model[len("folder:"):]))
    adapter = load_adapter(args.model)
    if args.mock:
        few = Manifest(manifest.path, manifest.samples[:2])
        with tempfile.TemporaryDirectory() as tmp:
            generate(adapter, few, Path(tmp), task=task_name, progress=False)
            problems = validate_outputs(few, Path(tmp))
        for p in problems:
            print(p)
        print("mock run: " + ("adapter ok on 2 samples" if not problems else f"{len(problems)} problem(s)"))
        return 1 if problems else 0

    run_dir = args.run_dir or Path("runs") / (task_name or manifest.path.stem) / args.model.replace(":", "_")
    outputs = run_dir / "outputs"
    shard = parse_shard(args.shard)
    wanted = [s for i, s in enumerate(manifest.samples) if i % shard[1] == shard[0]]
    n_new = generate(adapter, manifest, outputs, wanted, task=task_name, progress=not args.json)
    info = adapter.info() if hasattr(adapter, "info") else {}
    results = score_outputs(
        manifest, task, outputs, run_dir, shard, args.metrics, args.device, progress=not args.json,
        validate=Manifest(manifest.path, wanted),
        model={"name": args.model, "adapter": info, "generated_now": n_new},
    )
    if results is None:
        return 1
    metric_keys = args.metrics or task.metrics
    _finish(args, run_dir, results, task_name, metric_keys, manifest)
    return 0


def _score_folder(args, manifest, task, folder: Path) -> int:
    """The folder: adapter: outputs already on disk, matched by sample_id; nothing generated."""
    from hxbench.commands.score import run as score_run

    args.outputs = folder
    args.run_dir = args.run_dir or Path("runs") / (task.name if task else manifest.path.stem) / folder.name
    args.model_name = f"folder:{folder}"
    args.no_validate = False
    return score_run(args)


def _finish(args, run_dir, results, task_name, metric_keys, manifest) -> None:
    (run_dir / "config.json").write_text(json.dumps(
        {"task": task_name, "model": args.model, "metrics": metric_keys, "shard": args.shard,
         "manifest": str(manifest.path)}, indent=2) + "\n")
    if args.json:
        dump_json(results.to_json())
    else:
        print_results_table(results)
        print_group_table(results, run_dir)
        print(f"results: {run_dir / 'results.json'}")
