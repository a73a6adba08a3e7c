"""RobustProducer's sender thread, driven against an in-memory fake producer.

The fake implements :class:`hop._robust.backend.ProducerBackend`, the four methods the
sender uses, and nothing of :class:`hop.io.Producer`'s private parts.
"""

from __future__ import annotations

import errno
import json
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import KafkaError

from hop._models.base import json_encode
from hop._robust import file as journal_file
from hop._robust.backend import ProducerBackend
from hop._robust.format import HEADER_SIZE
from hop.errors import (
    ConfigurationError,
    DeliveryError,
    HopWarning,
    JournalError,
    KafkaException,
    StateError,
)
from hop.robust_publisher import PublicationJournal, RobustProducer


class _FakeMessage:
    def __init__(self, topic: str, value: bytes) -> None:
        self._topic, self._value = topic, value

    def topic(self) -> str:
        return self._topic

    def value(self) -> bytes:
        return self._value

    def error(self) -> None:
        return None


class FakeProducer:
    """Acknowledges what was produced when polled; can fail chosen payloads or go down."""

    def __init__(self, default_topic: str | None = "topic") -> None:
        self.default_topic = default_topic
        self.pending: deque[tuple[bytes, Any, str, Any, Callable[..., None]]] = deque()
        self.delivered: list[tuple[bytes, Any, str, Any]] = []
        self.attempts: dict[bytes, int] = {}
        self.errors: dict[bytes, list[KafkaError]] = {}
        self.up = True
        self.closed = False
        self.raise_on_write: BaseException | None = None
        self._cond = threading.Condition()

    def produce(
        self,
        payload: bytes,
        headers: Any,
        on_delivery: Callable[..., None],
        topic: str | None,
        key: Any,
    ) -> None:
        if self.raise_on_write is not None:
            raise self.raise_on_write
        with self._cond:
            self.attempts[payload] = self.attempts.get(payload, 0) + 1
            self.pending.append((payload, headers, topic or self.default_topic, key, on_delivery))
            self._cond.notify_all()

    def poll(self, timeout: float) -> int:
        with self._cond:
            if not (self.up and self.pending):
                # Like librdkafka: block until something happens or the timeout ends.
                self._cond.wait(timeout)
            if not self.up:
                return 0
            batch, self.pending = list(self.pending), deque()
        for value, headers, topic, key, callback in batch:
            errs = self.errors.get(value)
            err = errs.pop(0) if errs else None
            if err is None:
                self.delivered.append((value, headers, topic, key))
            callback(err, _FakeMessage(topic, value))
        return len(batch)

    def set_up(self, up: bool) -> None:
        with self._cond:
            self.up = up
            self._cond.notify_all()

    def flush(self) -> int:
        self.poll(0)
        return len(self.pending)

    def close(self, timeout: float | None = None) -> int:
        self.closed = True
        if timeout == 0:
            # Like hop's Producer: what is still queued is dropped, not waited for.
            self.pending.clear()
        return 0


def _producer(tmp_path: Path, fake: FakeProducer, **kw: Any) -> RobustProducer:
    journal = PublicationJournal(str(tmp_path / "pub.journal"), **kw)
    return RobustProducer._with_producer(fake, journal, topic=fake.default_topic)


def test_the_fake_implements_the_producer_backend_protocol() -> None:
    backend: ProducerBackend = FakeProducer()
    assert all(callable(getattr(backend, name)) for name in ("produce", "poll", "flush", "close"))


def _payloads(fake: FakeProducer) -> list[Any]:
    return [json.loads(value) for value, *_ in fake.delivered]


def test_every_written_message_is_delivered_and_the_journal_ends_empty(tmp_path: Path) -> None:
    fake = FakeProducer()
    with _producer(tmp_path, fake) as publisher:
        for i in range(500):
            publisher.write({"n": i})
    assert sorted(p["n"] for p in _payloads(fake)) == list(range(500))
    assert fake.closed
    with PublicationJournal(str(tmp_path / "pub.journal")) as journal:
        assert journal._counts() == (0, 0)


def test_headers_key_topic_and_id_reach_the_producer(tmp_path: Path) -> None:
    fake = FakeProducer()
    with _producer(tmp_path, fake) as publisher:
        publisher.write(b"raw", headers={"h": "v"}, topic="other", key="k", test=True)
    [(value, headers, topic, key)] = fake.delivered
    names = [name for name, _ in headers]
    assert (value, topic, key) == (b"raw", "other", b"k")
    assert ("h", b"v") in headers and ("_test", b"true") in headers
    assert "_id" in names and names[-1] == "_format"


def test_transient_failures_are_resent_and_the_user_callback_sees_one_success(
    tmp_path: Path,
) -> None:
    fake = FakeProducer()
    seen: list[Any] = []
    with _producer(tmp_path, fake) as publisher:
        payload = json_encode({"n": 1})
        fake.errors[payload] = [KafkaError(KafkaError._MSG_TIMED_OUT)] * 2
        publisher.write({"n": 1}, delivery_callback=lambda err, msg: seen.append(err))
    assert fake.attempts[payload] == 3
    assert _payloads(fake) == [{"n": 1}]
    assert seen == [None]


