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
