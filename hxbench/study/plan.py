"""Runs -> matched samples -> the per-rater comparison plan, with attention checks.

A *run* is a folder of output videos named ``<sample_id>.mp4`` (the folder itself, or
``RUN_DIR/outputs/`` when that exists). Samples are matched across runs by ``sample_id``
only: the study uses the intersection and reports, per run, the samples the others lack.

Protocols (OmniHuman-1.5 §4.1):

- ``pairwise``: every unordered pair of runs on every matched sample is one *comparison*.
  Each comparison goes to ``overlap`` raters (default: all), assigned to the least-loaded
  raters so that the work is balanced; among the raters of one comparison, half see the
  first run on the left and half on the right (random start), and every rater's items are
  shuffled independently.
- ``best-choice``: every sample is one comparison showing all k runs; rater r sees the runs
  in a rotation of a random base order (a Latin-square rotation, so that every run takes
  every screen position equally often across raters).

Attention checks (``n_checks`` per rater, placed at random positions but never first):

- ``identical`` (pairwise only): the same video on both sides; passed iff "same";
- ``broken``: one side (or, in best-choice, one candidate) is a deliberately corrupted
  copy of a real output (pixelated, noisy, colour-inverted bands); passed iff the intact
  side is preferred (pairwise) or the broken one is not chosen (best-choice).
Check items are excluded from every statistic and only count as passed / failed.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hxbench.errors import HxbenchError

PROTOCOLS = ("pairwise", "best-choice")
BROKEN = "__broken__"  # pseudo-run name of the deliberately broken attention-check videos
_NAME_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


class StudyError(HxbenchError):
    """A study cannot be created / served / reported as asked."""


@dataclass
class Run:
    name: str
    root: Path  # the folder the videos are read from
    videos: dict[str, Path] = field(default_factory=dict)  # sample_id -> video path


def check_run_name(name: str) -> str:
    if not name or len(name) > 64 or not set(name) <= _NAME_OK or name.startswith("__"):
        raise StudyError(f"run name {name!r}: use 1-64 letters, digits, '-', '_' or '.', "
                         "not starting with '__'")
    return name


def discover_run(name: str, path: str | Path) -> Run:
    """Index ``<sample_id>.mp4`` files of a run folder (or of its ``outputs/`` subfolder)."""
    check_run_name(name)
    path = Path(path).expanduser()
    if not path.is_dir():
        raise StudyError(f"run {name}: {path} is not a directory")
    root = path / "outputs" if (path / "outputs").is_dir() else path
    videos = {p.stem: p.resolve() for p in sorted(root.iterdir())
              if p.is_file() and p.suffix.lower() == ".mp4"}
    if not videos:
        raise StudyError(f"run {name}: no <sample_id>.mp4 videos in {root}")
    return Run(name, root.resolve(), videos)


def parse_run_args(specs: list[str]) -> list[Run]:
    """``NAME=PATH`` pairs (a bare PATH is named after its folder)."""
    runs: list[Run] = []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            path = spec
            name = Path(spec.rstrip("/")).name
        runs.append(discover_run(name, path))
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise StudyError(f"run names must be unique, got {names}")
    if len(runs) < 2:
        raise StudyError("a study needs at least two runs (--runs A=PATH B=PATH)")
    return runs


def match_samples(runs: list[Run]) -> tuple[list[str], dict[str, list[str]]]:
    """(sorted sample ids present in every run, {run: ids it has that are not in the study})
    plus, per run, the ids missing from it are ``all ids - run ids``; both are reported."""
    common = set.intersection(*(set(r.videos) for r in runs))
    union = set.union(*(set(r.videos) for r in runs))
    missing = {r.name: sorted(union - set(r.videos)) for r in runs}
    return sorted(common), {k: v for k, v in missing.items() if v}


@dataclass
class PlanItem:
    rater: int  # 0-based rater index
    position: int  # 0-based order in that rater's session
    kind: str  # "pair" | "choice"
    sample_id: str
    runs: list[str]  # display order (left, right / candidates 1..k); BROKEN = broken video
    check: str | None = None  # None | "identical" | "broken"
    source: list[str] | None = None  # for BROKEN entries: the run each broken video came from


def build_plan(run_names: list[str], samples: list[str], protocol: str, n_raters: int,
               overlap: int | None = None, n_checks: int = 2, seed: int = 0,
               check_samples: list[str] | None = None) -> list[PlanItem]:
    """The full plan: one list of items, ``position`` ordered per rater. Deterministic in seed."""
    if protocol not in PROTOCOLS:
        raise StudyError(f"unknown protocol {protocol!r}; choose one of {', '.join(PROTOCOLS)}")
    if n_raters < 1:
        raise StudyError("--raters must be at least 1")
    if len(run_names) < 2:
        raise StudyError("a study needs at least two runs")
    if not samples:
        raise StudyError("the runs have no sample_id in common")
    overlap = n_raters if overlap is None else overlap
    if not 1 <= overlap <= n_raters:
        raise StudyError(f"--overlap must be between 1 and --raters ({n_raters}), got {overlap}")
    if n_checks < 0:
        raise StudyError("--checks must be >= 0")
    rng = random.Random(seed)
    per_rater: list[list[PlanItem]] = [[] for _ in range(n_raters)]
    load = [0] * n_raters

    def pick_raters() -> list[int]:
        order = list(range(n_raters))
        rng.shuffle(order)
        order.sort(key=lambda r: load[r])  # stable: random among equally loaded raters
        chosen = order[:overlap]
        for r in chosen:
            load[r] += 1
        return chosen

    if protocol == "pairwise":
        comparisons = [(s, a, b) for s in samples for a, b in itertools.combinations(run_names, 2)]
        rng.shuffle(comparisons)
        for s, a, b in comparisons:
            flip = rng.random() < 0.5
            for j, r in enumerate(pick_raters()):
                left_first = (j % 2 == 0) != flip
                per_rater[r].append(PlanItem(r, 0, "pair", s, [a, b] if left_first else [b, a]))
    else:
        comparisons = list(samples)
        rng.shuffle(comparisons)
        k = len(run_names)
        for s in comparisons:
            base = list(run_names)
            rng.shuffle(base)
            for r in pick_raters():
                shift = r % k
                per_rater[r].append(PlanItem(r, 0, "choice", s, base[shift:] + base[:shift]))

    pool = list(check_samples or samples)
    for r in range(n_raters):
        items = per_rater[r]
        rng.shuffle(items)
        for c in range(n_checks):
            s = rng.choice(pool)
            if protocol == "pairwise":
                run = rng.choice(run_names)
                if c % 2 == 0:
                    item = PlanItem(r, 0, "pair", s, [run, run], check="identical")
                else:
                    pair = [run, BROKEN] if rng.random() < 0.5 else [BROKEN, run]
                    item = PlanItem(r, 0, "pair", s, pair, check="broken", source=[run, run])
            else:
                order = list(run_names)
                rng.shuffle(order)
                slot = rng.randrange(len(order))
                src = list(order)
                order[slot] = BROKEN
                item = PlanItem(r, 0, "choice", s, order, check="broken", source=src)
            items.insert(rng.randint(1, len(items)) if items else 0, item)
        for pos, item in enumerate(items):
            item.position = pos
    return [it for items in per_rater for it in items]


def broken_sources(plan: list[PlanItem]) -> set[tuple[str, str]]:
    """(run, sample_id) pairs whose broken copies the plan needs."""
    out: set[tuple[str, str]] = set()
    for it in plan:
        if it.check == "broken" and it.source:
            for shown, src in zip(it.runs, it.source):
                if shown == BROKEN:
                    out.add((src, it.sample_id))
    return out


def corrupt_frames(chunk: np.ndarray, start: int, block: int = 8, seed: int = 0) -> np.ndarray:
    """Deliberately broken frames (T, H, W, 3) uint8: pixelated into ``block``-pixel cells,
    heavy uniform noise (+-60), every other 4-frame band colour-inverted. ``start`` is the
    index of the chunk's first frame (so that bands continue across chunks)."""
    rng = np.random.default_rng(seed + start)
    t, h, w, _ = chunk.shape
    hb, wb = max(h // block, 1), max(w // block, 1)
    small = chunk[:, : hb * block, : wb * block].reshape(t, hb, block, wb, block, 3).mean(axis=(2, 4))
    big = np.repeat(np.repeat(small, block, axis=1), block, axis=2)
    out = np.array(chunk, dtype=np.float32)
    out[:, : hb * block, : wb * block] = big
    out += rng.uniform(-60, 60, size=out.shape).astype(np.float32)
    out = np.clip(out, 0, 255).astype(np.uint8)
    for i in range(t):
        if ((start + i) // 4) % 2 == 1:
            out[i] = 255 - out[i]
    return out


def write_broken_video(src: Path, dst: Path, seed: int = 0) -> Path:
    """Write a corrupted copy of ``src`` (same size, rate and audio) to ``dst``."""
    from hxbench.io import media

    info = media.probe(src, count_frames=False)
    audio = media.read_audio(src) if info.has_audio else None

    def chunks():
        start = 0
        for chunk in media.iter_frames(src, chunk_size=32, allow_variable_fps=True):
            yield corrupt_frames(chunk, start, seed=seed)
            start += len(chunk)

    return media.write_video(dst, chunks(), fps=info.fps, audio=audio, preset="veryfast")
