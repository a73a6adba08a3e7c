"""The writing side of a stream."""

from __future__ import annotations

import logging
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import confluent_kafka
from confluent_kafka import KafkaError

from hop import _codec, _offload, errors
from hop._config import ProducerConfig, seconds
from hop._kafka_errors import ClientErrors, kafka_errors, translate
from hop._lifecycle import State

if TYPE_CHECKING:
    from hop._auth.credential import Auth

__all__ = ["Producer", "raise_delivery_errors"]

logger = logging.getLogger("hop")

DeliveryCallback = Callable[[KafkaError | None, Any], None]

_monotonic = time.monotonic
# Longest time between two serves of delivery reports while writing.
_POLL_INTERVAL = 0.01


def raise_delivery_errors(err: KafkaError | None, msg: Any) -> None:
    """Default delivery callback: failures are raised from ``flush()``/``close()``.

    Passed explicitly (rather than left as the default) it raises at once, from inside
    whichever call served the delivery report, as upstream's does.
    """
    if err is None and msg is not None and msg.error() is not None:
        err = msg.error()
    if err is not None:
        raise translate(err, action="delivery failed", topic=msg.topic() if msg else None)


class Producer:
    """An event stream opened for writing to a topic.

    Obtain one from :meth:`hop.io.Stream.open` with mode ``"w"``.

    Parameters
    ----------
    broker_addresses : str or list of str
        ``host:port`` of the brokers.
    topics : str or list of str or None
        The default topic of :meth:`write`; at most one (upstream's name and position).
    auth : hop.auth.Auth, optional
        The credential; its username is sent in the ``_sender`` header.
    **kwargs
        Options of :class:`hop._config.ProducerConfig` (``produce_timeout``,
        ``compression_type``, ``kafka_config``...). Unknown options raise.
    """

    def __init__(
        self,
        broker_addresses: str | Sequence[str],
        topics: str | Sequence[str] | None = None,
        auth: Auth | None = None,
        **kwargs: Any,
    ) -> None:
        topics = [topics] if isinstance(topics, str) else list(topics or [])
        if len(topics) > 1:
            raise errors.ConfigurationError(
                f"a stream opened for writing takes at most one topic, got {', '.join(topics)}"
            )
        brokers = (
            broker_addresses if isinstance(broker_addresses, str) else ",".join(broker_addresses)
        )
        self._config = ProducerConfig.from_kwargs(kwargs)
        self.default_topic: str | None = topics[0] if topics else None
        self.auth = auth
        self._sender: str | None = getattr(auth, "username", None) or None
        self._brokers = brokers
        self._lock = threading.Lock()
        self._failures: list[errors.KafkaException] = []
        self._client_errors = ClientErrors(
            f"writing to {self._brokers}", self._config.error_callback
        )
        conf = self._config.librdkafka(brokers, auth)
        conf["error_cb"] = self._client_errors
        # Bound once: the delivery callback is passed with every message.
        self._record_failure = self._on_delivery
        self._next_poll = 0.0
        # Large-message offload: topic -> (when read, max.message.bytes or None), and
        # the endpoint the broker announces (looked up on first need).
        self._offload_on = bool(self._config.automatic_offload)
        self._limits: dict[str, tuple[float, int | None]] = {}
        self._endpoint: str | None = None
        self._endpoint_known = False
        with kafka_errors(f"connecting to {brokers}"):
            self._producer = confluent_kafka.Producer(conf)
        self._state = State.RUNNING

    # -- callbacks (run on the calling thread, inside poll/flush) ---------------------

    def _on_delivery(self, err: KafkaError | None, msg: Any) -> None:
        if err is None:
            return
        size = len(msg.value() or b"") if msg is not None else 0
        topic = msg.topic() if msg is not None else None
        exc = translate(err, action="delivery failed", topic=topic)
        if isinstance(exc, errors.MessageTooLargeError):
            exc = self._too_large(size, topic, exc)
        with self._lock:
            self._failures.append(exc)

    def _too_large(
        self, size: int, topic: str | None, cause: errors.KafkaException | None = None
    ) -> errors.MessageTooLargeError:
        limit = self._topic_limit(topic) if topic else None
        if limit is not None:
            text = (
                f"message of {size} bytes to topic {topic!r} was refused: the topic accepts at "
                f"most {limit} bytes (max.message.bytes)"
            )
        else:
            text = (
                f"message of {size} bytes to topic {topic!r} was refused as too large "
                "for the broker's or topic's max.message.bytes"
            )
        return errors.MessageTooLargeError(
            text,
            error=getattr(cause, "error", None),
            name=getattr(cause, "name", "MSG_SIZE_TOO_LARGE"),
            topic=topic,
        )

    def _topic_limit(self, topic: str) -> int | None:
        """The topic's ``max.message.bytes``, asked of the broker (best effort)."""
        return self._topic_config(topic, "max.message.bytes", self._config.connect_seconds)

    def _topic_config(self, topic: str, key: str, timeout: float = 3.0) -> int | None:
        """A numeric topic setting, asked of the broker (best effort: None on failure)."""
        from confluent_kafka.admin import AdminClient, ConfigResource

        conf = self._config._base(self._brokers, self.auth)
        try:
            admin = AdminClient(conf)
            futures = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)])
            for future in futures.values():
                entries = future.result(timeout=timeout)
                entry = entries.get(key)
                if entry is not None and entry.value is not None:
                    return int(entry.value)
        except Exception as exc:  # the setting only improves an error message
            logger.debug("could not read %s of %s: %s", key, topic, exc)
        return None

    # -- writing --------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._state is not State.RUNNING:
            raise errors.StreamClosedError("this stream is closed")
        if self._client_errors.failure is not None:
            raise self._client_errors.failure

    @staticmethod
    def pack(
        message: Any,
        headers: Any = None,
        test: bool = False,
        auth: Auth | None = None,
    ) -> tuple[bytes, list[tuple[str, str | bytes]]]:
        """Pack and serialize a message.

        Parameters
        ----------
        message
            A model, a JSON-encodable value, or bytes.
        headers : mapping or list of (str, str or bytes), optional
            User headers; names starting with ``_`` are reserved and refused.
        test : bool
            Mark the message as a test message (``_test`` header).
        auth : hop.auth.Auth, optional
            Its username goes in the ``_sender`` header.

        Returns
        -------
        tuple
            The payload bytes and the list of headers to send with it.
        """
        return _codec.pack(message, headers, test, getattr(auth, "username", None))

    def write(
        self,
        message: Any,
        headers: Any = None,
        delivery_callback: DeliveryCallback | None = raise_delivery_errors,
        test: bool = False,
        topic: str | None = None,
        key: str | bytes | None = None,
    ) -> None:
        """Write a message to the stream.

        Parameters
        ----------
        message
            A model, a JSON-encodable value, or bytes.
        headers : mapping or list of (str, str or bytes), optional
            User headers (duplicate names allowed in the list form).
        delivery_callback : callable, optional
            ``callback(err, msg)`` once the message is delivered or has failed. By default
            failures are raised from :meth:`flush` or :meth:`close`.
        test : bool
            Mark as a test message; readers skip it unless asked not to.
        topic : str, optional
            Overrides the stream's topic.
        key : str or bytes, optional
            Kafka message key.
        """
        payload, all_headers = _codec.pack(message, headers, test, self._sender)
        self._produce(payload, all_headers, delivery_callback, topic, key)

    def write_raw(
        self,
        packed_message: bytes,
        headers: Any = None,
        delivery_callback: DeliveryCallback | None = raise_delivery_errors,
        topic: str | None = None,
        key: str | bytes | None = None,
    ) -> None:
        """Write a message already encoded by :meth:`pack`.

        Parameters
        ----------
        packed_message : bytes
            The payload from :meth:`pack`.
        headers : mapping or list of (str, str or bytes), optional
            The headers from :meth:`pack`, sent unchanged.
        delivery_callback, topic, key :
            As for :meth:`write`.
        """
        if headers is not None and not isinstance(headers, list):
            headers = list(headers.items()) if hasattr(headers, "items") else list(headers)
        self._produce(packed_message, headers, delivery_callback, topic, key)

    def _produce(
        self,
        payload: bytes,
        headers: list[tuple[str, str | bytes]] | None,
        delivery_callback: DeliveryCallback | None,
        topic: str | None,
        key: str | bytes | None,
    ) -> None:
        # The per-message path: every check that is not needed is skipped, and the slow
        # cases (closed, queue full, errors) are handled out of line.
        if self._state is not State.RUNNING or self._client_errors.failure is not None:
            self._check_open()
        topic = topic or self.default_topic
        if topic is None:
            raise errors.ConfigurationError(
                "no topic to write to: name one in the URL when opening the stream, "
                "or pass topic= to write()"
            )
        if (
            self._offload_on
            and len(payload) > _offload.OFFLOAD_FLOOR
            and self._offloaded(payload, headers, delivery_callback, topic, key)
        ):
            return
        if delivery_callback is raise_delivery_errors or delivery_callback is None:
            on_delivery: DeliveryCallback = self._record_failure
        else:
            on_delivery = delivery_callback
        try:
            self._producer.produce(
                topic,
                payload,
                key,
                headers=headers,  # type: ignore[arg-type]
                on_delivery=on_delivery,
            )
        except BufferError:
            self._produce_when_room(topic, payload, key, headers, on_delivery)
        except confluent_kafka.KafkaException as exc:
            raise self._produce_error(exc, payload, topic) from exc
        # Serve delivery reports as we go so that failures surface without waiting for
        # flush(), but at most every _POLL_INTERVAL: a poll per message would cost as much
        # as the produce itself.
        now = _monotonic()
        if now >= self._next_poll:
            self._next_poll = now + _POLL_INTERVAL
            self._producer.poll(0)

    # -- large-message offload -------------------------------------------------------

    def _limit_of(self, topic: str) -> int | None:
        """The topic's ``max.message.bytes``, re-read after ``topic_check_period``."""
        now = time.monotonic()
        found = self._limits.get(topic)
        period = seconds(self._config.topic_check_period, "topic_check_period") or 0.0
        if found is None or now - found[0] > period:
            found = (now, self._topic_limit(topic))
            self._limits[topic] = found
        return found[1]

    def _offload_endpoint(self) -> str | None:
        if not self._endpoint_known:
            conf = self._config._base(self._brokers, self.auth)
            self._endpoint = _offload.discover_endpoint(conf, self._config.connect_seconds)
            self._endpoint_known = True
        return self._endpoint

    def _offloaded(
        self,
        payload: bytes,
        headers: list[tuple[str, str | bytes]] | None,
        delivery_callback: DeliveryCallback | None,
        topic: str,
        key: str | bytes | None,
    ) -> bool:
        """Send a message too large for its topic to the offload service, if there is one.

        Returns whether it was handled (sent, or its failure reported); False leaves
        it to Kafka, which refuses it with a clear error when it is too large.
        """
        limit = self._limit_of(topic)
        if limit is None or _estimate_size(payload, headers, key) <= limit:
            return False
        endpoint = self._offload_endpoint()
        if endpoint is None:
            return False
        try:
            url = _offload.upload(endpoint, topic, payload, headers or [], key, self.auth)
        except _offload.OffloadFailure as failure:
            exc = translate(failure.error, action="offloading a large message", topic=topic)
            if delivery_callback is raise_delivery_errors or delivery_callback is None:
                with self._lock:
                    self._failures.append(exc)
            else:
                delivery_callback(failure.error, _FailedMessage(failure.error, topic, payload))
            return True
        from hop._models.base import ExternalMessage

        test = any(name == "_test" and value in (b"true", "true") for name, value in headers or [])
        placeholder, placeholder_headers = _codec.pack(
            ExternalMessage(url=url), None, test, self._sender
        )
        self._produce(placeholder, placeholder_headers, delivery_callback, topic, key)
        return True

    def _produce_when_room(
        self,
        topic: str,
        payload: bytes,
        key: str | bytes | None,
        headers: list[tuple[str, str | bytes]] | None,
        on_delivery: DeliveryCallback,
    ) -> None:
        producer = self._producer
        while True:
            # The local queue is full: serve delivery reports until there is room.
            producer.poll(0.05)
            self._check_open()
            try:
                producer.produce(
                    topic,
                    payload,
                    key,
                    headers=headers,  # type: ignore[arg-type]
                    on_delivery=on_delivery,
                )
                return
            except BufferError:
                continue
            except confluent_kafka.KafkaException as exc:
                raise self._produce_error(exc, payload, topic) from exc

    def _produce_error(
        self, exc: confluent_kafka.KafkaException, payload: bytes, topic: str
    ) -> errors.KafkaException:
        err = exc.args[0] if exc.args else None
        if isinstance(err, KafkaError) and err.code() == KafkaError.MSG_SIZE_TOO_LARGE:
            return self._too_large(len(payload), topic)
        return translate(exc, action="write failed", topic=topic)

    def _poll(self, timeout: float = 0.0) -> int:
        """Serve delivery callbacks for up to ``timeout`` seconds; return how many ran."""
        return int(self._producer.poll(timeout))

    def __len__(self) -> int:
        return len(self._producer) if self._state is State.RUNNING else 0

    def _raise_failures(self) -> None:
        with self._lock:
            failures, self._failures = self._failures, []
        if not failures:
            return
        first = failures[0]
        if first.name == "_MSG_TIMED_OUT":
            why, name = self._why_undelivered()
            if why:
                first.args = (f"{first.args[0]}{why}",)
                first.name = name
        if len(failures) > 1:
            first.args = (f"{first.args[0]} (and {len(failures) - 1} more failed deliveries)",)
        raise first

    def _why_undelivered(self) -> tuple[str, str]:
        """Why writes to the default topic may be stuck: ``(text to append, error name)``.

        A timed-out write only says it timed out. The usual cause on a replicated topic
        is too few replicas in sync, which the broker answers with NOT_ENOUGH_REPLICAS
        and librdkafka retries until the timeout: the partitions' in-sync sets say so.
        Best effort: ``("", "_MSG_TIMED_OUT")`` when nothing more is known.
        """
        topic = self.default_topic
        if topic is None or self._state is not State.RUNNING:
            return "", "_MSG_TIMED_OUT"
        try:
            meta = self._producer.list_topics(topic=topic, timeout=2.0).topics.get(topic)
        except Exception:
            return "", "_MSG_TIMED_OUT"
        if meta is None or meta.error is not None:
            return "", "_MSG_TIMED_OUT"
        leaderless = sorted(p for p, pm in meta.partitions.items() if pm.leader < 0)
        if leaderless:
            return (f" (partitions {leaderless} of {topic!r} have no leader: "
                    "LEADER_NOT_AVAILABLE; retry once their brokers are back)",
                    "LEADER_NOT_AVAILABLE")
        min_isr = self._topic_config(topic, "min.insync.replicas")
        short = {p: len(pm.isrs) for p, pm in meta.partitions.items()
                 if min_isr is not None and len(pm.isrs) < min_isr}
        if short:
            shown = ", ".join(f"{topic}[{p}]: {n}" for p, n in sorted(short.items()))
            return (f" (NOT_ENOUGH_REPLICAS: in-sync replicas {shown}, fewer than the topic's "
                    f"min.insync.replicas {min_isr}; the brokers refuse acks=all writes until "
                    "replicas return, so retry later)", "NOT_ENOUGH_REPLICAS")
        return "", "_MSG_TIMED_OUT"

    def flush(self, timeout: Any = None) -> int:
        """Send every queued message and wait for its delivery report.

        Parameters
        ----------
        timeout : datetime.timedelta or float, optional
            Longest wait; by default the stream's ``produce_timeout``.

        Returns
        -------
        int
            How many messages are still queued.

        Raises
        ------
        hop.errors.DeliveryError, hop.errors.MessageTooLargeError, hop.errors.KafkaException
            When a message written with the default delivery callback failed.
        """
        self._check_open()
        limit = _timeout_seconds(timeout, self._config.produce_seconds)
        deadline = None if limit is None else time.monotonic() + limit
        remaining = len(self._producer)
        while True:
            # Flush in short slices so an authentication failure ends the wait early.
            step = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
            remaining = self._producer.flush(step)
            self._raise_failures()
            if self._client_errors.failure is not None:
                raise self._client_errors.failure
            if remaining == 0 or (deadline is not None and time.monotonic() >= deadline):
                return int(remaining)

    def close(self, timeout: Any = None) -> int:
        """Wait for queued messages to be delivered, then shut down.

        Parameters
        ----------
        timeout : datetime.timedelta or float, optional
            Longest wait for deliveries; by default the stream's ``produce_timeout``.
            Messages still queued when it ends are dropped from librdkafka's queue
            and reported (the error says how many), so closing never outlasts it.

        Returns
        -------
        int
            How many messages could not be sent (always 0 unless an error is raised).

        Raises
        ------
        hop.errors.DeliveryError
            When messages could not be delivered in time, or a delivery failed.
        """
        if self._state is State.STOPPED:
            return 0
        try:
            remaining = self.flush(timeout)
            if remaining:
                # Their delivery callbacks run now, reporting them as purged.
                self._producer.purge(in_queue=True, in_flight=True, blocking=False)
                self._producer.poll(0)
                with self._lock:
                    self._failures.clear()
                limit = _timeout_seconds(timeout, self._config.produce_seconds)
                why, name = self._why_undelivered()
                raise errors.DeliveryError(
                    f"{remaining} message(s) could not be delivered to {self._brokers} within "
                    f"{limit} s; they were not sent{why}",
                    name=name,
                    retriable=True,
                    topic=self.default_topic,
                )
            return 0
        finally:
            self._state = State.STOPPED
            self._producer = _ClosedProducer()  # type: ignore[assignment]

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        if exc_type is None:
            self.close()
            return False
        if issubclass(exc_type, KeyboardInterrupt):
            # hop-client's contract: Ctrl-C in the block prints this and is swallowed,
            # without waiting for the queue. The messages still queued are dropped, and
            # said so rather than waited for (the user asked to stop).
            print("Aborted (CTRL-C).")
            self._abort()
            return True
        # An exception is already propagating: still deliver what was written, but
        # never hide the original exception behind a delivery error.
        try:
            self.close()
        except errors.HopError as close_exc:
            logger.error("while closing after an error: %s", close_exc)
        return False

    def _abort(self) -> None:
        """Drop what is queued and stop at once (no delivery wait)."""
        if self._state is State.STOPPED:
            return
        try:
            pending = len(self._producer)
            self._producer.purge(in_queue=True, in_flight=True, blocking=False)
            self._producer.poll(0)
            if pending:
                logger.warning("interrupted: %d queued message(s) were not sent", pending)
        finally:
            with self._lock:
                self._failures.clear()
            self._state = State.STOPPED
            self._producer = _ClosedProducer()  # type: ignore[assignment]

    def __del__(self) -> None:
        if getattr(self, "_state", State.STOPPED) is State.RUNNING:
            warnings.warn(
                "a hop Producer was garbage-collected without close(); queued messages may be "
                "lost. Use `with stream.open(...)` or call close().",
                ResourceWarning,
                stacklevel=2,
            )


