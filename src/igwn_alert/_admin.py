"""Topic deletion through Kafka's admin API.

:mod:`hop.io` has no admin operations, so this builds a confluent-kafka
``AdminClient`` with the same connection and credential settings that hop gives
readers and writers (:func:`hop._internal.connection_settings`).
"""

from __future__ import annotations

import concurrent.futures
import logging
from typing import TYPE_CHECKING

from hop import errors
from hop._internal import connection_settings, translate

__all__ = ["delete_topic"]

if TYPE_CHECKING:
    from hop.auth import Auth

logger = logging.getLogger("igwn_alert.client")


def delete_topic(bootstrap: str, credential: Auth | None, topic: str, timeout: float) -> None:
    """Delete ``topic`` on the brokers ``bootstrap`` as ``credential``.

    Parameters
    ----------
    bootstrap : str
        ``host:port`` of the brokers.
    credential : hop.auth.Auth or None
        Who asks; None for an unauthenticated connection.
    topic : str
        The full Kafka topic name.
    timeout : float
        Longest wait for the broker, in seconds.

    Raises
    ------
    hop.errors.KafkaException
        The subclasses that :meth:`igwn_alert.client.delete` documents.
    """
    from confluent_kafka import KafkaException as RawKafkaException
    from confluent_kafka.admin import AdminClient

    conf = connection_settings(bootstrap, credential, int(timeout * 1000))
    who = f"credential {credential.username!r}" if credential is not None else "anonymous"
    action = f"deleting topic {topic!r} on {bootstrap}"
    admin = AdminClient(conf)
    future = admin.delete_topics(
        [topic], operation_timeout=timeout, request_timeout=timeout
    )[topic]
    try:
        future.result(timeout=timeout + 1.0)
    except concurrent.futures.TimeoutError as exc:
        raise errors.BrokerUnreachableError(
            f"{action}: no answer within {timeout:g} s; check the server and port",
            name="_TIMED_OUT",
            retriable=True,
            topic=topic,
        ) from exc
    except RawKafkaException as exc:
        err = translate(exc, action=action, topic=topic)
        # The two refusals a user can act on get a message saying what to do.
        advice = {
            errors.AuthorizationError: (
                f"{who} is not allowed to delete topic {topic!r} on {bootstrap} "
                f"({err.name}); ask the broker's administrator for the DELETE permission"
            ),
            errors.UnknownTopicError: (
                f"cannot delete topic {topic!r}: it does not exist on {bootstrap}"
            ),
        }.get(type(err))
        if advice is not None:
            raise type(err)(
                advice, error=err.error, name=err.name, reason=err.reason, topic=topic
            ) from exc
        raise err from exc
    logger.info("deleted topic %s on %s", topic, bootstrap)
