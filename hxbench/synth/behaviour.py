"""Behaviour sequences (T, 11) for the renderer: from speech, and from text commands.

Layout: ``hxbench.synth.renderer.BEHAVIOUR_NAMES``. Everything is a pure function of its
inputs and a ``numpy.random.Generator``, so a seed fixes the result.
"""

from __future__ import annotations

import numpy as np

from hxbench.synth.renderer import B, BEHAVIOUR_DIM

FPS = 25.0

# mouth openness (0..1) and width (-1 rounded .. +1 spread) per espeak-ng phoneme mnemonic
_OPEN_VOWELS = {"a": 1.0, "A": 1.0, "aI": 0.95, "aU": 0.95, "V": 0.85, "a#": 0.9, "A:": 1.0,
                "A@": 0.9, "E": 0.75, "e": 0.7, "eI": 0.7, "e@": 0.75, "@": 0.55, "3": 0.6,
                "3:": 0.6, "@L": 0.5, "O": 0.8, "O:": 0.8, "o": 0.75, "oU": 0.75, "OI": 0.8,
                "O@": 0.8, "i": 0.4, "i:": 0.4, "I": 0.45, "i@": 0.5, "u": 0.35, "u:": 0.35,
                "U": 0.4, "U@": 0.45}
_ROUNDED = {"O", "O:", "o", "oU", "OI", "O@", "u", "u:", "U", "U@", "w", "aU"}
_SPREAD = {"i", "i:", "I", "e", "eI", "E", "i@", "s", "z"}
_CLOSED = {"p", "b", "m"}
_LABIODENTAL = {"f", "v"}


def viseme(symbol: str) -> tuple[float, float]:
    """(openness, width) of one espeak-ng phoneme mnemonic."""
    sym = symbol.strip("'\",%=")
    if not sym or sym.startswith("_"):
        return 0.0, 0.0
    if sym in _OPEN_VOWELS:
        base = _OPEN_VOWELS[sym]
    elif sym in _CLOSED:
        base = 0.0
    elif sym in _LABIODENTAL:
        base = 0.12
    elif sym[0] in "aAeEiIoOuUV3@":
        base = 0.6
    else:
        base = 0.28
    width = -0.7 if sym in _ROUNDED else (0.4 if sym in _SPREAD else 0.0)
    return base, width


