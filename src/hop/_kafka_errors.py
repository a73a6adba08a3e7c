"""The one boundary where librdkafka errors become :mod:`hop.errors` exceptions.

Every call into confluent-kafka that can fail goes through :func:`translate` or the
:func:`kafka_errors` context manager, so no raw ``confluent_kafka.KafkaException``
reaches users.

It is also the one place that decides what an error means for the work in hand
(:func:`classify`): send the message again, drop it, or stop the client. The
RobustProducer, the journal's delivery callbacks and every client's ``error_cb``
(:class:`ClientErrors`) share that verdict.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from confluent_kafka import KafkaError
from confluent_kafka import KafkaException as _RawKafkaException

from hop import errors

__all__ = [
    "CODE_CLASSES",
    "ClientErrors",
    "Verdict",
    "classify",
    "describe",
    "is_fatal_for_client",
    "kafka_errors",
    "translate",
]

logger = logging.getLogger("hop")


def _codes(*names: str) -> frozenset[int]:
    # Codes missing from an older confluent-kafka are skipped rather than breaking import.
    return frozenset(getattr(KafkaError, n) for n in names if hasattr(KafkaError, n))


_AUTHENTICATION = _codes("_AUTHENTICATION", "SASL_AUTHENTICATION_FAILED", "_SSL")
_AUTHORIZATION = _codes(
    "TOPIC_AUTHORIZATION_FAILED",
    "GROUP_AUTHORIZATION_FAILED",
    "CLUSTER_AUTHORIZATION_FAILED",
    "TRANSACTIONAL_ID_AUTHORIZATION_FAILED",
    "DELEGATION_TOKEN_AUTHORIZATION_FAILED",
)
_UNREACHABLE = _codes(
    "_TRANSPORT", "_ALL_BROKERS_DOWN", "_RESOLVE", "_TIMED_OUT", "_TIMED_OUT_QUEUE"
)
_UNKNOWN_TOPIC = _codes("_UNKNOWN_TOPIC", "UNKNOWN_TOPIC_OR_PART", "UNKNOWN_TOPIC_ID")
_TOO_LARGE = _codes("MSG_SIZE_TOO_LARGE", "_MSG_SIZE_TOO_LARGE", "INVALID_MSG_SIZE")
_DELIVERY = _codes("_MSG_TIMED_OUT", "NOT_ENOUGH_REPLICAS", "NOT_ENOUGH_REPLICAS_AFTER_APPEND")

CODE_CLASSES: dict[frozenset[int], type[errors.KafkaException]] = {
    _AUTHENTICATION: errors.AuthenticationError,
    _AUTHORIZATION: errors.AuthorizationError,
    _UNREACHABLE: errors.BrokerUnreachableError,
    _UNKNOWN_TOPIC: errors.UnknownTopicError,
    _TOO_LARGE: errors.MessageTooLargeError,
    _DELIVERY: errors.DeliveryError,
}
"""librdkafka error codes grouped by the exception class they become; any other code
becomes a plain :class:`hop.errors.KafkaException`."""

_CLASS_BY_CODE = {code: cls for codes, cls in CODE_CLASSES.items() for code in codes}

_HINTS: dict[type[errors.KafkaException], str] = {
    errors.AuthenticationError: "check the username and password (`hop auth list`) and the CA file",
    errors.AuthorizationError: "ask the broker's administrator for access (an ACL)",
    errors.BrokerUnreachableError: "check the host and port in the URL and that the broker is up",
}


def _is_tls_failure(reason: str) -> bool:
    lowered = reason.lower()
    return "ssl" in lowered or "certificate" in lowered or "handshake" in lowered


def describe(err: KafkaError) -> tuple[str, str]:
    """Return librdkafka's ``(name, reason)`` for an error."""
    return err.name(), err.str()


def translate(
    err: KafkaError | _RawKafkaException | Any,
    *,
    action: str = "",
    topic: str | None = None,
    partition: int | None = None,
    offset: int | None = None,
) -> errors.KafkaException:
    """Turn a librdkafka error into the matching :mod:`hop.errors` exception.

    Parameters
    ----------
    err : confluent_kafka.KafkaError or confluent_kafka.KafkaException
        The error librdkafka reported.
    action : str
        What was being done, e.g. ``"reading from kafka://host/topic"``; starts the message.
    topic, partition, offset :
        Where it happened, when known; they are named in the message.
    """
    if isinstance(err, _RawKafkaException):
        err = err.args[0] if err.args else KafkaError(KafkaError._FAIL)
    if not isinstance(err, KafkaError):
        return errors.KafkaException(f"{action}: {err}" if action else str(err))
    name, reason = describe(err)
    code = err.code()
    cls = _CLASS_BY_CODE.get(code, errors.KafkaException)
    # librdkafka reports a failed TLS handshake as a transport error; users need to know
    # it is the certificate, not the network.
    if cls is errors.BrokerUnreachableError and _is_tls_failure(reason):
        cls = errors.AuthenticationError
        reason = f"TLS failure: {reason}"
    where = ""
    if topic is not None:
        where = f" on topic {topic!r}"
        if partition is not None and partition >= 0:
            where += f" partition {partition}"
            if offset is not None and offset >= 0:
                where += f" offset {offset}"
    prefix = f"{action}: " if action else ""
    message = f"{prefix}{reason} ({name}){where}"
    hint = _HINTS.get(cls)
    if hint:
        message += f"; {hint}"
    return cls(
        message,
        error=err,
        name=name,
        reason=reason,
        retriable=bool(err.retriable()),
        fatal=bool(err.fatal()),
        topic=topic,
        partition=partition,
        offset=offset,
    )


