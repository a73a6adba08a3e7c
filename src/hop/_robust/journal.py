"""PublicationJournal: which messages are queued, in flight or done, kept on disk.

Public as :class:`hop.robust_publisher.PublicationJournal`. The record format is in
:mod:`hop._robust.format` and the file handling in :mod:`hop._robust.file`; this module
keeps the in-memory state (queue, in-flight set, pending acknowledgements) and decides
when to compact. What a delivery failure means is :func:`hop._kafka_errors.classify`'s
call.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, cast

from hop._kafka_errors import Verdict, classify
from hop._robust.file import JournalFile
from hop._robust.format import JournalMessage, encode_message, encode_sent
from hop.errors import JournalError, StateError

__all__ = ["DEFAULT_DURABILITY", "DEFAULT_JOURNAL_PATH", "DURABILITY_MODES", "PublicationJournal"]

logger = logging.getLogger("hop")

DURABILITY_MODES = ("none", "fsync")

DEFAULT_JOURNAL_PATH = "publisher.journal"
"""Upstream's journal file, in the working directory."""

DEFAULT_DURABILITY = "none"
"""Upstream's behaviour: a journal that survives the death of the process, not of the
machine; ``"fsync"`` costs a disk flush per write (shared by concurrent writers)."""

# Compact when the file is larger than this many times the live records, and at least
# this large: the file stays within a constant factor of what is really pending.
_COMPACT_FACTOR = 4
_COMPACT_MIN_BYTES = 4 * 1024 * 1024
# Acknowledgements are written in batches; losing a batch only causes duplicates.
_ACK_BATCH = 512


def _header(name: Any, value: Any) -> tuple[str, bytes | None]:
    if isinstance(name, bytes | bytearray):
        name = bytes(name).decode("utf-8")
    if isinstance(value, str):
        value = value.encode("utf-8")
    elif isinstance(value, bytearray | memoryview):
        value = bytes(value)
    return name, value


# What _queue returns: the sequence number, the ticket for _wait_durable and, when the
# message went straight to in flight, the message itself (the caller then sends it). A
# plain tuple: one is built per message written.
_Queued = tuple[int, int, JournalMessage | None]


def _as_bytes(message: Any) -> bytes:
    if type(message) is bytes:
        return message
    if not isinstance(message, bytes | bytearray | memoryview):
        raise TypeError(
            f"a journal message must be bytes, not {type(message).__name__}; pack it first"
        )
    return bytes(message)


def _normalized(headers: Sequence[tuple[Any, Any]] | None) -> list[tuple[str, bytes | None]]:
    return [
        (n, v) if type(n) is str and type(v) is bytes else _header(n, v)
        for n, v in (headers or ())
    ]


