"""Read journals written by upstream hop-client's PublicationJournal, to migrate them.

``hop journal salvage OLD NEW`` converts such a file into skyhop's format, so a
publisher upgraded from hop-client loses nothing that its old journal still held.

Upstream's format (hop-client 0.13; all integers big-endian): records of ::

    8  record type: 0 = message v1, 1 = sent, 2 = message v2
    8  body length
    4  CRC-32 of the body
    4  CRC-32 of the 20 bytes above
    N  body

A v2 message body is ``u64 seq, u64 len + topic, u64 len + payload, u64 len + key
(0: no key), u64 header count`` and per header ``u64 len + name, u64 len + value``;
v1 lacks the topic and key. A sent body is ``u64 seq``.
"""

from __future__ import annotations

import struct
import zlib

from hop._robust.format import Damage, JournalMessage, SalvageReport

__all__ = ["looks_upstream", "read_upstream"]

_HEAD = struct.Struct("!QQII")
_U64 = struct.Struct("!Q")
_MESSAGE_V1, _SENT, _MESSAGE_V2 = 0, 1, 2


class _Bad(Exception):
    pass


def looks_upstream(data: bytes) -> bool:
    """Whether ``data`` starts with an intact upstream record header."""
    if len(data) < _HEAD.size:
        return False
    rtype, _length, _bcrc, hcrc = _HEAD.unpack_from(data, 0)
    return rtype in (_MESSAGE_V1, _SENT, _MESSAGE_V2) and zlib.crc32(data[:20]) == hcrc


class _Reader:
    def __init__(self, body: bytes) -> None:
        self.body, self.pos = body, 0

    def u64(self) -> int:
        if self.pos + 8 > len(self.body):
            raise _Bad("record ends inside a length field")
        (value,) = _U64.unpack_from(self.body, self.pos)
        self.pos += 8
        return int(value)

    def chunk(self) -> bytes:
        length = self.u64()
        if self.pos + length > len(self.body):
            raise _Bad("a field runs past the end of its record")
        out = self.body[self.pos : self.pos + length]
        self.pos += length
        return out


def _message(rtype: int, body: bytes) -> JournalMessage:
    r = _Reader(body)
    seq = r.u64()
    topic: str | None = None
    key: bytes | None = None
    if rtype == _MESSAGE_V2:
        topic = r.chunk().decode("utf-8") or None
    value = r.chunk()
    if rtype == _MESSAGE_V2:
        key = r.chunk() or None
    headers: list[tuple[str, bytes | None]] = []
    for _ in range(r.u64()):
        name = r.chunk().decode("utf-8")
        headers.append((name, r.chunk()))
    if r.pos != len(body):
        raise _Bad("unexpected bytes at the end of a message record")
    return JournalMessage(seq, value, headers, topic, key)


def read_upstream(data: bytes) -> tuple[list[JournalMessage], SalvageReport]:
    """Recover the unsent messages of an upstream journal (renumbered from 0).

    A record whose body is damaged is skipped; reading stops at a damaged record
    header, since upstream's format has nothing to resynchronise on.
    """
    live: dict[int, JournalMessage] = {}
    damaged: list[Damage] = []
    finished = 0
    pos = 0
    while pos < len(data):
        if len(data) - pos < _HEAD.size:
            damaged.append(Damage(pos, "incomplete record header", torn_tail=True))
            break
        rtype, length, bcrc, hcrc = _HEAD.unpack_from(data, pos)
        if zlib.crc32(data[pos : pos + 20]) != hcrc:
            damaged.append(Damage(pos, f"damaged record header; skipped {len(data) - pos} bytes"))
            break
        body = data[pos + _HEAD.size : pos + _HEAD.size + length]
        if len(body) < length:
            damaged.append(Damage(pos, "incomplete record", torn_tail=True))
            break
        try:
            if zlib.crc32(body) != bcrc:
                raise _Bad("CRC mismatch")
            if rtype == _SENT:
                if live.pop(_Reader(body).u64(), None) is not None:
                    finished += 1
            elif rtype in (_MESSAGE_V1, _MESSAGE_V2):
                msg = _message(rtype, body)
                live[msg.seq] = msg
            else:
                raise _Bad(f"unknown record type {rtype}")
        except (_Bad, UnicodeDecodeError) as exc:
            damaged.append(Damage(pos, f"{exc}; skipped the record"))
        pos += _HEAD.size + length
    kept = [
        JournalMessage(i, m.value, m.headers, m.topic, m.key)
        for i, m in enumerate(live.values())
    ]
    return kept, SalvageReport(len(kept), finished, tuple(damaged))
