"""`hxbench score --task T --outputs DIR --run-dir R`: score outputs made elsewhere.

Validates first (nothing is computed for an invalid submission), then scores every sample
with the task's metrics, appending per-sample results as they finish. Re-running the same
command resumes: samples already scored with the same metric version are not recomputed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from hxbench.commands._common import (add_budget_arg, add_manifest_args, dump_json, parse_shard,
                                      print_group_table, print_results_table,
                                      resolve_manifest, score_outputs)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("score", help="score a folder of outputs on a task (resumable)")
    add_manifest_args(p)
    p.add_argument("--outputs", type=Path, required=True, help="folder of outputs named <sample_id>.mp4")
    p.add_argument("--run-dir", type=Path, required=True, help="where results.json and samples.jsonl go")
    p.add_argument("--metrics", nargs="+", default=None, help="override the task's metric list")
    p.add_argument("--shard", default=None, help="score only shard i of n (i/n); merge with `hxbench merge`")
    p.add_argument("--device", default="cpu")
    add_budget_arg(p)
    p.add_argument("--model-name", default=None, help="name recorded in the results")
    p.add_argument("--no-validate", action="store_true", help="skip output validation (not recommended)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hxbench.eval.distributed import launched_distributed, world

    manifest, task = resolve_manifest(args)
    results = score_outputs(
        manifest, task, args.outputs, args.run_dir, parse_shard(args.shard), args.metrics, args.device,
        progress=not args.json, validate=None if args.no_validate else manifest,
        model={"name": args.model_name or args.outputs.name, "adapter": "folder", "outputs": str(args.outputs)},
    )
    if results is None:
        return 1
    if launched_distributed() and world()[0] != 0:
        return 0  # rank 0 reports
    if args.json:
        dump_json(results.to_json())
    else:
        print_results_table(results)
        print_group_table(results, args.run_dir)
        print(f"results: {args.run_dir / 'results.json'}")
    return 0
