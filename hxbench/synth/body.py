"""Whole-body keypoint sequences (COCO-WholeBody, 133 points) for body commands, and a
skeleton renderer.

COCO-WholeBody order: 0-16 body (COCO 17), 17-22 feet, 23-90 face (68), 91-111 left hand,
112-132 right hand (21 each). "Left"/"right" are the subject's; the subject faces the
camera, so their right side is on the image's left.

The 271-d vector (HumanExpert's whole-body representation; the paper gives 271 without the
breakdown, so hxbench fixes it as follows):
``[0:266]`` the 133 (x, y) keypoints minus the box centre, divided by the box scale
``s = max(w, h)``; ``[266:268]`` the box centre (cx, cy) / image (W, H); ``[268:270]`` the
box size (w, h) / image (W, H); ``[270]`` the scale s / max(W, H).
"""

from __future__ import annotations

import numpy as np

N_KPT = 133
VEC_DIM = 271
BODY_COMMANDS = {
    "wave": "Wave your hand.",
    "raise_hand": "Raise your hand.",
    "clap": "Clap your hands.",
    "point": "Point to the side.",
}
# COCO body indices
NOSE, L_EYE, R_EYE, L_EAR, R_EAR = 0, 1, 2, 3, 4
L_SHO, R_SHO, L_ELB, R_ELB, L_WRI, R_WRI = 5, 6, 7, 8, 9, 10
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANK, R_ANK = 11, 12, 13, 14, 15, 16
L_HAND, R_HAND = 91, 112  # wrist point of each hand block
BODY_EDGES = [(0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11),
              (6, 12), (11, 12), (11, 13), (13, 15), (12, 14), (14, 16), (15, 17), (15, 18),
              (15, 19), (16, 20), (16, 21), (16, 22)]
HAND_EDGES = [(0, 1), (1, 2), (2, 3), (3, 4), (0, 5), (5, 6), (6, 7), (7, 8), (0, 9), (9, 10),
              (10, 11), (11, 12), (0, 13), (13, 14), (14, 15), (15, 16), (0, 17), (17, 18),
              (18, 19), (19, 20)]


def _template() -> np.ndarray:
    """A standing pose in body units (shoulder width 1, y down, origin at the hip centre)."""
    k = np.zeros((N_KPT, 2))
    body = {NOSE: (0, -2.55), L_EYE: (0.12, -2.68), R_EYE: (-0.12, -2.68), L_EAR: (0.25, -2.62),
            R_EAR: (-0.25, -2.62), L_SHO: (0.5, -2.0), R_SHO: (-0.5, -2.0), L_ELB: (0.62, -1.2),
            R_ELB: (-0.62, -1.2), L_WRI: (0.66, -0.45), R_WRI: (-0.66, -0.45), L_HIP: (0.3, 0.0),
            R_HIP: (-0.3, 0.0), L_KNEE: (0.32, 1.1), R_KNEE: (-0.32, 1.1), L_ANK: (0.33, 2.15),
            R_ANK: (-0.33, 2.15)}
    for i, p in body.items():
        k[i] = p
    for j, (ank, sign) in enumerate(((L_ANK, 1), (R_ANK, -1))):  # feet: big toe, small toe, heel
        a = k[ank]
        k[17 + 3 * j: 20 + 3 * j] = [a + (0.08 * sign, 0.15), a + (0.2 * sign, 0.13), a + (-0.02 * sign, 0.05)]
    # face: 68 points on the iBUG layout, approximated by an ellipse + inner features
    c = np.array([0.0, -2.55])
    ang = np.linspace(np.pi * 0.05, np.pi * 0.95, 17)
    k[23:40] = c + np.stack([-0.22 * np.cos(ang), -0.02 + 0.25 * np.sin(ang)], 1)
    inner = np.linspace(-1, 1, 51)
    k[40:91] = c + np.stack([0.15 * inner * np.cos(inner * 3), -0.1 + 0.18 * np.abs(np.sin(inner * 5))], 1)
    return k


def _hand(wrist: np.ndarray, direction: np.ndarray, open_: float = 1.0) -> np.ndarray:
    """21 hand points from a wrist position and a pointing direction (unit)."""
    d = direction / (np.linalg.norm(direction) + 1e-9)
    n = np.array([-d[1], d[0]])
    pts = [wrist]
    for f, spread in enumerate((-0.55, -0.2, 0.0, 0.2, 0.4)):
        base = wrist + 0.1 * d + spread * 0.12 * n
        fd = d + spread * 0.6 * open_ * n
        fd /= np.linalg.norm(fd)
        length = 0.09 if f else 0.07
        pts += [base + fd * length * s for s in (0.6, 1.2, 1.7, 2.1)]
    return np.array(pts)


def _arm(k: np.ndarray, side: str, elbow: np.ndarray, wrist: np.ndarray) -> None:
    e, w = (L_ELB, L_WRI) if side == "left" else (R_ELB, R_WRI)
    k[e], k[w] = elbow, wrist


