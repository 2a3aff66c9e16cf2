"""The results schema: typed views of ``results.json`` and the lines of ``samples.jsonl``.

Every reader and writer of a run directory goes through these classes, so a field is named
in one place and a malformed or newer file fails with the file and field it is about.
``to_json()`` gives back exactly the keys and key order that ``from_json()`` read (and that
the scoring loop has always written), so loading and rewriting a file never changes its
bytes: result bundles keep their hashes. A change of the JSON layout bumps
``SCHEMA_VERSION``; files of an older version must keep loading (tests/data/results_v1).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from hxbench.errors import HxbenchError

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = 1
Status = Literal["ok", "unavailable"]


class SchemaError(HxbenchError):
    """A results file or record does not follow the schema; the message names the field."""


def _get(data: Any, name: str, types: type | tuple[type, ...], where: str, optional: bool = False) -> Any:
    """``data[name]``, checked to be of ``types`` (or None when ``optional``)."""
    if name not in _dict(data, where):
        raise SchemaError(f"{where}: missing field {name!r}")
    value = data[name]
    if value is None and optional:
        return None
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in _tuple(types)):
        raise SchemaError(f"{where}.{name}: expected {_names(types)}, got {json.dumps(value)[:80]}")
    return value


def _tuple(types: type | tuple[type, ...]) -> tuple[type, ...]:
    return types if isinstance(types, tuple) else (types,)


def _names(types: type | tuple[type, ...]) -> str:
    return " or ".join(t.__name__ for t in _tuple(types))


def _no_unknown(data: dict, known: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise SchemaError(f"{where}: unknown field(s) {unknown} (written by a newer hxbench?)")


NUMBER = (int, float)


@dataclass
class OutputValue:
    """One output of a metric: the aggregate, its standard error and 95% bootstrap CI.

    ``bootstrapped`` tells an output without a CI key (no bootstrap for it: a set metric
    without one, or no successful sample) from one whose bootstrap gave ``ci95`` None
    (too few samples); the file keeps that difference.
    """

    value: float
    n: int
    stderr: float | None = None
    higher_is_better: bool | None = None
    ci95: tuple[float, float] | None = None
    bootstrapped: bool = False
    note: str | None = None  # why there is no value or what limits it (e.g. too few samples)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": self.value, "n": self.n, "stderr": self.stderr,
                               "higher_is_better": self.higher_is_better}
        if self.bootstrapped:
            out["ci95"] = list(self.ci95) if self.ci95 is not None else None
        if self.note:
            out["note"] = self.note
        return out

    @classmethod
    def from_json(cls, data: Any, where: str) -> "OutputValue":
        _no_unknown(_dict(data, where), ("value", "n", "stderr", "higher_is_better", "ci95", "note"), where)
        ci = _get(data, "ci95", list, where, optional=True) if "ci95" in data else None
        if ci is not None and (len(ci) != 2 or not all(isinstance(x, NUMBER) for x in ci)):
            raise SchemaError(f"{where}.ci95: expected [low, high], got {ci}")
        return cls(value=_get(data, "value", NUMBER, where), n=_get(data, "n", int, where),
                   stderr=_get(data, "stderr", NUMBER, where, optional=True),
                   higher_is_better=_get(data, "higher_is_better", bool, where, optional=True),
                   ci95=(ci[0], ci[1]) if ci is not None else None, bootstrapped="ci95" in data,
                   note=_get(data, "note", str, where, optional=True) if "note" in data else None)


@dataclass
class SampleFailure:
    sample_id: str
    error: str


@dataclass
class MetricResult:
    """One metric of a run: its identity (``Metric.info()``) and outputs, or why it is
    unavailable and the command that fixes it (never an estimate)."""

    key: str  # name[variant]
    status: Status
    metric: str | None = None
    variant: str | None = None
    version: str | None = None
    weights: dict[str, str | None] = field(default_factory=dict)  # weight name -> sha256
    outputs: dict[str, OutputValue] = field(default_factory=dict)
    n_failed: int = 0
    failures: list[SampleFailure] = field(default_factory=list)  # the first 50
    reason: str | None = None
    fix: str | None = None
    notes: list[str] = field(default_factory=list)  # caveats (Metric.result_notes); absent when none

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        if not self.ok:
            return {"key": self.key, "status": self.status, "reason": self.reason, "fix": self.fix}
        out = {"metric": self.metric, "variant": self.variant, "key": self.key, "version": self.version,
               "weights": dict(self.weights), "outputs": {k: o.to_json() for k, o in self.outputs.items()},
               "status": self.status, "n_failed": self.n_failed,
               "failures": [{"sample_id": f.sample_id, "error": f.error} for f in self.failures]}
        if self.notes:
            out["notes"] = list(self.notes)
        return out

    @classmethod
    def from_json(cls, data: Any, where: str) -> "MetricResult":
        status = _get(data, "status", str, where)
        key = _get(data, "key", str, where)
        if status == "unavailable":
            _no_unknown(data, ("key", "status", "reason", "fix"), where)
            return cls(key, status, reason=_get(data, "reason", str, where), fix=_get(data, "fix", str, where))
        if status != "ok":
            raise SchemaError(f"{where}.status: expected 'ok' or 'unavailable', got {status!r}")
        _no_unknown(data, ("metric", "variant", "key", "version", "weights", "outputs", "status",
                           "n_failed", "failures", "notes"), where)
        outputs = _get(data, "outputs", dict, where)
        failures = []
        for i, f in enumerate(_get(data, "failures", list, where)):
            fw = f"{where}.failures[{i}]"
            failures.append(SampleFailure(_get(f, "sample_id", str, fw), _get(f, "error", str, fw)))
        return cls(key, status, metric=_get(data, "metric", str, where), variant=_get(data, "variant", str, where),
                   version=_get(data, "version", str, where), weights=_get(data, "weights", dict, where),
                   outputs={k: OutputValue.from_json(v, f"{where}.outputs.{k}") for k, v in outputs.items()},
                   n_failed=_get(data, "n_failed", int, where), failures=failures,
                   notes=[str(n) for n in data.get("notes", [])])


_RESULTS_FIELDS = ("schema_version", "hxbench_version", "git_hash", "created", "task", "dataset", "model",
                   "environment", "n_samples", "n_reused_records", "metrics", "distributed")


@dataclass
class RunResults:
    """``results.json``: the run's identity (versions, task, dataset revision, environment)
    and one ``MetricResult`` per metric key. ``distributed`` is set by torchrun scoring."""

    hxbench_version: str
    git_hash: str | None
    created: str  # UTC, ISO 8601
    task: dict[str, Any] | None
    dataset: dict[str, Any] | None
    model: dict[str, Any] | None
    environment: dict[str, Any]
    n_samples: int
    n_reused_records: int
    metrics: dict[str, MetricResult]
    distributed: dict[str, Any] | None = None
    schema_version: int = SCHEMA_VERSION

    def to_json(self) -> dict[str, Any]:
        out = {"schema_version": self.schema_version, "hxbench_version": self.hxbench_version,
               "git_hash": self.git_hash, "created": self.created, "task": self.task, "dataset": self.dataset,
               "model": self.model, "environment": self.environment, "n_samples": self.n_samples,
               "n_reused_records": self.n_reused_records,
               "metrics": {k: m.to_json() for k, m in self.metrics.items()}}
        if self.distributed is not None:
            out["distributed"] = self.distributed
        return out

    @classmethod
    def from_json(cls, data: Any, where: str = "results") -> "RunResults":
        version = _get(data, "schema_version", int, where)
        if version > SCHEMA_VERSION:
            raise SchemaError(f"{where}: schema_version {version} is newer than this hxbench reads "
                              f"({SCHEMA_VERSION}); upgrade hxbench")
        _no_unknown(data, _RESULTS_FIELDS, where)
        metrics = _get(data, "metrics", dict, where)
        return cls(hxbench_version=_get(data, "hxbench_version", str, where),
                   git_hash=_get(data, "git_hash", str, where, optional=True),
                   created=_get(data, "created", str, where),
                   task=_get(data, "task", dict, where, optional=True),
                   dataset=_get(data, "dataset", dict, where, optional=True),
                   model=_get(data, "model", dict, where, optional=True),
                   environment=_get(data, "environment", dict, where),
                   n_samples=_get(data, "n_samples", int, where),
                   n_reused_records=_get(data, "n_reused_records", int, where),
                   metrics={k: MetricResult.from_json(m, f"{where}: metrics.{k}") for k, m in metrics.items()},
                   distributed=_get(data, "distributed", dict, where, optional=True) if "distributed" in data else None,
                   schema_version=version)

    @classmethod
    def load(cls, run_dir: str | Path) -> "RunResults":
        """``run_dir/results.json`` (a run directory or a result bundle)."""
        path = Path(run_dir) / "results.json"
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise SchemaError(f"{path}: not valid JSON ({err})") from None
        return cls.from_json(data, str(path))

    def samples_frame(self, run_dir: str | Path) -> "pd.DataFrame":
        """The per-sample records behind these results: one row per sample x metric x output
        (an error row has output and value NaN); records of other metric versions, left
        in ``samples.jsonl`` by an earlier run, are not part of these results and are dropped."""
        import pandas as pd

        rows = []
        for rec in load_samples(run_dir).values():
            m = self.metrics.get(rec.metric)
            if m is None or not m.ok or rec.metric_version != m.version:
                continue
            base = {"sample_id": rec.sample_id, "metric": rec.metric, "metric_version": rec.metric_version}
            if rec.error is not None:
                rows.append({**base, "output": None, "value": float("nan"), "error": rec.error})
            rows += [{**base, "output": out, "value": v, "error": None} for out, v in (rec.values or {}).items()]
        return pd.DataFrame(rows, columns=["sample_id", "metric", "metric_version", "output", "value", "error"])

    def metrics_frame(self) -> "pd.DataFrame":
        """One row per metric x output (an unavailable metric: one row, with its reason)."""
        import pandas as pd

        rows = []
        for key, m in self.metrics.items():
            base = {"metric": key, "status": m.status, "version": m.version, "n_failed": m.n_failed,
                    "reason": m.reason}
            if not m.outputs:
                rows.append({**base, "output": None})
            for out, o in m.outputs.items():
                rows.append({**base, "output": out, "value": o.value, "n": o.n, "stderr": o.stderr,
                             "ci95_low": o.ci95[0] if o.ci95 else None, "ci95_high": o.ci95[1] if o.ci95 else None,
                             "higher_is_better": o.higher_is_better})
        return pd.DataFrame(rows, columns=["metric", "output", "status", "version", "value", "n", "stderr",
                                           "ci95_low", "ci95_high", "higher_is_better", "n_failed", "reason"])


@dataclass
class SampleRecord:
    """One line of ``samples.jsonl``: a metric's values for one sample, or its error.

    ``input_sha256`` fingerprints the sample's inputs (a record is reused only for the same
    files); ``payload`` says that ``payloads/<metric>/<sample_id>.npz`` holds its features.
    """

    sample_id: str
    metric: str  # key: name[variant]
    metric_version: str
    values: dict[str, float] | None = None
    error: str | None = None
    input_sha256: str | None = None
    payload: bool = False

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sample_id": self.sample_id, "metric": self.metric,
                               "metric_version": self.metric_version}
        if self.input_sha256 is not None:
            out["input_sha256"] = self.input_sha256
        if self.error is not None:
            out["error"] = self.error
        if self.values is not None:
            out["values"] = self.values
        if self.payload:
            out["payload"] = True
        return out

    @classmethod
    def from_json(cls, data: Any, where: str) -> "SampleRecord":
        _no_unknown(_dict(data, where), ("sample_id", "metric", "metric_version", "input_sha256", "error",
                                         "values", "payload"), where)
        if ("values" in data) == ("error" in data):
            raise SchemaError(f"{where}: a record has either 'values' or 'error'")
        values = _get(data, "values", dict, where) if "values" in data else None
        return cls(sample_id=_get(data, "sample_id", str, where), metric=_get(data, "metric", str, where),
                   metric_version=_get(data, "metric_version", str, where), values=values,
                   error=_get(data, "error", str, where) if "error" in data else None,
                   input_sha256=_get(data, "input_sha256", str, where) if "input_sha256" in data else None,
                   payload=_get(data, "payload", bool, where) if "payload" in data else False)


def _dict(data: Any, where: str) -> dict:
    if not isinstance(data, dict):
        raise SchemaError(f"{where}: expected a JSON object, got {type(data).__name__}")
    return data


def parse_record(line: str | bytes, where: str) -> SampleRecord:
    """One ``samples.jsonl`` line."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as err:
        raise SchemaError(f"{where}: not valid JSON ({err})") from None
    return SampleRecord.from_json(data, where)


def load_samples(run_dir: str | Path) -> dict[tuple[str, str], SampleRecord]:
    """The latest record per (sample_id, metric key) of ``run_dir/samples.jsonl``, read-only
    (a later line supersedes an earlier one); empty when there is no such file."""
    path = Path(run_dir) / "samples.jsonl"
    if not path.is_file():
        return {}
    latest: dict[tuple[str, str], SampleRecord] = {}
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            rec = parse_record(line, f"{path}:{i}")
            latest[(rec.sample_id, rec.metric)] = rec
    return latest


class Frames(NamedTuple):
    samples: "pd.DataFrame"  # one row per sample x metric x output (or error)
    metrics: "pd.DataFrame"  # one row per metric x output


def load_frames(run_dir: str | Path) -> Frames:
    """A run directory's per-sample records and per-metric aggregates as pandas DataFrames."""
    results = RunResults.load(run_dir)
    return Frames(results.samples_frame(run_dir), results.metrics_frame())
