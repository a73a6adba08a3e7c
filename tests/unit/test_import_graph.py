"""The modules of src/ import each other in one direction: the import graph has no cycle.

Every import counts: at module level, inside functions (a lazy import is still a
dependency) and under ``TYPE_CHECKING`` (a type-only dependency is one too). An
import of ``a.b.c`` is a dependency on that module, not on the packages above it.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names if alias.name in modules)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                # ``from pkg import mod`` depends on the module, ``from mod import x`` on mod.
                sub = f"{target}.{alias.name}"
                if sub in modules:
                    out.add(sub)
                elif target in modules:
                    out.add(target)
    out.discard(name)
    return out


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_import_graph_of_src_has_no_cycle() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert len(graph) > 50  # the walk found the sources
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_igwn_alert_uses_only_public_hop_modules_and_hop_internal() -> None:
    modules = _modules()
    private = sorted(
        f"{name} -> {target}"
        for name, path in modules.items()
        if name.split(".")[0] == "igwn_alert"
        for target in _imports(name, path, modules)
        if target.split(".")[0] == "hop"
        and target != "hop._internal"
        and any(part.startswith("_") for part in target.split(".")[1:])
    )
    assert private == []


def test_no_class_declares_attributes_that_only_its_host_sets() -> None:
    # A mixin that declares its host's attributes is a split by size, not by seam: a
    # class without bases may declare only the attributes it assigns itself.
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ClassDef) or node.decorator_list:
                continue  # dataclasses and friends declare fields
            if any(ast.unparse(b) not in ("object", "ABC") for b in node.bases):
                continue  # narrowing an inherited attribute, a Protocol, a NamedTuple...
            declared = {
                stmt.target.id
                for stmt in node.body
                if isinstance(stmt, ast.AnnAssign) and stmt.value is None
                and isinstance(stmt.target, ast.Name)
            }
            assigned = {
                target.attr
                for sub in ast.walk(node)
                if isinstance(sub, ast.Assign | ast.AnnAssign | ast.AugAssign)
                for target in (sub.targets if isinstance(sub, ast.Assign) else [sub.target])
                if isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name) and target.value.id in ("self", "cls")
            }
            if declared - assigned:
                where = f"{path.relative_to(SRC)}:{node.name}"
                offenders.append(f"{where} {sorted(declared - assigned)}")
    assert offenders == []