def body_sequence(command: str | None, n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """(n_frames, 133, 2) keypoints in body units for a command (None: idle)."""
    if command is not None and command not in BODY_COMMANDS:
        raise ValueError(f"unknown body command {command!r}; known: {', '.join(BODY_COMMANDS)}")
    base = _template()
    start = int(rng.integers(5, 9))
    seq = np.empty((n_frames, N_KPT, 2))
    speed = float(rng.uniform(0.8, 1.2))
    for t in range(n_frames):
        k = base.copy()
        k[:, 0] += 0.02 * np.sin(2 * np.pi * t / 50.0)  # sway
        a = float(np.clip((t - start) / 8.0, 0.0, 1.0))  # ramp into the action
        a = 0.5 - 0.5 * np.cos(np.pi * a)
        ph = 2 * np.pi * speed * max(t - start, 0) / 12.0
        rs, ls = k[R_SHO], k[L_SHO]
        if command == "wave":
            elbow = rs + a * np.array([-0.35, -0.05]) + (1 - a) * (base[R_ELB] - rs)
            wrist = elbow + a * np.array([-0.15 + 0.25 * np.sin(ph), -0.7]) + (1 - a) * (base[R_WRI] - base[R_ELB])
            _arm(k, "right", elbow, wrist)
        elif command == "raise_hand":
            elbow = rs + a * np.array([-0.1, -0.75]) + (1 - a) * (base[R_ELB] - rs)
            wrist = elbow + a * np.array([-0.02, -0.75]) + (1 - a) * (base[R_WRI] - base[R_ELB])
            _arm(k, "right", elbow, wrist)
        elif command == "clap":
            gap = 0.04 + 0.7 * (0.5 + 0.5 * np.cos(ph)) if t >= start else 0.74
            for side, sho, sign in (("right", rs, -1), ("left", ls, 1)):
                elbow = sho + np.array([0.18 * sign, 0.7]) * a + (1 - a) * (base[R_ELB if sign < 0 else L_ELB] - sho)
                wrist = np.array([sign * gap / 2 * a + (1 - a) * base[R_WRI if sign < 0 else L_WRI][0],
                                  -1.45 * a + (1 - a) * base[R_WRI][1]])
                _arm(k, side, elbow, wrist)
        elif command == "point":
            elbow = rs + a * np.array([-0.55, 0.0]) + (1 - a) * (base[R_ELB] - rs)
            wrist = elbow + a * np.array([-0.55, 0.0]) + (1 - a) * (base[R_WRI] - base[R_ELB])
            _arm(k, "right", elbow, wrist)
        for hand, wri, elb in ((L_HAND, L_WRI, L_ELB), (R_HAND, R_WRI, R_ELB)):
            k[hand:hand + 21] = _hand(k[wri], k[wri] - k[elb])
        seq[t] = k
    return seq


def to_pixels(seq: np.ndarray, width: int, height: int) -> np.ndarray:
    """Body units -> pixels: the standing figure spans ~60 % of the frame height (room above
    for a raised hand), centred horizontally."""
    scale = 0.8 * height / 6.2
    out = seq.copy()
    out[..., 0] = width / 2 + seq[..., 0] * scale
    out[..., 1] = height * 0.6 + seq[..., 1] * scale
    return out


def to_vector(kpts_px: np.ndarray, width: int, height: int) -> np.ndarray:
    """(T, 133, 2) pixel keypoints -> (T, 271) vectors (layout in the module docstring)."""
    k = np.asarray(kpts_px, np.float64)
    lo, hi = k.min(axis=1), k.max(axis=1)
    wh = hi - lo
    centre = 0.5 * (lo + hi)
    s = np.maximum(wh.max(axis=1), 1e-6)
    norm = (k - centre[:, None]) / s[:, None, None]
    size = np.array([width, height], np.float64)
    return np.concatenate([norm.reshape(len(k), -1), centre / size, wh / size,
                           (s / max(width, height))[:, None]], axis=1).astype(np.float32)


def from_vector(vec: np.ndarray, width: int, height: int) -> np.ndarray:
    """Inverse of ``to_vector``: (T, 271) -> (T, 133, 2) pixels."""
    v = np.asarray(vec, np.float64)
    size = np.array([width, height], np.float64)
    centre = v[:, 266:268] * size
    s = v[:, 270] * max(width, height)
    return v[:, :266].reshape(-1, N_KPT, 2) * s[:, None, None] + centre[:, None]


def render_skeleton(kpts_px: np.ndarray, width: int, height: int) -> np.ndarray:
    """Draw (T, 133, 2) keypoints as a coloured skeleton on a dark background -> frames."""
    import cv2

    frames = np.zeros((len(kpts_px), height, width, 3), np.uint8)
    frames[:] = (28, 30, 36)
    lw = max(1, int(round(height / 90)))
    for t, k in enumerate(kpts_px):
        img = frames[t]
        p = np.round(k * 4).astype(np.int32)
        for a, b in BODY_EDGES:
            colour = (80, 200, 255) if a in (6, 8, 10, 12, 14, 16) or b in (8, 10, 14, 16) else (255, 170, 70)
            cv2.line(img, tuple(p[a]), tuple(p[b]), colour, lw + 1, cv2.LINE_AA, shift=2)
        for base, colour in ((L_HAND, (255, 220, 90)), (R_HAND, (120, 255, 160))):
            for a, b in HAND_EDGES:
                cv2.line(img, tuple(p[base + a]), tuple(p[base + b]), colour, lw, cv2.LINE_AA, shift=2)
        for i in range(23, 91):
            cv2.circle(img, tuple(p[i]), 4, (230, 230, 230), -1, cv2.LINE_AA, shift=2)
    return frames
