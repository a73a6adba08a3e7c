"""The small internal API that the other packages of skyhop build on.

:mod:`igwn_alert` (and other packages shipped in this distribution) use hop's public
modules, and from its internals only the names below: nothing else under a private
``hop._*`` module. hop may rearrange everything else; these keep their meaning, and
a test (``tests/unit/test_import_graph.py``) checks that igwn_alert imports nothing
else that is private. Not for users: no compatibility promise is made outside the
distribution.

Names
-----
generate_group_id(user)
    A fresh consumer-group id, ``<user>-<10 random characters>`` (upstream's form).
connection_settings(brokers, auth, connect_timeout_ms)
    The librdkafka settings every client starts from (brokers, logging, credential).
kafka_errors(action, topic=None)
    Context manager turning confluent-kafka exceptions into :mod:`hop.errors` ones.
translate(err, action=..., topic=...)
    One librdkafka error (or exception) as the matching :mod:`hop.errors` exception.
write_toml(path, data)
    Write a TOML file atomically with mode 0600 (for files that hold secrets).
Deduplicator(window, path=None), DEFAULT_DEDUPE_WINDOW
    Per message, ``first_time(headers)``: whether its ``_id`` was not handed over yet
    (igwn_alert's ``listen(deduplicate=True)``).
"""

from __future__ import annotations

from hop._config import connection_settings
from hop._dedupe import DEFAULT_DEDUPE_WINDOW, Deduplicator
from hop._kafka_errors import kafka_errors, translate
from hop._private_files import write_toml
from hop._stream import _generate_group_id

__all__ = [
    "DEFAULT_DEDUPE_WINDOW",
    "Deduplicator",
    "connection_settings",
    "generate_group_id",
    "kafka_errors",
    "translate",
    "write_toml",
]


def generate_group_id(user: str | None) -> str:
    """Return a new consumer-group id: ``<user>-<random>``, or the random part alone."""
    return _generate_group_id(user)
