"""Human check of the offline IQA variants: MoChaBench's human visual-quality ratings
(``../shared/data/mochabench/viescore-alignment.csv``, "5. Visual Quality", Human Major Vote,
1-4, 20 examples x 4 models = 80 real videos) against iqa[niqe|brisque|piqe] (1 fps).

    python bench/iqa_human_check.py [--data ../shared/data/mochabench] [--out bench/iqa_human_check.json]

Prints Spearman and Pearson correlations (sign: NIQE/BRISQUE/PIQE are lower-is-better, so a
working metric correlates negatively with the ratings) over the 80 videos, and per model means.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from hxbench.io.media import clip_from_video
from hxbench.metrics.base import SampleData, build_metric

FOLDERS = {"MoCha": "MoCha", "Hallo3": "hallo3", "Aniportrait": "aniportrait-square", "SadTalker": "SadTalker"}
KEYS = ("iqa[niqe-1fps]", "iqa[brisque-1fps]", "iqa[piqe-1fps]")


def ratings(csv_path: Path) -> list[tuple[str, int, float]]:
    rows = list(csv.reader(open(csv_path)))
    models, aspects, kinds = rows[0], rows[1], rows[2]
    out = []
    for r in rows[3:]:
        if not r or not r[0].strip().isdigit():
            continue
        for j in range(1, len(r)):
            if aspects[j].startswith("5. Visual Quality") and kinds[j] == "Human Major Vote" and r[j].strip():
                out.append((models[j], int(r[0]), float(r[j])))
    return out


def main() -> None:
    from scipy.stats import pearsonr, spearmanr

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/data/mochabench")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    items = ratings(args.data / "viescore-alignment.csv")
    metrics = {k: build_metric(k) for k in KEYS}
    rec = []
    for model, idx, human in items:
        path = args.data / "example_results" / FOLDERS[model] / f"{idx:02d}.mp4"
        clip = clip_from_video(path)
        vals = {k: m.update(SampleData(path.stem, gen=clip)).values[m.output] for k, m in metrics.items()}
        rec.append({"model": model, "idx": idx, "human": human, **vals})
        print(model, idx, human, {k: round(v, 3) for k, v in vals.items()}, flush=True)
    h = np.array([r["human"] for r in rec])
    summary = {"n": len(rec)}
    for k in KEYS:
        v = np.array([r[k] for r in rec])
        summary[k] = {"spearman": float(spearmanr(v, h)[0]), "pearson": float(pearsonr(v, h)[0]),
                      "per_model_mean": {mm: float(np.mean([r[k] for r in rec if r["model"] == mm])) for mm in FOLDERS}}
    summary["human_per_model_mean"] = {mm: float(np.mean([r["human"] for r in rec if r["model"] == mm])) for mm in FOLDERS}
    print(json.dumps(summary, indent=1))
    if args.out:
        args.out.write_text(json.dumps({"summary": summary, "records": rec}, indent=1))


if __name__ == "__main__":
    main()
