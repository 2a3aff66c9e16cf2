"""Old import paths of modules that moved when the package was grouped by layer.

``import hxbench.media`` still works and returns ``hxbench.io.media`` itself (one module
object, so monkeypatching either name patches both), with a DeprecationWarning naming the new
path. Remove an entry one minor release after it was added.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings

MOVED: dict[str, str] = {
    "hxbench.media": "hxbench.io.media",
    "hxbench.manifest": "hxbench.io.manifest",
    "hxbench.speech": "hxbench.io.speech",
    "hxbench.audio_features": "hxbench.io.audio_features",
    "hxbench.datasets": "hxbench.io.datasets",
    "hxbench.tasks": "hxbench.eval.tasks",
    "hxbench.tasks_data": "hxbench.eval.tasks_data",
    "hxbench.inputs": "hxbench.eval.inputs",
    "hxbench.validate": "hxbench.eval.validate",
    "hxbench.runner": "hxbench.eval.runner",
    "hxbench.scoring": "hxbench.eval.scoring",
    "hxbench.results": "hxbench.eval.results",
    "hxbench.distributed": "hxbench.eval.distributed",
    "hxbench.compare": "hxbench.board.compare",
    "hxbench.report": "hxbench.board.report",
    "hxbench.leaderboard": "hxbench.board",
    "hxbench.leaderboard.board": "hxbench.board.leaderboard",
    "hxbench.leaderboard.site": "hxbench.board.site",
    "hxbench.face_tracks": "hxbench.face.tracks",
    "hxbench.adapters.humanexpert": "reference_models.humanexpert.adapter",
    "hxbench.adapters.omnihuman": "reference_models.omnihuman.adapter",
}


class _Alias(importlib.abc.Loader):
    def __init__(self, new: str) -> None:
        self.new = new

    def create_module(self, spec):  # noqa: ANN001, ANN201
        warnings.warn(f"{spec.name} moved to {self.new}; import it from there",
                      DeprecationWarning, stacklevel=3)
        return importlib.import_module(self.new)

    def exec_module(self, module) -> None:  # noqa: ANN001
        pass  # already executed under its new name


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):  # noqa: ANN001, ANN201
        new = MOVED.get(name)
        if new is None:
            return None
        return importlib.machinery.ModuleSpec(name, _Alias(new))


def install() -> None:
    # First in line: otherwise ``hxbench.leaderboard.site`` would be found by the path finder
    # inside the aliased package's folder and executed a second time under the old name.
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _MovedFinder())
