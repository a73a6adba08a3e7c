"""igwn_alert: receive and send GraceDB alerts over Kafka (a drop-in for igwn-alert).

::

    from igwn_alert import client

    def process_alert(topic, payload):
        ...

    client(group="gracedb-playground").listen(process_alert, ["superevent"])

As upstream, the name ``igwn_alert.client`` is the class, which shadows the module of
the same name once this package is imported; ``from igwn_alert.client import client``
also works. That is why the client is imported here rather than on first use.
"""

from __future__ import annotations

from hop.errors import KafkaException
from igwn_alert._errors import IncompleteCredentialError, InvalidSettingError, NotConnectedError
from igwn_alert.client import (
    DEFAULT_GROUP,
    DEFAULT_LISTEN_RETRIES,
    DEFAULT_PORT,
    DEFAULT_RETRY_WAIT,
    DEFAULT_SERVER,
    client,
)
from igwn_alert.version import __version__

__all__ = [
    "DEFAULT_GROUP",
    "DEFAULT_LISTEN_RETRIES",
    "DEFAULT_PORT",
    "DEFAULT_RETRY_WAIT",
    "DEFAULT_SERVER",
    "IncompleteCredentialError",
    "InvalidSettingError",
    "KafkaException",
    "NotConnectedError",
    "__version__",
    "client",
]
