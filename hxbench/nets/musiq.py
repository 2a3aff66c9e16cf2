"""MUSIQ (Ke et al. 2021) with the SPAQ checkpoint, as VBench's ``imaging_quality`` runs it.

The network is pyiqa's ``MUSIQ`` arch (``pyiqa==0.1.16``, installed --no-deps;
``pyiqa/archs/musiq_arch.py``), built as VBench builds it: ``MUSIQ(pretrained_model_path=...)``
keeps pyiqa's defaults (patch 32, hidden 384, 14 layers, 6 heads, scales: the original
resolution + longer side 224 and 384, one output: the MOS, 0-100 on SPAQ). pyiqa loads the
file with ``torch.load(weights_only=False)``; hxbench builds the same arch without weights
(``pretrained=False``) and loads the state dict with ``torch.load(weights_only=True)``, with
pyiqa's ``clean_state_dict`` (a leading ``module.`` dropped), strictly.

Weights: ``musiq_spaq_ckpt-358bb6af.pth`` from IQA-PyTorch's ``v0.1-weights`` GitHub release
(the URL VBench downloads). No sha256 is published (the name's ``358bb6af`` is not checked by
pyiqa, which downloads with ``hash_prefix=None``), so the weight is unpinned: every result
records the sha256 of the file that was used.
"""

from __future__ import annotations

import threading
from pathlib import Path

import torch

from hxbench.weights import WeightSpec, register_weights

MUSIQ_SPAQ = register_weights(WeightSpec(
    name="musiq-spaq",
    filename="musiq_spaq_ckpt-358bb6af.pth",
    sha256=None,
    description="MUSIQ trained on SPAQ (IQA-PyTorch / pyiqa checkpoint musiq_spaq_ckpt-358bb6af.pth)",
    license="Apache-2.0 (google-research/musiq); checkpoint converted by IQA-PyTorch",
    urls=("https://github.com/chaofengc/IQA-PyTorch/releases/download/v0.1-weights/musiq_spaq_ckpt-358bb6af.pth",
          "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/musiq_spaq_ckpt-358bb6af.pth"),
    notes=("The GitHub release file VBench's imaging_quality downloads (pyiqa 0.1.16 names the same file on "
           "its Hugging Face mirror). No published sha256: pyiqa downloads it with hash_prefix=None and "
           "this workplace cannot reach GitHub, so it is not pinned (shown by `hxbench weights status` "
           "and recorded beside every number). Import with "
           "`hxbench weights import musiq-spaq /path/to/musiq_spaq_ckpt-358bb6af.pth`."),
))

_CACHE: dict[tuple, torch.nn.Module] = {}
_LOCK = threading.Lock()


def musiq_class():
    """pyiqa's MUSIQ class (pyiqa/archs/musiq_arch.py)."""
    from hxbench.nets.qalign import pyiqa_module

    return pyiqa_module("archs.musiq_arch").MUSIQ


def build_musiq(state: dict | None = None) -> torch.nn.Module:
    """pyiqa's MUSIQ as VBench builds it (defaults, one output), weights from ``state``
    (a plain state dict; a ``module.`` prefix is dropped), evaluation mode."""
    model = musiq_class()(pretrained=False)
    if state is not None:
        state = {k[7:] if k.startswith("module.") else k: v for k, v in state.items()}
        model.load_state_dict(state, strict=True)
    return model.eval()


def load_musiq(device: str = "cpu", path: str | Path | None = None) -> torch.nn.Module:
    """MUSIQ-SPAQ from the imported file (or ``path``), float32 on ``device``."""
    from hxbench.weights import resolve

    path = Path(path) if path is not None else resolve(MUSIQ_SPAQ.name)
    key = (str(path), device)
    with _LOCK:
        if key not in _CACHE:
            state = torch.load(path, map_location="cpu", weights_only=True)
            _CACHE[key] = build_musiq(state).to(device)
        return _CACHE[key]
