"""DWPose whole-body pose (133 COCO-WholeBody keypoints) on ONNX Runtime.

Restates the ONNX inference of IDEA-Research/DWPose
(``ControlNet-v1-1-nightly/annotator/dwpose/{onnxdet,onnxpose,wholebody}.py``; rtmlib's
``YOLOX`` / ``RTMPose`` do the same) with its two published models (huggingface
``yzd-v/DWPose``, Apache-2.0):

- person detector ``yolox_l.onnx`` (``dwpose-yolox-l``): the frame letterboxed into 640 x 640
  (top-left, resize factor r = min(640 / H, 640 / W), bilinear, pad value 114), float32
  CHW 0-255, no normalisation. Output (1, 8400, 85) decoded with the YOLOX grids of strides
  8 / 16 / 32 (xy = (p + grid) * stride, wh = exp(p) * stride), score = objectness x class,
  class-wise NMS (IoU 0.45, score > 0.1), then persons (class 0) with score > 0.3; boxes / r.
- pose model ``dw-ll_ucoco_384.onnx`` (``dwpose-ll-ucoco-384``): per person box,
  center = box centre, scale = box size x 1.25, widened to the model's aspect ratio
  (w / h = 288 / 384), affine-warped (bilinear) to 288 x 384, normalised with ImageNet
  mean (123.675, 116.28, 103.53) / std (58.395, 57.12, 57.375). No person found -> the whole
  frame is the box (as DWPose does). Outputs SimCC ``simcc_x`` (1, 133, 576) and
  ``simcc_y`` (1, 133, 768) (split ratio 2). Decoding: x = argmax(simcc_x) / 2,
  y = argmax(simcc_y) / 2 in the 288 x 384 crop, mapped back by
  ``kp / input_size * scale + center - scale / 2``; the keypoint **score** is
  min(max simcc_x, max simcc_y) (``get_simcc_maximum``), location -1 where score <= 0.

Frames are passed as hxbench holds them (RGB), as the ControlNet annotator passes its RGB
image to both models. COCO-WholeBody order: 0-16 body (9 / 10 = left / right wrist), 17-22
feet, 23-90 face, 91-111 left hand, 112-132 right hand (21 points each, wrist first).
"""

from __future__ import annotations

import threading

import numpy as np

from hxbench.weights import WeightSpec, register_weights

_HF = "https://huggingface.co/yzd-v/DWPose/resolve/main/"
# sha256 as stated identically in several public download manifests / verifiers of these files
# (found by content search; one records it equal to the Hugging Face LFS sha256 of
# yzd-v/DWPose); sizes 216,746,733 and 134,399,116 bytes (docs/metrics/identity_emotion_hands.md).
register_weights(WeightSpec(
    name="dwpose-yolox-l", filename="yolox_l.onnx",
    sha256="7860ae79de6c89a3c1eb72ae9a2756c0ccfbe04b7791bb5880afabd97855a411",
    description="DWPose person detector YOLOX-L (ONNX, 640x640)",
    license="Apache-2.0 (yzd-v/DWPose)", urls=(_HF + "yolox_l.onnx",),
    notes="DWPose's person detector; run by onnxruntime (hxbench.nets.dwpose).",
))
register_weights(WeightSpec(
    name="dwpose-ll-ucoco-384", filename="dw-ll_ucoco_384.onnx",
    sha256="724f4ff2439ed61afb86fb8a1951ec39c6220682803b4a8bd4f598cd913b1843",
    description="DWPose-L whole-body pose, 133 keypoints, SimCC (ONNX, 288x384)",
    license="Apache-2.0 (yzd-v/DWPose)", urls=(_HF + "dw-ll_ucoco_384.onnx",),
    notes="RTMPose-l distilled on UBody+COCO-WholeBody (DWPose); run by onnxruntime.",
))

WEIGHT_NAMES = ("dwpose-yolox-l", "dwpose-ll-ucoco-384")
DET_SIZE = (640, 640)
LEFT_HAND = slice(91, 112)
RIGHT_HAND = slice(112, 133)
BODY_WRISTS = (9, 10)
_SESSIONS: dict[str, object] = {}
_LOCK = threading.Lock()


def session(name: str):
    """Cached onnxruntime CPU session of a registered DWPose weight."""
    import onnxruntime as ort

    from hxbench.weights import resolve

    with _LOCK:
        if name not in _SESSIONS:
            _SESSIONS[name] = ort.InferenceSession(str(resolve(name)), providers=["CPUExecutionProvider"])
        return _SESSIONS[name]


