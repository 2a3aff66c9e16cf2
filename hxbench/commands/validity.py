"""`hxbench validity --gen DIR [--audio DIR] [--ref DIR] --metrics M ... --out DIR`.

Checks every metric's declared behaviour (``Metric.declared``) on your own videos: perturbed
copies (shifted / other / silent audio, blur, JPEG, noise, dropped / frozen / shuffled frames,
re-encoding, another sample's reference; ``hxbench.io.perturb``) are written under
``OUT/copies`` (your inputs are only read) and scored clean and perturbed through the scoring
loop of ``hxbench score`` (resumable: re-run the same command). Prints the table, writes
``OUT/validity.json`` and ``OUT/validity.html``; exit code 1 when a metric fails its
declaration (``--no-fail`` to exit 0).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from hxbench.commands._common import add_budget_arg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validity", help="check each metric's declared behaviour on your videos (perturbation tests)")
    p.add_argument("--gen", type=Path, required=True, help="videos (a folder or a file)")
    p.add_argument("--audio", type=Path, default=None, help="driving audio: a file, or a folder by sample name "
                   "(default: each video's own track)")
    p.add_argument("--ref", type=Path, default=None, help="reference videos paired by name (default: each clean "
                   "copy is its own reference, so full-reference metrics score clean as perfect)")
    p.add_argument("--metrics", nargs="+", required=True, help="metric keys, e.g. ssim lpips iqa[niqe-1fps] av_sync")
    p.add_argument("--perturbations", nargs="+", default=None,
                   help="only these (default: every one a chosen metric declares something about)")
    p.add_argument("--out", type=Path, required=True, help="work folder, run directories and the report")
    p.add_argument("--max-side", type=int, default=None, help="downscale the clean copies to this longer side (px)")
    p.add_argument("--max-seconds", type=float, default=None, help="keep only the first seconds of each video")
    p.add_argument("--keep-work", action="store_true", help="keep the perturbed videos (deleted once scored)")
    p.add_argument("--device", default="cpu")
    add_budget_arg(p)
    p.add_argument("--json", action="store_true", help="print the JSON instead of the table")
    p.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    p.add_argument("--no-fail", action="store_true", help="exit 0 even when a metric fails its declaration")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from hxbench.board.validity import markdown_table, render, summary_lines, text_table
    from hxbench.commands._common import dump_json
    from hxbench.eval.results import write_json
    from hxbench.eval.validity import run_validity

    log = (lambda msg: print(msg, file=sys.stderr)) if args.json else print
    result = run_validity(args.gen, args.metrics, args.out, audio=args.audio, ref=args.ref,
                          perturbations=args.perturbations, max_side=args.max_side, max_seconds=args.max_seconds,
                          device=args.device, progress=not args.json,
                          keep_work=args.keep_work, log=log)
    data = json.loads(json.dumps(result.to_json(), default=str))
    write_json(args.out / "validity.json", data)
    (args.out / "validity.html").write_text(render(data), encoding="utf-8")
    if args.json:
        dump_json(data)
    else:
        print(markdown_table(data) if args.markdown else text_table(data))
        for line in summary_lines(data):
            print(line)
        print(f"report: {args.out / 'validity.html'}  json: {args.out / 'validity.json'}")
    return 1 if result.failing() and not args.no_fail else 0
