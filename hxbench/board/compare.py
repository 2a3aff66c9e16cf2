"""Regression checks: compare two runs (or result bundles) metric by metric.

For each metric output the difference ``new - base`` gets a confidence interval and a
decision at level ``alpha``:

- **per-sample metrics** (SSIM, PSNR, LPIPS, Sync ...): *paired* bootstrap over the samples
  both runs scored: resample sample ids with replacement, the statistic is the mean of the
  per-sample differences; the CI is the percentile interval [alpha/2, 1 - alpha/2].
- **set-level metrics** (FID / FVD): *set* bootstrap from the stored payload features:
  resample sample ids with replacement (the same draw for both runs), rebuild each run's
  gen and ref feature statistics from the drawn samples' features (a sample drawn k times
  counts k times) and recompute both Fréchet distances; the statistic is their difference.

Both come from ``hxbench.stats.bootstrap`` with its defaults (1000 draws; set-level draws
100 within a compute budget, each being two Fréchet distances).

Decision: ``better`` / ``worse`` when the CI excludes zero (and ``|diff| > min_effect``) in
the metric's good / bad direction, else ``same``; metrics without a direction (e.g. an AV
offset) get ``differs`` or ``same`` and never count as a regression.

Runs are only compared when comparable: same task name and version, same manifest revision
and, per metric, the same key (name + variant), version and weight sha256s. Otherwise
``NotComparable`` lists every reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from hxbench.errors import HxbenchError
from hxbench.eval.schema import RunResults, SampleRecord, load_samples
from hxbench.stats.bootstrap import DEFAULT_ALPHA, DEFAULT_N_BOOT, DEFAULT_SEED, paired_bootstrap, paired_set_bootstrap

SET_LEVEL = ("fid", "fvd")


class NotComparable(HxbenchError):
    def __init__(self, reasons: list[str]) -> None:
        self.reasons = reasons
        super().__init__("refusing to compare: " + "; ".join(reasons))


@dataclass
class Run:
    path: Path
    results: RunResults
    records: dict[tuple[str, str], SampleRecord]  # latest record per (sample_id, metric key)

    @property
    def name(self) -> str:
        return (self.results.model or {}).get("name") or self.path.name

    def values(self, key: str, out: str) -> dict[str, float]:
        return {sid: r.values[out] for (sid, k), r in self.records.items()
                if k == key and r.values is not None and out in r.values}

    def payload_ids(self, key: str) -> list[str]:
        return sorted(sid for (sid, k), r in self.records.items() if k == key and r.payload)

    def payload(self, key: str, sid: str) -> dict[str, np.ndarray]:
        from hxbench.eval.results import _safe

        path = self.path / "payloads" / _safe(key) / f"{sid}.npz"
        if not path.is_file():
            raise HxbenchError(f"{self.path}: payload of {key} for sample {sid!r} is missing ({path})")
        with np.load(path) as z:
            return {k: z[k] for k in z.files}


def load_run(path: str | Path) -> Run:
    """A run directory or a result bundle (both hold results.json and samples.jsonl)."""
    path = Path(path)
    rj = path / "results.json"
    if not rj.is_file():
        raise HxbenchError(f"{path}: no results.json (not a run directory or result bundle)")
    return Run(path, RunResults.load(path), load_samples(path))


def comparability(base: Run, new: Run, keys: Sequence[str]) -> list[str]:
    """Every reason why these runs' ``keys`` must not be compared (empty = comparable)."""
    reasons = []
    tb, tn = base.results.task or {}, new.results.task or {}
    if tb.get("name") != tn.get("name"):
        reasons.append(f"different tasks: {tb.get('name')} vs {tn.get('name')}")
    elif tb.get("version") != tn.get("version"):
        reasons.append(f"task {tb.get('name')}: version {tb.get('version')} vs {tn.get('version')}")
    rb = (base.results.dataset or {}).get("revision")
    rn = (new.results.dataset or {}).get("revision")
    if rb != rn:
        reasons.append(f"different manifest revisions: {rb} vs {rn} (different samples or inputs)")
    for key in keys:
        eb, en = base.results.metrics.get(key), new.results.metrics.get(key)
        if eb is None or en is None:
            have = sorted(base.results.metrics if eb is None else new.results.metrics)
            which = "base" if eb is None else "new"
            reasons.append(f"{key} is not in the {which} run (it has: {', '.join(have)}); "
                           "a different variant is a different metric")
            continue
        for e, who in ((eb, "base"), (en, "new")):
            if not e.ok:
                reasons.append(f"{key} is {e.status} in the {who} run")
        if not eb.ok or not en.ok:
            continue
        if eb.version != en.version:
            reasons.append(f"{key}: metric version {eb.version} vs {en.version}")
        if eb.weights != en.weights:
            diff = sorted(set(eb.weights.items()) ^ set(en.weights.items()))
            reasons.append(f"{key}: different weights ({', '.join(f'{n}={str(s)[:12]}' for n, s in diff)})")
    return reasons


@dataclass
class Row:
    key: str
    output: str
    kind: str  # paired | set
    base: float | None
    new: float | None
    diff: float | None
    ci: tuple[float, float] | None
    n: int
    higher_is_better: bool | None
    decision: str
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"metric": self.key, "output": self.output, "method": self.kind, "base": self.base,
                "new": self.new, "diff": self.diff, "ci": list(self.ci) if self.ci else None, "n": self.n,
                "higher_is_better": self.higher_is_better, "decision": self.decision, "notes": self.notes}


