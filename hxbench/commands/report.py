"""`hxbench report RUN_DIR... --out report.html`: a self-contained HTML report of runs."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="write an HTML report comparing run directories")
    p.add_argument("runs", type=Path, nargs="+")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--title", default=None)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hxbench.board.report import write_report

    print(write_report(args.runs, args.out, args.title))
    return 0
