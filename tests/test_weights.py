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
