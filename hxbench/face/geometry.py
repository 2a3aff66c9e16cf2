"""Measurements on MediaPipe face-mesh landmarks (pixels): mouth, eyes, head pose.

All functions take landmarks shaped (T, 478, 3) or (478, 3) (pixels, as ``face_mesh``
returns them) and return per-frame values (NaN where the landmarks are NaN). Distances are
normalised by the inter-ocular distance (outer eye corners 33-263), so they do not depend on
the face's size in the image.

"Left"/"right" are the subject's: the subject's right eye appears on the image's left in a
non-mirrored view (mediapipe indices 33/133 ...), the subject's left eye on the image's right.
"""

from __future__ import annotations

import numpy as np

# landmark indices (MediaPipe face mesh topology)
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263
UPPER_LIP_INNER, LOWER_LIP_INNER = 13, 14
MOUTH_LEFT_CORNER, MOUTH_RIGHT_CORNER = 291, 61  # subject's left / right (image right / left)
NOSE_TIP, CHIN, FOREHEAD = 1, 152, 10
# eye contours for the eye aspect ratio: p1 (corner), p2, p3 (upper), p4 (corner), p5, p6 (lower)
RIGHT_EYE_EAR = (33, 160, 158, 133, 153, 144)
LEFT_EYE_EAR = (362, 385, 387, 263, 373, 380)
LIPS_INNER_UPPER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LIPS_INNER_LOWER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
LIPS_OUTER_UPPER = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291)
LIPS_OUTER_LOWER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291)
RIGHT_EYE_UPPER = (246, 161, 160, 159, 158, 157, 173)
RIGHT_EYE_LOWER = (7, 163, 144, 145, 153, 154, 155)
LEFT_EYE_UPPER = (466, 388, 387, 386, 385, 384, 398)
LEFT_EYE_LOWER = (249, 390, 373, 374, 380, 381, 382)
RIGHT_BROW = (70, 63, 105, 66, 107, 55, 65, 52, 53, 46)
LEFT_BROW = (300, 293, 334, 296, 336, 285, 295, 282, 283, 276)
IRISES = tuple(range(468, 478))


def _lm(landmarks: np.ndarray) -> np.ndarray:
    a = np.asarray(landmarks, dtype=np.float64)
    if a.ndim == 2:
        a = a[None]
    if a.ndim != 3 or a.shape[1] < 468 or a.shape[2] < 2:
        raise ValueError(f"expected face-mesh landmarks shaped (T, 478, 3), got {a.shape}")
    return a


def _dist(a: np.ndarray, i: int, j: int) -> np.ndarray:
    return np.linalg.norm(a[:, i, :2] - a[:, j, :2], axis=-1)


def interocular(landmarks: np.ndarray) -> np.ndarray:
    """(T,) distance between the outer eye corners, pixels."""
    return _dist(_lm(landmarks), RIGHT_EYE_OUTER, LEFT_EYE_OUTER)


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """(T,) inner-lip gap (landmarks 13-14) / inter-ocular distance; ~0 closed, ~0.3-0.6 wide."""
    a = _lm(landmarks)
    return _dist(a, UPPER_LIP_INNER, LOWER_LIP_INNER) / _dist(a, RIGHT_EYE_OUTER, LEFT_EYE_OUTER)


def mouth_width(landmarks: np.ndarray) -> np.ndarray:
    """(T,) mouth corner distance (61-291) / inter-ocular distance (~0.55 neutral)."""
    a = _lm(landmarks)
    return _dist(a, MOUTH_RIGHT_CORNER, MOUTH_LEFT_CORNER) / _dist(a, RIGHT_EYE_OUTER, LEFT_EYE_OUTER)


