"""The exception tree drawn in hop.errors' docstring is the real one, class for class."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import hop.errors

SRC = Path(__file__).resolve().parents[2] / "src"
_LINE = re.compile(r"^(?P<lead>[ |]*?)(?:\+-- )?(?P<name>[A-Z]\w+)(?: \((?P<bases>[^)]*)\))?")


def _drawn() -> dict[str, tuple[str | None, set[str]]]:
    """``{class name: (parent in the drawing, other bases in parentheses)}``."""
    doc = hop.errors.__doc__ or ""
    block = doc.split("::\n", 1)[1].split("\n\n:class:", 1)[0]
    drawn: dict[str, tuple[str | None, set[str]]] = {}
    stack: list[tuple[int, str]] = []
    for line in block.splitlines():
        if not line.strip():
            stack.clear()
            continue
        match = _LINE.match(line)
        assert match is not None, f"cannot read the tree line {line!r}"
        depth = len(match["lead"])
        while stack and stack[-1][0] >= depth:
            stack.pop()
        parent = stack[-1][1] if stack else None
        extra = {b.strip() for b in (match["bases"] or "").split(",") if b.strip()}
        assert match["name"] not in drawn, f"{match['name']} is drawn twice"
        drawn[match["name"]] = (parent, extra)
        stack.append((depth, match["name"]))
    return drawn


def _defined() -> set[type]:
    """Every public exception and warning class defined anywhere under src/."""
    found: set[type] = set()
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names = [
            node.name
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.ClassDef)
            and not node.name.startswith("_")
            and node.name.endswith(("Error", "Exception", "Warning"))
        ]
        if names:
            module = importlib.import_module(".".join(parts))
            found.update(getattr(module, name) for name in names)
    return found


def test_every_exception_and_warning_class_is_drawn_with_its_bases() -> None:
    classes = _defined()
    assert hop.errors.StateError in classes and hop.errors.HopWarning in classes
    outside = [c.__name__ for c in classes
               if not issubclass(c, hop.errors.HopError | hop.errors.HopWarning)]
    assert outside == [], "every exception derives from HopError, every warning HopWarning"
    drawn = _drawn()
    assert set(drawn) == {cls.__name__ for cls in classes}
    for cls in classes:
        parent, extra = drawn[cls.__name__]
        bases = {base.__name__ for base in cls.__bases__}
        # A root drawn without parentheses derives from Exception alone.
        implied = {parent} if parent else (set() if extra else {"Exception"})
        assert bases == extra | implied, cls.__name__


def test_the_tree_has_the_two_roots() -> None:
    drawn = _drawn()
    assert drawn["HopError"] == (None, set())
    assert drawn["HopWarning"] == (None, {"UserWarning"})
    assert drawn["StreamClosedError"][0] == "StateError"


def test_every_re_raise_in_src_keeps_its_cause() -> None:
    # ruff's B904 makes a raise inside ``except`` name its cause; ``from None`` would
    # still throw the cause away, and with it what librdkafka or the parser said.
    dropped = [
        f"{path.relative_to(SRC)}:{node.lineno}"
        for path in sorted(SRC.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Raise)
        and isinstance(node.cause, ast.Constant)
        and node.cause.value is None
    ]
    assert dropped == []
