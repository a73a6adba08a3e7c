"""The public names of hop.models and hop.plugins (drop-in for hop-client 0.13)."""

from __future__ import annotations

import pluggy

import hop.models
import hop.plugins


def test_models_exports_upstreams_names() -> None:
    assert set(hop.models.__all__) == {
        "AvroBlob",
        "Blob",
        "ExternalMessage",
        "GCNCircular",
        "GCNTextNotice",
        "JSONBlob",
        "JSONType",
        "MessageModel",
        "VOEvent",
        "format_name",
        "get_models",
    }
    assert all(hasattr(hop.models, name) for name in hop.models.__all__)


def test_models_are_presented_as_living_in_hop_models() -> None:
    assert hop.models.VOEvent.__module__ == "hop.models"
    assert repr(hop.models.Blob(b"x")) == "Blob(content=b'x')"


def test_plugins_exposes_the_markers_and_the_hook_spec() -> None:
    assert set(hop.plugins.__all__) == {"get_models", "register", "specification"}
    assert isinstance(hop.plugins.register, pluggy.HookimplMarker)
    assert isinstance(hop.plugins.specification, pluggy.HookspecMarker)
    assert hop.plugins.register.project_name == "hop"


def test_built_in_plugin_lists_the_seven_models() -> None:
    assert list(hop.models.get_models()) == [
        "voevent",
        "gcntextnotice",
        "circular",
        "blob",
        "json",
        "avro",
        "external",
    ]
