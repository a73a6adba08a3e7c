"""Failover on the real three-node cluster, with real kills.

* The leader of a partition is SIGKILLed during a steady, numbered produce at 1,000
  messages per second: with skyhop's default settings (acks=all, idempotence) nothing is
  lost or duplicated; without idempotence (upstream's setting) nothing is lost. Upstream
  hop-client runs the same scenario, for the record.
* Two of three nodes down: writes are held and retried within ``produce_timeout``, then
  fail with a retriable error; a RobustProducer keeps every message journaled and
  delivers them once a node is back.
* A consumer group of three processes on six partitions keeps handling through a broker
  kill and restart and a member's SIGKILL: every message handled.
* ``until_eos`` readers and their ``list_topics`` work while the node named first in the URL
  is down.

Each scenario prints its figures (``[failover] ...``): failover time (kill to the next
acknowledged write), messages in flight at the kill, lost, duplicated, rebalance time.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from _peers import peer_environment
from hop import Stream, errors
from hop.io import StartPosition
from hop.robust_publisher import RobustProducer
from hop.testing import KafkaCluster

pytestmark = pytest.mark.slow

RATE = 1000.0  # messages per second
TOTAL = 8000  # eight seconds of it
KILL_AT = 1500  # the leader dies 1.5 s in

# Runs under skyhop or, with the peers' python, under upstream hop-client: the same
# calls (Stream.open, write with a delivery callback) exist in both. The pacing wait
# serves delivery reports, so each acknowledgement is timed within a millisecond.
_PRODUCER = r"""
import json, sys, time
import confluent_kafka
from hop.io import Stream

url, total, rate, idempotence = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
options = {"on": {"use_idempotence": True}, "off": {"use_idempotence": False}}.get(idempotence, {})
sent, acked, failed = {}, {}, {}

def raw(obj):
    # skyhop: Producer._producer; upstream: Producer.producers[topic]._producer (made
    # on the first write).
    while not isinstance(obj, confluent_kafka.Producer):
        if hasattr(obj, "_producer"):
            obj = obj._producer
        elif hasattr(obj, "producers"):
            obj = next(iter(obj.producers.values()))
        else:
            obj = obj.producer
    return obj

with Stream(auth=False).open(url, "w", **options) as s:
    s.write({"seq": -1})  # not counted: makes upstream create its producer
    producer = raw(s)
    start = time.time()
    for i in range(total):
        target = start + i / rate
        while True:
            now = time.time()
            if now >= target:
                break
            producer.poll(target - now)

        def report(err, msg, i=i):
            if err is None:
                acked[i] = time.time()
            else:
                failed[i] = str(err)

        sent[i] = time.time()
        s.write({"seq": i}, delivery_callback=report)
        if i % 100 == 0:
            print("sent", i, flush=True)
