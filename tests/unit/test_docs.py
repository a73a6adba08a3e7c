"""The documentation site builds without a warning and covers every public module."""

from __future__ import annotations

import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import hop
import igwn_alert

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

# igwn_alert.client is documented on igwn_alert's page: as in upstream, the class
# igwn_alert.client shadows the module of that name, so the module has no page of its own.
DOCUMENTED_ELSEWHERE = {"igwn_alert.client"}


def _public_modules() -> set[str]:
    names = set()
    for package in (hop, igwn_alert):
        names.add(package.__name__)
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not any(part.startswith("_") for part in info.name.split(".")):
                names.add(info.name)
    return names


def _api_list() -> list[str]:
    return re.findall(r"^   ([a-z_][\w.]*)$", (DOCS / "api" / "index.rst").read_text(), re.M)


def test_every_public_module_has_an_api_page():
    missing = _public_modules() - set(_api_list()) - DOCUMENTED_ELSEWHERE
    assert not missing, f"add these to the list in docs/api/index.rst: {sorted(missing)}"


def test_the_api_list_names_only_public_modules_once():
    listed = _api_list()
    assert len(listed) == len(set(listed))
    assert set(listed) <= _public_modules()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("html")
    doctrees = tmp_path_factory.mktemp("doctrees")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(doctrees), str(DOCS), str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    assert proc.stderr == "", proc.stderr[-5000:]  # -q: anything printed is a warning
    return out


def _text(page: Path) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page.read_text()))


def test_docs_build_with_a_user_guide_and_references(site: Path):
    pages = {str(p.relative_to(site)) for p in site.rglob("*.html")}
    expected = {"index.html", "quickstart.html", "migration.html", "cli.html",
                "development.html", "api/index.html"}  # fmt: skip
    expected |= {f"guide/{n}.html" for n in ("streams", "credentials", "robust", "igwn_alert",
                                             "samp", "bridge")}  # fmt: skip
    expected |= {f"api/generated/{m}.html" for m in _api_list()}
    assert expected <= pages


def test_api_pages_show_numpy_docstrings_with_their_types(site: Path):
    text = _text(site / "api" / "generated" / "hop.io.html")
    assert "class hop.io. Stream" in text
    # napoleon's parameter list, with the types of the docstring...
    assert "auth ( bool , hop.auth.Auth or list of hop.auth.Auth )" in text
    # ...and, where the docstring gives none, the type hints (autodoc_typehints).
    assert "Return type : tuple[bytes, list[tuple[str, str | bytes]]]" in text


def test_cli_reference_is_each_commands_help(site: Path):
    text = _text(site / "cli.html")
    for usage in ("usage: hop publish", "usage: hop subscribe", "usage: hop dev-broker",
                  "usage: hop auth add", "usage: hop journal salvage", "usage: igwn-alert listen",
                  "usage: samp-hub send"):  # fmt: skip
        assert usage in text, usage
    assert "(default: 30; 0 waits without limit)" in text
