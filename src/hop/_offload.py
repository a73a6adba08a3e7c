"""Large-message offload (hop-client 0.11+): messages too big for their topic go by HTTP.

The protocol, as upstream documents and speaks it:

- **Discovery.** The broker's ``sys.metadata`` topic announces the service: its last
  message is JSON ``{"LargeMessageUploadEndpoint": "<url>"}``. No topic (or no right
  to read it) means no offload.
- **Upload.** A message whose size is over the topic's ``max.message.bytes`` is sent as
  BSON ``{"message", "headers", "key"}`` to ``POST {endpoint}/topic/{topic}+oversized``,
  authenticated with HTTP SCRAM (:class:`hop.http_scram.SCRAMAuth`, shortcut) or a
  bearer token; a small :class:`~hop.models.ExternalMessage` pointing at
  ``{endpoint}/msg/{_id}`` is written to Kafka in its place.
- **Download.** A reader with ``fetch_external`` fetches the URL (credentials go only
  to the endpoint its broker declared) and gets BSON ``{"message", "metadata":
  {"headers", "timestamp", "key"}}`` back: the original message.

HTTP statuses become Kafka errors with :func:`http_error_to_kafka`, one table.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import confluent_kafka
from confluent_kafka import KafkaError, TopicPartition

from hop import _bson
from hop.errors import HopWarning

__all__ = [
    "METADATA_TOPIC",
    "OFFLOAD_FLOOR",
    "Fetched",
    "OffloadFailure",
    "discover_endpoint",
    "fetch",
    "http_error_to_kafka",
    "upload",
]

logger = logging.getLogger("hop")

METADATA_TOPIC = "sys.metadata"
"""The topic whose last message announces the offload endpoint."""

OFFLOAD_FLOOR = 64 * 1024
"""Messages of at most this many bytes are never compared with their topic's limit.

