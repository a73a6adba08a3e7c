"""The igwn_alert client (upstream's module path ``igwn_alert.client``)."""

from __future__ import annotations

from igwn_alert._client import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_BATCH_TIMEOUT,
    DEFAULT_GROUP,
    DEFAULT_LISTEN_RETRIES,
    DEFAULT_PORT,
    DEFAULT_RETRY_WAIT,
    DEFAULT_SERVER,
    DEFAULT_TIMEOUT,
    client,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_BATCH_TIMEOUT",
    "DEFAULT_GROUP",
    "DEFAULT_LISTEN_RETRIES",
    "DEFAULT_PORT",
    "DEFAULT_RETRY_WAIT",
    "DEFAULT_SERVER",
    "DEFAULT_TIMEOUT",
    "client",
]

# Documented (and pickled) under its public home.
client.__module__ = __name__
