"""The broker harness against the real Kafka broker, with raw confluent-kafka clients.

These prove what the rest of the suite relies on: topics, the three client
listeners, SCRAM logins, TLS trust, ACL enforcement and surviving a crash.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaError, Producer

from hop.testing import KafkaBroker
from hop.testing.broker import MESSAGE_MAX_BYTES

_DEADLINE_S = 30.0
_SASL_LISTENERS = ["sasl_plaintext", "sasl_ssl"]


def _produce(config: dict[str, Any], topic: str, value: bytes) -> KafkaError | None:
    """Produce one message and return the delivery error (None when delivered)."""
    outcome: list[KafkaError | None] = []
    producer = Producer({**config, "acks": "all", "message.timeout.ms": 15000})
    producer.produce(topic, value, on_delivery=lambda err, msg: outcome.append(err))
    remaining = producer.flush(_DEADLINE_S)
    assert remaining == 0, f"message to {topic} neither delivered nor failed in time"
    return outcome[0]


def _consume_one(config: dict[str, Any], topic: str, group: str) -> bytes:
    """Read the first message of ``topic`` from the beginning, or fail at the deadline."""
    consumer = Consumer({
        **config,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
    })
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + _DEADLINE_S
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error() is not None:
                raise AssertionError(f"consuming {topic} failed: {msg.error()}")
            value = msg.value()
            assert value is not None
            return bytes(value)
        raise AssertionError(f"no message on {topic} within {_DEADLINE_S} s")
    finally:
        consumer.close()


def _first_client_error(config: dict[str, Any]) -> KafkaError:
    """Start a producer and return the first connection-level error librdkafka reports."""
    errors: list[KafkaError] = []
    producer = Producer({**config, "error_cb": errors.append, "log_level": 0})
    deadline = time.monotonic() + _DEADLINE_S
    while not errors and time.monotonic() < deadline:
        producer.poll(0.2)
    assert errors, f"no client error within {_DEADLINE_S} s"
    return errors[0]


def test_created_topic_is_listed_with_requested_partitions(
    kafka_broker: KafkaBroker, make_topic: Any
) -> None:
    topic = make_topic(partitions=3)

    metadata = Producer(kafka_broker.admin_config()).list_topics(topic, timeout=10)

    assert topic in kafka_broker.list_topics()
    assert len(metadata.topics[topic].partitions) == 3


def test_deleted_topic_is_no_longer_listed(kafka_broker: KafkaBroker, unique_topic: str) -> None:
    kafka_broker.delete_topic(unique_topic)

    assert unique_topic not in kafka_broker.list_topics()


def test_message_round_trips_over_plaintext(
    kafka_broker: KafkaBroker, unique_topic: str, unique_group: str
) -> None:
    payload = uuid.uuid4().bytes
    config = kafka_broker.client_config("plaintext")

    assert _produce(config, unique_topic, payload) is None
    assert _consume_one(config, unique_topic, unique_group) == payload


def test_broker_accepts_a_two_megabyte_alert(
    kafka_broker: KafkaBroker, unique_topic: str, unique_group: str
) -> None:
    # IGWN alerts with base64 sky maps are ~1 MB; random bytes do not compress away.
    payload = os.urandom(2 * 1024 * 1024)
    config = {**kafka_broker.client_config("plaintext"), "message.max.bytes": MESSAGE_MAX_BYTES}

    assert _produce(config, unique_topic, payload) is None
    assert _consume_one(config, unique_topic, unique_group) == payload


@pytest.mark.parametrize("listener", _SASL_LISTENERS)
def test_granted_scram_user_produces_and_consumes(
    kafka_broker: KafkaBroker, unique_topic: str, unique_group: str, listener: str
) -> None:
    kafka_broker.grant("alice", topic=unique_topic, group=unique_group)
    config = kafka_broker.client_config(listener, "alice")
    payload = f"hello over {listener}".encode()

    assert _produce(config, unique_topic, payload) is None
    assert _consume_one(config, unique_topic, unique_group) == payload


@pytest.mark.parametrize("listener", _SASL_LISTENERS)
def test_wrong_password_is_refused_with_authentication_error(
    kafka_broker: KafkaBroker, listener: str
) -> None:
    config = {**kafka_broker.client_config(listener, "alice"), "sasl.password": "not-it"}

    error = _first_client_error(config)

    assert error.code() == KafkaError._AUTHENTICATION, error


def test_tls_with_wrong_ca_fails_the_handshake(kafka_broker: KafkaBroker) -> None:
    config = {
        **kafka_broker.client_config("sasl_ssl", "alice"),
        "ssl.ca.location": str(kafka_broker.wrong_ca_file),
    }

    error = _first_client_error(config)

    assert error.code() == KafkaError._SSL, error
    assert "certificate verify failed" in error.str()


def test_user_without_acl_is_refused_topic_until_granted(
    kafka_broker: KafkaBroker, unique_topic: str
) -> None:
    config = kafka_broker.client_config("sasl_plaintext", "bob")

    refused = _produce(config, unique_topic, b"denied")
    kafka_broker.grant("bob", topic=unique_topic, operations=["WRITE", "DESCRIBE"])
    allowed = _produce(config, unique_topic, b"allowed")

    assert refused is not None
    assert refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, refused
    assert allowed is None


def test_consumer_without_group_acl_is_refused_the_group(
    kafka_broker: KafkaBroker, unique_topic: str, unique_group: str
) -> None:
    kafka_broker.grant("carol", topic=unique_topic, operations=["READ", "DESCRIBE"])
    config = kafka_broker.client_config("sasl_plaintext", "carol")

    with pytest.raises(AssertionError, match="GROUP_AUTHORIZATION_FAILED"):
        _consume_one(config, unique_topic, unique_group)


def test_revoked_acl_is_refused_again(kafka_broker: KafkaBroker, unique_topic: str) -> None:
    config = kafka_broker.client_config("sasl_plaintext", "bob")
    kafka_broker.grant("bob", topic=unique_topic)
    kafka_broker.revoke("bob", topic=unique_topic)

    refused = _produce(config, unique_topic, b"denied")

    assert refused is not None
    assert refused.code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, refused


def test_added_user_can_log_in(kafka_broker: KafkaBroker, unique_topic: str) -> None:
    name = f"dave-{uuid.uuid4().hex[:6]}"
    kafka_broker.add_user(name, "dave-secret")
    kafka_broker.grant(name, topic=unique_topic)

    delivered = _produce(kafka_broker.client_config("sasl_ssl", name), unique_topic, b"hi")

    assert delivered is None


def test_killed_broker_keeps_acknowledged_message_after_restart(
    kafka_broker: KafkaBroker, unique_topic: str, unique_group: str
) -> None:
    config = kafka_broker.client_config("plaintext")
    payload = b"survives a crash " + uuid.uuid4().bytes
    assert _produce(config, unique_topic, payload) is None
    ports, old_pid = kafka_broker.ports, kafka_broker.pid

    kafka_broker.kill()
    assert not kafka_broker.is_running
    kafka_broker.restart()

    assert kafka_broker.is_running
    assert kafka_broker.pid != old_pid
    assert kafka_broker.ports == ports
    assert _consume_one(config, unique_topic, unique_group) == payload
