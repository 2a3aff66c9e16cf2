"""Decode once, feed every metric: the fan-out of one sample's frames to metric streams.

``run_streams(sample, streams)`` reads the sample's generated and reference clips together in
chunks sized by the memory budget (``hxbench.io.budget``) and hands each chunk to every
``SampleStream`` that reads that side, so a run of several metrics decodes each video once and
holds about one chunk per side at a time, whatever the video's length. A stream that fails is
dropped with its error and the others go on; a clip that cannot be decoded fails the streams
that read it. Streams that say ``done`` stop receiving frames, and a side that no stream still
reads stops being decoded.
"""

from __future__ import annotations

from typing import Any, Hashable, Iterator, Mapping

import numpy as np

from hxbench.errors import MediaError, SampleError
from hxbench.io.budget import memory_budget, settle_heap_thresholds, trim_freed_memory

# What fails one sample without stopping a run: its error is recorded and the run goes on. A
# MemoryError is one: a video too large for the memory left fails alone (lower the budget with
# --memory-budget, or free memory), the rest are scored.
SAMPLE_FAILURES = (SampleError, MediaError, MemoryError)


class SampleStream:
    """One metric's state for one sample, fed by a decoding pass that all metrics share.

    ``sides``: the clips it reads, from ("gen", "ref"). ``feed(gen, ref)`` gets the next
    (t, H, W, 3) uint8 frames of each side it reads, in order, at the clips' decoding rate;
    both sides carry the same t while both last, and a side is None once it has ended (and
    always for a side not in ``sides``). ``done`` set to True says no more frames are needed
    (e.g. FVD's first-16-frames protocol), so decoding can stop early. ``finish()`` returns
    the per-sample values (``PerSampleMetric``) or the ``SampleScore`` (set metrics). A stream
    keeps only its reduction (running sums, features, landmarks), never the frames.
    A stream may drop a side from ``sides`` once it needs no more of it (id_sim's reference
    after its first face): it then gets None for that side, and a side that no open stream
    reads stops being decoded. A failure raises one of ``SAMPLE_FAILURES`` from ``feed`` or
    ``finish``.
    """

    sides: tuple[str, ...] = ("gen",)
    done: bool = False

    def feed(self, gen: np.ndarray | None, ref: np.ndarray | None) -> None:
        raise NotImplementedError

    def finish(self) -> Any:
        raise NotImplementedError


# Bytes of one chunk of one side: 1/16 of the budget (the decoder holds a chunk's frames in a
# list and stacks them, and metrics make float copies of parts of it: ~8 chunk sizes in all).
CHUNK_SHARE = 16


