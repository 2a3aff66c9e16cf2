"""`hxbench submit --task T --outputs DIR_OR_ARCHIVE --model-card card.yaml --out BUNDLE`.

Checks an archive's members before extracting it, validates the outputs (every sample
exactly once, format, fps, duration, resolution, audio), scores them and writes a result
bundle (results JSON, per-sample records, manifest, model card, integrity hash; HMAC when
HXBENCH_SIGNING_KEY is set). Nothing is scored for an invalid submission.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from hxbench.commands._common import add_manifest_args, print_results_table, resolve_manifest


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("submit", help="validate, score and bundle a submission for a leaderboard")
    add_manifest_args(p)
    p.add_argument("--outputs", type=Path, required=True, help="folder or .zip/.tar(.gz) of <sample_id>.mp4 files")
    p.add_argument("--model-card", type=Path, required=True, help="YAML: name (required), description, url, ...")
    p.add_argument("--out", type=Path, required=True, help="bundle folder to write (e.g. leaderboards/B/entries/NAME)")
    p.add_argument("--metrics", nargs="+", default=None, help="override the task's metric list")
    p.add_argument("--run-dir", type=Path, default=None, help="keep the scoring run here (resumable); default: the bundle")
    p.add_argument("--device", default="cpu")
    p.add_argument("--validate-only", action="store_true", help="check the submission and stop")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hxbench.board.archive import ArchiveLimits, archive_kind, safe_extract
    from hxbench.board.bundle import load_model_card, write_bundle
    from hxbench.errors import HxbenchError, SubmissionError
    from hxbench.eval.inputs import from_manifest
    from hxbench.eval.scoring import score
    from hxbench.eval.validate import validate_submission

    manifest, task = resolve_manifest(args)
    card = load_model_card(args.model_card)
    metric_keys = args.metrics or (task.metrics if task else None)
    if not metric_keys:
        raise HxbenchError("--metrics is required with --manifest")
    src = args.outputs
    with tempfile.TemporaryDirectory(prefix="hxbench-submit-") as tmp:
        if src.is_file() and archive_kind(src):
            try:
                outputs = safe_extract(src, Path(tmp) / "outputs", ArchiveLimits.from_env())
            except SubmissionError as err:
                print(err)
                return 1
        elif src.is_dir():
            outputs = src
        else:
            print(f"submission refused: {src} is neither a folder nor a .zip/.tar/.tar.gz archive")
            return 1
        problems = validate_submission(manifest, outputs)
        if problems:
            for p in problems:
                print(p)
            print(f"submission refused: {len(problems)} problem(s); nothing was scored")
            return 1
        if args.validate_only:
            print(f"submission valid: {len(manifest)} samples")
            return 0
        run_dir = args.run_dir or args.out
        results = score(
            from_manifest(manifest, outputs), metric_keys, run_dir=run_dir, device=args.device, progress=True,
            task=task.identity() if task else None,
            dataset={"manifest": str(manifest.path), "revision": manifest.revision, "n_samples": len(manifest),
                     "shard": "0/1"},
            model={"name": card["name"], "adapter": "submission", "outputs": str(args.outputs)},
        )
    unavailable = [k for k, e in results.metrics.items() if not e.ok]
    print_results_table(results)
    if unavailable:
        print(f"not bundled: metric(s) {', '.join(unavailable)} unavailable (fix above); the run is kept in {run_dir}")
        return 1
    meta = write_bundle(run_dir, args.out, manifest.path, card,
                        submission={"source": args.outputs.name, "archive": bool(archive_kind(args.outputs))})
    print(f"bundle: {args.out}  integrity sha256 {meta['integrity_sha256']}"
          + ("  (HMAC signed)" if meta["signature"] else "  (unsigned: HXBENCH_SIGNING_KEY not set)"))
    return 0
