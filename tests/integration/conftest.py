"""Integration tests run against one real Kafka broker per test session.

Fixtures
--------
kafka_broker
    The started :class:`hop.testing.KafkaBroker` (session scope). Tests that kill or
    restart it must leave it running.
make_topic(partitions=1, config=None) -> str
    Creates a uniquely named topic and returns its name.
unique_topic
    One such topic with one partition.
unique_group
    A consumer group id no other test uses.
kafka_url(topic, listener="plaintext", user=None) -> str
    ``kafka://[user@]127.0.0.1:<port>/<topic>`` for the given listener.
kafka_cluster
    A started three-node :class:`hop.testing.KafkaCluster` (session scope), for the
    failover tests. A test that kills, stops or restarts nodes must leave all of them
    running and in sync (see :func:`_brokers.heal`).
make_cluster_topic(partitions=1, config=None) -> str
    Creates a uniquely named topic on the cluster (replication 3, min.insync.replicas 2).
cluster_url(topic, listener="plaintext") -> str
    ``kafka://<every node>/<topic>``.

A test gets the ``broker`` marker when it uses a Kafka broker: through one of the
fixtures that start one (:data:`BROKER_FIXTURES`), or by saying so itself (a test that
runs ``hop dev-broker`` or the demo is marked in its module). The other tests here
(SAMP, upstream peers, unreachable ports) need no broker and are not marked. Outside
CI a broker that cannot start skips the tests that need it; in CI (``CI=true``) it
fails them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator, Mapping

import pytest

from _brokers import heal, running_broker, running_cluster
from hop.testing import KafkaBroker, KafkaCluster

#: Fixtures that start a Kafka broker; a test using one, even indirectly, uses a broker.
BROKER_FIXTURES = frozenset({"kafka_broker", "own_broker", "kafka_cluster"})


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # This hook sees every collected item, not only this folder's; fixturenames holds
    # the fixtures a test uses directly and through other fixtures.
    for item in items:
        if BROKER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.broker)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """The session's Kafka broker, started on first use and stopped at the end."""
    # Under pytest's basetemp, so the broker log of a failed run is still there after it.
    with running_broker(tmp_path_factory.mktemp("kafka")) as broker:
        yield broker


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:60]


@pytest.fixture
def make_topic(
    kafka_broker: KafkaBroker, request: pytest.FixtureRequest
) -> Callable[..., str]:
    """Factory: ``make_topic(partitions=1, config=None)`` creates a fresh topic."""

    def make(partitions: int = 1, config: Mapping[str, str] | None = None) -> str:
        name = f"{_slug(request.node.name)}-{uuid.uuid4().hex[:8]}"
        kafka_broker.create_topic(name, partitions, config)
        return name

    return make


@pytest.fixture
def unique_topic(make_topic: Callable[..., str]) -> str:
    """A new single-partition topic for this test."""
    return make_topic()


@pytest.fixture
def unique_group(request: pytest.FixtureRequest) -> str:
    """A consumer group id unique to this test."""
    return f"g-{_slug(request.node.name)}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def kafka_url(kafka_broker: KafkaBroker) -> Callable[..., str]:
    """Factory: ``kafka_url(topic, listener="plaintext", user=None)`` -> ``kafka://`` URL."""

    def url(topic: str, listener: str = "plaintext", user: str | None = None) -> str:
        userinfo = f"{user}@" if user else ""
        return f"kafka://{userinfo}{kafka_broker.bootstrap[listener]}/{topic}"

    return url


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """The session's three-node cluster, started on first use and stopped at the end."""
    with running_cluster(tmp_path_factory.mktemp("kafka-cluster")) as cluster:
        print(f"\n[cluster] 3 nodes started in {cluster.startup_seconds:.1f} s; RSS MiB "
              + ", ".join(f"{(v or 0) / 2**20:.0f}" for v in cluster.rss_bytes().values()))
        yield cluster


@pytest.fixture
def healthy_cluster(kafka_cluster: KafkaCluster) -> Iterator[KafkaCluster]:
    """The session cluster, all nodes up; restored (restarted, in sync) after the test."""
    heal(kafka_cluster)
    yield kafka_cluster
    heal(kafka_cluster)


@pytest.fixture
def make_cluster_topic(
    kafka_cluster: KafkaCluster, request: pytest.FixtureRequest
) -> Callable[..., str]:
    """Factory: ``make_cluster_topic(partitions=1, config=None)`` creates a fresh topic."""

    def make(partitions: int = 1, config: Mapping[str, str] | None = None) -> str:
        name = f"{_slug(request.node.name)}-{uuid.uuid4().hex[:8]}"
        kafka_cluster.create_topic(name, partitions, config)
        return name

    return make


@pytest.fixture
def cluster_url(kafka_cluster: KafkaCluster) -> Callable[..., str]:
    """Factory: ``cluster_url(topic, listener="plaintext")`` -> ``kafka://`` URL."""

    def url(topic: str, listener: str = "plaintext") -> str:
        return f"kafka://{kafka_cluster.bootstrap[listener]}/{topic}"

    return url
