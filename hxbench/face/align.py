"""Face crops the identity / expression networks expect, from the shared face-mesh landmarks.

- ``five_points(mesh)``: ArcFace's five points (eye centres, nose tip, mouth corners) from
  the 478-point MediaPipe mesh, in **image** order (image-left eye first), as RetinaFace
  gives them: (..., 5, 2) float32 pixels.
- ``similarity_transform(src, dst)``: least-squares similarity (Umeyama 1991, no
  reflection), the estimate ``skimage.transform.SimilarityTransform`` /
  insightface ``face_align.estimate_norm`` use: (2, 3) float64.
- ``align_arcface(frames, points, size=112)``: warp to the ArcFace 112x112 template
  (``ARCFACE_TEMPLATE``, insightface ``arcface_dst``), bilinear, border 0, as
  insightface ``norm_crop`` does -> (T, 112, 112, 3) uint8.
- ``square_crops(frames, boxes, size, scale, offset)``: square box crops with zero padding
  outside the frame -> (T, size, size, C) uint8 (FaceNet 160, FER 64 grey, EmoNet 256).
- ``mesh_boxes(mesh)``: (T, 4) xyxy boxes around the 468 face landmarks (NaN where none).

Landmarks come from ``hxbench.face.face_mesh`` (cached per video), so every metric that
aligns the same video shares one mesh run. Frames without a face are NaN rows in the mesh:
the functions here keep them as NaN / all-zero crops and report them with a ``found`` mask.
"""

from __future__ import annotations

import numpy as np

# insightface/python-package/insightface/utils/face_align.py ``arcface_dst`` (112 x 112)
ARCFACE_TEMPLATE = np.array([
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
], np.float64)

# MediaPipe face-mesh indices: iris centres (refine_landmarks), nose tip, mouth corners.
# 468 / 61 are on the image-left side of an unmirrored frontal face, 473 / 291 image-right.
MESH_FIVE = (468, 473, 1, 61, 291)


def five_points(mesh: np.ndarray) -> np.ndarray:
    """(…, 478, 2|3) mesh pixels -> (…, 5, 2) float32 in image order (left eye, right eye,
    nose, left mouth corner, right mouth corner, 'left' = smaller x), NaN where the mesh is."""
    mesh = np.asarray(mesh, np.float32)
    pts = mesh[..., list(MESH_FIVE), :2].copy()
    swap = pts[..., 0, 0] > pts[..., 1, 0]  # mirrored face: subject's right eye on image right
    if np.any(swap):
        pts[swap] = pts[swap][:, [1, 0, 2, 4, 3]]
    return pts


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity mapping src (N, 2) onto dst (N, 2): (2, 3) float64 matrix
    [[s cos, -s sin, tx], [s sin, s cos, ty]] (Umeyama's estimate, reflection excluded)."""
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    n = len(src)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    sc, dc = src - mu_s, dst - mu_d
    cov = dc.T @ sc / n
    U, S, Vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(U) * np.linalg.det(Vt) < 0:
        d[1] = -1.0
    R = U @ np.diag(d) @ Vt
    var_s = (sc ** 2).sum() / n
    scale = float((S * d).sum() / var_s) if var_s > 0 else 1.0
    t = mu_d - scale * R @ mu_s
    return np.hstack([scale * R, t[:, None]])


def warp_affine(image: np.ndarray, M: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """cv2.warpAffine(image, M, (w, h)) with bilinear sampling and zero border."""
    import cv2

    w, h = size
    return cv2.warpAffine(np.ascontiguousarray(image), np.asarray(M, np.float64), (int(w), int(h)),
                          flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def align_arcface(frames: np.ndarray, points: np.ndarray, size: int = 112) -> tuple[np.ndarray, np.ndarray]:
    """Align each frame to the ArcFace template from its five points.

    frames (T, H, W, 3) uint8; points (T, 5, 2) pixels (NaN = no face). ``size`` 112 (or a
    multiple of 112, template scaled as insightface ``estimate_norm`` does).
    Returns (crops (T, size, size, 3) uint8, found (T,) bool); crops are zeros where not found.
    """
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    points = np.asarray(points, np.float64).reshape(len(frames), 5, 2)
    dst = ARCFACE_TEMPLATE * (size / 112.0)
    out = np.zeros((len(frames), size, size, frames.shape[-1]), np.uint8)
    found = np.all(np.isfinite(points), axis=(1, 2))
    for t in np.flatnonzero(found):
        M = similarity_transform(points[t], dst)
        out[t] = warp_affine(frames[t], M, (size, size)).reshape(size, size, -1)
    return out, found


def mesh_boxes(mesh: np.ndarray) -> np.ndarray:
    """(T, 478, 2|3) mesh -> (T, 4) xyxy box around the 468 face landmarks (NaN where none)."""
    mesh = np.asarray(mesh, np.float32)[:, :468, :2]
    out = np.full((len(mesh), 4), np.nan, np.float32)
    ok = np.all(np.isfinite(mesh), axis=(1, 2))
    if np.any(ok):
        m = mesh[ok]
        out[ok] = np.concatenate([m.min(1), m.max(1)], axis=1)
    return out


def square_boxes(boxes: np.ndarray, scale: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """Square boxes of side ``scale * max(w, h)`` centred on each box, plus ``offset`` pixels
    on every side: (T, 4) xyxy float64."""
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    cx, cy = (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2
    half = np.maximum(b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]) * scale / 2 + offset
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=1)


def square_crops(frames: np.ndarray, boxes: np.ndarray, size: int, scale: float = 1.0,
                 offset: float = 0.0, grey: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Crop the square around each box (see ``square_boxes``), zero padding outside the frame,
    resized to size x size (bilinear). ``grey``: ITU-R 601 luma (cv2 RGB2GRAY), one channel.

    Returns (crops (T, size, size, 3|1) uint8, found (T,) bool)."""
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    sq = square_boxes(boxes, scale, offset)
    found = np.all(np.isfinite(sq), axis=1)
    C = 1 if grey else 3
    out = np.zeros((len(frames), size, size, C), np.uint8)
    for t in np.flatnonzero(found):
        x0, y0, x1, y1 = sq[t]
        s = size / (x1 - x0)
        M = np.array([[s, 0, -x0 * s], [0, s, -y0 * s]])
        crop = warp_affine(frames[t], M, (size, size))
        if grey:
            import cv2

            crop = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
        out[t] = crop.reshape(size, size, C)
    return out, found


def faces_for(frames: np.ndarray, key: str | None = None):
    """The shared face mesh of a video (``hxbench.face.face_mesh``, video mode, cached)."""
    from hxbench.face import face_mesh

    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    return face_mesh(frames, static=len(frames) == 1, key=key)
