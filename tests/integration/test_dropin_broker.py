"""hop-client 0.13's contract against the real broker (issue 13): what involves Kafka."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Callable
from unittest import mock

import confluent_kafka
import pytest

from hop import Stream, errors
from hop.auth import Auth
from hop.io import StartPosition, list_topics
from hop.testing import KafkaBroker


def test_mechanism_spelt_as_upstream_allows_still_connects(
    kafka_broker: KafkaBroker, make_topic: Callable[..., str]
) -> None:
    # Auth.mechanism reports "scram_sha_512" as given (upstream's contract); librdkafka
    # must still get the standard name, or the broker refuses the handshake.
    topic, group = make_topic(), f"alice-{uuid.uuid4().hex[:8]}"
    kafka_broker.grant("alice", topic=topic, group=group)
    cred = Auth("alice", kafka_broker.users["alice"], ssl=False, method="scram_sha_512")
    assert cred.mechanism == "scram_sha_512"
    url = f"kafka://{kafka_broker.bootstrap['sasl_plaintext']}/{topic}"
    with Stream(auth=cred).open(url, "w") as producer:
        producer.write({"n": 1})
    reader = Stream(auth=cred, start_at=StartPosition.EARLIEST, until_eos=True)
    with reader.open(url, "r", group_id=group) as consumer:
        assert [m.content for m in consumer] == [{"n": 1}]


def test_scram_sha_1_on_kafka_is_refused_before_connecting_with_the_reason(
    kafka_broker: KafkaBroker, make_topic: Callable[..., str]
) -> None:
    cred = Auth("alice", kafka_broker.users["alice"], ssl=False, method="SCRAM-SHA-1")
    url = f"kafka://{kafka_broker.bootstrap['sasl_plaintext']}/{make_topic()}"
    started = time.monotonic()
    with pytest.raises(errors.ConfigurationError, match=r"SCRAM-SHA-1.*librdkafka"):
        Stream(auth=cred).open(url, "w")
    with pytest.raises(errors.ConfigurationError, match="SCRAM-SHA-1"):
        list_topics(url, auth=cred)
    assert time.monotonic() - started < 5


def test_list_topics_timeout_is_a_confluent_kafka_exception() -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    with pytest.raises(confluent_kafka.KafkaException) as info:
        list_topics(f"kafka://127.0.0.1:{port}/", auth=False, timeout=1)
    # Also skyhop's own error, and args[0] is the KafkaError, as upstream callers read it.
    assert isinstance(info.value, errors.BrokerUnreachableError)
    assert isinstance(info.value.args[0], confluent_kafka.KafkaError)
    assert "no broker at 127.0.0.1" in str(info.value)


def test_list_topics_uses_a_patched_load_auth(
    kafka_broker: KafkaBroker, make_topic: Callable[..., str]
) -> None:
    topic = make_topic()
    kafka_broker.grant("alice", topic=topic)
    cred = Auth("alice", kafka_broker.users["alice"], ssl=False)
    url = f"kafka://{kafka_broker.bootstrap['sasl_plaintext']}/{topic}"
    with mock.patch("hop.auth.load_auth", return_value=[cred]) as load:
        assert list(list_topics(url)) == [topic]
    load.assert_called_once_with()


def test_ctrl_c_inside_with_producer_prints_aborted_and_is_swallowed(
    kafka_broker: KafkaBroker, make_topic: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"kafka://{kafka_broker.bootstrap['plaintext']}/{make_topic()}"
    started = time.monotonic()
    with Stream(auth=False).open(url, "w") as producer:
        producer.write({"n": 1})
        raise KeyboardInterrupt
    # Reached: the interrupt did not propagate, as with hop-client; and no long wait.
    assert capsys.readouterr().out == "Aborted (CTRL-C).\n"
    assert time.monotonic() - started < 10
    with pytest.raises(errors.StreamClosedError):
        producer.write({"n": 2})

