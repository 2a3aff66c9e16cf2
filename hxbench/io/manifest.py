"""Benchmark manifests: one JSONL file per split, one ``Sample`` per line.

A sample names its inputs (paths relative to the manifest's folder) and its expected
outputs. Model outputs are matched to samples by ``sample_id`` only: an output for sample
``abc`` is ``<outputs>/abc.mp4`` (or ``abc.txt`` / ``abc.wav`` for text / speech answers),
because the manifest, not a guess from file names, defines which samples exist. A sample id
may have one folder part, ``<group>/<name>`` (MoChaBench's ``<category>/<context_id>``): its
output is then ``<outputs>/<group>/<name>.mp4``, the benchmark's own layout, and results are
also aggregated per group (``hxbench.eval.groups``).

Example line::

    {"sample_id": "lip_0003", "reference_image": "images/astronaut.png",
     "driving_audio": "audio/lip_0003.wav", "reference_video": "videos/lip_0003.mp4",
     "expected": {"fps": 25, "width": 256, "height": 256, "duration": 2.4, "audio": true}}
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable

from hxbench.errors import ManifestError

INPUT_FIELDS = (
    "reference_image",
    "driving_audio",
    "reference_video",
    "text",
    "command",
    "question",
    "question_audio",
)


@dataclass
class Expected:
    """What a model's output for the sample must look like (None = not checked)."""

    kind: str = "video"  # "video" | "text" | "speech"
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    duration: float | None = None  # seconds; compared with a tolerance of one frame + 40 ms
    audio: bool | None = None  # an audio stream is required in the output video
    # seconds: replaces the one-frame + 40 ms tolerance of the duration check (a benchmark whose
    # models generate a fixed number of frames, e.g. MoChaBench); None: the default tolerance
    duration_tolerance: float | None = None


@dataclass
class Sample:
    sample_id: str
    reference_image: str | None = None
    driving_audio: str | None = None
    reference_video: str | None = None
    text: str | None = None
    command: str | None = None
    question: str | None = None
    question_audio: str | None = None
    answers: list[str] | None = None  # accepted answers (aliases) for QA
    expected: Expected = field(default_factory=Expected)
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str = "manifest") -> "Sample":
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ManifestError(f"{where}: unknown field(s) {sorted(unknown)}; known: {sorted(known)}")
        if not isinstance(data.get("sample_id"), str) or not data["sample_id"]:
            raise ManifestError(f"{where}: every sample needs a non-empty string sample_id")
        if not valid_sample_id(data["sample_id"]):
            raise ManifestError(f"{where}: sample_id {data['sample_id']!r} must not contain a second '/' or a "
                                "'\\', nor a part that is empty or starts with '.' (a name, or group/name)")
        data = dict(data)
        exp = data.pop("expected", None) or {}
        bad = set(exp) - set(Expected.__dataclass_fields__)
        if bad:
            raise ManifestError(f"{where}: unknown expected field(s) {sorted(bad)}")
        return cls(expected=Expected(**exp), **data)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["expected"].get("duration_tolerance") is None:
            d["expected"].pop("duration_tolerance")  # manifests without it keep their bytes
        return {k: v for k, v in d.items() if v not in (None, {}, [])}

    @property
    def group(self) -> str | None:
        """The folder part of a ``group/name`` sample id (MoChaBench's category), else None."""
        return sample_group(self.sample_id)


def valid_sample_id(sample_id: str) -> bool:
    """A file name, or one folder and a file name (``group/name``): never a path that leaves
    the outputs folder, a hidden file or a nested tree."""
    parts = sample_id.split("/")
    return (0 < len(parts) <= 2 and "\\" not in sample_id
            and all(p and not p.startswith(".") for p in parts))


def sample_group(sample_id: str) -> str | None:
    """The group of a sample id (``group/name`` -> ``group``), None for a plain name."""
    return sample_id.split("/", 1)[0] if "/" in sample_id else None


@dataclass
class Manifest:
    path: Path
    samples: list[Sample]

    @property
    def root(self) -> Path:
        return self.path.parent

    def resolve(self, relpath: str | None) -> Path | None:
        """Absolute path of an input named in the manifest (relative to the manifest)."""
        if relpath is None:
            return None
        p = Path(relpath)
        return p if p.is_absolute() else self.root / p

    def by_id(self) -> dict[str, Sample]:
        return {s.sample_id: s for s in self.samples}

    @cached_property
    def revision(self) -> str:
        """Dataset revision: sha256 of the manifest's bytes (first 16 hex digits), read once."""
        return manifest_revision(self.path)

    def __len__(self) -> int:
        return len(self.samples)


def manifest_revision(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def load_manifest(path: str | Path) -> Manifest:
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest not found")
    samples: list[Sample] = []
    seen: set[str] = set()
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            data = json.loads(line)
        except json.JSONDecodeError as err:
            raise ManifestError(f"{where}: invalid JSON ({err.msg})") from None
        if not isinstance(data, dict):
            raise ManifestError(f"{where}: each line must be a JSON object")
        sample = Sample.from_dict(data, where)
        if sample.sample_id in seen:
            raise ManifestError(f"{where}: duplicate sample_id {sample.sample_id!r}")
        seen.add(sample.sample_id)
        samples.append(sample)
    if not samples:
        raise ManifestError(f"{path}: manifest has no samples")
    return Manifest(path, samples)


def write_manifest(path: str | Path, samples: Iterable[Sample]) -> Manifest:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    samples = list(samples)
    lines = [json.dumps(s.to_dict(), sort_keys=True) for s in samples]
    path.write_text("\n".join(lines) + "\n")
    return Manifest(path, samples)
