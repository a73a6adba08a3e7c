"""Every model and every sample file across the wire, skyhop <-> upstream hop-client.

Upstream hop-client 0.13.0 runs in the peers' virtualenv, in subprocesses, against the
session broker. Both sides build messages with the same script (``BUILD``, using only
the API the two share) and describe what they received with the same function
(``DESCRIBE``: a digest of the model's content), so "equal" means the same model
class with the same content. Where upstream's output is deterministic (all formats but
Avro, whose container has a random sync marker) the bytes on the wire must be equal.

The Donut plugin from ``tests/plugin_pkg`` is on both sides' path, so the plugin
mechanism is checked across implementations too.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from _data import TESTDATA, files, needs_testdata
from _peers import PeerError, run_peer
from hop import Stream, _codec, _registry
from hop.io import Producer, StartPosition
from hop.models import Blob, JSONBlob
from plugin_pkg import donut_paths

SHARED = TESTDATA
HOP_DATA = SHARED / "hop-client"
IGWN_DATA = SHARED / "igwn"

# Describes a received model the same way in both interpreters.
DESCRIBE = r"""
import hashlib, json
from dataclasses import asdict

def _plain(value):
    if isinstance(value, bytes):
        return {"__bytes__": value.hex()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value

VOEVENT_FIELDS = ("ivorn", "role", "version", "Who", "What", "WhereWhen", "How", "Why",
                  "Citations", "Description", "Reference")

def describe(model):
    kind = type(model).__name__
    if kind == "VOEvent":
        content = {k: getattr(model, k) for k in VOEVENT_FIELDS}
    elif kind == "GCNCircular":
        content = {"header": model.header, "body": model.body}
    elif kind == "GCNTextNotice":
        content = {"raw": model.raw, "fields": model.fields}
    elif kind in ("Blob", "JSONBlob", "AvroBlob"):
        content = model.content
    elif kind == "ExternalMessage":
        content = model.url
    else:
        content = asdict(model)
    text = json.dumps(_plain(content), sort_keys=True)
    return {"type": kind, "digest": hashlib.sha256(text.encode()).hexdigest(),
            "size": len(text)}
"""

# Builds a message from a case (kind, argument) in both interpreters.
BUILD = r"""
import json
from hop import models

def build(kind, arg):
    if kind.startswith("file:"):
        return getattr(models, kind[5:]).load_file(arg)
    if kind == "external":
        return models.ExternalMessage(url=arg)
    if kind == "avro-records":
        records = json.loads(arg)
        return models.AvroBlob(records, single_record=False)
    if kind == "value":
        return json.loads(arg)
    if kind == "bytes":
        return bytes.fromhex(arg)
    if kind == "donut":
        import hop_donut
        return hop_donut.Donut(**json.loads(arg))
    raise ValueError(kind)
"""

UPSTREAM_WRITE = (
    DESCRIBE
    + BUILD
    + r"""
import sys
from hop import Stream
url, cases = sys.argv[1], json.loads(sys.argv[2])
sent = {}
with Stream(auth=False).open(url, "w") as s:
    for label, kind, arg in cases:
        message = build(kind, arg)
        s.write(message, headers=[("label", label.encode())])
        sent[label] = describe(message) if hasattr(message, "serialize") else None
print(json.dumps(sent))
"""
)

UPSTREAM_READ = (
    DESCRIBE
    + r"""
import hashlib, sys
from hop import Stream
from hop.io import StartPosition
url = sys.argv[1]
got = {}
stream = Stream(auth=False, start_at=StartPosition.EARLIEST, until_eos=True)
with stream.open(url, "r", fetch_external=False) as s:
    for model, md in s.read(metadata=True):
        headers = [[k, v.hex()] for k, v in md.headers]
        label = bytes.fromhex(headers[0][1]).decode()
        got[label] = {**describe(model), "headers": headers}
print(json.dumps(got))
"""
)

UPSTREAM_READ_ALL = r"""
import sys
from hop import Stream
from hop.io import StartPosition
stream = Stream(auth=False, start_at=StartPosition.EARLIEST, until_eos=True)
with stream.open(sys.argv[1], "r") as s:
    print(list(s.read()))
"""

_namespace: dict[str, Any] = {}
exec(DESCRIBE + BUILD, _namespace)  # the same code the peer runs, here with skyhop
describe: Callable[[Any], dict[str, Any]] = _namespace["describe"]
build: Callable[[str, str], Any] = _namespace["build"]

AVRO_RECORDS = [{"id": 1, "blob": "AAE="}, {"id": 2, "tags": ["a", "b"]}, {"id": 3}]

# (label, kind, argument, deterministic bytes on the wire?)
CASES: list[tuple[str, str, str, bool]] = [
    ("voevent", "file:VOEvent", str(HOP_DATA / "example_voevent.xml"), True),
    ("circular", "file:GCNCircular", str(HOP_DATA / "example.gcn3"), True),
    ("circular-40", "file:GCNCircular", str(HOP_DATA / "example_gcn.gcn3"), True),
    ("notice", "file:GCNTextNotice", str(HOP_DATA / "example_gcn.txt"), True),
    ("blob", "file:Blob", str(HOP_DATA / "example_blob.txt"), True),
    ("json", "file:JSONBlob", str(HOP_DATA / "example_json.json"), True),
    ("avro", "file:AvroBlob", str(HOP_DATA / "example_avro.avro"), False),
    *(
        (f"igwn-{p.stem}", "file:JSONBlob", str(p), True)
        for p in files(IGWN_DATA, "*.json")
    ),
    ("external", "external", "https://offload.example.org/msg/7b5e4c1e", True),
    ("dict", "value", json.dumps({"priority": 1, "payload": "data", "n": [1.5, None]}), True),
    ("string", "value", json.dumps("a string message"), True),
    ("list", "value", json.dumps(["some", "data", 5, 6, 7]), True),
    ("bytes", "bytes", b"\x02Binary data\x1dMessage ends\x03".hex(), True),
    ("donut", "donut", json.dumps({"category": "cake", "flavor": "lemon", "has_filling": 1}), True),
]  # fmt: skip

def _same_payload(theirs: bytes, ours: bytes) -> bool:
    """Byte for byte, except JSON: skyhop writes orjson's text, upstream json.dumps's.

    The contract is the value readers decode (issue 18), not the bytes.
    """
    try:
        return bool(json.loads(theirs) == json.loads(ours))
    except ValueError:
        return theirs == ours


# Room for the ~1 MB IGWN alerts (the broker's default limit is just over 1 MB).
TOPIC_CONFIG = {"max.message.bytes": str(4 * 1024 * 1024)}


@pytest.fixture
def plugin_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """The Donut plugin visible to skyhop (sys.path) and to the peer (PYTHONPATH)."""
    paths = donut_paths(tmp_path)
    for entry in reversed(paths):
        monkeypatch.syspath_prepend(entry)
    _registry.reset()
    yield {"PYTHONPATH": ":".join(paths)}
    _registry.reset()


# Errors a broker gives while its group coordinator is still starting. hop-client's
# reader raises on them instead of retrying, so its first read in a fresh broker can
# fail; a new attempt (a new group, reading from the start) is the same read.
_COORDINATOR_STARTING = ("NOT_COORDINATOR", "COORDINATOR_LOAD_IN_PROGRESS",
                         "COORDINATOR_NOT_AVAILABLE")  # fmt: skip


def _run_upstream(python: Path, script: str, *args: str, env: dict[str, str] | None = None) -> str:
    for attempt in range(5):
        try:
            return run_peer(python, script, *args, env=env, timeout=180).stdout
        except PeerError as exc:
            if attempt == 4 or not any(code in str(exc) for code in _COORDINATOR_STARTING):
                raise
    raise AssertionError("unreachable")


def _read_skyhop(url: str) -> dict[str, tuple[Any, Any]]:
    stream = Stream(auth=False, start_at=StartPosition.EARLIEST, until_eos=True)
    got = {}
    with stream.open(url, "r") as s:
        for model, md in s.read(metadata=True):
            got[md.headers[0][1].decode()] = (model, md)
    return got


def _header_shape(headers: list[tuple[str, bytes]]) -> list[tuple[str, bytes | int]]:
    # _id is random: compare its length only.
    return [(k, len(v) if k == "_id" else v) for k, v in headers]


@needs_testdata
def test_skyhop_messages_read_by_upstream_have_the_same_content_and_headers(
    make_topic: Callable[..., str],
    kafka_url: Callable[..., str],
    peers_python: Path,
    plugin_env: dict[str, str],
) -> None:
    url = kafka_url(make_topic(config=TOPIC_CONFIG))
    expected = {}
    with Stream(auth=False).open(url, "w") as s:
        for label, kind, arg, _ in CASES:
            message = build(kind, arg)
            s.write(message, headers=[("label", label.encode())])
            # What skyhop itself makes of the message after a trip through the codec.
            payload, headers = Producer.pack(message)
            fmt = dict(headers)["_format"]
            expected[label] = (describe(_codec.unpack(payload, headers)), fmt)

    got = json.loads(_run_upstream(peers_python, UPSTREAM_READ, url, env=plugin_env))

    assert sorted(got) == sorted(expected)
    for label, (description, fmt) in expected.items():
        seen = got[label]
        assert {k: seen[k] for k in ("type", "digest", "size")} == description, label
        keys = [k for k, _ in seen["headers"]]
        assert keys == ["label", "_id", "_format"], label
        headers = {k: bytes.fromhex(v) for k, v in seen["headers"]}
        assert len(headers["_id"]) == 16
        assert headers["_format"] == fmt, label


@needs_testdata
def test_upstream_messages_read_by_skyhop_have_the_same_content_and_bytes(
    make_topic: Callable[..., str],
    kafka_url: Callable[..., str],
    peers_python: Path,
    plugin_env: dict[str, str],
) -> None:
    theirs_url = kafka_url(make_topic(config=TOPIC_CONFIG))
    ours_url = kafka_url(make_topic(config=TOPIC_CONFIG))
    cases = [*CASES, ("avro-multi", "avro-records", json.dumps(AVRO_RECORDS), False)]
    spec = json.dumps([[label, kind, arg] for label, kind, arg, _ in cases])
    proc = run_peer(peers_python, UPSTREAM_WRITE, theirs_url, spec, env=plugin_env, timeout=180)
    sent = json.loads(proc.stdout)
    with Stream(auth=False).open(ours_url, "w") as s:
        for label, kind, arg, _ in cases:
            s.write(build(kind, arg), headers=[("label", label.encode())])

    theirs = _read_skyhop(theirs_url)
    ours = _read_skyhop(ours_url)

    assert sorted(theirs) == sorted(label for label, *_ in cases)
    for label, _kind, _arg, deterministic in cases:
        model, md = theirs[label]
        if sent[label] is not None:  # a model upstream described before sending
            assert describe(model) == sent[label], label
        assert describe(model) == describe(ours[label][0]), label
        assert _header_shape(md.headers) == _header_shape(ours[label][1].headers), label
        if deterministic:
            assert _same_payload(md._raw.value(), ours[label][1]._raw.value()), label
    # upstream can write several Avro records but not read them back; skyhop can
    assert theirs["avro-multi"][0].content == AVRO_RECORDS


def test_upstream_cannot_read_multi_record_avro_which_skyhop_reads(
    make_topic: Callable[..., str],
    kafka_url: Callable[..., str],
    peers_python: Path,
) -> None:
    url = kafka_url(make_topic())
    with Stream(auth=False).open(url, "w") as s:
        s.write(build("avro-records", json.dumps(AVRO_RECORDS)))
    stream = Stream(auth=False, start_at=StartPosition.EARLIEST, until_eos=True)
    with stream.open(url, "r") as s:
        (model,) = list(s.read())
    assert model.content == AVRO_RECORDS
    with pytest.raises(PeerError, match="AvroBlob requires content to be a single record"):
        _run_upstream(peers_python, UPSTREAM_READ_ALL, url)


@needs_testdata
def test_igwn_alert_over_the_topic_limit_fails_with_its_size_and_the_limit(
    make_topic: Callable[..., str], kafka_url: Callable[..., str]
) -> None:
    from hop.errors import MessageTooLargeError

    url = kafka_url(make_topic(config={"max.message.bytes": str(512 * 1024)}))
    alert = build("file:JSONBlob", str(IGWN_DATA / "MS181101ab-preliminary.json"))
    size = len(Producer.pack(alert)[0])
    with (
        pytest.raises(MessageTooLargeError) as info,
        Stream(auth=False).open(url, "w") as s,
    ):
        s.write(alert)
    assert str(size) in str(info.value)
    assert str(512 * 1024) in str(info.value)


def test_an_undecodable_message_in_a_stream_is_a_blob_with_a_warning_and_the_stream_goes_on(
    make_topic: Callable[..., str],
    kafka_url: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic = make_topic()
    url = kafka_url(topic)
    with Stream(auth=False).open(url, "w") as s:
        s.write_raw(b"<voe:VOEvent ivorn='x'>", headers=[("_format", b"voevent")])
        s.write_raw(b"\x00\x01", headers=[("_format", b"hologram")])
        s.write({"still": "flowing"})
    stream = Stream(auth=False, start_at=StartPosition.EARLIEST, until_eos=True)
    with caplog.at_level(logging.WARNING, logger="hop"), stream.open(url, "r") as s:
        got = list(s.read())
    assert got == [
        Blob(content=b"<voe:VOEvent ivorn='x'>"),
        Blob(content=b"\x00\x01"),
        JSONBlob(content={"still": "flowing"}),
    ]
    assert f"{topic}[0]@0 could not be decoded as voevent" in caplog.text
    assert f"{topic}[0]@1 has unknown format 'hologram'" in caplog.text
