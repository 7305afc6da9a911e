"""The import graph of src/dqnlab has no cycles: data flows one way (experiments -> training -> agent -> maths).

Every `import` counts, at module level or inside a function (a lazy import still ties the modules together),
except those under `if TYPE_CHECKING:`, which never run. Each edge goes to the deepest dqnlab module named.
"""

from __future__ import annotations

import ast
from pathlib import Path

import dqnlab

PACKAGE_ROOT = Path(dqnlab.__file__).parent


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["dqnlab", *parts])


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imported_names(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Every module name an import in `tree` may refer to (`from a import b` gives a and a.b), outside
    `if TYPE_CHECKING:` blocks (their `else:` branch runs and counts)."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def import_graph(root: Path = PACKAGE_ROOT) -> dict[str, set[str]]:
    """module -> the dqnlab modules it imports (short names, without the "dqnlab." prefix)."""
    files = {module_name(path): path for path in root.rglob("*.py")}
    graph = {}
    for module, path in files.items():
        names = imported_names(ast.parse(path.read_text()), module, path.name == "__init__.py")
        targets = set()
        for name in names:
            # `from dqnlab.x import y` names dqnlab.x and dqnlab.x.y: keep the deepest that is a module
            if name in files and not any(other.startswith(name + ".") and other in files for other in names):
                targets.add(name)
        graph[module] = {target for target in targets if target != module}
    return {short(module): {short(target) for target in targets} for module, targets in graph.items()}


def short(module: str) -> str:
    return module.removeprefix("dqnlab.").removeprefix("dqnlab") or "dqnlab"


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return found


def test_the_graph_sees_lazy_imports_and_skips_type_checking_blocks() -> None:
    source = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from dqnlab.b import X\n"
    source += "def f():\n    from dqnlab.c import Y\n    from . import d\n"
    names = imported_names(ast.parse(source), "dqnlab.pkg.a", is_package=False)
    assert "dqnlab.c" in names and "dqnlab.pkg.d" in names
    assert not any(name.startswith("dqnlab.b") for name in names)


def test_cycles_finds_a_three_module_loop_and_nothing_in_a_chain() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [frozenset("abc")]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []


def test_experiments_sit_above_diagnostics_and_distributed() -> None:
    graph = import_graph()
    assert "experiments.run" in graph and "diagnostics.experiment" not in graph
    assert not any(
        target.startswith("experiments")
        for module, targets in graph.items()
        for target in targets
        if not module.startswith("experiments") and module != "cli"
    )


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []
