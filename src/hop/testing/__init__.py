"""Test helpers: a real Apache Kafka broker on 127.0.0.1 (see :mod:`hop.testing.broker`),
and a cluster of several (:mod:`hop.testing.cluster`).

Names are imported lazily so that ``python -m hop.testing.dev_broker`` does not load the
module twice, and importing :mod:`hop.testing` costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hop.testing._offload import OffloadService
    from hop.testing.broker import DEFAULT_USERS, BrokerError, BrokerPorts, KafkaBroker
    from hop.testing.cluster import KafkaCluster

__all__ = [
    "DEFAULT_USERS",
    "BrokerError",
    "BrokerPorts",
    "KafkaBroker",
    "KafkaCluster",
    "OffloadService",
]


def __getattr__(name: str) -> Any:
    if name == "KafkaCluster":
        from hop.testing import cluster

        return cluster.KafkaCluster
    if name == "OffloadService":
        from hop.testing import _offload

        return _offload.OffloadService
    if name in __all__:
        from hop.testing import broker

        return getattr(broker, name)
    raise AttributeError(f"module 'hop.testing' has no attribute {name!r}")
