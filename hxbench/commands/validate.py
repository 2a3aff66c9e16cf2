"""`hxbench validate --task T --outputs DIR`: check outputs before any compute (exit 1 on problems)."""

from __future__ import annotations

import argparse
from pathlib import Path

from hxbench.commands._common import add_manifest_args, dump_json, resolve_manifest


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="check a model's outputs against a task's manifest")
    add_manifest_args(p)
    p.add_argument("--outputs", type=Path, required=True, help="folder of outputs named <sample_id>.mp4")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hxbench.eval.validate import validate_outputs

    manifest, _ = resolve_manifest(args)
    problems = validate_outputs(manifest, args.outputs)
    if args.json:
        dump_json({"valid": not problems, "n_samples": len(manifest),
                   "problems": [{"sample_id": p.sample_id, "kind": p.kind, "message": p.message} for p in problems]})
    elif problems:
        for p in problems:
            print(p)
        print(f"{len(problems)} problem(s) in {args.outputs} for {len(manifest)} samples")
    else:
        print(f"ok: {len(manifest)} samples, all outputs present and valid")
    return 1 if problems else 0
