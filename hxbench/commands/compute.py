"""`hxbench compute METRIC --gen PATH [--ref PATH] [--audio PATH] [--json]`.

Computes one metric between two inputs of any supported kind (.npy (N,T,H,W,C), a folder
of images, a video file, a folder of videos, a folder of frame folders). This command's
interface is stable: metrics plug into it.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from hxbench.commands._common import add_budget_arg, dump_json, print_results_table


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compute", help="compute one metric between generated and reference inputs")
    p.add_argument("metric", help="metric name, optionally with its variant: ssim, fvd[styleganv-16f]")
    p.add_argument("--gen", type=Path, required=True, help="generated samples")
    p.add_argument("--ref", type=Path, default=None, help="reference samples (paired by name)")
    p.add_argument("--audio", type=Path, default=None, help="driving audio: a file, or a folder by sample name")
    p.add_argument("--variant", default=None, help="metric variant (same as METRIC[VARIANT])")
    p.add_argument("--fps", type=float, default=None, help="resample videos to this frame rate when decoding")
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    add_budget_arg(p)
    p.add_argument("--run-dir", type=Path, default=None, help="keep per-sample results here (resumable)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--per-sample", action="store_true", help="with --json: include per-sample values")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from hxbench.eval.inputs import from_paths
    from hxbench.metrics.base import build_metric, parse_metric_key
    from hxbench.eval.schema import SampleRecord
    from hxbench.eval.scoring import score

    name, variant = parse_metric_key(args.metric)
    if args.variant:
        if variant and variant != args.variant:
            raise ValueError(f"conflicting variants: {args.metric} and --variant {args.variant}")
        variant = args.variant
    key = f"{name}[{variant}]" if variant else name
    metric = build_metric(key, device=args.device)
    sources = from_paths(args.gen, args.ref, args.audio, args.fps)
    records: list[SampleRecord] = []
    results = score(sources, [metric.key], run_dir=args.run_dir, device=args.device,
                    progress=not args.json, metrics=[metric], keep_records=records,
                    dataset={"gen": str(args.gen), "ref": str(args.ref) if args.ref else None})
    entry = results.metrics[metric.key]
    if args.json:
        out = {"metric": metric.name, "variant": metric.variant, "key": metric.key}
        if not entry.ok:
            out.update(status="unavailable", reason=entry.reason, fix=entry.fix, value=None, n=0)
            dump_json(out)
            return 3
        as_json = entry.to_json()
        first = next(iter(entry.outputs.values()))
        out.update(status="ok", version=entry.version, value=first.value, n=first.n, outputs=as_json["outputs"],
                   n_failed=entry.n_failed, failures=as_json["failures"], weights=entry.weights, notes=entry.notes,
                   hxbench_version=results.hxbench_version, environment=results.environment)
        if args.per_sample:
            out["per_sample"] = [{"sample_id": r.sample_id, **({"values": r.values} if r.values is not None
                                  else {"error": r.error})} for r in records]
        dump_json(out)
        for note in entry.notes:  # also on stderr, so a reader of the JSON's consumer sees it once
            print(f"{entry.key}: warning: {note}", file=sys.stderr)
    else:
        print_results_table(results)
    if not entry.ok:
        return 3
    values = [o.value for o in entry.outputs.values()]
    if not any(v is not None and math.isfinite(v) for v in values):
        why = (f"every one of the {len(sources)} samples failed" if entry.n_failed == len(sources)
               else f"{len(sources)} sample(s) are too few for it (FID/FVD need at least 2)")
        print(f"hxbench: error: {metric.key} has no value: {why}", file=sys.stderr)
        return 4
    return 0
