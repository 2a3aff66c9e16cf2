"""Generate a task's outputs with a model adapter (resumable), then hand them to scoring."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Sequence

import numpy as np

from hxbench.io import media
from hxbench.adapters.base import Adapter, GenerationInput, GenerationOutput
from hxbench.errors import HxbenchError
from hxbench.io.manifest import Manifest, Sample
from hxbench.paths import output_path


def generation_input(manifest: Manifest, sample: Sample, task: str | None = None) -> GenerationInput:
    """The model-visible inputs of a sample (never its ground truth)."""
    audio = media.read_audio(manifest.resolve(sample.driving_audio)) if sample.driving_audio else None
    qaudio = media.read_audio(manifest.resolve(sample.question_audio)) if sample.question_audio else None
    image = media.read_image(manifest.resolve(sample.reference_image)) if sample.reference_image else None
    exp = sample.expected
    duration = exp.duration if exp.duration is not None else (len(audio) / 16000 if audio is not None else None)
    extra = dict(sample.meta.get("model_inputs", {}))
    if sample.meta.get("full_audio"):
        # MoChaBench: the full audio track (speech with music and effects) beside the speech
        extra["full_audio"] = media.read_audio(manifest.resolve(sample.meta["full_audio"]))
    if sample.meta.get("speakers") and "speakers" not in extra:
        # multi-person: each person's own audio and image region are model inputs (not labels)
        extra["speakers"] = [
            {"audio": media.read_audio(manifest.resolve(sp["audio"])) if sp.get("audio") else None,
             "region": sp.get("region"), "identity": sp.get("identity")}
            for sp in sample.meta["speakers"]]
    return GenerationInput(sample_id=sample.sample_id, task=task, reference_image=image, driving_audio=audio,
                           text=sample.text, command=sample.command, question=sample.question,
                           question_audio=qaudio, duration=duration, fps=exp.fps, width=exp.width,
                           height=exp.height, extra=extra)


def write_output(path: Path, sample: Sample, out: GenerationOutput) -> None:
    kind = sample.expected.kind
    path.parent.mkdir(parents=True, exist_ok=True)  # group/name ids: <outputs>/<group>/
    tmp = path.with_name(f".{path.stem}.part{path.suffix}")  # atomic: a kill leaves no half file
    if kind == "video":
        if out.video is None:
            raise HxbenchError(f"sample {sample.sample_id!r}: the model returned no video")
        fps = out.fps or sample.expected.fps
        if fps is None:
            raise HxbenchError(f"sample {sample.sample_id!r}: the model returned no fps")
        video = np.asarray(out.video)
        if video.dtype != np.uint8:
            video = media.to_uint8(video, f"model output for {sample.sample_id}")
        media.write_video(tmp, video, fps, audio=out.audio)
    elif kind == "text":
        if out.text is None:
            raise HxbenchError(f"sample {sample.sample_id!r}: the model returned no text")
        tmp.write_text(out.text, encoding="utf-8")
    else:
        if out.audio is None:
            raise HxbenchError(f"sample {sample.sample_id!r}: the model returned no audio")
        media.write_wav(tmp, out.audio)
    tmp.replace(path)


def generate(adapter: Adapter, manifest: Manifest, outputs: Path, samples: Sequence[Sample] | None = None,
             task: str | None = None, progress: bool = True) -> int:
    """Write outputs for samples that have none yet; returns how many were generated.

    The adapter's identity (``adapter.info()``: class, checkpoint hash ...) is kept in
    ``outputs/.model.json``; resuming into a folder made by a different model or checkpoint
    is refused, so outputs of two checkpoints are never mixed in one run.
    """
    import json

    outputs.mkdir(parents=True, exist_ok=True)
    identity = json.loads(json.dumps(adapter.info() if hasattr(adapter, "info") else {}, default=str))
    stamp = outputs / ".model.json"
    if stamp.is_file():
        previous = json.loads(stamp.read_text())
        if previous != identity:
            raise HxbenchError(f"{outputs} holds outputs of another model or checkpoint ({previous}); "
                               f"use a new --run-dir or delete the folder to regenerate")
    else:
        stamp.write_text(json.dumps(identity, indent=2, sort_keys=True) + "\n")
    todo = [s for s in (samples if samples is not None else manifest.samples)
            if not output_path(outputs, s).is_file()]
    batch_size = max(int(getattr(adapter, "batch_size", 1)), 1)
    bar = None
    if progress and todo:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="generating", unit="sample", file=sys.stderr, leave=False)
    for i in range(0, len(todo), batch_size):
        chunk = todo[i:i + batch_size]
        results = adapter.generate([generation_input(manifest, s, task) for s in chunk])
        if len(results) != len(chunk):
            raise HxbenchError(f"the adapter returned {len(results)} outputs for a batch of {len(chunk)}")
        for sample, out in zip(chunk, results):
            write_output(output_path(outputs, sample), sample, out)
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return len(todo)
