"""The model protocol (:class:`MessageModel`) and the models that need no parser."""

from __future__ import annotations

import json
from abc import ABC
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from inspect import isgenerator
from typing import Any, ClassVar, TypeVar

from hop.errors import SerializationError

__all__ = [
    "Blob",
    "ExternalMessage",
    "JSONBlob",
    "JSONType",
    "MessageModel",
    "format_name",
]

JSONType = str | int | float | bool | None | dict[str, Any] | list[Any]

_M = TypeVar("_M", bound="MessageModel")


def format_name(cls: type) -> str:
    """Return the wire format name of a model class.

    Parameters
    ----------
    cls : type
        A message model class.

    Returns
    -------
    str
        The class attribute ``format_name`` when the class (or a base) defines one as a
        string, else the class name in lower case.
    """
    name = getattr(cls, "format_name", None)
    return name if isinstance(name, str) else cls.__name__.lower()


# -- input helpers shared by the models -----------------------------------------------


def _source_of(input_: Any) -> str | None:
    name = getattr(input_, "name", None)
    return name if isinstance(name, str) else None


def _read_bytes(input_: Any, what: str) -> bytes:
    """Return the bytes of ``input_``: bytes, str (UTF-8), a file object or a generator."""
    if isinstance(input_, bytes):
        return input_
    if isinstance(input_, bytearray | memoryview):
        return bytes(input_)
    if isinstance(input_, str):
        return input_.encode("utf-8")
    if hasattr(input_, "read"):
        data = input_.read()
        return data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if isgenerator(input_):
        chunks: list[Any] = list(input_)
        return b"".join(c.encode("utf-8") if isinstance(c, str) else bytes(c) for c in chunks)
    raise TypeError(
        f"{what} input must be bytes, str, a file object or a generator, "
        f"not {type(input_).__name__}"
    )


