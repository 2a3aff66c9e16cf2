"""Media I/O: decode and encode video and audio, read frame arrays and image folders.

Conventions (everywhere in hxbench):
- frames are ``uint8`` RGB arrays shaped ``(T, H, W, 3)``; one frame is ``(H, W, 3)``;
- audio is mono ``float32`` in [-1, 1], shaped ``(S,)``, at an explicit sample rate
  (16 kHz for every lip-sync protocol);
- fps is a float; timestamps are seconds.

Decoding streams: ``iter_frames`` yields chunks, so a long video never sits in memory whole.
Every failure raises ``MediaError`` naming the file and the problem.
"""

from __future__ import annotations

import fractions
import math
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Iterator

import numpy as np

from hxbench.errors import MediaError

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".m4a", ".ogg", ".aac")


def _av():
    import av  # imported lazily: listing metrics should not need FFmpeg

    # No Python log callback: with one installed, a decoder thread that logs while the main
    # thread frees its codec context (holding the GIL) waits for the GIL forever (a deadlock
    # seen closing a threaded H.264 decoder). Decoding errors still raise, with the file named.
    av.logging.set_level(None)
    return av


def _existing_file(path: str | Path) -> Path:
    """``path`` as a Path, or MediaError naming it when it is missing or empty."""
    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "no such file")
    if path.stat().st_size == 0:
        raise MediaError(path, "file is empty (0 bytes)")
    return path


# -- probing ------------------------------------------------------------------------------------
@dataclass
class VideoInfo:
    path: str
    fps: float
    n_frames: int
    width: int
    height: int
    duration: float
    has_audio: bool
    audio_sample_rate: int | None
    variable_fps: bool


def probe(path: str | Path, count_frames: bool = True) -> VideoInfo:
    """Read a video's stream properties. ``count_frames`` demuxes (no decode) to count frames
    exactly and to detect a variable frame rate from the packet timestamps."""
    path = _existing_file(path)
    av = _av()
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(path, "has no video stream")
            vstream = container.streams.video[0]
            rate = vstream.average_rate or vstream.guessed_rate or vstream.base_rate
            if not rate:
                raise MediaError(path, "frame rate is unknown")
            fps = float(rate)
            astreams = container.streams.audio
            has_audio = len(astreams) > 0
            sr = int(astreams[0].rate) if has_audio and astreams[0].rate else None
            n_frames = int(vstream.frames or 0)
            variable = False
            if count_frames:
                pts = []
                for packet in container.demux(vstream):
                    if packet.pts is not None and packet.size > 0:
                        pts.append(packet.pts)
                if n_frames > len(pts):  # the index (moov, e.g. of a fast-start mp4) lists frames the file lacks
                    raise MediaError(path, f"is truncated: its index lists {n_frames} video frames but only "
                                           f"{len(pts)} are in the file (an interrupted write or copy?)")
                # Frames timed before the stream's start are encoder pre-roll that an MP4 edit list
                # cuts (a real MoChaBench output has 4 at pts < 0): decoders never output them.
                start = vstream.start_time if vstream.start_time is not None else min(pts, default=0)
                pts = [p for p in pts if p >= start]
                n_frames = len(pts)
                if len(pts) > 2:
                    pts_sorted = np.sort(np.asarray(pts, dtype=np.int64))
                    deltas = np.diff(pts_sorted).astype(np.float64) * float(vstream.time_base)
                    expected = 1.0 / fps
                    # tolerate rounding of pts to the time base (one tick) and small jitter
                    tol = max(float(vstream.time_base) * 1.5, expected * 0.05)
                    variable = bool(np.any(np.abs(deltas - expected) > tol))
            if n_frames == 0:
                raise MediaError(path, "has zero frames")
            duration = n_frames / fps
            return VideoInfo(str(path), fps, n_frames, vstream.codec_context.width,
                             vstream.codec_context.height, duration, has_audio, sr, variable)
    except MediaError:
        raise
    except Exception as err:  # av.error.* and friends: corrupt or unsupported file
        raise MediaError(path, f"cannot be read as video ({type(err).__name__}: {err})") from None


