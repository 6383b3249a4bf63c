"""The package's imports go downhill: every module imports only from its own layer and those
below it (`LAYERS`), no module and no subpackage imports one that imports it back
(function-level imports included), and the deciding layer imports no particular objective.

Read from the source with `ast`, so a cycle that only one code path would trigger is found too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import snakesweep

PACKAGE = Path(snakesweep.__file__).parent

# The layers, bottom first: a module imports only from its own layer and those below it. The
# top-level modules that are not listed (paths, errors, settings, ...) are the ground floor.
LAYERS = (
    ("snakesweep",),
    ("snakesweep.data",),
    ("snakesweep.record",),  # the sweep's record: the log, its lock, the folded state
    ("snakesweep.sweep",),  # the deciding: it is told what an objective has, as data
    ("snakesweep.convnet", "snakesweep.usercode"),  # the objectives
    ("snakesweep.objective",),  # the switch between them
    ("snakesweep.agent",),
    ("snakesweep.aggregate",),
    ("snakesweep.inspect",),  # the read-only tools
    ("snakesweep.cli", "snakesweep.project", "snakesweep.summary"),
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


def layer_of(module: str) -> int:
    node = package_of(module)
    return next((i for i, names in enumerate(LAYERS) if node in names), 0)


def test_every_import_goes_downhill():
    upward = sorted(
        f"{module} imports {target}"
        for module, targets in import_graph().items()
        for target in targets
        if layer_of(target) > layer_of(module)
    )
    assert not upward, "\n".join(upward)


def test_the_deciding_knows_no_particular_objective():
    graph = import_graph()
    found = {
        (module, target)
        for module, targets in graph.items()
        if module.startswith("snakesweep.sweep")
        for target in targets
        if target.startswith(("snakesweep.convnet", "snakesweep.usercode", "snakesweep.objective"))
    }
    assert not found


def test_the_layer_table_names_every_package():
    packages = {package_of(module) for module in import_graph()}
    named = {name for names in LAYERS for name in names}
    ground = {
        p for p in packages if p not in named and (PACKAGE / f"{p.split('.')[-1]}.py").exists()
    }
    assert packages - named - ground == set(), "a new package needs its place in LAYERS"


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
    assert package_graph(
        {"snakesweep.x.m": {"snakesweep.y.n"}, "snakesweep.y.n": {"snakesweep.x.k"}}
    ) == {"snakesweep.x": {"snakesweep.y"}, "snakesweep.y": {"snakesweep.x"}}
