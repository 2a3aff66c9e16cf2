"""Landmark-driven talking-face renderer: a reference photo + a behaviour sequence -> frames.

``render(reference_image, behaviour, fps)`` animates one face photo:

1. the MediaPipe face mesh of the photo (478 landmarks, pixels, with depth) is the rig;
2. each frame's behaviour vector displaces the landmarks: expression coefficients move
   fixed landmark offset fields (mouth opening / width / smile, brows, eyelids), then the
   head is rotated in 3-D (yaw / pitch / roll about a pivot behind the face) and translated;
3. the photo is warped piecewise-affinely from the rig's landmarks to the displaced ones
   (Delaunay triangulation of the displaced points plus fixed anchors on a ring around the
   head and on the image border), and the inner-lip polygon is painted as a mouth cavity.

Behaviour layout, ``behaviour[T, 11]`` float (``BEHAVIOUR_NAMES``; zeros = the photo as is):

====  ============  =====================================================================
dim   name          meaning (units)
====  ============  =====================================================================
0     yaw           degrees, > 0: the subject turns to their own left (nose to image right)
1     pitch         degrees, > 0: looks up
2     roll          degrees, > 0: head tilts clockwise in the image
3     tx            head shift right, in inter-ocular distances (iod)
4     ty            head shift down, in iod
5     jaw_open      0..1: inner-lip gap grows by 0.3 iod at 1
6     mouth_width   -1..1: mouth corners in (pucker, rounded vowels) / out (spread)
7     smile         0..1: corners up and out
8     brow_raise    0..1: brows up by 0.12 iod (negative: frown)
9     blink_left    0..1: subject's left eye (image right) closed at 1
10    blink_right   0..1: subject's right eye (image left) closed at 1
====  ============  =====================================================================

The conventions match ``hxbench.face.head_pose`` (yaw/pitch/roll signs) and the measurements
``mouth_opening``, ``eye_aspect_ratio``, ``mouth_corner_lift``, ``brow_height``, so that a
rendered behaviour can be measured back. ``render_landmarks`` renders arbitrary (T, 478, 2|3)
target landmarks instead ("landmark offsets" behaviour of any layout).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hxbench.face import geometry as G

BEHAVIOUR_NAMES = ("yaw", "pitch", "roll", "tx", "ty", "jaw_open", "mouth_width", "smile",
                   "brow_raise", "blink_left", "blink_right")
BEHAVIOUR_DIM = len(BEHAVIOUR_NAMES)
B = {name: i for i, name in enumerate(BEHAVIOUR_NAMES)}

_MOUTH_COLOUR = np.array([62, 22, 28], np.float32)
_PAINT_START = 0.1  # the cavity is painted once the gap exceeds the photo's by this (iod)
_TEETH_COLOUR = np.array([228, 222, 210], np.float32)


class RigError(ValueError):
    """The reference image has no detectable face."""


@dataclass
class FaceRig:
    image: np.ndarray  # (H, W, 3) uint8
    landmarks: np.ndarray  # (478, 3) float64 pixels
    iod: float
    anchors: np.ndarray  # (K, 2) fixed points (ring around the head + image border)
    bases: dict  # expression name -> (478, 3) offset per unit coefficient
    pivot: np.ndarray  # (3,) head rotation centre
    box: tuple  # (x0, y0, x1, y1) region the warp can change


def _lip_falloff(x: np.ndarray, cx: float, hw: float) -> np.ndarray:
    u = np.clip(np.abs(x - cx) / hw, 0.0, 1.0)
    return 0.25 + 0.75 * (1.0 - u ** 2)


def build_rig(image: np.ndarray, landmarks: np.ndarray | None = None) -> FaceRig:
    """Rig a face photo (H, W, 3) uint8; ``landmarks`` (478, 3) skips detection."""
    image = np.ascontiguousarray(np.asarray(image, dtype=np.uint8)[..., :3])
    H, W = image.shape[:2]
    if landmarks is None:
        from hxbench.face import face_mesh

        res = face_mesh(image, static=True)
        if not res.found[0]:
            raise RigError("no face found in the reference image by the MediaPipe face mesh")
        landmarks = res.landmarks[0]
    L = np.asarray(landmarks, np.float64)
    x, y = L[:, 0], L[:, 1]
    iod = float(np.linalg.norm(L[G.LEFT_EYE_OUTER, :2] - L[G.RIGHT_EYE_OUTER, :2]))
    mc = 0.5 * (L[G.UPPER_LIP_INNER, :2] + L[G.LOWER_LIP_INNER, :2])
    corners_y = 0.5 * (L[G.MOUTH_LEFT_CORNER, 1] + L[G.MOUTH_RIGHT_CORNER, 1])
    hw = 0.5 * abs(L[G.MOUTH_LEFT_CORNER, 0] - L[G.MOUTH_RIGHT_CORNER, 0])
    n = len(L)
    bases = {}

    # jaw_open: lower lip + chin down, upper lip slightly up
    jaw = np.zeros((n, 3))
    A = 0.30 * iod
    below = np.clip((y - corners_y) / (0.25 * iod), 0.0, 1.0) * np.exp(-((x - mc[0]) / (0.8 * iod)) ** 2)
    jaw[:, 1] = A * below
    lower = [i for i in set(G.LIPS_INNER_LOWER + G.LIPS_OUTER_LOWER) if i not in (61, 291, 78, 308)]
    upper = [i for i in set(G.LIPS_INNER_UPPER + G.LIPS_OUTER_UPPER) if i not in (61, 291, 78, 308)]
    jaw[lower, 1] = np.maximum(jaw[lower, 1], A * _lip_falloff(x[lower], mc[0], hw))
    jaw[upper, 1] = -0.08 * A * _lip_falloff(x[upper], mc[0], hw)
    bases["jaw_open"] = jaw

    d_mouth = np.linalg.norm(L[:, :2] - mc, axis=1)
    g_mouth = np.exp(-d_mouth ** 2 / (2 * (0.4 * iod) ** 2))
    width = np.zeros((n, 3))
    width[:, 0] = 0.12 * iod * np.clip((x - mc[0]) / hw, -1, 1) * g_mouth
    bases["mouth_width"] = width

    smile = np.zeros((n, 3))
    u = np.clip(np.abs(x - mc[0]) / hw, 0, 1) ** 2
    g_smile = np.exp(-d_mouth ** 2 / (2 * (0.45 * iod) ** 2))
    smile[:, 1] = -0.10 * iod * u * g_smile
    # corners out by 0.13 iod at full smile: at the weakest drawn amplitude (0.8) the face mesh
    # measures a width ratio >= 1.098 on every identity, flipped ones included (0.05 gave 1.04)
    smile[:, 0] = np.sign(x - mc[0]) * 0.13 * iod * u * g_smile
    bases["smile"] = smile

    brows = list(G.LEFT_BROW + G.RIGHT_BROW)
    eyes_y = L[list(G.LEFT_EYE_UPPER + G.RIGHT_EYE_UPPER), 1].mean()
    d_brow = np.min(np.linalg.norm(L[:, None, :2] - L[None, brows, :2], axis=-1), axis=1)
    brow = np.zeros((n, 3))
    brow[:, 1] = -0.12 * iod * np.exp(-d_brow ** 2 / (2 * (0.12 * iod) ** 2)) * (y < eyes_y)
    brow[brows, 1] = -0.12 * iod
    bases["brow_raise"] = brow

    for name, up, low in (("blink_left", G.LEFT_EYE_UPPER, G.LEFT_EYE_LOWER),
                          ("blink_right", G.RIGHT_EYE_UPPER, G.RIGHT_EYE_LOWER)):
        b = np.zeros((n, 3))
        low_pts = L[list(low)]
        for i in up:
            j = int(np.argmin(np.abs(low_pts[:, 0] - L[i, 0])))
            b[i, 1] = 0.9 * (low_pts[j, 1] - L[i, 1])
        # points inside the eye (irises) go to the closing line
        eye_c = L[list(up + low), :2].mean(0)
        eye_r = 0.5 * np.ptp(L[list(up + low), 0])
        inner = [i for i in range(n) if i not in up and i not in low
                 and np.linalg.norm(L[i, :2] - eye_c) < 0.8 * eye_r
                 and L[i, 1] < low_pts[:, 1].max()]
        for i in inner:
            j = int(np.argmin(np.abs(low_pts[:, 0] - L[i, 0])))
            b[i, 1] = 0.9 * max(low_pts[j, 1] - L[i, 1], 0.0)
        bases[name] = b

    # head pivot: centre of the face, a little behind it (the neck)
    pivot = np.array([x.mean(), y.mean() + 0.3 * iod, L[:, 2].mean() + 0.8 * iod])
    # anchors: a ring around the head and the image border stay fixed
    cx, cy = x.mean(), y.mean()
    rx = 0.5 * np.ptp(x) * 1.7 + 0.3 * iod
    ry = 0.5 * np.ptp(y) * 1.5 + 0.3 * iod
    ang = np.linspace(0, 2 * np.pi, 28, endpoint=False)
    ring = np.stack([cx + rx * np.cos(ang), cy + ry * np.sin(ang)], axis=1)
    ring = ring[(ring[:, 0] > 0) & (ring[:, 0] < W - 1) & (ring[:, 1] > 0) & (ring[:, 1] < H - 1)]
    s = np.linspace(0, 1, 9)
    border = np.concatenate([
        np.stack([s * (W - 1), np.zeros_like(s)], 1), np.stack([s * (W - 1), np.full_like(s, H - 1)], 1),
        np.stack([np.zeros_like(s), s * (H - 1)], 1), np.stack([np.full_like(s, W - 1), s * (H - 1)], 1)])
    anchors = np.unique(np.round(np.concatenate([ring, border]), 3), axis=0)
    x0, x1 = max(int(cx - rx) - 1, 0), min(int(np.ceil(cx + rx)) + 2, W)
    y0, y1 = max(int(cy - ry) - 1, 0), min(int(np.ceil(cy + ry)) + 2, H)
    return FaceRig(image, L, iod, anchors, bases, pivot, (x0, y0, x1, y1))


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    a, b, c = np.radians([yaw, pitch, roll])
    Ry = np.array([[np.cos(a), 0, -np.sin(a)], [0, 1, 0], [np.sin(a), 0, np.cos(a)]])
    Rx = np.array([[1, 0, 0], [0, np.cos(b), np.sin(b)], [0, -np.sin(b), np.cos(b)]])
    Rz = np.array([[np.cos(c), -np.sin(c), 0], [np.sin(c), np.cos(c), 0], [0, 0, 1]])
    return Rz @ Ry @ Rx


def behaviour_to_landmarks(rig: FaceRig, behaviour: np.ndarray) -> np.ndarray:
    """(T, 11) behaviour -> (T, 478, 3) target landmarks in pixels."""
    beh = np.asarray(behaviour, np.float64)
    if beh.ndim != 2 or beh.shape[1] != BEHAVIOUR_DIM:
        raise ValueError(f"behaviour must be shaped (T, {BEHAVIOUR_DIM}) ({', '.join(BEHAVIOUR_NAMES)}), "
                         f"got {beh.shape}")
    if not np.all(np.isfinite(beh)):
        raise ValueError("behaviour contains NaN or infinite values")
    out = np.empty((len(beh),) + rig.landmarks.shape)
    for t, v in enumerate(beh):
        L = rig.landmarks.copy()
        for name, basis in rig.bases.items():
            coef = v[B[name]]
            if name in ("blink_left", "blink_right", "jaw_open"):
                coef = np.clip(coef, 0.0, 1.0)
            if coef:
                L = L + coef * basis
        R = _rotation(v[0], v[1], v[2])
        L = (L - rig.pivot) @ R.T + rig.pivot
        L[:, 0] += v[3] * rig.iod
        L[:, 1] += v[4] * rig.iod
        out[t] = L
    return out


def _warp(rig: FaceRig, dst_xy: np.ndarray) -> np.ndarray:
    import cv2
    from scipy.spatial import Delaunay

    img = rig.image
    H, W = img.shape[:2]
    x0, y0, x1, y1 = rig.box
    src = np.concatenate([rig.landmarks[:, :2], rig.anchors])
    dst = np.concatenate([dst_xy, rig.anchors])
    simplices = Delaunay(dst).simplices
    # affine map dst -> src for every triangle, then a triangle-index raster of the region
    d = dst[simplices]  # (n, 3, 2)
    sr = src[simplices]
    D = np.concatenate([d, np.ones(d.shape[:2] + (1,))], axis=2)  # (n, 3, 3)
    det = np.linalg.det(D)
    good = np.abs(det) > 1e-9
    M = np.zeros((len(simplices), 3, 2))
    M[good] = np.linalg.solve(D[good], sr[good])  # [x y 1] @ M -> src xy
    import matplotlib.tri as mtri

    gy, gx = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    finder = mtri.Triangulation(dst[:, 0], dst[:, 1], simplices).get_trifinder()
    idx = np.asarray(finder(gx, gy), dtype=np.int64)
    idx[(idx >= 0) & ~good[np.maximum(idx, 0)]] = -1
    ok = idx >= 0
    Mk = M[np.where(ok, idx, 0)]  # (h, w, 3, 2)
    map_x = np.where(ok, gx * Mk[..., 0, 0] + gy * Mk[..., 1, 0] + Mk[..., 2, 0], gx).astype(np.float32)
    map_y = np.where(ok, gx * Mk[..., 0, 1] + gy * Mk[..., 1, 1] + Mk[..., 2, 1], gy).astype(np.float32)
    out = img.copy()
    out[y0:y1, x0:x1] = cv2.remap(img, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return out


def _paint_mouth(frame: np.ndarray, dst: np.ndarray, ref_gap: float, iod: float) -> None:
    """Darken the opened mouth (inner-lip polygon), keeping a band of upper teeth."""
    import cv2

    gap = float(np.linalg.norm(dst[G.UPPER_LIP_INNER, :2] - dst[G.LOWER_LIP_INNER, :2]))
    extra = gap - ref_gap - _PAINT_START * iod
    if extra <= 0.0:
        return
    upper = dst[list(G.LIPS_INNER_UPPER), :2]
    lower = dst[list(G.LIPS_INNER_LOWER[::-1]), :2]
    poly = np.concatenate([upper, lower])
    teeth_h = min(0.06 * iod, 0.45 * gap)
    # the upper teeth: the upper inner lip shifted down, shaped like the lip line
    teeth = np.concatenate([upper, (upper + [0.0, teeth_h])[::-1]])
    cavity = np.zeros(frame.shape[:2], np.uint8)
    cv2.fillPoly(cavity, [np.round(poly * 4).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=2)
    tmask = np.zeros_like(cavity)
    cv2.fillPoly(tmask, [np.round(teeth * 4).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=2)
    tmask = np.minimum(tmask, cavity)
    strength = min(1.0, extra / (0.12 * iod))
    a = (cavity.astype(np.float32) - tmask)[..., None] / 255.0 * strength
    ta = tmask.astype(np.float32)[..., None] / 255.0 * strength
    out = frame * (1 - a - ta) + _MOUTH_COLOUR * a + _TEETH_COLOUR * ta
    frame[:] = np.clip(out + 0.5, 0, 255).astype(np.uint8)


_EYES = ((G.LEFT_EYE_UPPER, G.LEFT_EYE_LOWER, 386, 374), (G.RIGHT_EYE_UPPER, G.RIGHT_EYE_LOWER, 159, 145))


def _skin_colours(rig: FaceRig) -> list[np.ndarray]:
    """Eyelid skin colour per eye: the photo between each brow and its upper lid."""
    H, W = rig.image.shape[:2]
    cols = []
    for (up, low, top, bot), brow in zip(_EYES, (G.LEFT_BROW, G.RIGHT_BROW)):
        pts = 0.5 * (rig.landmarks[list(up), :2] + rig.landmarks[list(brow[:7]), :2].mean(0))
        pts = 0.6 * rig.landmarks[list(up), :2] + 0.4 * pts
        xs = np.clip(np.round(pts[:, 0]).astype(int), 0, W - 1)
        ys = np.clip(np.round(pts[:, 1]).astype(int), 0, H - 1)
        cols.append(np.median(rig.image[ys, xs].astype(np.float32), axis=0))
    return cols


def _paint_eyes(frame: np.ndarray, dst: np.ndarray, rig: FaceRig, skins: list[np.ndarray]) -> None:
    """Cover a closing eye with eyelid skin and a lash line (the warp alone only squeezes it)."""
    import cv2

    for (up, low, top, bot), skin in zip(_EYES, skins):
        ref = np.linalg.norm(rig.landmarks[top, :2] - rig.landmarks[bot, :2]) + 1e-6
        ratio = np.linalg.norm(dst[top, :2] - dst[bot, :2]) / ref
        alpha_max = float(np.clip((0.75 - ratio) / 0.45, 0.0, 1.0))
        if alpha_max <= 0:
            continue
        # the eye as it is in the photo, moved with the lower lid: cover it fully
        poly = np.concatenate([rig.landmarks[list(up), :2], rig.landmarks[list(low[::-1]), :2]])
        poly = poly + (dst[list(low), :2] - rig.landmarks[list(low), :2]).mean(0)
        c = poly.mean(0)
        poly = c + 1.25 * (poly - c)
        mask = np.zeros(frame.shape[:2], np.uint8)
        cv2.fillPoly(mask, [np.round(poly * 4).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=2)
        mask = cv2.GaussianBlur(mask, (3, 3), 0)
        a = mask.astype(np.float32)[..., None] / 255.0 * alpha_max
        frame[:] = (frame * (1 - a) + skin * a + 0.5).astype(np.uint8)
        lash = np.round(dst[list(low), :2] * 4).astype(np.int32)
        line = frame.copy()
        cv2.polylines(line, [lash], False, (40, 30, 30), 1, lineType=cv2.LINE_AA, shift=2)
        frame[:] = (frame * (1 - alpha_max) + line * alpha_max + 0.5).astype(np.uint8)


def render_landmarks(rig: FaceRig, landmarks: np.ndarray) -> np.ndarray:
    """Warp the rig's photo to each frame's target landmarks (T, 478, 2|3) -> (T, H, W, 3)."""
    lms = np.asarray(landmarks, np.float64)
    if lms.ndim != 3 or lms.shape[1] != rig.landmarks.shape[0]:
        raise ValueError(f"target landmarks must be (T, {rig.landmarks.shape[0]}, 2|3), got {lms.shape}")
    ref_gap = float(np.linalg.norm(rig.landmarks[G.UPPER_LIP_INNER, :2] - rig.landmarks[G.LOWER_LIP_INNER, :2]))
    frames = np.empty((len(lms),) + rig.image.shape, np.uint8)
    skins = _skin_colours(rig)
    for t, L in enumerate(lms):
        frames[t] = _warp(rig, L[:, :2])
        _paint_mouth(frames[t], L, ref_gap, rig.iod)
        _paint_eyes(frames[t], L, rig, skins)
    return frames


_RIGS: dict[str, FaceRig] = {}


def get_rig(reference_image: np.ndarray) -> FaceRig:
    """``build_rig`` with a per-process cache keyed by the image content."""
    from hxbench.face import video_digest

    key = video_digest(np.asarray(reference_image, np.uint8)[None])
    if key not in _RIGS:
        if len(_RIGS) > 32:
            _RIGS.clear()
        _RIGS[key] = build_rig(reference_image)
    return _RIGS[key]


def render(reference_image: np.ndarray, behaviour: np.ndarray, fps: float = 25.0) -> np.ndarray:
    """Animate ``reference_image`` (H, W, 3) uint8 with ``behaviour`` (T, 11) -> (T, H, W, 3).

    One output frame per behaviour row; ``fps`` is the rate the behaviour was sampled at
    (kept for the interface: the renderer itself is frame-by-frame and deterministic).
    """
    if fps <= 0:
        raise ValueError("fps must be positive")
    rig = get_rig(reference_image)
    return render_landmarks(rig, behaviour_to_landmarks(rig, behaviour))