def _smooth(x: np.ndarray, k: int = 3) -> np.ndarray:
    w = np.hanning(k + 2)[1:-1]
    w /= w.sum()
    pad = np.pad(x, (k // 2, k // 2), mode="edge")
    return np.convolve(pad, w, mode="valid")


def idle_motion(n: int, rng: np.random.Generator, amplitude_deg: float = 2.5,
                blink_every_s: float = 3.0) -> np.ndarray:
    """Slow head drift and natural blinks, (n, 11)."""
    beh = np.zeros((n, BEHAVIOUR_DIM))
    for dim, amp in ((B["yaw"], amplitude_deg), (B["pitch"], amplitude_deg * 0.6),
                     (B["roll"], amplitude_deg * 0.4)):
        knots = rng.normal(0, amp, size=n // 12 + 3)
        xs = np.arange(len(knots)) * 12
        beh[:, dim] = np.interp(np.arange(n), xs, knots)
    t = int(rng.integers(10, 30))
    while t < n:
        for k, v in enumerate((0.5, 1.0, 1.0, 0.5)):
            if t + k < n:
                beh[t + k, B["blink_left"]] = beh[t + k, B["blink_right"]] = v
        t += int(rng.integers(int(blink_every_s * FPS * 0.6), int(blink_every_s * FPS * 1.4)))
    return beh


def speech_behaviour(phonemes: list, audio: np.ndarray, sample_rate: int, n_frames: int,
                     rng: np.random.Generator, fps: float = FPS, max_open: float = 0.7) -> np.ndarray:
    """Talking behaviour (n_frames, 11): the mouth follows the phonemes and the loudness.

    jaw_open(t) = max_open * (0.5 * viseme openness + 0.5 * normalised RMS envelope),
    both sampled at the frame centre, smoothed over 3 frames; mouth width from rounded /
    spread phonemes; plus idle head motion and blinks.
    """
    from hxbench.io.speech import envelope

    env = envelope(audio, sample_rate, fps, n_frames)
    ref = float(np.percentile(env, 95)) if np.any(env > 0) else 1.0
    env_n = np.clip(env / max(ref, 1e-6), 0.0, 1.0)
    openness = np.zeros(n_frames)
    width = np.zeros(n_frames)
    centres = (np.arange(n_frames) + 0.5) / fps
    for p in phonemes:
        sym, start, end = (p.symbol, p.start, p.end) if hasattr(p, "symbol") else p
        sel = (centres >= start) & (centres < end)
        o, w = viseme(sym)
        openness[sel] = o
        width[sel] = w
    beh = idle_motion(n_frames, rng)
    beh[:, B["jaw_open"]] = max_open * _smooth(0.5 * openness * (env_n > 0.05) + 0.5 * env_n)
    beh[:, B["mouth_width"]] = _smooth(width) * (env_n > 0.05)
    return beh


# -- listen-to-command: silent behaviours -------------------------------------------------------
COMMANDS = {
    "blink": "Blink your eyes.",
    "nod": "Nod your head.",
    "shake_head": "Shake your head.",
    "turn_left": "Turn your head to the left.",
    "turn_right": "Turn your head to the right.",
    "look_up": "Look up.",
    "look_down": "Look down.",
    "smile": "Smile.",
    "raise_eyebrows": "Raise your eyebrows.",
    "open_mouth": "Open your mouth.",
}


def _bump(n: int, start: int, rise: int, hold: int, fall: int) -> np.ndarray:
    """0 -> 1 -> 0 envelope with smooth (raised-cosine) ramps."""
    x = np.zeros(n)
    t = np.arange(n)
    up = (t >= start) & (t < start + rise)
    x[up] = 0.5 - 0.5 * np.cos(np.pi * (t[up] - start) / rise)
    x[(t >= start + rise) & (t < start + rise + hold)] = 1.0
    s2 = start + rise + hold
    dn = (t >= s2) & (t < s2 + fall)
    x[dn] = 0.5 + 0.5 * np.cos(np.pi * (t[dn] - s2) / fall)
    return x


def command_behaviour(command: str, n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """Ground-truth behaviour (n_frames, 11) for one command of ``COMMANDS``.

    The action starts after a short neutral lead-in (6-10 frames) and ends before the clip
    does; amplitudes vary per sample: turns/looks 18-25 degrees, nods/shakes 2 cycles of
    12-18 degrees, expressions 0.8-1.0. No idle blinks are added (they would confound the
    blink command); a small head drift (< 1 degree) is.
    """
    if command not in COMMANDS:
        raise ValueError(f"unknown command {command!r}; known: {', '.join(COMMANDS)}")
    n = n_frames
    beh = np.zeros((n, BEHAVIOUR_DIM))
    for dim in (B["yaw"], B["pitch"]):
        beh[:, dim] = np.interp(np.arange(n), [0, n - 1], rng.normal(0, 0.4, 2))
    start = int(rng.integers(6, 11))
    active = n - start - 6
    if command == "blink":
        t = start
        while t + 4 < n - 2:
            for k, v in enumerate((0.5, 1.0, 1.0, 0.5)):
                beh[t + k, B["blink_left"]] = beh[t + k, B["blink_right"]] = v
            t += int(rng.integers(10, 15))
    elif command in ("nod", "shake_head"):
        dim = B["pitch"] if command == "nod" else B["yaw"]
        amp = float(rng.uniform(12, 18))
        t = np.arange(active)
        wave = np.sin(2 * np.pi * 2 * t / active) * np.sin(np.pi * t / active) ** 0.5
        beh[start:start + active, dim] += amp * wave * (-1 if command == "nod" else 1)
    else:
        env = _bump(n, start, rise=8, hold=max(active - 16, 2), fall=8)
        if command in ("turn_left", "turn_right", "look_up", "look_down"):
            amp = float(rng.uniform(18, 25))
            dim = {"turn_left": B["yaw"], "turn_right": B["yaw"], "look_up": B["pitch"],
                   "look_down": B["pitch"]}[command]
            sign = 1 if command in ("turn_left", "look_up") else -1
            beh[:, dim] += sign * amp * env
        else:
            amp = float(rng.uniform(0.8, 1.0))
            dim = {"smile": B["smile"], "raise_eyebrows": B["brow_raise"],
                   "open_mouth": B["jaw_open"]}[command]
            beh[:, dim] = amp * env * (0.7 if command == "open_mouth" else 1.0)
    return beh
