"""Starting a real broker for a test fixture: one policy for every fixture."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from hop.testing import BrokerError, KafkaBroker, KafkaCluster


@contextmanager
def running_broker(data_dir: Path, **options: Any) -> Iterator[KafkaBroker]:
    """Start a broker in ``data_dir`` (``options`` go to KafkaBroker) and always stop it.

    Outside CI a broker that cannot start skips the tests that need it; in CI
    (``CI=true``) it fails them, so a broken harness is never mistaken for a pass.
    The data folder is kept, so the broker log of a failed run can still be read.
    """
    broker = KafkaBroker(data_dir, **options)
    _start_or_skip(broker)
    try:
        yield broker
    finally:
        broker.close()


@contextmanager
def running_cluster(data_dir: Path, nodes: int = 3) -> Iterator[KafkaCluster]:
    """Start a :class:`KafkaCluster` in ``data_dir`` and always stop it (same policy)."""
    cluster = KafkaCluster(nodes, data_dir)
    _start_or_skip(cluster)
    try:
        yield cluster
    finally:
        cluster.close()


def _start_or_skip(broker: KafkaBroker | KafkaCluster) -> None:
    try:
        broker.start()
    except BrokerError as exc:
        if os.environ.get("CI", "").lower() == "true":
            raise
        pytest.skip(f"no Kafka broker (set CI=true to make this an error): {exc}")


def heal(cluster: KafkaCluster, timeout: float = 120.0) -> None:
    """Start every node that is down and wait until the internal topics are in sync.

    Tests that kill nodes call this (through the ``healthy_cluster`` fixture) so that the
    next test finds the cluster whole, whatever the previous one did.
    """
    if not cluster.is_running:
        cluster.start()
    for topic in ("__consumer_offsets",):
        if topic in cluster.list_topics():
            cluster.wait_in_sync(topic, timeout)
