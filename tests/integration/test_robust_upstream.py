"""A journal left by upstream hop-client's RobustProducer is converted and sent by ours."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from _peers import run_peer
from hop.cli._journal import salvage_main
from hop.robust_publisher import RobustProducer
from hop.testing import KafkaBroker

# Upstream's PublicationJournal records three messages and the delivery of one, as a
# publisher killed mid-run would leave it.
_UPSTREAM_JOURNAL = r"""
import sys
from hop.robust_publisher import PublicationJournal
journal = PublicationJournal(sys.argv[1])
for i in range(3):
    journal.queue_message(b"payload-%d" % i, sys.argv[2], headers=[("_id", b"id-%d" % i)],
                          key=b"key-%d" % i)
seq, *_ = journal.get_next_message_to_send()
journal.mark_message_sent(seq)
"""


def test_upstream_journal_is_converted_and_its_unsent_messages_delivered(
    peers_python: Path, tmp_path: Path, make_topic: Callable[..., str], kafka_broker: KafkaBroker
) -> None:
    topic = make_topic()
    old, new = tmp_path / "upstream.journal", tmp_path / "skyhop.journal"
    run_peer(peers_python, _UPSTREAM_JOURNAL, str(old), topic, timeout=60)
    assert salvage_main([str(old), str(new)]) == 0
    url = f"kafka://{kafka_broker.bootstrap['plaintext']}/{topic}"
    with RobustProducer(url, auth=False, journal_path=new):
        pass
    consumer = Consumer({
        "bootstrap.servers": kafka_broker.bootstrap["plaintext"],
        "group.id": f"verify-{uuid.uuid4().hex}",
    })
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        got = []
        for _ in range(60):
            msg = consumer.poll(1.0)
            if msg is not None and msg.error() is None:
                got.append((msg.value(), msg.key(), dict(msg.headers() or [])["_id"]))
            if len(got) == 2:
                break
    finally:
        consumer.close()
    assert sorted(got) == [(b"payload-1", b"key-1", b"id-1"), (b"payload-2", b"key-2", b"id-2")]
