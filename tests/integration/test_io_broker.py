"""hop.io against the real Kafka broker started by the session fixture."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

import hop
from hop import Stream, errors
from hop.io import Consumer, Metadata, Producer, StartPosition, list_topics
from hop.models import Blob, JSONBlob

EOS = Stream(auth=False, start_at=StartPosition.EARLIEST, until_eos=True)


@pytest.fixture
def broker(kafka_broker):
    return kafka_broker


@pytest.fixture
def unused_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _topic(broker, partitions: int = 1, config: dict | None = None) -> str:
    name = f"io-{uuid.uuid4().hex[:12]}"
    broker.create_topic(name, partitions=partitions, config=config)
    return name


def _url(broker, *topics: str) -> str:
    return f"kafka://{broker.bootstrap['plaintext']}/{','.join(topics)}"


def _numbered_topic(broker, count: int) -> tuple[str, str]:
    """A new topic holding the messages 0..count-1, and a consumer group not used yet."""
    url = _url(broker, _topic(broker))
    with Stream(auth=False).open(url, "w") as s:
        for i in range(count):
            s.write(i)
    return url, f"g-{uuid.uuid4().hex[:8]}"


def _read_all(url: str, **kwargs) -> list[tuple[object, Metadata]]:
    with EOS.open(url, "r", **kwargs) as s:
        return list(s.read(metadata=True))


def test_written_messages_are_read_back_with_upstream_headers(broker):
    topic = _topic(broker)
    url = _url(broker, topic)
    with Stream(auth=False).open(url, "w") as s:
        assert isinstance(s, Producer)
        s.write({"my": "message"}, headers={"priority": "1"})
        s.write(b"\xff\x00raw", headers=[("dup", "a"), ("dup", b"b")], test=True)
        s.write("text", key="k1")
    got = _read_all(url, ignoretest=False)
    assert [type(m) for m, _ in got] == [JSONBlob, Blob, JSONBlob]
    assert got[0][0].content == {"my": "message"}
    assert got[1][0].content == b"\xff\x00raw"
    assert got[2][0].content == "text"
    h0 = got[0][1].headers
    assert [k for k, _ in h0] == ["priority", "_id", "_format"]
    assert h0[0] == ("priority", b"1")
    assert len(dict(h0)["_id"]) == 16
    assert dict(h0)["_format"] == b"json"
    h1 = got[1][1].headers
    assert [k for k, _ in h1] == ["dup", "dup", "_id", "_test", "_format"]
    assert h1[:2] == [("dup", b"a"), ("dup", b"b")]
    assert dict(h1)["_test"] == b"true" and dict(h1)["_format"] == b"blob"
    assert got[2][1].key == b"k1"
    assert all(md.topic == topic and md.partition == 0 for _, md in got)
    assert [md.offset for _, md in got] == [0, 1, 2]
    assert got[0][1].timestamp > 1_600_000_000_000


def test_sender_header_carries_the_credential_username(broker):
    from hop.auth import Auth

    topic = _topic(broker)
    broker.grant("alice", topic=topic, operations=["WRITE", "DESCRIBE"])
    url = f"kafka://{broker.bootstrap['sasl_plaintext']}/{topic}"
    alice = Auth("alice", broker.users["alice"], ssl=False)
    with Stream(auth=alice).open(url, "w") as s:
        s.write({"x": 1})
    (_, md), = _read_all(_url(broker, topic))
    assert dict(md.headers)["_sender"] == b"alice"


def test_reserved_header_names_are_refused_before_sending(broker):
    topic = _topic(broker)
    with Stream(auth=False).open(_url(broker, topic), "w") as s:
        with pytest.raises(errors.ConfigurationError, match=r"header name '_format'"):
            s.write({"a": 1}, headers={"_format": "json"})
        with pytest.raises(ValueError, match="'_x'"):
            s.write({"a": 1}, headers=[("_x", "1")])
    assert _read_all(_url(broker, topic)) == []


def test_test_messages_are_skipped_unless_asked_for(broker):
    topic = _topic(broker)
    url = _url(broker, topic)
    with Stream(auth=False).open(url, "w") as s:
        s.write(1)
        s.write(2, test=True)
        s.write(3)
    assert [m.content for m, _ in _read_all(url)] == [1, 3]
    assert [m.content for m, _ in _read_all(url, ignoretest=False)] == [1, 2, 3]


def test_until_eos_waits_for_every_partition_including_an_empty_one(broker):
    topic = _topic(broker, partitions=3)
    url = _url(broker, topic)
    from confluent_kafka import Producer as RawProducer

    raw = RawProducer({"bootstrap.servers": broker.bootstrap["plaintext"]})
    for i in range(6):
        # Partitions 0 and 1 get messages; partition 2 stays empty.
        payload, headers = Producer.pack({"i": i})
        raw.produce(topic, payload, headers=headers, partition=i % 2)
    assert raw.flush(10) == 0
    got = _read_all(url)
    assert sorted(m.content["i"] for m, _ in got) == list(range(6))
    assert {md.partition for _, md in got} == {0, 1}


def test_until_eos_over_two_topics_reads_both_to_the_end(broker):
    t1, t2 = _topic(broker), _topic(broker, partitions=2)
    with Stream(auth=False).open(_url(broker, t1), "w") as s:
        s.write("a")
        s.write("b", topic=t2)
        s.write("c", topic=t2)
    got = _read_all(_url(broker, t1, t2))
    assert sorted((md.topic, m.content) for m, md in got) == sorted(
        [(t1, "a"), (t2, "b"), (t2, "c")]
    )


def test_reader_with_group_resumes_after_last_handled_message(broker):
    url, group = _numbered_topic(broker, 10)
    with EOS.open(url, "r", group_id=group) as s:
        first = []
        for m in s:
            first.append(m.content)
            if len(first) == 4:
                break
    # Message 3 was handed out but the caller never asked for the next one, so it
    # counts as not handled and is read again: at-least-once, nothing skipped.
    with EOS.open(url, "r", group_id=group) as s:
        rest = [m.content for m in s]
    assert first == [0, 1, 2, 3]
    assert rest == [3, 4, 5, 6, 7, 8, 9]
    with EOS.open(url, "r", group_id=group) as s:
        assert list(s) == []


def test_manual_commit_after_a_crash_resumes_at_the_next_message(broker):
    url, group = _numbered_topic(broker, 8)
    seen = []

    class Crash(Exception):
        pass

    with pytest.raises(Crash), EOS.open(url, "r", group_id=group) as s:
        for m, md in s.read(metadata=True, autocommit=False):
            seen.append(m.content)
            if m.content == 2:
                raise Crash  # processing of message 2 failed: it must come back
            s.mark_done(md)
    with EOS.open(url, "r", group_id=group) as s:
        again = [m.content for m, md in s.read(metadata=True, autocommit=False)]
    assert seen == [0, 1, 2]
    assert again == [2, 3, 4, 5, 6, 7]


def test_manual_commit_survives_sigkill_of_the_reader(broker, tmp_path):
    url, group = _numbered_topic(broker, 10)
    script = textwrap.dedent(
        f"""
        import os, signal
        from hop import Stream
        from hop.io import StartPosition
        s = Stream(auth=False, start_at=StartPosition.EARLIEST).open(
            {url!r}, "r", group_id={group!r}, session_timeout=6
        )
        for m, md in s.read(metadata=True, autocommit=False):
            s.mark_done(md, asynchronous=False)
            print(m.content, flush=True)
            if m.content == 5:
                os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == -9, proc.stderr
    assert proc.stdout.split() == ["0", "1", "2", "3", "4", "5"]
    # The killed member holds its partition until its (short) session times out.
    with EOS.open(url, "r", group_id=group, session_timeout=6) as s:
        assert [m.content for m in s] == [6, 7, 8, 9]


