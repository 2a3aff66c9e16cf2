"""A drawn hand for tests and benchmarks of the hand metrics (no redistributable real hand
photograph ships in an installed package).

``draw_hand`` renders an open right palm facing the camera (palm, four fingers with creases
and nails, thumb, forearm), supersampled 4x, blurred and downsampled, so that MediaPipe's
palm detector and hand-landmark model find it (at ``scale`` 0.5-0.7 of a 256-px frame).
Translate / rotate it over frames for motion (``cx``, ``cy``, ``angle``).
"""

from __future__ import annotations

import numpy as np


def draw_hand(size=256, cx=128.0, cy=140.0, scale=0.6, angle=0.0, bg=(235, 235, 235)):
    """(size, size, 3) uint8: a right palm facing the camera, fingers up, rotated by
    ``angle`` degrees about its palm centre (cx, cy)."""
    from PIL import Image, ImageDraw, ImageFilter

    S = 4
    img = Image.new("RGB", (size * S, size * S), bg)
    d = ImageDraw.Draw(img)
    skin, dark, nail = (222, 170, 135), (170, 110, 85), (235, 195, 175)
    ca, sa = np.cos(np.radians(angle)), np.sin(np.radians(angle))

    def P(x, y):
        X, Y = x * scale, y * scale
        return ((cx + ca * X - sa * Y) * S, (cy + sa * X + ca * Y) * S)

    def capsule(p0, p1, r):
        (x0, y0), (x1, y1) = P(*p0), P(*p1)
        R = r * scale * S
        d.line([(x0, y0), (x1, y1)], fill=skin, width=int(2 * R))
        for x, y in ((x0, y0), (x1, y1)):
            d.ellipse([x - R, y - R, x + R, y + R], fill=skin)

    capsule((0, 40), (0, 140), 24)  # forearm
    d.polygon([P(*p) for p in [(-32, -30), (34, -32), (36, 20), (22, 45), (-20, 45), (-34, 15)]], fill=skin)
    for bx, L, a in [(-26, 58, -10), (-9, 70, -3), (9, 74, 2), (26, 62, 9)]:
        ta = np.radians(a)

        def along(f, bx=bx, L=L, ta=ta):
            return (bx + np.sin(ta) * L * f, -30 - np.cos(ta) * L * f)

        capsule((bx, -25), along(1.0), 8.5)
        for f in (0.35, 0.68):
            q = along(f)
            d.line([P(q[0] - 6, q[1]), P(q[0] + 6, q[1])], fill=dark, width=S)
        x, y = P(*along((L - 5) / L))
        R = 4 * scale * S
        d.ellipse([x - R, y - 1.3 * R, x + R, y + 1.3 * R], fill=nail)
    capsule((-30, 20), (-52, -8), 10)  # thumb
    capsule((-52, -8), (-66, -32), 9)
    d.line([P(-30, -5), P(0, 0), P(30, -12)], fill=dark, width=S)
    d.line([P(-28, 12), P(-5, 25), P(10, 40)], fill=dark, width=S)
    img = img.filter(ImageFilter.GaussianBlur(S * 0.8)).resize((size, size), Image.LANCZOS)
    return np.asarray(img)