def chunk_bytes() -> int:
    """Bytes of uint8 frames per chunk and side that the fan-out hands to streams."""
    return max(1, memory_budget() // CHUNK_SHARE)


class _Side:
    """One clip being decoded: a buffer of decoded frames not yet handed out."""

    def __init__(self, name: str, chunks: Iterator[np.ndarray]) -> None:
        self.name, self.chunks = name, chunks
        self.buffer: np.ndarray | None = None
        self.ended = False

    def fill(self) -> None:
        """Decode the next chunk if the buffer is empty (raises what the decoder raises)."""
        if self.ended or (self.buffer is not None and len(self.buffer)):
            return
        chunk = next(self.chunks, None)
        if chunk is None:
            self.stop()
            return
        chunk = np.asarray(chunk)
        self.buffer = chunk[None] if chunk.ndim == 3 else chunk

    def take(self, t: int) -> np.ndarray | None:
        if self.ended or self.buffer is None:
            return None
        out, self.buffer = self.buffer[:t], self.buffer[t:]
        return out

    def stop(self) -> None:
        if hasattr(self.chunks, "close"):
            self.chunks.close()
        self.ended, self.buffer = True, None


def run_streams(sample: "SampleData", streams: Mapping[Hashable, SampleStream],
                max_bytes: int | None = None) -> dict[Hashable, Exception | None]:
    """Feed ``streams`` from one decoding pass over ``sample`` (a ``SampleData``); returns
    each stream's error (None: fed completely, ready for ``finish``). Both sides advance in lockstep: each step
    hands every stream the same number of frames of each side still running."""
    settle_heap_thresholds()  # passes over a few frames keep their pages from one sample to the next
    errors: dict[Hashable, Exception | None] = {k: None for k in streams}
    live = dict(streams)

    def fail(side: str, err: Exception) -> None:
        for k, s in list(live.items()):
            if side in s.sides:
                errors[k] = err
                del live[k]

    max_bytes = chunk_bytes() if max_bytes is None else max_bytes
    sides: dict[str, _Side] = {}
    for name in ("gen", "ref"):
        if not any(name in s.sides for s in live.values()):
            continue
        clip = getattr(sample, name)
        if clip is None:
            fail(name, SampleError(f"sample {sample.sample_id!r} has no {name} video"))
            continue
        sides[name] = _Side(name, clip.iter_chunks(1 << 16, max_bytes=max_bytes))
    taken_since_trim = 0
    try:
        while live:
            for side in sides.values():
                try:
                    side.fill()
                except SAMPLE_FAILURES as err:  # this clip cannot be decoded: its readers fail
                    side.stop()
                    fail(side.name, err)
            running = [s for s in sides.values() if not s.ended]
            if not running:
                break
            t = min(len(s.buffer) for s in running)
            chunk = {name: side.take(t) for name, side in sides.items()}
            step_bytes = sum(c.nbytes for c in chunk.values() if c is not None)
            # on a full chunk (7 frames at 1080p) each stream does seconds of network work and
            # frees hundreds of MB of activations, which glibc keeps; the next stream's blocks
            # did not all fit in them (a one-minute 1080p pair peaked 12 % over a 5 s one, in an
            # FID call that started on LPIPS's freed memory): give them back between streams
            # (+2.5 % since; a trim costs ~8 ms; docs/performance.md, "The heap over a long run")
            trim_between_streams = 2 * step_bytes >= max_bytes
            for k, s in list(live.items()):
                try:
                    s.feed(chunk.get("gen") if "gen" in s.sides else None,
                           chunk.get("ref") if "ref" in s.sides else None)
                except SAMPLE_FAILURES as err:
                    errors[k] = err
                    del live[k]
                    continue
                if s.done:
                    del live[k]
                if trim_between_streams:
                    trim_freed_memory()
            for name, side in sides.items():  # e.g. only FVD's first 16 frames were needed
                if not side.ended and not any(name in s.sides for s in live.values()):
                    side.stop()
            taken_since_trim += step_bytes
            del chunk
            # the chunks' pages go back to the system (no creep with length) after every full
            # chunk, but not after each small clip: a trim costs ~8 ms
            if trim_between_streams or 2 * taken_since_trim >= max_bytes:
                trim_freed_memory()
                taken_since_trim = 0
    finally:
        for side in sides.values():
            side.stop()
    return errors


class SharedReduction:
    """A reduction of one clip (e.g. a face-mesh session) that several streams of a sample
    feed with the same chunks: each frame is processed once, by whichever stream hands it over
    first. ``reducer`` has ``feed(chunk)`` and ``finish()``; ``result()`` is ``finish()``'s value,
    computed once."""

    def __init__(self, reducer) -> None:
        self.reducer = reducer
        self.n_seen = 0
        self._done = False
        self._result = None

    def feed(self, chunk: np.ndarray, start: int) -> None:
        """Hand over frames ``start .. start + len(chunk)`` of the clip."""
        if start > self.n_seen:
            raise ValueError(f"frames {self.n_seen}..{start} of the clip were skipped")
        new = chunk[self.n_seen - start:]
        if len(new):
            self.reducer.feed(new)
            self.n_seen += len(new)

    def result(self):
        if not self._done:
            self._result, self._done = self.reducer.finish(), True
        return self._result


def shared_reduction(sample: "SampleData", key: Hashable, make) -> SharedReduction:
    """The sample's ``SharedReduction`` under ``key`` (``make()`` builds its reducer once)."""
    if key not in sample.shared:
        sample.shared[key] = SharedReduction(make())
    return sample.shared[key]


def needs_resampling(clip, fps: float) -> bool:
    """True for a video decoded at a rate other than ``fps`` (a protocol defined at a fixed rate,
    read as ``ffmpeg -r`` would)."""
    rate = clip.target_fps or clip.fps
    return bool(clip.kind == "video" and rate and abs(rate - fps) > 1e-3)


def score_alone(metric, sample: "SampleData", fps: float, sample_rate: int) -> dict[str, float]:
    """One sample scored through the metric's own stream outside a shared pass; a generated
    video at another rate than ``fps`` is re-read at ``fps`` first, with its audio at
    ``sample_rate`` (the metrics whose protocol fixes the frame rate: sync, av_sync)."""
    from hxbench.io.media import clip_from_video

    if sample.gen is not None and needs_resampling(sample.gen, fps):
        sample = type(sample)(sample.sample_id, gen=clip_from_video(sample.gen.source, target_fps=fps),
                            audio=sample.load_audio(sample_rate), sample_rate=sample_rate)
    stream = metric.open_stream(sample)
    error = run_streams(sample, {0: stream})[0]
    if error is not None:
        raise error
    return stream.finish()
