"""MoChaBench's 80 example videos for metric validity and human alignment (docs/validity.md).

    python bench/mochabench.py links --data ../shared/data/mochabench --out /tmp/mocha [--examples 01 02 ...]
        /tmp/mocha/gen/<model>_<NN>.mp4 and /tmp/mocha/audio/<model>_<NN>.wav: links to the
        four models' videos and to each context's denoised speech track (matched through
        example_results_contexts.csv), the layout ``hxbench validity --gen --audio`` reads.

    python bench/mochabench.py alignment --data ../shared/data/mochabench --run RUN_DIR [RUN_DIR ...] [--json OUT]
        Agreement of every per-video metric output in each RUN_DIR/samples.jsonl (e.g. the clean
        condition of a validity run, ``OUT/runs/clean``) with the human ratings of
        viescore-alignment.csv, next to GPT-4o's on the same videos, computed the same way
        (``hxbench.stats.agreement.alignment``): per-example Spearman across the four models
        averaged over examples (MoChaBench's ``compute_alignment``; all 20 examples, where its
        script drops example 20 as if it were an average row; ``--drop-last`` reproduces that)
        and pooled Spearman over the 80 videos, with bootstrap CIs over examples.
        Metric values are oriented so that higher is better (LOWER outputs negated).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

import sys

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's hxbench

MODELS = {"MoCha": "MoCha", "Hallo3": "hallo3", "SadTalker": "SadTalker", "Aniportrait": "aniportrait-square"}
ASPECTS = ("2. Facial Expression Naturalness", "3. Action Naturalness", "4. Text Alignment", "5. Visual Quality")


def contexts(data: Path) -> dict[str, tuple[str, str]]:
    with open(data / "example_results_contexts.csv", newline="") as f:
        return {r["example"].strip(): (r["category"].strip(), r["context_id"].strip()) for r in csv.DictReader(f)}


def links(data: Path, out: Path, examples: list[str] | None = None) -> None:
    (out / "gen").mkdir(parents=True, exist_ok=True)
    (out / "audio").mkdir(parents=True, exist_ok=True)
    for nn, (cat, cid) in sorted(contexts(data).items()):
        if examples and nn not in examples:
            continue
        speech = data / "benchmark" / "speeches" / cat / f"{cid}_speech.wav"
        for folder in MODELS.values():
            video = data / "example_results" / folder / f"{nn}.mp4"
            for src, dst in ((video, out / "gen" / f"{folder}_{nn}.mp4"), (speech, out / "audio" / f"{folder}_{nn}.wav")):
                if not dst.exists():
                    os.symlink(src.resolve(), dst)
    print(f"{len(list((out / 'gen').iterdir()))} videos in {out / 'gen'}")


def ratings(data: Path) -> dict[tuple[str, str], np.ndarray]:
    """(rater, aspect) -> (20 examples, 4 models) table, models in ``MODELS`` order."""
    with open(data / "viescore-alignment.csv", newline="") as f:
        rows = list(csv.reader(f))
    models, aspects, raters, body = rows[0], rows[1], rows[2], rows[3:]
    out: dict[tuple[str, str], np.ndarray] = {}
    for rater in ("Human Major Vote", "GPT4o"):
        for aspect in ASPECTS:
            cols = [next(i for i in range(1, len(models)) if models[i] == m and aspects[i] == aspect and raters[i] == rater)
                    for m in MODELS]
            out[(rater, aspect)] = np.array([[float(r[c]) for c in cols] for r in body])
    return out


def metric_table(run: Path, n_examples: int) -> dict[str, np.ndarray]:
    """'metric output' -> (examples, 4 models) of per-video values (higher = better), NaN where failed."""
    from hxbench.eval.results import RunStore
    from hxbench.metrics.base import LOWER, build_metric

    out: dict[str, np.ndarray] = {}
    for rec in RunStore(run).records():
        if rec.values is None:
            continue
        folder, nn = rec.sample_id.rsplit("_", 1)
        j = list(MODELS.values()).index(folder)
        outputs = build_metric(rec.metric).outputs
        for o, v in rec.values.items():
            if outputs.get(o) not in ("higher", "lower"):
                continue
            t = out.setdefault(f"{rec.metric} {o}", np.full((n_examples, len(MODELS)), np.nan))
            t[int(nn) - 1, j] = -v if outputs[o] == LOWER else v
    return out


def alignment_table(data: Path, run: list[Path] | None, drop_last: bool = False) -> list[dict]:
    from hxbench.stats.agreement import alignment

    r = ratings(data)
    n = next(iter(r.values())).shape[0]
    keep = slice(0, n - 1) if drop_last else slice(0, n)
    metrics = {}
    for run_dir in run or []:
        metrics.update(metric_table(run_dir, n))
    rows = []
    for aspect in ASPECTS:
        human = r[("Human Major Vote", aspect)][keep]
        for name, table in [("GPT-4o (anchor)", r[("GPT4o", aspect)])] + sorted(metrics.items()):
            a = alignment(human, table[keep])
            rows.append({"aspect": aspect, "rater": name, **{k: v for k, v in a.items() if k != "per_example"}})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("links")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--examples", nargs="*", default=None)
    p = sub.add_parser("alignment")
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--run", type=Path, nargs="*", default=None, help="run directories with per-video records")
    p.add_argument("--drop-last", action="store_true", help="drop example 20, as MoChaBench's script does")
    p.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if args.cmd == "links":
        links(args.data, args.out, args.examples)
        return
    rows = alignment_table(args.data, args.run, args.drop_last)
    fmt = lambda x: "-" if x is None or x != x else f"{x:+.3f}"  # noqa: E731
    ci = lambda c: "-" if not c else f"[{c[0]:+.2f}, {c[1]:+.2f}]"  # noqa: E731
    print("| aspect | rater | per-example rho (n) | 95% CI | pooled rho | 95% CI |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['aspect'][3:]} | {r['rater']} | {fmt(r['rho_example'])} ({r['n_example']}) | "
              f"{ci(r['ci_example'])} | {fmt(r['rho_pooled'])} | {ci(r['ci_pooled'])} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
