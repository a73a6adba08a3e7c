"""A received VOEvent is checked at once and its sections are decoded on first access."""

from __future__ import annotations

import copy
import logging
import pickle
import threading
from dataclasses import asdict
from typing import Any

import pytest

from _data import HOP_CLIENT, needs_testdata
from hop import _codec
from hop._models import voevent as voevent_module
from hop.errors import SerializationError
from hop.models import VOEvent

pytestmark = needs_testdata

SECTIONS = ("Who", "What", "WhereWhen", "How", "Why", "Citations", "Description", "Reference")
DOCUMENTED = ("ivorn", "role", "version", *SECTIONS)

MINIMAL = (
    b'<?xml version="1.0"?>\n<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0"'
    b' ivorn="ivo://test#1" role="test" version="2.0">'
    b"<Who><AuthorIVORN>ivo://test</AuthorIVORN></Who>%s</voe:VOEvent>"
)


def sample() -> bytes:
    return (HOP_CLIENT / "example_voevent.xml").read_bytes()


def test_a_received_voevent_has_every_documented_attribute_of_a_loaded_one() -> None:
    received, loaded = VOEvent.deserialize(sample()), VOEvent.load(sample())
    assert {k: getattr(received, k) for k in DOCUMENTED} == {
        k: getattr(loaded, k) for k in DOCUMENTED
    }
    assert received == loaded
    assert repr(received) == repr(loaded)
    assert str(received) == str(loaded)
    assert asdict(received) == asdict(loaded)
    assert bytes(received) == sample()


def test_sections_are_not_decoded_until_one_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: Any) -> Any:
        raise AssertionError("the sections were decoded")

    event = VOEvent.deserialize(sample())
    monkeypatch.setattr(voevent_module, "_parse_xml", refuse)
    # What a forwarder or an ivorn filter touches needs no decoding.
    assert event.ivorn == "ivo://gwnet/LVC#S200302c-1-Preliminary"
    assert (event.role, event.version) == ("observation", "2.0")
    assert bytes(event) == sample()
    payload, headers = _codec.pack(event)
    assert payload == sample() and headers[-1] == ("_format", b"voevent")
    with pytest.raises(AssertionError, match="decoded"):
        _ = event.What


def test_the_first_read_decodes_every_section_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = voevent_module._parse_xml

    def counting(*args: Any) -> Any:
        calls.append(1)
        return real(*args)

    event = VOEvent.deserialize(sample())
    monkeypatch.setattr(voevent_module, "_parse_xml", counting)
    for name in SECTIONS:
        getattr(event, name)
    assert event.What is event.What
    assert len(calls) == 1


def test_a_section_assigned_before_the_first_read_is_kept() -> None:
    event = VOEvent.deserialize(sample())
    event.Why = {"replaced": "yes"}
    assert event.Why == {"replaced": "yes"}
    assert event.What == VOEvent.load(sample()).What


def test_missing_sections_are_empty_dicts_as_for_a_loaded_event() -> None:
    event = VOEvent.deserialize(MINIMAL % b"")
    assert event.Who == {"AuthorIVORN": "ivo://test"}
    assert event.What == {} and event.Citations == {}
    assert event == VOEvent.load(MINIMAL % b"")


def test_an_unknown_attribute_is_still_an_attribute_error() -> None:
    event = VOEvent.deserialize(sample())
    with pytest.raises(AttributeError, match="no attribute 'Nonsense'"):
        _ = event.Nonsense  # type: ignore[attr-defined]
    assert not hasattr(event, "nonsense")


def test_threads_reading_at_once_see_the_same_sections() -> None:
    event = VOEvent.deserialize(sample())
    seen: list[Any] = []
    barrier = threading.Barrier(4)

    def read() -> None:
        barrier.wait()
        seen.append(event.What)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(seen) == 4
    assert all(s is event.What for s in seen)


def test_copies_and_pickles_of_an_undecoded_event_equal_the_loaded_one() -> None:
    loaded = VOEvent.load(sample())
    assert copy.copy(VOEvent.deserialize(sample())) == loaded
    assert copy.deepcopy(VOEvent.deserialize(sample())) == loaded
    assert pickle.loads(pickle.dumps(VOEvent.deserialize(sample()))) == loaded


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"<voe:VOEvent ivorn='x'><Who></voe:VOEvent>", "not well-formed XML"),
        (b"<Other ivorn='x'/>", "not <voe:VOEvent>"),
        (b"<voe:VOEvent role='test'/>", "no ivorn"),
        (b"<voe:VOEvent ivorn='x' colour='red'/>", "unexpected attribute"),
        (b'<!DOCTYPE d [<!ENTITY a "aaaa">]><voe:VOEvent ivorn="x"/>', "declares XML entities"),
        (b"", "not well-formed XML"),
    ],
)
def test_bad_documents_are_refused_at_once_not_on_first_read(data: bytes, error: str) -> None:
    with pytest.raises(SerializationError, match=error):
        VOEvent.deserialize(data)


def test_a_bad_document_in_a_stream_still_becomes_a_blob() -> None:
    model = _codec.unpack(b"<voe:VOEvent><broken", [("_format", b"voevent")], "t[0]@1")
    assert type(model).__name__ == "Blob"


def test_an_element_that_is_no_section_is_left_out_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = MINIMAL % b"<Extra>1</Extra>"
    event = VOEvent.deserialize(data)
    with caplog.at_level(logging.WARNING, logger="hop"):
        assert event.Who == {"AuthorIVORN": "ivo://test"}
    assert "'Extra'" in caplog.text and "ivo://test#1" in caplog.text
    assert not hasattr(event, "Extra")
    assert bytes(event) == data  # forwarded unchanged
    with pytest.raises(SerializationError, match="unexpected attribute or element 'Extra'"):
        VOEvent.load(data)


def test_a_subclass_is_decoded_at_once_through_its_init() -> None:
    class Tagged(VOEvent):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.tagged = True

    event = Tagged.deserialize(sample())
    assert event.tagged and "What" in event.__dict__
