"""skyhop's runtime dependencies are exactly the third-party packages its code imports."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from hop.cli import _version

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
OWN = {"hop", "igwn_alert"}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {_normalise(re.match(r"[A-Za-z0-9._-]+", r)[0]) for r in project["dependencies"]}


def _imported_top_level_names() -> dict[str, set[str]]:
    """Top-level module name -> the files importing it, over every module in src/."""
    found: dict[str, set[str]] = {}
    for path in SRC.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def _third_party() -> dict[str, set[str]]:
    """Distribution name -> files importing it."""
    to_dist = metadata.packages_distributions()
    out: dict[str, set[str]] = {}
    for name, files in _imported_top_level_names().items():
        if name in OWN or name in sys.stdlib_module_names or name == "__future__":
            continue
        dists = to_dist.get(name)
        assert dists, f"{name} (imported by {sorted(files)}) belongs to no installed distribution"
        for dist in dists:
            out.setdefault(_normalise(dist), set()).update(files)
    return out


#: Optional extras, and the only code that may import their packages (the core must
#: import without them).
EXTRA_CODE = {"bridge": "src/hop/samp/bridge/"}


def _extras() -> dict[str, set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {
        extra: {_normalise(re.match(r"[A-Za-z0-9._-]+", r)[0]) for r in requirements}
        for extra, requirements in project["optional-dependencies"].items()
        if extra not in ("test", "docs")  # for working on skyhop, not for running it
    }


def _allowed(dist: str, files: set[str]) -> bool:
    if dist in _declared():
        return True
    for extra, dists in _extras().items():
        if dist in dists and all(f.startswith(EXTRA_CODE[extra]) for f in files):
            return True
    return False


def test_every_imported_package_is_a_declared_runtime_dependency():
    undeclared = {d: sorted(f) for d, f in _third_party().items() if not _allowed(d, f)}
    assert not undeclared, (
        "imported but not in [project.dependencies] (nor in an extra, by that extra's own "
        f"code): {undeclared}"
    )


def test_every_extra_is_imported_by_its_own_code_only():
    assert set(_extras()) == set(EXTRA_CODE)
    third_party = _third_party()
    for extra, dists in _extras().items():
        assert dists <= set(third_party), f"{extra}: {sorted(dists - set(third_party))} unused"


def test_every_declared_runtime_dependency_is_imported():
    unused = _declared() - set(_third_party())
    assert not unused, f"in [project.dependencies] but never imported by src/: {sorted(unused)}"


def test_hop_version_lists_the_installed_runtime_dependencies():
    names = [_normalise(n) for n, _ in _version.package_versions()]
    assert names[:2] == ["hop-client", "skyhop"] and names[-1] == "librdkafka"
    assert set(names[2:-1]) == _declared()
