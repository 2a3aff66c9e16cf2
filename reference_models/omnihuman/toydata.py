"""A stand-in talking-face set used until hx-synth (``hxbench.synth``) is available.

NOT hx-synth: drawn cartoon faces (disc head, two eyes, an elliptical mouth) at 64x64, 25 fps,
speaking espeak-ng sentences (``hxbench.io.speech``); the mouth opening follows the speech RMS
envelope per frame, and the named actions in the sentence move the head ("nod": vertical
oscillation, "shake": horizontal, "look left/right": offset, "smile": curved mouth).
``build(out_dir, n, seed)`` writes ``videos/*.mp4`` (with audio), ``audio/*.wav`` and
``manifest.jsonl`` (reference_image, driving_audio, reference_video, text).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

SENTENCES = [
    "Hello there, it is really nice to see you today.",
    "Can you nod for me please? Thank you, that was great.",
    "I am sorry, that was a terrible problem for everyone.",
    "Please shake your head if you do not agree with me.",
    "Look to the left, now look to the right, and smile.",
    "The weather is calm and the train leaves at nine.",
    "Wow, really? That is an amazing result!",
    "We should talk about the plan for tomorrow morning.",
    "Smile and wave at the camera, we are almost done.",
    "I love this song, it makes me so happy.",
]


def draw_face(size: int, cx: float, cy: float, mouth: float, smile: bool, skin, bg, eye_open=1.0):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    img = np.empty((size, size, 3), np.float32)
    img[:] = bg
    r = size * 0.32
    head = (xx - cx) ** 2 + ((yy - cy) / 1.15) ** 2 < r ** 2
    img[head] = skin
    for ex in (-0.35, 0.35):
        eye = ((xx - cx - ex * r) / 1.0) ** 2 + ((yy - cy + 0.25 * r) / max(eye_open, 0.15)) ** 2 < (0.12 * r) ** 2
        img[eye] = (20, 20, 30)
    mw, mh = 0.45 * r, 0.04 * r + 0.28 * r * mouth
    my = cy + 0.45 * r - (0.06 * r if smile else 0)
    curve = 0.15 * r * ((xx - cx) / mw) ** 2 if smile else 0.0
    mo = ((xx - cx) / mw) ** 2 + ((yy - my + curve) / mh) ** 2 < 1.0
    img[mo] = (120, 30, 40)
    return img.clip(0, 255).astype(np.uint8)


def render(text: str, audio: np.ndarray, sr: int, rng: np.random.Generator, size: int = 64,
           fps: float = 25.0):
    from hxbench.io.speech import envelope

    env = envelope(audio, sr, fps)
    env = np.clip(env / (np.percentile(env, 95) + 1e-6), 0, 1)
    T = len(env)
    skin = rng.uniform(120, 230, 3)
    bg = rng.uniform(20, 240, 3)
    low = text.lower()
    t = np.arange(T) / fps
    cx = size / 2 + rng.uniform(-3, 3) + np.zeros(T)
    cy = size / 2 + rng.uniform(-2, 2) + np.zeros(T)
    if "nod" in low:
        cy = cy + 3.0 * np.sin(2 * np.pi * 2.0 * t)
    if "shake" in low:
        cx = cx + 3.0 * np.sin(2 * np.pi * 2.0 * t)
    if "left" in low:
        cx = cx - 3.0 * np.clip(t / 1.0, 0, 1)
    if "right" in low:
        cx = cx + 3.0 * np.clip((t - 1.5) / 1.0, 0, 1)
    smile = any(w in low for w in ("smile", "happy", "love", "great", "nice"))
    blink = (np.arange(T) % 60) < 3
    frames = np.stack([draw_face(size, cx[k], cy[k], env[k], smile, skin, bg,
                                 0.2 if blink[k] else 1.0) for k in range(T)])
    return frames


def build(out_dir: str | Path, n: int = 40, seed: int = 0, size: int = 64) -> Path:
    from hxbench.io.media import write_video, write_wav
    from hxbench.io.speech import synthesize

    out = Path(out_dir)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    (out / "audio").mkdir(exist_ok=True)
    (out / "images").mkdir(exist_ok=True)
    rng = np.random.default_rng(seed)
    voices = ["en-us", "en-us+f3", "en-us+m4", "en-us+f2"]
    lines = []
    for i in range(n):
        text = SENTENCES[i % len(SENTENCES)]
        sp = synthesize(text, voice=voices[i % len(voices)], rate=int(rng.integers(140, 180)))
        frames = render(text, sp.audio, sp.sample_rate, rng, size)
        sid = f"toy_{i:04d}"
        write_video(out / "videos" / f"{sid}.mp4", frames, 25.0, audio=sp.audio, sample_rate=sp.sample_rate)
        write_wav(out / "audio" / f"{sid}.wav", sp.audio, sp.sample_rate)
        from PIL import Image

        Image.fromarray(frames[0]).save(out / "images" / f"{sid}.png")
        lines.append({"sample_id": sid, "reference_image": f"images/{sid}.png",
                      "driving_audio": f"audio/{sid}.wav", "reference_video": f"videos/{sid}.mp4",
                      "text": text, "expected": {"fps": 25, "width": size, "height": size,
                                                 "duration": round(len(frames) / 25, 3), "audio": True}})
    (out / "manifest.jsonl").write_text("".join(json.dumps(l, sort_keys=True) + "\n" for l in lines))
    return out / "manifest.jsonl"


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    print(build(a.out, a.n, a.seed))
