"""Networks and their weights: one module per network family, each registering its weight
files (``register_weights``) at import. This is the only package that registers weights.

Every module is imported here, so importing any network (or listing the weight registry,
which loads ``hxbench.nets``) registers all of them. Modules import only torch and numpy at
import time; optional runtimes (ONNX Runtime, OpenCV DNN, LiteRT, mediapipe) load when a
network is first built.
"""

import importlib
import pkgutil

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
