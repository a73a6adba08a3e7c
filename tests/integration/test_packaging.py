"""skyhop as users install it: ``python -m build``, then the wheel in a new virtualenv.

The virtualenv has no access to this checkout: commands run with ``python -I`` (no
``PYTHONPATH``, no current directory on ``sys.path``) from an empty folder, so only
what the wheel installed can be imported. Its dependencies come from PyPI, as a
user's would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT_S = 600
RUN_TIMEOUT_S = 120


@dataclass(frozen=True)
class Dist:
    sdist: Path
    wheel: Path


@dataclass(frozen=True)
class Venv:
    root: Path
    home: Path
    """An empty working folder, also HOME, so no user configuration is found."""

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    def run(self, *args: str, timeout: float = RUN_TIMEOUT_S) -> subprocess.CompletedProcess[str]:
        """Run a program of the virtualenv (``hop``, ``python``...) in a clean environment."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("PYTHON") and k not in ("VIRTUAL_ENV", "HOME")
        }
        env |= {"HOME": str(self.home), "XDG_CONFIG_HOME": str(self.home / ".config")}
        # The Kafka jars' cache is shared, as for every other broker the tests start.
        env.setdefault("XDG_CACHE_HOME", str(Path.home() / ".cache"))
        if args[0] == "python":
            program = [str(self.python), "-I"]
        else:
            program = [str(self.root / "bin" / args[0])]
        return subprocess.run(
            [*program, *args[1:]],
            cwd=self.home,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def _declared_dependencies() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Dist:
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (sdist,) = out.glob("skyhop-*.tar.gz")
    (wheel,) = out.glob("skyhop-*.whl")
    return Dist(sdist, wheel)


@pytest.fixture(scope="module")
def venv(dist: Dist, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Venv]:
    root = tmp_path_factory.mktemp("wheel-venv")
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=RUN_TIMEOUT_S)
    proc = subprocess.run(
        [str(root / "bin" / "python"), "-m", "pip", "install", "-q",
         "--disable-pip-version-check", str(dist.wheel)],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    home = tmp_path_factory.mktemp("wheel-home")
    yield Venv(root, home)


def test_sdist_holds_the_sources_and_the_license(dist: Dist) -> None:
    with tarfile.open(dist.sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    for expected in ("pyproject.toml", "README.md", "LICENSE", "src/hop/__init__.py",
                     "src/hop/py.typed", "src/igwn_alert/__init__.py", "src/hop/samp/__init__.py"):
        assert expected in names, expected  # fmt: skip
    assert not [n for n in names if n.startswith(".venv/") or "__pycache__" in n]


def test_wheel_holds_the_packages_and_declares_license_and_dependencies(dist: Dist) -> None:
    with zipfile.ZipFile(dist.wheel) as wheel:
        names = set(wheel.namelist())
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = wheel.read(metadata_name).decode()
    expected = {"hop/__init__.py", "hop/py.typed", "igwn_alert/py.typed", "hop/samp/__init__.py"}
    assert expected <= names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not [n for n in names if n.startswith(("tests/", "bench/", "docs/"))]
    fields = [line.split(": ", 1) for line in metadata.splitlines() if ": " in line]
    assert ["License-Expression", "BSD-3-Clause"] in fields
    requires = [v for k, v in fields if k == "Requires-Dist" and "extra ==" not in v]
    assert sorted(requires) == sorted(_declared_dependencies())


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (["hop", "--help"], "Publish and subscribe to astronomical alert streams."),
        (["igwn-alert", "--help"], "usage: igwn-alert"),
        (["samp-hub", "--help"], "usage: samp-hub"),
        (["hop", "publish", "--help"], "usage: hop publish"),
    ],
)
def test_installed_commands_answer_help(venv: Venv, command: list[str], expected: str) -> None:
    proc = venv.run(*command)
    assert proc.returncode == 0, proc.stderr
    assert expected in proc.stdout
    assert proc.stderr == ""


def test_hop_version_lists_skyhop_and_exactly_its_runtime_dependencies(venv: Venv) -> None:
    proc = venv.run("hop", "version")
    assert proc.returncode == 0, proc.stderr
    names = [line.split("==")[0] for line in proc.stdout.splitlines()]
    declared = [re.match(r"[A-Za-z0-9._-]+", d)[0] for d in _declared_dependencies()]
    # First the hop-client API level implemented, as upstream's first line.
    assert names == ["hop-client", "skyhop", *declared, "librdkafka"]
    assert "not installed" not in proc.stdout


_IMPORT_EVERYTHING = r"""
import importlib, json, pkgutil, sys
import hop, igwn_alert
names = []
for package in (hop, igwn_alert):
    names.append(package.__name__)
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        importlib.import_module(info.name)
        names.append(info.name)
print(json.dumps({"modules": names, "hop": hop.__file__, "path": sys.path}))
"""


def test_every_public_module_imports_from_the_installed_wheel(venv: Venv) -> None:
    proc = venv.run("python", "-c", _IMPORT_EVERYTHING)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert Path(got["hop"]).is_relative_to(venv.root), got["hop"]
    assert not [p for p in got["path"] if p and Path(p).is_relative_to(ROOT)]
    assert {"hop.io", "hop.models", "hop.robust_publisher", "hop.samp", "igwn_alert.client",
            "hop.testing"} <= set(got["modules"])  # fmt: skip
    assert not [m for m in got["modules"] if m.startswith("hop.tests") or "._" in m]


@pytest.mark.broker  # the demo starts its own
def test_demo_runs_from_the_installed_wheel_against_a_real_broker(venv: Venv) -> None:
    proc = venv.run("python", "-m", "hop.demo", "--plain", timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "IGWN alert MS240501x (PRELIMINARY)" in out
    assert "multi-order FITS, 30 pixels (orders 0-6), 90% area 215 deg²" in out
    assert "position: RA 51.3281, Dec 4.1837 (deg)" in out
    assert "GCN circular 90001: LIGO/Virgo/KAGRA MS240501x" in out
    assert out.index("IGWN alert") < out.index("VOEvent") < out.index("GCN circular")
    assert "read 3 message(s) back" in proc.stderr
