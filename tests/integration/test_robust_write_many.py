"""RobustProducer.write_many on the real broker: every message of every batch arrives."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from hop.robust_publisher import RobustProducer
from hop.testing import KafkaBroker


@pytest.mark.parametrize("durability", ["none", "fsync"])
def test_every_message_of_write_many_batches_arrives(
    durability: str, tmp_path: Path, make_topic: Callable[..., str], kafka_broker: KafkaBroker
) -> None:
    topic = make_topic()
    url = f"kafka://{kafka_broker.bootstrap['plaintext']}/{topic}"
    batches, size = 5, 100
    with RobustProducer(url, auth=False, journal_path=tmp_path / "pub.journal",
                        durability=durability) as publisher:
        for b in range(batches):
            publisher.write_many({"n": b * size + i} for i in range(size))
    expected = batches * size
    consumer = Consumer({
        "bootstrap.servers": kafka_broker.bootstrap["plaintext"],
        "group.id": f"verify-{uuid.uuid4().hex}",
    })
    # At least once: a resent message may arrive twice, so arrivals are counted as a set.
    got: set[int] = set()
    ids: set[bytes] = set()
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        deadline = time.monotonic() + 60
        while len(got) < expected and time.monotonic() < deadline:
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None:
                got.add(json.loads(msg.value())["n"])
                ids.add(dict(msg.headers() or [])["_id"])
    finally:
        consumer.close()
    assert sorted(got) == list(range(expected))
    assert len(ids) == expected
