"""Model <-> Kafka bytes and headers, exactly as upstream hop-client 0.13 does it.

``pack`` turns a model (or a plain value) into the payload and header list that go to
Kafka; ``unpack`` turns a consumed payload and headers back into a model. Both are on
the hot path, so they avoid per-message work that can be done once.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from hop.errors import ConfigurationError
from hop.models import Blob, JSONBlob, MessageModel

__all__ = ["Headers", "normalize_headers", "pack", "unpack"]

logger = logging.getLogger("hop")

Headers = Mapping[str, str | bytes] | Sequence[tuple[str, str | bytes]]

_TEST_HEADER = ("_test", b"true")


def normalize_headers(headers: Headers | None) -> list[tuple[str, str | bytes]]:
    """Return user headers as a list of ``(key, value)``, refusing reserved names."""
    if not headers:
        return []
    items = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
    for item in items:
        try:
            key, value = item
        except (TypeError, ValueError):
            raise ConfigurationError(
                f"a header must be a (key, value) pair, got {item!r}"
            ) from None
        if not isinstance(key, str):
            raise ConfigurationError(f"header names must be str, got {key!r}")
        if key.startswith("_"):
            raise ConfigurationError(
                f"header name {key!r} starts with '_', which Hopskotch reserves for its own "
                "headers (_id, _sender, _test, _format); rename the header"
            )
        if not isinstance(value, str | bytes | bytearray):
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
        return bytes(message), Blob.format_name
    try:
        return json.dumps(message).encode("utf-8"), JSONBlob.format_name
    except (TypeError, ValueError):
        raise TypeError(
            f"Unable to pack a message of type {type(message).__name__} which is not bytes "
            "and cannot be serialized to JSON"
        ) from None


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
    payload, fmt = _payload(message)
    out = normalize_headers(headers)
    out.append(("_id", uuid.uuid4().bytes))
    if sender:
        out.append(("_sender", sender.encode("utf-8")))
    if test:
        out.append(_TEST_HEADER)
    out.append(("_format", fmt.encode("utf-8")))
    return payload, out


def _models() -> dict[str, type[MessageModel]]:
    # The full registry (built-in models plus plugins) is built by hop._registry when it
    # exists; this fallback keeps the codec usable on its own.
    try:
        from hop._registry import models
    except ImportError:
        return {"BLOB": Blob, "JSON": JSONBlob}
    return models()


def _format_header(headers: Sequence[tuple[str, Any]] | None) -> str | None:
    if headers:
        for key, value in headers:
            if key == "_format":
                return value.decode("utf-8") if isinstance(value, bytes) else str(value)
    return None


def unpack(
    value: bytes | None,
    headers: Sequence[tuple[str, Any]] | None,
    where: str = "",
) -> MessageModel:
    """Decode a consumed message into a model.

    ``where`` (``topic[partition]@offset``) names the message in warnings. A message
    that cannot be decoded becomes a :class:`~hop.models.Blob` with a warning: a
    malformed message never stops a stream.
    """
    data = value if value is not None else b""
    fmt = _format_header(headers)
    models = _models()
    if fmt is not None:
        cls = models.get(fmt.upper())
        if cls is None:
            logger.warning(
                "message %s has unknown format %r; returning a Blob (known formats: %s)",
                where,
                fmt,
                ", ".join(sorted(models)),
            )
            return Blob(content=data)
        try:
            return cls.deserialize(data)
        except Exception as exc:
            logger.warning(
                "message %s could not be decoded as %s (%s); returning a Blob", where, fmt, exc
            )
            return Blob(content=data)
    try:
        obj = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        return Blob(content=data)
    if isinstance(obj, Mapping) and "format" in obj and "content" in obj:
        # The pre-0.6 envelope: {"format": name, "content": fields}.
        old_format = obj["format"]
        if old_format == "blob":
            return JSONBlob(content=obj["content"])
        cls = models.get(str(old_format).upper())
        if cls is None:
            logger.warning(
                "message %s has unknown legacy format %r; returning a Blob", where, old_format
            )
            return Blob(content=data)
        try:
            return cls(**obj["content"])
        except Exception as exc:
            logger.warning(
                "message %s: legacy %s content is invalid (%s); returning a Blob",
                where,
                old_format,
                exc,
            )
            return Blob(content=data)
    return JSONBlob(content=obj)
