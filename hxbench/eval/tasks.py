"""The task registry: ``<name>/task.yaml`` files, validated strictly on load.

The bundled tasks ship inside the package (``hxbench/resources/tasks``, found through
``importlib.resources``); user tasks live in the folders of ``$HXBENCH_TASKS_PATH``
(``os.pathsep``-separated, each holding ``<name>/task.yaml``), searched after them. A user
task whose name is already taken is ignored with a warning (a released task is never
silently replaced).

A task names its dataset and split (a manifest inside the dataset folder), what the model
outputs, the metrics it reports (``name[variant]``) and its main metric. The YAML is flat:
unknown keys, duplicate keys, unknown metrics or variants are errors. A change to a task's
definition must bump its ``version``; the bundled ``VERSIONS.json`` records the hash of every
released version so an edit without a bump is caught on load.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hxbench.errors import ManifestError
from hxbench.paths import TASKS_DIR, task_dirs
from hxbench.registry import TASKS

REQUIRED_KEYS = ("name", "version", "description", "dataset", "split", "manifest", "output", "metrics", "main_metric")
OPTIONAL_KEYS = ("inputs", "superseded_by", "notes", "source_manifest", "converter")


@dataclass
class TaskSpec:
    name: str
    version: int
    description: str
    dataset: str
    split: str
    manifest: str  # relative to the dataset root
    output: str  # video | text | speech
    metrics: list[str]
    main_metric: str
    inputs: list[str] = field(default_factory=list)
    superseded_by: str | None = None
    notes: str | None = None
    source_manifest: str | None = None  # with converter: the manifest is derived (hxbench.eval.tasks_data)
    converter: str | None = None
    path: Path | None = None
    sha256: str = ""

    def identity(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, "main_metric": self.main_metric,
                "definition_sha256": self.sha256}

    def manifest_path(self, data_root: str | Path | None = None) -> Path:
        root = Path(data_root or default_data_root(self.dataset))
        if self.converter is not None:
            from hxbench.eval.tasks_data import derive_manifest

            return derive_manifest(root / self.source_manifest, root / self.manifest, self.converter)
        return root / self.manifest


def default_data_root(dataset: str) -> Path:
    from hxbench.paths import hxbench_home

    if os.environ.get("HXBENCH_DATA"):
        return Path(os.environ["HXBENCH_DATA"])
    return hxbench_home() / "data" / dataset


def _strict_yaml(text: str, where: str) -> Any:
    import yaml

    class StrictLoader(yaml.SafeLoader):
        pass

    def construct_mapping(loader, node, deep=False):
        keys = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in keys:
                raise ManifestError(f"{where}: duplicate key {key!r} (line {key_node.start_mark.line + 1})")
            keys.add(key)
        return loader.construct_mapping(node, deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    try:
        return yaml.load(text, Loader=StrictLoader)
    except yaml.YAMLError as err:
        raise ManifestError(f"{where}: invalid YAML ({err})") from None


def load_task_file(path: str | Path, check_metrics: bool = True) -> TaskSpec:
    from hxbench.metrics.base import parse_metric_key
    from hxbench.registry import METRICS

    path = Path(path)
    text = path.read_text()
    data = _strict_yaml(text, str(path))
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: a task file is a flat mapping of keys")
    unknown = set(data) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS)
    if unknown:
        raise ManifestError(f"{path}: unknown key(s) {sorted(unknown)}; allowed: {sorted(REQUIRED_KEYS + OPTIONAL_KEYS)}")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ManifestError(f"{path}: missing key(s) {missing}")
    if not isinstance(data["version"], int) or data["version"] < 1:
        raise ManifestError(f"{path}: version must be a positive integer, got {data['version']!r}")
    if data["output"] not in ("video", "text", "speech"):
        raise ManifestError(f"{path}: output must be video, text or speech")
    if not isinstance(data["metrics"], list) or not data["metrics"]:
        raise ManifestError(f"{path}: metrics must be a non-empty list of metric names")
    if ("converter" in data) != ("source_manifest" in data):
        raise ManifestError(f"{path}: converter and source_manifest go together")
    if "converter" in data:
        from hxbench.eval.tasks_data import CONVERTERS

        if data["converter"] not in CONVERTERS:
            raise ManifestError(f"{path}: unknown converter {data['converter']!r}; known: {', '.join(CONVERTERS)}")
    if data["main_metric"] not in data["metrics"]:
        raise ManifestError(f"{path}: main_metric {data['main_metric']!r} is not among its metrics")
    if check_metrics:
        for key in data["metrics"]:
            name, variant = parse_metric_key(key)
            if name not in METRICS:
                raise ManifestError(f"{path}: {METRICS.unknown_message(name)}")
            cls = METRICS.get(name)
            if variant is not None and variant not in cls.variants:
                raise ManifestError(f"{path}: metric {name!r} has no variant {variant!r}; "
                                    f"variants: {', '.join(cls.variants)}")
    spec = TaskSpec(**data, path=path, sha256=hashlib.sha256(text.encode()).hexdigest())
    if spec.name != path.parent.name:
        raise ManifestError(f"{path}: name {spec.name!r} must equal its folder name {path.parent.name!r}")
    _check_version_lock(spec)
    return spec


def _check_version_lock(spec: TaskSpec) -> None:
    lock_path = TASKS_DIR / "VERSIONS.json"
    if spec.path is None or spec.path.parent.parent != TASKS_DIR or not lock_path.is_file():
        return
    lock = json.loads(lock_path.read_text())
    released = lock.get(spec.name, {}).get(str(spec.version))
    if released is not None and released != spec.sha256:
        raise ManifestError(
            f"{spec.path}: the definition of {spec.name} v{spec.version} changed after release; "
            f"bump its version (and record the new hash in hxbench/resources/tasks/VERSIONS.json)")


def discover_tasks() -> None:
    """Register every ``<dir>/<name>/task.yaml`` of ``task_dirs()`` (parsed on first use)."""
    import sys

    for folder in task_dirs():
        if not folder.is_dir():
            if folder != TASKS_DIR:
                print(f"hxbench: task folder {folder} (from $HXBENCH_TASKS_PATH) does not exist", file=sys.stderr)
            continue
        for path in sorted(folder.glob("*/task.yaml")):
            name = path.parent.name
            entry = TASKS._entries.get(name)  # noqa: SLF001 (registry internals: avoid re-load)
            if entry is None:
                TASKS.add(name, _LazyTask(path))
            elif getattr(entry, "path", None) != path:
                taken = getattr(entry, "path", "a plug-in")
                print(f"hxbench: task {name!r} in {path.parent.parent} ignored: {taken} has that name",
                      file=sys.stderr)


class _LazyTask:
    """Parses the YAML on first use, after all metrics are registered."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._spec: TaskSpec | None = None

    def spec(self) -> TaskSpec:
        if self._spec is None:
            self._spec = load_task_file(self.path)
        return self._spec


def get_task(name: str) -> TaskSpec:
    return TASKS.get(name).spec()


discover_tasks()
