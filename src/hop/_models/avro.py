"""Avro object container messages, with a schema inferred when none is given.

The wire form is an Avro Object Container File (``Obj\\x01``, metadata with the writer
schema, sync marker, blocks), not the Confluent Schema Registry framing.

Inferred schemas merge the types seen at each place into one union, in a fixed order
(null, boolean, long, double, string, bytes, array, record, map). That order matters:
Avro writers put a value in the first union branch it fits, and a Python ``bool`` fits
``long`` and ``double``, an ``int`` fits ``double``. Dicts become records when every
dict at that place has the same keys and the keys are Avro names, else maps (any str
is a map key). Every JSON-like value (plus bytes) therefore gets a schema and reads
back equal, types included.
"""

from __future__ import annotations

import collections.abc
import json
from dataclasses import dataclass
from io import BytesIO
from typing import Any, ClassVar

import fastavro
from fastavro.schema import SchemaParseException, UnknownType

from hop._models.base import MessageModel, _naming, _read_bytes, _source_of
from hop.errors import SerializationError

__all__ = ["AvroBlob", "AvroRecordCountError", "infer_schema"]

_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1
_PRIMITIVE_ORDER = ("null", "boolean", "long", "double", "string", "bytes")


class AvroRecordCountError(SerializationError, TypeError):
    """An Avro message holds more than one record where one was required.

    A ``TypeError`` too, as in upstream hop-client.
    """


_PRIMITIVES: dict[type, str] = {
    type(None): "null",
    bool: "boolean",
    int: "long",
    float: "double",
    str: "string",
    bytes: "bytes",
    bytearray: "bytes",
}


def _primitive_of_subclass(value: Any) -> str | None:
    # Subclasses (IntEnum, str enums, ...) in the order that keeps bool apart from int.
    for kind in (bool, int, float, str, bytes, bytearray):
        if isinstance(value, kind):
            return _PRIMITIVES[kind]
    return None


class _NoAvroType(Exception):
    def __init__(self, value: Any, reason: str, *, is_key: bool = False) -> None:
        super().__init__(reason)
        self.value = value
        self.reason = reason
        self.is_key = is_key


def _path_to(target: Any, is_key: bool, value: Any, path: str) -> str | None:
    # Where ``target`` sits in ``value``; only run to word an error message.
    if value is target and not is_key:
        return path
    if isinstance(value, dict):
        for key, item in value.items():
            if key is target and is_key:
                return f"{path} key {key!r}"
            found = _path_to(target, is_key, item, f"{path}[{key!r}]")
            if found:
                return found
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            found = _path_to(target, is_key, item, f"{path}[{i}]")
            if found:
                return found
    return None


class _Types:
    """The set of Avro types seen at one place in a value (a union being built).

    Dicts seen at a place become a record while they all have the same keys and the
    keys are Avro names (records decode faster than maps: no key strings and no union
    per value); otherwise a map, with the record's field types folded in.
    """

    __slots__ = ("array", "fields", "map", "primitives")

    def __init__(self) -> None:
        self.primitives: set[str] = set()
        self.array: _Types | None = None
        self.fields: dict[str, _Types] | None = None
        self.map: _Types | None = None

    def add(self, value: Any) -> None:
        primitive = _PRIMITIVES.get(type(value)) or _primitive_of_subclass(value)
        if primitive is not None:
            if primitive == "long" and not _LONG_MIN <= value <= _LONG_MAX:
                raise _NoAvroType(value, "does not fit in an Avro long (64 bits)")
            self.primitives.add(primitive)
        elif isinstance(value, dict):
            if self.map is None:
                fields = self.fields
                if fields is None and value and all(map(_is_avro_name, value)):
                    self.fields = fields = {key: _Types() for key in value}
                if (
                    fields is not None
                    and len(fields) == len(value)
                    and all(k1 == k2 for k1, k2 in zip(fields, value, strict=False))
                ):
                    for key, item in value.items():
                        fields[key].add(item)
                    return
                self._fields_to_map()
            assert self.map is not None
            add = self.map.add
            for key, item in value.items():
                if not isinstance(key, str):
                    raise _NoAvroType(
                        key, "is a non-string key; Avro maps need string keys", is_key=True
                    )
                add(item)
        elif isinstance(value, list | tuple):
            if self.array is None:
                self.array = _Types()
            add = self.array.add
            for item in value:
                add(item)
        else:
            raise _NoAvroType(
                value,
                f"is a {type(value).__name__}, which has no Avro type; give a schema or use "
                "JSON-like values and bytes",
            )

    def _fields_to_map(self) -> None:
        if self.map is None:
            self.map = _Types()
        if self.fields is not None:
            for types in self.fields.values():
                self.map.merge(types)
            self.fields = None

    def merge(self, other: _Types) -> None:
        """Add every type ``other`` has seen."""
        self.primitives |= other.primitives
        if other.array is not None:
            if self.array is None:
                self.array = _Types()
            self.array.merge(other.array)
        if other.fields is not None:
            if self.map is None and self.fields is None:
                self.fields = {key: _Types() for key in other.fields}
            if self.fields is not None and list(self.fields) == list(other.fields):
                for key, types in other.fields.items():
                    self.fields[key].merge(types)
            else:
                self._fields_to_map()
                assert self.map is not None
                for types in other.fields.values():
                    self.map.merge(types)
        if other.map is not None:
            self._fields_to_map()
            assert self.map is not None
            self.map.merge(other.map)

    def schema(self, names: list[int] | None = None) -> Any:
        names = [0] if names is None else names
        branches: list[Any] = [p for p in _PRIMITIVE_ORDER if p in self.primitives]
        if self.array is not None:
            branches.append({"type": "array", "items": self.array.schema(names)})
        if self.fields is not None:
            name = f"auto_record{names[0]}"
            names[0] += 1
            fields = [{"name": k, "type": t.schema(names)} for k, t in self.fields.items()]
            branches.append({"type": "record", "name": name, "fields": fields})
        if self.map is not None:
            branches.append({"type": "map", "values": self.map.schema(names)})
        if not branches:
            return "null"  # an empty list or dict: any item type would do
        return branches[0] if len(branches) == 1 else branches


