"""Per-group results: MoChaBench-style per-category breakdowns of a run.

Samples whose id is ``<group>/<name>`` (MoChaBench's ``<category>/<context_id>``) are also
aggregated per group: for every per-sample metric output, the mean over the group's samples
that scored, how many did, and how many failed (with the reason in ``samples.jsonl``). This is
the breakdown of MoChaBench's per-category table (its script averages each category over the
videos where a face was found). Set-level metrics (FID, FVD) have no per-sample values and no
per-group row. Computed from ``samples.jsonl``, so ``results.json`` keeps its schema.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from hxbench.eval.schema import RunResults, SampleRecord, load_samples
from hxbench.io.manifest import sample_group


@dataclass
class GroupRow:
    group: str
    metric: str
    output: str
    value: float  # mean over the group's scored samples (nan when none scored)
    n: int
    n_failed: int
    higher_is_better: bool | None = None


def group_rows(results: RunResults, records: Iterable[SampleRecord]) -> list[GroupRow]:
    """One row per (group, metric, output) of a run's per-sample records (the records of the
    metric versions in ``results``); empty when no sample id has a group."""
    values: dict[tuple[str, str, str], list[float]] = {}
    failed: dict[tuple[str, str], int] = {}
    groups: set[str] = set()
    for rec in records:
        group = sample_group(rec.sample_id)
        entry = results.metrics.get(rec.metric)
        if group is None or entry is None or not entry.ok or rec.metric_version != entry.version:
            continue
        groups.add(group)
        if rec.error is not None:
            failed[(group, rec.metric)] = failed.get((group, rec.metric), 0) + 1
            continue
        for out, v in (rec.values or {}).items():
            if v is not None and not (isinstance(v, float) and math.isnan(v)):
                values.setdefault((group, rec.metric, out), []).append(float(v))
    rows = []
    for key, entry in results.metrics.items():
        if not entry.ok:
            continue
        for out, agg in entry.outputs.items():
            for group in sorted(groups):
                vs = values.get((group, key, out), [])
                nf = failed.get((group, key), 0)
                if not vs and not nf:
                    continue
                rows.append(GroupRow(group, key, out, sum(vs) / len(vs) if vs else float("nan"), len(vs), nf,
                                     agg.higher_is_better))
    return rows


def run_group_rows(run_dir: str | Path) -> list[GroupRow]:
    """``group_rows`` of a run directory (or a result bundle)."""
    return group_rows(RunResults.load(run_dir), load_samples(run_dir).values())


def group_frame(run_dir: str | Path):
    """The per-group rows as a pandas DataFrame (group, metric, output, value, n, n_failed)."""
    import pandas as pd

    rows = run_group_rows(run_dir)
    return pd.DataFrame([r.__dict__ for r in rows],
                        columns=["group", "metric", "output", "value", "n", "n_failed", "higher_is_better"])