def mouth_corner_lift(landmarks: np.ndarray) -> np.ndarray:
    """(T,) how far the mouth corners sit above the lip centre line (a smile), / inter-ocular.

    Positive when the corners (61, 291) are higher (in the face's own frame, roll removed)
    than the mean of the inner-lip centre points (13, 14)."""
    a = _lm(landmarks)
    ex = a[:, LEFT_EYE_OUTER, :2] - a[:, RIGHT_EYE_OUTER, :2]
    iod = np.linalg.norm(ex, axis=-1)
    ex = ex / iod[:, None]
    ey = np.stack([-ex[:, 1], ex[:, 0]], axis=-1)  # face "down" direction in the image
    centre = 0.5 * (a[:, UPPER_LIP_INNER, :2] + a[:, LOWER_LIP_INNER, :2])
    corners = 0.5 * (a[:, MOUTH_LEFT_CORNER, :2] + a[:, MOUTH_RIGHT_CORNER, :2])
    return -np.sum((corners - centre) * ey, axis=-1) / iod


def brow_height(landmarks: np.ndarray) -> np.ndarray:
    """(T,) mean distance of the brow points above the eye centres / inter-ocular distance."""
    a = _lm(landmarks)
    iod = _dist(a, RIGHT_EYE_OUTER, LEFT_EYE_OUTER)
    r = np.linalg.norm(a[:, list(RIGHT_BROW), :2].mean(1) - a[:, list(RIGHT_EYE_UPPER + RIGHT_EYE_LOWER), :2].mean(1), axis=-1)
    l = np.linalg.norm(a[:, list(LEFT_BROW), :2].mean(1) - a[:, list(LEFT_EYE_UPPER + LEFT_EYE_LOWER), :2].mean(1), axis=-1)
    return 0.5 * (r + l) / iod


def eye_aspect_ratio(landmarks: np.ndarray) -> np.ndarray:
    """(T, 2) eye aspect ratio (Soukupova & Cech 2016) of the subject's [left, right] eye:
    (|p2-p6| + |p3-p5|) / (2 |p1-p4|); ~0.25-0.35 open, < ~0.15 closed."""
    a = _lm(landmarks)

    def ear(idx):
        p1, p2, p3, p4, p5, p6 = idx
        return (_dist(a, p2, p6) + _dist(a, p3, p5)) / (2.0 * _dist(a, p1, p4))

    return np.stack([ear(LEFT_EYE_EAR), ear(RIGHT_EYE_EAR)], axis=-1)


def head_pose(landmarks: np.ndarray) -> np.ndarray:
    """(T, 3) head [yaw, pitch, roll] in degrees from the 3-D face-mesh landmarks.

    A face frame is built from the eye axis (33 -> 263) and the forehead -> chin axis
    (10 -> 152), orthonormalised, and read as angles:
    - yaw > 0: the subject turns to their own left (nose towards the image's right);
    - pitch > 0: the subject looks up;
    - roll > 0: the head tilts clockwise in the image.
    Zero is approximately a frontal face (the landmarks' own geometry leaves an offset of
    about -10 degrees in pitch for a frontal face); use differences between frames.
    """
    a = _lm(landmarks)
    if a.shape[2] < 3:
        raise ValueError("head_pose needs 3-D landmarks (x, y, z)")
    ex = a[:, LEFT_EYE_OUTER] - a[:, RIGHT_EYE_OUTER]
    ex /= np.linalg.norm(ex, axis=-1, keepdims=True)
    ey = a[:, CHIN] - a[:, FOREHEAD]
    ey -= np.sum(ey * ex, axis=-1, keepdims=True) * ex
    ey /= np.linalg.norm(ey, axis=-1, keepdims=True)
    yaw = np.degrees(np.arctan2(ex[:, 2], np.hypot(ex[:, 0], ex[:, 1])))
    pitch = np.degrees(np.arctan2(-ey[:, 2], np.hypot(ey[:, 0], ey[:, 1])))
    roll = np.degrees(np.arctan2(ex[:, 1], ex[:, 0]))
    return np.stack([yaw, pitch, roll], axis=-1)
