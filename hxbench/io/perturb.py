"""Perturbations of a sample's inputs, for checking what a metric responds to (``hxbench validity``).

Every perturbation writes a *new* file (a video, or a 16 kHz mono WAV) from a prepared clean
copy; nothing here writes to the user's inputs. Video perturbations decode the clean copy in
chunks, transform the frames and write them losslessly (H.264 in RGB, libx264rgb crf 0: decoding
gives back exactly the frames written, so the only change is the perturbation; ``identity`` is
that rewrite alone, a control that must move nothing) except ``reencode``, the lossy encode. Audio perturbations leave the video alone and write a new track.

| name | side | what it does |
| --- | --- | --- |
| ``shift+k`` / ``shift-k`` (k = 2, 5, 10) | audio | the speech delayed (+) / advanced (-) by k video frames (k * sr / fps samples): zeros in front and the end cut, or the start cut and zeros at the end; same length |
| ``other_speech`` | audio | another sample's speech (the partner: next sample in name order with a different audio file), repeated or cut to this length |
| ``silence`` | audio | all zeros |
| ``blur`` | video | Gaussian blur, sigma = max(1, 0.006 H) pixels (mild: 1.5 px at 256 px high) |
| ``jpeg`` | video | every frame JPEG-compressed at quality 15 |
| ``noise`` | video | additive Gaussian noise, sigma 10 (of 255), seeded per frame |
| ``drop_frames`` | video | every other frame dropped and the previous frame shown instead (half the frame rate, same length) |
| ``freeze`` | video | the first frame held for the whole length (a still image) |
| ``shuffle`` | video | frames permuted within consecutive one-second windows (seeded) |
| ``reencode`` | video | a lossy H.264 re-encode (crf 28, same frames and rate) |
| ``identity`` | video | the lossless rewrite alone (a control: nothing should move) |
| ``other_ref`` | reference | the reference (video or image) of the partner sample instead of this one's |

All of them keep the frame count, size and rate, so full-reference metrics still pair frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

SAMPLE_RATE = 16000
SHIFTS = (2, 5, 10)
JPEG_QUALITY = 15
NOISE_SIGMA = 10.0
BLUR_SIGMA_FRAC = 0.006
REENCODE_CRF = 28


@dataclass(frozen=True)
class Perturbation:
    name: str
    side: str  # "audio" | "video" | "ref"
    description: str


def _catalogue() -> dict[str, Perturbation]:
    out: dict[str, Perturbation] = {}
    for k in SHIFTS:
        for sign, word in (("+", "delayed"), ("-", "advanced")):
            out[f"shift{sign}{k}"] = Perturbation(f"shift{sign}{k}", "audio", f"speech {word} by {k} video frames")
    out["other_speech"] = Perturbation("other_speech", "audio", "another sample's speech")
    out["silence"] = Perturbation("silence", "audio", "silent audio")
    out["blur"] = Perturbation("blur", "video", f"Gaussian blur, sigma {BLUR_SIGMA_FRAC:g} x height")
    out["jpeg"] = Perturbation("jpeg", "video", f"JPEG quality {JPEG_QUALITY} per frame")
    out["noise"] = Perturbation("noise", "video", f"Gaussian noise sigma {NOISE_SIGMA:g}/255")
    out["drop_frames"] = Perturbation("drop_frames", "video", "every other frame replaced by the previous one")
    out["freeze"] = Perturbation("freeze", "video", "the first frame held throughout")
    out["shuffle"] = Perturbation("shuffle", "video", "frames permuted within 1 s windows")
    out["reencode"] = Perturbation("reencode", "video", f"lossy H.264 re-encode, crf {REENCODE_CRF}")
    out["identity"] = Perturbation("identity", "video", "lossless rewrite only (control)")
    out["other_ref"] = Perturbation("other_ref", "ref", "another sample's reference")
    return out


PERTURBATIONS: dict[str, Perturbation] = _catalogue()


def shift_frames(name: str) -> int | None:
    """k for ``shift+k`` / ``shift-k`` (signed), else None."""
    if name.startswith("shift") and name[5:6] in "+-" and name[6:].isdigit():
        return int(name[5:])
    return None


# -- audio ------------------------------------------------------------------------------------
def shift_audio(audio: np.ndarray, k: int, fps: float, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """``audio`` delayed by ``k`` video frames (k > 0: zeros in front, the end cut; k < 0: the
    start cut, zeros at the end), same length and dtype."""
    x = np.asarray(audio).reshape(-1)
    m = int(round(abs(k) * sample_rate / fps))
    out = np.zeros_like(x)
    if m >= len(x):
        return out
    if k > 0:
        out[m:] = x[:len(x) - m]
    elif k < 0:
        out[:len(x) - m] = x[m:]
    else:
        out[:] = x
    return out


def fit_length(audio: np.ndarray, n: int) -> np.ndarray:
    """``audio`` repeated or cut to ``n`` samples."""
    x = np.asarray(audio).reshape(-1)
    if len(x) == 0:
        return np.zeros(n, np.float32)
    return np.tile(x, -(-n // len(x)))[:n]


def perturb_audio(name: str, audio: np.ndarray, fps: float, other: np.ndarray | None = None,
                  sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The perturbed track for an audio perturbation ``name`` (``other``: the partner's audio)."""
    k = shift_frames(name)
    if k is not None:
        return shift_audio(audio, k, fps, sample_rate)
    if name == "silence":
        return np.zeros_like(np.asarray(audio).reshape(-1))
    if name == "other_speech":
        if other is None:
            raise ValueError("other_speech needs the partner's audio")
        return fit_length(other, len(np.asarray(audio).reshape(-1))).astype(np.float32)
    raise ValueError(f"{name!r} is not an audio perturbation")


