"""The reading side of a hop.aio stream: :class:`Consumer` and its async iterator.

It drives a :class:`hop.io.Consumer` (so the subscription, start positions,
``until_eos`` bookkeeping, error translation and the codec are the synchronous API's
own) with every librdkafka call made on the stream's :class:`~hop._aio.worker.Worker`
thread. Messages cross from that thread to the event loop one batch at a time, and are
decoded on the loop as the caller asks for them.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from hop import _codec, errors
from hop._aio.worker import DEFAULT_JOIN_TIMEOUT, Worker
from hop._consumer import DEFAULT_BATCH_SIZE, Metadata, _check_read_options, _is_test
from hop._consumer import Consumer as SyncConsumer
from hop._lifecycle import State

__all__ = ["Consumer"]

logger = logging.getLogger("hop")

_Decode = Callable[[bytes | None, Any, Any], Any]


def _raw_value(value: bytes | None, headers: Any, msg: Any) -> bytes | None:
    return value


class Consumer:
    """An event stream opened for reading, for asyncio programs.

    Obtain one from :meth:`hop.aio.Stream.open` with mode ``"r"`` (it is not made
    directly); it reads what a :class:`hop.io.Consumer` opened with the same arguments
    would read, without blocking the event loop.

    Examples
    --------
    ::

        async with Stream(auth=False).open("kafka://localhost:9092/gcn", "r") as s:
            async for message in s:
                print(message)
    """

    def __init__(self, sync: SyncConsumer, worker: Worker) -> None:
        self._sync = sync
        self._worker = worker
        self._state = State.RUNNING
        self._batches: Iterator[list[Any]] | None = None
        self._batch_size = DEFAULT_BATCH_SIZE
        # The batch being handed out; messages before ``_handled`` are handled, the one at
        # ``_handled`` (if handed out) is in the caller's hands, ``_next`` is examined next.
        self._batch: list[Any] = []
        self._next = 0
        self._handled = 0
        self._autocommit = True
        # A fetch whose awaiting task was cancelled: its batch is used by the next read.
        self._inflight: asyncio.Future[list[Any] | None] | None = None

    @property
    def topics(self) -> list[str]:
        """The topics read."""
        return list(self._sync.topics)

    @property
    def group_id(self) -> str:
        """The consumer group read as."""
        return self._sync.group_id

    @staticmethod
    def is_test(message: Any) -> bool:
        """True if ``message`` (a Kafka message or :class:`~hop.io.Metadata`) is a test."""
        return SyncConsumer.is_test(message)

    def _require_open(self) -> None:
        if self._state is not State.RUNNING:
            raise errors.StreamClosedError("this stream is closed")

    # -- reading ----------------------------------------------------------------------

    def read(
        self,
        metadata: bool = False,
        autocommit: bool = True,
        batch_size: int = DEFAULT_BATCH_SIZE,
        batch_timeout: Any = None,
        **kwargs: Any,
    ) -> _Reader:
        """Read messages from the stream: ``async for message in s.read()``.

        Parameters
        ----------
        metadata : bool
            Yield ``(message, Metadata)`` pairs instead of messages.
        autocommit : bool
            Mark each message done once the next one is asked for (a message is never
            marked before the caller has handled it). With False, only messages passed
            to :meth:`mark_done` are marked.
        batch_size : int
            Most messages taken from librdkafka at a time.
        batch_timeout : datetime.timedelta, optional
            Accepted for compatibility with :meth:`hop.io.Consumer.read`; a reader never
            waits for a batch to fill.

        Returns
        -------
        async iterator of MessageModel or (MessageModel, Metadata)
        """
        _check_read_options("read", batch_size, kwargs)
        self._require_open()
        return _Reader(self, _codec.unpack, metadata, autocommit, batch_size)

    def read_raw(
        self,
        metadata: bool = False,
        autocommit: bool = True,
        batch_size: int = DEFAULT_BATCH_SIZE,
        **kwargs: Any,
    ) -> _Reader:
        """Like :meth:`read`, but yield each message's undecoded bytes."""
        kwargs.pop("batch_timeout", None)
        _check_read_options("read_raw", batch_size, kwargs)
        self._require_open()
        return _Reader(self, _raw_value, metadata, autocommit, batch_size)

    def __aiter__(self) -> _Reader:
        return self.read()

    def _next_batch(self, batch_size: int, handled: list[Any] | None) -> list[Any] | None:
        # On the worker thread: store what the caller has handled, then take a batch.
        sync = self._sync
        if handled:
            sync._store_handled(handled)
        if self._batches is None or batch_size != self._batch_size:
            self._batch_size = batch_size
            self._batches = sync._batches(batch_size)
        batch = next(self._batches, None)
        if batch is None:
            # The generator is spent (stop() or the end of every partition); a later
            # read starts a new one, which ends at once for the same reasons.
            self._batches = None
        return batch

    async def _fetch(self, batch_size: int, handled: list[Any] | None) -> list[Any] | None:
        future = self._inflight
        if future is None:
            future = self._worker.submit(self._next_batch, batch_size, handled)
            self._inflight = future
        # Shielded: cancelling the reading task leaves the fetch running on the worker
        # (for at most one poll slice); its messages go to the next read, not astray.
        batch = await asyncio.shield(future)
        self._inflight = None
        return batch

    def _take_handled(self) -> list[Any] | None:
        """The handled messages of the current batch not yet stored, if autocommitting."""
        if not self._autocommit or self._handled == 0:
            return None
        handled = self._batch[: self._handled]
        self._batch = self._batch[self._handled :]
        self._next -= self._handled
        self._handled = 0
        return handled

    async def mark_done(self, metadata: Metadata, asynchronous: bool = True) -> None:
        """Mark a message as fully processed, and commit it.

        Parameters
        ----------
        metadata : Metadata
            The metadata yielded with the message by ``read(metadata=True)``.
        asynchronous : bool
            With False, return only once the broker has recorded the commit.
        """
        self._require_open()
        await asyncio.shield(self._worker.submit(self._sync.mark_done, metadata, asynchronous))

    def stop(self) -> None:
        """Make a running read end within a poll slice (0.25 s); safe from any thread."""
        self._sync.stop()

    async def list_topics(self, timeout: float = 10.0) -> dict[str, Any]:
        """Return ``{topic: TopicMetadata}`` for the topics visible on the broker."""
        self._require_open()
        return await self._worker.submit(self._sync.list_topics, timeout)

    # -- closing ----------------------------------------------------------------------

    def _close_job(self, handled: list[Any] | None) -> None:
        sync = self._sync
        try:
            if handled:
                sync._store_handled(handled)
        finally:
            sync.close()

    async def close(self) -> None:
        """Commit the offsets of handled messages, leave the group and shut down.

        Safe to call more than once. If the task is cancelled meanwhile, closing still
        completes on the stream's thread.
        """
        if self._state is not State.RUNNING:
            return
        self._state = State.STOPPING
        inflight, self._inflight = self._inflight, None
        if inflight is not None:
            # Its batch will never be handed out: its messages stay uncommitted.
            inflight.add_done_callback(_retrieve)
        handled = self._take_handled()
        self._batch = []
        self._next = self._handled = 0
        self._sync.stop()
        closing = self._worker.submit(self._close_job, handled)
        self._worker.stop_soon()
        try:
            await asyncio.shield(closing)
        finally:
            self._state = State.STOPPED
            await self._worker.stop(DEFAULT_JOIN_TIMEOUT)

    async def __aenter__(self) -> Consumer:
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        await self.close()

    def __del__(self) -> None:
        if getattr(self, "_state", State.STOPPED) is State.RUNNING:
            self._worker.stop_soon()
            warnings.warn(
                "a hop.aio Consumer was garbage-collected without close(); use "
                "`async with stream.open(...)` or `await s.close()`.",
                ResourceWarning,
                stacklevel=2,
            )


