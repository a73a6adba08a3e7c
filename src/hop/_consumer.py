"""The reading side of a stream."""

from __future__ import annotations

import enum
import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import confluent_kafka
from confluent_kafka import KafkaError, TopicPartition

from hop import _codec, _offload, errors
from hop._config import ConsumerConfig
from hop._dedupe import DEFAULT_DEDUPE_WINDOW, Deduplicator
from hop._kafka_errors import ClientErrors, kafka_errors, translate
from hop._lifecycle import State
from hop.models import ExternalMessage as _ExternalMessage
from hop.models import MessageModel

__all__ = ["Consumer", "Metadata", "StartPosition"]

logger = logging.getLogger("hop")

_EOF = KafkaError._PARTITION_EOF
# Metadata failures that may clear up within the connect timeout.
_METADATA_RETRY = frozenset(
    getattr(KafkaError, n)
    for n in ("_TRANSPORT", "_TIMED_OUT", "_ALL_BROKERS_DOWN", "_RESOLVE")
    if hasattr(KafkaError, n)
)
# How long one blocking poll may last, so that stop() and Ctrl-C are noticed promptly.
_POLL_SLICE = 0.25


def fetch_metadata(
    client: Any,
    topic: str | None,
    timeout: float,
    client_errors: ClientErrors,
) -> Any:
    """``client.list_topics`` that notices a refused login before ``timeout`` ends.

    librdkafka reports a failed SASL or TLS handshake only through the error callback,
    which ``list_topics`` does not serve; asking in short slices and serving callbacks
    in between turns a wrong password into an authentication error within a second
    instead of a "broker unreachable" after the whole timeout.
    """
    deadline = time.monotonic() + timeout
    while True:
        remaining = deadline - time.monotonic()
        try:
            if topic is None:
                return client.list_topics(timeout=max(0.05, min(0.5, remaining)))
            return client.list_topics(topic=topic, timeout=max(0.05, min(0.5, remaining)))
        except confluent_kafka.KafkaException as exc:
            client.poll(0)
            if client_errors.failure is not None:
                raise client_errors.failure from exc
            err = exc.args[0] if exc.args else None
            transient = isinstance(err, KafkaError) and err.code() in _METADATA_RETRY
            if not transient or time.monotonic() >= deadline:
                raise


class StartPosition(enum.Enum):
    """Where a reader with no committed offset starts."""

    EARLIEST = 1
    """The oldest message the broker still holds."""
    LATEST = 2
    """Only messages written after the reader joined."""

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Metadata:
    """Broker-specific metadata that accompanies a consumed message."""

    topic: str
    """Topic the message was read from."""
    partition: int
    """Partition within the topic."""
    offset: int
    """Offset of the message within its partition."""
    timestamp: int
    """Message timestamp in milliseconds since the Unix epoch."""
    key: str | bytes | None
    """Kafka message key."""
    headers: list[tuple[str, bytes]]
    """Message headers, including hop's own (``_id``, ``_format``...)."""
    _raw: Any
    """The underlying ``confluent_kafka.Message``."""

    @classmethod
    def from_message(cls, msg: Any) -> Metadata:
        """Build from a ``confluent_kafka.Message``."""
        return cls(
            topic=msg.topic(),
            partition=msg.partition(),
            offset=msg.offset(),
            timestamp=msg.timestamp()[1],
            key=msg.key(),
            headers=msg.headers() or [],
            _raw=msg,
        )


def _is_test(headers: Sequence[tuple[str, Any]] | None) -> bool:
    if headers:
        for key, _ in headers:
            if key == "_test":
                return True
    return False


def _raw_value(value: bytes | None, headers: Any, msg: Any) -> bytes | None:
    return value


