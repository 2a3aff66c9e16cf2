"""The adapter protocol a model implements to be run by hxbench.

A researcher writes a few lines::

    class MyModel(Adapter):
        batch_size = 4
        def generate(self, batch: list[GenerationInput]) -> list[GenerationOutput]:
            return [GenerationOutput(video=my_net(x.reference_image, x.driving_audio), fps=25,
                                     audio=x.driving_audio) for x in batch]

and runs ``hxbench run --task lip_sync --model my_pkg.my_module:MyModel``. hxbench owns
the files: it feeds inputs, writes ``<sample_id>.mp4`` / ``.txt`` / ``.wav`` into the run's
``outputs/`` folder as each batch finishes (resumable), validates them, then scores them.
A model never sees a sample's ground truth.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from hxbench.registry import CEILINGS, MODELS


@dataclass
class GenerationInput:
    """Inputs of one sample. Arrays: image (H, W, 3) uint8; audio mono float32 at 16 kHz."""

    sample_id: str
    task: str | None = None
    reference_image: np.ndarray | None = None
    driving_audio: np.ndarray | None = None
    sample_rate: int = 16000
    text: str | None = None
    command: str | None = None
    question: str | None = None
    question_audio: np.ndarray | None = None
    duration: float | None = None  # seconds of output expected (from the manifest or audio)
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # task-specific inputs (e.g. per-speaker audio)


@dataclass
class GenerationOutput:
    """One sample's output: a video (T, H, W, 3) uint8 at ``fps`` (+ optional audio to mux),
    a text answer, or a speech answer (``audio`` without ``video``)."""

    video: np.ndarray | None = None
    fps: float | None = None
    audio: np.ndarray | None = None
    text: str | None = None


class Adapter:
    """Base class of model adapters (subclass it, or just provide the same two members)."""

    batch_size: ClassVar[int] = 1
    description: ClassVar[str] = ""

    def generate(self, batch: list[GenerationInput]) -> list[GenerationOutput]:
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        """Identity written into results (name, checkpoint hash ...)."""
        return {"class": f"{type(self).__module__}.{type(self).__qualname__}"}


def register_model(name: str):
    """Class decorator: register an adapter class under ``name`` for ``--model NAME``."""

    def decorate(cls):
        MODELS.add(name, cls)
        return cls

    return decorate


def register_ceiling(name: str):
    """Function decorator: register ``write(manifest_path, outputs) -> dict`` under ``name``, a
    ceiling row that writes one output per sample made from that sample's ground truth into
    ``outputs`` and returns what identifies it (checkpoint paths, hashes); ``hxbench demo``
    scores it beside the models."""

    def decorate(fn):
        CEILINGS.add(name, fn)
        return fn

    return decorate


def load_adapter(spec: str, **kwargs: Any) -> Adapter:
    """An adapter from a registered name or ``module.path:ClassName``."""
    if ":" in spec and not spec.startswith("folder:"):
        module_name, _, class_name = spec.partition(":")
        module = importlib.import_module(module_name)
        try:
            cls = getattr(module, class_name)
        except AttributeError:
            raise ValueError(f"module {module_name!r} has no class {class_name!r}") from None
    else:
        cls = MODELS.get(spec)
    adapter = cls(**kwargs)
    if not callable(getattr(adapter, "generate", None)):
        raise TypeError(f"{spec}: an adapter needs a generate(batch) method")
    return adapter