print(json.dumps({"sent": sent, "acked": acked, "failed": failed}), flush=True)
"""


@dataclass
class Outcome:
    label: str
    failover_s: float
    in_flight: int
    lost: int
    duplicated: int
    failed: int
    acked_then_lost: int

    def __str__(self) -> str:
        return (f"[failover] {self.label}: failover {self.failover_s:.2f} s, in flight at "
                f"kill {self.in_flight}, lost {self.lost} (acknowledged then lost "
                f"{self.acked_then_lost}), duplicated {self.duplicated}, delivery errors "
                f"{self.failed}")


def _read_seqs(cluster: KafkaCluster, topic: str, partitions: int = 1) -> list[int]:
    """Every ``seq`` in the topic, up to the high watermarks."""
    consumer = Consumer({"bootstrap.servers": cluster.bootstrap["plaintext"],
                         "group.id": f"verify-{uuid.uuid4().hex}", "enable.auto.commit": False})
    try:
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
                for p in range(partitions)}
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        left = {p for p, end in ends.items() if end > 0}
        seqs: list[int] = []
        deadline = time.monotonic() + 60
        while left:
            assert time.monotonic() < deadline, f"read {len(seqs)} messages of {ends}"
            msg = consumer.poll(1.0)
            if msg is None or msg.error() is not None:
                continue
            seq = json.loads(msg.value())["seq"]
            if seq >= 0:  # -1: the producer's first write, before the numbered ones
                seqs.append(seq)
            if msg.offset() >= ends[msg.partition()] - 1:
                left.discard(msg.partition())
        return seqs
    finally:
        consumer.close()


def _kill_leader_during_produce(
    cluster: KafkaCluster,
    topic: str,
    python: str,
    idempotence: str,
    label: str,
    env: Any,
    one_bootstrap: bool = False,
) -> Outcome:
    leader = cluster.leader(topic)
    url = f"kafka://{cluster.bootstrap['plaintext']}/{topic}"
    if one_bootstrap:
        # Upstream takes one broker in a URL; a follower's, so it survives the kill.
        follower = next(n for n in cluster.nodes if n is not leader)
        url = f"kafka://{follower.bootstrap['plaintext']}/{topic}"
    proc = subprocess.Popen(
        [python, "-P", "-c", _PRODUCER, url, str(TOTAL), str(RATE), idempotence],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    killed_at = None
    last_line = ""
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            last_line = line
            if killed_at is None and line.startswith("sent ") and int(line.split()[1]) >= KILL_AT:
                killed_at = time.time()
                leader.kill()
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr[-3000:]
    assert killed_at is not None, "the producer ended before the kill point"
    report = json.loads(last_line)
    sent = {int(k): v for k, v in report["sent"].items()}
    acked = {int(k): v for k, v in report["acked"].items()}
    seqs = _read_seqs(cluster, topic)
    present = set(seqs)
    # The first write sent after the kill can only be acknowledged by the new leader.
    first_after = min((i for i, t in sent.items() if t > killed_at), default=None)
    outcome = Outcome(
        label=f"{label} (leader node {leader.node_id})",  # type: ignore[attr-defined]
        failover_s=(acked[first_after] - killed_at) if first_after in acked else float("inf"),
        in_flight=sum(
            1 for i, t in sent.items() if t <= killed_at and acked.get(i, 1e18) > killed_at
        ),
        lost=len(set(range(TOTAL)) - present),
        duplicated=len(seqs) - len(present),
        failed=len(report["failed"]),
        acked_then_lost=len(set(acked) - present),
    )
    print(f"\n{outcome}")
    return outcome


@pytest.fixture(scope="module")
def _warm(kafka_cluster: KafkaCluster) -> None:
    # A just-started JVM answers its first thousands of requests slowly (its code is not
    # compiled yet); a warm-up keeps that from counting as failover.
    name = f"warm-up-{uuid.uuid4().hex[:8]}"
    kafka_cluster.create_topic(name, partitions=3)
    with Stream(auth=False).open(f"kafka://{kafka_cluster.bootstrap['plaintext']}/{name}",
                                 "w") as s:
        for i in range(20_000):
            s.write({"seq": i}, key=str(i))


@pytest.fixture
def cluster(healthy_cluster: KafkaCluster, _warm: None) -> KafkaCluster:
    return healthy_cluster


def test_leader_killed_during_steady_produce_neither_loses_nor_duplicates_with_defaults(
    cluster: KafkaCluster, make_cluster_topic
):
    # skyhop's defaults: acks=all and, since these measurements, idempotence.
    topic = make_cluster_topic()
    outcome = _kill_leader_during_produce(
        cluster, topic, sys.executable, "default", "skyhop, default settings", None
    )
    assert outcome.lost == 0 and outcome.failed == 0
    assert outcome.duplicated == 0
    assert outcome.failover_s < 30


def test_leader_killed_during_steady_produce_without_idempotence_loses_nothing(
    cluster: KafkaCluster, make_cluster_topic
):
    # Upstream's setting: acks=all alone. Nothing lost; duplicates are measured (the
    # retries of writes in flight at the kill), which is why idempotence is the default.
    topic = make_cluster_topic()
    outcome = _kill_leader_during_produce(
        cluster, topic, sys.executable, "off", "skyhop, use_idempotence=False", None
    )
    assert outcome.lost == 0 and outcome.failed == 0


def test_upstream_hop_client_on_the_same_leader_kill_is_measured(
    cluster: KafkaCluster, make_cluster_topic, peers_python
):
    topic = make_cluster_topic()
    outcome = _kill_leader_during_produce(
        cluster, topic, str(peers_python), "default", "upstream hop-client 0.13, defaults",
        peer_environment(), one_bootstrap=True,
    )
    # Measured, not judged: upstream's 10 s message timeout may lose messages here. What
    # it acknowledged must be there, though, or the scenario itself is broken.
    assert outcome.acked_then_lost == 0
    assert outcome.lost + outcome.duplicated < TOTAL


# -- two of three nodes down ---------------------------------------------------------------


def _down_to_one(cluster: KafkaCluster, topic: str) -> tuple[Any, list[Any]]:
    """Stop two nodes, the leader's followers first; return (survivor, stopped)."""
    survivor = cluster.leader(topic)
    stopped = [n for n in cluster.nodes if n is not survivor]
    for node in stopped:
        # A graceful stop: the node leaves the in-sync set at once, so the survivor is
        # left alone in it, below min.insync.replicas=2.
        node.stop()
    return survivor, stopped


