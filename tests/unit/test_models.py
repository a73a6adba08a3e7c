"""The message models on the sample data: parsing, wire form, and malformed files."""

from __future__ import annotations

import io
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import fastavro
import pytest
import xmltodict

from _data import HOP_CLIENT, needs_testdata
from hop.errors import SerializationError
from hop.models import (
    AvroBlob,
    Blob,
    ExternalMessage,
    GCNCircular,
    GCNTextNotice,
    JSONBlob,
    MessageModel,
    VOEvent,
    format_name,
)

DATA = HOP_CLIENT
VOEVENT_XML = DATA / "example_voevent.xml"
SECTIONS = ("Who", "What", "WhereWhen", "How", "Why", "Citations", "Description", "Reference")


def voevent_fields(event: VOEvent) -> dict[str, Any]:
    return {k: getattr(event, k) for k in ("ivorn", "role", "version", *SECTIONS)}


def xmltodict_fields(raw: bytes) -> dict[str, Any]:
    # The structure hop-client users know: xmltodict with no attribute prefix.
    doc = xmltodict.parse(raw, attr_prefix="")
    ((_, body),) = doc.items()
    fields = {"role": "observation", "version": "2.0", **{s: {} for s in SECTIONS}}
    fields.update({k: v for k, v in body.items() if ":" not in k and k != "xmlns"})
    return fields


# -- VOEvent --------------------------------------------------------------------------


@needs_testdata
def test_voevent_load_file_gives_the_structure_xmltodict_gives() -> None:
    event = VOEvent.load_file(str(VOEVENT_XML))
    assert voevent_fields(event) == xmltodict_fields(VOEVENT_XML.read_bytes())
    assert event.ivorn == "ivo://gwnet/LVC#S200302c-1-Preliminary"
    assert event.WhereWhen["ObsDataLocation"]["ObservatoryLocation"]["id"] == "LIGO Virgo"
    assert event.Description == "Report of a candidate gravitational wave event"
    assert event.What["Param"][0] == {
        "dataType": "int",
        "name": "Packet_Type",
        "value": "150",
        "Description": "The Notice Type number is assigned/used within GCN, eg type=150 "
        "is an LVC_PRELIMINARY notice",
    }


@needs_testdata
def test_voevent_wire_form_is_the_original_xml_bytes() -> None:
    raw = VOEVENT_XML.read_bytes()
    event = VOEvent.load_file(str(VOEVENT_XML))
    assert bytes(event) == raw
    assert event.serialize() == {"format": "voevent", "content": raw}


@needs_testdata
@pytest.mark.parametrize(
    "make_input",
    [
        lambda raw: raw,
        lambda raw: raw.decode("utf-8"),
        lambda raw: io.BytesIO(raw),
        lambda raw: io.StringIO(raw.decode("utf-8")),
        lambda raw: (raw[i : i + 100] for i in range(0, len(raw), 100)),
    ],
    ids=["bytes", "str", "binary-file", "text-file", "generator"],
)
def test_voevent_load_accepts_every_documented_input_kind(make_input: Any) -> None:
    raw = VOEVENT_XML.read_bytes()
    event = VOEvent.load(make_input(raw))
    assert voevent_fields(event) == xmltodict_fields(raw)
    assert bytes(event) == raw


@pytest.mark.parametrize(
    "xml",
    [
        b"<a><b>1</b><b>2</b><b x='3'/></a>",
        b"<a x='1'><x>2</x></a>",  # an attribute and a child with the same name
        b"<a>text<b/>tail<c>d</c>more</a>",  # mixed content
        b"<a>  <b>  </b> <c/></a>",  # whitespace-only text
        b"<a><![CDATA[<not markup>]]></a>",
        b"<a>&lt;&amp;&#65;</a><!-- comment -->",
        b"<p:a xmlns:p='urn:x' p:y='1'><p:b>t</p:b></p:a>",
        "<a>\u00e9\u4e2d</a>".encode(),
    ],
)
def test_xml_mapping_matches_xmltodict_on_edge_cases(xml: bytes) -> None:
    from hop._models.voevent import _parse_xml

    assert _parse_xml(xml, "doc") == xmltodict.parse(xml, attr_prefix="")


