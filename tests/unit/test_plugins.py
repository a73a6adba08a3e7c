"""Plugin discovery through ``hop_plugin`` entry points, and the lazy registry."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from hop import _codec, _registry
from hop._deserializer import deserializer_enum
from hop.models import JSONBlob, VOEvent
from plugin_pkg import donut_paths, make_distribution


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Rebuild the registry for the test, and forget the test's plugins afterwards."""
    before = set(sys.modules)
    _registry.reset()
    yield
    _registry.reset()
    for name in set(sys.modules) - before:
        if name.startswith(("hop_donut", "tplug_")):
            monkeypatch.delitem(sys.modules, name)


@pytest.fixture
def donut(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None) -> type:
    for entry in reversed(donut_paths(tmp_path)):
        monkeypatch.syspath_prepend(entry)
    return _registry.models()["DONUT"]


def write_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, source: str) -> None:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    make_distribution(tmp_path, f"{name}_dist", {f"{name}-ep": name})
    monkeypatch.syspath_prepend(str(tmp_path))


def test_installed_plugin_model_joins_the_registry_and_the_deserializer(donut: type) -> None:
    assert donut.__name__ == "Donut"
    enum = deserializer_enum()
    assert enum.DONUT.value is donut
    assert enum.VOEVENT.value is VOEvent  # built-ins are still there


def test_plugin_model_round_trips_through_the_codec(donut: type) -> None:
    treat = donut(category="yeast", flavor="glazed", has_filling=False)
    payload, headers = _codec.pack(treat)
    assert headers[-1] == ("_format", b"donut")
    assert json.loads(payload) == {"category": "yeast", "flavor": "glazed", "has_filling": False}
    assert _codec.unpack(payload, headers) == treat


def test_plugin_model_loads_files_through_the_deserializer(donut: type, tmp_path: Path) -> None:
    path = tmp_path / "donut.json"
    path.write_text('{"category": "cake", "flavor": "lemon", "has_filling": true}')
    loaded = deserializer_enum().DONUT.load_file(str(path))
    assert loaded == donut(category="cake", flavor="lemon", has_filling=True)


def test_a_plugin_that_fails_to_import_gives_one_log_line_naming_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fresh_registry: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    write_plugin(tmp_path, monkeypatch, "tplug_broken", "raise RuntimeError('kaput')\n")
    with caplog.at_level(logging.WARNING, logger="hop"):
        registry = _registry.models()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert "tplug_broken-ep" in lines[0]
    assert "kaput" in lines[0]
    assert registry["JSON"] is JSONBlob


def test_a_plugin_whose_hook_fails_gives_one_log_line_naming_it(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fresh_registry: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    write_plugin(
        tmp_path,
        monkeypatch,
        "tplug_hookfail",
        """
        from hop import plugins

        @plugins.register
        def get_models():
            raise ValueError("no models today")
        """,
    )
    with caplog.at_level(logging.WARNING, logger="hop"):
        registry = _registry.models()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert "tplug_hookfail-ep" in lines[0]
    assert "no models today" in lines[0]
    assert "VOEVENT" in registry


def test_a_duplicate_format_name_warns_and_the_later_registration_wins(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fresh_registry: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    write_plugin(
        tmp_path,
        monkeypatch,
        "tplug_dup",
        """
        from dataclasses import dataclass
        from hop import plugins
        from hop.models import JSONBlob

        @dataclass
        class LoudJSON(JSONBlob):
            pass

        @plugins.register
        def get_models():
            return {"JSON": LoudJSON}
        """,
    )
    with caplog.at_level(logging.WARNING, logger="hop"):
        registry = _registry.models()
    assert registry["JSON"].__name__ == "LoudJSON"
    assert "duplicate" in caplog.text
    assert "tplug_dup-ep" in caplog.text


def test_importing_hop_does_not_load_plugins(tmp_path: Path) -> None:
    paths = donut_paths(tmp_path)
    src = str(Path(__file__).resolve().parents[2] / "src")
    script = textwrap.dedent(
        """
        import sys
        import hop, hop.io, hop.models
        before = "hop_donut" in sys.modules
        members = [m.name for m in hop.io.Deserializer]
        print(before, "hop_donut" in sys.modules, "DONUT" in members)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": ":".join([*paths, src]), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "True", "True"]