def test_permanently_refused_message_is_dropped_and_reported_to_the_user(
    tmp_path: Path,
) -> None:
    fake = FakeProducer()
    seen: list[Any] = []
    with _producer(tmp_path, fake) as publisher:
        payload = json_encode("huge")
        fake.errors[payload] = [KafkaError(KafkaError.MSG_SIZE_TOO_LARGE)]
        publisher.write("huge", delivery_callback=lambda err, msg: seen.append(err))
        publisher.write("fine")
    assert fake.attempts[payload] == 1
    assert _payloads(fake) == ["fine"]
    assert [e.code() for e in seen] == [KafkaError.MSG_SIZE_TOO_LARGE]


def test_messages_left_in_the_journal_are_sent_on_start(tmp_path: Path) -> None:
    with PublicationJournal(str(tmp_path / "pub.journal")) as journal:
        for i in range(3):
            journal.queue_message(json.dumps(i).encode(), "old-topic", [("_id", b"x")])
    fake = FakeProducer()
    with _producer(tmp_path, fake):
        pass
    assert sorted(_payloads(fake)) == [0, 1, 2]
    assert {topic for _, _, topic, _ in fake.delivered} == {"old-topic"}


def test_stop_with_timeout_during_an_outage_keeps_messages_in_the_journal(
    tmp_path: Path,
) -> None:
    fake = FakeProducer()
    fake.set_up(False)
    publisher = _producer(tmp_path, fake)
    publisher.start()
    for i in range(10):
        publisher.write(i)
    with pytest.raises(DeliveryError, match="10 message"):
        publisher.stop(timeout=0.5)
    assert not publisher.is_alive()
    assert fake.delivered == []
    with PublicationJournal(str(tmp_path / "pub.journal")) as journal:
        assert sum(journal._counts()) == 10


def test_messages_written_during_an_outage_arrive_when_it_ends(tmp_path: Path) -> None:
    fake = FakeProducer()
    fake.set_up(False)
    publisher = _producer(tmp_path, fake)
    publisher.start()
    for i in range(50):
        publisher.write(i)
    fake.set_up(True)
    publisher.stop(timeout=60)
    assert sorted(_payloads(fake)) == list(range(50))


def test_write_outside_start_and_stop_raises_runtime_error(tmp_path: Path) -> None:
    fake = FakeProducer()
    publisher = _producer(tmp_path, fake)
    with pytest.raises(RuntimeError, match="call start"):
        publisher.write(1)
    publisher.start()
    with pytest.raises(RuntimeError, match="start\\(\\) runs once"):
        publisher.start()
    publisher.stop()
    with pytest.raises(RuntimeError):
        publisher.write(1)
    publisher.stop()  # idempotent


def test_sender_failure_surfaces_from_write_and_stop(tmp_path: Path) -> None:
    fake = FakeProducer()
    fake.raise_on_write = OSError("disk on fire")
    publisher = _producer(tmp_path, fake)
    publisher.start()
    publisher.write(1)
    publisher.join(timeout=30)
    assert not publisher.is_alive()
    with pytest.raises(RuntimeError, match="disk on fire"):
        publisher.write(2)
    with pytest.raises(OSError, match="disk on fire"):
        publisher.stop()


def test_write_without_any_topic_is_a_configuration_error(tmp_path: Path) -> None:
    with (
        _producer(tmp_path, FakeProducer(default_topic=None)) as publisher,
        pytest.raises(ConfigurationError, match="topic"),
    ):
        publisher.write(1)


