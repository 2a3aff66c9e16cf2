"""Helpers shared by subcommands: argument groups, manifests from --task/--manifest, tables."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hxbench.errors import HxbenchError
from hxbench.html import fmt_number
from hxbench.io.manifest import Manifest, load_manifest

if TYPE_CHECKING:
    from hxbench.eval.schema import RunResults


def add_budget_arg(p: argparse.ArgumentParser) -> None:
    """``--memory-budget``: the working memory per metric and sample (hxbench.io.budget)."""
    p.add_argument("--memory-budget", default=None, metavar="SIZE",
                   help="working memory per metric and sample, e.g. 768M or 2G "
                        "(default: $HXBENCH_MEMORY_BUDGET, else 1/32 of RAM within 256M-1G)")


def add_manifest_args(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--task", help="task name (its manifest is read from the dataset folder)")
    src.add_argument("--manifest", type=Path, help="a manifest JSONL file")
    p.add_argument("--data", type=Path, default=None,
                   help="dataset root for --task (default: $HXBENCH_DATA or $HXBENCH_HOME/data/<dataset>)")


def resolve_manifest(args: argparse.Namespace) -> tuple[Manifest, Any]:
    """(manifest, task spec or None) from --task / --manifest."""
    if getattr(args, "manifest", None):
        return load_manifest(args.manifest), None
    from hxbench.eval.tasks import get_task

    task = get_task(args.task)
    path = task.manifest_path(args.data)
    if not path.is_file():
        from hxbench.data import require_manifest

        require_manifest(task.dataset, path, task.name)  # a public benchmark: import or fetch it
        raise HxbenchError(f"task {task.name}: manifest {path} not found; build the data with "
                           f"`hxbench synth --out {path.parent.parent}` or pass --data DIR")
    return load_manifest(path), task


def parse_shard(text: str | None) -> tuple[int, int]:
    if not text:
        return (0, 1)
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise HxbenchError(f"--shard must look like i/n (e.g. 0/4), got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise HxbenchError(f"--shard {text}: need 0 <= i < n")
    return i, n


def _cell(x: Any) -> str:
    return fmt_number(x, missing="-", nan="nan")


def print_results_table(results: RunResults) -> None:
    rows = [("metric", "output", "value", "n", "stderr", "95% CI", "failed")]
    notes = []
    for key, entry in results.metrics.items():
        if not entry.ok:
            rows.append((key, "-", "unavailable", "-", "-", "-", "-"))
            notes.append(f"{key}: {entry.reason}\n    fix: {entry.fix}")
            continue
        for out, row in entry.outputs.items():
            ci = row.ci95
            ci_text = f"[{_cell(ci[0])}, {_cell(ci[1])}]" if ci else "-"
            rows.append((key, out, _cell(row.value), _cell(row.n), _cell(row.stderr), ci_text,
                         str(entry.n_failed)))
            if row.note:
                notes.append(f"{key}: {row.note}")
        for f in entry.failures[:5]:
            notes.append(f"{key}: sample {f.sample_id!r} failed: {f.error}")
        notes += [f"{key}: warning: {n}" for n in entry.notes]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for j, r in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if j == 0:
            print("  ".join("-" * w for w in widths))
    for n in notes:
        print(n)


def print_group_table(results: RunResults, run_dir: Path) -> None:
    """The per-group breakdown (MoChaBench's per-category table) of a run whose sample ids are
    ``<group>/<name>``; prints nothing for other runs."""
    from hxbench.eval.groups import group_rows
    from hxbench.eval.schema import load_samples

    rows = group_rows(results, load_samples(run_dir).values())
    if not rows:
        return
    table = [("category", "metric", "output", "value", "n", "failed")]
    table += [(r.group, r.metric, r.output, _cell(r.value), str(r.n), str(r.n_failed)) for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    print("\nper category (sample ids <category>/<id>; mean over the samples that scored):")
    for j, r in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
        if j == 0:
            print("  ".join("-" * w for w in widths))


def dump_json(obj: Any) -> None:
    """Print ``obj`` as strict JSON: NaN and infinities become null (JSON has no NaN)."""
    from hxbench.eval.results import _json_default

    print(json.dumps(_finite(json.loads(json.dumps(obj, default=_json_default))), indent=2, allow_nan=False))


def _finite(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def score_outputs(manifest: Manifest, task: Any, outputs: Path, run_dir: Path, shard: tuple[int, int],
                  metrics: list[str] | None, device: str, progress: bool, model: dict[str, Any],
                  validate: Manifest | None = None) -> RunResults | None:
    """Validate ``outputs`` against the samples of ``validate`` (None: skip), then score this
    shard of ``manifest``; the one path that `hxbench score` and `hxbench run` share.

    Returns the results, or None when validation found problems (they are printed and
    nothing is computed). Under torchrun the ranks split the samples and merge their states.
    """
    from hxbench.eval.distributed import launched_distributed, score_distributed
    from hxbench.eval.inputs import from_manifest
    from hxbench.eval.scoring import score
    from hxbench.eval.validate import validate_outputs

    metric_keys = metrics or (task.metrics if task else None)
    if not metric_keys:
        raise HxbenchError("--metrics is required with --manifest")
    if validate is not None:
        problems = validate_outputs(validate, outputs)
        if problems:
            for p in problems:
                print(p)
            print(f"not scoring: {len(problems)} problem(s) in {outputs}; fix them"
                  + (" or pass --no-validate" if validate is manifest else ""))
            return None
    scorer = score_distributed if launched_distributed() else score
    return scorer(
        from_manifest(manifest, outputs, shard), metric_keys, run_dir=run_dir, device=device,
        progress=progress, task=task.identity() if task else None,
        dataset={"manifest": str(manifest.path), "revision": manifest.revision, "n_samples": len(manifest),
                 "shard": f"{shard[0]}/{shard[1]}"},
        model=model,
    )