def _retrieve(future: asyncio.Future[Any]) -> None:
    # Mark an abandoned future's exception as seen, so asyncio does not log it.
    if not future.cancelled():
        future.exception()


class _Reader:
    """The async iterator returned by :meth:`Consumer.read`."""

    __slots__ = (
        "_autocommit", "_batch_size", "_consumer", "_decode", "_ignoretest", "_metadata",
        "_sync", "_until_eos",
    )  # fmt: skip

    def __init__(
        self,
        consumer: Consumer,
        decode: _Decode,
        metadata: bool,
        autocommit: bool,
        batch_size: int,
    ) -> None:
        self._consumer = consumer
        self._decode = decode
        self._metadata = metadata
        self._autocommit = autocommit
        self._batch_size = batch_size
        # Looked up once: __anext__ runs per message.
        self._sync = consumer._sync
        self._ignoretest = consumer._sync.ignoretest
        self._until_eos = consumer._sync._until_eos

    def __aiter__(self) -> _Reader:
        return self

    async def __anext__(self) -> Any:
        c = self._consumer
        if c._state is not State.RUNNING:
            raise StopAsyncIteration
        c._autocommit = self._autocommit
        sync = self._sync
        ignoretest = self._ignoretest
        until_eos = self._until_eos
        while True:
            batch = c._batch
            i = c._next
            n = len(batch)
            while i < n:
                msg = batch[i]
                i += 1
                if msg.error() is not None:
                    c._next = c._handled = i
                    sync._event(msg)
                    continue
                if until_eos:
                    sync._pending_eof.add((msg.topic() or "", msg.partition() or 0))
                headers = msg.headers()
                if ignoretest and headers and _is_test(headers):
                    continue
                # Everything before this message is handled; it is in the caller's hands.
                c._handled = i - 1
                c._next = i
                model = self._decode(msg.value(), headers, msg)
                return (model, Metadata.from_message(msg)) if self._metadata else model
            # The caller asked for more after the batch's last message: all handled.
            c._next = c._handled = n
            handled = c._take_handled() if self._autocommit else None
            if not self._autocommit:
                c._handled = 0
            fetched = await c._fetch(self._batch_size, handled)
            if c._state is not State.RUNNING:
                raise StopAsyncIteration
            if fetched is None:
                c._batch = []
                c._next = c._handled = 0
                raise StopAsyncIteration
            c._batch = fetched
            c._next = c._handled = 0
