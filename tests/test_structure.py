"""The package's shape: no import cycles, layers imported only downwards.

Imports inside functions count (a lazy import that dodges a cycle is still a cycle in the
design); imports under ``if TYPE_CHECKING:`` do not.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("hxbench", "reference_models")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (anywhere in the file but TYPE_CHECKING blocks)."""
    files = {_module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}

    def known(name: str) -> str | None:  # the longest prefix of ``name`` that is a module
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, path in files.items():
        deps: set[str] = set()

        def visit(node: ast.AST) -> None:
            if isinstance(node, ast.If) and _is_type_checking(node.test):
                for child in node.orelse:
                    visit(child)
                return
            if isinstance(node, ast.Import):
                deps.update(filter(None, (known(a.name) for a in node.names)))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
                    base = base[:len(base) - node.level + 1]
                    src = ".".join(base + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                for a in node.names:  # `from pkg import module` imports the module itself
                    sub = f"{src}.{a.name}"
                    dep = sub if sub in files else known(src)
                    if dep:
                        deps.add(dep)
            for child in ast.iter_child_nodes(node):
                visit(child)

        visit(ast.parse(path.read_text(), filename=str(path)))
        deps.discard(mod)
        graph[mod] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    m = stack.pop()
                    on_stack.discard(m)
                    comp.append(m)
                    if m == node:
                        break
                if len(comp) > 1:
                    found.append(sorted(comp))
    return found


def test_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_import_graph_sees_function_level_and_relative_imports():
    graph = import_graph()
    assert "hxbench.io.media" in graph["hxbench.eval.validate"]  # imported inside a function
    assert "reference_models.omnihuman.model" in graph["reference_models.omnihuman.vae"]  # `from .model`


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


# Layers, lowest first: a module imports only from its own layer or lower ones. Reading the
# table top-down gives the package map (docs/CONTRIBUTING.md).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("hxbench", "hxbench._moved", "hxbench.errors", "hxbench.machine", "hxbench.paths", "hxbench.registry"),
    ("hxbench.weights", "hxbench.stats", "hxbench.io", "hxbench.html", "hxbench.data"),
    ("hxbench.nets", "hxbench.face"),
    ("hxbench.metrics", "hxbench.synth", "hxbench.adapters"),
    ("hxbench.eval", "reference_models"),  # a model's evaluation scripts read results
    ("hxbench.board", "hxbench.study"),
    ("hxbench.commands", "hxbench.cli", "hxbench.__main__"),
)


def layer_of(module: str) -> int:
    best = None
    for rank, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[1]:
                    best = (rank, len(prefix))
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best[0]


def test_layers_import_only_downwards():
    upward = [f"{m} (layer {layer_of(m)}) imports {d} (layer {layer_of(d)})"
              for m, deps in sorted(import_graph().items()) for d in sorted(deps)
              if layer_of(d) > layer_of(m)]
    assert not upward, "imports against the layering:\n" + "\n".join(upward)


def test_hxbench_never_imports_reference_models():
    """The models plug into hxbench (entry points / DEFAULT_PLUGIN_MODULES), not the reverse."""
    offenders = [f"{m} imports {d}" for m, deps in sorted(import_graph().items()) if m.startswith("hxbench")
                 for d in sorted(deps) if d.startswith("reference_models")]
    assert not offenders, offenders


def test_old_import_paths_give_the_moved_modules_with_a_warning():
    import importlib
    import sys
    import warnings

    from hxbench._moved import MOVED

    for old, new in MOVED.items():
        sys.modules.pop(old, None)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            module = importlib.import_module(old)
        assert module is importlib.import_module(new), old  # one module: patching either patches both
        assert any(issubclass(w.category, DeprecationWarning) and new in str(w.message) for w in caught), old
        sys.modules.pop(old, None)
