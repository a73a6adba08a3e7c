"""The writing side of a hop.aio stream: :class:`Producer`.

It writes through a :class:`hop.io.Producer` (so the codec, headers, configuration and
error translation are the synchronous API's own). ``produce`` only queues a message in
librdkafka, so it is called on the event loop; the stream's worker thread serves the
delivery reports and hands them to the loop in one call per poll, where each settles
the message's future.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings
from functools import partial
from typing import Any, NoReturn
from weakref import ref as _weakref

import confluent_kafka
from confluent_kafka import KafkaError

from hop import errors
from hop._aio.worker import DEFAULT_JOIN_TIMEOUT, Worker
from hop._codec import pack as _pack
from hop._consumer import Metadata
from hop._kafka_errors import translate
from hop._lifecycle import State
from hop._producer import Producer as SyncProducer
from hop._producer import _timeout_seconds

__all__ = ["Producer"]

logger = logging.getLogger("hop")

# Longest a poll for delivery reports blocks the worker: jobs (close) wait at most this.
_POLL_SLICE = 0.05
# Pause before retrying a message that found librdkafka's queue full.
_FULL_QUEUE_PAUSE = 0.005

# (future or None when dropped, exception or None, the delivered message, whether the
# future came from write_nowait)
_Report = tuple["asyncio.Future[Metadata] | None", "errors.KafkaException | None", Any, bool]

# The codes a purged message is reported with.
_PURGED = frozenset(
    getattr(KafkaError, n) for n in ("_PURGE_QUEUE", "_PURGE_INFLIGHT") if hasattr(KafkaError, n)
)


class Producer:
    """An event stream opened for writing, for asyncio programs.

    Obtain one from :meth:`hop.aio.Stream.open` with mode ``"w"`` (it is not made
    directly). Messages are encoded
    and carry the same headers (``_id``, ``_sender``, ``_test``, ``_format``) as those
    of a :class:`hop.io.Producer`.

    Examples
    --------
    ::

        async with Stream(auth=False).open("kafka://localhost:9092/gcn", "w") as s:
            await s.write({"alert": 1})   # returns once the broker has it
    """

    def __init__(self, sync: SyncProducer, worker: Worker, loop: asyncio.AbstractEventLoop) -> None:
        self._sync = sync
        self._raw: confluent_kafka.Producer = sync._producer
        self._worker = worker
        self._loop = loop
        self._state = State.RUNNING
        # Messages queued (counted on the loop) and reported (counted on the worker):
        # each counter has one writer, so their difference is what is pending.
        self._queued = 0
        self._reported = 0
        self._sent_reported = 0  # the count last handed to the loop (worker only)
        # flush() waits on this event until ``_reported`` reaches ``_flush_target``.
        self._drained = asyncio.Event()
        self._flush_target = 0
        # Failures of write_nowait messages, raised (first) by the next flush() or close().
        self._failures: list[errors.KafkaException] = []
        # Filled by delivery callbacks on the worker thread, sent to the loop after a poll.
        self._reports: list[_Report] = []
        self._client_failure_seen = False
        # Looked up once for the per-message path.
        self._client_errors = sync._client_errors
        self._sender = sync._sender
        self._default_topic = sync.default_topic
        self._produce = self._raw.produce
        self._create_future = loop.create_future
        worker.set_idle(self._serve)

    @property
    def default_topic(self) -> str | None:
        """The topic written to when ``write`` names none."""
        return self._sync.default_topic

    # -- the worker thread ------------------------------------------------------------
    #
    # A write() holds its future until the delivery report; a write_nowait() caller may
    # drop it at once. The callbacks of the latter hold only a weak reference, so a
    # future nobody holds is gone by the time its report arrives and costs nothing to
    # settle; its failure is still recorded for flush().

    def _claimed_delivery(self, future: asyncio.Future[Metadata], err: Any, msg: Any) -> None:
        self._reported += 1
        if err is None:
            self._reports.append((future, None, msg, False))
        else:
            self._failed_delivery(future, False, err, msg)

    def _unclaimed_delivery(self, ref: Any, err: Any, msg: Any) -> None:
        self._reported += 1
        future = ref()
        if err is None:
            if future is not None:
                self._reports.append((future, None, msg, True))
        else:
            self._failed_delivery(future, True, err, msg)

    def _failed_delivery(
        self, future: asyncio.Future[Metadata] | None, unclaimed: bool, err: KafkaError, msg: Any
    ) -> None:
        failure = self._client_errors.failure
        if failure is not None and err.code() in _PURGED:
            # Purged because the login was refused (see _dispatch): that is the error.
            self._reports.append((future, failure, None, unclaimed))
            return
        topic = msg.topic() if msg is not None else None
        exc = translate(err, action="delivery failed", topic=topic)
        if isinstance(exc, errors.MessageTooLargeError):
            # Asks the broker for the topic's limit: on this thread, never on the loop.
            exc = self._sync._too_large(len(msg.value() or b""), topic, exc)
        self._reports.append((future, exc, None, unclaimed))

    def _serve(self) -> None:
        """Serve delivery reports for a poll slice (the worker's idle work)."""
        self._raw.poll(_POLL_SLICE)
        self._dispatch()

    def _dispatch(self) -> None:
        if self._client_errors.failure is not None and not self._client_failure_seen:
            # Nothing will get through (a refused login): fail every queued message now,
            # with that error, rather than when its delivery times out.
            self._client_failure_seen = True
            self._raw.purge(in_queue=True, in_flight=True, blocking=False)
            self._raw.poll(0)
        reported = self._reported
        if self._reports or reported != self._sent_reported:
            # Only when something happened: an idle writer does not wake the loop.
            reports, self._reports = self._reports, []
            self._sent_reported = reported
            self._call_on_loop(self._settle, reports, reported)

    def _call_on_loop(self, fn: Any, *args: Any) -> None:
        # A closed loop raises RuntimeError: nobody waits for these any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(fn, *args)

    # -- the loop ---------------------------------------------------------------------

    def _settle(self, reports: list[_Report], reported: int) -> None:
        failures = self._failures
        for future, exc, msg, unclaimed in reports:
            if exc is None:
                if not future.done():  # type: ignore[union-attr]
                    future.set_result(Metadata.from_message(msg))  # type: ignore[union-attr]
                continue
            if future is not None and not future.done():
                future.set_exception(exc)
                if unclaimed:
                    future.add_done_callback(_retrieve)  # flush() raises it instead
            if unclaimed:
                failures.append(exc)
        if reported >= self._flush_target:
            self._drained.set()

    def _check_open(self) -> None:
        if self._state is not State.RUNNING:
            raise errors.StreamClosedError("this stream is closed")
        failure = self._sync._client_errors.failure
        if failure is not None:
            raise failure

    @staticmethod
    def _no_topic() -> NoReturn:
        raise errors.ConfigurationError(
            "no topic to write to: name one in the URL when opening the stream, "
            "or pass topic= to write()"
        )

    def _enqueue(
        self,
        message: Any,
        headers: Any,
        test: bool,
        topic: str | None,
        key: str | bytes | None,
        unclaimed: bool,
        raw: bool,
    ) -> asyncio.Future[Metadata]:
        """Queue one message in librdkafka; raise BufferError when its queue is full."""
        # The per-message path: what it needs is looked up once, in open(); the slow
        # cases (closed, refused login, no topic, refused message) are out of line.
        if self._state is not State.RUNNING or self._client_errors.failure is not None:
            self._check_open()
        if raw:
            payload = message
            if headers is not None and not isinstance(headers, list):
                headers = list(headers.items()) if hasattr(headers, "items") else list(headers)
        else:
            payload, headers = _pack(message, headers, test, self._sender)
        topic = topic or self._default_topic
        if topic is None:
            self._no_topic()
        future: asyncio.Future[Metadata] = self._create_future()
        if unclaimed:
            on_delivery = partial(self._unclaimed_delivery, _weakref(future))
        else:
            on_delivery = partial(self._claimed_delivery, future)
        try:
            self._produce(topic, payload, key, headers=headers, on_delivery=on_delivery)
        except confluent_kafka.KafkaException as exc:
            # Refused before queueing (e.g. too large): settled on the worker, which may
            # ask the broker for the topic's size limit.
            self._worker.submit(self._refused, future, exc, payload, topic, unclaimed)
        self._queued += 1
        return future

    def _refused(
        self,
        future: asyncio.Future[Metadata],
        exc: confluent_kafka.KafkaException,
        payload: bytes,
        topic: str,
        unclaimed: bool,
    ) -> None:
        self._reported += 1
        error = self._sync._produce_error(exc, payload, topic)
        self._reports.append((future, error, None, unclaimed))
        self._dispatch()

    def write_nowait(
        self,
        message: Any,
        headers: Any = None,
        test: bool = False,
        topic: str | None = None,
        key: str | bytes | None = None,
    ) -> asyncio.Future[Metadata]:
        """Queue a message and return at once with a future for its delivery.

        The future's result is the delivered message's :class:`~hop.io.Metadata`
        (topic, partition, offset); it fails with the :mod:`hop.errors` exception a
        synchronous write would raise. A failure is also raised by the next
        :meth:`flush` or :meth:`close`, as :meth:`hop.io.Producer.flush` does, so
        fire-and-forget writes are never lost silently.

        Parameters
        ----------
        message, headers, test, topic, key :
            As for :meth:`write`.

        Raises
        ------
        BufferError
            When librdkafka's local queue is full (``queue.buffering.max.messages``):
            ``await`` :meth:`write` or :meth:`flush` instead, which wait for room.
        hop.errors.StreamClosedError, hop.errors.SerializationError, ValueError
            For a closed stream, a message that cannot be encoded, reserved headers.
        """
        # _enqueue's work, inline: this is the per-message path of bulk writers.
        if self._state is not State.RUNNING or self._client_errors.failure is not None:
            self._check_open()
        payload, all_headers = _pack(message, headers, test, self._sender)
        topic = topic or self._default_topic
        if topic is None:
            self._no_topic()
        future: asyncio.Future[Metadata] = self._create_future()
        try:
            self._produce(
                topic,
                payload,
                key,
                headers=all_headers,  # type: ignore[arg-type]
                on_delivery=partial(self._unclaimed_delivery, _weakref(future)),
            )
        except confluent_kafka.KafkaException as exc:
            self._worker.submit(self._refused, future, exc, payload, topic, True)
        self._queued += 1
        return future

    async def write(
        self,
        message: Any,
        headers: Any = None,
        test: bool = False,
        topic: str | None = None,
        key: str | bytes | None = None,
    ) -> Metadata:
        """Write a message and return once the broker has acknowledged it.

        Parameters
        ----------
        message
            A model, a JSON-encodable value, or bytes.
        headers : mapping or list of (str, str or bytes), optional
            User headers (duplicate names allowed in the list form).
        test : bool
            Mark as a test message; readers skip it unless asked not to.
        topic : str, optional
            Overrides the stream's topic.
        key : str or bytes, optional
            Kafka message key.

        Returns
        -------
        hop.io.Metadata
            Where the message was stored (topic, partition, offset).

        Raises
        ------
        hop.errors.DeliveryError, hop.errors.MessageTooLargeError, hop.errors.KafkaException
            When the broker did not take the message (within ``produce_timeout``).

        Notes
        -----
        Cancelling the awaiting task does not withdraw the message: it is delivered
        anyway, and a failure is then raised by :meth:`flush` or :meth:`close`.
        """
        return await self._wait(self._enqueue_when_room(message, headers, test, topic, key, False))

    async def write_raw(
        self,
        packed_message: bytes,
        headers: Any = None,
        topic: str | None = None,
        key: str | bytes | None = None,
    ) -> Metadata:
        """Write a message already encoded by :meth:`hop.io.Producer.pack`; as :meth:`write`."""
        return await self._wait(
            self._enqueue_when_room(packed_message, headers, False, topic, key, True)
        )

    async def _wait(self, enqueued: Any) -> Metadata:
        future: asyncio.Future[Metadata] = await enqueued
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            # Nobody will see this delivery's outcome: report a failure from flush().
            future.add_done_callback(self._orphaned)
            raise

    def _orphaned(self, future: asyncio.Future[Metadata]) -> None:
        exc = None if future.cancelled() else future.exception()
        if isinstance(exc, errors.KafkaException):
            self._failures.append(exc)

    async def _enqueue_when_room(
        self,
        message: Any,
        headers: Any,
        test: bool,
        topic: str | None,
        key: str | bytes | None,
        raw: bool,
    ) -> asyncio.Future[Metadata]:
        while True:
            try:
                return self._enqueue(message, headers, test, topic, key, False, raw)
            except BufferError:
                # The worker thread drains the queue as deliveries are reported.
                await asyncio.sleep(_FULL_QUEUE_PAUSE)

    def __len__(self) -> int:
        """How many written messages await their delivery report."""
        return max(0, self._queued - self._reported)

    def _raise_failures(self) -> None:
        failures, self._failures = self._failures, []
        if not failures:
            return
        first = failures[0]
        if len(failures) > 1:
            first.args = (f"{first.args[0]} (and {len(failures) - 1} more failed deliveries)",)
        raise first

    async def flush(self, timeout: Any = None) -> int:
        """Wait until every written message has its delivery report.

        Parameters
        ----------
        timeout : datetime.timedelta or float, optional
            Longest wait; by default the stream's ``produce_timeout``.

        Returns
        -------
        int
            How many messages are still waiting for their report.

        Raises
        ------
        hop.errors.DeliveryError, hop.errors.MessageTooLargeError, hop.errors.KafkaException
            When a message written with :meth:`write_nowait` failed, or the broker
            refused the login.
        """
        if self._state is State.STOPPED:
            raise errors.StreamClosedError("this stream is closed")
        limit = _timeout_seconds(timeout, self._sync._config.produce_seconds)
        target = self._queued
        if self._reported < target:
            self._flush_target = target
            self._drained.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), limit)
        remaining = max(0, target - self._reported)
        self._raise_failures()
        failure = self._sync._client_errors.failure
        if failure is not None:
            raise failure
        return remaining

    def _close_job(self, limit: float | None) -> None:
        try:
            self._sync.close(limit)
        finally:
            self._dispatch()

    async def close(self, timeout: Any = None) -> None:
        """Wait for written messages to be delivered, then shut down.

        Parameters
        ----------
        timeout : datetime.timedelta or float, optional
            Longest wait for deliveries; by default the stream's ``produce_timeout``.
            Messages still undelivered then are dropped and reported.

        Raises
        ------
        hop.errors.DeliveryError
            When messages could not be delivered in time, or a delivery failed.
        """
        if self._state is not State.RUNNING:
            return
        limit = _timeout_seconds(timeout, self._sync._config.produce_seconds)
        try:
            await self.flush(limit)
        finally:
            self._state = State.STOPPING
            closing = self._worker.submit(self._close_job, limit)
            self._worker.stop_soon()
            try:
                await asyncio.shield(closing)
                # Reports served by the last flush are settled by now; their failures too.
                await asyncio.sleep(0)
                self._raise_failures()
            finally:
                self._state = State.STOPPED
                # Let librdkafka's client (and its threads) go now, not when this object does.
                self._raw = self._sync._producer
                self._produce = _closed
                await self._worker.stop(DEFAULT_JOIN_TIMEOUT)

    async def __aenter__(self) -> Producer:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            await self.close()
            return
        # An exception is already propagating: still deliver what was written, but never
        # hide the original exception behind a delivery error.
        try:
            await self.close()
        except errors.HopError as close_exc:
            logger.error("while closing after an error: %s", close_exc)

    def __del__(self) -> None:
        if getattr(self, "_state", State.STOPPED) is State.RUNNING:
            self._worker.stop_soon()
            warnings.warn(
                "a hop.aio Producer was garbage-collected without close(); queued messages "
                "may be lost. Use `async with stream.open(...)` or `await s.close()`.",
                ResourceWarning,
                stacklevel=2,
            )


def _closed(*args: Any, **kwargs: Any) -> None:
    raise errors.StreamClosedError("this stream is closed")


def _retrieve(future: asyncio.Future[Any]) -> None:
    if future.done() and not future.cancelled():
        future.exception()
