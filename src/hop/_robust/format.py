"""The RobustProducer's journal on disk: record format, scanning and salvage.

This module is pure file I/O; it knows nothing about Kafka or threads that send. The
bookkeeping of which message is queued or in flight lives in
:class:`hop.robust_publisher.PublicationJournal`.

File format, version 1
----------------------
All integers are big-endian and unsigned. A journal starts with a 16-byte header::

    8  magic  b"SKYHOPJ\\x00"
    2  format version (1)
    2  flags (0; reserved)
    4  CRC-32 of the 12 bytes above

followed by records, each framed as::

    4  body length N
    4  CRC-32 of (the length, the type byte, the body)
    1  record type: 1 = message, 2 = sent
    N  body

A *message* body holds one message that has to reach the broker::

    8  sequence number
    4  topic length, or 0xFFFFFFFF for "no topic"; then the UTF-8 topic
    4  key length, or 0xFFFFFFFF for "no key"; then the key bytes
    4  payload length; then the payload bytes
    4  number of headers; then for each header:
         4  name length; then the UTF-8 name
         4  value length, or 0xFFFFFFFF for a null value; then the value bytes

A *sent* body is one or more 8-byte sequence numbers whose messages the broker has
acknowledged (or refused for good); a message record followed by a sent record for
its number is finished. Sequence numbers are unique among the live messages of one
file.

Crash semantics
---------------
Records are appended with one ``write`` each. A process killed in the middle of a
``write`` (or a machine that loses power before an ``fsync``) can leave an
incomplete last record; such a *torn tail* belongs to a message whose ``write`` call
never returned, so opening the journal cuts it off and logs a warning with its byte
offset. Any other damage (a CRC mismatch, an impossible length, intact records after
a damaged one) raises :class:`~hop.errors.JournalCorruptError` with the offset of the
first damaged record; :func:`salvage` copies every intact record into a new journal.
As with any log of this kind, a file cut exactly on a record boundary cannot be told
from a complete one.

Opening, locking, appending and compacting the file is :mod:`hop._robust.file`'s job.
"""

from __future__ import annotations

import functools
import logging
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from hop.errors import JournalCorruptError, JournalError

__all__ = [
    "FORMAT_VERSION",
    "HEADER_SIZE",
    "MAGIC",
    "RECORD_MESSAGE",
    "RECORD_SENT",
    "Damage",
    "JournalMessage",
    "SalvageReport",
    "decode_message",
    "encode_header",
    "encode_message",
    "encode_sent",
    "load",
    "salvage",
    "scan",
]

logger = logging.getLogger("hop")

MAGIC = b"SKYHOPJ\x00"
FORMAT_VERSION = 1
RECORD_MESSAGE = 1
RECORD_SENT = 2
_RECORD_TYPES = frozenset({RECORD_MESSAGE, RECORD_SENT})

_HEADER = struct.Struct("!8sHHI")
HEADER_SIZE = _HEADER.size
_FRAME = struct.Struct("!IIB")
_FRAME_SIZE = _FRAME.size
_LEN_TYPE = struct.Struct("!IB")
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")
_NONE = 0xFFFFFFFF
_NONE_BYTES = _U32.pack(_NONE)

Header = tuple[str, bytes | None]


class JournalMessage(NamedTuple):
    """One message recorded in the journal, as it will be handed to Kafka.

    A named tuple rather than a frozen dataclass: one is built per message written,
    and a tuple is several times cheaper to create.
    """

    seq: int
    """Sequence number, unique among the live messages of the journal."""
    value: bytes
    """The packed payload."""
    headers: list[Header] = []  # shared default: headers lists are never mutated
    """Kafka headers; names are ``str``, values ``bytes`` (or ``None``)."""
    topic: str | None = None
    """Destination topic; ``None`` means the producer's default topic."""
    key: bytes | None = None
    """Kafka message key, if any."""


@dataclass(frozen=True, slots=True)
class Damage:
    """Where and why a journal stops being readable."""

    offset: int
    """Byte offset of the first damaged record (or of the header)."""
    reason: str
    """What is wrong there."""
    torn_tail: bool = False
    """True when the file merely ends inside its last record (an interrupted append)."""


# --------------------------------------------------------------------------- encoding


