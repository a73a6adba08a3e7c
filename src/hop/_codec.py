"""Model <-> Kafka bytes and headers, exactly as upstream hop-client 0.13 does it.

``pack`` turns a model (or a plain value) into the payload and header list that go to
Kafka; ``unpack`` turns a consumed payload and headers back into a model. Both are on
the hot path, so they avoid per-message work that can be done once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from random import getrandbits as _getrandbits
from typing import Any

from hop._models.base import (
    _ORJSON_OPTIONS,
    _has_non_finite,
    _orjson_dumps,
    json_encode,
    json_loads,
)
from hop._registry import models
from hop.errors import ConfigurationError
from hop.models import Blob, JSONBlob, MessageModel, format_name

__all__ = ["Headers", "normalize_headers", "pack", "unpack"]

logger = logging.getLogger("hop")

Headers = Mapping[str, str | bytes] | Sequence[tuple[str, str | bytes]]

_TEST_HEADER = ("_test", b"true")
_BLOB = format_name(Blob)
_JSON = format_name(JSONBlob)
_JSON_HEADER = ("_format", _JSON.encode("utf-8"))


# The headers pack() writes itself; a user header with one of these names would be
# taken for hop's own (readers use the first "_format" they see). Hopskotch reserves
# every name starting with "_", so user headers may not use any of them.
RESERVED_HEADERS = frozenset({"_id", "_sender", "_test", "_format"})


def normalize_headers(
    headers: Headers | None, *, allow_reserved: bool = False
) -> list[tuple[str, str | bytes]]:
    """Return user headers as a new list of ``(key, value)`` pairs.

    Parameters
    ----------
    headers : mapping or sequence of pairs, optional
        Header names are str; values are str, bytes or None.
    allow_reserved : bool
        Accept names starting with ``_`` (reserved for hop's own headers such as
        ``_id``, ``_sender``, ``_test``, ``_format``), for forwarding messages that
        already carry them (``write_raw``).

    Raises
    ------
    hop.errors.ConfigurationError
        For a malformed pair, a non-str name, a value of another type, or (unless
        ``allow_reserved``) a name starting with ``_``.
    """
    if not headers:
        return []
    items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    for item in items:
        try:
            key, value = item
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"a header must be a (key, value) pair, got {item!r}") from exc
        if not isinstance(key, str):
            raise ConfigurationError(f"header names must be str, got {key!r}")
        if not allow_reserved and key.startswith("_"):
            # Hopskotch reserves every name starting with '_' (the spec), not only the
            # ones hop writes today.
            raise ConfigurationError(
                f"header name {key!r} starts with '_', which Hopskotch reserves for its own "
                f"headers ({', '.join(sorted(RESERVED_HEADERS))}, ...); rename the header"
            )
        if value is not None and not isinstance(value, str | bytes | bytearray):
            raise ConfigurationError(
                f"header {key!r} has a value of type {type(value).__name__}; use str or bytes"
            )
    return items


def _payload(message: Any) -> tuple[bytes, str]:
    if isinstance(message, MessageModel):
        wire = message.serialize()
        return wire["content"], wire["format"]
    serialize = getattr(message, "serialize", None)
    if serialize is not None:
        wire = serialize()
        return wire["content"], wire["format"]
    if isinstance(message, bytes | bytearray | memoryview):
        return bytes(message), _BLOB
    try:
        return json_encode(message), _JSON
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"Unable to pack a message of type {type(message).__name__} which is not bytes "
            "and cannot be serialized to JSON"
        ) from exc


def pack(
    message: Any,
    headers: Headers | None = None,
    test: bool = False,
    sender: str | None = None,
) -> tuple[bytes, list[tuple[str, str | bytes]]]:
    """Encode a message and build its headers.

    Headers are the user's, then ``_id`` (16 raw UUID4 bytes), ``_sender`` (when a
    credential is in use), ``_test`` (when ``test``) and ``_format``: the order and
    encoding upstream hop-client 0.13 uses.
    """
    cls = type(message)
    format_header = _plain_models.get(cls)
    if cls is JSONBlob and _orjson_dumps is not None:
        # The most common message, encoded here rather than through bytes(message) and
        # json_encode: two Python calls cost more than orjson's encoding of an alert.
        # Anything unusual goes the long way (json_encode's fallbacks, its errors).
        try:
            payload = _orjson_dumps(message.content, option=_ORJSON_OPTIONS)
        except TypeError:
            payload = bytes(message)
        else:
            if b"null" in payload and _has_non_finite(message.content):
                payload = bytes(message)
        format_header = _JSON_HEADER
    elif format_header is not None:
        payload = bytes(message)
    else:
        payload, fmt = _payload(message)
        format_header = ("_format", fmt.encode("utf-8"))
        if getattr(cls, "serialize", None) is _BASE_SERIALIZE and len(_plain_models) < 256:
            _plain_models[cls] = format_header
    uid = next(_ids[0], None) or _next_id()
    if not (headers or sender or test):
        # The common case, built as one literal: a list and two appends less.
        return payload, [("_id", uid), format_header]
    out = normalize_headers(headers) if headers else []
    out.append(("_id", uid))
    if sender:
        out.append(("_sender", sender.encode("utf-8")))
    if test:
        out.append(_TEST_HEADER)
    out.append(format_header)
    return payload, out


# Model classes that keep MessageModel.serialize(), which is
# {"format": format_name(cls), "content": bytes(message)}: for them pack() calls
# __bytes__ directly and reuses the _format header instead of building both for every
# message. Filled on first use of each class (bounded: classes can be made at run time).
_BASE_SERIALIZE = MessageModel.serialize
_plain_models: dict[type, tuple[str, bytes]] = {}

_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)

# uuid.uuid4().bytes (version 4, RFC 4122 variant) from the random module, a fraction of
# os.urandom's cost: the id only tells messages apart, it is no secret. The generator is
# seeded from os.urandom and reseeded after fork. Ids are made in blocks (one
# getrandbits, mask and to_bytes per _ID_BLOCK messages, then a slice each), which with
# pack()'s inlined next() takes an id from ~0.17 us to ~0.03.
_ID_BLOCK = 256
_BLOCK_CLEAR = sum(_UUID4_CLEAR % (1 << 128) << (128 * i) for i in range(_ID_BLOCK))
_BLOCK_SET = sum(_UUID4_SET << (128 * i) for i in range(_ID_BLOCK))


def _id_block() -> Iterator[bytes]:
    bits = (_getrandbits(128 * _ID_BLOCK) & _BLOCK_CLEAR) | _BLOCK_SET
    block = bits.to_bytes(16 * _ID_BLOCK, "big")
    return iter([block[i : i + 16] for i in range(0, len(block), 16)])


_ids: list[Iterator[bytes]] = [_id_block()]


def _next_id() -> bytes:
    """A fresh ``_id`` (16 raw UUID4 bytes), from the current block of ids.

    ``next`` on a list iterator is atomic under the GIL, so threads never share an id;
    two threads finding the block empty at once each make a new one. :func:`pack`
    inlines the first line (a call costs as much as the id).
    """
    uid = next(_ids[0], None)
    if uid is None:
        _ids[0] = _id_block()
        uid = next(_ids[0])
    return uid


def _after_fork() -> None:
    # A child must not hand out the ids left in its parent's block.
    _ids[0] = _id_block()


os.register_at_fork(after_in_child=_after_fork)


def _format_header(headers: Sequence[tuple[str, Any]] | None) -> str | bytes | None:
    if headers:
        for key, value in headers:
            if key == "_format":
                return value  # type: ignore[no-any-return]
    return None


# Model by raw _format header value, for the registry it was looked up in: saves the
# decode and upper-casing on every message.
_by_header: dict[bytes, type[MessageModel]] = {}
_by_header_for: list[Any] = [None]


def _remember(fmt: bytes, cls: type[MessageModel], registry: Any) -> None:
    if _by_header_for[0] is not registry:
        _by_header.clear()
        _by_header_for[0] = registry
    if len(_by_header) < 256:  # header values come from the network; stay bounded
        _by_header[fmt] = cls


def _where_text(where: object) -> str:
    # ``where`` is text, or a Kafka message whose position is formatted only now: a
    # reader passes every message, and only the few that fail need their position.
    if isinstance(where, str):
        return where or "<message>"
    try:
        return f"{where.topic()}[{where.partition()}]@{where.offset()}"  # type: ignore[attr-defined]
    except Exception:
        return "<message>"


def _as_blob(data: bytes, where: object, reason: str, *args: Any) -> Blob:
    logger.warning("message %s " + reason + "; returning a Blob", _where_text(where), *args)
    return Blob(content=data)


def _decode(cls: Any, data: bytes) -> MessageModel:
    # A model may decode stream messages more leniently than its public deserialize
    # (AvroBlob: any number of records, where deserialize keeps upstream's one).
    from_stream = getattr(cls, "_from_stream", None)
    model: MessageModel = from_stream(data) if from_stream is not None else cls.deserialize(data)
    return model


def unpack(
    value: bytes | None,
    headers: Sequence[tuple[str, Any]] | None,
    where: object = "",
) -> MessageModel:
    """Decode a consumed message into a model.

    The reading rules of hop-client 0.13: the first ``_format`` header picks the model
    (case-insensitively); without one, the pre-0.6 envelope ``{"format", "content"}``,
    then any JSON (:class:`~hop.models.JSONBlob`), then :class:`~hop.models.Blob`.

    Unlike upstream, this never raises: a message with an unknown format, or one its
    model cannot decode, becomes a :class:`~hop.models.Blob` of the raw bytes and a
    warning names it by ``where``, so one bad message never stops a stream. ``where`` is
    a description, or the Kafka message itself (named ``topic[partition]@offset``, and
    formatted only if a warning is logged).
    """
    data = value if value is not None else b""
    fmt = _format_header(headers)
    registry = models()
    if fmt is not None:
        if type(fmt) is bytes and _by_header_for[0] is registry:
            known = _by_header.get(fmt)
            if known is not None:
                try:
                    return _decode(known, data)
                except Exception as exc:
                    return _as_blob(
                        data, where, "could not be decoded as %s: %s", fmt.decode(), exc
                    )
        try:
            name = fmt.decode("utf-8") if isinstance(fmt, bytes | bytearray) else str(fmt)
        except UnicodeDecodeError:
            return _as_blob(data, where, "has a _format header that is not UTF-8 (%r)", fmt)
        cls = registry.get(name.upper())
        if cls is not None and isinstance(fmt, bytes):
            _remember(fmt, cls, registry)
        if cls is None:
            return _as_blob(
                data,
                where,
                "has unknown format %r (known formats: %s)",
                name,
                ", ".join(sorted(registry)),
            )
        try:
            return _decode(cls, data)
        except Exception as exc:
            # A plugin's deserialize may raise anything; the stream must go on.
            return _as_blob(data, where, "could not be decoded as %s: %s", name, exc)
    try:
        obj = json_loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError):
        logger.info("message %s has an unknown format; returning a Blob", _where_text(where))
        return Blob(content=data)
    if isinstance(obj, Mapping) and "format" in obj and "content" in obj:
        return _unpack_legacy(obj, data, where, registry)
    return JSONBlob(content=obj)


def _unpack_legacy(
    obj: Mapping[str, Any],
    data: bytes,
    where: object,
    registry: Mapping[str, type[MessageModel]],
) -> MessageModel:
    # The pre-0.6 envelope: {"format": name, "content": the model's fields}.
    old_format = obj["format"]
    if old_format == "blob":
        # "blob" was the old name of what is now JSONBlob.
        return JSONBlob(content=obj["content"])
    cls = registry.get(str(old_format).upper())
    if cls is None:
        return _as_blob(data, where, "has unknown legacy format %r", old_format)
    content = obj["content"]
    if not isinstance(content, Mapping):
        return _as_blob(data, where, "has legacy %s content that is not an object", old_format)
    try:
        return cls(**content)
    except Exception as exc:
        return _as_blob(data, where, "has invalid legacy %s content: %s", old_format, exc)
