"""`hxbench compare BASE NEW [--fail-on-regression] [--metrics ...] [--alpha 0.05]`.

BASE and NEW are run directories or result bundles of the same task, manifest revision and
metric variants / versions / weights (otherwise the command refuses, says why, exit 2).
Prints a table (or JSON) of per-metric differences with bootstrap CIs and a decision
better / same / worse. Exit code: 1 if --fail-on-regression and any metric is worse, else 0.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hxbench.stats import DEFAULT_ALPHA, DEFAULT_N_BOOT, DEFAULT_SEED


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare two runs metric by metric (regression check for CI)")
    p.add_argument("base", type=Path, help="baseline run directory or bundle")
    p.add_argument("new", type=Path, help="candidate run directory or bundle")
    p.add_argument("--metrics", nargs="+", default=None, help="metric keys to compare (default: all in common)")
    p.add_argument("--alpha", type=float, default=DEFAULT_ALPHA, help="1 - confidence level of the intervals")
    p.add_argument("--n-boot", type=int, default=DEFAULT_N_BOOT,
                   help="bootstrap replicates for per-sample metrics (default %(default)s)")
    p.add_argument("--n-boot-set", type=int, default=None,
                   help="bootstrap replicates for FID/FVD, each recomputes two Fréchet distances (default "
                        "$HXBENCH_SET_BOOTSTRAP or 100, capped by $HXBENCH_SET_BOOTSTRAP_MAX_FLOPS)")
    p.add_argument("--min-effect", type=float, default=0.0,
                   help="differences with |diff| <= this are 'same' even if the CI excludes 0")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED)
    p.add_argument("--fail-on-regression", action="store_true", help="exit 1 if any metric is worse")
    p.add_argument("--json", action="store_true", help="print JSON instead of the table")
    p.add_argument("--json-out", type=Path, default=None, help="also write the JSON here")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hxbench.board.compare import compare_runs, format_table, load_run

    if not 0 < args.alpha < 1:
        raise ValueError("--alpha must be between 0 and 1")
    base, new = load_run(args.base), load_run(args.new)
    rows = compare_runs(base, new, args.metrics, alpha=args.alpha, n_boot=args.n_boot,
                        n_boot_set=args.n_boot_set, min_effect=args.min_effect, seed=args.seed)
    worse = [f"{r.key}.{r.output}" for r in rows if r.decision == "worse"]
    doc = {"base": str(args.base), "new": str(args.new), "alpha": args.alpha,
           "rows": [r.as_dict() for r in rows], "regressions": worse}
    if args.json_out:
        args.json_out.write_text(json.dumps(doc, indent=2) + "\n")
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print(f"base: {base.name} ({args.base})\nnew:  {new.name} ({args.new})")
        print(format_table(rows, args.alpha))
        print(("REGRESSION: " + ", ".join(worse)) if worse else "no regression")
    return 1 if (worse and args.fail_on_regression) else 0
