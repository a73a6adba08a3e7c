"""The part of BSON that the large-message offload service speaks.

The offload protocol (hop-client 0.11+) carries a message and its headers as a BSON
document: binary data (subtype 0), UTF-8 strings, arrays, nested documents and
integers. This module encodes and decodes exactly that subset, plus the other scalar
types a server might add (double, bool, null, UTC datetime as its integer).

Why not pymongo's ``bson``: it is a package of the MongoDB driver whose top-level
name clashes with the standalone ``bson`` package (the conflict that made hop-client
vendor its own copy, hop-client #248) and it brings the MongoDB driver along. Speed
did not decide against this codec (``./run bench offload``, medians): a 4 MiB upload
encodes in ~0.4-0.5 ms (pymongo ~0.7-0.8 ms, upstream's vendored py-bson ~8 ms) and
decodes at upstream's and pymongo's pace (~0.35-0.5 ms, one copy of the payload); a
small document costs ~15-20 us (pymongo ~1.4 us, upstream ~11-18 us), nothing next to
the HTTP round trip an offloaded message costs.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

from hop.errors import SerializationError

__all__ = ["BSONError", "decode", "encode"]

_INT32 = struct.Struct("<i")
_INT64 = struct.Struct("<q")
_DOUBLE = struct.Struct("<d")
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


#: Bytes that are not a BSON document of the supported subset, or a value that cannot
#: be encoded: a serialization error (a ValueError) like any other.
BSONError = SerializationError


def _cstring(name: str) -> bytes:
    raw = name.encode("utf-8")
    if b"\x00" in raw:
        raise BSONError(f"a BSON key cannot contain NUL: {name!r}")
    return raw + b"\x00"


def _element(name: str, value: Any, out: list[bytes]) -> int:
    """Append one element's parts to ``out``; return their total size."""
    key = _cstring(name)
    if isinstance(value, bytes):
        out += [b"\x05", key, _INT32.pack(len(value)), b"\x00", value]
        return 6 + len(key) + len(value)
    if isinstance(value, bytearray | memoryview):
        return _element(name, bytes(value), out)
    if isinstance(value, str):
        raw = value.encode("utf-8")
        out += [b"\x02", key, _INT32.pack(len(raw) + 1), raw, b"\x00"]
        return 6 + len(key) + len(raw)
    if isinstance(value, bool):  # before int: bool is an int
        out += [b"\x08", key, b"\x01" if value else b"\x00"]
        return 2 + len(key)
    if isinstance(value, int):
        if _INT32_MIN <= value <= _INT32_MAX:
            out += [b"\x10", key, _INT32.pack(value)]
            return 5 + len(key)
        out += [b"\x12", key, _INT64.pack(value)]
        return 9 + len(key)
    if isinstance(value, float):
        out += [b"\x01", key, _DOUBLE.pack(value)]
        return 9 + len(key)
    if value is None:
        out += [b"\x0a", key]
        return 1 + len(key)
    if isinstance(value, Mapping):
        out += [b"\x03", key]
        return 1 + len(key) + _document(value, out)
    if isinstance(value, Sequence):
        out += [b"\x04", key]
        return 1 + len(key) + _document({str(i): v for i, v in enumerate(value)}, out)
    raise BSONError(f"cannot encode {type(value).__name__} value of {name!r} as BSON")


def _document(doc: Mapping[str, Any], out: list[bytes]) -> int:
    # Parts are collected for one join at the end: a payload of megabytes is copied
    # once, not once per nesting level.
    slot = len(out)
    out.append(b"")  # the length, known once the elements are
    size = 5
    for name, value in doc.items():
        if not isinstance(name, str):
            raise BSONError(f"BSON keys are strings, not {type(name).__name__}")
        size += _element(name, value, out)
    out.append(b"\x00")
    out[slot] = _INT32.pack(size)
    return size