def set_bootstrap(base: Run, new: Run, key: str, n_boot: int | None = None, alpha: float = DEFAULT_ALPHA,
                  seed: int = DEFAULT_SEED) -> tuple[float, float, float, tuple[float, float] | None, int]:
    """(base FD, new FD, diff, CI of diff, n samples) from payload features, paired draws
    (``hxbench.stats.bootstrap.paired_set_bootstrap``; n_boot None: its set-level default)."""
    from hxbench.metrics.base import build_metric

    ddof = getattr(build_metric(key), "ddof", 1)
    ids = sorted(set(base.payload_ids(key)) & set(new.payload_ids(key)))
    if len(ids) < 2:
        raise HxbenchError(f"{key}: fewer than 2 samples with stored features in both runs")
    blocks = []
    for run in (base, new):
        gens, refs = [], []
        for sid in ids:
            p = run.payload(key, sid)
            if "ref" not in p:
                raise HxbenchError(f"{run.path}: {key} was scored against precomputed reference statistics "
                                   "(no per-sample ref features); the set bootstrap needs them")
            gens.append(p["gen"])
            refs.append(p["ref"])
        blocks.append((gens, refs))
    dim = blocks[0][0][0].shape[-1]
    fb, fn, ci = paired_set_bootstrap(blocks[0], blocks[1], dim, ddof, n_boot, alpha, seed)
    return fb, fn, fn - fb, ci, len(ids)


def _decide(diff: float, ci: tuple[float, float] | None, hib: bool | None, min_effect: float,
            scale: float) -> str:
    tol = max(min_effect, 1e-9 * max(1.0, abs(scale)))  # float noise of a bit-identical re-run
    if ci is None or abs(diff) <= tol:
        return "same"
    if ci[0] > 0 or ci[1] < 0:
        if hib is None:
            return "differs"
        return "better" if (diff > 0) == hib else "worse"
    return "same"


def compare_runs(base: Run, new: Run, metrics: Sequence[str] | None = None, alpha: float = DEFAULT_ALPHA,
                 n_boot: int = DEFAULT_N_BOOT, n_boot_set: int | None = None, min_effect: float = 0.0,
                 seed: int = DEFAULT_SEED) -> list[Row]:
    """Compare ``new`` against ``base``; raises NotComparable with every reason if they differ
    in task, manifest revision, or a metric's variant / version / weights."""
    keys = list(metrics) if metrics else [k for k, m in base.results.metrics.items()
                                          if k in new.results.metrics and m.ok]
    if not keys:
        raise NotComparable(["the runs have no metric in common; pass --metrics KEY[variant]"])
    reasons = comparability(base, new, keys)
    if reasons:
        raise NotComparable(reasons)
    rows = []
    for key in keys:
        entry = base.results.metrics[key]
        name = entry.metric or key.split("[")[0]
        for out, brow in entry.outputs.items():
            nrow = new.results.metrics[key].outputs.get(out)
            hib = brow.higher_is_better
            if name in SET_LEVEL or (not base.values(key, out) and base.payload_ids(key)):
                fb, fn, diff, ci, n = set_bootstrap(base, new, key, n_boot_set, alpha, seed)
                row = Row(key, out, "set", fb, fn, diff, ci, n, hib, _decide(diff, ci, hib, min_effect, fb))
                for v, rv, who in ((fb, brow.value, "base"), (fn, nrow.value if nrow else None, "new")):
                    if rv is not None and not math.isclose(v, rv, rel_tol=1e-4, abs_tol=1e-6):
                        row.notes.append(f"{who} value from payloads {v:.6g} differs from results.json {rv:.6g}")
                rows.append(row)
                continue
            vb, vn = base.values(key, out), new.values(key, out)
            common = sorted(set(vb) & set(vn))
            notes = []
            for only, who in ((set(vb) - set(vn), "base"), (set(vn) - set(vb), "new")):
                if only:
                    notes.append(f"{len(only)} sample(s) scored only in the {who} run (failed in the other): "
                                 f"{', '.join(sorted(only)[:5])}")
            if not common:
                rows.append(Row(key, out, "paired", None, None, None, None, 0, hib, "no-data", notes))
                continue
            b = np.array([vb[s] for s in common])
            nw = np.array([vn[s] for s in common])
            diff, ci = paired_bootstrap(b, nw, n_boot, alpha, seed)
            rows.append(Row(key, out, "paired", float(b.mean()), float(nw.mean()), diff, ci, len(common), hib,
                            _decide(diff, ci, hib, min_effect, float(b.mean())), notes))
    return rows


def format_table(rows: list[Row], alpha: float) -> str:
    def f(x):
        return "-" if x is None else (f"{x:+.4g}" if isinstance(x, float) else str(x))

    head = ("metric", "output", "base", "new", "diff", f"{100 * (1 - alpha):g}% CI", "n", "method", "decision")
    lines = [head]
    for r in rows:
        ci = f"[{r.ci[0]:+.4g}, {r.ci[1]:+.4g}]" if r.ci else "-"
        dirn = {True: "↑", False: "↓"}.get(r.higher_is_better, "")
        lines.append((r.key, f"{r.output}{dirn}", "-" if r.base is None else f"{r.base:.4f}",
                      "-" if r.new is None else f"{r.new:.4f}", f(r.diff), ci, str(r.n), r.kind,
                      r.decision.upper() if r.decision == "worse" else r.decision))
    w = [max(len(x[i]) for x in lines) for i in range(len(head))]
    text = ["  ".join(c.ljust(wi) for c, wi in zip(x, w)).rstrip() for x in lines]
    text.insert(1, "  ".join("-" * wi for wi in w))
    for r in rows:
        text += [f"note: {r.key}.{r.output}: {n}" for n in r.notes]
    return "\n".join(text)
