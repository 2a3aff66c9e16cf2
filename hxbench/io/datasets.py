"""Loaders that turn real benchmark datasets (files the user supplies) into hxbench manifests.

Nothing is downloaded: each loader reads the official file format from a local path and
writes ``Sample`` records (``hxbench.io.manifest``). Malformed or missing files raise
``DatasetError`` naming the file, the record and what is wrong.

- ``celebv_hq(json_path, video_dir)``: CelebV-HQ's ``celebvhq_info.json``
  (``{"meta_info": {...}, "clips": {clip_id: {"ytb_id", "duration": {"start_sec", "end_sec"},
  "bbox": {"top", "bottom", "left", "right"}, "attributes": {...}}}}``) + the folder of
  processed clips ``<clip_id>.mp4``;
- ``cyberhost_list(list_path, root)``: a CyberHost-style test list, one sample per line:
  ``<sample_id> <reference_image> <driving_audio> [<reference_video>]`` (whitespace- or
  comma-separated, ``#`` comments), paths relative to ``root``;
- ``triviaqa(json_path)``: TriviaQA's ``{"Data": [{"QuestionId", "Question", "Answer":
  {"Value", "NormalizedValue", "Aliases", "NormalizedAliases"}}]}`` (rc / unfiltered);
- ``web_questions(json_path)``: WebQuestions' list of ``{"url", "targetValue": "(list
  (description X) ...)", "utterance"}``;
- ``llama_questions(path)``: Llama Questions (Spectron) JSON lines or a JSON list of
  ``{"question", "answer"}`` (``answers`` / ``answer`` as a string or list accepted);
- ``write(samples, out_path)``: write the manifest (``hxbench.io.manifest.write_manifest``).

Every QA loader can attach spoken questions later (``hxbench.io.speech``); the samples carry
``question`` and ``answers`` (canonical answer first, then aliases).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterable

from hxbench.errors import HxbenchError
from hxbench.io.manifest import Expected, Sample, write_manifest

__all__ = ["DatasetError", "celebv_hq", "cyberhost_list", "triviaqa", "web_questions",
           "llama_questions", "write"]


class DatasetError(HxbenchError):
    """A dataset file is missing or not in the expected format."""


def _read_json(path: Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DatasetError(f"{path}: invalid JSON at line {err.lineno} ({err.msg})") from None


def _sid(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_.")
    if not s:
        raise DatasetError(f"cannot make a sample id from {text!r}")
    return s


def _dedupe(values: Iterable[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        v = str(v).strip()
        if v and v not in out:
            out.append(v)
    return out


def write(samples: list[Sample], out_path: str | Path):
    return write_manifest(out_path, samples)


# -- talking-head video datasets ----------------------------------------------------------------
def celebv_hq(json_path: str | Path, video_dir: str | Path, require_videos: bool = True,
              relative_to: str | Path | None = None) -> list[Sample]:
    """CelebV-HQ clips -> samples with ``reference_video`` (the clip) and meta (attributes,
    YouTube id, time span, face box). Paths are made relative to ``relative_to`` (the folder
    the manifest will be written to) when given, else absolute."""
    json_path, video_dir = Path(json_path), Path(video_dir)
    data = _read_json(json_path)
    if not isinstance(data, dict) or not isinstance(data.get("clips"), dict):
        raise DatasetError(f"{json_path}: expected an object with a 'clips' mapping (celebvhq_info.json)")
    if not video_dir.is_dir():
        raise DatasetError(f"{video_dir}: video folder not found")
    base = Path(relative_to).resolve() if relative_to else None
    samples = []
    for clip_id, rec in sorted(data["clips"].items()):
        where = f"{json_path}: clip {clip_id!r}"
        if not isinstance(rec, dict):
            raise DatasetError(f"{where}: record must be an object")
        try:
            start = float(rec["duration"]["start_sec"])
            end = float(rec["duration"]["end_sec"])
            bbox = {k: float(rec["bbox"][k]) for k in ("top", "bottom", "left", "right")}
        except (KeyError, TypeError, ValueError) as err:
            raise DatasetError(f"{where}: missing or invalid field {err} (need duration.start_sec/"
                               "end_sec and bbox.top/bottom/left/right)") from None
        if end <= start:
            raise DatasetError(f"{where}: end_sec {end} is not after start_sec {start}")
        video = video_dir / f"{clip_id}.mp4"
        if require_videos and not video.is_file():
            raise DatasetError(f"{where}: video {video} not found")
        path = video.resolve()
        rel = str(path.relative_to(base)) if base and path.is_relative_to(base) else str(path)
        samples.append(Sample(
            sample_id=_sid(clip_id), reference_video=rel,
            expected=Expected(kind="video", duration=round(end - start, 4)),
            meta={"dataset": "CelebV-HQ", "ytb_id": rec.get("ytb_id"), "start_sec": start,
                  "end_sec": end, "bbox": bbox, "attributes": rec.get("attributes", {})}))
    if not samples:
        raise DatasetError(f"{json_path}: no clips")
    return samples


def cyberhost_list(list_path: str | Path, root: str | Path | None = None,
                   check_files: bool = True) -> list[Sample]:
    """A CyberHost-style test list: ``sample_id reference_image driving_audio [reference_video]``."""
    list_path = Path(list_path)
    if not list_path.is_file():
        raise DatasetError(f"{list_path}: file not found")
    root = Path(root) if root is not None else list_path.parent
    samples, seen = [], set()
    for lineno, line in enumerate(list_path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = [p for p in re.split(r"[,\s]+", line) if p]
        where = f"{list_path}:{lineno}"
        if len(parts) not in (3, 4):
            raise DatasetError(f"{where}: expected 'sample_id reference_image driving_audio "
                               f"[reference_video]', got {len(parts)} fields")
        sid = _sid(parts[0])
        if sid in seen:
            raise DatasetError(f"{where}: duplicate sample id {sid!r}")
        seen.add(sid)
        paths = [root / p for p in parts[1:]]
        if check_files:
            for p in paths:
                if not p.is_file():
                    raise DatasetError(f"{where}: {p} not found")
        samples.append(Sample(
            sample_id=sid, reference_image=str(paths[0]), driving_audio=str(paths[1]),
            reference_video=str(paths[2]) if len(paths) > 2 else None,
            expected=Expected(kind="video", audio=True), meta={"dataset": "CyberHost-style list"}))
    if not samples:
        raise DatasetError(f"{list_path}: no samples")
    return samples


# -- spoken / text QA ---------------------------------------------------------------------------
def _qa_sample(sid: str, question: str, answers: list[str], dataset: str, meta: dict) -> Sample:
    return Sample(sample_id=_sid(sid), question=question, answers=answers,
                  expected=Expected(kind="speech"), meta={"dataset": dataset, **meta})


def triviaqa(json_path: str | Path) -> list[Sample]:
    """TriviaQA (rc / unfiltered JSON): answers = [Value, *Aliases] (deduplicated)."""
    json_path = Path(json_path)
    data = _read_json(json_path)
    if not isinstance(data, dict) or not isinstance(data.get("Data"), list):
        raise DatasetError(f"{json_path}: expected TriviaQA JSON with a 'Data' list")
    samples = []
    for i, rec in enumerate(data["Data"]):
        where = f"{json_path}: Data[{i}]"
        try:
            qid, question, ans = rec["QuestionId"], rec["Question"], rec["Answer"]
            value = ans["Value"]
        except (KeyError, TypeError) as err:
            raise DatasetError(f"{where}: missing field {err} (need QuestionId, Question, Answer.Value)") from None
        answers = _dedupe([value] + list(ans.get("Aliases", [])))
        samples.append(_qa_sample(qid, question, answers, "TriviaQA",
                                  {"normalized_aliases": _dedupe([ans.get("NormalizedValue", "")]
                                                                 + list(ans.get("NormalizedAliases", [])))}))
    if not samples:
        raise DatasetError(f"{json_path}: no questions")
    return samples


_WQ_DESC = re.compile(r'\(description\s+(?:"((?:[^"\\]|\\.)*)"|([^()\s]+))\)')


def web_questions(json_path: str | Path) -> list[Sample]:
    """WebQuestions (``webquestions.examples.test.json``): answers from ``targetValue``."""
    json_path = Path(json_path)
    data = _read_json(json_path)
    if not isinstance(data, list):
        raise DatasetError(f"{json_path}: expected a JSON list of {{url, targetValue, utterance}}")
    samples = []
    for i, rec in enumerate(data):
        where = f"{json_path}: [{i}]"
        try:
            question, target = rec["utterance"], rec["targetValue"]
        except (KeyError, TypeError) as err:
            raise DatasetError(f"{where}: missing field {err} (need utterance, targetValue)") from None
        answers = _dedupe(m.group(1).replace('\\"', '"') if m.group(1) is not None else m.group(2)
                          for m in _WQ_DESC.finditer(target))
        if not answers:
            raise DatasetError(f"{where}: targetValue {target!r} holds no (description ...) answer")
        samples.append(_qa_sample(f"wq_{i:05d}", question, answers, "WebQuestions",
                                  {"url": rec.get("url")}))
    if not samples:
        raise DatasetError(f"{json_path}: no questions")
    return samples


def llama_questions(path: str | Path) -> list[Sample]:
    """Llama Questions: JSON lines or a JSON list of {"question", "answer"|"answers"}."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    text = path.read_text(encoding="utf-8").strip()
    if text.startswith("["):
        records = _read_json(path)
    else:
        records = []
        for lineno, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise DatasetError(f"{path}:{lineno}: invalid JSON ({err.msg})") from None
    samples = []
    for i, rec in enumerate(records):
        where = f"{path}: record {i}"
        if not isinstance(rec, dict) or "question" not in rec:
            raise DatasetError(f"{where}: expected an object with 'question' and 'answer'")
        ans = rec.get("answers", rec.get("answer"))
        if ans is None:
            raise DatasetError(f"{where}: no 'answer'")
        answers = _dedupe([ans] if isinstance(ans, str) else ans)
        if not answers:
            raise DatasetError(f"{where}: empty answer")
        samples.append(_qa_sample(str(rec.get("id", f"llamaq_{i:05d}")), rec["question"], answers,
                                  "Llama Questions", {}))
    if not samples:
        raise DatasetError(f"{path}: no questions")
    return samples
