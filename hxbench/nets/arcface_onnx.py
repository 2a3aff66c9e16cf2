"""ArcFace through the ``insightface`` package: its ONNX recognition models from its model packs.

Variants ``id_sim[arcface-r50]`` / ``id_sim[arcface-r100]`` run the recognition model of
insightface's own release packs with insightface's own code (``insightface`` 2.1, pure
Python, on onnxruntime):

- ``arcface-r50``: ``w600k_r50.onnx`` from ``buffalo_l.zip`` (IResNet-50, ArcFace loss,
  WebFace600K), insightface's default pack;
- ``arcface-r100``: ``glintr100.onnx`` from ``antelopev2.zip`` (IResNet-100, Glint360K).

The package ships no weights. ``hxbench weights import arcface-r50 buffalo_l.zip`` (the pack
zip) or ``... /path/to/w600k_r50.onnx`` (the file inside it) both work: the .onnx is taken
out of the zip and checked against the sha256 pinned below; ``hxbench weights fetch`` gets the
zip from the release URL.

Per face (``embed_faces``): ``insightface.utils.face_align.norm_crop`` warps the frame (BGR,
as insightface works) with the similarity transform of the five points onto ``arcface_dst``
(112 x 112), and ``ArcFaceONNX.get_feat`` makes the blob as insightface does:
``cv2.dnn.blobFromImages(crops, 1 / input_std, (112, 112), (input_mean,) * 3, swapRB=True)``,
i.e. RGB ``(x - 127.5) / 127.5`` for these PyTorch-exported models (insightface picks mean 0 /
std 1 only for old MXNet graphs that normalise inside). Output: (N, 512), L2-normalised here.

The five points come from the shared face mesh (``hxbench.face.align.five_points``), not from
the pack's SCRFD detector, so that every face metric shares one detector run per video.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from hxbench.weights import WeightSpec, register_weights

_LICENSE = ("insightface: code MIT; its model packs are for non-commercial research only "
            "(insightface README)")
_RELEASES = "https://github.com/deepinsight/insightface/releases/download/"

# sha256 of the .onnx inside each pack, as publicly stated by projects that download it:
# w600k_r50.onnx (174,383,860 bytes): yakhyo/uniface uniface/constants.py
#   (MODEL_REGISTRY[ArcFaceWeights.RESNET]) and several other download manifests that agree, one noting it is
#   byte-identical to the copies on two Hugging Face mirrors;
#   buffalo_l.zip itself: 80ffe37d8a5940d59a7384c201a2a38d4741f2f3c51eef46ebb28218a7b0ca2f.
# glintr100.onnx (260,665,334 bytes): stated identically in several public download manifests
#   and model lists (found by content search, e.g. a DIAMONIK7777/antelopev2 downloader);
#   antelopev2.zip itself: 8e182f14fc6e80b3bfa375b33eb6cff7ee05d8ef7633e738d1c89021dcf0c5c5.
PACKS = {
    "arcface-r50": dict(
        filename="w600k_r50.onnx", pack="buffalo_l",
        sha256="4c06341c33c2ca1f86781dab0e829f88ad5b64be9fba56e56bc9ebdefc619e43",
        description="ArcFace IResNet-50 (WebFace600K), insightface buffalo_l w600k_r50.onnx"),
    "arcface-r100": dict(
        filename="glintr100.onnx", pack="antelopev2",
        sha256="4ab1d6435d639628a6f3e5008dd4f929edf4c4124b1a7169e1048f9fef534cdf",
        description="ArcFace IResNet-100 (Glint360K), insightface antelopev2 glintr100.onnx"),
}

for _name, _p in PACKS.items():
    register_weights(WeightSpec(
        name=_name, filename=_p["filename"], sha256=_p["sha256"], description=_p["description"],
        license=_LICENSE,
        urls=(f"{_RELEASES}v0.7/{_p['pack']}.zip", f"{_RELEASES}model-zoo/{_p['pack']}.zip"),
        notes=(f"insightface model pack {_p['pack']}.zip (GitHub release v0.7 / model-zoo). Import "
               f"the zip or the {_p['filename']} inside it; the .onnx is verified. Runs through the "
               "insightface package (pip install insightface==2.1 --no-deps, onnxruntime)."),
        extra={"in_zip": True},
    ))

PIP = "insightface==2.1 --no-deps (and onnxruntime, onnx<1.23)"
_MODELS: dict[str, object] = {}
_LOCK = threading.Lock()


def load_model(path: str | Path):
    """insightface ``model_zoo.get_model`` on a recognition .onnx, CPU provider. Returns the
    package's ``ArcFaceONNX`` (``input_size``, ``input_mean``, ``input_std``, ``get_feat``)."""
    from insightface.model_zoo import get_model
    from insightface.model_zoo.arcface_onnx import ArcFaceONNX

    model = get_model(str(path), providers=["CPUExecutionProvider"])
    if not isinstance(model, ArcFaceONNX):
        raise ValueError(f"{path}: insightface does not route this ONNX model to ArcFaceONNX "
                         f"(got {type(model).__name__}); is it a recognition model?")
    return model


def model_for(name: str):
    """The cached ``ArcFaceONNX`` of weight ``name`` (``arcface-r50`` / ``arcface-r100``)."""
    from hxbench.weights import resolve

    with _LOCK:
        if name not in _MODELS:
            _MODELS[name] = load_model(resolve(name))
        return _MODELS[name]


def norm_crops(frames_rgb: np.ndarray, points: np.ndarray, size: int = 112) -> np.ndarray:
    """insightface ``face_align.norm_crop`` per frame: (T, H, W, 3) uint8 RGB and (T, 5, 2)
    finite five points -> (T, size, size, 3) uint8 **BGR** crops (insightface's order)."""
    from insightface.utils import face_align

    out = np.zeros((len(frames_rgb), size, size, 3), np.uint8)
    for t, (frame, pts) in enumerate(zip(frames_rgb, points)):
        bgr = np.ascontiguousarray(np.asarray(frame)[..., ::-1])
        out[t] = face_align.norm_crop(bgr, landmark=np.asarray(pts, np.float32), image_size=size)
    return out


def embed_crops(model, crops_bgr: np.ndarray, batch: int = 32) -> np.ndarray:
    """``ArcFaceONNX.get_feat`` on (N, 112, 112, 3) uint8 BGR crops -> (N, D) float32 unit rows.
    Models with a fixed batch dimension of 1 are run one crop at a time."""
    fixed = model.input_shape[0]
    step = 1 if isinstance(fixed, int) and fixed == 1 else batch
    feats = [np.asarray(model.get_feat(list(crops_bgr[i:i + step])), np.float32)
             for i in range(0, len(crops_bgr), step)]
    if not feats:
        return np.zeros((0, 512), np.float32)
    out = np.concatenate(feats).reshape(len(crops_bgr), -1)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


def embed_faces(model, frames_rgb: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Aligned-and-embedded faces: frames (N, H, W, 3) uint8 RGB, points (N, 5, 2) pixels in
    image order (left eye, right eye, nose, left / right mouth corner) -> (N, D) unit rows."""
    size = int(model.input_size[0])
    return embed_crops(model, norm_crops(frames_rgb, points, size))
