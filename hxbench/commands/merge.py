"""`hxbench merge SHARD_DIR... --out DIR`: combine sharded runs (no recomputation)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hxbench.commands._common import print_results_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("merge", help="merge the run directories of shards into one result")
    p.add_argument("runs", type=Path, nargs="+")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hxbench.errors import HxbenchError
    from hxbench.io.manifest import load_manifest
    from hxbench.eval.schema import RunResults
    from hxbench.eval.scoring import merge_runs

    headers = [RunResults.load(r) for r in args.runs]
    revisions = {h.dataset["revision"] for h in headers}
    if len(revisions) != 1:
        raise HxbenchError(f"shards come from different manifest revisions: {sorted(revisions)}")
    keys = list(headers[0].metrics)
    if any(list(h.metrics) != keys for h in headers):
        raise HxbenchError("shards were scored with different metric lists")
    manifest = load_manifest(headers[0].dataset["manifest"])
    dataset = dict(headers[0].dataset, shard="merged")
    results = merge_runs(args.runs, args.out, keys, [s.sample_id for s in manifest.samples],
                         task=headers[0].task, dataset=dataset, model=headers[0].model)
    print_results_table(results)
    return 0
