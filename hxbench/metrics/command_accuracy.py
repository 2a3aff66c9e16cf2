"""command_accuracy: does the generated video perform the commanded silent behaviour?

For listen_to_command (HumanExpert "behaviour execution"): the model gets a reference
image and a text command ("Blink your eyes.", "Nod your head." ...) and must produce a video
of it. We measure the behaviour in the *generated* video with the face module
(``hxbench.face``: MediaPipe face mesh -> head pose, eye aspect ratio, mouth opening / width,
brow height) and test it against the command.

Thresholds are relative to the video's own neutral start: the median of the first
``N_NEUTRAL`` = 5 frames with a face (hx-synth and the HumanExpert prompts begin from a
neutral pose; a model that never moves stays at its neutral and fails every command).
Per command (deltas from neutral; angles in degrees, yaw > 0 = subject's own left, pitch > 0
= up, as ``hxbench.face.head_pose``):

=================  ==========================================================================
turn_left / right   max delta yaw >= +8 / min delta yaw <= -8
look_up / down      max delta pitch >= +8 / min delta pitch <= -8
nod / shake_head    delta pitch / yaw reaches both >= +5 and <= -5, with >= 2 reversals
blink               eye aspect ratio (mean of both eyes) falls to <= 0.6 x neutral
smile               mouth width (corner distance / inter-ocular) reaches >= 1.07 x neutral
raise_eyebrows      brow height reaches >= 1.25 x neutral
open_mouth          mouth opening (inner-lip gap / inter-ocular) rises by >= 0.12
=================  ==========================================================================

Calibration on hx-synth tiny ground-truth videos (128 px): every command passes with margin
(e.g. turn 13-18 deg, nod +-10 deg, blink EAR ratio 0.2, smile >= 1.098 at the weakest drawn
amplitude on each of the six identities (hx-synth 3; hx-synth 2 reached only 1.04 on the
mirrored ones), brows 1.40, mouth
+0.25), while the largest cross-command responses stay below thresholds (yaw/pitch side
motion <= 4.2 deg, brow ratio <= 1.16 (during a blink), width ratio <= 1.044, opening
+0.043). Per-sample outputs: ``command_accuracy`` (0/1) and ``command_response`` = the measured
amplitude divided by the command's threshold (>= 1 passes; 0 when the face is lost).
Unknown command names raise SampleError. Faces must be found in >= 50 % of the frames.
Streamed: the landmarks come from the sample's shared face-mesh session, fed by the run's one
decoding pass (``metrics/_mesh.py``); only the (T, 478, 3) landmarks are kept.
"""

from __future__ import annotations

import warnings

import numpy as np

from hxbench.errors import SampleError
from hxbench.metrics._mesh import MeshStream
from hxbench.metrics.base import HIGHER, PerSampleMetric, SampleData, register_metric

N_NEUTRAL = 5
THRESHOLDS = {"turn": 8.0, "look": 8.0, "oscillate": 5.0, "blink": 0.6, "smile": 1.07,
              "brow": 1.25, "mouth": 0.12}
COMMANDS = ("blink", "nod", "shake_head", "turn_left", "turn_right", "look_up", "look_down",
            "smile", "raise_eyebrows", "open_mouth")
_KEYWORDS = [("blink", "blink"), ("nod", "nod"), ("shake", "shake_head"), ("left", "turn_left"),
             ("right", "turn_right"), ("look up", "look_up"), ("look down", "look_down"),
             ("smile", "smile"), ("eyebrow", "raise_eyebrows"), ("open your mouth", "open_mouth")]


def command_name(meta: dict) -> str:
    if meta.get("command_name"):
        return str(meta["command_name"])
    text = str(meta.get("command") or "").lower()
    for kw, name in _KEYWORDS:
        if kw in text:
            return name
    raise SampleError(f"command_accuracy: cannot tell which behaviour {text!r} asks for")


def _reversals(x: np.ndarray, amp: float) -> int:
    """Direction changes of x between excursions beyond +-amp (hysteresis)."""
    state, count = 0, 0
    for v in x:
        s = 1 if v >= amp else (-1 if v <= -amp else 0)
        if s and s != state:
            if state:
                count += 1
            state = s
    return count


