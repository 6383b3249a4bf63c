"""The package stays easy to read: small modules and functions with few parameters, and the
kinds of the sweep's events spelled in one place.

Read from the source with `ast`. An exception to a limit is listed here with its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

import snakesweep
from snakesweep.record.events import Kind

PACKAGE = Path(snakesweep.__file__).parent
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60
MAX_PARAMETERS = 6  # not counting self or cls

# "module:function" -> why it may take more parameters (none today).
MANY_PARAMETERS: dict[str, str] = {}
# "module:function" -> why it may be longer (none today).
LONG_FUNCTIONS: dict[str, str] = {}

EVENTS_MODULE = PACKAGE / "record" / "events.py"


def modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def functions(path: Path):
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield f"{path.relative_to(PACKAGE).as_posix()}:{node.name}", node


def parameter_count(node: ast.FunctionDef) -> int:
    args = node.args
    names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
    if names and names[0] in ("self", "cls"):
        names = names[1:]
    return len(names) + (args.vararg is not None) + (args.kwarg is not None)


def test_no_module_is_over_300_lines():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in modules()
        if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not long


def test_no_function_is_over_60_lines():
    long = {
        name: node.end_lineno - node.lineno + 1
        for path in modules()
        for name, node in functions(path)
        if node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES and name not in LONG_FUNCTIONS
    }
    assert not long


def test_no_function_takes_more_than_6_parameters():
    many = {
        name: parameter_count(node)
        for path in modules()
        for name, node in functions(path)
        if parameter_count(node) > MAX_PARAMETERS and name not in MANY_PARAMETERS
    }
    assert not many


def kind_literals(path: Path) -> list[str]:
    """Where `path` spells the key that names an event's kind, or compares with a kind's name."""
    kinds = {kind.value for kind in Kind}
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and node.value == "event":
            found.append(f"{path.name}:{node.lineno} 'event'")
        elif isinstance(node, ast.Compare):
            for side in (node.left, *node.comparators):
                if isinstance(side, ast.Constant) and side.value in kinds:
                    found.append(f"{path.name}:{node.lineno} compares with {side.value!r}")
    return found


def test_only_the_events_module_spells_an_event_kind():
    found = [hit for path in modules() if path != EVENTS_MODULE for hit in kind_literals(path)]
    assert not found


def test_the_kind_check_finds_spelled_kinds(tmp_path):
    module = tmp_path / "m.py"
    module.write_text('def f(e):\n    return e.get("event") == "claim"\n')
    assert sorted(kind_literals(module)) == ["m.py:2 'event'", "m.py:2 compares with 'claim'"]
