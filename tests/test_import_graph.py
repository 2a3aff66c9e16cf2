"""Static import checks: no import cycles in the reference models and hx-synth, and hxbench itself
never imports reference_models (the models plug into hxbench, not the other way round)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Absolute names of everything ``path`` imports, at top level or inside functions."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = package.split(".")
                base = ".".join(pkg[:len(pkg) - node.level + 1] + ([base] if base else []))
            out.add(base)
            out.update(f"{base}.{a.name}" for a in node.names)  # `from pkg import submodule`
    return out


def import_graph(roots: list[Path]) -> dict[str, set[str]]:
    files = {module_name(p): p for root in roots for p in sorted(root.rglob("*.py"))}
    return {m: {d for d in imported_modules(p) if d in files and d != m} for m, p in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for d in sorted(graph[m]):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state and (c := visit(d)):
                return c
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (c := visit(m)):
            return c
    return None


def test_find_cycle_reports_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_in_reference_models_and_synth():
    graph = import_graph([REPO / "reference_models", REPO / "hxbench" / "synth"])
    # edges from a package's __init__ to its own submodules are re-exports, not cycles
    graph = {m: {d for d in ds if not (REPO / Path(*m.split(".")) / "__init__.py").is_file()
                 or not d.startswith(m + ".")} for m, ds in graph.items()}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_hxbench_never_imports_reference_models():
    offenders = [f"{p.relative_to(REPO)}: {m}" for p in sorted((REPO / "hxbench").rglob("*.py"))
                 for m in sorted(imported_modules(p)) if m.split(".")[0] == "reference_models"]
    assert not offenders, offenders
