"""The data registry: public benchmarks as named, versioned data sources, like the weights.

A ``DataSource`` names a benchmark, where it is published (a git repository at a pinned
commit, a Hugging Face dataset), its license, and the sha256 of every file at that revision
where they can be known (``hxbench/resources/data/<name>.json``: for MoChaBench, computed from
the git blobs of the pinned commit). Its data lives in ``$HXBENCH_HOME/data/<name>/``, in one
canonical layout, with a record ``.hxbench-data.json`` of what is there: the revision, the
layout it came from, and every file's sha256 (``pinned``: equal to the published one;
otherwise recorded at first import or fetch, as for unpinned weights). Task manifests are
derived from the data at import (``<name>/<task>.jsonl``), matched to the benchmark's own
ids, never to guessed file names.

- ``hxbench data status``: every source, present or not, where, its revision and files;
- ``hxbench data import NAME PATH``: a local copy in any published layout (checked file by
  file; a partial copy is accepted and counted);
- ``hxbench data fetch NAME``: the official files at the pinned revision (needs a network;
  never called by tests).

Bad input fails with ``DataError`` naming the file: a missing speech file, a CSV row without
a prompt, a file whose sha256 differs from the pinned revision, a folder in no known layout.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any, Callable

from hxbench.data.base import DATA, RECORD, DataError, DataSource, pins_of, register_data  # noqa: F401
from hxbench.paths import cached_sha256, hxbench_home

def get_source(name: str) -> DataSource:
    _load_sources()
    return DATA.get(name)


def sources() -> list[DataSource]:
    _load_sources()
    return [s for _, s in DATA.items()]


def _load_sources() -> None:
    from hxbench.data import mochabench  # noqa: F401 (registers itself)


def data_root(name: str) -> Path:
    """Where a source's data lives: ``$HXBENCH_HOME/data/<name>``."""
    return hxbench_home() / "data" / name


def read_record(root: Path) -> dict[str, Any] | None:
    path = Path(root) / RECORD
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        raise DataError(f"{path}: not valid JSON; re-import the data") from None


# -- import -------------------------------------------------------------------------------------
def import_data(name: str, source_path: str | Path, target: Path | None = None) -> dict[str, Any]:
    """Check a local copy file by file and install it under ``$HXBENCH_HOME/data/<name>``
    (or ``target``); returns the record. The copy goes to ``<target>.part`` first and replaces
    any previous data only once everything checked."""
    src = get_source(name)
    source_path = Path(source_path).expanduser()
    if not source_path.exists():
        raise DataError(f"{source_path}: no such file or folder")
    layout, files = src.collect(source_path)
    pins = src.pins()
    hashes: dict[str, str] = {}
    pinned: dict[str, bool] = {}
    for rel, path in sorted(files.items()):
        actual = cached_sha256(path)
        pin = pins.get(rel)
        if pin is not None and actual != pin[0]:
            if layout == "huggingface":
                pinned[rel] = False  # the HF copy re-encodes files: recorded, not compared
            else:
                raise DataError(f"{path}: sha256 {actual[:16]}... differs from {name} at {src.short_revision} "
                                f"({rel}: {pin[0][:16]}...); the file is corrupt or from another revision")
        else:
            pinned[rel] = pin is not None
        hashes[rel] = actual
    summary = src.check(source_path, files)  # contexts, missing inputs, decodability (raises DataError)
    target = Path(target) if target is not None else data_root(name)
    tmp = target.with_name(target.name + ".part")
    if tmp.exists():
        shutil.rmtree(tmp)
    for rel, path in files.items():
        dst = tmp / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dst)
    record = {
        "name": name, "revision": src.revision, "repository": src.repository, "layout": layout,
        "imported_from": str(source_path.resolve()), "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **summary,
        "files": {rel: {"sha256": hashes[rel], "pinned": pinned[rel]} for rel in sorted(hashes)},
    }
    (tmp / RECORD).write_text(json.dumps(record, indent=1, sort_keys=False) + "\n")
    tasks = src.manifests(tmp)
    record["manifests"] = tasks
    (tmp / RECORD).write_text(json.dumps(record, indent=1, sort_keys=False) + "\n")
    if target.exists():
        old = target.with_name(target.name + ".old")
        if old.exists():
            shutil.rmtree(old)
        target.replace(old)
        tmp.replace(target)
        shutil.rmtree(old)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp.replace(target)
    return record