def _is_avro_name(key: Any) -> bool:
    # Avro names are [A-Za-z_][A-Za-z0-9_]*: the ASCII Python identifiers.
    return type(key) is str and key.isidentifier() and key.isascii()


def infer_schema(records: collections.abc.Iterable[Any]) -> Any:
    """Return an Avro schema that every record in ``records`` fits.

    Raises
    ------
    hop.errors.SerializationError
        If a value has no Avro type (the message gives its path in the content).
    """
    types = _Types()
    records = list(records)
    try:
        for record in records:
            types.add(record)
    except _NoAvroType as exc:
        where = _path_to(exc.value, exc.is_key, records, "records") or "a value"
        raise SerializationError(
            f"AvroBlob content at {where} ({exc.value!r}) {exc.reason}"
        ) from exc
    return types.schema()


_CACHE_MAX = 64


def _read_long(data: bytes, pos: int) -> tuple[int, int]:
    # An Avro long: zig-zag encoded, little-endian base-128 varint.
    shift = result = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return (result >> 1) ^ -(result & 1), pos
        shift += 7


# Writer schemas seen recently: raw JSON text -> parsed schema, so that a stream of
# messages sharing a schema parses it once.
_WRITER_SCHEMAS: dict[bytes, Any] = {}


def _read_container_fast(data: bytes) -> tuple[list[Any], Any] | None:
    """Decode an uncompressed container; ``None`` when the input needs the full reader."""
    if data[:4] != b"Obj\x01":
        return None
    pos = 4
    meta: dict[str, bytes] = {}
    while True:
        count, pos = _read_long(data, pos)
        if count == 0:
            break
        if count < 0:
            count = -count
            _, pos = _read_long(data, pos)
        for _ in range(count):
            n, pos = _read_long(data, pos)
            if n < 0:
                return None  # a negative length would move backwards: damaged
            key = data[pos : pos + n].decode("utf-8")
            pos += n
            n, pos = _read_long(data, pos)
            if n < 0:
                return None
            meta[key] = data[pos : pos + n]
            pos += n
    if meta.get("avro.codec", b"null") != b"null" or "avro.schema" not in meta:
        return None
    sync = data[pos : pos + 16]
    pos += 16
    raw_schema = meta["avro.schema"]
    parsed = _WRITER_SCHEMAS.get(raw_schema)
    if parsed is None:
        parsed = fastavro.parse_schema(json.loads(raw_schema))
        if len(_WRITER_SCHEMAS) >= _CACHE_MAX:
            _WRITER_SCHEMAS.clear()
        _WRITER_SCHEMAS[raw_schema] = parsed
    records: list[Any] = []
    stream = BytesIO(data)
    end = len(data)
    while pos < end:
        count, pos = _read_long(data, pos)
        size, pos = _read_long(data, pos)
        if count < 0 or size < 0 or pos + size + 16 > end or count > max(size, 1):
            return None
        stream.seek(pos)
        for _ in range(count):
            records.append(fastavro.schemaless_reader(stream, parsed, None))
        pos += size
        if stream.tell() != pos or data[pos : pos + 16] != sync:
            return None
        pos += 16
    # A fresh dict for each message: callers may modify the schema they are given.
    return records, json.loads(raw_schema)


def _read_container(data: bytes) -> tuple[list[Any], Any]:
    try:
        fast = _read_container_fast(data)
    except Exception:
        fast = None
    if fast is not None:
        return fast
    # Compressed, unusual or damaged: fastavro's reader decides (and explains).
    reader = fastavro.reader(BytesIO(data))
    return list(reader), reader.writer_schema