def _estimate_size(
    payload: bytes, headers: list[tuple[str, str | bytes]] | None, key: str | bytes | None
) -> int:
    """Upstream's estimate of a record's size: payload, key, headers and 70 bytes."""

    def size(value: str | bytes | None) -> int:
        if value is None:
            return 0
        return len(value.encode("utf-8")) if isinstance(value, str) else len(value)

    total = 70 + len(payload) + size(key)
    for name, value in headers or []:
        total += size(name) + size(value) + 2
    return total


class _FailedMessage:
    """What a delivery callback gets for a message the offload service refused."""

    def __init__(self, error: KafkaError, topic: str, value: bytes) -> None:
        self._error, self._topic, self._value = error, topic, value

    def error(self) -> KafkaError:
        return self._error

    def topic(self) -> str:
        return self._topic

    def value(self) -> bytes:
        return self._value

    def headers(self) -> None:
        return None

    def key(self) -> None:
        return None

    def partition(self) -> int:
        return -1

    def offset(self) -> int:
        return -1

    def timestamp(self) -> tuple[int, int]:
        return (0, 0)


class _ClosedProducer:
    """Stands in after close so that a stray call fails clearly, not in librdkafka."""

    def __len__(self) -> int:
        return 0

    def __getattr__(self, name: str) -> Any:
        raise errors.StreamClosedError("this stream is closed")


def _timeout_seconds(timeout: Any, default: float | None) -> float | None:
    if timeout is None:
        return default
    if hasattr(timeout, "total_seconds"):
        return float(timeout.total_seconds())
    return float(timeout)
