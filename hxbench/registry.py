"""Name → object registries for tasks, metrics, models (adapters) and weights.

Everything user-facing in hxbench is looked up by name, as in lm-evaluation-harness:
a class is registered with a decorator, and an unknown name fails with the closest
registered names as suggestions.

    @METRICS.register("ssim")
    class SSIM(Metric): ...

    METRICS.get("ssmi")  # UnknownNameError: unknown metric 'ssmi'; did you mean: ssim?

Registration happens at import time, so ``load_builtin_plugins()`` imports the modules
that hold the built-in entries before the CLI lists or looks anything up.
"""

from __future__ import annotations

import difflib
import importlib
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
        load_builtin_plugins()
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
        load_builtin_plugins()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        load_builtin_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self) -> list[tuple[str, T]]:
        return [(n, self._entries[n]) for n in self.names()]


METRICS: Registry = Registry("metric")
TASKS: Registry = Registry("task")
MODELS: Registry = Registry("model")
WEIGHTS: Registry = Registry("weight")

# Modules whose import registers built-in entries. A module that fails to import because an
# optional dependency is missing is skipped; its entries are then simply absent.
BUILTIN_PLUGIN_MODULES: tuple[str, ...] = (
    "hxbench.metrics",
    "hxbench.nets",
    "hxbench.eval.tasks",
    "hxbench.adapters",
)

_loaded = False


def load_builtin_plugins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN_PLUGIN_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:  # a real missing dependency inside the module: surface it
                raise