def encode(doc: Mapping[str, Any]) -> bytes:
    """Encode a mapping as a BSON document.

    ``bytes`` become binary (subtype 0), ``str`` strings, lists and tuples arrays,
    mappings nested documents; ints, floats, bools and None their BSON types.

    Raises
    ------
    BSONError
        A value of another type, or a key containing NUL.
    """
    out: list[bytes] = []
    _document(doc, out)
    return b"".join(out)


def _read_cstring(data: bytes, pos: int, end: int) -> tuple[str, int]:
    stop = data.find(b"\x00", pos, end)
    if stop < 0:
        raise BSONError(f"unterminated key at byte {pos}")
    try:
        return str(data[pos:stop], "utf-8"), stop + 1
    except UnicodeDecodeError as exc:
        raise BSONError(f"key at byte {pos} is not UTF-8") from exc


def _need(pos: int, size: int, end: int) -> None:
    if pos + size > end:
        raise BSONError(f"truncated BSON: {size} bytes needed at byte {pos}, {end - pos} left")


def _decode_document(data: bytes, pos: int, as_array: bool) -> tuple[Any, int]:
    _need(pos, 5, len(data))
    (length,) = _INT32.unpack_from(data, pos)
    end = pos + length
    if length < 5 or end > len(data) or data[end - 1] != 0:
        raise BSONError(f"bad BSON document length {length} at byte {pos}")
    pos += 4
    items: dict[str, Any] = {}
    while pos < end - 1:
        kind = data[pos]
        name, pos = _read_cstring(data, pos + 1, end - 1)
        value: Any
        if kind == 0x05:
            _need(pos, 5, end)
            (size,) = _INT32.unpack_from(data, pos)
            if size < 0:
                raise BSONError(f"negative binary length at byte {pos}")
            _need(pos + 5, size, end)
            value = bytes(data[pos + 5 : pos + 5 + size])
            pos += 5 + size
        elif kind == 0x02:
            _need(pos, 4, end)
            (size,) = _INT32.unpack_from(data, pos)
            _need(pos + 4, size, end)
            if size < 1 or data[pos + 4 + size - 1] != 0:
                raise BSONError(f"bad string at byte {pos}")
            try:
                value = str(data[pos + 4 : pos + 4 + size - 1], "utf-8")
            except UnicodeDecodeError as exc:
                raise BSONError(f"string at byte {pos} is not UTF-8") from exc
            pos += 4 + size
        elif kind in (0x03, 0x04):
            value, pos = _decode_document(data, pos, as_array=kind == 0x04)
        elif kind == 0x10:
            _need(pos, 4, end)
            (value,) = _INT32.unpack_from(data, pos)
            pos += 4
        elif kind in (0x12, 0x09):  # int64; UTC datetime (milliseconds) as its integer
            _need(pos, 8, end)
            (value,) = _INT64.unpack_from(data, pos)
            pos += 8
        elif kind == 0x01:
            _need(pos, 8, end)
            (value,) = _DOUBLE.unpack_from(data, pos)
            pos += 8
        elif kind == 0x08:
            _need(pos, 1, end)
            value = data[pos] != 0
            pos += 1
        elif kind == 0x0A:
            value = None
        else:
            raise BSONError(f"unsupported BSON element type 0x{kind:02x} for key {name!r}")
        items[name] = value
    if pos != end - 1:
        raise BSONError(f"BSON document at byte {end - length} overruns its length")
    return (list(items.values()) if as_array else items), end


def decode(data: bytes | bytearray | memoryview) -> dict[str, Any]:
    """Decode one BSON document (the whole of ``data``) into a dict.

    Binary becomes ``bytes``, arrays ``list``, documents ``dict``.

    Raises
    ------
    BSONError
        Not a well-formed document of the supported subset, or trailing bytes.
    """
    raw = data if isinstance(data, bytes) else bytes(data)
    doc, end = _decode_document(raw, 0, as_array=False)
    if end != len(raw):
        raise BSONError(f"{len(raw) - end} bytes after the BSON document")
    assert isinstance(doc, dict)
    return doc
