"""Model adapters: what ``hxbench run --model NAME`` generates outputs with.

Every module in this package is imported so that its ``@register_model`` classes register.
"""

import importlib
import pkgutil

from hxbench.adapters.base import (  # noqa: F401  (re-exported)
    Adapter, GenerationInput, GenerationOutput, load_adapter, register_model,
)

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name != "base" and not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