def encode_header(version: int = FORMAT_VERSION) -> bytes:
    """Return the 16-byte file header."""
    head = MAGIC + struct.pack("!HH", version, 0)
    return head + _U32.pack(zlib.crc32(head))


def _frame(rtype: int, body: bytes) -> bytes:
    crc = zlib.crc32(body, zlib.crc32(_LEN_TYPE.pack(len(body), rtype)))
    return _FRAME.pack(len(body), crc, rtype) + body


def encode_message(message: JournalMessage) -> bytes:
    """Return the framed record for one message.

    Raises
    ------
    hop.errors.JournalError
        If a field is 4 GiB or larger (no Kafka message comes close).
    """
    # Written out rather than looping over helpers: this runs once per message written.
    seq, value, headers, topic, key = message
    u32 = _U32.pack
    try:
        parts = [
            _U64.pack(seq),
            _NONE_BYTES if topic is None else _text_field(topic),
            _NONE_BYTES if key is None else u32(len(key)) + key,
            u32(len(value)), value, u32(len(headers)),
        ]
        for name, hvalue in headers:
            parts.append(_text_field(name))
            if hvalue is None:
                parts.append(_NONE_BYTES)
            else:
                parts += (u32(len(hvalue)), hvalue)
    except struct.error as exc:
        raise JournalError("a message field of 4 GiB or more cannot be journaled") from exc
    return _frame(RECORD_MESSAGE, b"".join(parts))


@functools.lru_cache(maxsize=256)
def _text_field(text: str) -> bytes:
    # Topics and header names repeat from message to message: encode each once.
    raw = text.encode("utf-8")
    return _U32.pack(len(raw)) + raw


def encode_sent(seqs: Sequence[int]) -> bytes:
    """Return the framed record saying that the messages ``seqs`` are finished."""
    if not seqs:
        raise ValueError("a sent record needs at least one sequence number")
    return _frame(RECORD_SENT, struct.pack(f"!{len(seqs)}Q", *seqs))


# --------------------------------------------------------------------------- decoding