def test_voevent_with_default_namespace_root_is_accepted() -> None:
    xml = (
        b'<VOEvent xmlns="http://www.ivoa.net/xml/VOEvent/v2.0" ivorn="ivo://x#1" '
        b'role="test" version="2.0"><Who><Date>2020</Date></Who></VOEvent>'
    )
    event = VOEvent.load(xml)
    assert (event.ivorn, event.role, event.Who) == ("ivo://x#1", "test", {"Date": "2020"})


@needs_testdata
def test_voevent_built_from_fields_is_sent_as_xml_that_reads_back_equal() -> None:
    loaded = VOEvent.load_file(str(VOEVENT_XML))
    rebuilt = VOEvent(**voevent_fields(loaded))
    wire = rebuilt.serialize()["content"]
    assert wire.startswith(b"<?xml")
    assert voevent_fields(VOEvent.deserialize(wire)) == voevent_fields(loaded)


@needs_testdata
def test_legacy_json_voevent_is_read_and_given_xml() -> None:
    loaded = VOEvent.load_file(str(VOEVENT_XML))
    legacy = json.dumps(voevent_fields(loaded)).encode()  # what hop-client 0.6-0.11 sent
    event = VOEvent.deserialize(legacy)
    assert voevent_fields(event) == voevent_fields(loaded)
    assert voevent_fields(VOEvent.deserialize(bytes(event))) == voevent_fields(loaded)


@needs_testdata
def test_voevent_str_is_indented_json_without_the_raw_bytes() -> None:
    event = VOEvent.load_file(str(VOEVENT_XML))
    as_json = json.loads(str(event))
    assert "_raw" not in as_json
    assert as_json == voevent_fields(event)


def test_malformed_voevent_file_error_names_file_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(b"<?xml version='1.0'?>\n<voe:VOEvent ivorn='x'>\n  <Who>\n</voe:VOEvent>\n")
    with pytest.raises(SerializationError) as info:
        VOEvent.load_file(str(bad))
    message = str(info.value)
    assert str(bad) in message
    assert "mismatched tag" in message
    assert "line 4, column 3" in message
    assert info.value.source == str(bad)
    assert info.value.position == "line 4, column 3"


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        (b"<Other ivorn='x'/>", "root element is <Other>"),
        (b"<voe:VOEvent xmlns:voe='urn:v'><Who/></voe:VOEvent>", "no ivorn"),
        (b"<voe:VOEvent xmlns:voe='urn:v' ivorn='x'><Bogus/></voe:VOEvent>", "'Bogus'"),
        (b"", "no element found"),
        (b"<?xml version='1.0' encoding='TF-8'?><a/>", "cannot be decoded"),
        (
            b"<!DOCTYPE a [<!ENTITY e 'lol'>]><voe:VOEvent ivorn='&e;'/>",
            "declares XML entities",
        ),
    ],
)
def test_input_that_is_not_a_voevent_is_refused_with_the_reason(xml: bytes, expected: str) -> None:
    with pytest.raises(SerializationError, match=expected):
        VOEvent.load(xml)


# -- GCN circulars --------------------------------------------------------------------


@needs_testdata
def test_circular_headers_are_lower_cased_and_the_body_kept() -> None:
    circular = GCNCircular.load_file(str(DATA / "example.gcn3"))
    assert list(circular.header) == ["title", "number", "subject", "date", "from"]
    assert circular.header["number"] == "26936"
    assert circular.header["from"] == (
        "Adam Goldstein at Fermi-GBM, USRA  <adam.michael.goldstein@gmail.com>"
    )
    assert circular.body.startswith("A. Goldstein (USRA) reports")
    assert circular.body.endswith("prompt gamma-ray emission.\n")


def test_circular_wire_form_is_the_json_upstream_sends() -> None:
    circular = GCNCircular(header={"title": "T", "number": "1"}, body="b")
    wire = circular.serialize()
    assert wire == {
        "format": "circular",
        "content": b'{"header": {"title": "T", "number": "1"}, "body": "b"}',
    }
    assert GCNCircular.deserialize(wire["content"]) == circular


