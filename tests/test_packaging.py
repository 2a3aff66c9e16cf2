"""The wheel: built from the working tree, it holds every bundled task, the version lock, the
leaderboards and the reference models' checkpoints, and an installation of it (outside any
checkout) lists every task and model; user tasks come from $HXBENCH_TASKS_PATH."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from hxbench.paths import BOARDS_DIR, TASKS_DIR

REPO = Path(__file__).resolve().parent.parent
# The wheel stays small: the reference checkpoints and seeded boards are ~27 MB compressed.
MAX_WHEEL_BYTES = 40 << 20


def _tree_copy(dst: Path) -> Path:
    """The files git would commit (tracked + untracked, not ignored), copied to ``dst``: the
    wheel is built from what a clone would have, never from build leftovers in the checkout."""
    if not (REPO / ".git").exists() or shutil.which("git") is None:
        pytest.skip("not a git checkout: cannot tell which files a clone would have")
    out = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         capture_output=True, check=True).stdout.decode()
    for rel in filter(None, out.split("\0")):
        src = REPO / rel
        if src.is_file():  # a file deleted but not yet staged is listed too
            (dst / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst / rel)
    return dst


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("wheel")
    src = _tree_copy(tmp / "src")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp / "dist"), str(src)], check=True, cwd=tmp)
    (whl,) = (tmp / "dist").glob("hxbench-*.whl")
    return whl


def _expected_members() -> set[str]:
    """Every data file the package needs at run time, as wheel member names."""
    names = set()
    from hxbench.paths import resource_dir

    for folder in (TASKS_DIR, BOARDS_DIR, resource_dir("data")):  # data: pinned hashes of public benchmarks
        names |= {p.relative_to(REPO).as_posix() for p in folder.rglob("*") if p.is_file() and p.name != ".gitkeep"}
    for p in (REPO / "reference_models").glob("*/checkpoints/**/*"):
        if p.is_file():
            names.add(p.relative_to(REPO).as_posix())
    return names


def test_wheel_holds_tasks_lock_boards_and_checkpoints(wheel):
    members = set(zipfile.ZipFile(wheel).namelist())
    expected = _expected_members()
    assert "hxbench/resources/tasks/VERSIONS.json" in expected
    assert {f"hxbench/resources/tasks/{p.parent.name}/task.yaml" for p in TASKS_DIR.glob("*/task.yaml")} <= expected
    assert any(n.endswith("humanexpert-tiny.pt") for n in expected) and any(n.endswith("dit.pt") for n in expected)
    assert sorted(expected - members) == []
    assert not any(n.startswith(("tests/", "bench/", "docs/")) for n in members)
    assert wheel.stat().st_size < MAX_WHEEL_BYTES, f"wheel is {wheel.stat().st_size / 2**20:.1f} MiB"


def _installed(wheel: Path, tmp: Path) -> tuple[dict, Path]:
    """The wheel installed (without dependencies: this interpreter has them) into a folder
    that comes first on sys.path, and a working folder that is no checkout."""
    site = tmp / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
                   check=True)
    env = {**os.environ, "PYTHONPATH": str(site), "HXBENCH_HOME": str(tmp / "home")}
    env.pop("HXBENCH_TASKS_PATH", None)
    cwd = tmp / "elsewhere"
    cwd.mkdir()
    return env, cwd


def _hxbench(env: dict, cwd: Path, *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "hxbench", *args], env=env, cwd=cwd, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_installed_wheel_lists_every_task_and_model(wheel, tmp_path):
    env, cwd = _installed(wheel, tmp_path)
    where = subprocess.run([sys.executable, "-c", "import hxbench, reference_models.humanexpert.adapter as a;"
                            "print(hxbench.__file__); print(a.CHECKPOINTS)"],
                           env=env, cwd=cwd, capture_output=True, text=True, check=True).stdout.split()
    assert all(w.startswith(str(tmp_path / "site")) for w in where), where  # not this checkout's copy
    listed = {line.split()[0] for line in _hxbench(env, cwd, "ls", "tasks").splitlines() if line.strip()}
    assert {p.parent.name for p in TASKS_DIR.glob("*/task.yaml")} <= listed
    models = _hxbench(env, cwd, "ls", "models")
    assert "humanexpert-tiny" in models and "omnihuman-tiny-hxsynth" in models


def test_user_tasks_from_hxbench_tasks_path(tmp_path):
    """A task outside the package is found through $HXBENCH_TASKS_PATH; one that reuses a
    bundled name is ignored with a warning, so the released definition still answers."""
    mine = tmp_path / "my-tasks"
    (mine / "my_task").mkdir(parents=True)
    (mine / "my_task" / "task.yaml").write_text(
        "name: my_task\nversion: 1\ndescription: mine\ndataset: d\nsplit: test\nmanifest: m.jsonl\n"
        "output: video\nmetrics: [psnr]\nmain_metric: psnr\n")
    (mine / "lip_sync").mkdir()
    (mine / "lip_sync" / "task.yaml").write_text((mine / "my_task" / "task.yaml").read_text().replace("my_task", "lip_sync"))
    env = {**os.environ, "HXBENCH_TASKS_PATH": str(mine)}
    code = ("from hxbench.eval.tasks import get_task; t = get_task('my_task'); print(t.description, t.path);"
            "print(get_task('lip_sync').description)")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()
    assert first == f"mine {mine / 'my_task' / 'task.yaml'}"
    assert second != "mine"
    assert f"task 'lip_sync' in {mine} ignored" in out.stderr


def test_git_hash_is_none_outside_a_checkout(tmp_path, monkeypatch):
    """Installed into a venv that lies inside some git repository, hxbench must not record that
    repository's commit as its own."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    from hxbench import paths
    from hxbench.eval import results

    repo = tmp_path / "repo"
    site = repo / ".venv" / "lib" / "site-packages"
    site.mkdir(parents=True)
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(git + ["commit", "-q", "--allow-empty", "-m", "x"], check=True)
    monkeypatch.setattr(paths, "CHECKOUT_DIR", site)
    assert results.git_hash() is None
    monkeypatch.setattr(paths, "CHECKOUT_DIR", REPO)
    if (REPO / ".git").exists():
        assert results.git_hash() is not None and len(results.git_hash()) == 40
