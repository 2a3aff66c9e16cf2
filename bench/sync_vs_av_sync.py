"""How do hxbench's offline lip-sync measures relate to Sync-C / Sync-D on your videos?

    .venv/bin/python bench/sync_vs_av_sync.py --gen VIDEO_DIR [--audio WAV_DIR] [--ref REF_DIR]
        [--sync-variant syncnet-pipeline] [--av-variant mouth-energy] [--json OUT.json]

For each video: Sync-C / Sync-D / offset (``sync[VARIANT]``, when the SyncNet weights, and for
face-track variants the S3FD weights, are imported), ``av_sync`` (av_corr, av_conf, av_offset)
and, with ``--ref`` (reference videos paired by name), ``lmd``. Then the Spearman rank
correlation between every pair of outputs over the videos where both exist, and how often
av_offset equals the SyncNet offset (both use SyncNet's sign: positive = audio leads).

Without the SyncNet weights the Sync-C/D columns print as "unavailable" with the command that
fixes it, and only the offline measures are compared with each other. A video that a metric
cannot score (no face, silent audio ...) is listed with the reason and left out of that
metric's pairs, never imputed. Expected, if av_sync tracks lip sync the way Sync-C does:
av_conf and Sync-C positively rank-correlated, av_corr / av_conf negatively with Sync-D,
LMD negatively with Sync-C; this relation has not been measured in hxbench's environment
(no SyncNet weights there), see docs/metrics/sync.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def score_all(metric, sources) -> tuple[dict[str, dict[str, float]], dict[str, str]]:
    from hxbench.errors import SampleError

    values, failures = {}, {}
    for src in sources:
        try:
            values[src.sample_id] = metric.score_sample(src.load())
        except SampleError as err:
            failures[src.sample_id] = str(err)
    return values, failures


def spearman(a: list[float], b: list[float]) -> float:
    from scipy.stats import spearmanr

    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gen", required=True, help="a video or a folder of videos (25 fps preferred)")
    ap.add_argument("--audio", help="a WAV or a folder of WAVs named as the videos (default: the videos' own audio)")
    ap.add_argument("--ref", help="reference videos paired by name (enables LMD)")
    ap.add_argument("--sync-variant", default="syncnet-pipeline")
    ap.add_argument("--av-variant", default="mouth-energy")
    ap.add_argument("--json", help="write the per-video values and correlations here")
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    import hxbench.metrics  # noqa: F401 - registers the metrics
    from hxbench.errors import MetricUnavailable
    from hxbench.eval.inputs import from_paths
    from hxbench.registry import METRICS

    sources = from_paths(args.gen, args.ref, args.audio)
    metrics = {"sync": METRICS.get("sync")(args.sync_variant), "av_sync": METRICS.get("av_sync")(args.av_variant)}
    if args.ref:
        metrics["lmd"] = METRICS.get("lmd")()
    table: dict[str, dict[str, float]] = {s.sample_id: {} for s in sources}
    report: dict = {"videos": len(sources), "unavailable": {}, "failures": {}}
    for name, metric in metrics.items():
        try:
            metric.check_available()
        except MetricUnavailable as err:
            report["unavailable"][metric.key] = {"reason": err.reason, "fix": err.fix}
            print(f"{metric.key}: unavailable: {err.reason}\n    fix: {err.fix}")
            continue
        values, failures = score_all(metric, sources)
        for sid, vals in values.items():
            for out, v in vals.items():
                table[sid][f"{name}.{out}"] = float(v)
        for sid, why in failures.items():
            print(f"{metric.key}: {sid}: {why}")
        report["failures"][metric.key] = failures
    columns = sorted({c for row in table.values() for c in row})
    print(f"\n{len(sources)} videos; per video:")
    print("video".ljust(24) + "".join(c.rjust(18) for c in columns))
    for sid, row in sorted(table.items()):
        print(sid[:23].ljust(24) + "".join((f"{row[c]:.4f}" if c in row else "-").rjust(18) for c in columns))
    scored = [c for c in columns if not c.endswith("offset")]
    corr = {}
    print("\nSpearman rank correlation (n = videos with both values):")
    for i, a in enumerate(scored):
        for b in scored[i + 1:]:
            if a.split(".")[0] == b.split(".")[0]:
                continue
            both = [r for r in table.values() if a in r and b in r]
            rho = spearman([r[a] for r in both], [r[b] for r in both])
            corr[f"{a} ~ {b}"] = {"rho": rho, "n": len(both)}
            print(f"  {a:16s} ~ {b:16s}: rho {rho:+.3f}  (n = {len(both)})")
    if not corr:
        print("  none: fewer than two metrics available")
    both = [r for r in table.values() if "sync.offset" in r and "av_sync.av_offset" in r]
    if both:
        agree = np.mean([abs(r["sync.offset"] - r["av_sync.av_offset"]) <= 1 for r in both])
        print(f"\nav_offset within 1 frame of the SyncNet offset: {agree:.2f} (n = {len(both)})")
        report["offset_agreement"] = {"fraction": float(agree), "n": len(both)}
    report.update(values=table, spearman=corr)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