def test_circular_text_form_aligns_header_values() -> None:
    circular = GCNCircular(header={"title": "GCN CIRCULAR", "number": "40"}, body="Body\n")
    assert str(circular) == "TITLE:   GCN CIRCULAR\nNUMBER:  40\n\nBody\n"
    assert bytes(circular) == str(circular).encode()


def test_circular_folded_header_keeps_its_continuation_line() -> None:
    circular = GCNCircular.load("SUBJECT: long subject\n  continued here\n\nbody")
    assert circular.header == {"subject": "long subject\n  continued here"}


def test_circular_repeated_header_keeps_the_last_value_and_warns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="hop"):
        circular = GCNCircular.load("TITLE: a\nTITLE: b\n\nbody")
    assert circular.header == {"title": "b"}
    assert "repeats the header TITLE" in caplog.text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("TITLE: x\nthis is not a header\n\nbody", "line 2 is neither"),
        ("no headers at all\n", "line 1 is neither"),
        ("\nbody only", "no header lines"),
        ("", "no header lines"),
    ],
)
def test_malformed_circular_names_the_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.gcn3"
    path.write_text(text)
    with pytest.raises(SerializationError, match=expected) as info:
        GCNCircular.load_file(str(path))
    assert str(path) in str(info.value)


def test_circular_that_is_not_utf8_names_the_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.gcn3"
    path.write_bytes(b"TITLE: caf\xe9\n\nbody")
    with pytest.raises(SerializationError, match=r"not valid UTF-8.*byte 10"):
        GCNCircular.load_file(str(path))


@pytest.mark.parametrize(
    "wire", [b"[]", b'{"header": {}}', b'{"header": [], "body": ""}', b"\xff", b"{"]
)
def test_circular_wire_form_must_be_header_and_body(wire: bytes) -> None:
    with pytest.raises(SerializationError):
        GCNCircular.deserialize(wire)


# -- GCN text notices -----------------------------------------------------------------


@needs_testdata
def test_text_notice_fields_are_parsed_and_the_text_kept() -> None:
    raw = (DATA / "example_gcn.txt").read_bytes()
    notice = GCNTextNotice.load_file(str(DATA / "example_gcn.txt"))
    assert bytes(notice) == raw
    assert notice.serialize() == {"format": "gcntextnotice", "content": raw}
    assert notice.fields["title"] == "GCN/AMON NOTICE"
    assert notice.fields["run_num"] == "139279"
    assert notice.fields["src_ra"] == (
        "103.7861d {+06h 55m 09s} (J2000),\n"
        "104.1106d {+06h 56m 27s} (current),\n"
        "103.1176d {+06h 52m 28s} (1950)"
    )
    assert notice.fields["comments"] == (
        "IceCube Bronze event.\n"
        "The position error is statistical only, there is no systematic added."
    )


@needs_testdata
def test_text_notice_from_str_and_file_objects_agree() -> None:
    raw = (DATA / "example_gcn.txt").read_bytes()
    from_str = GCNTextNotice.load(raw.decode())
    from_file = GCNTextNotice.load(io.BytesIO(raw))
    assert from_str.fields == from_file.fields == GCNTextNotice.deserialize(raw).fields


@needs_testdata
def test_text_without_fields_is_not_a_notice() -> None:
    with pytest.raises(SerializationError, match=r"example_blob.txt.*no 'KEY: value' line"):
        GCNTextNotice.load_file(str(DATA / "example_blob.txt"))


# -- Blob, JSONBlob, ExternalMessage ----------------------------------------------------


@needs_testdata
def test_blob_keeps_bytes_and_prints_their_repr() -> None:
    blob = Blob.load_file(str(DATA / "example_blob.txt"))
    assert blob.content == (DATA / "example_blob.txt").read_bytes()
    assert str(blob) == repr(blob.content)
    assert Blob.deserialize(bytes(blob)) == blob


@needs_testdata
def test_json_blob_loads_the_sample_and_prints_python_repr() -> None:
    blob = JSONBlob.load_file(str(DATA / "example_json.json"))
    assert blob.content == {"foo": "bar", "baz": 5}
    assert str(blob) == "{'foo': 'bar', 'baz': 5}"
    assert json.loads(bytes(blob)) == {"foo": "bar", "baz": 5}


