"""Converting journals written by upstream hop-client (format built from its spec)."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from hop._robust.format import load
from hop._robust.upstream import looks_upstream, read_upstream
from hop.cli._journal import salvage_main


def _u64(value: int) -> bytes:
    return struct.pack("!Q", value)


def _chunk(data: bytes) -> bytes:
    return _u64(len(data)) + data


def _record(rtype: int, body: bytes) -> bytes:
    head = _u64(rtype) + _u64(len(body)) + struct.pack("!I", zlib.crc32(body))
    return head + struct.pack("!I", zlib.crc32(head)) + body


def _v2(seq: int, payload: bytes, topic: str = "top", key: bytes = b"") -> bytes:
    headers = _u64(2) + _chunk(b"_id") + _chunk(b"0123456789abcdef") + _chunk(b"k") + _chunk(b"v")
    body = _u64(seq) + _chunk(topic.encode()) + _chunk(payload) + _chunk(key) + headers
    return _record(2, body)


def _v1(seq: int, payload: bytes) -> bytes:
    return _record(0, _u64(seq) + _chunk(payload) + _u64(0))


def test_v2_record_is_recognised_and_read() -> None:
    record = _v2(0, b"MSG", key=b"K")
    assert looks_upstream(record)
    [msg], report = read_upstream(record)
    assert (msg.value, msg.topic, msg.key) == (b"MSG", "top", b"K")
    assert msg.headers == [("_id", b"0123456789abcdef"), ("k", b"v")]
    assert report.kept == 1 and not report.damaged


def test_sent_messages_are_dropped_and_v1_records_read() -> None:
    data = _v2(0, b"a") + _v1(1, b"b") + _v2(2, b"c") + _record(1, _u64(0))
    messages, report = read_upstream(data)
    assert [(m.value, m.topic, m.key) for m in messages] == [
        (b"b", None, None),
        (b"c", "top", None),
    ]
    assert report.finished == 1


def test_damaged_body_is_skipped_and_reported() -> None:
    good, bad = _v2(0, b"good"), bytearray(_v2(1, b"bad!"))
    bad[-1] ^= 0xFF
    messages, report = read_upstream(good + bytes(bad) + _v2(2, b"after"))
    assert [m.value for m in messages] == [b"good", b"after"]
    assert [d.offset for d in report.damaged] == [len(good)]


def test_salvage_command_converts_an_upstream_journal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = tmp_path / "publisher.journal", tmp_path / "new.journal"
    old.write_bytes(_v2(0, b"x") + _v2(1, b"y") + _record(1, _u64(1)))
    assert salvage_main([str(old), str(new)]) == 0
    assert "upstream hop-client journal" in capsys.readouterr().out
    live, _ = load(new.read_bytes(), str(new))
    assert [m.value for m in live.values()] == [b"x"]
