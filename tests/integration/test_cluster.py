"""The three-node test cluster itself: quorum, replication, users, and nodes that come back.

The failover behaviour of skyhop's readers and writers on it is in test_cluster_failover.py.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from hop import Stream, errors
from hop.auth import Auth
from hop.io import StartPosition
from hop.testing import KafkaCluster


def _read_all(url: str, **stream: object) -> list[object]:
    reader = Stream(start_at=StartPosition.EARLIEST, until_eos=True, **stream)  # type: ignore[arg-type]
    with reader.open(url, "r") as s:
        return [m.content for m in s]


def test_three_nodes_form_one_quorum_and_topics_get_three_replicas_and_min_isr_two(
    kafka_cluster: KafkaCluster, make_cluster_topic
):
    topic = make_cluster_topic(partitions=3)
    admin = AdminClient(kafka_cluster.admin_config())
    meta = admin.list_topics(topic=topic, timeout=10)
    assert sorted(meta.brokers) == [1, 2, 3]
    partitions = meta.topics[topic].partitions
    assert [sorted(p.replicas) for p in partitions.values()] == [[1, 2, 3]] * 3
    # Leadership is spread over the nodes, not all on one.
    assert len({p.leader for p in partitions.values()}) == 3
    resource = ConfigResource(ResourceType.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(timeout=10)
    assert configs["min.insync.replicas"].value == "2"
    assert kafka_cluster.replication == 3 and kafka_cluster.min_insync == 2


def test_scram_users_and_one_ca_work_on_every_node(
    kafka_cluster: KafkaCluster, make_cluster_topic
):
    topic = make_cluster_topic(partitions=3)
    group = f"alice-{uuid.uuid4().hex[:8]}"
    kafka_cluster.grant("alice", topic=topic)
    kafka_cluster.grant("alice", group=group)
    alice_tls = Auth("alice", kafka_cluster.users["alice"],
                     ssl_ca_location=str(kafka_cluster.ca_file))
    url_tls = f"kafka://{kafka_cluster.bootstrap['sasl_ssl']}/{topic}"
    # Three partitions led by three nodes: every node's SASL_SSL listener takes a write.
    with Stream(auth=alice_tls).open(url_tls, "w") as s:
        for n in range(30):
            s.write({"n": n}, key=str(n))
    alice = Auth("alice", kafka_cluster.users["alice"], ssl=False)
    url = f"kafka://{kafka_cluster.bootstrap['sasl_plaintext']}/{topic}"
    reader = Stream(auth=alice, start_at=StartPosition.EARLIEST, until_eos=True)
    with reader.open(url, "r", group_id=group) as s:
        got = sorted(m.content["n"] for m in s)
    assert got == list(range(30))
    wrong = Auth("bob", kafka_cluster.users["bob"], ssl=False)
    with pytest.raises(errors.AuthorizationError), Stream(auth=wrong).open(url, "w") as s:
        s.write({"n": -1})


def test_each_node_is_killed_stopped_and_restarted_on_its_own_ports_and_data(
    healthy_cluster: KafkaCluster, make_cluster_topic
):
    cluster = healthy_cluster
    topic = make_cluster_topic()
    url = f"kafka://{cluster.bootstrap['plaintext']}/{topic}"
    node = cluster.node(2)
    ports, pid = node.ports, node.pid
    partition_dir = Path(node.data_dir, "kraft", f"{topic}-0")
    with Stream(auth=False).open(url, "w") as s:
        s.write({"n": 0})
    assert partition_dir.is_dir()

    node.kill()
    assert not node.is_running and cluster.node(1).is_running and cluster.node(3).is_running
    # Two of three in sync: writes with acks=all still succeed.
    with Stream(auth=False).open(url, "w") as s:
        s.write({"n": 1})
    node.start()
    assert node.ports == ports and node.pid != pid
    cluster.wait_in_sync(topic)
    assert cluster.in_sync_replicas(topic) == [1, 2, 3]

    # A graceful stop (controlled shutdown) and restart of another node.
    other = cluster.node(3)
    other.stop()
    with Stream(auth=False).open(url, "w") as s:
        s.write({"n": 2})
    other.start()
    cluster.wait_in_sync(topic)
    # In sync again means each restarted node caught up, on its own data folder, with
    # what was written while it was away.
    assert partition_dir.is_dir()
    assert _read_all(url, auth=False) == [{"n": 0}, {"n": 1}, {"n": 2}]