def test_malformed_json_file_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "a": 1,\n  "b": }\n')
    with pytest.raises(SerializationError) as info:
        JSONBlob.load_file(str(path))
    assert str(info.value).startswith(f"{path}: JSON input is not valid JSON")
    assert info.value.position == "line 3, column 8"


def test_json_blob_content_that_json_cannot_encode_is_a_serialization_error() -> None:
    with pytest.raises(SerializationError, match="cannot be encoded"):
        bytes(JSONBlob(content={"x": object()}))


def test_external_message_wire_form_and_load() -> None:
    ref = ExternalMessage(url="https://offload.example/msg/1")
    wire = ref.serialize()
    assert wire["format"] == "external"
    assert json.loads(wire["content"]) == {"url": "https://offload.example/msg/1"}
    assert ExternalMessage.deserialize(bytes(ref)) == ref
    assert ExternalMessage.load('{"url": "u"}') == ExternalMessage(url="u")
    with pytest.raises(SerializationError, match="url"):
        ExternalMessage.load('{"href": "u"}')


# -- Avro -----------------------------------------------------------------------------

AVRO_SAMPLE_CONTENT = {
    "arr": [1, 2, 3, 4],
    "sub_objects": [{"a": 1, "b": 2}, {"c": 3, "d": 4}],
    "thingy": {
        "foo": "abc",
        "bar": 22,
        "baz": None,
        "quux": {"xen": b"def", "hom": [89, 46, 5], "drel": 2.718},
    },
    "data": b"A\x00B\x04",
    "logic": [True, False],
}


@needs_testdata
def test_avro_sample_reads_as_one_record_with_its_writer_schema() -> None:
    blob = AvroBlob.load_file(str(DATA / "example_avro.avro"))
    assert blob.content == AVRO_SAMPLE_CONTENT
    assert blob.single_record is True
    assert blob.schema["name"] == "auto_record2"


def test_avro_round_trip_with_inferred_schema() -> None:
    blob = AvroBlob(AVRO_SAMPLE_CONTENT)
    wire = blob.serialize()
    assert wire["format"] == "avro"
    assert wire["content"][:4] == b"Obj\x01"
    assert blob.schema is not None  # the inferred schema is kept, as upstream does
    back = AvroBlob.deserialize(wire["content"])
    assert back.content == AVRO_SAMPLE_CONTENT
    assert back.single_record is True


def test_avro_multi_record_message_round_trips_as_a_list() -> None:
    records = [{"a": 1}, {"b": "two"}, {"c": [1.5, None]}]
    wire = bytes(AvroBlob(records, single_record=False))
    back = AvroBlob.deserialize(wire, single_record=None)
    assert (back.content, back.single_record) == (records, False)


def test_avro_multi_record_message_is_refused_by_default_as_upstream() -> None:
    wire = bytes(AvroBlob([{"a": 1}, {"a": 2}], single_record=False))
    # hop-client's default is single_record=True, which raises TypeError here.
    with pytest.raises(TypeError, match="single record"):
        AvroBlob.deserialize(wire)
    with pytest.raises(TypeError, match="single record"):
        AvroBlob.load(wire)


def test_avro_single_record_true_refuses_many_records_with_upstreams_type_error() -> None:
    wire = bytes(AvroBlob([1, 2], single_record=False))
    with pytest.raises(TypeError, match="number of records in message being deserialized is 2"):
        AvroBlob.deserialize(wire, single_record=True)
    with pytest.raises(SerializationError):
        AvroBlob.deserialize(wire, single_record=True)


def test_avro_with_a_given_schema_uses_it() -> None:
    schema = {
        "type": "record",
        "name": "Alert",
        "fields": [{"name": "priority", "type": "int"}, {"name": "payload", "type": "bytes"}],
    }
    blob = AvroBlob({"priority": 1, "payload": b"\x02data\x03"}, schema=schema)
    back = AvroBlob.deserialize(bytes(blob))
    assert back.schema["name"] == "Alert"
    assert back.content == {"priority": 1, "payload": b"\x02data\x03"}


