"""librdkafka errors become hop.errors exceptions at one boundary."""

import confluent_kafka
import pytest
from confluent_kafka import KafkaError

from hop import errors
from hop._kafka_errors import CODE_CLASSES, kafka_errors, translate


def _all_codes():
    return [
        getattr(KafkaError, n)
        for n in dir(KafkaError)
        if n.lstrip("_").isupper() and isinstance(getattr(KafkaError, n), int)
    ]


def test_every_librdkafka_code_translates_to_a_hop_kafka_exception():
    codes = _all_codes()
    assert len(codes) > 100
    for code in codes:
        exc = translate(KafkaError(code, "reason"))
        assert isinstance(exc, errors.KafkaException), code
        assert exc.name == KafkaError(code).name()


def test_code_groups_do_not_overlap():
    seen: set[int] = set()
    for codes in CODE_CLASSES:
        assert not (seen & codes)
        seen |= codes


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("_AUTHENTICATION", errors.AuthenticationError),
        ("SASL_AUTHENTICATION_FAILED", errors.AuthenticationError),
        ("TOPIC_AUTHORIZATION_FAILED", errors.AuthorizationError),
        ("GROUP_AUTHORIZATION_FAILED", errors.AuthorizationError),
        ("_TRANSPORT", errors.BrokerUnreachableError),
        ("_ALL_BROKERS_DOWN", errors.BrokerUnreachableError),
        ("UNKNOWN_TOPIC_OR_PART", errors.UnknownTopicError),
        ("MSG_SIZE_TOO_LARGE", errors.MessageTooLargeError),
        ("_MSG_TIMED_OUT", errors.DeliveryError),
    ],
)
def test_important_codes_get_their_own_class(name, cls):
    assert type(translate(KafkaError(getattr(KafkaError, name), "x"))) is cls


def test_tls_handshake_failure_is_reported_as_authentication_not_network():
    err = KafkaError(KafkaError._TRANSPORT, "SSL handshake failed: certificate verify failed")
    exc = translate(err)
    assert isinstance(exc, errors.AuthenticationError)
    assert "TLS failure" in str(exc)


def test_message_names_action_topic_partition_offset():
    exc = translate(
        KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED, "denied"),
        action="reading",
        topic="gcn",
        partition=2,
        offset=17,
    )
    text = str(exc)
    assert text.startswith("reading: denied")
    assert "'gcn' partition 2 offset 17" in text
    assert exc.topic == "gcn" and exc.partition == 2 and exc.offset == 17


def test_context_manager_translates_raw_exceptions():
    with pytest.raises(errors.UnknownTopicError) as info, kafka_errors("listing", topic="t"):
        raise confluent_kafka.KafkaException(KafkaError(KafkaError._UNKNOWN_TOPIC, "nope"))
    assert "'t'" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_client_errors_remember_the_first_hopeless_error_and_forward_all():
    from hop._kafka_errors import ClientErrors

    forwarded = []
    errs = ClientErrors("reading from h:1", forwarded.append)
    errs(KafkaError(KafkaError._ALL_BROKERS_DOWN, "down"))
    assert errs.failure is None
    errs(KafkaError(KafkaError._AUTHENTICATION, "bad password"))
    errs(KafkaError(KafkaError._SSL, "later"))
    assert isinstance(errs.failure, errors.AuthenticationError)
    assert str(errs.failure).startswith("reading from h:1: bad password")
    assert len(forwarded) == 3


@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        (KafkaError._MSG_TIMED_OUT, "retry"),
        (KafkaError.NOT_LEADER_FOR_PARTITION, "retry"),
        (KafkaError._TRANSPORT, "retry"),
        (KafkaError.MSG_SIZE_TOO_LARGE, "drop"),
        (KafkaError.INVALID_RECORD, "drop"),
        (KafkaError.TOPIC_AUTHORIZATION_FAILED, "fatal"),
        (KafkaError.SASL_AUTHENTICATION_FAILED, "fatal"),
        (KafkaError._UNKNOWN_TOPIC, "fatal"),
        (KafkaError._FATAL, "fatal"),
    ],
)
def test_one_classification_says_retry_drop_or_fatal_for_raw_and_translated_errors(
    code: int, verdict: str
) -> None:
    from hop._kafka_errors import classify

    raw = KafkaError(code, "x")
    assert classify(raw).value == verdict
    assert classify(translate(raw)).value == verdict


def test_errors_without_a_code_are_retried_only_when_they_say_so() -> None:
    from hop._kafka_errors import Verdict, classify

    assert classify(errors.KafkaException("full", retriable=True)) is Verdict.RETRY
    assert classify(errors.KafkaException("broken")) is Verdict.FATAL


def test_what_ends_a_client_also_stops_delivery() -> None:
    from hop._kafka_errors import _FATAL_FOR_CLIENT, _FATAL_FOR_DELIVERY, is_fatal_for_client

    assert _FATAL_FOR_CLIENT <= _FATAL_FOR_DELIVERY
    assert is_fatal_for_client(KafkaError(KafkaError._SSL))
    assert not is_fatal_for_client(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED))
