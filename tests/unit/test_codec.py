"""pack/unpack: the bytes and headers on the wire, and the reading rules."""

from __future__ import annotations

import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from _data import HOP_CLIENT, needs_testdata
from hop import _codec, _samples
from hop._deserializer import deserializer_enum
from hop.errors import ConfigurationError, SerializationError
from hop.models import (
    AvroBlob,
    Blob,
    ExternalMessage,
    GCNCircular,
    GCNTextNotice,
    JSONBlob,
    VOEvent,
)

DATA = HOP_CLIENT


def header_names(headers: list[tuple[str, Any]]) -> list[str]:
    return [k for k, _ in headers]


# -- pack -----------------------------------------------------------------------------


def test_pack_json_value_marks_test_and_adds_a_raw_uuid() -> None:
    payload, headers = _codec.pack({"a": 1}, test=True)
    assert json.loads(payload) == {"a": 1}
    assert header_names(headers) == ["_id", "_test", "_format"]
    assert len(headers[0][1]) == 16
    assert headers[1:] == [("_test", b"true"), ("_format", b"json")]


def test_pack_string_is_json() -> None:
    assert _codec.pack("hello")[0] == b'"hello"'


def test_pack_bytes_is_a_blob_after_the_users_headers() -> None:
    payload, headers = _codec.pack(b"\xff\x00", headers={"x": "y"})
    assert payload == b"\xff\x00"
    assert header_names(headers) == ["x", "_id", "_format"]
    assert headers[0] == ("x", "y")
    assert headers[-1] == ("_format", b"blob")


def test_pack_circular_with_sender() -> None:
    circular = GCNCircular(header={"title": "T", "number": "1"}, body="b")
    payload, headers = _codec.pack(circular, sender="alice")
    assert payload == b'{"header": {"title": "T", "number": "1"}, "body": "b"}'
    assert header_names(headers) == ["_id", "_sender", "_format"]
    assert headers[1:] == [("_sender", b"alice"), ("_format", b"circular")]


def test_pack_refuses_values_that_are_neither_bytes_nor_json() -> None:
    with pytest.raises(TypeError, match="Unable to pack a message of type object"):
        _codec.pack(object())


def test_every_uuid_is_new() -> None:
    ids = {_codec.pack(1)[1][0][1] for _ in range(50)}
    assert len(ids) == 50


@pytest.mark.parametrize("name", ["_id", "_sender", "_test", "_format"])
def test_user_headers_may_not_use_the_names_hop_writes(name: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        _codec.pack(1, headers=[(name, b"x")])
    assert _codec.normalize_headers([(name, b"x")], allow_reserved=True) == [(name, b"x")]


def test_every_underscore_name_is_reserved() -> None:
    with pytest.raises(ConfigurationError, match="'_custom' starts with '_'"):
        _codec.pack(1, headers=[("_custom", b"1")])


def test_null_values_and_repeated_names_are_allowed() -> None:
    _, headers = _codec.pack(1, headers=[("k", None), ("k", "dup")])
    assert headers[:2] == [("k", None), ("k", "dup")]


@pytest.mark.parametrize("headers", [[("k",)], [(1, b"v")], {"k": 5}])
def test_malformed_headers_are_a_configuration_error(headers: Any) -> None:
    with pytest.raises(ConfigurationError):
        _codec.pack(1, headers=headers)


# -- unpack: the reading rules --------------------------------------------------------


@needs_testdata
@pytest.mark.parametrize(
    ("model", "file"),
    [
        (VOEvent, "example_voevent.xml"),
        (GCNTextNotice, "example_gcn.txt"),
        (GCNCircular, "example.gcn3"),
        (Blob, "example_blob.txt"),
        (JSONBlob, "example_json.json"),
        (AvroBlob, "example_avro.avro"),
    ],
)
def test_every_model_round_trips_through_pack_and_unpack(model: Any, file: str) -> None:
    message = model.load_file(str(DATA / file))
    payload, headers = _codec.pack(message)
    assert _codec.unpack(payload, headers) == message


def test_format_header_is_matched_case_insensitively() -> None:
    assert _codec.unpack(b"[1]", [("_format", b"JsOn")]) == JSONBlob(content=[1])


def test_first_format_header_wins() -> None:
    headers = [("_format", b"blob"), ("_format", b"json")]
    assert _codec.unpack(b"[1]", headers) == Blob(content=b"[1]")


def test_unknown_format_gives_a_blob_and_a_warning_naming_the_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="hop"):
        model = _codec.unpack(b"\x01\x02", [("_format", b"hologram")], where="t[3]@17")
    assert model == Blob(content=b"\x01\x02")
    assert "t[3]@17" in caplog.text
    assert "'hologram'" in caplog.text


def test_undecodable_message_gives_a_blob_and_a_warning_naming_the_message(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="hop"):
        model = _codec.unpack(b"<voe:VOEvent", [("_format", b"voevent")], where="alerts[0]@42")
    assert model == Blob(content=b"<voe:VOEvent")
    assert "alerts[0]@42" in caplog.text
    assert "could not be decoded as voevent" in caplog.text


def test_format_header_that_is_not_utf8_gives_a_blob(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="hop"):
        assert _codec.unpack(b"x", [("_format", b"\xff")], where="t[0]@0") == Blob(b"x")
    assert "t[0]@0" in caplog.text


def test_legacy_envelope_blob_is_json() -> None:
    wire = json.dumps({"format": "blob", "content": {"a": [1, 2]}}).encode()
    assert _codec.unpack(wire, None) == JSONBlob(content={"a": [1, 2]})