def test_avro_content_that_does_not_fit_the_schema_is_a_serialization_error() -> None:
    with pytest.raises(SerializationError, match="does not match its schema"):
        bytes(AvroBlob({"priority": "high"}, schema={
            "type": "record", "name": "A", "fields": [{"name": "priority", "type": "int"}],
        }))  # fmt: skip


@pytest.mark.parametrize(
    ("content", "expected"),
    [({1: "x"}, "non-string key"), ({"x": object()}, "has no Avro type"), (2**64, "64 bits")],
)
def test_avro_content_without_an_avro_type_is_refused(content: Any, expected: str) -> None:
    with pytest.raises(SerializationError, match=expected):
        bytes(AvroBlob(content))


def test_avro_compressed_container_is_read_too() -> None:
    buffer = io.BytesIO()
    fastavro.writer(buffer, {"type": "map", "values": "long"}, [{"a": 1}], codec="deflate")
    assert AvroBlob.deserialize(buffer.getvalue()).content == {"a": 1}


def test_avro_blob_compares_content_only_and_is_unhashable() -> None:
    assert AvroBlob({"a": 1}, schema={"type": "map", "values": "long"}) == AvroBlob({"a": 1})
    assert AvroBlob({"a": 1}) != AvroBlob({"a": 2})
    with pytest.raises(NotImplementedError, match="not hashable"):  # as hop-client
        hash(AvroBlob({"a": 1}))


def test_avro_single_record_false_needs_a_sequence() -> None:
    with pytest.raises(TypeError, match="sequence of records"):
        AvroBlob({"a": 1}, single_record=False)


@needs_testdata
def test_malformed_avro_file_error_names_the_file() -> None:
    path = str(DATA / "example_json.json")
    with pytest.raises(SerializationError, match="not a readable Avro object container") as info:
        AvroBlob.load_file(path)
    assert info.value.source == path


@needs_testdata
def test_truncated_avro_is_a_serialization_error() -> None:
    raw = (DATA / "example_avro.avro").read_bytes()
    with pytest.raises(SerializationError):
        AvroBlob.deserialize(raw[:-30])


# -- MessageModel and format names ----------------------------------------------------


@dataclass
class Donut(MessageModel):
    category: str
    flavor: str
    has_filling: bool

    @classmethod
    def load(cls, input_: Any) -> Donut:
        return cls(**json.loads(input_))


def test_format_name_is_the_class_attribute_or_the_lower_cased_class_name() -> None:
    @dataclass
    class Named(MessageModel):
        format_name: ClassVar[str] = "custom"

    class MyJSON(JSONBlob):
        pass

    assert format_name(Donut) == "donut"
    assert format_name(Named) == "custom"
    assert format_name(MyJSON) == "json"  # inherited, as upstream's hasattr() sees it
    assert [format_name(c) for c in (VOEvent, GCNTextNotice, GCNCircular, Blob, AvroBlob)] == [
        "voevent",
        "gcntextnotice",
        "circular",
        "blob",
        "avro",
    ]


def test_message_model_default_serialization_is_json_of_the_fields() -> None:
    donut = Donut(category="cake", flavor="chocolate", has_filling=False)
    wire = donut.serialize()
    assert wire["format"] == "donut"
    assert json.loads(wire["content"]) == {
        "category": "cake", "flavor": "chocolate", "has_filling": False
    }
    assert Donut.deserialize(wire["content"]) == donut


@pytest.mark.parametrize("wire", [b"[1]", b'{"category": "x"}', b"nope"])
def test_message_model_default_deserialize_refuses_wrong_fields(wire: bytes) -> None:
    with pytest.raises(SerializationError, match="Donut message"):
        Donut.deserialize(wire)


def test_message_model_base_load_is_not_implemented() -> None:
    with pytest.raises(NotImplementedError):
        MessageModel.load("x")


def test_avro_header_with_a_negative_length_is_refused_not_looped_on() -> None:
    # Found by hypothesis: a length of -1 moved the header reader backwards forever.
    with pytest.raises(SerializationError):
        AvroBlob.deserialize(b"Obj\x01\x02\x01abc")
