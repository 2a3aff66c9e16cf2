"""driving_accuracy (DA): in a multi-person video, is the right person talking?

For multi_person (several people in one image + per-speaker audio -> video): each person's
mouth motion, measured inside their own region, must follow their speaking labels; a
model that animates everyone (or no one) fails.

Protocol (variant ``mouth-std-0.4s``):
1. Per person ``i``: crop the generated frames to the person's region
   (``meta.speakers[i].region`` = [x0, y0, x1, y1] pixels; else the union of
   ``meta.boxes`` (T, speaker, 4) over time), run the MediaPipe face mesh
   (``hxbench.face.face_mesh``) and take the mouth opening (inner-lip gap / inter-ocular).
2. Split the video into non-overlapping windows of 10 frames (0.4 s at 25 fps). A person is
   *driven* in a window when the standard deviation of their mouth opening in it is
   >= 0.02 (talking moves the lips; a still or idly breathing mouth stays below: on hx-synth
   ground truth, speaking windows measure 0.022-0.062, silent ones mostly <= 0.016).
3. The label of a window is speaking when > 75 % of its frames are labelled speaking in
   ``meta.speaking`` ((T, speaker) bool .npy), silent when < 25 %; windows in between
   (turn boundaries) are skipped. Windows without a detected face in >= half of their
   frames count as "not driven".
4. ``da`` = fraction of (person, window) pairs where driven == label (the paper's
   "fraction of people correctly speaking or silent", per time window);
   ``da_balanced`` = mean of the recall on speaking and on silent pairs (a still video
   scores 0.5 whatever the speaking ratio); ``n_windows`` = pairs counted.

Streamed (``DrivingStream``): the generated video arrives in chunks from the run's shared
decoding pass; each person's region of each chunk feeds that person's face-mesh session;
only the (T, P) mouth openings are kept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hxbench.errors import SampleError
from hxbench.metrics.base import HIGHER, NEUTRAL, PerSampleMetric, SampleData, SampleStream, register_metric

WINDOW = 10
STD_THRESHOLD = 0.02
LABEL_HI, LABEL_LO = 0.75, 0.25


def _meta_path(sample: SampleData, rel: str) -> Path:
    p = Path(rel)
    if not p.is_absolute() and sample.meta.get("manifest_root"):
        p = Path(sample.meta["manifest_root"]) / p
    return p


def regions(sample: SampleData, n_speakers: int) -> list[tuple[int, int, int, int]]:
    speakers = sample.meta.get("speakers") or []
    out = []
    boxes = None
    for i in range(n_speakers):
        reg = speakers[i].get("region") if i < len(speakers) else None
        if reg is None:
            if boxes is None:
                if not sample.meta.get("boxes"):
                    raise SampleError("driving_accuracy: no speaker regions or boxes in the manifest")
                boxes = np.load(_meta_path(sample, sample.meta["boxes"]))
            b = boxes[:, i]
            reg = [np.nanmin(b[:, 0]), np.nanmin(b[:, 1]), np.nanmax(b[:, 2]), np.nanmax(b[:, 3])]
        out.append(tuple(int(round(float(v))) for v in reg))
    return out


def driving_accuracy(mouth: np.ndarray, labels: np.ndarray, window: int = WINDOW,
                     threshold: float = STD_THRESHOLD) -> dict[str, float]:
    """mouth (T, P) mouth opening per frame (NaN without a face), labels (T, P) bool ->
    {"da", "da_balanced", "n_windows"}. T of the two may differ by a few frames (the shorter wins)."""
    T = min(len(mouth), len(labels))
    mouth, labels = np.asarray(mouth, float)[:T], np.asarray(labels, bool)[:T]
    correct, n, hit = 0, 0, {True: [0, 0], False: [0, 0]}
    for start in range(0, T - window + 1, window):
        for p in range(mouth.shape[1]):
            frac = float(labels[start:start + window, p].mean())
            if LABEL_LO <= frac <= LABEL_HI:
                continue
            label = frac > LABEL_HI
            m = mouth[start:start + window, p]
            ok = ~np.isnan(m)
            driven = bool(ok.sum() >= window / 2 and np.std(m[ok]) >= threshold)
            n += 1
            correct += int(driven == label)
            hit[label][0] += int(driven == label)
            hit[label][1] += 1
    if n == 0:
        raise SampleError("driving_accuracy: the video has no window with a clear speaking label")
    recalls = [h / t for h, t in hit.values() if t]
    return {"da": correct / n, "da_balanced": float(np.mean(recalls)), "n_windows": float(n)}


@register_metric
class DrivingAccuracy(PerSampleMetric):
    name = "driving_accuracy"
    version = "1"
    variants = ("mouth-std-0.4s",)
    outputs = {"da": HIGHER, "da_balanced": HIGHER, "n_windows": NEUTRAL}
    requires = ("gen",)
    description = "multi-person driving accuracy: per-person mouth motion (face mesh in their region) vs speaking labels"

    def weight_names(self) -> tuple[str, ...]:
        return ("mediapipe-face-mesh",)

    def check_available(self) -> None:
        super().check_available()
        from hxbench.face import require_mediapipe

        require_mediapipe()

    def open_stream(self, sample: SampleData) -> "DrivingStream":
        if sample.gen is None:
            raise SampleError(f"{self.key} needs gen for sample {sample.sample_id!r}")
        if not sample.meta.get("speaking"):
            raise SampleError(f"{self.key}: sample {sample.sample_id!r} has no speaking labels (meta.speaking)")
        labels = np.load(_meta_path(sample, sample.meta["speaking"])).astype(bool)
        if labels.ndim != 2:
            raise SampleError(f"{self.key}: speaking labels must be (T, speaker), got {labels.shape}")
        return DrivingStream(self.key, labels, regions(sample, labels.shape[1]))


class DrivingStream(SampleStream):
    """Per person, one face-mesh tracking session fed the person's region of each chunk of the
    generated video (``FaceMeshSession``: the same video-mode session, frames in order, as
    ``face_mesh`` on the whole cropped video); kept: the (T, P) mouth opening."""

    sides = ("gen",)

    def __init__(self, key: str, labels: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> None:
        self.key, self.labels, self.boxes = key, labels, boxes
        self.sessions: list | None = None
        self.mouth: list[np.ndarray] = []  # (t, P) per chunk
        self.count = 0

    def feed(self, gen: np.ndarray | None, ref: np.ndarray | None) -> None:
        from hxbench import face
        from hxbench.face.detect import FaceMeshSession

        if gen is None:
            return
        H, W = gen.shape[1:3]
        if self.sessions is None:
            clipped = []
            for p, (x0, y0, x1, y1) in enumerate(self.boxes):
                x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
                if x1 - x0 < 16 or y1 - y0 < 16:
                    raise SampleError(f"{self.key}: region of person {p} is outside the {W}x{H} video")
                clipped.append((x0, y0, x1, y1))
            self.boxes = clipped
            self.sessions = [FaceMeshSession() for _ in clipped]
        out = np.full((len(gen), len(self.boxes)), np.nan)
        for p, ((x0, y0, x1, y1), session) in enumerate(zip(self.boxes, self.sessions)):
            session.feed(np.ascontiguousarray(gen[:, y0:y1, x0:x1]))
            lm, _ = session.meshes(self.count, self.count + len(gen))
            out[:, p] = face.mouth_opening(lm[:, 0])
        self.mouth.append(out)
        self.count += len(gen)

    def finish(self) -> dict[str, float]:
        for session in self.sessions or []:
            session.finish()
        mouth = np.concatenate(self.mouth) if self.mouth else np.zeros((0, len(self.boxes)))
        return driving_accuracy(mouth, self.labels)