def test_two_of_three_down_writes_are_retried_then_fail_retriably_and_recover(
    cluster: KafkaCluster, make_cluster_topic
):
    topic = make_cluster_topic()
    url = f"kafka://{cluster.bootstrap['plaintext']}/{topic}"
    _, stopped = _down_to_one(cluster, topic)
    began = time.monotonic()
    with (
        pytest.raises(errors.KafkaException) as caught,
        Stream(auth=False).open(url, "w", produce_timeout=6) as s,
    ):
        s.write({"seq": 0})
    held = time.monotonic() - began
    print(f"\n[failover] 2 of 3 down: write held {held:.1f} s, then: {caught.value}")
    assert caught.value.retriable
    assert caught.value.name == "NOT_ENOUGH_REPLICAS"
    assert "NOT_ENOUGH_REPLICAS: in-sync replicas" in str(caught.value)
    assert "min.insync.replicas 2" in str(caught.value)
    assert held >= 5  # retried for the whole produce_timeout, not refused at once
    stopped[0].start()
    with Stream(auth=False).open(url, "w", produce_timeout=30) as s:
        s.write({"seq": 1})
    assert _read_seqs(cluster, topic) == [1]


def test_two_of_three_down_robust_producer_keeps_its_journal_and_drains_it_after(
    cluster: KafkaCluster, make_cluster_topic, tmp_path: Path
):
    topic = make_cluster_topic()
    url = f"kafka://{cluster.bootstrap['plaintext']}/{topic}"
    journal = tmp_path / "pub.journal"
    count = 300
    publisher = RobustProducer(url, auth=False, journal_path=journal)
    try:
        publisher.start()
        for i in range(count // 3):
            publisher.write({"seq": i})
        _, stopped = _down_to_one(cluster, topic)
        for i in range(count // 3, count):
            publisher.write({"seq": i})
        # For 10 s no write can be acknowledged: everything not yet sent stays journaled.
        down_until = time.monotonic() + 10
        while time.monotonic() < down_until:
            publisher.join(timeout=0.5)  # bounded wait that notices a dead sender
            assert publisher.is_alive()
        pending = sum(publisher._journal._counts())
        assert pending >= count - count // 3
        stopped[0].start()
    finally:
        publisher.stop(timeout=120)
    seqs = _read_seqs(cluster, topic)
    print(f"\n[failover] 2 of 3 down: {pending} journaled during the outage; after: "
          f"lost {len(set(range(count)) - set(seqs))}, duplicated {len(seqs) - len(set(seqs))}")
    assert set(seqs) == set(range(count))
    with RobustProducer(url, auth=False, journal_path=journal) as again:
        assert sum(again._journal._counts()) == 0


# -- bootstrap servers that are down ---------------------------------------------------------


def test_until_eos_readers_and_list_topics_work_when_the_first_bootstrap_node_is_down(
    cluster: KafkaCluster, make_cluster_topic
):
    topic = make_cluster_topic(partitions=3)
    url = f"kafka://{cluster.bootstrap['plaintext']}/{topic}"
    with Stream(auth=False).open(url, "w") as s:
        for i in range(30):
            s.write({"seq": i}, key=str(i))
    first = cluster.node(1)
    first.kill()
    assert url.split("//")[1].startswith(first.bootstrap["plaintext"])
    reader = Stream(auth=False, start_at=StartPosition.EARLIEST, until_eos=True)
    began = time.monotonic()
    with reader.open(url, "r") as s:
        # A reader's list_topics, bootstrapped from the same URL, while node 1 is down.
        assert topic in s.list_topics(timeout=20)
        got = sorted(m.content["seq"] for m in s)
    print(f"\n[failover] until_eos read with node 1 down took {time.monotonic() - began:.1f} s")
    assert got == list(range(30))


# -- a consumer group across processes ---------------------------------------------------------

_MEMBER = r"""
import sys, time
from hop import Stream
from hop.io import StartPosition

url, group = sys.argv[1:3]
reader = Stream(auth=False, start_at=StartPosition.EARLIEST)
with reader.open(url, "r", group_id=group, session_timeout=6) as s:
    for message, meta in s.read(metadata=True):
        print("got", message.content["seq"], meta.partition, time.time(), flush=True)
"""


class _Member:
    """A reader process of the group; its handled messages are collected by a thread."""

    def __init__(self, url: str, group: str) -> None:
        self.handled: list[tuple[int, int, float]] = []  # (seq, partition, time)
        self.proc = subprocess.Popen([sys.executable, "-c", _MEMBER, url, group],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            _, seq, partition, stamp = line.split()
            self.handled.append((int(seq), int(partition), float(stamp)))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._thread.join(10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


def _members_with_partitions(cluster: KafkaCluster, group: str) -> int:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(cluster.admin_config())
    try:
        desc = admin.describe_consumer_groups([group])[group].result(timeout=5)
    except Exception:
        return 0
    return sum(1 for m in desc.members if m.assignment and m.assignment.topic_partitions)


def _wait(condition: Any, what: str, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        time.sleep(0.1)  # bounded poll of other processes' progress


def test_a_group_of_three_readers_handles_everything_through_broker_and_member_kills(
    cluster: KafkaCluster, make_cluster_topic, unique_group: str
):
    topic = make_cluster_topic(partitions=6)
    url = f"kafka://{cluster.bootstrap['plaintext']}/{topic}"
    total, rate = 5000, 200.0
    members = [_Member(url, unique_group) for _ in range(3)]
    done = threading.Event()
    failures: list[BaseException] = []

    def produce() -> None:
        try:
            with Stream(auth=False).open(url, "w") as s:
                start = time.monotonic()
                for i in range(total):
                    # Paced with a wait that ends early only if the test gave up.
                    if done.wait(max(0.0, start + i / rate - time.monotonic())):
                        return
                    s.write({"seq": i}, key=str(i))
        except BaseException as exc:
            failures.append(exc)

    producer = threading.Thread(target=produce)
    try:
        _wait(lambda: _members_with_partitions(cluster, unique_group) == 3,
              "three members with partitions")
        producer.start()
        _wait(lambda: sum(len(m.handled) for m in members) >= 1000, "1,000 messages handled")
        # A broker crashes and comes back while the group reads.
        node = cluster.node(2)
        node.kill()
        _wait(lambda: sum(len(m.handled) for m in members) >= 1800, "reading on without node 2")
        node.start()
        cluster.wait_in_sync(topic)
        _wait(lambda: _members_with_partitions(cluster, unique_group) == 3, "a settled group")
        # Then a member's machine goes away.
        victim = members[0]
        killed_at = time.time()
        # Its partitions now: those it handled in the last second (all six get messages
        # every few milliseconds).
        owned = {p for _, p, t in list(victim.handled) if t > killed_at - 1.0}
        assert owned, "the member to be killed was handling nothing"
        victim.proc.kill()
        _wait(lambda: any(p in owned and t > killed_at
                          for m in members[1:] for _, p, t in list(m.handled)),
              "the survivors to take over the dead member's partitions")
        rebalance = min(t for m in members[1:] for _, p, t in list(m.handled)
                        if p in owned and t > killed_at) - killed_at
        producer.join(timeout=total / rate + 60)
        assert not producer.is_alive() and not failures, failures

        def everything() -> bool:
            return set(range(total)) <= {s for m in members for s, _, _ in list(m.handled)}

        _wait(everything, "every message to be handled")
    finally:
        done.set()
        if producer.is_alive():
            producer.join(30)
        for member in members:
            member.close()
    handled = [s for m in members for s, _, _ in m.handled]
    print(f"\n[failover] group of 3 on 6 partitions: {len(set(handled))} of {total} handled, "
          f"{len(handled) - len(set(handled))} twice; rebalance after a member's SIGKILL "
          f"{rebalance:.1f} s (session timeout 6 s)")
    assert set(handled) == set(range(total))