# -- detector (onnxdet.py) ----------------------------------------------------------------------
def det_preprocess(img: np.ndarray, size=DET_SIZE) -> tuple[np.ndarray, float]:
    """Letterbox (top-left, pad 114) -> ((3, h, w) float32 0-255, ratio r)."""
    import cv2

    padded = np.full((size[0], size[1], 3), 114, np.uint8)
    r = min(size[0] / img.shape[0], size[1] / img.shape[1])
    nh, nw = int(img.shape[0] * r), int(img.shape[1] * r)
    padded[:nh, :nw] = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR).astype(np.uint8)
    return np.ascontiguousarray(padded.transpose(2, 0, 1), dtype=np.float32), r


def yolox_grid_decode(out: np.ndarray, size=DET_SIZE) -> np.ndarray:
    """YOLOX ``demo_postprocess``: raw (N, A, 5 + C) -> centre / size in input pixels."""
    grids, strides = [], []
    for s in (8, 16, 32):
        h, w = size[0] // s, size[1] // s
        xv, yv = np.meshgrid(np.arange(w), np.arange(h))
        grids.append(np.stack((xv, yv), 2).reshape(1, -1, 2))
        strides.append(np.full((1, h * w, 1), s))
    grids, strides = np.concatenate(grids, 1), np.concatenate(strides, 1)
    out = out.copy()
    out[..., :2] = (out[..., :2] + grids) * strides
    out[..., 2:4] = np.exp(out[..., 2:4]) * strides
    return out


def nms(boxes: np.ndarray, scores: np.ndarray, thr: float) -> list[int]:
    """Greedy single-class NMS with DWPose's +1 pixel areas."""
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i = order[0]
        keep.append(int(i))
        w = np.maximum(0.0, np.minimum(x2[i], x2[order[1:]]) - np.maximum(x1[i], x1[order[1:]]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[order[1:]]) - np.maximum(y1[i], y1[order[1:]]) + 1)
        inter = w * h
        ovr = inter / (areas[i] + areas[order[1:]] - inter)
        order = order[np.where(ovr <= thr)[0] + 1]
    return keep