class _ExternalRecord:
    """A downloaded offloaded message standing in for the placeholder's Kafka message.

    It keeps the placeholder's topic, partition and offset (where it is in Kafka, and
    what is committed) and the original's value, headers, timestamp and key, as
    upstream's ``Consumer.ExternalMessage`` does.
    """

    __slots__ = ("_error", "_headers", "_key", "_offset", "_partition", "_timestamp",
                 "_topic", "_value")  # fmt: skip

    def __init__(
        self,
        value: bytes | None,
        headers: list[tuple[str, bytes]] | None,
        topic: str | None,
        partition: int | None,
        offset: int | None,
        timestamp: int,
        key: str | bytes | None,
        error: KafkaError | None = None,
    ) -> None:
        self._value, self._headers, self._key = value, headers, key
        self._topic, self._partition, self._offset = topic, partition, offset
        self._timestamp, self._error = timestamp, error

    @classmethod
    def make_error(cls, err: KafkaError) -> _ExternalRecord:
        """A stand-in carrying only an error (for a delivery callback)."""
        return cls(None, None, None, None, None, 0, None, err)

    def value(self) -> bytes | None:
        return self._value

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers

    def topic(self) -> str | None:
        return self._topic

    def partition(self) -> int | None:
        return self._partition

    def offset(self) -> int | None:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return (confluent_kafka.TIMESTAMP_CREATE_TIME, self._timestamp)

    def key(self) -> str | bytes | None:
        return self._key

    def error(self) -> KafkaError | None:
        return self._error


# Options of Stream.open in read mode that the reader handles itself, before the rest
# become a ConsumerConfig.
_READER_OPTIONS = frozenset(
    {"auth", "start_at", "read_forever", "deduplicate", "dedupe_path", "dedupe_window"}
)

DEFAULT_BATCH_SIZE = 100
"""Most messages taken from librdkafka at once by read(): large enough that a backlog is
read at full speed, and a batch never delays a message (it returns what is there)."""


def _check_read_options(method: str, batch_size: int, extra: dict[str, Any]) -> None:
    if extra:
        raise errors.ConfigurationError(
            f"unknown option(s) for {method}(): {', '.join(sorted(extra))}"
        )
    if batch_size < 1:
        raise errors.ConfigurationError("batch_size must be at least 1")


