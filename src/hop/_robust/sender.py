"""The sending half of :class:`hop.robust_publisher.RobustProducer`.

:class:`Sender` owns the background thread and everything it shares with writers:
the backoff after a failed send, the first fatal error, the user's delivery callbacks
and the acknowledgements waiting to be written to the journal. It is given the
:class:`~hop._robust.journal.PublicationJournal` and a
:class:`~hop._robust.backend.ProducerBackend`, and moves journaled messages to Kafka:
from :meth:`Sender.submit` directly (``durability="none"``, nothing queued), or from
its thread for backlogs and resends. Delivery reports become journal updates.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from hop._kafka_errors import Verdict, classify, translate
from hop._robust.backend import DeliveryCallback, ProducerBackend
from hop._robust.format import Header, JournalMessage
from hop._robust.journal import PublicationJournal
from hop.errors import KafkaException

__all__ = ["DEFAULT_MAX_IN_FLIGHT", "Sender"]

logger = logging.getLogger("hop")

DEFAULT_MAX_IN_FLIGHT = 20_000
"""How many messages may be handed to librdkafka and not yet acknowledged: enough to
keep a remote broker busy, few enough that a crash resends a bounded number."""

_SEND_BATCH = 500
"""Most messages handed to librdkafka per round of the sender thread."""

_RETRY_AFTER_REFUSAL_S = 0.5
"""Pause after librdkafka refused a message at once (its queue is full, say)."""

_RETRY_AFTER_FAILED_DELIVERY_S = 0.1
"""Pause after a failed delivery: a burst of them (broker gone) should not spin."""


class Sender:
    """Sends what the journal holds and applies the broker's answers to it.

    Parameters
    ----------
    journal : PublicationJournal
        Where messages are journaled; this object moves them to in flight and marks
        them sent or requeues them.
    producer : ProducerBackend
        The Kafka producer.
    url : str
        Named in log messages and errors.
    poll_wait : float
        Seconds spent waiting for acknowledgements right after sending a batch.
    """

    def __init__(
        self,
        journal: PublicationJournal,
        producer: ProducerBackend,
        *,
        url: str,
        poll_wait: float,
    ) -> None:
        self.max_in_flight = DEFAULT_MAX_IN_FLIGHT
        self._journal = journal
        self._producer = producer
        self._url = url
        self._poll_wait = poll_wait
        self._wake = threading.Condition()
        self._stop_requested = False
        self._abandon = False
        self._idle = False
        self._done = threading.Event()
        self.failure: BaseException | None = None
        """What ended the thread, if it failed."""
        self._callbacks: dict[int, DeliveryCallback] = {}
        self._uses_callbacks = False
        self._cb_lock = threading.Lock()
        self._backoff = 0.0
        self._fatal: BaseException | None = None
        # Successful deliveries, applied to the journal in batches by _drain_acks.
        self._acked: deque[int] = deque()
        self._acked_msgs: deque[tuple[int, Any]] = deque()
        # Messages are handed to librdkafka by submit() itself with durability "none";
        # the thread leaves serving delivery reports to writers while _writes grows.
        self._direct = journal.durability == "none"
        self._writes = 0
        self.thread = threading.Thread(
            target=self._run, name=f"hop-robust-producer[{journal.journal_path}]", daemon=True,
        )

    # -- lifecycle (called by the RobustProducer)

    def start(self) -> None:
        """Start the thread."""
        self.thread.start()

    def request_stop(self) -> None:
        """Ask the thread to send what is queued, flush, and end."""
        with self._wake:
            self._stop_requested = True
            self._wake.notify_all()

    def abandon(self) -> None:
        """Ask the thread to end now, leaving unsent messages in the journal."""
        self._abandon = True
        with self._wake:
            self._wake.notify_all()

    def wait(self, timeout: float | None) -> bool:
        """Wait up to ``timeout`` seconds for the thread to end; True if it has."""
        return self._done.wait(timeout)

    @property
    def done(self) -> bool:
        """Whether the thread has ended (or was never needed)."""
        return self._done.is_set()

    # -- writing (called from the writers' threads)

    def _room(self) -> int:
        # How many may be in flight after a direct send; 0 sends nothing directly.
        if self._direct and self._fatal is None and (
            not self._backoff or time.monotonic() >= self._backoff
        ):
            return self.max_in_flight
        return 0

    def submit(
        self,
        payload: bytes,
        headers: list[Header] | Sequence[tuple[Any, Any]],
        topic: str,
        key: str | bytes | None,
        headers_ready: bool,
        callback: DeliveryCallback | None,
    ) -> int:
        """Journal one packed message and get it sent; return its durability ticket.

        Without fsync, the message is handed to librdkafka from here, right after it is
        journaled, unless a backlog or a backoff is being worked through by the thread.
        The writer also serves delivery reports as it goes (as the plain Producer does)
        while the thread sleeps: two threads serving them would trade the GIL once per
        message.
        """
        limit = self._room()
        journal = self._journal
        if callback is None:
            seq, ticket, direct = journal._queue(payload, headers, topic, key, limit,
                                                 headers_ready)
        else:
            self._uses_callbacks = True
            # Under the lock, so a delivery report cannot look for the callback first.
            with self._cb_lock:
                seq, ticket, direct = journal._queue(payload, headers, topic, key, limit,
                                                     headers_ready)
                self._callbacks[seq] = callback
        if direct is not None:
            self._writes += 1
            self._send_direct(direct)
            if len(self._acked) >= _SEND_BATCH:
                self._drain_acks()
        if self._idle:
            with self._wake:
                self._wake.notify()
        return ticket

    def submit_many(
        self,
        packed: Sequence[tuple[bytes, Sequence[tuple[Any, Any]]]],
        topic: str,
        key: str | bytes | None,
    ) -> int:
        """Journal a batch of packed messages with one write; return the batch's ticket."""
        _, ticket, direct = self._journal._queue_many(packed, topic, key, self._room())
        if direct:
            self._writes += len(direct)
            for i, msg in enumerate(direct):
                if self._fatal is not None or time.monotonic() < self._backoff:
                    # A send just failed: leave the rest to the thread, in order.
                    for rest in direct[i:]:
                        self._journal.requeue_message(rest.seq)
                    break
                self._send_direct(msg)
            if len(self._acked) >= _SEND_BATCH:
                self._drain_acks()
        if self._idle:
            with self._wake:
                self._wake.notify()
        return ticket

    def _send_direct(self, msg: JournalMessage) -> None:
        seq = msg.seq
        try:
            self._producer.produce(
                msg.value, msg.headers, functools.partial(self._on_delivery, seq), msg.topic,
                msg.key,
            )
            return
        except KafkaException as exc:
            verdict = classify(exc)
            if verdict is Verdict.DROP:
                self._journal.mark_message_sent(seq)
                logger.error("message %d dropped: %s", seq, exc)
                self._call_user(seq, exc.error or exc, None)
                return
            # It stays in the journal; the thread sends it again.
            self._journal.requeue_message(seq)
            if verdict is Verdict.FATAL:
                if self._fatal is None:
                    self._fatal = exc
            else:
                self._backoff = time.monotonic() + _RETRY_AFTER_REFUSAL_S
                logger.warning("could not hand a message to Kafka (%s); retrying", exc)
        except Exception as exc:
            # Not Kafka's doing (a bug, a broken producer): stop the thread with it, as
            # if the thread had sent this message. It stays in the journal.
            self._journal.requeue_message(seq)
            if self._fatal is None:
                self._fatal = exc
        finally:
            if self._idle:
                with self._wake:
                    self._wake.notify()

    # -- the thread

    def _run(self) -> None:
        try:
            self._send_loop()
        except BaseException as exc:
            self.failure = exc
            logger.error("RobustProducer sender for %s failed: %s", self._url, exc,
                         exc_info=True)
        finally:
            with contextlib.suppress(BaseException):
                self._drain_acks()
                self._journal._flush_acks()
            self._done.set()

    def _send_loop(self) -> None:
        journal = self._journal
        writes = -1
        while not self._abandon:
            queued, in_flight = journal._counts()
            sent = 0
            if queued and in_flight < self.max_in_flight and time.monotonic() >= self._backoff:
                # Bounded batches keep acknowledgements flowing into the journal (each
                # loop drains them), which bounds the resends after a crash.
                sent = self._send(journal._take(min(_SEND_BATCH, self.max_in_flight - in_flight)))
            if sent:
                self._producer.poll(self._poll_wait)
            elif in_flight and self._writes != writes:
                # Writers are busy and serve delivery reports themselves; polling here
                # too would take the GIL from them for every report.
                writes = self._writes
                with self._wake:
                    self._wake.wait(0.005)
            elif in_flight:
                # Waiting for acknowledgements; this also bounds how long a new write
                # waits before it is sent.
                self._producer.poll(0.01)
            self._drain_acks()
            self._raise_fatal()
            if sent or in_flight:
                continue
            with self._wake:
                queued, in_flight = journal._counts()
                if self._stop_requested and not queued and not in_flight:
                    break
                if in_flight or (queued and time.monotonic() >= self._backoff):
                    continue
                self._idle = True
                # Counted again after setting _idle: a writer that journaled a message
                # before this sees it here, one after it sees _idle and notifies.
                queued, in_flight = journal._counts()
                if not queued and not in_flight:
                    self._wake.wait(timeout=1.0)
                elif not in_flight:
                    self._wake.wait(timeout=max(0.0, self._backoff - time.monotonic()))
                self._idle = False
        if not self._abandon:
            self._producer.flush()
            self._drain_acks()

    def _send(self, batch: list[JournalMessage]) -> int:
        sent = 0
        produce = self._producer.produce
        for i, msg in enumerate(batch):
            try:
                produce(msg.value, msg.headers, functools.partial(self._on_delivery, msg.seq),
                        msg.topic, msg.key)
            except KafkaException as exc:
                verdict = classify(exc)
                if verdict is Verdict.DROP:
                    self._journal.mark_message_sent(msg.seq)
                    logger.error("message %d dropped: %s", msg.seq, exc)
                    self._call_user(msg.seq, exc.error or exc, None)
                    continue
                # Put this one and the rest back; they stay in the journal.
                for rest in batch[i:]:
                    self._journal.requeue_message(rest.seq)
                if verdict is Verdict.FATAL:
                    raise
                self._backoff = time.monotonic() + _RETRY_AFTER_REFUSAL_S
                logger.warning("could not hand a message to Kafka (%s); retrying", exc)
                return sent
            sent += 1
        self._raise_fatal()
        return sent

    def _on_delivery(self, seq: int, err: Any, msg: Any) -> None:
        if err is None and msg is not None:
            err = msg.error()
        if err is None:
            # The common case, batched: the journal is updated once per poll round
            # (_drain_acks), with one lock and one sent record for the whole batch.
            self._acked.append(seq)
            if self._uses_callbacks:
                self._acked_msgs.append((seq, msg))
            return
        verdict = self._journal._settle(seq, err, msg)
        if verdict is None or verdict is Verdict.DROP:
            self._call_user(seq, err, msg)
        elif verdict is Verdict.FATAL:
            if self._fatal is None:
                self._fatal = translate(
                    err, action=f"sending to {self._url}",
                    topic=msg.topic() if msg is not None else None,
                )
        else:
            self._backoff = time.monotonic() + _RETRY_AFTER_FAILED_DELIVERY_S

    def _drain_acks(self) -> None:
        acked, pop = [], self._acked.popleft
        with contextlib.suppress(IndexError):
            while True:
                acked.append(pop())
        if acked:
            self._journal._mark_sent_many(acked)
        pop_msg = self._acked_msgs.popleft
        with contextlib.suppress(IndexError):
            while True:
                seq, msg = pop_msg()
                self._call_user(seq, None, msg)

    def _raise_fatal(self) -> None:
        if self._fatal is not None:
            raise self._fatal

    def _call_user(self, seq: int, err: Any, msg: Any) -> None:
        if not self._uses_callbacks:
            return
        with self._cb_lock:
            callback = self._callbacks.pop(seq, None)
        if callback is not None:
            try:
                callback(err, msg)
            except Exception:
                logger.exception("a delivery callback raised; ignored")
