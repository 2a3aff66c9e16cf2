"""Run directories: per-sample results appended as they finish, and the results JSON.

A run directory holds::

    results.json         aggregate per metric, with identity (versions, hashes, environment)
    samples.jsonl        one line per (sample, metric): values, or the error for that sample
    payloads/<metric>/   per-sample arrays (e.g. FID features) that rebuild set-level state

``samples.jsonl`` is append-only and flushed after every line. A video sample's records are
written as soon as its one decoding pass ends, so a killed run loses at most the sample in
flight; metrics scored through ``update_batch`` (image sets and arrays, whose network passes
span several samples) write their records when the batch of samples ends, so a kill loses at
most that batch (``Metric.batch_samples``, 32 at most). A re-run skips every (sample_id,
metric key, metric version) already recorded and rebuilds the metric state from the stored
records.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import numpy as np

from hxbench.eval.schema import SampleRecord, parse_record
from hxbench.machine import cpu_model, numpy_simd
from hxbench.paths import git_checkout


def environment() -> dict[str, Any]:
    """Versions and the CPU: float32 network outputs and numpy's float kernels depend on the
    instruction set they dispatch to, so the same inputs can score in the last digits
    differently on another CPU."""
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu_model(),
        "numpy": np.__version__,
        "numpy_simd": numpy_simd(),
    }
    try:
        import torch

        env["torch"] = torch.__version__
        env["cuda"] = torch.version.cuda if torch.cuda.is_available() else None
        env["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
        env["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except ImportError:
        env["torch"] = None
    return env


def git_hash() -> str | None:
    """The commit of the checkout hxbench runs from; None when installed from a wheel."""
    root = git_checkout()
    if root is None:
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.[]" else "_" for c in name)


class RunStore:
    """Append-only per-sample store of one run directory."""

    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.samples_path = self.run_dir / "samples.jsonl"
        self._records: dict[tuple[str, str, str], SampleRecord] = {}
        self._load()

    def _load(self) -> None:
        if not self.samples_path.is_file():
            return
        with open(self.samples_path, "rb") as f:
            data = f.read()
        lines = data.split(b"\n")
        # A kill mid-write can leave a partial last line: drop it (the sample is redone).
        if lines and lines[-1]:
            with open(self.samples_path, "r+b") as f:
                f.truncate(len(data) - len(lines[-1]))
            lines = lines[:-1]
        for i, line in enumerate(lines, 1):
            if not line.strip():
                continue
            rec = parse_record(line, f"{self.samples_path}:{i}")
            self._records[(rec.sample_id, rec.metric, rec.metric_version)] = rec

    def get(self, sample_id: str, metric_key: str, version: str) -> SampleRecord | None:
        return self._records.get((sample_id, metric_key, version))

    def records(self, metric_key: str | None = None) -> list[SampleRecord]:
        return [r for (_, k, _), r in self._records.items() if metric_key is None or k == metric_key]

    def append(self, record: SampleRecord) -> None:
        line = json.dumps(record.to_json(), sort_keys=True) + "\n"
        with open(self.samples_path, "a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())
        self._records[(record.sample_id, record.metric, record.metric_version)] = record

    def payload_path(self, metric_key: str, sample_id: str) -> Path:
        return self.run_dir / "payloads" / _safe(metric_key) / f"{sample_id}.npz"

    def save_payload(self, metric_key: str, sample_id: str, payload: dict[str, np.ndarray]) -> None:
        path = self.payload_path(metric_key, sample_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".part.npz")
        np.savez(tmp, **payload)
        tmp.replace(path)  # written before the samples.jsonl line that refers to it

    def load_payload(self, metric_key: str, sample_id: str) -> dict[str, np.ndarray] | None:
        path = self.payload_path(metric_key, sample_id)
        if not path.is_file():
            return None
        with np.load(path) as data:
            return {k: data[k] for k in data.files}


def write_json(path: str | Path, obj: Any) -> None:
    path = Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")
    tmp.replace(path)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