class PublicationJournal:
    """The state of messages being sent, persisted so it survives a crash.

    Every queued message is appended to the journal file before this returns; a
    message leaves the journal when :meth:`mark_message_sent` is called for it. The
    object is thread-safe.

    Parameters
    ----------
    journal_path : str
        The journal file; created (mode 0600) when missing, read back when present.
    durability : {"none", "fsync"}
        ``"fsync"`` makes :meth:`queue_message` return only once the record is on
        stable storage.

    Raises
    ------
    PermissionError
        (:class:`hop.errors.InsecureFileError`) if the existing journal is accessible
        to other users.
    hop.errors.JournalCorruptError
        If the existing journal is damaged (the message gives the byte offset).
    hop.errors.JournalError
        If another publisher holds the journal.
    """

    class NullLock:
        """A context manager that does nothing, standing in for a lock."""

        def __enter__(self) -> PublicationJournal.NullLock:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    def __init__(self, journal_path: str | os.PathLike[str] = DEFAULT_JOURNAL_PATH, *,
                 durability: str = DEFAULT_DURABILITY) -> None:
        if durability not in DURABILITY_MODES:
            raise ValueError(
                f"durability must be one of {', '.join(map(repr, DURABILITY_MODES))}, "
                f"not {durability!r}"
            )
        self.journal_path = os.fspath(journal_path)
        self.durability = durability
        self._lock = threading.Lock()
        self._file = JournalFile(self.journal_path, durability=durability)
        # With durability "none" this object's lock also serialises the file, so its
        # own lock is skipped (one lock per message instead of two).
        self._append = self._file.append if durability == "fsync" else (
            self._file.append_serialized
        )
        self._live: dict[int, JournalMessage] = dict(self._file.messages)
        self._file.messages = {}
        self._sizes: dict[int, int] = {}
        self._live_bytes = 0
        for seq, msg in self._live.items():
            size = len(encode_message(msg))
            self._sizes[seq] = size
            self._live_bytes += size
        self._fresh: deque[int] = deque(self._live)
        self._requeued: list[int] = []
        self._in_flight: set[int] = set()
        self._pending_acks: list[int] = []
        self._next_seq = max(self._live, default=-1) + 1
        if self._live:
            logger.info(
                "journal %s holds %d unsent message(s) from an earlier run; they will be sent",
                self.journal_path, len(self._live),
            )

    # -- queueing

    def _queue(
        self,
        message: bytes,
        headers: Sequence[tuple[Any, Any]] | None = None,
        topic: str | None = None,
        key: str | bytes | None = None,
        in_flight_below: int = 0,
        headers_ready: bool = False,
    ) -> _Queued:
        """Append a message to the journal and queue it for sending.

        With ``in_flight_below`` > 0 the message goes straight to in flight instead
        (the caller then hands it to Kafka) when nothing else is queued and fewer than
        that many messages are in flight. ``headers_ready`` says that ``headers`` is a
        fresh list of (str, bytes) pairs, kept as it is.
        """
        message = _as_bytes(message)
        hdrs: list[tuple[str, bytes | None]] = cast(
            "list[tuple[str, bytes | None]]", headers
        ) if headers_ready else _normalized(headers)
        if isinstance(key, str):
            key = key.encode("utf-8")
        with self._lock:
            seq = self._next_seq
            msg = JournalMessage(seq, message, hdrs, topic, key)
            record = encode_message(msg)
            try:
                ticket = self._append(record)
            except OSError as exc:
                raise JournalError(
                    f"could not append to journal {self.journal_path}: {exc}"
                ) from exc
            self._next_seq = seq + 1
            direct = self._admit([msg], [record], in_flight_below - 1)
        return seq, ticket, msg if direct else None

    def _queue_many(
        self,
        messages: Sequence[tuple[bytes, Sequence[tuple[Any, Any]]]],
        topic: str | None = None,
        key: str | bytes | None = None,
        in_flight_below: int = 0,
    ) -> tuple[list[int], int, list[JournalMessage]]:
        """Append several ``(message, headers)`` to the journal with one write.

        All of them are journaled or none is: every record is encoded before anything
        is written, and a failed append leaves the file as it was. They go straight to
        in flight together (returned third, for the caller to send) when nothing else is
        queued and all fit under ``in_flight_below``; otherwise they are all queued.

        Returns
        -------
        tuple
            The sequence numbers, one ticket for :meth:`_wait_durable` covering the
            whole batch, and the messages the caller sends (empty when queued).
        """
        prepared = [(_as_bytes(message), _normalized(headers)) for message, headers in messages]
        if isinstance(key, str):
            key = key.encode("utf-8")
        if not prepared:
            return [], 0, []
        with self._lock:
            first = self._next_seq
            msgs = [
                JournalMessage(first + i, message, hdrs, topic, key)
                for i, (message, hdrs) in enumerate(prepared)
            ]
            records = [encode_message(m) for m in msgs]
            try:
                ticket = self._append(b"".join(records))
            except OSError as exc:
                raise JournalError(
                    f"could not append {len(records)} message(s) to journal "
                    f"{self.journal_path}: {exc}; none of them was journaled"
                ) from exc
            self._next_seq = first + len(msgs)
            seqs = list(range(first, self._next_seq))
            direct = self._admit(msgs, records, in_flight_below - len(msgs))
        return seqs, ticket, msgs if direct else []

    def _admit(
        self, msgs: list[JournalMessage], records: list[bytes], room_after: int
    ) -> bool:
        """Record journaled messages as live; True if they go straight to in flight.

        They do when nothing else waits to be sent and ``room_after`` (the in-flight
        limit less these messages) is not below what is already in flight. Runs under
        the journal's lock.
        """
        live, sizes = self._live, self._sizes
        for msg, record in zip(msgs, records, strict=True):
            live[msg.seq] = msg
            sizes[msg.seq] = len(record)
            self._live_bytes += len(record)
        direct = room_after >= len(self._in_flight) and not self._fresh and not self._requeued
        if direct:
            self._in_flight.update(m.seq for m in msgs)
        else:
            self._fresh.extend(m.seq for m in msgs)
        if self._file.size > _COMPACT_MIN_BYTES:
            self._maybe_compact()
        return direct

    def _wait_durable(self, ticket: int) -> None:
        self._file.wait_durable(ticket)

    def queue_message(
        self,
        message: bytes,
        topic: str | None = None,
        headers: Sequence[tuple[Any, Any]] | None = None,
        key: str | bytes | None = None,
    ) -> int:
        """Record a message which is to be sent.

        The arguments are in hop-client's order: ``(message, topic, headers, key)``.

        Parameters
        ----------
        message : bytes
            The encoded message.
        topic : str, optional
            Destination topic (``None``: the producer's default).
        headers : list of (str, bytes), optional
            Kafka headers to send with it.
        key : str or bytes, optional
            Kafka message key.

        Returns
        -------
        int
            The message's sequence number, unique among live messages.

        Raises
        ------
        TypeError
            If ``message`` is not bytes.
        hop.errors.JournalError
            If the record cannot be appended to the file.
        """
        seq, ticket, _ = self._queue(message, headers, topic, key)
        self._wait_durable(ticket)
        return seq

    def _take(self, limit: int) -> list[JournalMessage]:
        """Move up to ``limit`` messages to in-flight and return them (lowest first)."""
        out: list[JournalMessage] = []
        with self._lock:
            while len(out) < limit:
                seq = self._pop_next()
                if seq is None:
                    break
                self._in_flight.add(seq)
                out.append(self._live[seq])
        return out

    def _pop_next(self) -> int | None:
        if self._requeued and (not self._fresh or self._requeued[0] < self._fresh[0]):
            return heapq.heappop(self._requeued)
        if self._fresh:
            return self._fresh.popleft()
        return None

    def get_next_message_to_send(
        self,
    ) -> tuple[int, bytes, str | None, list[tuple[str, bytes | None]], bytes | None] | None:
        """Fetch the next message to send and mark it in flight.

        Returns
        -------
        tuple or None
            ``(sequence number, message, topic, headers, key)`` (hop-client's shape;
            topic None means the producer's default), or None when nothing is queued.
        """
        taken = self._take(1)
        if not taken:
            return None
        msg = taken[0]
        return msg.seq, msg.value, msg.topic, list(msg.headers), msg.key

    def has_messages_to_send(self) -> bool:
        """Whether messages are waiting to be sent (never sent, or requeued)."""
        with self._lock:
            return bool(self._fresh or self._requeued)

    def has_messages_in_flight(self) -> bool:
        """Whether a send was started for some message and has not finished."""
        with self._lock:
            return bool(self._in_flight)

    def topics_with_messages_in_flight(self) -> set[str | None]:
        """The topics for which at least one message is in flight (None: the default)."""
        with self._lock:
            return {self._live[seq].topic for seq in self._in_flight}

    def _counts(self) -> tuple[int, int]:
        # Read without the lock: the sender asks on every loop, and each len() is atomic.
        # A count one operation stale only delays a decision to the next loop.
        return len(self._fresh) + len(self._requeued), len(self._in_flight)

    # -- finishing

    def _in_flight_or_raise(self, seq: int) -> None:
        if seq not in self._in_flight:
            raise StateError(f"message {seq} is not in flight in journal {self.journal_path}")

    def mark_message_sent(self, sequence_number: int) -> None:
        """Mark a message as delivered and forget it.

        When nothing is left queued or in flight the journal file is emptied and
        sequence numbers start again from 0.

        Raises
        ------
        hop.errors.StateError
            If the message is not in flight (also a ``RuntimeError``).
        """
        with self._lock:
            self._in_flight_or_raise(sequence_number)
            self._in_flight.discard(sequence_number)
            del self._live[sequence_number]
            self._live_bytes -= self._sizes.pop(sequence_number)
            if not self._live:
                # Nothing pending: start a fresh file instead of recording the ack.
                self._reset()
                return
            self._pending_acks.append(sequence_number)
            if len(self._pending_acks) >= _ACK_BATCH:
                self._write_acks()

    def _mark_sent_many(self, seqs: list[int]) -> None:
        """Mark a batch of in-flight messages delivered, with one sent record."""
        with self._lock:
            in_flight, live, sizes = self._in_flight, self._live, self._sizes
            for seq in seqs:
                self._in_flight_or_raise(seq)
                in_flight.discard(seq)
                del live[seq]
                self._live_bytes -= sizes.pop(seq)
            if not live:
                self._reset()
                return
            self._pending_acks.extend(seqs)
            self._write_acks()

    def _reset(self) -> None:
        self._pending_acks.clear()
        self._file.reset()
        self._next_seq = 0

    def requeue_message(self, sequence_number: int) -> None:
        """Move a message whose send failed from in flight back to the queue.

        Raises
        ------
        hop.errors.StateError
            If the message is not in flight (also a ``RuntimeError``).
        """
        with self._lock:
            self._in_flight_or_raise(sequence_number)
            self._in_flight.discard(sequence_number)
            heapq.heappush(self._requeued, sequence_number)

    def _flush_acks(self) -> None:
        with self._lock:
            if self._pending_acks:
                self._write_acks()

    def _write_acks(self) -> None:
        acks, self._pending_acks = self._pending_acks, []
        try:
            self._file.append(encode_sent(acks))
        except OSError as exc:
            raise JournalError(f"could not append to journal {self.journal_path}: {exc}") from exc
        self._maybe_compact()

    def _maybe_compact(self) -> None:
        if self._file.size <= max(_COMPACT_MIN_BYTES, _COMPACT_FACTOR * self._live_bytes):
            return
        before = self._file.size
        # Acks not yet written are already applied to _live, which is what is rewritten.
        self._pending_acks.clear()
        self._file.rewrite(self._live.values())
        logger.debug(
            "compacted journal %s from %d to %d bytes (%d live messages)",
            self.journal_path, before, self._file.size, len(self._live),
        )

    # -- callbacks

    def get_delivery_callback(
        self, seq_num: int, lock: Any = None
    ) -> Callable[[Any, Any], None]:
        """Build the delivery callback for one message.

        The callback marks the message sent on success and requeues it after a failure
        that a retry may fix. A message the broker can never accept (too large,
        invalid) is dropped with an error logged; after an error that blocks every
        message (authentication, ACLs, missing topic) it is requeued, and an error
        logged.

        Parameters
        ----------
        seq_num : int
            The message's sequence number, from :meth:`get_next_message_to_send`.
        lock : context manager, optional
            Held while the callback updates the journal.

        Raises
        ------
        RuntimeError
            (:class:`hop.errors.StateError`) The message is not in flight, as
            hop-client's docstring says.
        """
        with self._lock:
            if seq_num not in self._in_flight:
                raise StateError(
                    "Cannot produce a delivery callback for message with sequence number "
                    f"{seq_num} which is not in flight (journal {self.journal_path})"
                )
        guard = PublicationJournal.NullLock() if lock is None else lock

        def on_delivery(err: Any, msg: Any) -> None:
            with guard:
                self._settle(seq_num, err, msg)

        return on_delivery

    def _settle(self, seq: int, err: Any, msg: Any) -> Verdict | None:
        """Apply a delivery report; return None on success, else what ``classify`` said."""
        if err is None:
            self.mark_message_sent(seq)
            return None
        verdict = classify(err)
        where = msg.topic() if msg is not None else "?"
        if verdict is Verdict.DROP:
            logger.error(
                "message %d of journal %s was refused by the broker for topic %s and is "
                "dropped: %s", seq, self.journal_path, where, err,
            )
            self.mark_message_sent(seq)
            return verdict
        if verdict is Verdict.FATAL:
            logger.error(
                "message %d of journal %s could not be sent to topic %s: %s; it stays in "
                "the journal", seq, self.journal_path, where, err,
            )
        else:
            logger.debug("message %d not delivered (%s); it will be sent again", seq, err)
        self.requeue_message(seq)
        return verdict

    @staticmethod
    def error_callback(kafka_error: Any) -> None:
        """Log an error reported by the Kafka client; never raises."""
        logger.warning("kafka client error: %s", kafka_error)

    # -- closing

    def close(self) -> None:
        """Write pending acknowledgements and close the file. Idempotent."""
        with self._lock:
            if self._file.closed:
                return
            if self._pending_acks:
                with contextlib.suppress(JournalError, OSError):
                    self._write_acks()
            self._file.close()

    def __enter__(self) -> PublicationJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
