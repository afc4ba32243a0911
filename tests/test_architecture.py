"""The shape of the code, checked: no import cycle between files, no import from a lower layer to
a higher one, no module much over 300 lines.

Imports are read from the source (every import statement, including those inside functions:
an import hidden in a function to dodge a cycle is still a cycle). Only imports under
``if TYPE_CHECKING:`` are left out: they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "cds_service"
MAX_LINES = 320

# High to low: a module may import from its own layer's package or from any layer below it.
LAYERS = [
    ["cli", "server"],
    ["__init__"],
    ["http"],
    ["audit", "store", "auth"],
    ["hooks"],
    ["fhir"],
    ["cards", "card_templates", "sources"],
    ["rules"],
    ["facts"],
    ["text", "terminology"],
    ["settings", "errors", "logs", "metrics", "deadline", "data_files", "identifiers",
     "feedback", "worker"],
]
RANK = {part: rank for rank, parts in enumerate(LAYERS) for part in parts}


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:  # alembic's scripts, loaded by alembic
            continue
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(module: str, path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.update(_resolve(a.name) for a in child.names
                             if a.name.startswith("cds_service"))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package
                    for _ in range(child.level - 1):
                        anchor = anchor.rpartition(".")[0]
                    base = f"{anchor}.{base}" if base else anchor
                if base.startswith("cds_service"):
                    for alias in child.names:
                        whole = f"{base}.{alias.name}"
                        found.add(whole if whole in MODULES else _resolve(base))
            visit(child)

    visit(tree)
    found.discard(None)
    found.discard(module)
    return found


GRAPH = {module: _imports(module, path) for module, path in MODULES.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one file (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components = []
    counter = 0
    for root in GRAPH:
        if root in index:
            continue
        work = [(root, iter(sorted(GRAPH[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(GRAPH[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def test_the_import_reader_sees_the_package():
    assert len(MODULES) > 50
    disc_rule_imports = GRAPH["cds_service.rules.specificity_disc"]
    assert any(name.startswith("cds_service.facts") for name in disc_rule_imports)
    assert "cds_service.rules._findings" in disc_rule_imports


def test_every_top_level_part_has_a_layer():
    assert {_layer(module) for module in MODULES} <= set(RANK)


def test_no_import_cycle_between_files():
    cycles = _cycles()
    described = [" <-> ".join(cycle) + "\n  " + "\n  ".join(
        f"{a} -> {b}" for a in cycle for b in sorted(GRAPH[a]) if b in cycle) for cycle in cycles]
    assert not cycles, "import cycles:\n" + "\n".join(described)


def test_no_import_from_a_lower_layer_to_a_higher_one():
    upward = [f"{module} ({_layer(module)}) imports {imported} ({_layer(imported)})"
              for module, imports in GRAPH.items() for imported in imports
              if RANK[_layer(imported)] < RANK[_layer(module)]]
    assert not upward, "\n".join(sorted(upward))


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_small(module):
    lines = len(MODULES[module].read_text().splitlines())
    assert lines <= MAX_LINES, f"{module}: {lines} lines (one job per module, about 300 lines)"


def test_every_error_of_ours_derives_from_the_one_base():
    import importlib
    import inspect

    from cds_service.errors import ServiceError

    strays = []
    for module in sorted(MODULES):
        for name, value in vars(importlib.import_module(module)).items():
            if (inspect.isclass(value) and issubclass(value, BaseException)
                    and value.__module__ == module and not issubclass(value, ServiceError)):
                strays.append(f"{module}.{name}")
    assert not strays, strays
