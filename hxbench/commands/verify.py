"""`hxbench verify BUNDLE [--rescore --outputs DIR]`: re-check a result bundle.

Checks every file's sha256 against the listing, the integrity hash, the HMAC (when
HXBENCH_SIGNING_KEY is set), the manifest revision and that results.json agrees with
samples.jsonl. ``--rescore`` recomputes a random subset of samples from the outputs.
Exit code 0: verified; 1: verification failed.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="verify a result bundle (integrity, signature, consistency)")
    p.add_argument("bundle", type=Path)
    p.add_argument("--require-signature", action="store_true", help="fail unless a valid HMAC is checked")
    p.add_argument("--rescore", action="store_true", help="recompute a random subset of samples")
    p.add_argument("--outputs", type=Path, default=None, help="the submission's outputs (folder or archive) for --rescore")
    p.add_argument("--data", type=Path, default=None, help="dataset root (inputs of the manifest) for --rescore")
    p.add_argument("--manifest", type=Path, default=None, help="manifest to rescore against (default: the task's)")
    p.add_argument("--n", type=int, default=5, help="samples to rescore")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--device", default="cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    import tempfile

    from hxbench.errors import HxbenchError
    from hxbench.io.manifest import load_manifest
    from hxbench.board.archive import archive_kind, safe_extract
    from hxbench.board.bundle import verify_bundle
    from hxbench.board.rescore import rescore_check

    rep = verify_bundle(args.bundle, require_signature=args.require_signature)
    for n in rep.notes:
        print(f"note: {n}")
    for p in rep.problems:
        print(f"FAIL: {p}")
    if not rep.ok:
        print(f"{args.bundle}: verification FAILED ({len(rep.problems)} problem(s))")
        return 1
    if args.rescore:
        if args.outputs is None:
            raise HxbenchError("--rescore needs --outputs (the submitted folder or archive)")
        if args.manifest is not None:
            manifest = load_manifest(args.manifest)
        else:
            meta = json.loads((args.bundle / "bundle.json").read_text())
            task = (meta.get("task") or {}).get("name")
            if not task:
                raise HxbenchError("the bundle names no task: pass --manifest (the inputs must be beside it)")
            from hxbench.eval.tasks import get_task

            manifest = load_manifest(get_task(task).manifest_path(args.data))
        with tempfile.TemporaryDirectory(prefix="hxbench-verify-") as tmp:
            outputs = args.outputs
            if outputs.is_file() and archive_kind(outputs):
                outputs = safe_extract(outputs, Path(tmp) / "outputs")
            probs = rescore_check(args.bundle, manifest, outputs, n=args.n, seed=args.seed, device=args.device)
        for p in probs:
            print(f"FAIL (rescore): {p}")
        if probs:
            print(f"{args.bundle}: rescoring FAILED ({len(probs)} problem(s))")
            return 1
        print(f"rescored {min(args.n, len(manifest))} samples: match")
    print(f"{args.bundle}: verified" + (" (HMAC signature checked)" if rep.signature_checked else ""))
    return 0
