"""Turn user inputs into ``SampleSource`` lists for the scoring loop.

Two ways in:
- ``from_manifest``: a benchmark manifest and a folder of model outputs matched by
  ``sample_id`` (``<outputs>/<sample_id>.mp4``);
- ``from_paths``: two paths given to ``hxbench compute`` (``--gen`` / ``--ref``), each opened
  with ``media.open_inputs`` and paired by identical sample ids.
"""

from __future__ import annotations

from pathlib import Path

from hxbench.io import media
from hxbench.errors import HxbenchError, MediaError
from hxbench.io.manifest import Manifest, Sample
from hxbench.metrics.base import SampleData
from hxbench.eval.scoring import SampleSource
from hxbench.paths import output_path
from hxbench.paths import cached_sha256


def sample_data_for(manifest: Manifest, sample: Sample, outputs: Path | None,
                    target_fps: float | None = None) -> SampleData:
    """SampleData for one manifest sample (frames are decoded lazily by the metrics)."""
    gen = None
    if outputs is not None and sample.expected.kind == "video":
        gen = media.clip_from_video(output_path(outputs, sample), target_fps)
    ref = None
    if sample.reference_video:
        ref = media.clip_from_video(manifest.resolve(sample.reference_video), target_fps)
    ref_image = media.read_image(manifest.resolve(sample.reference_image)) if sample.reference_image else None
    meta = dict(sample.meta)
    meta["manifest_root"] = str(manifest.root)  # metrics resolve relative paths in meta (labels, boxes)
    meta["dataset_revision"] = manifest.revision  # keys caches of reference-side features (FID/FVD)
    for key in ("text", "command", "question", "answers"):
        if getattr(sample, key) is not None:
            meta[key] = getattr(sample, key)
    if outputs is not None and sample.expected.kind == "text":
        meta["answer_text"] = output_path(outputs, sample).read_text(encoding="utf-8")
    if outputs is not None and sample.expected.kind == "speech":
        meta["answer_audio"] = str(output_path(outputs, sample))
    audio_path = str(manifest.resolve(sample.driving_audio)) if sample.driving_audio else None
    return SampleData(sample_id=sample.sample_id, gen=gen, ref=ref, ref_image=ref_image,
                      audio_path=audio_path, meta=meta)


def from_manifest(manifest: Manifest, outputs: str | Path | None, shard: tuple[int, int] = (0, 1),
                  target_fps: float | None = None) -> list[SampleSource]:
    index, count = shard
    out = Path(outputs) if outputs is not None else None
    return [
        SampleSource(s.sample_id, lambda s=s: sample_data_for(manifest, s, out, target_fps),
                     fingerprint=(lambda s=s: cached_sha256(output_path(out, s))) if out is not None else None)
        for i, s in enumerate(manifest.samples)
        if i % count == index
    ]


def _audio_lookup(audio: str | Path | None) -> dict[str, str] | str | None:
    if audio is None:
        return None
    audio = Path(audio)
    if audio.is_file():
        return str(audio)
    if audio.is_dir():
        return {p.stem: str(p) for p in sorted(audio.iterdir())
                if p.suffix.lower() in media.AUDIO_EXTENSIONS + media.VIDEO_EXTENSIONS}
    raise MediaError(audio, "no such audio file or folder")


def _pair_fingerprint(gen: media.Clip, ref: media.Clip | None, audio: str | None) -> str:
    import hashlib

    parts = [gen.fingerprint(), ref.fingerprint() if ref is not None else "", cached_sha256(Path(audio)) if audio else ""]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()


def from_paths(gen: str | Path, ref: str | Path | None = None, audio: str | Path | None = None,
               target_fps: float | None = None) -> list[SampleSource]:
    """Pair --gen and --ref inputs by sample id (single files pair with each other)."""
    gens = media.open_inputs(gen, target_fps)
    refs = media.open_inputs(ref, target_fps) if ref is not None else None
    if refs is not None:
        if len(gens) == 1 and len(refs) == 1 and set(gens) != set(refs):
            # one input each (e.g. two video files): they are the pair, whatever their names
            refs = {next(iter(gens)): next(iter(refs.values()))}
        only_gen = sorted(set(gens) - set(refs))
        only_ref = sorted(set(refs) - set(gens))
        if only_gen or only_ref:
            raise HxbenchError(
                f"--gen and --ref hold different samples: only in --gen: {only_gen[:5]}"
                f"{'...' if len(only_gen) > 5 else ''}; only in --ref: {only_ref[:5]}"
                f"{'...' if len(only_ref) > 5 else ''} (samples are paired by identical names)")
    audios = _audio_lookup(audio)
    sources = []
    for sid, clip in gens.items():
        if isinstance(audios, dict):
            if sid not in audios:
                raise HxbenchError(f"--audio holds no file for sample {sid!r}")
            apath = audios[sid]
        else:
            apath = audios
        ref_clip = refs[sid] if refs is not None else None
        sources.append(SampleSource(
            sid,
            lambda sid=sid, clip=clip, ref_clip=ref_clip, apath=apath: SampleData(
                sample_id=sid, gen=clip, ref=ref_clip, audio_path=apath),
            fingerprint=lambda clip=clip, ref_clip=ref_clip, apath=apath: _pair_fingerprint(clip, ref_clip, apath)))
    return sources
