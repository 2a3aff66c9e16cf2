"""Q-Align / one-align (mPLUG-Owl2, 7B): the weights snapshot and its loader.

The snapshot is the user's copy of the published ``q-future/one-align`` model repository,
imported as a directory (``hxbench weights import q-align-onealign DIR``) or fetched by users
with a network (``hxbench weights fetch q-align-onealign``). From it hxbench reads only data:
the config, the tokenizer, the image processor config and the weight shards. **No code of the
snapshot is ever run** (no ``trust_remote_code``): the mPLUG-Owl2 model classes come from the
pinned PyPI package ``pyiqa==0.1.16`` (``pyiqa/archs/q_align/``, IQA-PyTorch's copy of the
snapshot's modelling code), imported without running ``pyiqa/__init__`` (which pulls its
whole toolbox).

Runs in bfloat16 on CUDA; on the CPU in float32, with a warning (minutes per frame).
The scoring protocol is ``hxbench.metrics._qalign``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import threading
import types
import warnings
from pathlib import Path

import torch

from hxbench.weights import WeightSpec, register_weights

ONEALIGN = register_weights(WeightSpec(
    name="q-align-onealign",
    filename="one-align",
    sha256=None,
    description="Q-Align one-align (mPLUG-Owl2 7B) model snapshot: config, tokenizer, weight shards",
    license="see the model card of q-future/one-align (research use)",
    urls=("https://huggingface.co/q-future/one-align/resolve/main",),
    notes="A directory. Its files are checked for presence; their sha256 are not pinned yet "
          "(hxbench was built without access to the model hub: pin them from the published "
          "revision's file list). The weight shards named by pytorch_model.bin.index.json are "
          "checked at load. No Python file of the snapshot is used.",
    extra={"files": {
        "config.json": None,
        "preprocessor_config.json": None,
        "special_tokens_map.json": None,
        "tokenizer.model": None,
        "tokenizer_config.json": None,
        "pytorch_model.bin.index.json": None,
    }},
))

PYIQA_PIP = "pyiqa==0.1.16 --no-deps"
_PKG_ALIAS = "_hxbench_pyiqa"
_MODELS: dict[tuple, object] = {}
_LOCK = threading.Lock()


def pyiqa_module(relname: str) -> types.ModuleType:
    """``pyiqa.<relname>`` from the installed pyiqa package without its ``__init__``."""
    if _PKG_ALIAS not in sys.modules:
        spec = importlib.util.find_spec("pyiqa")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError(f"the pyiqa package is not installed (pip install {PYIQA_PIP})")
        root = list(spec.submodule_search_locations)
        for name, path in ((_PKG_ALIAS, root), (f"{_PKG_ALIAS}.archs", [p + "/archs" for p in root])):
            pkg = types.ModuleType(name)
            pkg.__path__ = path
            pkg.__package__ = name
            sys.modules[name] = pkg
    return importlib.import_module(f"{_PKG_ALIAS}.{relname}")


def check_shards(path: Path) -> None:
    """Every weight shard named by the index is present (FileNotFoundError naming it)."""
    index = json.loads((path / "pytorch_model.bin.index.json").read_text())
    for shard in sorted(set(index.get("weight_map", {}).values())):
        if not (path / shard).is_file():
            raise FileNotFoundError(f"{path / shard}: weight shard missing from the snapshot")


def load_qalign(device: str = "cpu"):
    """(model, tokenizer, preprocessor config dict, device, dtype) of the imported snapshot,
    cached per device (``hxbench.metrics._qalign.get_qalign`` wraps it with the protocol)."""
    from hxbench.weights import resolve

    path = resolve(ONEALIGN.name)
    key = (str(path), str(device))
    with _LOCK:
        if key in _MODELS:
            return _MODELS[key]
        check_shards(path)
        cuda = str(device).startswith("cuda")
        dtype = torch.bfloat16 if cuda else torch.float32
        if not cuda:
            warnings.warn("Q-Align (7B) on the CPU: expect minutes per frame and ~30 GB of memory; "
                          "use --device cuda", RuntimeWarning, stacklevel=2)
        from transformers import AutoTokenizer

        owl = pyiqa_module("archs.q_align.modeling_mplug_owl2")
        model = owl.MPLUGOwl2LlamaForCausalLM.from_pretrained(str(path), torch_dtype=dtype,
                                                              trust_remote_code=False)
        model = model.to(device).eval()
        tokenizer = AutoTokenizer.from_pretrained(str(path), use_fast=False, trust_remote_code=False)
        proc = json.loads((path / "preprocessor_config.json").read_text())
        _MODELS[key] = (model, tokenizer, proc, str(device), dtype)
        return _MODELS[key]
