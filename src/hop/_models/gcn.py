"""GCN circulars (RFC 822 text, JSON on the wire) and GCN classic text notices."""

from __future__ import annotations

import email
import json
import logging
import re
from dataclasses import dataclass
from typing import Any, ClassVar

from hop._models.base import (
    MessageModel,
    _decode_utf8,
    _loads_json,
    _naming,
    _read_bytes,
    _read_text,
    _source_of,
)
from hop.errors import SerializationError

__all__ = ["GCNCircular", "GCNTextNotice"]

logger = logging.getLogger("hop")

# An RFC 822 header line: printable ASCII name without a colon, then a colon.
_HEADER_LINE = re.compile(r"[\x21-\x39\x3b-\x7e]+:")


def _check_circular_headers(text: str, what: str) -> None:
    """Refuse text whose header block is not RFC 822 headers.

    The email parser accepts anything (a non-header line silently ends the headers),
    which would turn a wrong file into a circular with a garbled header; check first so
    the error can name the line.
    """
    n_headers = 0
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            break
        if line[0] in " \t":
            if n_headers == 0:
                break
            continue  # a folded continuation of the previous header
        if not _HEADER_LINE.match(line):
            raise SerializationError(
                f"{what}: line {lineno} is neither a 'NAME: value' header nor the blank "
                f"line that ends the headers: {line[:60]!r}",
                position=f"line {lineno}",
            )
        n_headers += 1
    if n_headers == 0:
        raise SerializationError(
            f"{what} has no header lines (expected 'TITLE:', 'NUMBER:', ... before the body)",
            position="line 1",
        )


@dataclass
class GCNCircular(MessageModel):
    """Defines a GCN Circular structure.

    The parsed GCN circular is formatted as a dictionary with the following schema::

        {'header': {'title': ..., 'number': ..., ...}, 'body': ...}

    On the wire it is the JSON ``{"header": {...}, "body": "..."}``; ``bytes()`` and
    ``str()`` give the circular as text.

    Attributes
    ----------
    header : dict
        The header lines, names in lower case.
    body : str
        Everything after the blank line that ends the header.
    """

    header: dict[str, Any]
    body: str

    format_name: ClassVar[str] = "circular"

    def __str__(self) -> str:
        lines = [(name.upper() + ":").ljust(9) + str(value) for name, value in self.header.items()]
        return "\n".join([*lines, "", self.body])

    def __bytes__(self) -> bytes:
        return str(self).encode("utf-8")

    def serialize(self) -> dict[str, Any]:
        """Wrap the message with its format and its JSON encoding.

        Returns
        -------
        dict
            ``{"format": "circular", "content": b'{"header": {...}, "body": "..."}'}``.
        """
        content = json.dumps({"header": self.header, "body": self.body}).encode("utf-8")
        return {"format": self.format_name, "content": content}

    @classmethod
    def deserialize(cls, data: bytes) -> GCNCircular:
        """Decode the JSON wire form.

        Raises
        ------
        hop.errors.SerializationError
            If ``data`` is not ``{"header": {...}, "body": "..."}`` in UTF-8 JSON.
        """
        obj = _loads_json(data, "GCN circular message")
        if type(obj) is dict and len(obj) == 2:
            header, body = obj.get("header"), obj.get("body")
            if type(header) is dict and type(body) is str:
                return cls(header=header, body=body)
        raise SerializationError(
            'a GCN circular message must be the JSON object {"header": {...}, "body": "..."}',
            raw=data,
        )

    @classmethod
    def load(cls, email_input: Any) -> GCNCircular:
        """Create a new GCNCircular from an RFC 822 formatted circular.

        Parameters
        ----------
        email_input : file object, str or bytes
            The circular text.

        Returns
        -------
        GCNCircular
            The circular. Header names are lower-cased; a repeated header keeps its
            last value (as upstream hop-client does) and logs a warning.

        Raises
        ------
        hop.errors.SerializationError
            If the text is not UTF-8, has no header lines, or has a line in the header
            block that is not a header (the message names the line).
        """
        with _naming(_source_of(email_input)):
            text = _read_text(email_input, "GCN circular")
            _check_circular_headers(text, "GCN circular")
            message = email.message_from_string(text)
            header: dict[str, Any] = {}
            for name, value in message.items():
                key = name.lower()
                if key in header:
                    logger.warning(
                        "GCN circular repeats the header %s; keeping the last value", name
                    )
                header[key] = value
            body = message.get_payload()
            return cls(header=header, body=body if isinstance(body, str) else str(body))

    @classmethod
    def load_file(cls, filename: str) -> GCNCircular:
        """Create a new GCNCircular from a file (read as UTF-8)."""
        with open(filename, "rb") as f, _naming(str(filename)):
            return cls.load(f.read())


def _parse_notice(text: str) -> dict[str, str]:
    # One 'KEY: value' per line; a line without a colon continues the previous key and
    # a repeated key appends its value, each joined with a newline.
    fields: dict[str, str] = {}
    last_key = None
    for line in text.strip().splitlines():
        key, colon, value = line.partition(":")
        if not colon:
            if last_key is not None:
                fields[last_key] += "\n" + line.lstrip()
            continue
        last_key = key.strip().lower()
        value = value.strip()
        if last_key in fields:
            fields[last_key] += "\n" + value
        else:
            fields[last_key] = value
    return fields


@dataclass
class GCNTextNotice(MessageModel):
    """Defines a GCN classic text notice.

    The original text travels unchanged; the ``KEY: value`` lines are parsed into
    ``fields`` (keys lower-cased; continuation lines and repeated keys joined with a
    newline).

    Attributes
    ----------
    raw : bytes
        The notice exactly as received or loaded.
    fields : dict
        The parsed fields.
    """

    raw: bytes
    fields: dict[str, str]

    def __bytes__(self) -> bytes:
        return self.raw

    @classmethod
    def deserialize(cls, data: bytes) -> GCNTextNotice:
        """Parse a notice from its text.

        Raises
        ------
        hop.errors.SerializationError
            If ``data`` is not UTF-8 or has no ``KEY: value`` line.
        """
        raw = bytes(data)
        fields = _parse_notice(_decode_utf8(raw, "GCN text notice"))
        if not fields:
            raise SerializationError(
                "GCN text notice has no 'KEY: value' line", raw=raw, position="line 1"
            )
        return cls(raw=raw, fields=fields)

    @classmethod
    def load(cls, input: Any) -> GCNTextNotice:
        """Create a notice from a file object, bytes or str (upstream's parameter name)."""
        with _naming(_source_of(input)):
            return cls.deserialize(_read_bytes(input, "GCN text notice"))

    @classmethod
    def load_file(cls, filename: str) -> GCNTextNotice:
        """Create a notice from a file, keeping its bytes."""
        with open(filename, "rb") as f, _naming(str(filename)):
            return cls.deserialize(f.read())