def test_latest_reader_sees_only_new_messages_and_gets_them_without_batch_wait(broker):
    topic = _topic(broker)
    url = _url(broker, topic)
    with Stream(auth=False).open(url, "w") as s:
        s.write("old")
    received: list[object] = []
    ready = threading.Event()
    done = threading.Event()
    reader = Stream(auth=False).open(url, "r")

    def consume():
        # A huge batch and batch timeout: a reader that waited to fill the batch would
        # not return within the test's deadline.
        for m in reader.read(batch_size=1000, batch_timeout=timedelta(hours=1)):
            received.append(m.content)
            done.set()
            return

    def on_positioned():
        # LATEST is resolved asynchronously after the group assigns the partition; the
        # reader has found the end once it reported end-of-partition.
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if reader._has_assignment and not reader._pending_eof:
                ready.set()
                return
            time.sleep(0.05)

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    on_positioned()
    assert ready.is_set()
    with Stream(auth=False).open(url, "w") as s:
        s.write("new")
    assert done.wait(30), "the reader did not return the single new message"
    reader.stop()
    t.join(10)
    reader.close()
    assert received == ["new"]


def test_datetime_start_reads_from_that_time_on(broker):
    topic = _topic(broker, partitions=2)
    url = _url(broker, topic)
    with Stream(auth=False).open(url, "w") as s:
        for i in range(3):
            s.write(f"before-{i}")
    (_, last_md), *_ = sorted(_read_all(url), key=lambda p: -p[1].timestamp)
    start = datetime.fromtimestamp((last_md.timestamp + 1) / 1000, tz=UTC)
    # Timestamps are in ms: wait until the clock has passed the last one.
    while datetime.now(tz=UTC) <= start:
        time.sleep(0.002)
    with Stream(auth=False).open(url, "w") as s:
        for i in range(3):
            s.write(f"after-{i}")
    stream = Stream(auth=False, start_at=start, until_eos=True)
    with stream.open(url, "r") as s:
        got = sorted(m.content for m in s)
    assert got == ["after-0", "after-1", "after-2"]


