"""The package's shape, enforced: folders are the pipeline's stages and imports run only downward.

Every import counts, deferred and type-only ones included: a cycle hidden behind an import inside a
function is still a cycle a reader has to untangle."""

import ast
from pathlib import Path
from typing import Dict, List, Set, Tuple

import runner

PACKAGE = Path(runner.__file__).resolve().parent

# Lowest first. A module may import its own stage and any stage of a lower rank; stages of one rank are
# independent of each other (run and report never import one another).
RANKS: Dict[str, int] = {
    "probe": 0,  # the in-container scripts; the host reads their constants (the result marker)
    "util": 0,
    "model": 1,
    "matrix": 2,
    "render": 3, "engine": 3,
    "results": 4,
    "run": 5, "report": 5,
    "bisect": 6,
    "cli": 7,
    "__main__": 8,
}
# The scripts that run inside containers (Python 2.7 too) import nothing of the runner.
SEALED = {"probe"}
MAX_LINES = 350


def _modules() -> Dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        name = ".".join(("runner",) + parts)
        found[name[: -len(".__init__")] if name.endswith(".__init__") else name] = path
    return found


def _imports(path: Path, modules: Dict[str, Path]) -> Set[str]:
    """The runner modules a file imports, wherever the import statement stands."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: List[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + ["%s.%s" % (node.module, alias.name) for alias in node.names]
        for name in names:
            if name in modules and name != "runner":
                out.add(name)
    return out


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _graph() -> Dict[str, Set[str]]:
    modules = _modules()
    return {name: _imports(path, modules) - {name} for name, path in modules.items()}


def test_every_module_belongs_to_a_stage() -> None:
    strays = [m for m in _graph() if m != "runner" and _stage(m) not in RANKS and _stage(m) not in SEALED]
    assert strays == [], "give these modules a stage folder (and a rank in RANKS): %s" % strays


def test_imports_run_only_downward() -> None:
    upward: List[Tuple[str, str]] = []
    for module, imported in _graph().items():
        stage = _stage(module)
        for target in imported:
            other = _stage(target)
            if stage == other or target in ("runner",):
                continue
            if stage in SEALED or RANKS.get(other, 99) >= RANKS.get(stage, -1):
                upward.append((module, target))
    assert sorted(upward) == [], "imports that run up or sideways between stages"


def test_no_import_cycles() -> None:
    graph = _graph()
    # a package's __init__ that re-exports its modules is its face, not a dependency of them
    edges = {m: {t for t in targets if not (m.startswith(t + ".") and t in graph)} for m, targets in graph.items()}
    state: Dict[str, int] = {}
    cycles: List[List[str]] = []

    def visit(node: str, trail: List[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(trail[trail.index(nxt):] + [nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, trail + [nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state:
            visit(start, [start])
    assert cycles == []


def test_long_modules_say_why_in_their_opening_comment() -> None:
    long_without_reason = []
    for name, path in _modules().items():
        text = path.read_text()
        doc = ast.get_docstring(ast.parse(text)) or ""
        if text.count("\n") > MAX_LINES and "longer than" not in doc.lower():
            long_without_reason.append("%s (%d lines)" % (name, text.count("\n")))
    assert long_without_reason == [], "split these, or say in the docstring why they are longer than %d lines" \
        % MAX_LINES


def test_the_test_sees_a_cycle_and_an_upward_import(tmp_path: Path) -> None:
    """The checks above are not vacuous: the same walk finds imports where they are."""
    modules = {"runner.util.a": tmp_path / "a.py", "runner.run.b": tmp_path / "b.py"}
    (tmp_path / "a.py").write_text("def f():\n    from runner.run.b import g\n")
    (tmp_path / "b.py").write_text("from runner.util import a\n")
    assert _imports(tmp_path / "a.py", modules) == {"runner.run.b"}
    assert _imports(tmp_path / "b.py", modules) == {"runner.util.a"}


def test_the_unit_suite_has_no_network() -> None:
    """tests/conftest.py refuses any connection or lookup off the loopback in unit tests, at once."""
    import socket

    import pytest

    with pytest.raises(OSError, match="no network"):
        socket.create_connection(("192.0.2.1", 443), timeout=5)  # TEST-NET-1: never routed
    with pytest.raises(OSError, match="no network"):
        socket.getaddrinfo("pypi.org", 443)
