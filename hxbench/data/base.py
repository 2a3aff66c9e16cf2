"""The data registry's types: a ``DataSource`` and its pinned file hashes (see ``hxbench.data``)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from hxbench.errors import HxbenchError
from hxbench.paths import resource_dir
from hxbench.registry import Registry

RECORD = ".hxbench-data.json"
DATA: Registry = Registry("data source")


class DataError(HxbenchError):
    """A data copy cannot be imported or used; the message names the file and the fix."""


@dataclass(frozen=True)
class DataSource:
    """One public benchmark. ``layouts`` turn a local copy into (layout name, canonical
    relative path -> source file); ``manifests`` write the task manifests of an imported copy;
    ``fetch_paths`` lists what ``fetch`` downloads (relative to ``download_url``)."""

    name: str
    description: str
    license: str
    homepage: str
    repository: str  # owner/name on GitHub
    revision: str  # the pinned commit
    download_url: str  # {revision} and {path} are filled in
    hf_dataset: str | None = None
    tasks: tuple[str, ...] = ()
    collect: Callable[[Path], tuple[str, dict[str, Path]]] | None = field(default=None, compare=False)
    check: Callable[[Path, dict[str, Path]], dict[str, Any]] | None = field(default=None, compare=False)
    manifests: Callable[[Path], dict[str, int]] | None = field(default=None, compare=False)
    fetch_paths: Callable[[bool], list[str]] | None = field(default=None, compare=False)

    @property
    def short_revision(self) -> str:
        return self.revision[:7]

    def pins(self) -> dict[str, tuple[str, int]]:
        """relative path -> (sha256, size) of every file at the pinned revision."""
        return pins_of(self.name)

    def fix_command(self) -> str:
        return f"hxbench data fetch {self.name}  or  hxbench data import {self.name} /path/to/copy"


_PIN_CACHE: dict[str, dict[str, tuple[str, int]]] = {}


def pins_of(name: str) -> dict[str, tuple[str, int]]:
    if name not in _PIN_CACHE:
        path = resource_dir("data") / f"{name}.json"
        data = json.loads(path.read_text()) if path.is_file() else {"files": {}}
        _PIN_CACHE[name] = {k: (v[0], int(v[1])) for k, v in data["files"].items()}
    return _PIN_CACHE[name]


def register_data(source: DataSource) -> DataSource:
    DATA.add(source.name, source)
    return source