class Consumer:
    """An event stream opened for reading one or more topics.

    Obtain one from :meth:`hop.io.Stream.open` with mode ``"r"``. Readers sharing a
    ``group_id`` split the topics' partitions between them through the broker's
    consumer-group protocol, and resume after the last message marked done.

    Parameters
    ----------
    group_id : str
        Consumer group whose committed offsets this reader uses.
    broker_addresses : str or list of str
        ``host:port`` of the brokers.
    topics : list of str
        Topics to read.
    ignoretest : bool
        Skip messages marked as tests.
    **kwargs
        ``auth``, ``start_at`` (:class:`StartPosition` or ``datetime``), ``read_forever``,
        the deduplication options below, and the options of
        :class:`hop._config.ConsumerConfig`. Unknown options raise.

    Other Parameters
    ----------------
    deduplicate : bool
        Drop messages whose ``_id`` this reader already handed over (the default of
        :meth:`read`); messages without an ``_id`` always pass. False by default.
    dedupe_path : path, optional
        A file recording the ids handed over, so that this reader after a restart, or
        another reader of the group sharing the file on the same machine, does not hand
        them over again. Implies ``deduplicate``.
    dedupe_window : int
        How many ids are remembered (:data:`hop._dedupe.DEFAULT_DEDUPE_WINDOW`).
    """

    ExternalMessage = _ExternalRecord
    """The stand-in for a Kafka message that an offloaded message becomes (upstream's name)."""

    def __init__(
        self,
        group_id: str,
        broker_addresses: str | Sequence[str],
        topics: Sequence[str],
        ignoretest: bool = True,
        **kwargs: Any,
    ) -> None:
        self._state = State.CREATED
        self.auth = kwargs.pop("auth", None)
        # The offload endpoint this reader's broker announces: credentials go only there.
        self._declared_endpoint: str | None = None
        self._endpoint_known = False
        start_at = kwargs.pop("start_at", StartPosition.LATEST)
        read_forever = kwargs.pop("read_forever", True)
        self._dedupe_path = kwargs.pop("dedupe_path", None)
        self._deduplicate = bool(kwargs.pop("deduplicate", False)) or self._dedupe_path is not None
        self._dedupe_window = kwargs.pop("dedupe_window", DEFAULT_DEDUPE_WINDOW)
        if not isinstance(self._dedupe_window, int) or self._dedupe_window < 1:
            raise errors.ConfigurationError(
                f"dedupe_window must be a positive number of ids, got {self._dedupe_window!r}"
            )
        self._dedupe: Deduplicator | None = None
        self._config = ConsumerConfig.from_kwargs(kwargs, also=_READER_OPTIONS)
        if isinstance(topics, str):
            topics = [topics]
        if not topics:
            raise errors.ConfigurationError("no topic(s) specified to read from")
        self.topics = list(topics)
        self.group_id = group_id
        self.ignoretest = ignoretest
        self._brokers = (
            broker_addresses if isinstance(broker_addresses, str) else ",".join(broker_addresses)
        )
        self._start_time_ms: int | None = None
        if isinstance(start_at, datetime):
            stamp = start_at if start_at.tzinfo else start_at.replace(tzinfo=UTC)
            self._start_time_ms = int(stamp.timestamp() * 1000)
            offset_reset = "latest"
        elif start_at in (StartPosition.EARLIEST, "EARLIEST", "earliest"):
            offset_reset = "earliest"
        elif start_at in (StartPosition.LATEST, "LATEST", "latest", None):
            offset_reset = "latest"
        else:
            raise errors.ConfigurationError(
                f"start_at must be StartPosition.EARLIEST, StartPosition.LATEST or a datetime, "
                f"got {start_at!r}"
            )
        self._until_eos = not read_forever
        self._stop = threading.Event()
        self._client_errors = ClientErrors(
            f"reading from {self._brokers}", self._config.error_callback
        )
        # Partitions assigned to this reader, and those not yet read to their end.
        self._assigned: set[tuple[str, int]] = set()
        self._positioned: set[tuple[str, int]] = set()
        self._pending_eof: set[tuple[str, int]] = set()
        self._has_assignment = False
        if self._deduplicate:
            self._dedupe = Deduplicator(self._dedupe_window, self._dedupe_path)
        conf = self._config.librdkafka(
            self._brokers, group_id, self.auth, offset_reset=offset_reset, eof=True
        )
        conf["error_cb"] = self._client_errors
        with kafka_errors(f"connecting to {self._brokers}"):
            self._consumer = confluent_kafka.Consumer(conf)
        self._state = State.RUNNING
        try:
            self._check_topics()
            with kafka_errors(f"subscribing to {', '.join(self.topics)}"):
                self._consumer.subscribe(
                    self.topics,
                    on_assign=self._on_assign,
                    on_revoke=self._on_revoke,
                    on_lost=self._on_revoke,
                )
        except BaseException:
            self._shutdown(commit=False)
            raise

    # -- set-up -----------------------------------------------------------------------

    def _check_topics(self) -> None:
        """Fail fast, and clearly, for an unreachable broker or a missing topic."""
        timeout = self._config.connect_seconds
        action = f"reading from {self._brokers}"
        for topic in self.topics:
            try:
                meta = fetch_metadata(self._consumer, topic, timeout, self._client_errors)
            except errors.KafkaException:
                raise
            except confluent_kafka.KafkaException as exc:
                err = translate(exc, action=action, topic=topic)
                if isinstance(err, errors.BrokerUnreachableError):
                    err = errors.BrokerUnreachableError(
                        f"no broker at {self._brokers} answered within {timeout:g} s "
                        f"({err.reason}); check the host and port and that the broker is up",
                        error=err.error,
                        name=err.name,
                        reason=err.reason,
                        retriable=True,
                    )
                raise err from exc
            tmeta = meta.topics.get(topic)
            if tmeta is None or tmeta.error is not None:
                kerr = tmeta.error if tmeta is not None else KafkaError(KafkaError._UNKNOWN_TOPIC)
                if kerr.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
                    raise errors.UnknownTopicError(
                        f"topic {topic!r} does not exist on {self._brokers}",
                        error=kerr,
                        name=kerr.name(),
                        topic=topic,
                    )
                raise translate(kerr, action=action, topic=topic)

    def _on_assign(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        self._has_assignment = True
        keys = {(tp.topic, tp.partition) for tp in partitions}
        self._assigned |= keys
        self._pending_eof |= keys
        if self._start_time_ms is None:
            return
        fresh = [tp for tp in partitions if (tp.topic, tp.partition) not in self._positioned]
        if not fresh:
            return
        # A datetime start is explicit: it wins over committed offsets, once per partition.
        query = [TopicPartition(tp.topic, tp.partition, self._start_time_ms) for tp in fresh]
        found = consumer.offsets_for_times(query, timeout=self._config.connect_seconds)
        by_key = {(tp.topic, tp.partition): tp.offset for tp in found}
        for tp in partitions:
            key = (tp.topic, tp.partition)
            if key in by_key:
                offset = by_key[key]
                # -1: no message at or after the time, so start at the end.
                tp.offset = offset if offset >= 0 else confluent_kafka.OFFSET_END
                self._positioned.add(key)
        consumer.assign(partitions)

    def _on_revoke(self, consumer: Any, partitions: list[TopicPartition]) -> None:
        keys = {(tp.topic, tp.partition) for tp in partitions}
        self._assigned -= keys
        self._pending_eof -= keys

    # -- reading ----------------------------------------------------------------------

    @staticmethod
    def is_test(message: Any) -> bool:
        """True if ``message`` (a Kafka message or :class:`Metadata`) is marked as a test."""
        headers = (
            message.headers()
            if callable(getattr(message, "headers", None))
            else getattr(message, "headers", None)
        )
        return _is_test(headers)

    def _batches(self, batch_size: int) -> Iterator[list[Any]]:
        """Yield batches of raw Kafka messages as soon as the broker delivers them.

        Messages carrying an error stay in the batch: readers pass them to
        :meth:`_event`. Batches, not messages, keep the per-message path of the readers
        free of a generator hop.
        """
        self._require_open()
        consumer = self._consumer
        while not self._stop.is_set():
            if self._client_errors.failure is not None:
                raise self._client_errors.failure
            if self._until_eos and self._has_assignment and not self._pending_eof:
                return
            # Take whatever is already fetched; only block (briefly) when nothing is.
            batch = consumer.consume(batch_size, 0)
            if not batch:
                one = consumer.poll(_POLL_SLICE)
                if one is None:
                    continue
                batch = [one]
            yield batch

    def _require_open(self) -> None:
        if self._state is not State.RUNNING:
            raise errors.StreamClosedError("this stream is closed")

    def _event(self, msg: Any) -> None:
        """Handle a message that carries an error: end of a partition, or a failure."""
        err = msg.error()
        if err.code() == _EOF:
            self._pending_eof.discard((msg.topic() or "", msg.partition() or 0))
            return
        exc = translate(
            err,
            action=f"reading from {self._brokers}",
            topic=msg.topic(),
            partition=msg.partition(),
        )
        if err.retriable() and not isinstance(exc, errors.AuthorizationError):
            logger.warning("%s", exc)
            return
        raise exc

    def read(
        self,
        metadata: bool = False,
        autocommit: bool = True,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_timeout: Any = None,
        deduplicate: bool | None = None,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """Read messages from the stream.

        Parameters
        ----------
        metadata : bool
            Yield ``(message, Metadata)`` pairs instead of messages.
        autocommit : bool
            Mark each message done when the next one is requested (so a message is
            never marked read before the caller has handled it). With False, only
            messages passed to :meth:`mark_done` are marked.
        batch_size : int
            Most messages taken from librdkafka at a time.
        batch_timeout : datetime.timedelta, optional
            Accepted for compatibility. Messages are returned as soon as they arrive;
            a reader never waits for a batch to fill.
        deduplicate : bool, optional
            Skip messages whose ``_id`` this reader already handed over (a producer's
            resend, a re-read after a restart or rebalance): each message reaches the
            caller once. Messages without an ``_id`` always pass. Default: the
            stream's ``deduplicate`` option. Skipped copies count as handled.

        Yields
        ------
        MessageModel or (MessageModel, Metadata)
        """
        _check_read_options("read", batch_size, kwargs)
        self._require_open()
        return self._read(_codec.unpack, metadata, autocommit, batch_size,
                          self._deduplicator(deduplicate))

    def read_raw(
        self,
        metadata: bool = False,
        autocommit: bool = True,
        batch_size: int = DEFAULT_BATCH_SIZE,
        deduplicate: bool | None = None,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """Like :meth:`read`, but yield each message's undecoded bytes."""
        kwargs.pop("batch_timeout", None)
        _check_read_options("read_raw", batch_size, kwargs)
        self._require_open()
        return self._read(_raw_value, metadata, autocommit, batch_size,
                          self._deduplicator(deduplicate))

    def _deduplicator(self, deduplicate: bool | None) -> Deduplicator | None:
        if deduplicate is None:
            deduplicate = self._deduplicate
        if not deduplicate:
            return None
        if self._dedupe is None:
            # Asked for by read() only: one window for every read() of this reader.
            self._dedupe = Deduplicator(self._dedupe_window, self._dedupe_path)
        return self._dedupe

    @property
    def duplicates_dropped(self) -> int:
        """How many copies of already handed-over messages deduplication dropped."""
        return 0 if self._dedupe is None else self._dedupe.dropped

    def _read(
        self,
        decode: Callable[[bytes | None, Any, Any], Any],
        metadata: bool,
        autocommit: bool,
        batch_size: int,
        dedupe: Deduplicator | None = None,
    ) -> Iterator[Any]:
        ignoretest = self.ignoretest
        first_time = None if dedupe is None else dedupe.first_time
        until_eos = self._until_eos
        fetch_external = self._config.fetch_external and decode is not _raw_value
        batch: list[Any] = []
        # The message the caller holds now; everything before it in its batch is handled.
        current: Any = None
        try:
            for batch in self._batches(batch_size):
                for msg in batch:
                    if msg.error() is not None:
                        self._event(msg)
                        continue
                    if until_eos:
                        self._pending_eof.add((msg.topic() or "", msg.partition() or 0))
                    headers = msg.headers()
                    if ignoretest and headers and _is_test(headers):
                        continue
                    # Recorded before it is handed over: a crash after this line does not
                    # make a restarted reader sharing the store hand it over again.
                    if first_time is not None and not first_time(headers):
                        continue
                    # The message names its own position, formatted only if decoding fails.
                    model = decode(msg.value(), headers, msg)
                    current = msg
                    if model.__class__ is _ExternalMessage and fetch_external:
                        model, shown = self._fetch_external(model, msg, decode)
                        yield (model, Metadata.from_message(shown)) if metadata else model
                        continue
                    yield (model, Metadata.from_message(msg)) if metadata else model
                # The caller asked for more after the batch's last message: all handled.
                current = None
                if autocommit:
                    self._store_handled(batch)
        finally:
            if autocommit and current is not None and self._state is State.RUNNING:
                # Left mid-batch (break, exception): the message in hand is not handled.
                self._store_handled(batch[: batch.index(current)])

    def _endpoint(self) -> str | None:
        if not self._endpoint_known:
            conf = self._config._base(self._brokers, self.auth)
            self._declared_endpoint = _offload.discover_endpoint(conf, self._config.connect_seconds)
            self._endpoint_known = True
        return self._declared_endpoint

    def _fetch_external(
        self, placeholder: Any, msg: Any, decode: Callable[[bytes | None, Any, Any], Any]
    ) -> tuple[Any, Any]:
        """Download an offloaded message; on failure keep the placeholder and report.

        A download that fails never stops the stream: the error goes to the
        ``error_callback`` (and the log), and the reader gets the placeholder, whose
        URL still names the message.
        """
        try:
            fetched = _offload.fetch(placeholder.url, self._endpoint(), self.auth)
        except _offload.OffloadFailure as failure:
            logger.warning(
                "%s[%s]@%s: %s", msg.topic(), msg.partition(), msg.offset(), failure.error.str()
            )
            if self._config.error_callback is not None:
                self._config.error_callback(failure.error)
            return placeholder, msg
        record = _ExternalRecord(
            fetched.value,
            fetched.headers,
            msg.topic(),
            msg.partition(),
            msg.offset(),
            fetched.timestamp,
            fetched.key,
        )
        return decode(fetched.value, fetched.headers, record), record

    def _store_handled(self, messages: list[Any]) -> None:
        """Store, per partition, the offset after the last of ``messages``.

        Offsets are stored once per batch rather than per message: the auto-commit
        that sends them to the broker runs every few seconds anyway.
        """
        last: dict[tuple[str, int], Any] = {}
        for msg in messages:
            if msg.error() is None:
                last[msg.topic(), msg.partition()] = msg
        if last:
            self._consumer.store_offsets(
                offsets=[
                    TopicPartition(m.topic(), m.partition(), m.offset() + 1) for m in last.values()
                ]
            )

    def __iter__(self) -> Iterator[MessageModel]:
        yield from self.read()

    def mark_done(self, metadata: Metadata, asynchronous: bool = True) -> None:
        """Mark a message as fully processed, and commit it.

        Parameters
        ----------
        metadata : Metadata
            The metadata yielded with the message by ``read(metadata=True)``.
        asynchronous : bool
            With False, return only once the broker has recorded the commit.
        """
        self._require_open()
        tp = TopicPartition(metadata.topic, metadata.partition, metadata.offset + 1)
        with kafka_errors("committing offsets", topic=metadata.topic):
            self._consumer.store_offsets(offsets=[tp])
            self._consumer.commit(offsets=[tp], asynchronous=asynchronous)  # type: ignore[call-overload]

    def stop(self) -> None:
        """Make a running :meth:`read` loop end after the current message (thread-safe)."""
        self._stop.set()

    def list_topics(self, timeout: float = 10.0) -> dict[str, Any]:
        """Return ``{topic: TopicMetadata}`` for the topics visible on the broker."""
        with kafka_errors(f"listing topics on {self._brokers}"):
            meta = self._consumer.list_topics(timeout=timeout)
        return {name: t for name, t in meta.topics.items() if t.error is None}

    def _shutdown(self, commit: bool) -> None:
        if self._state is not State.RUNNING and not hasattr(self, "_consumer"):
            return
        consumer = self.__dict__.pop("_consumer", None)
        self._state = State.STOPPED
        dedupe = getattr(self, "_dedupe", None)
        if dedupe is not None:
            dedupe.close()
        if consumer is None:
            return
        try:
            if commit and self._assigned:
                try:
                    consumer.commit(asynchronous=False)
                except confluent_kafka.KafkaException as exc:
                    err = exc.args[0] if exc.args else None
                    if not (isinstance(err, KafkaError) and err.code() == KafkaError._NO_OFFSET):
                        logger.warning("could not commit offsets on close: %s", exc)
        finally:
            consumer.close()

    def close(self) -> None:
        """Commit the offsets of handled messages, leave the group and shut down."""
        self._shutdown(commit=True)

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_state", State.STOPPED) is State.RUNNING:
            warnings.warn(
                "a hop Consumer was garbage-collected without close(); use "
                "`with stream.open(...)` or call close().",
                ResourceWarning,
                stacklevel=2,
            )
