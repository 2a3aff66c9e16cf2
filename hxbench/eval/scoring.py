"""The scoring loop: metrics over samples, resumable, with per-sample records.

``score(samples, metric_keys, run_dir)`` decodes each sample once for all metrics, appends
one record per (sample, metric) to ``samples.jsonl`` as soon as it is computed, and on a
re-run replays the stored records instead of recomputing them. A sample that a metric
cannot score (no face, no audio, corrupt file) is recorded with its error and counted as
failed; a metric that cannot run at all (missing weights) is reported as unavailable with
the command that fixes it. Nothing is estimated.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from hxbench.errors import HxbenchError, MediaError, MetricUnavailable, SampleError
from hxbench.io.budget import trim_freed_memory
from hxbench.metrics.base import SAMPLE_FAILURES, Metric, PerSampleMetric, SampleData, SampleScore, build_metric
from hxbench.metrics.stream import run_streams
import hxbench
from hxbench.eval.results import RunStore, environment, git_hash, write_json
from hxbench.eval.schema import MetricResult, OutputValue, RunResults, SampleFailure, SampleRecord
from hxbench.stats.bootstrap import bootstrap_ci


@dataclass
class SampleSource:
    """A sample to score: its id and a function that loads its data (called at most once)."""

    sample_id: str
    load: Callable[[], SampleData]
    # sha256 of the sample's inputs; a stored record is reused only if it matches, so a
    # regenerated or replaced output is rescored (None: no check, e.g. when merging shards)
    fingerprint: Callable[[], str] | None = None


def _progress(iterable: Iterable | None, total: int, desc: str, enabled: bool):
    if not enabled:
        return iterable
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="sample", file=sys.stderr,
                dynamic_ncols=True, leave=False)


def score(
    samples: Sequence[SampleSource],
    metric_keys: Sequence[str],
    run_dir: str | Path | None = None,
    device: str = "cpu",
    progress: bool = True,
    task: dict | None = None,
    dataset: dict | None = None,
    model: dict | None = None,
    metrics: Sequence[Metric] | None = None,
    keep_records: list[SampleRecord] | None = None,
) -> RunResults:
    """Score ``samples`` with the metrics; returns the results (also written to
    ``run_dir/results.json`` when a run directory is given). ``keep_records``, if given,
    receives every per-sample record (stored and new)."""
    if metrics is None:
        metrics = [build_metric(key, device=device) for key in metric_keys]
    store = RunStore(run_dir) if run_dir is not None else None
    memory: dict[tuple[str, str], SampleRecord] = {}  # records when there is no run directory

    unavailable: dict[str, MetricUnavailable] = {}
    active: list[Metric] = []
    for m in metrics:
        try:
            m.check_available()
            active.append(m)
        except MetricUnavailable as err:
            unavailable[m.key] = err

    per_sample_values: dict[str, dict[str, list[float]]] = {m.key: {} for m in active}
    failures: dict[str, list[SampleFailure]] = {m.key: [] for m in active}
    n_reused = 0

    # Samples are scored in small batches so that metrics with a network can batch their
    # forward passes across samples (``Metric.batch_samples``); each sample is still decoded
    # once for all metrics, and at most one batch of samples is held in memory.
    batch_size = max([getattr(m, "batch_samples", 1) for m in active] + [1])
    bar = _progress(None, len(samples), "scoring", progress) if progress else None
    for start in range(0, len(samples), batch_size):
        chunk = samples[start:start + batch_size]
        todo: list[tuple[SampleSource, str | None, list[Metric]]] = []
        for source in chunk:
            # the input's hash decides whether a stored record is still valid; without a run
            # directory nothing is stored, and hashing a long video would only cost time
            try:
                fingerprint = source.fingerprint() if source.fingerprint and store is not None else None
            except (OSError, HxbenchError):
                fingerprint = "unreadable"
            pending = []
            for m in active:
                rec = store.get(source.sample_id, m.key, m.version) if store else memory.get((source.sample_id, m.key))
                if rec is not None and fingerprint is not None and rec.input_sha256 != fingerprint:
                    rec = None  # the output changed since it was scored
                if rec is None:
                    pending.append(m)
                    continue
                n_reused += 1
                _absorb(m, rec, store, per_sample_values, failures)
                if keep_records is not None:
                    keep_records.append(rec)
            if pending:
                todo.append((source, fingerprint, pending))
        loaded: dict[str, tuple[SampleData | None, str | None]] = {}
        for source, _, _ in todo:
            try:
                loaded[source.sample_id] = (source.load(), None)
            except (MediaError, SampleError, HxbenchError, OSError) as err:
                loaded[source.sample_id] = (None, str(err))
        def record(src: SampleSource, fp: str | None, m: Metric, outcome) -> None:
            """Write one (sample, metric) record as soon as it is known (a kill loses only
            what is in flight) and add it to the aggregates."""
            rec = SampleRecord(src.sample_id, m.key, m.version, input_sha256=fp)
            if outcome is None:
                rec.error = loaded[src.sample_id][1]
            elif isinstance(outcome, Exception):
                rec.error = str(outcome)
            else:
                rec.values = outcome.values
                if outcome.payload is not None and store is not None:
                    store.save_payload(m.key, src.sample_id, outcome.payload)
                    rec.payload = True
            if store is not None:
                store.append(rec)
            else:
                memory[(src.sample_id, m.key)] = rec
            _collect(m, rec, per_sample_values, failures)
            if keep_records is not None:
                keep_records.append(rec)

        # Decode once: each sample's videos are read in one pass that feeds the streams of all
        # its streaming metrics (``hxbench.metrics.stream``); the other metrics are scored
        # below through ``update_batch`` (network passes batched across samples).
        done: set[tuple[str, str]] = set()
        for source, fp, pending in todo:
            sample, load_error = loaded[source.sample_id]
            if load_error is not None:
                continue
            streams = {}
            for m in pending:
                try:
                    stream = m.open_stream(sample)
                except SAMPLE_FAILURES as err:
                    record(source, fp, m, err)
                    done.add((source.sample_id, m.key))
                    continue
                if stream is not None:
                    streams[m.key] = (m, stream)
            if not streams:
                continue
            errors = run_streams(sample, {key: st for key, (_, st) in streams.items()})
            for key, (m, stream) in streams.items():
                try:
                    if errors[key] is not None:
                        raise errors[key]
                    outcome = m.close_stream(sample, stream)
                except SAMPLE_FAILURES as err:
                    outcome = err
                trim_freed_memory()  # a finishing pass's freed activations, before the next one
                record(source, fp, m, outcome)
                done.add((source.sample_id, key))
            sample.shared.clear()
        for m in active:
            mine = [(src, fp) for src, fp, pending in todo
                    if m in pending and (src.sample_id, m.key) not in done]
            batch = [(src, fp) for src, fp in mine if loaded[src.sample_id][1] is None]
            outcomes = m.update_batch([loaded[src.sample_id][0] for src, _ in batch]) if batch else []
            for (src, fp), outcome in zip(batch, outcomes):
                record(src, fp, m, outcome)
            for src, fp in mine:
                if loaded[src.sample_id][1] is not None:
                    record(src, fp, m, None)  # the sample could not be loaded
        del loaded  # this batch's frames are freed before the next batch is decoded
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()

    entries: dict[str, MetricResult] = {}
    for m in active:
        info = m.info()
        outputs = {}
        for out, agg in m.compute().items():
            row = OutputValue(agg.value, agg.n, agg.stderr,
                              higher_is_better={"higher": True, "lower": False}.get(m.outputs.get(out, ""), None),
                              note=agg.note)
            values = per_sample_values[m.key].get(out)
            if isinstance(m, PerSampleMetric) and values:
                ci = bootstrap_ci(values)
                row.ci95, row.bootstrapped = ci, True
            elif hasattr(m, "bootstrap_ci"):
                ci = m.bootstrap_ci(out, payloads=_stored_payloads(m, store))
                row.ci95, row.bootstrapped = (tuple(ci) if ci else None), True
            outputs[out] = row
        entries[m.key] = MetricResult(m.key, "ok", metric=info["metric"], variant=info["variant"],
                                      version=info["version"], weights=info["weights"], outputs=outputs,
                                      n_failed=len(failures[m.key]), failures=failures[m.key][:50],
                                      notes=m.result_notes())
    for key, err in unavailable.items():
        entries[key] = MetricResult(key, "unavailable", reason=err.reason, fix=err.fix)
    results = RunResults(hxbench_version=hxbench.__version__, git_hash=git_hash(),
                         created=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), task=task, dataset=dataset,
                         model=model, environment=environment(), n_samples=len(samples),
                         n_reused_records=n_reused, metrics=entries)
    if run_dir is not None:
        write_json(Path(run_dir) / "results.json", results.to_json())
    return results


def _stored_payloads(m: Metric, store: RunStore | None) -> list[dict] | None:
    """Per-sample payloads of a set metric (for its bootstrap over samples); None without a run dir."""
    if store is None:
        return None
    return [store.load_payload(m.key, r.sample_id) for r in store.records(m.key)
            if r.payload and r.metric_version == m.version]


def _absorb(m: Metric, rec: SampleRecord, store: RunStore | None, values, failures) -> None:
    """Rebuild metric state from a stored record (no recomputation)."""
    if rec.values is not None:
        payload = store.load_payload(m.key, rec.sample_id) if (store and rec.payload) else None
        if rec.payload and payload is None:
            raise HxbenchError(f"run directory is missing the payload of {m.key} for sample "
                               f"{rec.sample_id!r}; delete its line in samples.jsonl to recompute it")
        m.replay(SampleScore(values=rec.values, payload=payload))
    _collect(m, rec, values, failures)


def _collect(m: Metric, rec: SampleRecord, values, failures) -> None:
    if rec.error is not None:
        failures[m.key].append(SampleFailure(rec.sample_id, rec.error))
        return
    for out, v in rec.values.items():
        values[m.key].setdefault(out, []).append(v)


def merge_runs(run_dirs: Sequence[str | Path], out_dir: str | Path, metric_keys: Sequence[str],
               sample_ids: Sequence[str], **header: Any) -> RunResults:
    """Merge shard run directories into one and aggregate (records are replayed, not recomputed).

    Every sample must be present in exactly one shard for each metric.
    """
    out = RunStore(out_dir)
    seen: dict[tuple[str, str], Path] = {}
    for run_dir in run_dirs:
        shard = RunStore(run_dir)
        for rec in shard.records():
            key = (rec.sample_id, rec.metric)
            if key in seen and Path(run_dir) != seen[key]:
                raise HxbenchError(f"sample {rec.sample_id!r} of {rec.metric} is in two shards: "
                                   f"{seen[key]} and {run_dir}")
            seen[key] = Path(run_dir)
            if out.get(rec.sample_id, rec.metric, rec.metric_version) is None:
                if rec.payload:
                    payload = shard.load_payload(rec.metric, rec.sample_id)
                    if payload is None:
                        raise HxbenchError(f"{run_dir}: payload of {rec.metric} for {rec.sample_id!r} is missing")
                    out.save_payload(rec.metric, rec.sample_id, payload)
                out.append(rec)

    def never_load() -> SampleData:
        raise HxbenchError("merge found a sample that no shard scored")

    sources = [SampleSource(sid, never_load) for sid in sample_ids]
    return score(sources, metric_keys, run_dir=out_dir, progress=False, **header)