def test_list_topics_lists_and_filters(broker):
    t1, t2 = _topic(broker), _topic(broker)
    everything = list_topics(_url(broker), auth=False, timeout=10)
    assert {t1, t2} <= set(everything)
    only = list_topics(_url(broker, t1, "no-such-topic-here"), auth=False, timeout=10)
    assert set(only) == {t1}


def test_unreachable_broker_fails_within_the_timeout(unused_port):
    url = f"kafka://127.0.0.1:{unused_port}/t"
    started = time.monotonic()
    with pytest.raises(errors.BrokerUnreachableError, match=f"127.0.0.1:{unused_port}"):
        Stream(auth=False).open(url, "r", connect_timeout=2)
    with pytest.raises(errors.BrokerUnreachableError):
        list_topics(url, auth=False, timeout=2)
    with (
        pytest.raises(errors.DeliveryError),
        Stream(auth=False).open(url, "w", produce_timeout=2) as s,
    ):
        s.write("lost?")
    assert time.monotonic() - started < 60


def test_unknown_topic_on_read_is_a_clear_error(broker):
    with pytest.raises(errors.UnknownTopicError, match="'nope-nothing-here' does not exist"):
        Stream(auth=False).open(_url(broker, "nope-nothing-here"), "r")


def test_delivery_failure_goes_to_the_callback(broker):
    failures = []
    with Stream(auth=False).open(_url(broker, "missing-topic-x1"), "w", produce_timeout=3) as s:
        s.write("x", delivery_callback=lambda err, msg: failures.append((err, msg.topic())))
        s.flush()
    assert len(failures) == 1
    err, topic = failures[0]
    assert err is not None and topic == "missing-topic-x1"


def test_message_over_topic_limit_fails_with_size_and_limit(broker):
    topic = _topic(broker, config={"max.message.bytes": "2000"})
    with (
        pytest.raises(errors.MessageTooLargeError) as info,
        Stream(auth=False).open(_url(broker, topic), "w") as s,
    ):
        s.write(b"x" * 5000)
    text = str(info.value)
    assert "5000 bytes" in text and "2000" in text and topic in text


