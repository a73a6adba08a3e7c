"""The sender half of :class:`hop.robust_publisher.RobustProducer`.

Kept apart from the public class so that each module has one job: this one moves
journaled messages to librdkafka (from ``write()`` directly, or from the sender thread
for backlogs and resends) and turns delivery reports back into journal updates.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from hop._journal import JournalMessage
from hop._kafka_errors import translate
from hop._publication_journal import DROP, FATAL, PublicationJournal, classify
from hop.errors import KafkaException

logger = logging.getLogger("hop")

DeliveryCallback = Callable[[Any, Any], None]

_SEND_BATCH = 500
"""Most messages handed to librdkafka per round of the sender thread."""


class _Sender:
    """Mixin holding the sending and acknowledging methods of ``RobustProducer``.

    The attributes below are set by ``RobustProducer``; they are declared here so the
    methods type-check on their own.
    """

    _journal: PublicationJournal
    _producer: Any
    _url: str
    _wake: threading.Condition
    _backoff: float
    _fatal: BaseException | None
    _failure: BaseException | None
    _idle: bool
    _abandon: bool
    _stop_requested: bool
    _poll_wait: float
    _writes: int
    _uses_callbacks: bool
    _acked: deque[int]
    _acked_msgs: deque[tuple[int, Any]]
    _done: threading.Event
    _cb_lock: threading.Lock
    _callbacks: dict[int, DeliveryCallback]
    max_in_flight: int


    def _send_direct(self, msg: JournalMessage) -> None:
        seq = msg.seq
        try:
            # _produce: write_raw without re-checking headers the journal normalized.
            self._producer._produce(
                msg.value, msg.headers, functools.partial(self._on_delivery, seq), msg.topic,
                msg.key,
            )
            return
        except KafkaException as exc:
            verdict = classify(exc)
            if verdict == DROP:
                self._journal.mark_message_sent(seq)
                logger.error("message %d dropped: %s", seq, exc)
                self._call_user(seq, exc.error or exc, None)
                return
            # It stays in the journal; the sender thread sends it again.
            self._journal.requeue_message(seq)
            if verdict == FATAL:
                if self._fatal is None:
                    self._fatal = exc
            else:
                self._backoff = time.monotonic() + 0.5
                logger.warning("could not hand a message to Kafka (%s); retrying", exc)
        except Exception as exc:
            # Not Kafka's doing (a bug, a broken producer): stop the sender with it, as
            # if the sender had sent this message. It stays in the journal.
            self._journal.requeue_message(seq)
            if self._fatal is None:
                self._fatal = exc
        finally:
            if self._idle:
                with self._wake:
                    self._wake.notify()

    # -- the sender thread

    def _run(self) -> None:
        try:
            self._send_loop()
        except BaseException as exc:
            self._failure = exc
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
                self._producer._poll(self._poll_wait)
            elif in_flight and self._writes != writes:
                # Writers are busy and serve delivery reports themselves; polling here
                # too would take the GIL from them for every report.
                writes = self._writes
                with self._wake:
                    self._wake.wait(0.005)
            elif in_flight:
                # Waiting for acknowledgements; this also bounds how long a new write
                # waits before it is sent.
                self._producer._poll(0.01)
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
        producer = self._producer
        for i, msg in enumerate(batch):
            try:
                producer.write_raw(
                    msg.value,
                    headers=msg.headers,
                    delivery_callback=functools.partial(self._on_delivery, msg.seq),
                    topic=msg.topic,
                    key=msg.key,
                )
            except KafkaException as exc:
                verdict = classify(exc)
                if verdict == DROP:
                    self._journal.mark_message_sent(msg.seq)
                    logger.error("message %d dropped: %s", msg.seq, exc)
                    self._call_user(msg.seq, exc.error or exc, None)
                    continue
                # Put this one and the rest back; they stay in the journal.
                for rest in batch[i:]:
                    self._journal.requeue_message(rest.seq)
                if verdict == FATAL:
                    raise
                self._backoff = time.monotonic() + 0.5
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
        if verdict is None or verdict == DROP:
            self._call_user(seq, err, msg)
        elif verdict == FATAL:
            if self._fatal is None:
                self._fatal = translate(
                    err, action=f"sending to {self._url}",
                    topic=msg.topic() if msg is not None else None,
                )
        else:
            # A burst of failures (broker gone) should not spin: back off briefly.
            self._backoff = time.monotonic() + 0.1

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
