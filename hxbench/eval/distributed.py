"""torch.distributed scoring: ``torchrun --nproc_per_node N hxbench score ...``.

Each rank scores samples ``i % world_size == rank`` into its own resumable run directory
``<run_dir>/ranks/<rank>-of-<world>/`` (samples.jsonl + payloads, exactly as a shard), then
the ranks exchange their per-sample records and their metric states with
``all_gather_object`` (gloo on CPU, nccl on GPU). Every rank merges the states
(``Metric.merge``: float64 sums, so the aggregate is the same as one process up to float
summation order); rank 0 writes the merged ``samples.jsonl`` + payloads into ``<run_dir>``
and the results, recomputed by replaying the merged records, and checks that they equal the
merged state's ``compute()`` (``results.distributed["state_check"]``). The returned results
are identical on every rank.
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

from hxbench.errors import HxbenchError
from hxbench.eval.schema import RunResults, SampleRecord


def world() -> tuple[int, int]:
    """(rank, world_size) from an initialised process group or the torchrun environment."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def launched_distributed() -> bool:
    return world()[1] > 1


def init(backend: str | None = None) -> bool:
    """Join the torchrun process group; True when this call created it (and must destroy it)."""
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return False
    dist.init_process_group(backend or ("nccl" if torch.cuda.is_available() else "gloo"))
    return True


def score_distributed(samples: Sequence, metric_keys: Sequence[str], run_dir: str | Path,
                      device: str = "cpu", progress: bool = True, **header: Any) -> RunResults:
    import torch.distributed as dist

    from hxbench.metrics.base import build_metric
    from hxbench.eval.results import RunStore
    from hxbench.eval.scoring import SampleSource, score

    created = init()
    rank, size = world()
    run_dir = Path(run_dir)
    rank_dir = run_dir / "ranks" / f"{rank}-of-{size}"
    mine = [s for i, s in enumerate(samples) if i % size == rank]
    metrics = [build_metric(k, device=device) for k in metric_keys]
    records: list[SampleRecord] = []
    score(mine, metric_keys, run_dir=rank_dir, device=device, progress=progress and rank == 0,
          metrics=metrics, keep_records=records, **header)
    active = {m.key: m for m in metrics if _is_active(m)}
    local = {"rank": rank, "records": records, "dir": str(rank_dir),
             "states": {k: m.state_dict() for k, m in active.items()}}
    gathered: list[Any] = [None] * size
    dist.all_gather_object(gathered, local)

    # merge metric states: a fresh instance per other rank, merged into ours
    merged = {}
    for key, m in active.items():
        total = build_metric(key, device=device)
        for g in gathered:
            other = build_metric(key, device=device)
            other.load_state_dict(g["states"][key])
            total.merge(other)
        merged[key] = total

    if rank == 0:
        out = RunStore(run_dir)
        for g in sorted(gathered, key=lambda g: g["rank"]):
            src = RunStore(g["dir"])
            for rec in g["records"]:
                if out.get(rec.sample_id, rec.metric, rec.metric_version) is not None:
                    continue
                if rec.payload:
                    path = src.payload_path(rec.metric, rec.sample_id)
                    dst = out.payload_path(rec.metric, rec.sample_id)
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(path, dst)
                out.append(rec)
    dist.barrier()

    def never_load():
        raise HxbenchError("distributed merge found a sample that no rank scored")

    sources = [SampleSource(s.sample_id, never_load) for s in samples]
    # every rank replays the merged records (read-only for ranks > 0: nothing is pending)
    results = score(sources, metric_keys, run_dir=run_dir if rank == 0 else None, device=device,
                    progress=False, **header) if rank == 0 else None
    box = [results]
    dist.broadcast_object_list(box, src=0)
    results = box[0]
    results.distributed = {"world_size": size, "backend": dist.get_backend(),
                           "state_check": _check(results, merged)}
    if rank == 0:
        from hxbench.eval.results import write_json

        write_json(run_dir / "results.json", results.to_json())
    dist.barrier()
    if created:
        # a process group left to the interpreter's exit can abort the rank ("terminate called
        # without an active exception": gloo's threads outlive it), seen under load in the
        # two-process test
        dist.destroy_process_group()
    return results


def _is_active(m) -> bool:
    from hxbench.errors import MetricUnavailable

    try:
        m.check_available()
        return True
    except MetricUnavailable:
        return False


def _check(results: RunResults, merged: dict) -> str:
    """'ok' when the all_gather-merged states give the replayed aggregates (rel. 1e-6)."""
    bad = []
    for key, m in merged.items():
        entry = results.metrics.get(key)
        for out, agg in m.compute().items():
            row = entry.outputs.get(out) if entry is not None else None
            if row is None or agg.n != row.n:
                bad.append(f"{key}/{out}")
            elif not (math.isnan(row.value) and math.isnan(agg.value)) and not math.isclose(
                    row.value, agg.value, rel_tol=1e-6, abs_tol=1e-9):
                bad.append(f"{key}/{out}: {row.value} != {agg.value}")
    return "ok" if not bad else "mismatch: " + "; ".join(bad)