def test_write_mode_refuses_two_topics_and_bad_mode():
    with pytest.raises(ValueError, match="at most one topic"):
        Stream(auth=False).open("kafka://127.0.0.1:1/a,b", "w")
    with pytest.raises(ValueError, match="mode must be"):
        Stream(auth=False).open("kafka://127.0.0.1:1/a", "x")
    with pytest.raises(ValueError, match="no topic"):
        Stream(auth=False).open("kafka://127.0.0.1:1/", "r")


def test_stream_without_context_manager_and_idempotent_close(broker):
    topic = _topic(broker)
    url = _url(broker, topic)
    p = Stream(auth=False).open(url, "w")
    p.write("one")
    p.close()
    p.close()
    with pytest.raises(errors.StreamClosedError, match="closed"):
        p.write("two")
    c = EOS.open(url, "r")
    assert isinstance(c, Consumer)
    assert [m.content for m in c] == ["one"]
    c.close()
    c.close()


def test_module_level_stream_is_a_lazy_default_stream():
    assert isinstance(hop.stream, Stream)
    assert hop.stream is hop.stream
    assert hop.stream.start_at is StartPosition.LATEST


def test_stop_ends_a_reader_blocked_waiting_for_messages(broker):
    topic = _topic(broker)
    reader = Stream(auth=False).open(_url(broker, topic), "r")
    finished = threading.Event()

    def consume():
        list(reader)
        finished.set()

    t = threading.Thread(target=consume, daemon=True)
    t.start()
    reader.stop()
    assert finished.wait(10)
    reader.close()


def test_closed_reader_refuses_read_and_mark_done_at_once(broker):
    topic = _topic(broker)
    reader = EOS.open(_url(broker, topic), "r")
    reader.close()
    with pytest.raises(errors.StreamClosedError, match="closed"):
        reader.read()
    with pytest.raises(errors.StreamClosedError, match="closed"):
        reader.read_raw()
    md = Metadata(topic, 0, 0, 0, None, [], None)
    with pytest.raises(errors.StreamClosedError, match="closed"):
        reader.mark_done(md)


def test_read_raw_yields_the_bytes_on_the_wire(broker):
    topic = _topic(broker)
    url = _url(broker, topic)
    with Stream(auth=False).open(url, "w") as s:
        s.write({"a": 1})
        s.write(b"raw", test=True)
    with EOS.open(url, "r", ignoretest=False) as s:
        raw = list(s.read_raw())
    assert [json.loads(raw[0]), raw[1]] == [{"a": 1}, b"raw"]
    with EOS.open(url, "r") as s:
        ((value, md),) = list(s.read_raw(metadata=True))
    assert value == raw[0] and md.offset == 0


def test_bad_read_options_fail_when_called_not_when_iterated(broker):
    topic = _topic(broker)
    with EOS.open(_url(broker, topic), "r") as s:
        with pytest.raises(ValueError, match="bogus"):
            s.read(bogus=1)
        with pytest.raises(ValueError, match="batch_size"):
            s.read(batch_size=0)


def test_close_with_timeout_drops_undeliverable_messages_and_says_how_many(unused_port):
    producer = Stream(auth=False).open(f"kafka://127.0.0.1:{unused_port}/t", "w")
    for i in range(3):
        producer.write(i)
    with pytest.raises(errors.DeliveryError, match="3 message"):
        producer.close(timeout=1)
    assert producer.close() == 0  # already closed: nothing more to do


def test_autocommit_never_marks_the_message_whose_processing_failed(broker):
    topic = _topic(broker)
    url = _url(broker, topic)
    group = f"g-{uuid.uuid4().hex[:8]}"
    with Stream(auth=False).open(url, "w") as s:
        for i in range(6):
            s.write(i, test=(i == 1))

    class Crash(Exception):
        pass

    seen = []
    with pytest.raises(Crash), EOS.open(url, "r", group_id=group) as s:
        for m in s:
            seen.append(m.content)
            if m.content == 3:
                raise Crash
    with EOS.open(url, "r", group_id=group) as s:
        again = [m.content for m in s]
    assert seen == [0, 2, 3]  # 1 is a test message, skipped
    assert again == [3, 4, 5]
