"""Message models: the Python objects that travel over a stream.

Each model has a ``format_name`` (sent in the ``_format`` header) and a
``serialize``/``deserialize`` pair that turns it into Kafka bytes and back:

=================  =================  ==============================================
model              format name        bytes on the wire
=================  =================  ==============================================
VOEvent            ``voevent``        the original VOEvent XML
GCNTextNotice      ``gcntextnotice``  the original notice text
GCNCircular        ``circular``       JSON ``{"header": {...}, "body": "..."}``
Blob               ``blob``           the bytes as given
JSONBlob           ``json``           ``json.dumps(content)`` in UTF-8
AvroBlob           ``avro``           an Avro object container
ExternalMessage    ``external``       JSON ``{"url": "..."}``
=================  =================  ==============================================

Loading a malformed file raises :class:`hop.errors.SerializationError` naming the file
and, where the parser knows it, the line and column.
"""

from __future__ import annotations

from typing import Any

from hop import plugins
from hop._models.avro import AvroBlob
from hop._models.base import (
    Blob,
    ExternalMessage,
    JSONBlob,
    JSONType,
    MessageModel,
    format_name,
)
from hop._models.gcn import GCNCircular, GCNTextNotice
from hop._models.voevent import VOEvent

__all__ = [
    "AvroBlob",
    "Blob",
    "ExternalMessage",
    "GCNCircular",
    "GCNTextNotice",
    "JSONBlob",
    "JSONType",
    "MessageModel",
    "VOEvent",
    "format_name",
    "get_models",
]

for _cls in (AvroBlob, Blob, ExternalMessage, GCNCircular, GCNTextNotice, JSONBlob,
             MessageModel, VOEvent):  # fmt: skip
    # Present the models where users import them from (reprs, pickles, docs).
    _cls.__module__ = __name__
del _cls


@plugins.register
def get_models() -> dict[str, Any]:
    """Return the built-in models keyed by format name (the built-in plugin)."""
    model_classes = [
        VOEvent,
        GCNTextNotice,
        GCNCircular,
        Blob,
        JSONBlob,
        AvroBlob,
        ExternalMessage,
    ]
    return {format_name(cls): cls for cls in model_classes}