# -- fetch --------------------------------------------------------------------------------------
def fetch_data(name: str, with_examples: bool = False, base_url: str | None = None,
               timeout: float = 60.0, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Download the official files at the pinned revision (resumable: files already downloaded
    with the pinned sha256 are kept), verify every one, then import them."""
    import urllib.parse
    import urllib.request

    src = get_source(name)
    pins = src.pins()
    staging = data_root(name).with_name(name + ".download")
    url_fmt = base_url or src.download_url
    paths = src.fetch_paths(with_examples)
    for i, rel in enumerate(paths):
        dst = staging / rel
        sha, _ = pins[rel]
        if dst.is_file() and cached_sha256(dst) == sha:
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        url = url_fmt.format(revision=src.revision, path=urllib.parse.quote(rel))
        part = dst.with_name(dst.name + ".part")
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp, open(part, "wb") as out:
                shutil.copyfileobj(resp, out)
        except OSError as err:
            raise DataError(f"download of {url} failed ({err}); re-run to resume, or "
                            f"hxbench data import {name} /path/to/a/clone") from None
        actual = cached_sha256(part)
        if actual != sha:
            part.unlink()
            raise DataError(f"{url}: sha256 {actual[:16]}... differs from the pinned {sha[:16]}...")
        part.replace(dst)
        if progress is not None:
            progress(f"[{i + 1}/{len(paths)}] {rel}")
    record = import_data(name, staging)
    shutil.rmtree(staging, ignore_errors=True)
    return record


# -- status -------------------------------------------------------------------------------------
def status(names: list[str] | None = None, rehash: bool = True) -> list[dict[str, Any]]:
    """One row per data source: state (missing | partial | complete | modified), where, the
    revision, how many contexts it holds, and the files whose sha256 changed since import."""
    rows = []
    for src in sources():
        if names and src.name not in names:
            continue
        root = data_root(src.name)
        row: dict[str, Any] = {"name": src.name, "description": src.description, "revision": src.revision,
                               "repository": src.repository, "license": src.license, "path": None,
                               "state": "missing", "layout": None, "contexts": None, "n_contexts_total": None,
                               "files": 0, "files_pinned": 0, "changed": [], "manifests": {},
                               "fix": src.fix_command()}
        record = read_record(root) if root.is_dir() else None
        if record is not None:
            files = record.get("files", {})
            changed = []
            if rehash:
                for rel, info in files.items():
                    f = root / rel
                    if not f.is_file():
                        changed.append(f"{rel} (missing)")
                    elif cached_sha256(f) != info["sha256"]:
                        changed.append(f"{rel} (sha256 changed)")
            row.update(path=str(root), layout=record.get("layout"), contexts=record.get("n_contexts"),
                       n_contexts_total=record.get("n_contexts_total"), files=len(files),
                       files_pinned=sum(1 for i in files.values() if i.get("pinned")), changed=changed,
                       manifests=record.get("manifests", {}), imported_from=record.get("imported_from"),
                       revision=record.get("revision", src.revision))
            if changed:
                row["state"] = "modified"
            elif record.get("n_contexts") == record.get("n_contexts_total"):
                row["state"], row["fix"] = "complete", None
            else:
                row["state"] = "partial"
                row["fix"] = f"hxbench data fetch {src.name}  (all {record.get('n_contexts_total')} contexts)"
        rows.append(row)
    return rows


def require_manifest(dataset: str, manifest: Path, task: str) -> None:
    """A clear error for a task whose dataset is a data source and whose manifest is absent."""
    _load_sources()
    if dataset not in DATA:
        return
    src = DATA.get(dataset)
    root = manifest.parent
    record = read_record(root) if root.is_dir() else None
    if record is None:
        raise DataError(f"task {task}: the {dataset} data is not here ({root}); get it with "
                        f"`hxbench data import {dataset} /path/to/MoChaBench` (a clone or the Hugging Face "
                        f"dataset) or `hxbench data fetch {dataset}`")
    raise DataError(f"task {task}: the imported {dataset} copy ({record.get('n_contexts')} of "
                    f"{record.get('n_contexts_total')} contexts) holds no context of this task; "
                    f"`hxbench data fetch {src.name}` gets all of them")