def _decode_utf8(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SerializationError(
            f"{what} is not valid UTF-8 text: {exc.reason} at byte {exc.start}",
            raw=data,
            position=f"byte {exc.start}",
        ) from exc


def _read_text(input_: Any, what: str) -> str:
    if isinstance(input_, str):
        return input_
    if hasattr(input_, "read"):
        data = input_.read()
        if isinstance(data, str):
            return data
        return _decode_utf8(bytes(data), what)
    return _decode_utf8(_read_bytes(input_, what), what)


class _JSONError(SerializationError, json.JSONDecodeError):
    """Input that is not JSON: also the ``json.JSONDecodeError`` hop-client's models raise.

    Code written for upstream catches ``json.JSONDecodeError`` from ``JSONBlob.load``,
    ``ExternalMessage.load`` and the models' ``deserialize``; ``msg``, ``doc``, ``pos``,
    ``lineno`` and ``colno`` are the decoder's.
    """

    _DECODER_FIELDS = ("msg", "doc", "pos", "lineno", "colno")

    def __init__(
        self,
        message: str,
        *,
        raw: bytes | None = None,
        source: str | None = None,
        position: str | None = None,
    ) -> None:
        # json.JSONDecodeError's own __init__ wants (msg, doc, pos); the fields are set
        # by _json_error, or copied by _naming.
        ValueError.__init__(self, message)
        self.raw = raw
        self.source = source
        self.position = position
        self.msg, self.doc, self.pos, self.lineno, self.colno = message, "", 0, 1, 1


def _json_error(exc: json.JSONDecodeError, data: bytes | str, what: str) -> SerializationError:
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    err = _JSONError(
        f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
        raw=raw,
        position=f"line {exc.lineno}, column {exc.colno}",
    )
    for name in _JSONError._DECODER_FIELDS:
        setattr(err, name, getattr(exc, name))
    return err


def _one_shot_encoder() -> Any:
    # The C encoder json.dumps() builds anew on every call, built once with the same
    # settings (ensure_ascii, ", " and ": ", allow_nan). Without a markers dict it keeps
    # no state, so threads can share it; it skips the circular-reference check, which
    # json_dumps() leaves to the standard library when encoding fails.
    #
    # json.encoder.c_make_encoder is a CPython internal; it is kept, with the public
    # json.dumps as the fallback, because it pays: Producer.pack of a small JSON message
    # took 1.35-1.7x as long with json.dumps (+5 to +10 us on a loaded 2-core machine),
    # and `./run bench models` put JSON encoding at 3.7x upstream with it and 2.3x
    # without. tests/unit/test_json_encoding.py pins its output to json.dumps's.
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # pragma: no cover - CPython always has the C accelerator
        return None
    default = json.JSONEncoder().default
    return make(None, default, json.encoder.encode_basestring_ascii, None, ": ", ", ",
                False, False, True)  # fmt: skip


_ENCODER = _one_shot_encoder()


def json_dumps(obj: Any) -> str:
    """``json.dumps(obj)``: the same text, ~1.5 us (a third) less per small document.

    Anything the shared encoder cannot encode (unknown types, circular or too deep
    structures) is encoded again by ``json.dumps``, so errors are exactly its own.
    """
    if _ENCODER is not None:
        try:
            return "".join(_ENCODER(obj, 0))
        except (TypeError, ValueError, RecursionError):
            pass
    return json.dumps(obj)


def _has_non_finite(obj: Any) -> bool:
    # NaN and the infinities, which orjson writes as null and json.dumps as NaN/Infinity.
    stack = [obj]
    pop, push = stack.pop, stack.extend
    while stack:
        value = pop()
        kind = type(value)
        if kind is dict:
            push(value.values())
        elif kind is list or kind is tuple:
            push(value)
        elif kind is float and value - value != 0.0:
            return True
    return False


def _stdlib_encode(obj: Any) -> bytes:
    return json_dumps(obj).encode("utf-8")


try:
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is a dependency; stay usable without it
    json_encode = _stdlib_encode
    _orjson_dumps: Any = None
    _ORJSON_OPTIONS = 0
else:
    _orjson_dumps = _orjson.dumps
    # Subclasses of str/int/dict/list, dataclasses and datetimes are refused rather
    # than converted (json.dumps treats them differently or refuses them).
    _ORJSON_OPTIONS = (
        _orjson.OPT_PASSTHROUGH_SUBCLASS
        | _orjson.OPT_PASSTHROUGH_DATACLASS
        | _orjson.OPT_PASSTHROUGH_DATETIME
    )
    _OrjsonEncodeError = _orjson.JSONEncodeError

    def json_encode(obj: Any) -> bytes:
        """JSON as UTF-8 bytes that decode to exactly what ``json.dumps(obj)`` decodes to.

        The text is orjson's (compact, UTF-8 rather than ``\\u`` escapes), about ten
        times faster than ``json.dumps`` on alert-sized documents. Readers get the same
        value either way: ``json.loads`` of both is equal (``tests/unit/
        test_json_encoding.py`` proves it with hypothesis). Where orjson would write
        another value, the text is ``json.dumps``'s: NaN and infinities, integers beyond
        64 bits, non-string keys, lone surrogates, subclasses of the JSON types and
        nesting deeper than orjson's 255 levels.

        Values ``json.dumps`` refuses are refused with its error (dataclasses, dates,
        sets, arbitrary objects), except the two orjson always encodes: a UUID (as its
        string) and an enum member (as its value). Refusing those too would need a
        walk of every document, which costs four times orjson's encoding itself.
        """
        try:
            out: bytes = _orjson_dumps(obj, option=_ORJSON_OPTIONS)
        except _OrjsonEncodeError:
            return _stdlib_encode(obj)
        # orjson writes NaN and infinities as null; only a document with a null in it
        # can hold one, so only those are walked.
        if b"null" in out and _has_non_finite(obj):
            return _stdlib_encode(obj)
        return out


def _stdlib_loads(data: bytes | str) -> Any:
    return json.loads(data.decode("utf-8") if isinstance(data, bytes) else data)


try:
    import orjson
except ImportError:  # pragma: no cover - orjson is a dependency; stay usable without it
    json_loads = _stdlib_loads
else:
    _orjson_loads = orjson.loads
    _OrjsonError = orjson.JSONDecodeError

    def json_loads(data: bytes | str) -> Any:
        """``json.loads(data.decode("utf-8"))``, 1.5-5x faster on alert-sized documents.

        orjson is strict RFC 8259; whatever it refuses (NaN, integers beyond 64 bits,
        lone surrogates, very deep nesting, bad input) goes to the standard library,
        so the result and the errors are exactly the standard library's.
        """
        try:
            obj = _orjson_loads(data)
        except _OrjsonError:
            return _stdlib_loads(data)
        if _maybe_big_integer(obj):
            return _stdlib_loads(data)
        return obj

    def _maybe_big_integer(obj: Any) -> bool:
        # orjson reads integers outside [-2**63, 2**64) as floats, where the standard
        # library keeps them exact. Such a float means: decode again. The walk visits
        # nodes, not bytes: an alert's kilobytes of base64 are one string.
        stack = [obj]
        pop, push = stack.pop, stack.extend
        while stack:
            value = pop()
            kind = type(value)
            if kind is dict:
                push(value.values())
            elif kind is list:
                push(value)
            elif kind is float and not -9.2e18 < value < 1.8e19:
                return True
        return False


def _loads_json(data: bytes | str, what: str) -> Any:
    """:func:`json_loads`, with bad input as a :class:`SerializationError`."""
    try:
        return json_loads(data)
    except UnicodeDecodeError:
        if isinstance(data, bytes):
            _decode_utf8(data, what)  # raises, naming the byte
        raise
    except json.JSONDecodeError as exc:
        raise _json_error(exc, data, what) from exc
    except RecursionError as exc:
        raise SerializationError(
            f"{what} is JSON nested too deeply to decode",
            raw=data if isinstance(data, bytes) else None,
        ) from exc


@contextmanager
def _naming(source: str | None) -> Iterator[None]:
    """Prefix errors raised inside the block with the file they come from."""
    try:
        yield
    except SerializationError as exc:
        if source is None or exc.source is not None:
            raise
        named = type(exc)(f"{source}: {exc}", raw=exc.raw, source=source, position=exc.position)
        for name in _JSONError._DECODER_FIELDS if isinstance(exc, _JSONError) else ():
            setattr(named, name, getattr(exc, name))
        raise named from exc


# -- the protocol ---------------------------------------------------------------------


@dataclass
class MessageModel(ABC):  # noqa: B024 - abstract in intent; ``load`` raises when not overridden
    """An abstract message model.

    Subclasses are dataclasses. By default the fields travel as a JSON object; a model
    that needs another encoding overrides :meth:`serialize` (or ``__bytes__``) and
    :meth:`deserialize`. A model names its wire format with a ``format_name`` class
    attribute, else its lower-cased class name is used (see :func:`format_name`).
    """

    def __bytes__(self) -> bytes:
        return json_encode(asdict(self))

    def serialize(self) -> dict[str, Any]:
        """Wrap the message with its format and content.

        Returns
        -------
        dict
            ``{"format": <format name>, "content": <encoded bytes>}``.
        """
        return {"format": format_name(type(self)), "content": bytes(self)}

    @classmethod
    def deserialize(cls: type[_M], data: bytes) -> _M:
        """Unwrap a message produced by :meth:`serialize` (the ``"content"`` value).

        Parameters
        ----------
        data : bytes
            The encoded message.

        Returns
        -------
        MessageModel
            An instance of the model class.

        Raises
        ------
        hop.errors.SerializationError
            If ``data`` is not a JSON object whose keys are the model's fields.
        """
        what = f"{cls.__name__} message"
        obj = _loads_json(data, what)
        if not isinstance(obj, dict):
            raise SerializationError(
                f"{what} must be a JSON object, got {type(obj).__name__}", raw=data
            )
        try:
            return cls(**obj)
        except TypeError as exc:
            raise SerializationError(f"{what} has the wrong fields: {exc}", raw=data) from exc

    @classmethod
    def load(cls: type[_M], input_: Any) -> _M:
        """Create a new message model from a file object or string.

        This base implementation has no functionality and should not be called.

        Parameters
        ----------
        input_ : file object or str
            The serialized model.

        Returns
        -------
        MessageModel
            The message model.
        """
        raise NotImplementedError(f"{cls.__name__}.load() is not implemented")

    @classmethod
    def load_file(cls: type[_M], filename: str) -> _M:
        """Create a new message model from a file.

        Parameters
        ----------
        filename : str
            The path to a file, opened in text mode and passed to :meth:`load`.

        Returns
        -------
        MessageModel
            The message model.
        """
        with open(filename) as f, _naming(str(filename)):
            return cls.load(f)


@dataclass
class Blob(MessageModel):
    """Defines an opaque message blob: bytes sent as they are.

    Attributes
    ----------
    content : bytes
        The message payload.
    """

    content: bytes

    def __bytes__(self) -> bytes:
        return bytes(self.content)

    def __str__(self) -> str:
        return str(self.content)

    @classmethod
    def deserialize(cls, data: bytes) -> Blob:
        """Wrap received bytes; never fails."""
        return cls(content=data)

    @classmethod
    def load(cls, blob_input: Any) -> Blob:
        """Create a blob message from input data.

        Parameters
        ----------
        blob_input : bytes, str or file object
            The unstructured message data (a str is encoded as UTF-8).

        Returns
        -------
        Blob
            The Blob.
        """
        return cls(content=_read_bytes(blob_input, "Blob"))

    @classmethod
    def load_file(cls, filename: str) -> Blob:
        """Create a blob message from the bytes of a file."""
        with open(filename, "rb") as f:
            return cls.load(f)


@dataclass
class JSONBlob(MessageModel):
    """Defines a message holding any JSON-encodable value.

    Attributes
    ----------
    content : JSONType
        The decoded JSON value.
    """

    content: JSONType

    format_name: ClassVar[str] = "json"

    def __bytes__(self) -> bytes:
        # Not byte for byte what upstream sends (json.dumps), but the same value for
        # every reader: see json_encode.
        try:
            return json_encode(self.content)
        except (TypeError, ValueError) as exc:
            raise SerializationError(f"JSONBlob content cannot be encoded: {exc}") from exc

    def __str__(self) -> str:
        return str(self.content)

    @classmethod
    def deserialize(cls, data: bytes) -> JSONBlob:
        """Decode UTF-8 JSON bytes.

        Raises
        ------
        hop.errors.SerializationError
            If ``data`` is not UTF-8 JSON; the message gives the line and column.
        """
        return cls(content=_loads_json(data, "JSON message"))

    @classmethod
    def load(cls, blob_input: Any) -> JSONBlob:
        """Create a JSON message from input text.

        Parameters
        ----------
        blob_input : str, bytes or file object
            The JSON text.

        Returns
        -------
        JSONBlob
            The message.

        Raises
        ------
        hop.errors.SerializationError
            If the input is not JSON (the message gives the line and column).
        """
        with _naming(_source_of(blob_input)):
            return cls(content=_loads_json(_read_text(blob_input, "JSON input"), "JSON input"))

    @classmethod
    def load_file(cls, filename: str) -> JSONBlob:
        """Create a JSON message from a file (read as UTF-8)."""
        with open(filename, "rb") as f, _naming(str(filename)):
            return cls.load(f.read())


@dataclass
class ExternalMessage(MessageModel):
    """Defines a message which refers to data stored externally at some URL.

    The large-message offload service replaces an oversized message with one of these.

    Attributes
    ----------
    url : str
        Where the original message can be fetched.
    """

    url: str

    format_name: ClassVar[str] = "external"

    @classmethod
    def deserialize(cls, data: bytes) -> ExternalMessage:
        """Decode ``{"url": ...}``."""
        return cls._from_json(_loads_json(data, "external message reference"), data)

    @classmethod
    def _from_json(cls, obj: Any, raw: bytes | None) -> ExternalMessage:
        if not isinstance(obj, dict) or not isinstance(obj.get("url"), str):
            raise SerializationError(
                'an external message reference must be a JSON object {"url": "<string>"}',
                raw=raw,
            )
        return cls(url=obj["url"])

    @classmethod
    def load(cls, input: Any) -> ExternalMessage:
        """Create an external message reference from JSON text ``{"url": ...}``."""
        with _naming(_source_of(input)):
            text = _read_text(input, "external message reference")
            return cls._from_json(_loads_json(text, "external message reference"), None)
