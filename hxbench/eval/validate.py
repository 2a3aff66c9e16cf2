"""Validate a model's outputs against a manifest before anything is computed.

Outputs are matched to samples by ``sample_id`` only: sample ``abc`` expects
``<outputs>/abc.mp4`` (video), ``abc.txt`` (text answer) or ``abc.wav`` (speech answer);
sample ``group/abc`` expects ``<outputs>/group/abc.mp4`` (MoChaBench's own layout). Every
problem names the sample and what is wrong; nothing is scored until all are fixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hxbench.errors import MediaError
from hxbench.io.manifest import Manifest, Sample
from hxbench.paths import OUTPUT_SUFFIX, output_path

# Duration tolerance: one frame at the expected rate plus 40 ms of container slack.
DURATION_SLACK_S = 0.04
# what counts as a candidate output of a sample when looking for duplicates
MEDIA_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".txt", ".wav", ".flac", ".mp3")


@dataclass
class Problem:
    sample_id: str | None  # None for files that match no sample
    kind: str  # missing | extra | corrupt | truncated | empty | fps | duration | resolution | audio | vfr
    message: str

    def __str__(self) -> str:
        who = f"sample {self.sample_id!r}" if self.sample_id else "outputs"
        return f"[{self.kind}] {who}: {self.message}"


def validate_outputs(manifest: Manifest, outputs: str | Path) -> list[Problem]:
    """All problems of an outputs folder with respect to a manifest (empty list = valid).
    Every video is decoded in full (``media.check_decodes``: a corrupt stretch in the middle of
    a file is found and its frame named; ~0.2 s per second of 1080p-class video) and, where
    the task expects audio, its muxed audio is decoded and its length checked."""
    from hxbench.io import media

    outputs = Path(outputs)
    if not outputs.is_dir():
        return [Problem(None, "missing", f"outputs folder {outputs} does not exist")]
    problems: list[Problem] = []
    expected_names = set()
    for sample in manifest.samples:
        path = output_path(outputs, sample)
        name = path.relative_to(outputs).as_posix()
        expected_names.add(name)
        if not path.is_file():
            problems.append(Problem(sample.sample_id, "missing", f"expected output {name} is missing"))
            continue
        if path.stat().st_size == 0:
            problems.append(Problem(sample.sample_id, "empty", f"{name} is a zero-byte file"))
            continue
        if sample.expected.kind == "text":
            try:
                path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                problems.append(Problem(sample.sample_id, "corrupt", f"{path.name} is not UTF-8 text"))
            continue
        if sample.expected.kind == "speech":
            try:
                media.read_audio(path)
            except MediaError as err:
                problems.append(Problem(sample.sample_id, "corrupt", err.problem))
            continue
        problems.extend(_check_video(manifest, sample, path))
    problems.extend(_extra_outputs(outputs, expected_names))
    return problems


def _extra_outputs(outputs: Path, expected_names: set[str]) -> list[Problem]:
    """Files that match no sample: every entry of the outputs folder for plain ids; for
    ``group/name`` ids the files inside the groups the manifest uses (a folder of another
    group, such as a MoChaBench category of another task, is not this task's business)."""
    groups = {n.split("/", 1)[0] for n in expected_names if "/" in n}
    problems = []
    for path in sorted(outputs.iterdir()):
        if path.name.startswith("."):
            continue
        if path.is_dir() and path.name in groups:
            for inner in sorted(path.iterdir()):
                rel = f"{path.name}/{inner.name}"
                if not inner.name.startswith(".") and rel not in expected_names:
                    problems.append(Problem(None, "extra", f"{rel} matches no sample_id of the manifest"))
        elif path.name not in expected_names and not (groups and path.is_dir()):
            problems.append(Problem(None, "extra", f"{path.name} matches no sample_id of the manifest"))
    return problems


def _check_video(manifest: Manifest, sample: Sample, path: Path) -> list[Problem]:
    from hxbench.io import media

    sid = sample.sample_id
    exp = sample.expected
    name = f"{sample.group}/{path.name}" if sample.group else path.name
    try:
        info = media.probe(path)
        media.check_decodes(path, info.n_frames)
    except MediaError as err:
        kind = "truncated" if err.problem.startswith("is truncated") else "corrupt"
        return [Problem(sid, kind, f"{name}: {err.problem}")]
    problems = []
    if info.variable_fps:
        problems.append(Problem(sid, "vfr", f"{name} has a variable frame rate"))
    if exp.fps is not None and abs(info.fps - exp.fps) > 0.01:
        problems.append(Problem(sid, "fps", f"{name} is {info.fps:.3f} fps, expected {exp.fps:g}"))
    if exp.width is not None and exp.height is not None and (info.width, info.height) != (exp.width, exp.height):
        problems.append(Problem(sid, "resolution",
                                f"{name} is {info.width}x{info.height}, expected {exp.width}x{exp.height}"))
    duration = exp.duration
    if duration is None and sample.driving_audio is not None:
        try:
            duration = len(media.read_audio(manifest.resolve(sample.driving_audio))) / 16000
        except MediaError:
            duration = None  # the input itself is broken: the manifest check reports it
    if duration is not None:
        tol = exp.duration_tolerance if exp.duration_tolerance is not None else (1.0 / info.fps) + DURATION_SLACK_S
        if abs(info.duration - duration) > tol:
            problems.append(Problem(sid, "duration",
                                    f"{name} lasts {info.duration:.3f} s, expected {duration:.3f} s "
                                    f"(tolerance {tol:.3f} s)"))
    if exp.audio and not info.has_audio:
        problems.append(Problem(sid, "audio", f"{name} has no audio stream, which this task requires"))
    elif exp.audio:
        # the muxed audio must cover the video: one frame plus the codec's padding (AAC adds
        # ~32 ms at 16 kHz) of slack, as for the duration
        tol = (1.0 / info.fps) + DURATION_SLACK_S
        try:
            audio_s = len(media.read_audio(path)) / 16000
        except MediaError as err:
            problems.append(Problem(sid, "audio", f"{name}: {err.problem}"))
        else:
            if abs(audio_s - info.duration) > tol:
                problems.append(Problem(sid, "audio", f"{name}: its audio lasts {audio_s:.3f} s but its video "
                                                      f"{info.duration:.3f} s (tolerance {tol:.3f} s)"))
    return problems


def duplicate_problems(manifest: Manifest, outputs: Path) -> list[Problem]:
    """Samples with more than one candidate output: the same sample id under two media
    extensions (``a.mp4`` and ``a.mov``) or also in a subfolder (``a.mp4`` and ``x/a.mp4``)."""
    ids = {s.sample_id for s in manifest.samples}
    found: dict[str, list[str]] = {}
    for p in sorted(outputs.rglob("*")):
        rel = p.relative_to(outputs)
        if not p.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        stem_id = rel.with_suffix("").as_posix()  # group/name for MoChaBench-style ids
        sid = stem_id if stem_id in ids else (p.stem if p.stem in ids else None)
        if p.suffix.lower() in MEDIA_SUFFIXES and sid is not None:
            found.setdefault(sid, []).append(str(rel))
    return [Problem(sid, "duplicate", f"{len(paths)} outputs: {', '.join(paths)}; "
                    "submit exactly one per sample_id")
            for sid, paths in sorted(found.items()) if len(paths) > 1]


def validate_submission(manifest: Manifest, outputs: Path) -> list[Problem]:
    """Every problem of an outputs folder: duplicates, then the task's output checks
    (missing samples, formats, fps, duration, resolution, audio; see ``validate_outputs``)."""
    dups = duplicate_problems(manifest, outputs)
    dup_ids = {p.sample_id for p in dups}
    probs = [p for p in validate_outputs(manifest, outputs)
             if not (p.kind == "extra" and any(p.message.startswith(f"{sid}.") for sid in dup_ids))]
    return dups + probs
