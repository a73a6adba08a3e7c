"""Streams: open, write, read. The public face of skyhop's Kafka client.

Everything here is re-exported from private modules (one concept each):
``_stream`` (Stream, credential choice), ``_producer``, ``_consumer``, ``_config``
(all Kafka settings), ``_kafka_errors`` (librdkafka errors -> :mod:`hop.errors`) and
``_deserializer`` (the ``Deserializer`` enum, built on the format registry).
"""

from __future__ import annotations

from typing import Any

from hop._consumer import Consumer, Metadata, StartPosition
from hop._producer import Producer, raise_delivery_errors
from hop._stream import Stream, list_topics
from hop.auth import load_auth, select_matching_auth  # noqa: F401 - see below
from hop.configure import get_config_path, load_config  # noqa: F401 - see below
from hop.errors import AmbiguousCredentialError

# Not in __all__: hop-client's hop.io imported load_auth, select_matching_auth,
# load_config and get_config_path, and tests written for it patch them here
# (``mock.patch("hop.io.load_auth")``); Stream looks them up here first.

__all__ = [  # noqa: F822 (Deserializer is built lazily by __getattr__)
    "AmbiguousCredentialError",
    "Consumer",
    "Deserializer",
    "Metadata",
    "Producer",
    "StartPosition",
    "Stream",
    "list_topics",
    "raise_delivery_errors",
]


def __getattr__(name: str) -> Any:
    # The format registry loads plugins; build it on first use, not at import.
    if name == "Deserializer":
        from hop._deserializer import deserializer_enum

        return deserializer_enum()
    raise AttributeError(f"module 'hop.io' has no attribute {name!r}")
