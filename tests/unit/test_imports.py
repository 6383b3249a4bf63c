"""The package's imports go downhill: no module, and no subpackage, imports one that imports
it back (function-level imports included), and the record knows nothing of the layers above it.

Read from the source with `ast`, so a cycle that only one code path would trigger is found too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import snakesweep

PACKAGE = Path(snakesweep.__file__).parent
# What the record (the log, turns, the folded state) must never import: it is the bottom layer
# that aggregate and the read-only tools read through.
ABOVE_THE_RECORD = (
    "snakesweep.sweep",
    "snakesweep.agent",
    "snakesweep.aggregate",
    "snakesweep.inspect",
    "snakesweep.train",
    "snakesweep.cli",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """The package's modules that `path` imports anywhere in its body."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from a.b import c` imports a.b, and a.b.c when c is a module
            names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
        else:
            continue
        found.update(name for name in names if name in modules)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imports_of(path, set(paths)) - {name} for name, path in paths.items()}


def package_of(module: str) -> str:
    """The subpackage a module belongs to (snakesweep.sweep.spec -> snakesweep.sweep); a
    top-level module is its own node."""
    parts = module.split(".")
    return ".".join(parts[:2])


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as a path that starts and ends at the same node, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        source = package_of(module)
        packages.setdefault(source, set()).update(
            package_of(t) for t in targets if package_of(t) != source
        )
    return packages


def test_no_module_imports_one_that_imports_it_back():
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle)


def test_no_subpackage_imports_one_that_imports_it_back():
    cycle = find_cycle(package_graph(import_graph()))
    assert cycle is None, " -> ".join(cycle)


def test_the_record_imports_nothing_above_it():
    graph = import_graph()
    upward = {
        (module, target)
        for module, targets in graph.items()
        if module.startswith("snakesweep.record")
        for target in targets
        if target.startswith(ABOVE_THE_RECORD)
    }
    assert not upward


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
    assert package_graph(
        {"snakesweep.x.m": {"snakesweep.y.n"}, "snakesweep.y.n": {"snakesweep.x.k"}}
    ) == {"snakesweep.x": {"snakesweep.y"}, "snakesweep.y": {"snakesweep.x"}}