Reading a topic's ``max.message.bytes`` takes an admin round trip; alerts are mostly a
few kilobytes, so only writers of large messages pay for it (once per topic and
``topic_check_period``). A topic whose limit is below this still refuses a too-large
message, as :class:`hop.errors.MessageTooLargeError`."""

HTTP_TIMEOUT_S = 60.0
"""How long one offload request may take: a message of tens of megabytes on a slow
link, while an unreachable service still fails within a minute."""


class _OffloadFailure(Exception):
    """An offload request failed; carries the Kafka error it maps to.

    Internal: the stream turns it into a :class:`hop.errors.KafkaException` (or a
    delivery-callback error) where it knows the topic and the callback.
    """

    def __init__(self, error: KafkaError) -> None:
        super().__init__(error.str())
        self.error = error


def http_error_to_kafka(status: int, message: str) -> KafkaError:
    """The Kafka error an HTTP error status stands for (upstream's table).

    400 and other 4xx: INVALID_REQUEST; 401: SASL_AUTHENTICATION_FAILED; 403:
    TOPIC_AUTHORIZATION_FAILED; 404: RESOURCE_NOT_FOUND; 413: MSG_SIZE_TOO_LARGE;
    502-504: NETWORK_EXCEPTION (retriable); 505: UNSUPPORTED_VERSION; else UNKNOWN.
    """
    table = {
        400: KafkaError.INVALID_REQUEST,
        401: KafkaError.SASL_AUTHENTICATION_FAILED,
        403: KafkaError.TOPIC_AUTHORIZATION_FAILED,
        404: KafkaError.RESOURCE_NOT_FOUND,
        413: KafkaError.MSG_SIZE_TOO_LARGE,
        505: KafkaError.UNSUPPORTED_VERSION,
    }
    if status in table:
        return KafkaError(table[status], message)
    if 502 <= status <= 504:
        return KafkaError(KafkaError.NETWORK_EXCEPTION, message, retriable=True)
    if 400 <= status < 500:
        return KafkaError(KafkaError.INVALID_REQUEST, message)
    return KafkaError(KafkaError.UNKNOWN, message)


# --------------------------------------------------------------------- discovery


def discover_endpoint(conf: dict[str, Any], timeout: float) -> str | None:
    """Read the offload endpoint announced in ``sys.metadata``, or None.

    Parameters
    ----------
    conf : dict
        librdkafka settings to reach the broker (with the credential).
    timeout : float
        Seconds to wait for the broker.
    """
    settings = {
        **conf,
        "group.id": f"hop-offload-discovery-{uuid.uuid4().hex}",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
    }
    consumer = confluent_kafka.Consumer(settings)
    try:
        try:
            meta = consumer.list_topics(METADATA_TOPIC, timeout=timeout)
        except confluent_kafka.KafkaException as exc:
            logger.debug("no offload service: cannot list %s: %s", METADATA_TOPIC, exc)
            return None
        topic = meta.topics.get(METADATA_TOPIC)
        if topic is None or topic.error is not None or not topic.partitions:
            return None
        # The last message of each partition; the newest of those wins.
        wanted: list[TopicPartition] = []
        for partition in topic.partitions:
            try:
                low, high = consumer.get_watermark_offsets(
                    TopicPartition(METADATA_TOPIC, partition), timeout=timeout
                )
            except confluent_kafka.KafkaException as exc:
                logger.debug("no offload service: %s is not readable: %s", METADATA_TOPIC, exc)
                return None
            if high > low:
                wanted.append(TopicPartition(METADATA_TOPIC, partition, high - 1))
        if not wanted:
            return None
        consumer.assign(wanted)
        newest: tuple[int, bytes | None] | None = None
        pending = len(wanted)
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None:
                continue
            err = msg.error()
            if err is not None:
                if err.code() == KafkaError._PARTITION_EOF:
                    pending -= 1
                    continue
                # A group error (no group ACL) does not stop the fetch of assigned
                # partitions at explicit offsets: nothing is committed here.
                logger.debug("reading %s: %s", METADATA_TOPIC, err)
                if err.fatal():
                    return None
                continue
            stamp = msg.timestamp()[1]
            if newest is None or stamp >= newest[0]:
                newest = (stamp, msg.value())
        if newest is None or newest[1] is None:
            return None
        return _endpoint_from(newest[1])
    finally:
        consumer.close()


def _endpoint_from(value: bytes) -> str | None:
    try:
        data = json.loads(value)
    except ValueError:
        logger.warning("the %s message is not JSON; large-message offload is off", METADATA_TOPIC)
        return None
    endpoint = data.get("LargeMessageUploadEndpoint") if isinstance(data, dict) else None
    if not isinstance(endpoint, str) or not endpoint:
        return None
    endpoint = endpoint.rstrip("/")
    if urlsplit(endpoint).scheme == "http":
        warnings.warn(
            f"Large message offload service is bare HTTP ({endpoint}); messages and "
            "credentials sent to it are not encrypted",
            HopWarning,
            stacklevel=3,
        )
    return endpoint


# --------------------------------------------------------------------- HTTP


class _Session:
    """One ``requests`` session per thread (sessions are not thread-safe)."""

    _local = threading.local()

    @classmethod
    def get(cls) -> Any:
        session = getattr(cls._local, "session", None)
        if session is None:
            import requests

            session = cls._local.session = requests.Session()
        return session


def _http_auth(auth: Any) -> Any:
    """The ``requests`` auth for a credential: SCRAM, a bearer token, or None."""
    if auth is None:
        return None
    if getattr(auth, "is_scram", False):
        from hop.http_scram import SCRAMAuth

        return SCRAMAuth(auth, shortcut=True)
    if getattr(auth, "is_token", False):
        token = _bearer_token(auth)
        return _Bearer(token)
    return None


class _Bearer:
    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: Any) -> Any:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request


def _bearer_token(auth: Any) -> str:
    try:
        # A token_command credential's token is its program's; otherwise upstream
        # 0.13's Auth.token, where the credential has it (it may fetch from OIDC).
        source = getattr(auth, "_token_source", None)
        token = source.token().value if source is not None else getattr(auth, "token", None)
    except Exception as exc:  # any failure to get a token is an authentication failure
        raise _OffloadFailure(
            KafkaError(KafkaError.SASL_AUTHENTICATION_FAILED, f"could not get a token: {exc}")
        ) from exc
    if isinstance(token, str) and token:
        return token
    endpoint = getattr(auth, "token_endpoint", None)
    if not endpoint:
        raise _OffloadFailure(
            KafkaError(
                KafkaError.SASL_AUTHENTICATION_FAILED,
                f"credential {getattr(auth, 'username', '?')!r} has no way to get a token",
            )
        )
    # OIDC client credentials: the same grant librdkafka uses for Kafka.
    answer = _Session.get().post(
        endpoint,
        data={"grant_type": "client_credentials"},
        auth=(auth.username, auth.password),
        timeout=HTTP_TIMEOUT_S,
    )
    if not answer.ok:
        raise _OffloadFailure(
            KafkaError(
                KafkaError.SASL_AUTHENTICATION_FAILED,
                f"Failed to fetch token from OIDC endpoint: ({answer.status_code}) {answer.text}",
            )
        )
    try:
        body = answer.json()
        value = body["access_token"]
    except (ValueError, KeyError, TypeError) as exc:
        raise _OffloadFailure(
            KafkaError(
                KafkaError.SASL_AUTHENTICATION_FAILED,
                "Not able to process result from token endpoint",
            )
        ) from exc
    return str(value)


def _request(method: str, url: str, auth: Any, body: bytes | None = None) -> Any:
    import requests

    from hop.errors import CredentialError

    try:
        answer = _Session.get().request(
            method, url, data=body, auth=_http_auth(auth), timeout=HTTP_TIMEOUT_S
        )
    except CredentialError as exc:  # SCRAM exchange failed (upstream: RuntimeError)
        raise _OffloadFailure(KafkaError(KafkaError.SASL_AUTHENTICATION_FAILED, str(exc))) from exc
    except requests.RequestException as exc:
        raise _OffloadFailure(
            KafkaError(
                KafkaError.NETWORK_EXCEPTION, f"{method} {url} failed: {exc}", retriable=True
            )
        ) from exc
    return answer


def upload(
    endpoint: str,
    topic: str,
    payload: bytes,
    headers: Sequence[tuple[str, Any]],
    key: str | bytes | None,
    auth: Any,
) -> str:
    """Send one message to the offload service; return the URL readers fetch it from.

    Raises
    ------
    _OffloadFailure
        The message has no ``_id``, or the service refused it (the status mapped to
        a Kafka error).
    """
    message_id: uuid.UUID | None = None
    for name, value in headers:
        if name == "_id" and isinstance(value, bytes) and len(value) == 16:
            message_id = uuid.UUID(bytes=value)
    if message_id is None:
        raise _OffloadFailure(
            KafkaError(
                KafkaError._BAD_MSG,
                "Message has no ID ('_id' header). Was it properly processed by Producer.pack?",
            )
        )
    doc: dict[str, Any] = {
        "message": payload,
        "headers": [
            [name, value.encode() if isinstance(value, str) else value] for name, value in headers
        ],
    }
    if key is not None:
        doc["key"] = key
    url = f"{endpoint}/topic/{topic}+oversized"
    answer = _request("POST", url, auth, _bson.encode(doc))
    if not 200 <= answer.status_code < 300:
        raise _OffloadFailure(
            http_error_to_kafka(
                answer.status_code,
                f"Failed to upload message to {url}: HTTP Error {answer.status_code} "
                f"{answer.reason}",
            )
        )
    return f"{endpoint}/msg/{message_id}"


@dataclass(frozen=True)
class Fetched:
    """An offloaded message, downloaded."""

    value: bytes
    headers: list[tuple[str, bytes]]
    timestamp: int
    key: str | bytes | None


def fetch(url: str, declared_endpoint: str | None, auth: Any) -> Fetched:
    """Download an offloaded message.

    Credentials are sent only when ``url`` has the scheme and host of the endpoint
    the reader's own broker declared: a placeholder naming another server must not
    collect them.

    Raises
    ------
    _OffloadFailure
        HTTP error, or a body that is not the documented BSON document.
    """
    send_auth = None
    if declared_endpoint is not None:
        mine, theirs = urlsplit(declared_endpoint), urlsplit(url)
        if (mine.scheme, mine.netloc) == (theirs.scheme, theirs.netloc):
            send_auth = auth
    answer = _request("GET", url, send_auth)
    if not 200 <= answer.status_code < 300:
        raise _OffloadFailure(
            http_error_to_kafka(
                answer.status_code,
                f"Failed to fetch message data from {url}: HTTP Error {answer.status_code}",
            )
        )

    def bad(why: str) -> _OffloadFailure:
        return _OffloadFailure(KafkaError(KafkaError._BAD_MSG, f"Message data from {url} {why}"))

    try:
        doc = _bson.decode(answer.content)
    except _bson.BSONError as exc:
        raise bad("is not valid BSON") from exc
    value = doc.get("message")
    if not isinstance(value, bytes):
        raise bad("has no original message data")
    metadata = doc.get("metadata")
    if not isinstance(metadata, dict):
        raise bad("has no metadata mapping")
    raw_headers = metadata.get("headers")
    if not isinstance(raw_headers, list):
        raise bad("has no original message headers")
    headers: list[tuple[str, bytes]] = []
    for item in raw_headers:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or not isinstance(item[0], str)
            or not isinstance(item[1], bytes | str)
        ):
            raise bad(f"has a malformed original message header {item!r}")
        headers.append((item[0], item[1].encode() if isinstance(item[1], str) else item[1]))
    timestamp = metadata.get("timestamp")
    if not isinstance(timestamp, int) or isinstance(timestamp, bool):
        raise bad("has no timestamp")
    key = metadata.get("key")
    return Fetched(value, headers, timestamp, key if isinstance(key, str | bytes) else None)


OffloadFailure = _OffloadFailure
"""The name the stream modules catch."""
