"""Name → object registries for tasks, metrics, models (adapters) and weights.

Everything user-facing in hxbench is looked up by name, as in lm-evaluation-harness:
a class is registered with a decorator, and an unknown name fails with the closest
registered names as suggestions.

    @METRICS.register("ssim")
    class SSIM(Metric): ...

    METRICS.get("ssmi")  # UnknownNameError: unknown metric 'ssmi'; did you mean: ssim?

Registration happens at import time, so ``load_plugins()`` imports the plug-in modules before
anything is listed or looked up: hxbench's own modules, the bundled reference models, and every
module a package declares in the ``hxbench.plugins`` entry-point group::

    # pyproject.toml of a package that brings a model (or metrics, tasks ...)
    [project.entry-points."hxbench.plugins"]
    my_model = "my_pkg.hxbench_adapter"   # a module whose import registers its entries

hxbench itself never imports a model package: models depend on hxbench, not the reverse.
"""

from __future__ import annotations

import difflib
import importlib
from importlib import metadata
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised for a name that is not registered; the message suggests close names."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


class Registry(Generic[T]):
    """A mapping from names to registered objects of one kind ("metric", "task", ...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers its target under ``name`` (names are unique)."""

        def decorate(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorate

    def add(self, name: str, obj: T) -> None:
        if name in self._entries and self._entries[name] is not obj:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = obj

    def get(self, name: str) -> T:
        load_plugins()
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        close = difflib.get_close_matches(name, list(self._entries), n=3, cutoff=0.5)
        # Also suggest entries that contain the name, e.g. "fvd" -> "fvd[styleganv]"
        close += [n for n in sorted(self._entries) if name and name in n and n not in close][:3]
        hint = f"; did you mean: {', '.join(close)}?" if close else ""
        listing = f" (run `hxbench ls {self.kind}s` to list them)"
        return f"unknown {self.kind} {name!r}{hint}{listing}"

    def names(self) -> list[str]:
        load_plugins()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self) -> list[tuple[str, T]]:
        return [(n, self._entries[n]) for n in self.names()]


METRICS: Registry = Registry("metric")
TASKS: Registry = Registry("task")
MODELS: Registry = Registry("model")
# Rows made from the ground truth (e.g. the ground truth through a model's VAE: what a perfect
# generator on that VAE would score). Not models: an adapter never sees the ground truth.
CEILINGS: Registry = Registry("ceiling")
WEIGHTS: Registry = Registry("weight")

PLUGIN_GROUP = "hxbench.plugins"

# Modules whose import registers entries, loaded even without an installed package (a checkout on
# PYTHONPATH). A module that is missing itself is skipped, its entries are then simply absent; the
# reference models are named here as plug-ins, by name, like any third-party model.
DEFAULT_PLUGIN_MODULES: tuple[str, ...] = (
    "hxbench.metrics",
    "hxbench.nets",
    "hxbench.eval.tasks",
    "hxbench.adapters",
    "reference_models.humanexpert.adapter",
    "reference_models.omnihuman.adapter",
)

_loaded = False


def plugin_modules() -> list[str]:
    """The default plug-in modules, then the entry points' modules, each named once."""
    names = list(DEFAULT_PLUGIN_MODULES)
    for ep in metadata.entry_points(group=PLUGIN_GROUP):
        if ep.module not in names:
            names.append(ep.module)
    return names


def load_plugins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in plugin_modules():
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            # the plug-in itself (or its package) is absent: skip it; a dependency missing
            # inside an existing plug-in is a real error: surface it
            if not (err.name and (module == err.name or module.startswith(err.name + "."))):
                raise