@contextmanager
def kafka_errors(action: str = "", *, topic: str | None = None) -> Iterator[None]:
    """Translate confluent-kafka exceptions raised inside the block."""
    try:
        yield
    except _RawKafkaException as exc:
        raise translate(exc, action=action, topic=topic) from exc


class Verdict(enum.Enum):
    """What to do with a message (or a client) after an error."""

    RETRY = "retry"
    """Transient (timeouts, broker restarts, leader changes): send it again."""
    DROP = "drop"
    """This message can never be accepted (too large, invalid): drop it and say so."""
    FATAL = "fatal"
    """Nothing gets through until the setup changes (credentials, ACLs, topics):
    keep the messages and stop."""


# Client errors after which no request will ever succeed: a refused login or TLS
# handshake, or librdkafka declaring the client unusable.
_FATAL_FOR_CLIENT = _AUTHENTICATION | _codes("_FATAL")
# Errors that refuse this one message whatever is retried.
_DROP = _TOO_LARGE | _codes(
    "RECORD_LIST_TOO_LARGE", "INVALID_RECORD", "_INVALID_ARG", "POLICY_VIOLATION"
)
# Errors that refuse every message until someone changes the configuration, credentials,
# ACLs or topics.
_FATAL_FOR_DELIVERY = _FATAL_FOR_CLIENT | _codes(
    "TOPIC_AUTHORIZATION_FAILED", "CLUSTER_AUTHORIZATION_FAILED", "_UNKNOWN_TOPIC",
    "TOPIC_EXCEPTION", "INVALID_REQUIRED_ACKS",
)


def is_fatal_for_client(err: KafkaError) -> bool:
    """Whether a client error means that no request of this client will ever succeed."""
    return err.code() in _FATAL_FOR_CLIENT or bool(err.fatal())


def classify(err: Any) -> Verdict:
    """Say what to do with a message whose delivery failed with ``err``.

    Parameters
    ----------
    err : confluent_kafka.KafkaError or hop.errors.KafkaException
        The error, as a delivery report gives it or as :func:`translate` made it.

    Notes
    -----
    confluent-kafka marks no delivery error as retriable, so upstream dropped every
    message whose delivery failed; here only a message that no retry can fix is
    dropped. An error that carries no librdkafka code is retried if it says it is
    retriable, and fatal otherwise.
    """
    error = getattr(err, "error", None) if not hasattr(err, "code") else err
    if error is None or not callable(getattr(error, "code", None)):
        return Verdict.RETRY if getattr(err, "retriable", False) else Verdict.FATAL
    code = error.code()
    if code in _DROP:
        return Verdict.DROP
    fatal_flag = getattr(error, "fatal", None)
    if code in _FATAL_FOR_DELIVERY or (callable(fatal_flag) and fatal_flag()):
        return Verdict.FATAL
    return Verdict.RETRY


class ClientErrors:
    """librdkafka's ``error_cb`` for one client.

    Remembers the first error that means nothing will get through (``failure``), so the
    client can raise it instead of waiting out a timeout; logs the others, which
    librdkafka recovers from by itself; then passes every error on to the user's
    callback, if any.

    Parameters
    ----------
    action : str
        What the client does, e.g. ``"reading from host:9092"``; starts the message.
    user_callback : callable, optional
        The ``error_callback`` stream option.
    """

    def __init__(self, action: str, user_callback: Callable[[Any], None] | None = None) -> None:
        self.action = action
        self.failure: errors.KafkaException | None = None
        self._user_callback = user_callback

    def __call__(self, err: KafkaError) -> None:
        if is_fatal_for_client(err):
            if self.failure is None:
                self.failure = translate(err, action=self.action)
        elif err.code() == KafkaError._ALL_BROKERS_DOWN:
            logger.warning("%s: disconnected from all brokers; retrying", self.action)
        else:
            logger.debug("%s: kafka client error: %s", self.action, err)
        if self._user_callback is not None:
            self._user_callback(err)
