"""Publishing that survives crashes of the publisher and outages of the broker.

:class:`RobustProducer` records every message in a journal on disk before handing it to
Kafka, and forgets it only once the broker has acknowledged it. A publisher that is
killed resends, when restarted on the same journal, whatever was not acknowledged;
messages that the broker did not take during an outage are sent again until it does.
Delivery is *at least once*: a message whose acknowledgement was lost is sent twice,
so readers should drop duplicates (every message carries a unique ``_id`` header).

With ``durability="fsync"``, :meth:`RobustProducer.write` returns only once the
message is on stable storage, so not even a machine crash loses a message that
``write`` returned for. Concurrent writers share ``fdatasync`` calls (group commit).
With ``durability="none"`` (upstream's behaviour) the journal survives the death of
the process but not of the machine.

A damaged journal is refused with :class:`hop.errors.JournalCorruptError`;
``hop journal salvage OLD NEW`` copies its intact records into a new one.

This module is the public face; the work is done in :mod:`hop._robust`: the record
format (``format``), the file (``file``), the queue/in-flight bookkeeping
(``journal``), the sending thread (``sender``) and what it needs from a Kafka producer
(``backend``).
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from hop import _codec
from hop._lifecycle import State, report_stuck_threads
from hop._robust.backend import DeliveryCallback, HopProducerBackend, ProducerBackend
from hop._robust.journal import DEFAULT_DURABILITY, DEFAULT_JOURNAL_PATH, PublicationJournal
from hop._robust.sender import DEFAULT_MAX_IN_FLIGHT, Sender
from hop.errors import ConfigurationError, DeliveryError, HopError, StateError

if TYPE_CHECKING:
    from hop._auth.credential import AuthOption

__all__ = ["PublicationJournal", "RobustProducer"]

logger = logging.getLogger("hop")

DEFAULT_POLL_WAIT = 1e-4
"""Seconds spent waiting for acknowledgements after sending a batch: upstream's value,
short so that a busy sender returns to sending at once."""


_STOP_AFTER_ABANDON_S = 10.0
"""How long stop() waits for the sender thread once it was told to abandon the rest."""


class RobustProducer:
    """A producer that journals messages so that none is lost (at-least-once delivery).

    Parameters
    ----------
    url : str
        ``kafka://host:port/topic``: where messages go.
    auth : bool or hop.auth.Auth
        As for :class:`hop.io.Stream`: True loads the credential store.
    journal_path : str
        The journal file. Put it where it survives restarts; it holds payloads
        unencrypted (mode 0600).
    poll_wait : float
        Seconds spent waiting for acknowledgements right after sending a batch.
    durability : {"none", "fsync"}
        ``"fsync"``: :meth:`write` returns once the message is on stable storage.
    **kwargs
        Passed to :meth:`hop.io.Stream.open` (e.g. ``produce_timeout``).

    Raises
    ------
    hop.errors.JournalCorruptError
        If the journal is damaged (recover it with ``hop journal salvage``).
    PermissionError
        If the journal is accessible to other users.
    """

    #: How many messages may be handed to librdkafka and not yet acknowledged
    #: (read when the producer starts).
    max_in_flight = DEFAULT_MAX_IN_FLIGHT

    def __init__(
        self,
        url: str,
        auth: AuthOption = True,
        journal_path: str | os.PathLike[str] = DEFAULT_JOURNAL_PATH,
        poll_wait: float = DEFAULT_POLL_WAIT,
        *,
        durability: str = DEFAULT_DURABILITY,
        **kwargs: Any,
    ) -> None:
        if poll_wait < 0:
            raise ValueError(f"poll_wait must not be negative, got {poll_wait}")
        journal = PublicationJournal(journal_path, durability=durability)
        try:
            from hop.io import Stream

            producer = Stream(auth=auth).open(url, "w", **kwargs)
        except BaseException:
            journal.close()
            raise
        self._setup(
            HopProducerBackend(producer), journal, float(poll_wait), url,
            topic=producer.default_topic,
            username=getattr(producer.auth, "username", None),
        )

    @classmethod
    def _with_producer(
        cls,
        producer: ProducerBackend,
        journal: PublicationJournal,
        poll_wait: float = DEFAULT_POLL_WAIT,
        url: str = "<producer>",
        *,
        topic: str | None = None,
    ) -> RobustProducer:
        """Build around any :class:`~hop._robust.backend.ProducerBackend` (unit tests)."""
        self = cls.__new__(cls)
        self._setup(producer, journal, poll_wait, url, topic=topic, username=None)
        return self

    def _setup(
        self,
        producer: ProducerBackend,
        journal: PublicationJournal,
        poll_wait: float,
        url: str,
        *,
        topic: str | None,
        username: str | None,
    ) -> None:
        self._producer = producer
        self._journal = journal
        self._url = url
        self._topic = topic
        self._username = username
        self._state = State.CREATED
        # Only fsync has anything to wait for once a message is journaled.
        self._fsync = journal.durability == "fsync"
        self._sender = Sender(journal, producer, url=url, poll_wait=poll_wait)

    # -- lifecycle

    def start(self) -> None:
        """Start the background thread that sends messages. Call once, before writing."""
        if self._state is not State.CREATED:
            raise StateError(f"this RobustProducer is {self._state.value}; start() runs once")
        self._state = State.RUNNING
        self._sender.max_in_flight = self.max_in_flight
        self._sender.start()

    def run(self) -> None:
        """Not for users: the sender runs on a thread of its own, started by :meth:`start`."""
        raise StateError("RobustProducer.run() is internal; call start() instead")

    def is_alive(self) -> bool:
        """Whether the background sender is running."""
        return self._sender.thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the background sender to end (after :meth:`stop` was requested)."""
        if self._sender.thread.is_alive():
            self._sender.thread.join(timeout)

    def stop(self, timeout: float | None = None) -> None:
        """Send everything queued, then stop the background thread and close.

        Parameters
        ----------
        timeout : float, optional
            Longest wait for the broker to acknowledge what is queued. On expiry the
            thread is stopped anyway, the unsent messages stay in the journal (they are
            sent by the next publisher on it), and :class:`hop.errors.DeliveryError`
            is raised. By default the wait is unbounded, as upstream's, with a warning
            every 30 s naming what is still pending.

        Raises
        ------
        hop.errors.DeliveryError
            When ``timeout`` expired before everything was acknowledged.
        hop.errors.HopError
            Whatever stopped the background thread, if it failed.
        """
        if self._state is State.STOPPED:
            return
        started = self._state is State.RUNNING
        self._state = State.STOPPED
        sender = self._sender
        sender.request_stop()
        deadline = None if timeout is None else time.monotonic() + timeout
        report_every = 30.0
        while started and not sender.done:
            wait = report_every if deadline is None else min(report_every,
                                                             deadline - time.monotonic())
            if wait <= 0 or sender.wait(max(wait, 0.0)):
                break
            queued, in_flight = self._journal._counts()
            logger.warning(
                "RobustProducer for %s is still waiting for the broker: %d message(s) queued, "
                "%d in flight (journal %s)", self._url, queued, in_flight,
                self._journal.journal_path,
            )
        pending = 0
        if started and not sender.done:
            sender.abandon()
            if not sender.wait(_STOP_AFTER_ABANDON_S):
                report_stuck_threads(
                    f"RobustProducer for {self._url}", [sender.thread.name],
                    _STOP_AFTER_ABANDON_S,
                )
            pending = sum(self._journal._counts())
        try:
            self._close_producer(abandon=pending > 0 or sender.failure is not None)
        finally:
            self._journal.close()
        if sender.failure is not None:
            raise sender.failure
        if pending:
            raise DeliveryError(
                f"stopped before the broker acknowledged {pending} message(s) for {self._url}; "
                f"they remain in journal {self._journal.journal_path} and will be sent by the "
                "next RobustProducer that opens it"
            )

    def _close_producer(self, *, abandon: bool) -> None:
        try:
            # When abandoning, the messages are safe in the journal: drop librdkafka's
            # copies at once rather than wait out produce_timeout for a silent broker.
            self._producer.close(timeout=0 if abandon else None)
        except HopError as exc:
            if not abandon:
                raise
            logger.debug("closing the producer after abandoning: %s", exc)

    def __enter__(self) -> RobustProducer:
        self.start()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is None:
            self.stop()
            return
        try:
            self.stop()
        except HopError as stop_exc:
            logger.error("while stopping the RobustProducer after an error: %s", stop_exc)

    def __del__(self) -> None:
        if getattr(self, "_state", None) is State.RUNNING:
            warnings.warn(
                "a RobustProducer was garbage-collected without stop(); unsent messages "
                "remain in its journal. Use `with RobustProducer(...)` or call stop().",
                ResourceWarning,
                stacklevel=2,
            )

    # -- writing

    def write(
        self,
        message: Any,
        headers: Any = None,
        test: bool = False,
        topic: str | None = None,
        key: str | bytes | None = None,
        delivery_callback: DeliveryCallback | None = None,
    ) -> None:
        """Journal a message and queue it for sending.

        Returns once the message is in the journal (on stable storage with
        ``durability="fsync"``); sending happens on the background thread.

        Parameters
        ----------
        message
            A model, a JSON-encodable value, or bytes.
        headers : mapping or list of (str, str or bytes), optional
            User headers.
        test : bool
            Mark as a test message.
        topic : str, optional
            Overrides the URL's topic.
        key : str or bytes, optional
            Kafka message key.
        delivery_callback : callable, optional
            ``callback(err, msg)`` once the broker acknowledged the message (``err`` is
            None) or refused it for good. It runs on the sender thread or, with
            ``durability="none"``, inside a later :meth:`write`; it is not called for
            a message resent after a restart.

        Raises
        ------
        RuntimeError
            If the producer is not running.
        TypeError
            If the message cannot be encoded.
        hop.errors.JournalError
            If the journal cannot be written.
        """
        self._check_writable()
        topic = self._topic_or_raise(topic)
        payload, all_headers = _codec.pack(message, headers, test, self._username)
        # Without user headers, pack's fresh list holds (str, bytes) pairs only.
        ticket = self._sender.submit(
            payload, all_headers, topic, key, not headers, delivery_callback
        )
        if self._fsync:
            self._journal._wait_durable(ticket)

    def write_many(
        self,
        messages: Iterable[Any],
        *,
        headers: Any = None,
        test: bool = False,
        topic: str | None = None,
        key: str | bytes | None = None,
    ) -> None:
        """Journal several messages at once and queue them for sending, in order.

        The same as calling :meth:`write` for each message (each gets its own ``_id``),
        but their records are appended with one write and, with
        ``durability="fsync"``, made durable with one ``fdatasync``: a lone writer pays
        one fsync per batch instead of one per message. Returns once every message is
        in the journal (on stable storage with ``durability="fsync"``).

        Parameters
        ----------
        messages : iterable
            Models, JSON-encodable values, or bytes.
        headers : mapping or list of (str, str or bytes), optional
            User headers, given to every message.
        test : bool
            Mark every message as a test message.
        topic : str, optional
            Overrides the URL's topic.
        key : str or bytes, optional
            Kafka message key of every message.

        Raises
        ------
        RuntimeError
            If the producer is not running.
        TypeError
            If a message cannot be encoded (the message names its position); then no
            message of the batch is journaled.
        hop.errors.JournalError
            If the journal cannot be written; then no message of the batch is
            journaled.
        """
        self._check_writable()
        topic = self._topic_or_raise(topic)
        packed = []
        for i, message in enumerate(messages):
            try:
                packed.append(_codec.pack(message, headers, test, self._username))
            except (TypeError, ValueError) as exc:
                kind = TypeError if isinstance(exc, TypeError) else ValueError
                raise kind(
                    f"message {i} of the batch cannot be encoded ({exc}); no message of "
                    "the batch was journaled"
                ) from exc
        ticket = self._sender.submit_many(packed, topic, key)
        self._journal._wait_durable(ticket)

    def _check_writable(self) -> None:
        if self._state is not State.RUNNING:
            raise StateError(
                f"RobustProducer is {self._state.value}: call start() before write() and "
                "do not write after stop()"
            )
        failure = self._sender.failure
        if failure is not None:
            raise StateError(f"the RobustProducer's sender failed: {failure}") from failure

    def _topic_or_raise(self, topic: str | None) -> str:
        topic = topic or self._topic
        if topic is None:
            raise ConfigurationError(
                f"no topic to write to: {self._url} names none; pass topic= to write()"
            )
        return topic