def test_fsync_mode_delivers_from_concurrent_writers(tmp_path: Path) -> None:
    fake = FakeProducer()
    with _producer(tmp_path, fake, durability="fsync") as publisher:

        def write(base: int) -> None:
            for i in range(50):
                publisher.write(base + i)

        threads = [threading.Thread(target=write, args=(k * 1000,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert len(_payloads(fake)) == 200


def test_refused_authorization_stops_the_sender_and_keeps_the_messages(tmp_path: Path) -> None:
    from hop.errors import AuthorizationError

    fake = FakeProducer()
    publisher = _producer(tmp_path, fake)
    publisher.start()
    payload = json_encode(0)
    fake.errors[payload] = [KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED)]
    publisher.write(0)
    publisher.join(timeout=30)
    assert not publisher.is_alive()
    with pytest.raises(AuthorizationError, match="TOPIC_AUTHORIZATION_FAILED"):
        publisher.stop()
    with PublicationJournal(str(tmp_path / "pub.journal")) as journal:
        assert [m.value for m in journal._take(10)] == [payload]


# -- write_many


def _journaled(tmp_path: Path) -> list[Any]:
    with PublicationJournal(str(tmp_path / "pub.journal")) as journal:
        return journal._take(10_000)


def test_write_many_journals_the_batch_in_order_with_shared_options(tmp_path: Path) -> None:
    fake = FakeProducer()
    fake.set_up(False)
    publisher = _producer(tmp_path, fake)
    publisher.start()
    publisher.write_many([{"n": i} for i in range(5)], headers={"h": "v"}, topic="other",
                         key="k", test=True)
    with pytest.raises(DeliveryError, match="5 message"):
        publisher.stop(timeout=0.2)
    msgs = _journaled(tmp_path)
    assert [json.loads(m.value)["n"] for m in msgs] == list(range(5))
    assert {(m.topic, m.key) for m in msgs} == {("other", b"k")}
    assert all(("h", b"v") in m.headers and ("_test", b"true") in m.headers for m in msgs)
    ids = {dict(m.headers)["_id"] for m in msgs}
    assert len(ids) == 5


def test_write_many_delivers_every_message_in_order(tmp_path: Path) -> None:
    fake = FakeProducer()
    with _producer(tmp_path, fake) as publisher:
        publisher.write(-1)
        publisher.write_many(range(300))
        publisher.write_many([])
        publisher.write(300)
    assert _payloads(fake) == list(range(-1, 301))


def test_write_many_appends_once_and_fsyncs_once_before_returning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    syncs: list[int] = []
    real = journal_file._datasync

    def counting(fd: int) -> None:
        syncs.append(fd)
        real(fd)

    monkeypatch.setattr(journal_file, "_datasync", counting)
    fake = FakeProducer()
    fake.set_up(False)
    publisher = _producer(tmp_path, fake, durability="fsync")
    journal = publisher._journal
    appends: list[int] = []
    append = journal._append

    def counting_append(data: bytes) -> int:
        appends.append(len(data))
        return append(data)

    monkeypatch.setattr(journal, "_append", counting_append)
    publisher.start()
    publisher.write_many(range(100))
    assert (len(appends), len(syncs)) == (1, 1)
    assert journal._file._synced >= journal._file._appended
    fake.set_up(True)
    publisher.stop(timeout=60)
    assert _payloads(fake) == list(range(100))


def test_write_many_with_an_unencodable_message_journals_none_and_names_it(
    tmp_path: Path,
) -> None:
    fake = FakeProducer()
    with _producer(tmp_path, fake) as publisher:
        with pytest.raises(TypeError, match=r"message 2 of the batch.*no message of the batch"):
            publisher.write_many([1, 2, object(), 4])
        assert publisher._journal._counts() == (0, 0)
        assert publisher._journal._file.size == HEADER_SIZE
    assert fake.delivered == []


def test_write_many_that_cannot_append_journals_none(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeProducer()
    with _producer(tmp_path, fake) as publisher:
        journal = publisher._journal

        def full_disk(data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(journal, "_append", full_disk)
        with pytest.raises(JournalError, match=r"3 message.*none of them was journaled"):
            publisher.write_many([1, 2, 3])
        assert journal._counts() == (0, 0)
        monkeypatch.undo()
        publisher.write_many([4])
    assert _payloads(fake) == [4]


def test_write_many_batch_refused_midway_by_a_full_queue_arrives_in_order(
    tmp_path: Path,
) -> None:
    class FullOnce(FakeProducer):
        failed = False

        def produce(self, payload: bytes, *args: Any) -> None:
            if payload == b"3" and not self.failed:
                self.failed = True
                raise KafkaException(
                    "queue full", error=KafkaError(KafkaError._QUEUE_FULL), retriable=True
                )
            super().produce(payload, *args)

    fake = FullOnce()
    with _producer(tmp_path, fake) as publisher:
        publisher.write_many(range(10))
    assert fake.failed
    assert _payloads(fake) == list(range(10))


def test_write_before_start_is_a_state_error(tmp_path: Path) -> None:
    publisher = _producer(tmp_path, FakeProducer())
    with pytest.raises(StateError, match="call start"):
        publisher.write(1)
    publisher.stop()


def test_write_after_the_sender_failed_names_the_failure_as_its_cause(tmp_path: Path) -> None:
    fake = FakeProducer()
    fake.raise_on_write = OSError("disk on fire")
    publisher = _producer(tmp_path, fake)
    publisher.start()
    publisher.write(1)
    publisher.join(timeout=30)
    with pytest.raises(StateError, match="disk on fire") as info:
        publisher.write(2)
    assert isinstance(info.value.__cause__, OSError)
    with pytest.raises(OSError):
        publisher.stop()


def test_a_sender_thread_that_does_not_stop_is_reported_and_its_messages_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hop import robust_publisher

    class Hanging(FakeProducer):
        """A producer whose poll blocks until released, as a wedged client would."""

        def __init__(self) -> None:
            super().__init__()
            self.release = threading.Event()

        def poll(self, timeout: float) -> int:
            self.release.wait(60)
            return 0

    monkeypatch.setattr(robust_publisher, "_STOP_AFTER_ABANDON_S", 0.2)
    fake = Hanging()
    publisher = _producer(tmp_path, fake)
    publisher.start()
    publisher.write(1)
    try:
        with (
            pytest.warns(HopWarning, match=r"hop-robust-producer.*did not stop within 0.2 s"),
            pytest.raises(DeliveryError, match="1 message"),
        ):
            publisher.stop(timeout=0.1)
    finally:
        fake.release.set()
        publisher.join(timeout=30)
    assert not publisher.is_alive()
