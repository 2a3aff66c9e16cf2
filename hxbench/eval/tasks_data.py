"""Derived manifests: a task that reads another protocol's manifest in a different form.

A task YAML may name ``source_manifest`` (relative to the dataset root) and ``converter``
(a name in ``CONVERTERS``); ``TaskSpec.manifest_path`` then writes the task's ``manifest``
from the source on first use (and again whenever the source's bytes change: the source
revision is recorded in every derived sample's ``meta.source_revision``). The derived file is
written next to the source (same folder, so relative media paths keep working); when the
dataset folder is read-only it goes under ``$HXBENCH_HOME/derived/<dataset>/`` with absolute
media paths.

Converters (hx-synth's ``audio_qa/test.jsonl`` asks spoken questions and expects spoken
answers; HumanExpert Table 3 reports text-to-text (T) and speech-to-text (S->T)):

- ``qa_text``  (T):    the question as text, no question audio; the answer as text.
- ``qa_speech`` (S->T): the question as audio only (its text moved to ``meta.question_text``,
                        which no model sees); the answer as text.
- ``qa_spoken_answer`` (S->S): the question as audio only; the answer as speech, which
                        the qa_accuracy metric transcribes with Whisper tiny.en.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

from hxbench.errors import ManifestError
from hxbench.io.manifest import Sample, load_manifest, manifest_revision


def _qa(sample: Sample, mode: str) -> Sample:
    if not sample.answers:
        raise ManifestError(f"sample {sample.sample_id!r} has no answers: not an audio-QA sample")
    d = sample.to_dict()
    d.pop("expected", None)
    meta = dict(d.pop("meta", {}))
    meta["question_modality"] = "text" if mode == "qa_text" else "speech"
    question = d.pop("question", None)
    qaudio = d.pop("question_audio", None)
    if mode == "qa_text":
        if question is None:
            raise ManifestError(f"sample {sample.sample_id!r} has no question text")
        d["question"] = question
    else:
        if qaudio is None:
            raise ManifestError(f"sample {sample.sample_id!r} has no question audio")
        d["question_audio"] = qaudio
        if question is not None:
            meta["question_text"] = question  # for reports only; never given to a model
    kind = "speech" if mode == "qa_spoken_answer" else "text"
    return Sample.from_dict(dict(d, meta=meta, expected={"kind": kind}))


CONVERTERS: dict[str, Callable[[Sample], Sample]] = {
    "qa_text": lambda s: _qa(s, "qa_text"),
    "qa_speech": lambda s: _qa(s, "qa_speech"),
    "qa_spoken_answer": lambda s: _qa(s, "qa_spoken_answer"),
}

_MEDIA_FIELDS = ("reference_image", "driving_audio", "reference_video", "question_audio")


def derive_manifest(source: Path, target: Path, converter: str) -> Path:
    """Write ``target`` from ``source`` with ``converter`` unless it is up to date; returns
    the path actually used (a fallback under $HXBENCH_HOME when ``target``'s folder is read-only)."""
    if converter not in CONVERTERS:
        raise ManifestError(f"unknown manifest converter {converter!r}; known: {', '.join(CONVERTERS)}")
    if not source.is_file():
        raise ManifestError(f"{source}: source manifest not found (build the data with `hxbench synth`)")
    rev = manifest_revision(source)
    fallback = _fallback_path(source, target)
    for candidate in (target, fallback):
        if candidate.is_file() and _is_current(candidate, rev, converter):
            return candidate
    src = load_manifest(source)
    derived = []
    for s in src.samples:
        out = CONVERTERS[converter](s)
        out.meta["source_revision"] = rev
        out.meta["converter"] = converter
        derived.append(out)
    try:
        return _write(target, derived, None)
    except OSError:
        return _write(fallback, derived, src.root)


def _fallback_path(source: Path, target: Path) -> Path:
    from hxbench.paths import hxbench_home

    tag = manifest_revision(source)
    return hxbench_home() / "derived" / tag / target.name


def _is_current(path: Path, rev: str, converter: str) -> bool:
    try:
        first = json.loads(path.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return False
    meta = first.get("meta", {})
    return meta.get("source_revision") == rev and meta.get("converter") == converter


def _write(path: Path, samples: list[Sample], media_root: Path | None) -> Path:
    lines = []
    for s in samples:
        d = s.to_dict()
        if media_root is not None:
            for f in _MEDIA_FIELDS:
                if d.get(f) and not os.path.isabs(d[f]):
                    d[f] = str((media_root / d[f]).resolve())
        lines.append(json.dumps(d, sort_keys=True))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(path)
    return path


def ground_truth_outputs(manifest_path: str | Path, out_dir: str | Path) -> Path:
    """A folder of ground-truth "outputs" for a manifest, named by sample_id, for upper-bound
    runs with the ``folder:`` adapter: video tasks link each sample's ``reference_video``;
    text tasks write the first accepted answer; speech tasks speak "The answer is <answer>."
    with espeak-ng (hxbench.io.speech). Returns ``out_dir``."""
    from hxbench.paths import output_path

    manifest = load_manifest(manifest_path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for s in manifest.samples:
        target = output_path(out, s)
        if target.exists():
            continue
        kind = s.expected.kind
        if kind == "video":
            if not s.reference_video:
                raise ManifestError(f"sample {s.sample_id!r} has no reference_video")
            os.symlink(manifest.resolve(s.reference_video).resolve(), target)
        elif kind == "text":
            target.write_text((s.answers or [""])[0], encoding="utf-8")
        else:
            from hxbench.io import media, speech

            media.write_wav(target, speech.synthesize(f"The answer is {(s.answers or [''])[0]}.",
                                                      rate=150).audio)
    return out