def measure(landmarks: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame signals (T,) from face-mesh landmarks (T, 478, 3); NaN where no face."""
    from hxbench import face

    hp = face.head_pose(landmarks)
    with warnings.catch_warnings():  # a frame without a face is NaN, as documented, not a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        ear = np.nanmean(face.eye_aspect_ratio(landmarks), axis=1)
    return {"yaw": hp[:, 0], "pitch": hp[:, 1], "ear": ear,
            "mouth_open": face.mouth_opening(landmarks), "mouth_width": face.mouth_width(landmarks),
            "brow": face.brow_height(landmarks)}


def judge(command: str, sig: dict[str, np.ndarray]) -> float:
    """The command's response: measured amplitude / threshold (>= 1 means performed)."""
    ok = ~np.isnan(sig["yaw"])
    s = {k: v[ok] for k, v in sig.items()}
    neutral = {k: float(np.median(v[:N_NEUTRAL])) for k, v in s.items()}
    d = {k: v - neutral[k] for k, v in s.items()}
    if command in ("turn_left", "turn_right", "look_up", "look_down"):
        key = "yaw" if command.startswith("turn") else "pitch"
        sign = 1.0 if command in ("turn_left", "look_up") else -1.0
        return max(float(np.max(sign * d[key])), 0.0) / THRESHOLDS["turn" if key == "yaw" else "look"]
    if command in ("nod", "shake_head"):
        x = d["pitch" if command == "nod" else "yaw"]
        amp = THRESHOLDS["oscillate"]
        swing = min(float(np.max(x)), float(-np.min(x)))
        resp = max(swing, 0.0) / amp
        return resp if _reversals(x, amp) >= 2 else min(resp, 0.99)
    if command == "blink":
        ratio = float(np.min(s["ear"])) / max(neutral["ear"], 1e-6)
        return THRESHOLDS["blink"] / max(ratio, 1e-6)
    if command == "smile":
        return (float(np.max(s["mouth_width"])) / max(neutral["mouth_width"], 1e-6) - 1) / (THRESHOLDS["smile"] - 1)
    if command == "raise_eyebrows":
        return (float(np.max(s["brow"])) / max(neutral["brow"], 1e-6) - 1) / (THRESHOLDS["brow"] - 1)
    if command == "open_mouth":
        return float(np.max(d["mouth_open"])) / THRESHOLDS["mouth"]
    raise SampleError(f"command_accuracy: unknown command {command!r}; known: {', '.join(COMMANDS)}")


@register_metric
class CommandAccuracy(PerSampleMetric):
    name = "command_accuracy"
    version = "1"
    variants = ("face-mesh",)
    outputs = {"command_accuracy": HIGHER, "command_response": HIGHER}
    requires = ("gen",)
    description = "commanded silent behaviour (head pose, blink, smile, brows, mouth) measured with MediaPipe face mesh"

    def weight_names(self) -> tuple[str, ...]:
        return ("mediapipe-face-mesh",)

    def check_available(self) -> None:
        super().check_available()
        from hxbench.face import require_mediapipe

        require_mediapipe()

    def open_stream(self, sample: SampleData) -> "CommandStream":
        if sample.gen is None:
            raise SampleError(f"{self.key} needs gen for sample {sample.sample_id!r}")
        return CommandStream(self.key, sample, command_name(sample.meta))


class CommandStream(MeshStream):
    """The generated video's face mesh from the shared decoding pass (the sample's one face-mesh
    session, ``_mesh.MeshStream``; kept: (T, 478, 3) landmarks), then ``judge``. The same
    landmarks as ``face_mesh`` on the whole video, so the same numbers."""

    def __init__(self, key: str, sample: SampleData, command: str) -> None:
        super().__init__(sample, ("gen",))
        self.key, self.command = key, command

    def finish(self) -> dict[str, float]:
        lm = self.mesh("gen").landmarks
        found = ~np.isnan(lm[:, 0, 0])
        if found.mean() < 0.5 or found.sum() < N_NEUTRAL + 2:
            raise SampleError(f"{self.key}: a face was found in only {found.mean():.0%} of the frames "
                              f"of sample {self.sample_id!r}")
        resp = judge(self.command, measure(lm))
        return {"command_accuracy": float(resp >= 1.0), "command_response": float(min(resp, 10.0))}