@dataclass(init=False, eq=False)
class AvroBlob(MessageModel):
    """Defines a message holding Avro data in an object container.

    Parameters
    ----------
    content : JSON-like value, or a sequence of them
        With ``single_record=True`` (the default) ``content`` is one record; with
        ``False`` it is a sequence of records.
    schema : dict, optional
        The Avro schema of a record. When omitted one is inferred from the content
        (and stored here once the message is encoded).
    single_record : bool
        Whether ``content`` is one record or a sequence of records.

    Notes
    -----
    Equality compares ``content`` only, not schemas. Received messages with exactly one
    record have ``single_record=True``; any other number gives ``single_record=False``
    and a list, so multi-record messages round-trip.
    """

    content: Any
    schema: Any = None
    single_record: bool = True

    format_name: ClassVar[str] = "avro"

    def __init__(self, content: Any, schema: Any = None, single_record: bool = True) -> None:
        if not single_record and not isinstance(content, collections.abc.Sequence):
            raise TypeError(
                "AvroBlob requires content to be a sequence of records when single_record = False"
            )
        self.content = content
        self.schema = schema
        self.single_record = single_record

    def __str__(self) -> str:
        return str(self.content)

    def __eq__(self, other: object) -> bool:
        if type(self) is not type(other):
            return NotImplemented
        assert isinstance(other, AvroBlob)
        return bool(self.content == other.content)

    def __hash__(self) -> int:
        # Content is mutable; hop-client raises this rather than Python's TypeError.
        raise NotImplementedError("AvroBlob objects are not hashable")

    @classmethod
    def _from_stream(cls, data: bytes) -> AvroBlob:
        """Decode a message read from a stream: any number of records is accepted."""
        return cls._read(bytes(data), None)

    def __bytes__(self) -> bytes:
        records = [self.content] if self.single_record else list(self.content)
        if self.schema is None:
            self.schema = infer_schema(records)
        buffer = BytesIO()
        try:
            # The unparsed schema: fastavro writes it into the container header faster
            # than a parsed one, and parsing is cheap next to writing.
            fastavro.writer(buffer, self.schema, records)
        except (SchemaParseException, UnknownType) as exc:
            raise SerializationError(f"AvroBlob schema is not a valid Avro schema: {exc}") from exc
        except Exception as exc:
            raise SerializationError(
                f"AvroBlob content does not match its schema: {type(exc).__name__}: {exc}"
            ) from exc
        return buffer.getvalue()

    @classmethod
    def _read(cls, data: bytes, single_record: bool | None) -> AvroBlob:
        try:
            records, schema = _read_container(data)
        except Exception as exc:
            # fastavro signals damaged input with many exception types (ValueError,
            # EOFError, IndexError, UnicodeDecodeError, ...); all mean the same here.
            raise SerializationError(
                f"Avro message is not a readable Avro object container: "
                f"{type(exc).__name__}: {exc}",
                raw=data,
            ) from exc
        if single_record is None:
            single_record = len(records) == 1
        if single_record:
            if len(records) != 1:
                raise AvroRecordCountError(
                    "AvroBlob requires content to be a single record when single_record = "
                    f"True, number of records in message being deserialized is {len(records)}.",
                    raw=data,
                )
            return cls(content=records[0], schema=schema, single_record=True)
        return cls(content=records, schema=schema, single_record=False)

    @classmethod
    def deserialize(cls, data: bytes, single_record: bool | None = True) -> AvroBlob:
        """Decode an Avro object container.

        Parameters
        ----------
        data : bytes
            The container.
        single_record : bool or None
            ``True`` (the default, as hop-client): exactly one record is required, and
            is the ``content``. ``False``: always a list. ``None``: one record gives
            that record, any other number a list (what a stream reader uses, so that
            a message of several records is received rather than refused).

        Raises
        ------
        hop.errors.SerializationError
            If ``data`` is not an Avro container.
        AvroRecordCountError
            With ``single_record=True`` and not exactly one record (also a TypeError).
        """
        return cls._read(bytes(data), single_record)

    @classmethod
    def load(cls, blob_input: Any, single_record: bool | None = True) -> AvroBlob:
        """Create a blob message from input Avro data.

        Parameters
        ----------
        blob_input : bytes or file object
            The encoded Avro data.
        single_record : bool or None
            As for :meth:`deserialize`.

        Returns
        -------
        AvroBlob
            The message.
        """
        if isinstance(blob_input, str):
            raise TypeError("AvroBlob.load needs bytes or a binary file, not str")
        with _naming(_source_of(blob_input)):
            return cls._read(_read_bytes(blob_input, "AvroBlob"), single_record)

    @classmethod
    def load_file(cls, filename: str, single_record: bool | None = True) -> AvroBlob:
        """Create a new message model from an Avro container file."""
        with open(filename, "rb") as f, _naming(str(filename)):
            return cls._read(f.read(), single_record)