# -- video ------------------------------------------------------------------------------------
def blur_frames(frames: np.ndarray) -> np.ndarray:
    import cv2

    sigma = max(1.0, BLUR_SIGMA_FRAC * frames.shape[1])
    return np.stack([cv2.GaussianBlur(f, (0, 0), sigma) for f in frames])


def jpeg_frames(frames: np.ndarray, quality: int = JPEG_QUALITY) -> np.ndarray:
    import cv2

    out = []
    for f in frames:
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(f[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        out.append(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return np.stack(out)


def noise_frames(frames: np.ndarray, start: int, seed: int = 0) -> np.ndarray:
    out = np.empty_like(frames)
    for i, f in enumerate(frames):
        rng = np.random.default_rng([seed, start + i])
        out[i] = np.clip(f.astype(np.float32) + rng.normal(0, NOISE_SIGMA, f.shape), 0, 255).round().astype(np.uint8)
    return out


def transform_chunks(name: str, chunks: Iterator[np.ndarray], fps: float, seed: int = 0) -> Iterator[np.ndarray]:
    """The frames of ``chunks`` ((t, H, W, 3) uint8) under the video perturbation ``name``,
    as chunks again; holds at most one chunk (``shuffle``: one second) of frames."""
    if name in ("identity", "reencode"):
        yield from chunks
        return
    if name in ("blur", "jpeg", "noise"):
        start = 0
        for c in chunks:
            yield blur_frames(c) if name == "blur" else jpeg_frames(c) if name == "jpeg" else noise_frames(c, start, seed)
            start += len(c)
        return
    if name == "drop_frames":
        start, prev = 0, None
        for c in chunks:
            c = c.copy()
            for i in range(len(c)):
                if (start + i) % 2 == 1:
                    c[i] = c[i - 1] if i > 0 else prev
            prev = c[-1]
            start += len(c)
            yield c
        return
    if name == "freeze":
        first = None
        for c in chunks:
            if first is None:
                first = c[0].copy()
            yield np.broadcast_to(first, c.shape).copy()
        return
    if name == "shuffle":
        win = max(2, int(round(fps or 25)))
        rng = np.random.default_rng(seed)
        buf: list[np.ndarray] = []
        for c in chunks:
            buf.extend(c)
            while len(buf) >= win:
                block, buf = buf[:win], buf[win:]
                yield np.stack([block[j] for j in rng.permutation(win)])
        if buf:
            yield np.stack([buf[j] for j in rng.permutation(len(buf))])
        return
    raise ValueError(f"{name!r} is not a video perturbation")


def write_perturbed_video(name: str, clean: Path, out: Path, seed: int = 0) -> Path:
    """Write ``clean`` (a video) under the video perturbation ``name`` to ``out`` (no audio)."""
    from hxbench.io.media import iter_frames, probe, write_video

    fps = probe(clean, count_frames=False).fps
    lossy = name == "reencode"
    tmp = out.with_name(out.stem + ".part" + out.suffix)
    write_video(tmp, transform_chunks(name, iter_frames(clean, chunk_size=32), fps, seed), fps, crf=REENCODE_CRF,
                preset="medium" if lossy else "ultrafast", lossless_rgb=not lossy)
    tmp.replace(out)
    return out


def prepare_clean(src_frames: Iterator[np.ndarray], fps: float, out: Path, max_side: int | None = None,
                  max_frames: int | None = None) -> Path:
    """The clean copy every perturbation starts from: ``src_frames`` downscaled so that the
    longer side is at most ``max_side`` (area filter, even sizes), cut to ``max_frames``,
    written losslessly (libx264rgb crf 0)."""
    from hxbench.io.media import write_video

    def frames() -> Iterator[np.ndarray]:
        n = 0
        for c in src_frames:
            if max_frames is not None:
                c = c[:max_frames - n]
                if len(c) == 0:
                    return
            n += len(c)
            yield resize_frames(c, max_side)

    tmp = out.with_name(out.stem + ".part" + out.suffix)
    write_video(tmp, frames(), fps, preset="ultrafast", lossless_rgb=True)
    tmp.replace(out)
    return out


def resize_frames(frames: np.ndarray, max_side: int | None) -> np.ndarray:
    """Frames scaled down (never up) so the longer side is at most ``max_side``; width and
    height rounded to even numbers (H.264 yuv420p)."""
    import cv2

    h, w = frames.shape[1:3]
    s = 1.0 if not max_side or max(h, w) <= max_side else max_side / max(h, w)
    nh, nw = max(2, int(round(h * s / 2)) * 2), max(2, int(round(w * s / 2)) * 2)
    if (nh, nw) == (h, w):
        return frames
    return np.stack([cv2.resize(f, (nw, nh), interpolation=cv2.INTER_AREA) for f in frames])


def partners(ids: Sequence[str], groups: Sequence[str]) -> dict[str, str]:
    """For each sample id the partner whose inputs stand in for ``other_speech`` / ``other_ref``:
    the next id in order (cyclically) whose group (e.g. its audio file's hash) differs; a
    sample with no such partner is left out."""
    n = len(ids)
    out = {}
    for i, sid in enumerate(ids):
        for d in range(1, n):
            j = (i + d) % n
            if groups[j] != groups[i]:
                out[sid] = ids[j]
                break
    return out