# -- frame index resampling ---------------------------------------------------------------------
def resample_indices(n_src: int, src_fps: float, dst_fps: float) -> np.ndarray:
    """Source frame index for each output frame when converting src_fps -> dst_fps.

    Nearest-earlier-frame selection on the time grid, as ``ffmpeg -r`` (fps filter with
    round=near) does: output frame k shows the source frame displayed at t = k / dst_fps.
    """
    if src_fps <= 0 or dst_fps <= 0:
        raise ValueError("fps must be positive")
    duration = n_src / src_fps
    n_dst = max(int(math.floor(duration * dst_fps + 1e-6)), 1)
    t = np.arange(n_dst) / dst_fps
    idx = np.floor(t * src_fps + 1e-6).astype(np.int64)
    return np.clip(idx, 0, n_src - 1)


# -- decoding -----------------------------------------------------------------------------------
def chunk_frames(chunk_size: int, frame_nbytes: int, max_bytes: int | None) -> int:
    """Frames per chunk: ``chunk_size``, fewer when ``max_bytes`` holds fewer frames (at least 1)."""
    if max_bytes is None:
        return chunk_size
    return max(1, min(chunk_size, max_bytes // max(1, frame_nbytes)))


def iter_frames(path: str | Path, chunk_size: int = 64, fps: float | None = None,
                allow_variable_fps: bool = False, max_bytes: int | None = None) -> Iterator[np.ndarray]:
    """Yield (t, H, W, 3) uint8 RGB chunks of a video; ``fps`` resamples on the fly. A chunk
    holds at most ``chunk_size`` frames and, when ``max_bytes`` is given, at most that many
    bytes (but always one frame)."""
    path = Path(path)
    info = probe(path)
    if info.variable_fps and not allow_variable_fps:
        raise MediaError(path, f"has a variable frame rate (nominal {info.fps:.3f} fps); "
                               "re-encode it at a constant rate, e.g. ffmpeg -i IN -r 25 OUT")
    keep = None
    if fps is not None and abs(fps - info.fps) > 1e-3:
        keep = resample_indices(info.n_frames, info.fps, fps)
    av = _av()
    # Frames are copied into one chunk array as they are decoded, not listed and then stacked:
    # the chunk is never held twice, and no chunk's worth of frame-sized blocks is left for
    # glibc's heap to fragment over a long video (docs/performance.md, "The heap over a long run").
    chunk: np.ndarray | None = None
    filled = 0
    n_decoded = 0

    def put(rgb: np.ndarray, copies: int) -> Iterator[np.ndarray]:
        """Copy ``rgb`` into the chunk ``copies`` times; yield each chunk as it fills."""
        nonlocal chunk, filled
        for _ in range(copies):
            if chunk is None:
                chunk, filled = np.empty((chunk_size, *rgb.shape), np.uint8), 0
            chunk[filled] = rgb
            filled += 1
            if filled == chunk_size:
                full, chunk = chunk, None
                yield full

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            next_out = 0
            for frame in container.decode(stream):
                rgb = frame.to_ndarray(format="rgb24")
                if n_decoded == 0:
                    chunk_size = chunk_frames(chunk_size, rgb.nbytes, max_bytes)
                copies = 1
                if keep is not None:
                    start = next_out
                    while next_out < len(keep) and keep[next_out] == n_decoded:
                        next_out += 1
                    copies = next_out - start
                n_decoded += 1
                yield from put(rgb, copies)
            if keep is not None and n_decoded > 0:  # the container may hold fewer frames than counted
                yield from put(rgb, len(keep) - next_out)
    except MediaError:
        raise
    except Exception as err:
        raise MediaError(path, f"decoding failed after {n_decoded} frames "
                               f"({type(err).__name__}: {err})") from None
    if n_decoded == 0:
        raise MediaError(path, "has zero decodable frames")
    if chunk is not None and filled:
        yield chunk[:filled]


def check_decodes(path: str | Path, n_frames: int | None = None) -> int:
    """Decode every video frame (no colour conversion) and return how many decoded; MediaError
    naming the frame where decoding fails, or how many of ``n_frames`` (the probed count) are
    missing. Cost: about 0.2 s per second of 1952x1056 25 fps H.264 (measured on a shared
    2-core machine: 0.8-1.2 s for a 5.28 s clip, against 0.02 s for the probe), a fraction
    of what any metric spends decoding the same video."""
    path = _existing_file(path)
    av = _av()
    n = 0
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for _ in container.decode(stream):
                n += 1
    except Exception as err:
        where = f"frame {n}" + (f" of {n_frames}" if n_frames else "")
        raise MediaError(path, f"decoding fails at {where} ({type(err).__name__}: {err}); "
                               "the file is corrupt: re-encode or re-export it") from None
    if n_frames is not None and n < n_frames:
        raise MediaError(path, f"only {n} of its {n_frames} video frames decode (frame {n} is the first that "
                               "does not); the file is corrupt")
    return n


def read_video(path: str | Path, fps: float | None = None) -> np.ndarray:
    """All frames of a video as (T, H, W, 3) uint8 (use iter_frames for long videos)."""
    return np.concatenate(list(iter_frames(path, fps=fps)), axis=0)


def _resample_audio(x: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    if src_rate == dst_rate:
        return x.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    g = math.gcd(int(src_rate), int(dst_rate))
    return resample_poly(x, dst_rate // g, src_rate // g).astype(np.float32)


def read_audio(path: str | Path, sample_rate: int = 16000) -> np.ndarray:
    """Decode the first audio stream of a file (audio or video) to mono float32."""
    path = _existing_file(path)
    av = _av()
    chunks = []
    src_rate = None
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise MediaError(path, "has no audio stream")
            stream = container.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            for frame in container.decode(stream):
                src_rate = frame.sample_rate
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except MediaError:
        raise
    except Exception as err:
        raise MediaError(path, f"cannot decode audio ({type(err).__name__}: {err})") from None
    if not chunks or src_rate is None:
        raise MediaError(path, "audio stream is empty")
    audio = np.concatenate(chunks).astype(np.float32)
    if not np.all(np.isfinite(audio)):
        raise MediaError(path, "audio contains NaN or infinite samples")
    return audio


def write_wav(path: str | Path, audio: np.ndarray, sample_rate: int = 16000) -> None:
    """Write mono float audio in [-1, 1] as 16-bit PCM WAV."""
    import wave

    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype("<i2")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(int(sample_rate))
        w.writeframes(pcm.tobytes())


# -- encoding -----------------------------------------------------------------------------------
def write_video(path: str | Path, frames: np.ndarray | Iterator[np.ndarray], fps: float,
                audio: np.ndarray | None = None, sample_rate: int = 16000,
                crf: int = 18, preset: str = "medium", lossless_rgb: bool = False) -> Path:
    """Write frames (T, H, W, 3) uint8 (or an iterator of chunks) as H.264 mp4 with AAC audio.

    Width and height must be even (yuv420p). ``crf`` 18 is visually lossless; 0 is lossless
    H.264 of the yuv420p frames (the RGB -> YUV conversion still rounds). ``lossless_rgb``:
    H.264 in RGB (libx264rgb, crf 0): decoding gives back exactly the frames written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    av = _av()
    chunks = [frames] if isinstance(frames, np.ndarray) else frames
    rate = Fraction(fps).limit_denominator(1001)
    container = av.open(str(path), mode="w")
    try:
        vstream = None
        astream = None
        n = 0
        for chunk in chunks:
            chunk = np.asarray(chunk)
            if chunk.ndim == 3:
                chunk = chunk[None]
            _check_frames(chunk, path)
            if vstream is None:
                h, w = chunk.shape[1:3]
                if h % 2 or w % 2:
                    raise MediaError(path, f"frame size {w}x{h} must be even for H.264 yuv420p")
                vstream = container.add_stream("libx264rgb" if lossless_rgb else "libx264", rate=rate)
                vstream.width, vstream.height = w, h
                vstream.pix_fmt = "rgb24" if lossless_rgb else "yuv420p"
                # Every video hxbench writes must be reproducible byte for byte. libx264's
                # macroblock-tree rate control is not: on a loaded machine one 6-frame clip gave
                # 2-4 different files in 40-60 encodes, with one thread as with automatic threads;
                # with mbtree=0 it gave one file in 220. One thread as well, because x264's output
                # may depend on its thread count, which differs between machines.
                vstream.options = {"crf": "0" if lossless_rgb else str(crf), "preset": preset, "threads": "1",
                                   "x264-params": "mbtree=0"}
                if audio is not None:
                    astream = container.add_stream("aac", rate=int(sample_rate))
                    astream.layout = "mono"
            for img in chunk:
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
                for packet in vstream.encode(frame):
                    container.mux(packet)
                n += 1
        if vstream is None or n == 0:
            raise MediaError(path, "no frames to write")
        for packet in vstream.encode():
            container.mux(packet)
        if astream is not None:
            a = np.clip(np.asarray(audio, dtype=np.float32).reshape(1, -1), -1, 1)
            hop = 1024
            for start in range(0, a.shape[1], hop):
                piece = np.ascontiguousarray(a[:, start:start + hop])
                aframe = av.AudioFrame.from_ndarray(piece, format="flt", layout="mono")
                aframe.sample_rate = int(sample_rate)
                aframe.pts = start
                aframe.time_base = fractions.Fraction(1, int(sample_rate))
                for packet in astream.encode(aframe):
                    container.mux(packet)
            for packet in astream.encode(None):
                container.mux(packet)
    finally:
        container.close()
    return path


def _check_frames(frames: np.ndarray, source: object) -> None:
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise MediaError(source, f"expected frames shaped (T, H, W, 3), got {frames.shape}")
    if frames.dtype != np.uint8:
        raise MediaError(source, f"expected uint8 frames, got {frames.dtype}")


# -- arrays and images --------------------------------------------------------------------------
def to_uint8(array: np.ndarray, source: object) -> np.ndarray:
    """Validate a frame array (uint8, or float in [0, 1]) and return it as uint8."""
    array = np.asarray(array)
    if array.dtype == np.uint8:
        return array
    if np.issubdtype(array.dtype, np.floating):
        if not np.all(np.isfinite(array)):
            raise MediaError(source, "array contains NaN or infinite values")
        lo, hi = float(array.min()), float(array.max())
        if lo < 0.0 or hi > 1.0:
            raise MediaError(source, f"float array values must lie in [0, 1], found [{lo:.4g}, {hi:.4g}]")
        return (array * 255.0 + 0.5).astype(np.uint8)
    raise MediaError(source, f"unsupported array dtype {array.dtype} (use uint8 or float in [0, 1])")


def load_npy_videos(path: str | Path) -> np.ndarray:
    """A .npy of shape (N, T, H, W, C) (C = 3, or 1 for grey) as uint8; memory-mapped."""
    path = Path(path)
    try:
        array = np.load(path, mmap_mode="r")
    except Exception as err:
        raise MediaError(path, f"cannot be read as .npy ({err})") from None
    if array.ndim != 5 or array.shape[-1] not in (1, 3):
        raise MediaError(path, f"expected an array shaped (N, T, H, W, C) with C in (1, 3), got {array.shape}")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise MediaError(path, f"array has no videos or no frames: shape {array.shape}")
    return array


def read_image(path: str | Path) -> np.ndarray:
    """One image as (H, W, 3) uint8 RGB."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise MediaError(path, "no such file")
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError) as err:
        raise MediaError(path, f"cannot be read as an image ({err})") from None


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def list_videos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())


# -- clips: one sample's video, loaded on demand ------------------------------------------------
@dataclass
class Clip:
    """One video (or one image as a 1-frame video) from a file, a frame folder or an array.

    ``frames`` decodes on first access; ``iter_chunks`` streams without holding all frames.
    ``fps`` is None for arrays and images that carry no rate.
    """

    source: str
    kind: str  # "video" | "array" | "image" | "frames"
    fps: float | None = None
    target_fps: float | None = None  # resample to this rate when decoding
    _array: np.ndarray | None = field(default=None, repr=False)
    _paths: list[Path] | None = field(default=None, repr=False)
    _cache: np.ndarray | None = field(default=None, repr=False)

    @property
    def frames(self) -> np.ndarray:
        if self._cache is None:
            self._cache = np.concatenate(list(self.iter_chunks()), axis=0)
        return self._cache

    def iter_chunks(self, chunk_size: int = 64, max_bytes: int | None = None) -> Iterator[np.ndarray]:
        """(t, H, W, 3) uint8 chunks of at most ``chunk_size`` frames and ``max_bytes`` bytes."""
        if self._cache is not None:
            chunk_size = chunk_frames(chunk_size, self._cache[0].nbytes, max_bytes)
            for i in range(0, len(self._cache), chunk_size):
                yield self._cache[i:i + chunk_size]
        elif self.kind == "video":
            yield from iter_frames(self.source, chunk_size=chunk_size, fps=self.target_fps,
                                   max_bytes=max_bytes)
        elif self.kind == "array":
            assert self._array is not None
            h, w = self._array.shape[1:3]
            if h == 0 or w == 0:  # a per-sample error for every metric (resizing networks would crash)
                raise MediaError(self.source, f"frames are {w}x{h} pixels: an empty video")
            chunk_size = chunk_frames(chunk_size, h * w * 3, max_bytes)
            for i in range(0, self._array.shape[0], chunk_size):
                chunk = to_uint8(np.asarray(self._array[i:i + chunk_size]), self.source)
                if chunk.shape[-1] == 1:
                    chunk = np.repeat(chunk, 3, axis=-1)
                yield chunk
        else:  # "image" or "frames"
            assert self._paths is not None
            buf: list[np.ndarray] = []
            for p in self._paths:
                buf.append(read_image(p))
                if len(buf) >= chunk_frames(chunk_size, buf[0].nbytes, max_bytes):
                    yield np.stack(buf)
                    buf = []
            if buf:
                yield np.stack(buf)

    def fingerprint(self) -> str:
        """sha256 of the bytes behind this clip (file hashes are cached by size and mtime)."""
        import hashlib

        from hxbench.paths import cached_sha256

        if self.kind == "video":
            return cached_sha256(Path(self.source))
        if self.kind == "array":
            file, _, index = self.source.rpartition("[")
            return hashlib.sha256(f"{cached_sha256(Path(file))}[{index}".encode()).hexdigest()
        assert self._paths is not None
        return hashlib.sha256("".join(cached_sha256(p) for p in self._paths).encode()).hexdigest()

    def audio(self, sample_rate: int = 16000) -> np.ndarray:
        if self.kind != "video":
            raise MediaError(self.source, "has no audio (not a video file)")
        return read_audio(self.source, sample_rate)


def clip_from_video(path: str | Path, target_fps: float | None = None) -> Clip:
    info = probe(path, count_frames=False)
    return Clip(source=str(path), kind="video", fps=info.fps, target_fps=target_fps)


def open_inputs(path: str | Path, target_fps: float | None = None) -> dict[str, Clip]:
    """Open a path as a set of samples keyed by sample id.

    - ``x.npy`` (N, T, H, W, C): N samples with ids "0" .. "N-1";
    - a video file: one sample, id = file stem;
    - a folder of videos: one sample per video, id = file stem;
    - a folder of images: one sample per image (a 1-frame clip), id = file stem;
    - a folder of folders of images: one sample per subfolder (its frames in name order).
    """
    path = Path(path)
    if not path.exists():
        raise MediaError(path, "no such file or folder")
    if path.is_file():
        if path.suffix.lower() == ".npy":
            array = load_npy_videos(path)
            return {str(i): Clip(source=f"{path}[{i}]", kind="array", _array=array[i])
                    for i in range(array.shape[0])}
        if path.suffix.lower() in VIDEO_EXTENSIONS:
            return {path.stem: clip_from_video(path, target_fps)}
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            return {path.stem: Clip(source=str(path), kind="image", _paths=[path])}
        raise MediaError(path, "unsupported input (expected .npy, a video, an image or a folder)")
    videos = list_videos(path)
    images = list_images(path)
    subdirs = sorted(p for p in path.iterdir() if p.is_dir())
    kinds = sum(bool(x) for x in (videos, images, subdirs))
    if kinds == 0:
        raise MediaError(path, "folder holds no videos, images or frame folders")
    if kinds > 1:
        raise MediaError(path, "folder mixes videos, images and/or subfolders; keep one kind per folder")
    if videos:
        return {p.stem: clip_from_video(p, target_fps) for p in videos}
    if images:
        return {p.stem: Clip(source=str(p), kind="image", _paths=[p]) for p in images}
    clips = {}
    for d in subdirs:
        frames = list_images(d)
        if not frames:
            raise MediaError(d, "frame folder holds no images")
        clips[d.name] = Clip(source=str(d), kind="frames", _paths=frames)
    return clips
