"""The ``hop.io.Deserializer`` enum: one member per registered format.

Built from the format registry (:mod:`hop._registry`) on first use, and again after
the registry was reset; its ``deserialize`` decodes with :func:`hop._codec.unpack`.
"""

from __future__ import annotations

import threading
from enum import Enum
from typing import Any

from hop import _registry
from hop._codec import unpack
from hop.models import MessageModel

__all__ = ["deserializer_enum"]

_lock = threading.Lock()
# The enum, and the registry mapping it was built from (a reset makes a new mapping).
_built: tuple[Any, dict[str, type[MessageModel]]] | None = None


class _Deserializer(Enum):
    """The methods of :data:`hop.io.Deserializer`; its members are added per registry.

    An Enum without members can be extended through the functional API, which makes
    the members' enum a subclass of this one.
    """

    @classmethod
    def deserialize(cls, message: Any) -> MessageModel:
        """Deserialize a stream message and instantiate a model.

        Parameters
        ----------
        message : confluent_kafka.Message or alike
            An object with ``value()`` and ``headers()``.

        Returns
        -------
        MessageModel
            The model the ``_format`` header (or the legacy rules) selects. A message
            that cannot be decoded becomes a :class:`~hop.models.Blob` with a warning.
        """
        # The message itself names where it came from, formatted only if it fails.
        return unpack(message.value(), message.headers(), where=message)

    def load(self, input_: Any) -> MessageModel:
        """Create a model of this format from a file object or its contents."""
        result: MessageModel = self.value.load(input_)
        return result

    def load_file(self, input_file: str) -> MessageModel:
        """Create a model of this format from a file."""
        result: MessageModel = self.value.load_file(input_file)
        return result


def deserializer_enum() -> Any:
    """Return the ``Deserializer`` enum: one member per format, valued by its model."""
    global _built
    registry = _registry.models()
    built = _built
    if built is None or built[1] is not registry:
        with _lock:
            built = _built
            if built is None or built[1] is not registry:
                # The functional API, which mypy reads as a member lookup.
                enum = _Deserializer(  # type: ignore[call-arg]
                    "Deserializer", list(registry.items()), module="hop.io"
                )
                built = _built = (enum, registry)
    return built[0]