class _BadRecord(Exception):
    """A record's frame or body is malformed (internal; becomes a Damage)."""

    def __init__(self, reason: str, *, incomplete: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.incomplete = incomplete


def _read_frame(buf: memoryview, pos: int) -> tuple[int, memoryview, int]:
    """Return ``(type, body, next_pos)`` of the record at ``pos``."""
    end = len(buf)
    if end - pos < _FRAME_SIZE:
        raise _BadRecord(f"only {end - pos} bytes of a record frame", incomplete=True)
    length, crc, rtype = _FRAME.unpack_from(buf, pos)
    if rtype not in _RECORD_TYPES:
        raise _BadRecord(f"unknown record type {rtype}")
    stop = pos + _FRAME_SIZE + length
    if stop > end:
        raise _BadRecord(
            f"record claims {length} bytes but the file ends after {end - pos - _FRAME_SIZE}",
            incomplete=True,
        )
    body = buf[pos + _FRAME_SIZE : stop]
    if zlib.crc32(body, zlib.crc32(_LEN_TYPE.pack(length, rtype))) != crc:
        raise _BadRecord("CRC mismatch")
    return rtype, body, stop


def _field(body: memoryview, pos: int, what: str) -> tuple[bytes | None, int]:
    if pos + 4 > len(body):
        raise _BadRecord(f"message record ends inside the length of its {what}")
    (length,) = _U32.unpack_from(body, pos)
    pos += 4
    if length == _NONE:
        return None, pos
    if pos + length > len(body):
        raise _BadRecord(f"message record's {what} runs past the end of the record")
    return bytes(body[pos : pos + length]), pos + length


def _text(raw: bytes | None, what: str) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _BadRecord(f"message record's {what} is not valid UTF-8") from exc


def decode_message(body: bytes | memoryview) -> JournalMessage:
    """Decode the body of a message record (the inverse of :func:`encode_message`)."""
    view = memoryview(body)
    if len(view) < 8:
        raise _BadRecord("message record too short for its sequence number")
    (seq,) = _U64.unpack_from(view, 0)
    raw_topic, pos = _field(view, 8, "topic")
    key, pos = _field(view, pos, "key")
    value, pos = _field(view, pos, "payload")
    if value is None:
        raise _BadRecord("message record has a null payload")
    if pos + 4 > len(view):
        raise _BadRecord("message record ends before its header count")
    (count,) = _U32.unpack_from(view, pos)
    pos += 4
    headers: list[Header] = []
    for i in range(count):
        raw_name, pos = _field(view, pos, f"header {i} name")
        name = _text(raw_name, f"header {i} name")
        if name is None:
            raise _BadRecord(f"message record's header {i} has a null name")
        hvalue, pos = _field(view, pos, f"header {i} value")
        headers.append((name, hvalue))
    if pos != len(view):
        raise _BadRecord(f"message record has {len(view) - pos} unexpected trailing bytes")
    return JournalMessage(seq, value, headers, _text(raw_topic, "topic"), key)


def _decode_sent(body: memoryview) -> tuple[int, ...]:
    if not body or len(body) % 8:
        raise _BadRecord(f"sent record of {len(body)} bytes is not a list of 8-byte numbers")
    return struct.unpack(f"!{len(body) // 8}Q", body)


def _check_header(buf: memoryview) -> Damage | None:
    """Return the damage in the file header, or None if it is valid (or torn)."""
    if len(buf) < HEADER_SIZE:
        if bytes(buf) == encode_header()[: len(buf)]:
            return Damage(0, "the file header is incomplete", torn_tail=True)
        return Damage(0, "the file is too short to be a journal and is not a journal's start")
    magic, version, _flags, crc = _HEADER.unpack_from(buf, 0)
    if magic != MAGIC:
        hint = ""
        if bytes(buf[:7]) == b"\x00" * 7 and buf[7] in (0, 1, 2):
            hint = (" (it looks like a journal written by upstream hop-client; "
                    "`hop journal salvage` converts it)")
        return Damage(0, f"not a skyhop journal: bad magic number{hint}")
    if zlib.crc32(buf[:12]) != crc:
        return Damage(0, "CRC mismatch in the file header")
    if version != FORMAT_VERSION:
        return Damage(0, f"journal format version {version}; this skyhop reads version "
                         f"{FORMAT_VERSION}")
    return None


def _resync(buf: memoryview, pos: int) -> int | None:
    """Return the offset of the next intact record at or after ``pos``, if any."""
    end = len(buf)
    for candidate in range(pos, end - _FRAME_SIZE + 1):
        # Cheap tests first; the CRC is only computed for a plausible frame.
        if buf[candidate + 8] not in _RECORD_TYPES:
            continue
        (length,) = _U32.unpack_from(buf, candidate)
        if candidate + _FRAME_SIZE + length > end:
            continue
        try:
            _read_frame(buf, candidate)
        except _BadRecord:
            continue
        return candidate
    return None


def scan(data: bytes | memoryview) -> tuple[list[tuple[int, int, memoryview]], Damage | None]:
    """Read the records of a journal up to the first damage.

    Returns
    -------
    records : list of (offset, type, body)
        Every intact record before the first damaged one.
    damage : Damage or None
        The first damaged record (``torn_tail`` when the file merely ends inside its
        last record and no intact record follows), or None for a clean file.
    """
    buf = memoryview(data)
    header_damage = _check_header(buf)
    if header_damage is not None:
        return [], header_damage
    records: list[tuple[int, int, memoryview]] = []
    pos = HEADER_SIZE
    while pos < len(buf):
        try:
            rtype, body, nxt = _read_frame(buf, pos)
        except _BadRecord as bad:
            torn = bad.incomplete and _resync(buf, pos + 1) is None
            return records, Damage(pos, bad.reason, torn_tail=torn)
        records.append((pos, rtype, body))
        pos = nxt
    return records, None


def load(data: bytes | memoryview, path: str) -> tuple[dict[int, JournalMessage], int]:
    """Replay a journal into its live messages.

    Parameters
    ----------
    data : bytes
        The whole file.
    path : str
        The file's name, for error messages.

    Returns
    -------
    messages : dict
        The live (unfinished) messages by sequence number, in journal order.
    end : int
        Length of the intact part of the file; a torn tail starts there.

    Raises
    ------
    JournalCorruptError
        For any damage other than a torn tail.
    """
    records, damage = scan(data)
    if damage is not None and not damage.torn_tail:
        raise _corrupt(path, damage.offset, damage.reason)
    live: dict[int, JournalMessage] = {}
    for offset, rtype, body in records:
        try:
            if rtype == RECORD_MESSAGE:
                msg = decode_message(body)
                if msg.seq in live:
                    raise _BadRecord(f"sequence number {msg.seq} is recorded twice")
                live[msg.seq] = msg
            else:
                for seq in _decode_sent(body):
                    if live.pop(seq, None) is None:
                        raise _BadRecord(f"sent record names unknown sequence number {seq}")
        except _BadRecord as bad:
            raise _corrupt(path, offset, bad.reason) from bad
    if damage is None:
        return live, len(data)
    if damage.offset == 0:
        return live, 0
    logger.warning(
        "journal %s ends with an incomplete record at byte offset %d (%d bytes: %s), left by "
        "an interrupted write; discarding it",
        path, damage.offset, len(data) - damage.offset, damage.reason,
    )
    return live, damage.offset


def _corrupt(path: str, offset: int, reason: str) -> JournalCorruptError:
    return JournalCorruptError(
        f"journal {path} is damaged at byte offset {offset}: {reason}; "
        f"recover the intact records with `hop journal salvage {path} NEW_JOURNAL`",
        path=path,
        offset=offset,
    )


# --------------------------------------------------------------------------- salvage


@dataclass(frozen=True, slots=True)
class SalvageReport:
    """What :func:`salvage` found and kept."""

    kept: int
    """Live messages written to the new journal."""
    finished: int
    """Intact messages dropped because a sent record finished them."""
    damaged: tuple[Damage, ...]
    """Each damaged stretch: its offset and reason (``reason`` names the bytes skipped)."""
    duplicates: int = 0
    """Intact message records whose sequence number was already taken (renumbered)."""
    upstream: bool = False
    """The input was a journal written by upstream hop-client (converted)."""


def _intact_records(buf: memoryview) -> Iterator[tuple[int, int, memoryview] | Damage]:
    """Yield every intact record, and a Damage for each unreadable stretch in between."""
    header_damage = _check_header(buf)
    pos = HEADER_SIZE
    if header_damage is not None:
        if header_damage.torn_tail:
            return
        nxt = _resync(buf, 0)
        yield Damage(0, f"{header_damage.reason}; skipped {nxt or len(buf)} bytes")
        if nxt is None:
            return
        pos = nxt
    while pos < len(buf):
        try:
            rtype, body, stop = _read_frame(buf, pos)
        except _BadRecord as bad:
            nxt = _resync(buf, pos + 1)
            skipped = (nxt if nxt is not None else len(buf)) - pos
            yield Damage(pos, f"{bad.reason}; skipped {skipped} bytes",
                         torn_tail=bad.incomplete and nxt is None)
            if nxt is None:
                return
            pos = nxt
            continue
        yield pos, rtype, body
        pos = stop


def salvage(data: bytes | memoryview) -> tuple[list[JournalMessage], SalvageReport]:
    """Recover every intact, unfinished message from a damaged journal.

    Unlike :func:`load`, this skips over damaged stretches to the next intact record.
    A message whose sent record was lost is kept (it will be sent again: at-least-once);
    a sent record whose message is unknown is ignored.

    Returns
    -------
    messages : list of JournalMessage
        Live messages, renumbered from 0 in journal order.
    report : SalvageReport
    """
    live: dict[int, JournalMessage] = {}
    extra: list[JournalMessage] = []
    damaged: list[Damage] = []
    finished = duplicates = 0
    for item in _intact_records(memoryview(data)):
        if isinstance(item, Damage):
            damaged.append(item)
            continue
        offset, rtype, body = item
        try:
            if rtype == RECORD_MESSAGE:
                msg = decode_message(body)
                if msg.seq in live:
                    duplicates += 1
                    extra.append(msg)
                else:
                    live[msg.seq] = msg
            else:
                for seq in _decode_sent(body):
                    if live.pop(seq, None) is not None:
                        finished += 1
        except _BadRecord as bad:
            damaged.append(Damage(offset, f"{bad.reason}; skipped the record"))
    kept = [
        JournalMessage(i, m.value, m.headers, m.topic, m.key)
        for i, m in enumerate([*live.values(), *extra])
    ]
    return kept, SalvageReport(len(kept), finished, tuple(damaged), duplicates)