def test_legacy_envelope_of_a_known_model_uses_its_constructor() -> None:
    wire = json.dumps(
        {"format": "circular", "content": {"header": {"title": "T"}, "body": "b"}}
    ).encode()
    assert _codec.unpack(wire, []) == GCNCircular(header={"title": "T"}, body="b")


def test_legacy_envelope_of_an_unknown_model_is_a_blob(caplog: pytest.LogCaptureFixture) -> None:
    wire = json.dumps({"format": "hologram", "content": {}}).encode()
    with caplog.at_level(logging.WARNING, logger="hop"):
        assert _codec.unpack(wire, None, where="t[0]@1") == Blob(content=wire)
    assert "hologram" in caplog.text


def test_message_without_format_header_is_json_when_it_parses() -> None:
    assert _codec.unpack(b'{"format": "x"}', [("other", b"1")]) == JSONBlob({"format": "x"})


def test_message_without_format_header_that_is_not_utf8_json_is_a_blob() -> None:
    utf16 = '{"a": 1}'.encode("utf-16")
    assert _codec.unpack(utf16, None) == Blob(content=utf16)
    assert _codec.unpack(b"\x00\x01", None) == Blob(content=b"\x00\x01")


def test_a_message_without_a_value_is_an_empty_blob() -> None:
    assert _codec.unpack(None, None) == Blob(content=b"")


def test_multi_record_avro_from_the_wire_is_read() -> None:
    payload, headers = _codec.pack(AvroBlob([{"a": 1}, {"a": 2}], single_record=False))
    model = _codec.unpack(payload, headers)
    assert isinstance(model, AvroBlob)
    assert model.content == [{"a": 1}, {"a": 2}]


def test_external_message_is_unpacked_as_a_reference() -> None:
    payload, headers = _codec.pack(ExternalMessage(url="https://x/msg/1"))
    assert _codec.unpack(payload, headers) == ExternalMessage(url="https://x/msg/1")


# -- the Deserializer enum ------------------------------------------------------------


class FakeMessage:
    def __init__(self, value: bytes, headers: list[tuple[str, bytes]] | None) -> None:
        self._value, self._headers = value, headers

    def value(self) -> bytes:
        return self._value

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers

    def topic(self) -> str:
        return "alerts"

    def partition(self) -> int:
        return 2

    def offset(self) -> int:
        return 9


def test_deserializer_has_the_built_in_formats_in_upstream_order() -> None:
    names = [m.name for m in deserializer_enum()]
    assert names[:7] == ["VOEVENT", "GCNTEXTNOTICE", "CIRCULAR", "BLOB", "JSON", "AVRO", "EXTERNAL"]
    assert deserializer_enum().VOEVENT.value is VOEvent


def test_hop_io_deserializer_is_the_registry_enum() -> None:
    import hop.io

    assert hop.io.Deserializer is deserializer_enum()


def test_deserializer_deserialize_reads_a_message_and_names_it_in_warnings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    enum = deserializer_enum()
    assert enum.deserialize(FakeMessage(b"[1]", [("_format", b"json")])) == JSONBlob([1])
    with caplog.at_level(logging.WARNING, logger="hop"):
        enum.deserialize(FakeMessage(b"x", [("_format", b"nope")]))
    assert "alerts[2]@9" in caplog.text


def test_deserializer_members_load_files_of_their_format(tmp_path: Path) -> None:
    enum = deserializer_enum()
    circular = tmp_path / "circular.gcn3"
    circular.write_text(str(_samples.gcn_circular()))
    assert enum.CIRCULAR.load_file(str(circular)).header["number"] == "90001"
    assert enum.JSON.load('{"a": 1}') == JSONBlob({"a": 1})


# -- the fast paths of pack -----------------------------------------------------------


def test_ids_across_several_blocks_are_distinct_version_4_uuids() -> None:
    ids = [_codec.pack(JSONBlob(content=i))[1][0][1] for i in range(3 * _codec._ID_BLOCK + 7)]
    assert len(set(ids)) == len(ids)
    for raw in ids:
        value = uuid.UUID(bytes=raw)
        assert (value.version, value.variant) == (4, uuid.RFC_4122)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_reuse_ids_left_in_its_parents_block() -> None:
    _codec._next_id()  # the parent's block is started and has ids left
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: send the next id it would use, then leave at once
        os.write(write_end, _codec._next_id())
        os._exit(0)
    os.close(write_end)
    child_id = os.read(read_end, 16)
    os.close(read_end)
    os.waitpid(pid, 0)
    assert len(child_id) == 16
    assert child_id != _codec._next_id()


@pytest.mark.parametrize(
    "content",
    [
        {"a": 1, "ok": None},
        [None, float("nan")],
        {"far": float("inf")},
        {"n": 2**70},
        {1: "int key"},
        "Ω",
    ],
)
def test_packed_json_blob_decodes_to_what_json_dumps_decodes_to(content: Any) -> None:
    payload, headers = _codec.pack(JSONBlob(content=content))
    assert headers[-1] == ("_format", b"json")
    assert json.dumps(json.loads(payload)) == json.dumps(json.loads(json.dumps(content)))


def test_packed_json_blob_that_cannot_be_encoded_is_a_serialization_error() -> None:
    with pytest.raises(SerializationError, match="cannot be encoded"):
        _codec.pack(JSONBlob(content={"x": object()}))
