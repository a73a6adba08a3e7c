"""Message models: the Python objects that travel over a stream.

Each model has a ``format_name`` (sent in the ``_format`` header) and a
``serialize``/``deserialize`` pair that turns it into Kafka bytes and back.
"""

from __future__ import annotations

import json
from abc import ABC
from dataclasses import asdict, dataclass
from typing import IO, Any, ClassVar

__all__ = [
    "JSONType",
    "Blob",
    "JSONBlob",
    "MessageModel",
    "format_name",
]

JSONType = str | int | float | bool | None | dict[str, Any] | list[Any]


def format_name(cls: type) -> str:
    """Return the wire format name of a model class.

    The class attribute ``format_name`` when it exists, else the lower-cased class name.
    """
    name = cls.__dict__.get("format_name")
    if isinstance(name, str):
        return name
    for base in cls.__mro__[1:]:
        name = base.__dict__.get("format_name")
        if isinstance(name, str) and base is not MessageModel:
            return name
    return cls.__name__.lower()


@dataclass
class MessageModel(ABC):
    """Base class of message models.

    The defaults encode the dataclass fields as JSON; subclasses override
    ``serialize``/``deserialize`` for other encodings.
    """

    def __bytes__(self) -> bytes:
        return json.dumps(asdict(self)).encode("utf-8")

    def serialize(self) -> dict[str, Any]:
        """Return ``{"format": <format name>, "content": <bytes>}`` for the wire."""
        return {"format": format_name(type(self)), "content": bytes(self)}

    @classmethod
    def deserialize(cls, data: bytes) -> MessageModel:
        """Build a model from the bytes :meth:`serialize` produced."""
        return cls(**json.loads(data.decode("utf-8")))

    @classmethod
    def load(cls, input_: Any) -> MessageModel:
        """Build a model from a file object or its contents."""
        raise NotImplementedError(f"{cls.__name__}.load() is not implemented")

    @classmethod
    def load_file(cls, filename: str) -> MessageModel:
        """Build a model from the file at ``filename``."""
        with open(filename) as f:
            return cls.load(f)


@dataclass
class Blob(MessageModel):
    """Opaque bytes, sent as they are.

    Attributes
    ----------
    content : bytes
        The message payload.
    """

    content: bytes

    format_name: ClassVar[str] = "blob"

    def __bytes__(self) -> bytes:
        return self.content

    def __str__(self) -> str:
        return str(self.content)

    @classmethod
    def deserialize(cls, data: bytes) -> Blob:
        return cls(content=data)

    @classmethod
    def load(cls, input_: bytes | IO[bytes]) -> Blob:
        if isinstance(input_, bytes | bytearray | memoryview):
            return cls(content=bytes(input_))
        if isinstance(input_, str):
            return cls(content=input_.encode("utf-8"))
        return cls(content=input_.read())

    @classmethod
    def load_file(cls, filename: str) -> Blob:
        with open(filename, "rb") as f:
            return cls.load(f)


@dataclass
class JSONBlob(MessageModel):
    """Any JSON-encodable value.

    Attributes
    ----------
    content : JSONType
        The decoded JSON value.
    """

    content: JSONType

    format_name: ClassVar[str] = "json"

    def __bytes__(self) -> bytes:
        return json.dumps(self.content).encode("utf-8")

    def __str__(self) -> str:
        return json.dumps(self.content)

    @classmethod
    def deserialize(cls, data: bytes) -> JSONBlob:
        return cls(content=json.loads(data.decode("utf-8")))

    @classmethod
    def load(cls, input_: str | bytes | IO[Any]) -> JSONBlob:
        if isinstance(input_, str | bytes | bytearray):
            return cls(content=json.loads(input_))
        return cls(content=json.load(input_))
