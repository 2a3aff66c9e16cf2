"""Reference photos for the synthetic benchmark, and identity variants of them.

Shipped photo: ``skimage.data.astronaut()``, NASA's portrait of Eileen Collins, public
domain (NASA imagery is not copyrighted; scikit-image redistributes it). No other bundled
scikit-image image is a usable frontal human face (``chelsea`` is a cat, ``camera`` a
profile), so variety comes from deterministic variants of the one photo: different crops
(face size 35-50 % of the frame, off-centre), horizontal flips, colour changes (hue,
saturation, brightness, gamma) and a neutral / smiling base expression set at render time.
Users may add their own photos (``photo_paths``); they must show one frontal face.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

PHOTO_LICENCE = ("skimage.data.astronaut(): NASA portrait of Eileen Collins (1998), public domain; "
                 "variants are crops / flips / colour changes of it")

# face box of the astronaut photo (512 x 512), from MediaPipe face detection
_ASTRO_FACE = (178.0, 83.0, 273.0, 178.0)


@dataclass
class Identity:
    name: str
    image: np.ndarray  # (size, size, 3) uint8
    recipe: dict


def _resize(img: np.ndarray, w: int, h: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(img).resize((w, h), Image.LANCZOS))


def _colour(img: np.ndarray, hue: float, sat: float, val: float, gamma: float) -> np.ndarray:
    from PIL import Image

    hsv = np.asarray(Image.fromarray(img).convert("HSV")).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + hue * 255.0) % 255.0
    hsv[..., 1] = np.clip(hsv[..., 1] * sat, 0, 255)
    hsv[..., 2] = np.clip(255.0 * (hsv[..., 2] / 255.0) ** gamma * val, 0, 255)
    rgb = Image.fromarray(hsv.round().astype(np.uint8), "HSV").convert("RGB")
    return np.asarray(rgb)


def crop_face(photo: np.ndarray, face_box: tuple, size: int, face_frac: float = 0.42,
              dx: float = 0.0, dy: float = 0.0, width: int | None = None) -> np.ndarray:
    """A square (or ``width`` x ``size``) crop where the face box spans ``face_frac`` of the
    height, its centre shifted by (dx, dy) face sizes; padded by edge replication."""
    x0, y0, x1, y1 = face_box
    fs = max(x1 - x0, y1 - y0)
    side = fs / face_frac
    aspect = (width or size) / size
    cx = 0.5 * (x0 + x1) - dx * fs
    cy = 0.5 * (y0 + y1) - dy * fs + 0.08 * side
    half_w, half_h = 0.5 * side * aspect, 0.5 * side
    pad = int(np.ceil(side))
    padded = np.pad(photo, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    xa, ya = int(round(cx - half_w)) + pad, int(round(cy - half_h)) + pad
    crop = padded[ya:ya + int(round(2 * half_h)), xa:xa + int(round(2 * half_w))]
    return _resize(crop, width or size, size)


def astronaut() -> np.ndarray:
    import skimage.data

    return skimage.data.astronaut()


def identities(n: int, size: int, rng: np.random.Generator, width: int | None = None,
               photo_paths: list[Path] | None = None) -> list[Identity]:
    """``n`` deterministic identity variants (crop / flip / colour) of the available photos.

    Variant 0 of each photo is the plain centred crop."""
    photos: list[tuple[str, np.ndarray, tuple]] = [("astronaut", astronaut(), _ASTRO_FACE)]
    for p in photo_paths or []:
        from hxbench.face import detect_faces
        from hxbench.io.media import read_image

        img = read_image(p)
        boxes = detect_faces(img).largest()[0]
        if not np.all(np.isfinite(boxes)):
            raise ValueError(f"{p}: no face found in the photo")
        photos.append((Path(p).stem, img, tuple(float(v) for v in boxes)))
    out = []
    for i in range(n):
        pname, photo, box = photos[i % len(photos)]
        k = i // len(photos)
        if k == 0:
            recipe = dict(face_frac=0.42, dx=0.0, dy=0.0, flip=False, hue=0.0, sat=1.0, val=1.0, gamma=1.0)
        else:
            recipe = dict(face_frac=float(rng.uniform(0.36, 0.5)), dx=float(rng.uniform(-0.15, 0.15)),
                          dy=float(rng.uniform(-0.1, 0.1)), flip=bool(k % 2 == 1),
                          hue=float(rng.uniform(-0.06, 0.06)), sat=float(rng.uniform(0.6, 1.3)),
                          val=float(rng.uniform(0.8, 1.1)), gamma=float(rng.uniform(0.8, 1.25)))
        img = crop_face(photo, box, size, recipe["face_frac"], recipe["dx"], recipe["dy"], width)
        if recipe["flip"]:
            img = img[:, ::-1]
        img = _colour(np.ascontiguousarray(img), recipe["hue"], recipe["sat"], recipe["val"], recipe["gamma"])
        recipe = {"photo": pname, **{k2: round(v, 4) if isinstance(v, float) else v for k2, v in recipe.items()}}
        out.append(Identity(f"{pname}_{i:02d}", np.ascontiguousarray(img), recipe))
    return out