def detect_persons(img: np.ndarray, sess=None) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 3) uint8 -> (boxes (n, 4) xyxy pixels, scores (n,)) of persons, score > 0.3."""
    sess = sess or session("dwpose-yolox-l")
    x, r = det_preprocess(img)
    pred = yolox_grid_decode(sess.run(None, {sess.get_inputs()[0].name: x[None]})[0])[0]
    b = pred[:, :4]
    scores = pred[:, 4:5] * pred[:, 5:]
    xyxy = np.stack([b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2,
                     b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2], 1) / r
    boxes, kept = [], []
    for c in range(scores.shape[1]):  # multiclass_nms(nms_thr=0.45, score_thr=0.1)
        m = scores[:, c] > 0.1
        if not m.any():
            continue
        keep = nms(xyxy[m], scores[m, c], 0.45)
        if c == 0:
            boxes, kept = xyxy[m][keep], scores[m, c][keep]
    if len(kept) == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
    sel = np.asarray(kept) > 0.3
    return np.asarray(boxes)[sel].astype(np.float32), np.asarray(kept)[sel].astype(np.float32)


# -- pose (onnxpose.py) -------------------------------------------------------------------------
def box_center_scale(box, padding: float = 1.25) -> tuple[np.ndarray, np.ndarray]:
    x1, y1, x2, y2 = np.asarray(box, np.float64)
    return np.array([x1 + x2, y1 + y2]) * 0.5, np.array([x2 - x1, y2 - y1]) * padding


def fix_aspect_ratio(scale: np.ndarray, aspect: float) -> np.ndarray:
    w, h = scale
    return np.array([w, w / aspect]) if w > h * aspect else np.array([h * aspect, h])


def warp_matrix(center: np.ndarray, scale: np.ndarray, out_wh: tuple[int, int]) -> np.ndarray:
    """mmpose ``get_warp_matrix`` with rot 0, no shift: box (center, scale) -> (w, h) crop."""
    import cv2

    dst_w, dst_h = out_wh
    src = np.zeros((3, 2), np.float32)
    dst = np.zeros((3, 2), np.float32)
    src[0] = center
    src[1] = center + np.array([0.0, scale[0] * -0.5])
    dst[0] = [dst_w * 0.5, dst_h * 0.5]
    dst[1] = dst[0] + np.array([0.0, dst_w * -0.5])
    for a in (src, dst):  # third point: (a0 - a1) rotated 90 deg about a1
        d = a[0] - a[1]
        a[2] = a[1] + np.array([-d[1], d[0]])
    return cv2.getAffineTransform(src, dst)


MEAN = np.array([123.675, 116.28, 103.53])
STD = np.array([58.395, 57.12, 57.375])


def pose_preprocess(img: np.ndarray, box, in_wh: tuple[int, int]):
    """-> (crop (h, w, 3) float normalised, center (2,), scale (2,) after aspect fix)."""
    import cv2

    center, scale = box_center_scale(box)
    scale = fix_aspect_ratio(scale, in_wh[0] / in_wh[1])
    M = warp_matrix(center, scale, in_wh)
    crop = cv2.warpAffine(img, M, (int(in_wh[0]), int(in_wh[1])), flags=cv2.INTER_LINEAR)
    return (crop - MEAN) / STD, center, scale


def simcc_decode(simcc_x: np.ndarray, simcc_y: np.ndarray, split_ratio: float = 2.0):
    """(N, K, Wx), (N, K, Wy) -> (locations (N, K, 2) in input pixels, scores (N, K)).
    score = min(max_x, max_y); locations -1 where score <= 0 (mmpose get_simcc_maximum)."""
    N, K, _ = simcc_x.shape
    sx, sy = simcc_x.reshape(N * K, -1), simcc_y.reshape(N * K, -1)
    locs = np.stack((sx.argmax(1), sy.argmax(1)), -1).astype(np.float32)
    vals = np.minimum(sx.max(1), sy.max(1))
    locs[vals <= 0.0] = -1
    return locs.reshape(N, K, 2) / split_ratio, vals.reshape(N, K)


def estimate_pose(img: np.ndarray, boxes: np.ndarray, sess=None) -> tuple[np.ndarray, np.ndarray]:
    """Whole-body keypoints per box: (n, 133, 2) frame pixels and (n, 133) SimCC scores.
    No box -> one pose for the whole frame."""
    sess = sess or session("dwpose-ll-ucoco-384")
    h, w = sess.get_inputs()[0].shape[2:]
    in_wh = (int(w), int(h))
    if len(boxes) == 0:
        boxes = np.array([[0, 0, img.shape[1], img.shape[0]]], np.float32)
    kps, scs = [], []
    for box in boxes:
        x, center, scale = pose_preprocess(img, box, in_wh)
        inp = {sess.get_inputs()[0].name: x.transpose(2, 0, 1)[None].astype(np.float32)}
        simcc_x, simcc_y = sess.run(None, inp)[:2]
        loc, score = simcc_decode(simcc_x, simcc_y)
        kps.append(loc[0] / np.array(in_wh) * scale + center - scale / 2)
        scs.append(score[0])
    return np.asarray(kps, np.float32), np.asarray(scs, np.float32)


def wholebody(frames: np.ndarray, key: str | None = None) -> dict[str, np.ndarray]:
    """DWPose on every frame, the main person (largest detected box; the whole frame when no
    person is detected). Cached per video in the shared ``hxbench.face`` cache.

    Returns keypoints (T, 133, 2) pixels, scores (T, 133) SimCC scores, person (T,) bool
    (a person box was detected)."""
    from hxbench.face import cached

    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]

    return cached("dwpose-wholebody", (), frames, key, lambda: wholebody_frames(frames))


def wholebody_frames(frames: np.ndarray) -> dict[str, np.ndarray]:
    """``wholebody`` without the cache, for any run of frames (each frame is independent, so a
    video's result is the concatenation of its chunks'): (t, H, W, 3) uint8 -> keypoints
    (t, 133, 2), scores (t, 133), person (t,)."""
    det, pose = session("dwpose-yolox-l"), session("dwpose-ll-ucoco-384")
    T = len(frames)
    kp = np.zeros((T, 133, 2), np.float32)
    sc = np.zeros((T, 133), np.float32)
    person = np.zeros(T, bool)
    for t, img in enumerate(frames):
        boxes, _ = detect_persons(img, det)
        if len(boxes):
            areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            boxes = boxes[[int(np.argmax(areas))]]
            person[t] = True
        k, s = estimate_pose(img, boxes, pose)
        kp[t], sc[t] = k[0], s[0]
    return {"keypoints": kp, "scores": sc, "person": person}
