"""Where hxbench keeps things: its data folders, the user's cache, output file names, hashes.

One home for the small helpers that every layer needs, so that none of them has to import a
module of another layer (the weight registry, the validator) only to find a path.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hxbench.io.manifest import Sample

PACKAGE_DIR = Path(__file__).resolve().parent
# The folder above the package: a git checkout when hxbench runs from one (it then has
# pyproject.toml and .git), site-packages when installed from the wheel.
CHECKOUT_DIR = PACKAGE_DIR.parent


def resource_dir(name: str) -> Path:
    """A data folder shipped inside the package (``hxbench/resources/<name>``), found through
    ``importlib.resources`` in a checkout and in an installed wheel alike. hxbench is installed
    unzipped (pip always unpacks wheels), so the resource is a real folder."""
    from importlib.resources import files

    return Path(str(files("hxbench") / "resources" / name))


# The bundled tasks (<name>/task.yaml, VERSIONS.json) and leaderboards (<board>/board.yaml).
TASKS_DIR = resource_dir("tasks")
BOARDS_DIR = resource_dir("leaderboards")
# Folders of user tasks (<name>/task.yaml), searched after the bundled ones; os.pathsep-separated.
TASKS_PATH_ENV = "HXBENCH_TASKS_PATH"


def task_dirs() -> list[Path]:
    """Where tasks are looked up, in order: the bundled tasks, then $HXBENCH_TASKS_PATH."""
    extra = [Path(p).expanduser() for p in os.environ.get(TASKS_PATH_ENV, "").split(os.pathsep) if p]
    return [TASKS_DIR] + extra


def git_checkout() -> Path | None:
    """The git checkout hxbench runs from, or None when it is installed (a venv inside some
    other repository must not lend that repository's commit to results)."""
    if (CHECKOUT_DIR / "pyproject.toml").is_file() and (CHECKOUT_DIR / ".git").exists():
        return CHECKOUT_DIR
    return None

# What a model writes for each expected output kind: <outputs>/<sample_id><suffix>.
OUTPUT_SUFFIX = {"video": ".mp4", "text": ".txt", "speech": ".wav"}


def hxbench_home() -> Path:
    """The user's hxbench folder (weights, data, caches): $HXBENCH_HOME or ~/.cache/hxbench."""
    return Path(os.environ.get("HXBENCH_HOME", Path.home() / ".cache" / "hxbench"))


def output_path(outputs: str | Path, sample: "Sample") -> Path:
    """The file a model's output for ``sample`` must have: matched by sample_id, never guessed."""
    return Path(outputs) / f"{sample.sample_id}{OUTPUT_SUFFIX[sample.expected.kind]}"


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _hash_cache_path() -> Path:
    return hxbench_home() / "hash-cache.json"


_HASHES: dict[str, str] = {}  # this process's answers: the cache file is read once per new key


def cached_sha256(path: str | Path) -> str:
    """sha256 of a file, cached by (absolute path, size, mtime_ns) in memory and in
    ``$HXBENCH_HOME/hash-cache.json`` (shared by processes)."""
    path = Path(path).resolve()
    st = path.stat()
    key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
    if key not in _HASHES:
        _HASHES[key] = _stored_sha256(path, key)
    return _HASHES[key]


def _stored_sha256(path: Path, key: str) -> str:
    cache_file = _hash_cache_path()
    cache: dict[str, str] = {}
    if cache_file.is_file():
        try:
            cache = json.loads(cache_file.read_text())
        except (OSError, ValueError):
            cache = {}
    if key not in cache:
        cache[key] = sha256_file(path)
        try:
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(cache))
            tmp.replace(cache_file)
        except OSError:
            pass  # a read-only home only costs re-hashing
    return cache[key]
