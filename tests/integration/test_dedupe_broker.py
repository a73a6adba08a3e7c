"""Deduplicating readers on the real broker: each ``_id`` handed over once.

The fault scenarios that make duplicates (a RobustProducer killed and restarted, a
listener killed in its group) run with deduplication in test_robust_faults.py and
test_igwn_alert_broker.py.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, TopicPartition
from confluent_kafka import Consumer as RawConsumer
from confluent_kafka import Producer as RawProducer

from hop import Stream, errors
from hop.io import StartPosition
from hop.testing import KafkaBroker


def _contents(stream: Stream, url: str, **options: object) -> list[object]:
    with stream.open(url, "r", **options) as s:
        return [m.content for m in s]


def _copy_with_same_headers(broker: KafkaBroker, topic: str, partitions: int, count: int) -> int:
    """Produce a second copy, same value and headers, of the first ``count`` messages.

    The copies go to the other partition, as a resend by a producer with no key may.
    """
    raw = RawConsumer({"bootstrap.servers": broker.bootstrap["plaintext"],
                       "group.id": f"copy-{uuid.uuid4().hex}", "enable.auto.commit": False})
    raw.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    taken = []
    try:
        while len(taken) < count:
            msg = raw.poll(10)
            assert msg is not None, f"read {len(taken)} of {count} messages to copy"
            if msg.error() is None:
                taken.append(msg)
    finally:
        raw.close()
    producer = RawProducer({"bootstrap.servers": broker.bootstrap["plaintext"]})
    for msg in taken:
        producer.produce(topic, msg.value(), headers=msg.headers(),
                         partition=(msg.partition() + 1) % partitions)
    assert producer.flush(30) == 0
    return len(taken)


def test_deduplicating_readers_hand_each_id_over_once_and_pass_messages_without_one(
    kafka_broker: KafkaBroker, make_topic
):
    topic = make_topic(partitions=2)
    url = f"kafka://{kafka_broker.bootstrap['plaintext']}/{topic}"
    with Stream(auth=False).open(url, "w") as s:
        for n in range(20):
            s.write({"n": n}, key=str(n))
    copies = _copy_with_same_headers(kafka_broker, topic, 2, 10)
    # Messages from a producer that sets no _id: twice the same bytes, both delivered.
    producer = RawProducer({"bootstrap.servers": kafka_broker.bootstrap["plaintext"]})
    for _ in range(2):
        producer.produce(topic, b'{"plain": 1}', partition=0)
    assert producer.flush(30) == 0

    every = Stream(auth=False, start_at=StartPosition.EARLIEST, until_eos=True)
    assert len(_contents(every, url)) == 20 + copies + 2
    expected = sorted([{"n": n} for n in range(20)] + [{"plain": 1}] * 2, key=str)

    # The option on Stream, on Stream.open and on read() itself.
    on_stream = Stream(auth=False, start_at=StartPosition.EARLIEST, until_eos=True,
                       deduplicate=True)
    assert sorted(_contents(on_stream, url), key=str) == expected
    assert sorted(_contents(every, url, deduplicate=True), key=str) == expected
    with every.open(url, "r") as s:
        got = [m.content for m in s.read(deduplicate=True)]
        assert s.duplicates_dropped == copies
    assert sorted(got, key=str) == expected


def test_a_restarted_reader_sharing_the_store_does_not_hand_over_again(
    kafka_broker: KafkaBroker, make_topic, unique_group: str, tmp_path: Path
):
    topic = make_topic(partitions=2)
    url = f"kafka://{kafka_broker.bootstrap['plaintext']}/{topic}"
    with Stream(auth=False).open(url, "w") as s:
        for n in range(30):
            s.write({"n": n}, key=str(n))
    store = tmp_path / "handed-over.ids"
    reader = Stream(auth=False, start_at=StartPosition.EARLIEST, until_eos=True,
                    dedupe_path=store)
    first: list[int] = []
    with reader.open(url, "r", group_id=unique_group) as s:
        # Handled but never committed, as when a reader dies before its commit.
        for message in s.read(autocommit=False):
            first.append(message.content["n"])
            if len(first) == 10:
                break
    # The group re-reads from the start; the ten already handed over are skipped.
    with reader.open(url, "r", group_id=unique_group) as s:
        rest = [m.content["n"] for m in s]
        assert s.duplicates_dropped == 10
    assert len(first) == 10
    assert sorted(first + rest) == list(range(30))
    # The store is what remembers: the same store in a new group skips all thirty.
    assert _contents(reader, url, group_id=f"{unique_group}-2") == []


def test_a_store_that_cannot_be_opened_is_refused_before_reading(
    kafka_broker: KafkaBroker, unique_topic: str, tmp_path: Path
):
    (tmp_path / "a-file").write_text("")
    url = f"kafka://{kafka_broker.bootstrap['plaintext']}/{unique_topic}"
    with pytest.raises(errors.ConfigurationError, match="deduplication store"):
        Stream(auth=False).open(url, "r", dedupe_path=tmp_path / "a-file" / "ids")
