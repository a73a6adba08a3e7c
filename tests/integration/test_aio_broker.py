"""hop.aio against the real Kafka broker: every behaviour of issue 17.

Each test program runs through :func:`_aio.run_checked`: asyncio debug mode, and a
check that no hop.aio thread, librdkafka thread or task outlives it.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import time
import uuid
import warnings
from datetime import UTC, datetime, timedelta

import pytest

from _aio import hop_threads, run_checked
from hop import aio, errors
from hop import io as hop_io
from hop.auth import Auth
from hop.io import StartPosition
from hop.models import Blob, GCNCircular, JSONBlob

EOS = aio.Stream(auth=False, start_at=StartPosition.EARLIEST, until_eos=True)


@pytest.fixture
def topic(make_topic):
    return make_topic()


@pytest.fixture
def url(kafka_url, topic):
    return kafka_url(topic)


@pytest.fixture
def unused_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _group() -> str:
    return f"g-aio-{uuid.uuid4().hex[:10]}"


async def _read_all(url: str, stream: aio.Stream = EOS, **kwargs) -> list:
    async with stream.open(url, "r", **kwargs) as s:
        return [message async for message in s]


def _sync_write(url: str, *messages, **write_kwargs) -> None:
    with hop_io.Stream(auth=False).open(url, "w") as s:
        for message in messages:
            s.write(message, **write_kwargs)


# -- one codec, one set of headers, one configuration path ---------------------------


def test_aio_writes_are_read_by_hop_io_with_the_same_headers(url):
    circular = GCNCircular(header={"TITLE": "GCN CIRCULAR", "NUMBER": "1"}, body="text")

    async def main():
        async with aio.Stream(auth=False).open(url, "w") as s:
            first = await s.write(circular, headers={"origin": "aio"})
            second = await s.write({"n": 2}, test=True)
        return first, second

    first, second = run_checked(main())
    assert (first.topic, first.offset, second.offset) == (url.rsplit("/", 1)[1], 0, 1)
    reader = hop_io.Stream(auth=False, start_at=StartPosition.EARLIEST, until_eos=True)
    with reader.open(url, "r", ignoretest=False) as s:
        got = list(s.read(metadata=True))
    assert [m for m, _ in got] == [circular, JSONBlob(content={"n": 2})]
    names = [dict(md.headers) for _, md in got]
    assert names[0]["_format"] == b"circular" and names[0]["origin"] == b"aio"
    assert len(names[0]["_id"]) == 16 and names[1]["_test"] == b"true"


def test_hop_io_writes_are_read_by_aio_with_metadata(url):
    _sync_write(url, {"n": 0}, b"\x00raw", "text")

    async def main():
        async with EOS.open(url, "r") as s:
            return [pair async for pair in s.read(metadata=True)]

    got = run_checked(main())
    assert [type(m) for m, _ in got] == [JSONBlob, Blob, JSONBlob]
    assert [md.offset for _, md in got] == [0, 1, 2]
    assert all(isinstance(md, hop_io.Metadata) for _, md in got)


def test_test_messages_are_skipped_unless_asked_for(url):
    _sync_write(url, "real")
    _sync_write(url, "test", test=True)

    async def main():
        return await _read_all(url), await _read_all(url, ignoretest=False)

    skipping, all_of_them = run_checked(main())
    assert [m.content for m in skipping] == ["real"]
    assert [m.content for m in all_of_them] == ["real", "test"]


def test_unknown_options_raise_as_in_hop_io(url):
    async def main():
        with pytest.raises(errors.ConfigurationError, match="no_such_option"):
            await aio.Stream(auth=False).open(url, "r", no_such_option=1)
        with pytest.raises(errors.ConfigurationError, match="mode"):
            aio.Stream(auth=False).open(url, "x")
        with pytest.raises(errors.ConfigurationError, match="at most one topic"):
            await aio.Stream(auth=False).open(url + ",other", "w")

    run_checked(main())


def test_kafka_config_goes_to_librdkafka_as_in_hop_io(url):
    async def main():
        with pytest.raises(errors.KafkaException, match=r"no\.such\.property"):
            await aio.Stream(auth=False).open(url, "w", kafka_config={"no.such.property": 1})
        async with aio.Stream(auth=False).open(
            url, "w", kafka_config={"client.id": "aio-kafka-config"}
        ) as s:
            return (await s.write(1)).offset

    assert run_checked(main()) == 0


# -- writing --------------------------------------------------------------------------


def test_write_nowait_gives_delivery_futures_and_flush_waits_for_them(url):
    async def main():
        async with aio.Stream(auth=False).open(url, "w") as s:
            futures = [s.write_nowait(i) for i in range(500)]
            assert len(s) > 0
            assert await s.flush() == 0
            assert len(s) == 0
            return [f.result().offset for f in futures]

    assert run_checked(main()) == list(range(500))

    async def read():
        return [m.content for m in await _read_all(url)]

    assert run_checked(read()) == list(range(500))


def test_cancelling_a_write_does_not_withdraw_the_message(url):
    async def main():
        async with aio.Stream(auth=False).open(url, "w") as s:
            task = asyncio.create_task(s.write("sent anyway"))
            await asyncio.sleep(0)  # the write has queued its message
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            assert task.cancelled()
            assert await s.flush() == 0
        return [m.content for m in await _read_all(url)]

    assert run_checked(main()) == ["sent anyway"]


def test_message_over_the_topic_limit_fails_its_write_with_size_and_limit(make_topic, kafka_url):
    url = kafka_url(make_topic(config={"max.message.bytes": "2000"}))

    async def main():
        async with aio.Stream(auth=False).open(url, "w") as s:
            with pytest.raises(errors.MessageTooLargeError, match="at most 2000 bytes"):
                await s.write("x" * 5000)
            # The stream goes on.
            return (await s.write("small")).offset

    assert run_checked(main()) == 0


def test_failed_write_nowait_is_raised_by_close(unused_port):
    url = f"kafka://127.0.0.1:{unused_port}/t"

    async def main():
        s = await aio.Stream(auth=False).open(url, "w", produce_timeout=1)
        future = s.write_nowait("nowhere to go")
        with pytest.raises(errors.DeliveryError):
            await s.close()
        assert future.done()

    run_checked(main())


def test_closed_streams_refuse_use_at_once(url):
    async def main():
        w = await aio.Stream(auth=False).open(url, "w")
        await w.close()
        await w.close()  # idempotent
        with pytest.raises(errors.StreamClosedError):
            await w.write(1)
        with pytest.raises(errors.StreamClosedError):
            w.write_nowait(1)
        r = await EOS.open(url, "r")
        await r.close()
        await r.close()
        with pytest.raises(errors.StreamClosedError):
            r.read()

    run_checked(main())


# -- reading --------------------------------------------------------------------------


def test_until_eos_reads_every_partition_to_its_end_including_an_empty_one(make_topic, kafka_url):
    url = kafka_url(make_topic(partitions=3))
    with hop_io.Stream(auth=False).open(url, "w") as s:
        for i in range(6):
            s.write(i, key=b"same")  # one partition gets them all; two stay empty

    got = run_checked(_read_all(url))
    assert sorted(m.content for m in got) == list(range(6))


def test_manual_mark_done_resumes_after_the_last_marked_message(url):
    _sync_write(url, *range(5))
    group = _group()

    async def first():
        async with EOS.open(url, "r", group_id=group) as s:
            async for message, metadata in s.read(metadata=True, autocommit=False):
                if message.content == 3:
                    break
                await s.mark_done(metadata, asynchronous=False)

    async def second():
        return [m.content for m in await _read_all(url, group_id=group)]

    run_checked(first())
    assert run_checked(second()) == [3, 4]


def test_autocommit_never_marks_the_message_in_hand(url):
    _sync_write(url, *range(5))
    group = _group()

    async def first():
        async with EOS.open(url, "r", group_id=group) as s:
            async for message in s:
                if message.content == 2:
                    raise RuntimeError("handling message 2 failed")

    with pytest.raises(RuntimeError, match="message 2"):
        run_checked(first())

    async def second():
        return [m.content for m in await _read_all(url, group_id=group)]

    assert run_checked(second()) == [2, 3, 4]


def test_datetime_start_reads_from_that_time_on(url):
    _sync_write(url, "old")
    time.sleep(0.05)
    cut = datetime.now(UTC)
    time.sleep(0.05)
    _sync_write(url, "new")
    stream = aio.Stream(auth=False, start_at=cut - timedelta(milliseconds=10), until_eos=True)
    got = run_checked(_read_all(url, stream))
    assert [m.content for m in got] == ["new"]


def test_latest_reader_gets_new_messages_as_they_are_written(url):
    async def main():
        async with (
            aio.Stream(auth=False).open(url, "r") as r,
            aio.Stream(auth=False).open(url, "w") as w,
        ):

            async def keep_writing():
                # A LATEST reader sees only what is written once it has joined.
                for i in range(200):
                    await w.write(i)
                    await asyncio.sleep(0.05)

            writer = asyncio.create_task(keep_writing())
            got = []
            try:
                async with asyncio.timeout(30):
                    async for message in r:
                        got.append(message.content)
                        if len(got) == 3:
                            break
            finally:
                writer.cancel()
                await asyncio.gather(writer, return_exceptions=True)
            return got

    got = run_checked(main())
    assert got == [got[0], got[0] + 1, got[0] + 2]


def test_stop_ends_a_reader_waiting_for_messages(url):
    async def main():
        async with aio.Stream(auth=False).open(url, "r") as s:
            task = asyncio.create_task(_drain(s))
            await asyncio.sleep(0.3)
            started = time.monotonic()
            s.stop()
            assert await asyncio.wait_for(task, 5) == []
            return time.monotonic() - started

    assert run_checked(main()) < 1.0


async def _drain(s: aio.Consumer) -> list:
    return [m async for m in s]


# -- cancellation and closing -----------------------------------------------------------


def test_cancelling_a_read_stops_it_within_half_a_second_and_loses_nothing(url):
    async def main():
        s = await aio.Stream(auth=False, start_at=StartPosition.EARLIEST).open(url, "r")
        task = asyncio.create_task(anext(aiter(s)))
        await asyncio.sleep(1.0)  # the read is now blocked in librdkafka, waiting
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        cancelled_in = time.monotonic() - started
        # The consumer still works after the cancellation, and misses nothing written.
        async with aio.Stream(auth=False).open(url, "w") as w:
            await w.write("after the cancel")
        message = await asyncio.wait_for(anext(aiter(s)), 10)
        started = time.monotonic()
        await s.close()
        return cancelled_in, message.content, time.monotonic() - started

    cancelled_in, content, closed_in = run_checked(main())
    assert cancelled_in < 0.5
    assert content == "after the cancel"
    assert closed_in < 5


def test_a_cancelled_consumer_can_be_closed(url):
    async def main():
        s = await aio.Stream(auth=False).open(url, "r")
        task = asyncio.create_task(_drain(s))
        await asyncio.sleep(0.5)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        started = time.monotonic()
        await s.close()
        return time.monotonic() - started

    assert run_checked(main()) < 2


def test_timeout_around_a_read_raises_timeout_and_the_stream_closes(url):
    async def main():
        async with aio.Stream(auth=False).open(url, "r") as s:
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    await _drain(s)
            return time.monotonic() - started

    assert run_checked(main()) < 0.3 + 0.5


def test_async_with_closes_the_stream_when_the_body_raises(url):
    opened = []

    async def main():
        async with aio.Stream(auth=False).open(url, "r") as r:
            opened.append(r)
            async with aio.Stream(auth=False).open(url, "w") as w:
                opened.append(w)
                raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        run_checked(main())
    assert [s._state.name for s in opened] == ["STOPPED", "STOPPED"]
    assert hop_threads() == []


def test_a_stream_left_open_warns_and_its_thread_ends(url):
    async def main():
        s = await aio.Stream(auth=False).open(url, "w")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            del s
            deadline = time.monotonic() + 5
            while hop_threads() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            gc.collect()  # the hop.io Producer it drove is in a reference cycle
        return hop_threads(), [str(w.message) for w in caught]

    threads, messages = asyncio.run(main())
    assert threads == []
    assert any(m.startswith("a hop.aio Producer was garbage-collected") for m in messages)
    assert any(m.startswith("a hop Producer was garbage-collected") for m in messages)


def test_cancelling_the_open_itself_leaves_nothing_running(unused_port):
    url = f"kafka://127.0.0.1:{unused_port}/t"

    async def main():
        task = asyncio.create_task(aio.Stream(auth=False).open(url, "r", connect_timeout=1)._open())
        await asyncio.sleep(0.2)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        # The worker ends once librdkafka gives up (connect_timeout).
        deadline = time.monotonic() + 5
        while hop_threads() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    run_checked(main())


# -- event loops ----------------------------------------------------------------------


def test_streams_work_under_uvloop(url):
    uvloop = pytest.importorskip("uvloop")

    async def main():
        assert "uvloop" in type(asyncio.get_running_loop()).__module__
        async with aio.Stream(auth=False).open(url, "w") as w:
            await w.write("over uvloop")
        return [m.content for m in await _read_all(url)]

    assert run_checked(main(), loop_factory=uvloop.new_event_loop) == ["over uvloop"]


def test_fifty_concurrent_readers_on_different_topics_each_get_their_own(kafka_broker, kafka_url):
    topics = [f"aio-many-{i}-{uuid.uuid4().hex[:6]}" for i in range(50)]
    for name in topics:
        kafka_broker.create_topic(name)

    async def main():
        async with aio.Stream(auth=False).open(kafka_url(topics[0]), "w") as w:
            for name in topics:
                w.write_nowait({"for": name}, topic=name)
            await w.flush()
        results = await asyncio.gather(*(_read_all(kafka_url(name)) for name in topics))
        return [[m.content["for"] for m in got] for got in results]

    assert run_checked(main()) == [[name] for name in topics]


# -- errors as in hop.io ------------------------------------------------------------


def test_unreachable_broker_fails_within_connect_timeout(unused_port):
    url = f"kafka://127.0.0.1:{unused_port}/t"

    async def main():
        started = time.monotonic()
        with pytest.raises(errors.BrokerUnreachableError, match=f"127.0.0.1:{unused_port}"):
            await aio.Stream(auth=False).open(url, "r", connect_timeout=2)
        read_failed_in = time.monotonic() - started
        started = time.monotonic()
        async with aio.Stream(auth=False).open(url, "w", produce_timeout=2) as w:
            with pytest.raises(errors.DeliveryError):
                await w.write("lost?")
        return read_failed_in, time.monotonic() - started

    read_failed_in, write_failed_in = run_checked(main())
    assert read_failed_in < 2 + 3
    assert write_failed_in < 2 + 3


def test_credentials_over_sasl_ssl_and_the_sender_header(kafka_broker, kafka_url, topic):
    group = f"alice-{uuid.uuid4().hex[:10]}"
    kafka_broker.grant("alice", topic=topic, group=group)
    alice = Auth("alice", kafka_broker.users["alice"], ssl_ca_location=str(kafka_broker.ca_file))
    url = kafka_url(topic, "sasl_ssl")

    async def main():
        async with aio.Stream(auth=alice).open(url, "w") as w:
            await w.write({"tls": True})
        reader = aio.Stream(auth=[alice], start_at=StartPosition.EARLIEST, until_eos=True)
        async with reader.open(url, "r", group_id=group) as r:
            return [pair async for pair in r.read(metadata=True)]

    got = run_checked(main())
    assert [m.content for m, _ in got] == [{"tls": True}]
    assert dict(got[0][1].headers)["_sender"] == b"alice"


@pytest.mark.parametrize("mode", ["r", "w"])
def test_wrong_password_is_a_prompt_authentication_error(kafka_broker, kafka_url, topic, mode):
    wrong = Auth("alice", "not-the-password", ssl=False)
    url = kafka_url(topic, "sasl_plaintext")

    async def main():
        started = time.monotonic()
        with pytest.raises(errors.AuthenticationError):
            async with aio.Stream(auth=wrong).open(url, mode) as s:
                if mode == "w":
                    await s.write("refused")
        return time.monotonic() - started

    assert run_checked(main()) < 15


def test_bad_messages_never_stop_a_stream(url):
    with hop_io.Stream(auth=False).open(url, "w") as s:
        s.write("before")
        s.write_raw(b"{not json", headers=[("_format", b"json")])
        s.write_raw(b"whatever", headers=[("_format", b"no-such-format")])
        s.write_raw(b"\xff\xfe", headers=[("_format", b"\xff")])
        s.write("after")

    async def main():
        async with aio.Stream(auth=False).open(url, "w") as w:
            with pytest.raises(TypeError, match="Unable to pack"):  # as hop.io says it
                w.write_nowait(object())
            with pytest.raises(ValueError, match="reserves"):
                await w.write("x", headers={"_id": "mine"})
            await w.write("still writing")
        return await _read_all(url)

    got = run_checked(main())
    assert [type(m) for m in got] == [JSONBlob, Blob, Blob, Blob, JSONBlob, JSONBlob]
    assert [m.content for m in got][-2:] == ["after", "still writing"]


# -- igwn_alert -----------------------------------------------------------------------


def _alert_client(kafka_broker, group: str, tmp_path, **kwargs):
    import igwn_alert

    port = int(kafka_broker.bootstrap["plaintext"].rsplit(":", 1)[1])
    env = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}
    c = igwn_alert.client(
        group=group, server="kafka://127.0.0.1/", port=port, noauth=True, env=env, **kwargs
    )
    c.start_at = StartPosition.EARLIEST
    return c


@pytest.mark.parametrize("kind", ["coroutine", "function"])
def test_igwn_alert_listen_async_calls_a_coroutine_or_a_function(kafka_broker, tmp_path, kind):
    group = f"gdb-{uuid.uuid4().hex[:10]}"
    kafka_broker.create_topic(f"{group}.superevent")
    sender = _alert_client(kafka_broker, group, tmp_path)
    sender.connect("superevent")
    for n in range(3):
        sender.publish_to_topic("superevent", {"n": n})
    sender.flush_by_topic("superevent")
    sender.disconnect()
    received = []

    async def on_alert(topic, payload):
        await asyncio.sleep(0)  # a real coroutine: awaited before the next alert
        received.append((topic, payload["n"]))

    def on_alert_sync(topic, payload):
        received.append((topic, payload["n"]))

    async def main():
        listener = _alert_client(kafka_broker, group, tmp_path, consumer_group=f"cg-{group}")
        listener.until_eos = True
        callback = on_alert if kind == "coroutine" else on_alert_sync
        await asyncio.wait_for(listener.listen_async(callback, "superevent"), 30)

    run_checked(main())
    assert received == [("superevent", 0), ("superevent", 1), ("superevent", 2)]


def test_igwn_alert_listen_async_ends_on_stop_and_marks_alerts_done(kafka_broker, tmp_path):
    group = f"gdb-{uuid.uuid4().hex[:10]}"
    kafka_broker.create_topic(f"{group}.superevent")
    sender = _alert_client(kafka_broker, group, tmp_path)
    sender.connect("superevent")
    for n in range(4):
        sender.publish_to_topic("superevent", {"n": n})
    sender.flush_by_topic("superevent")
    sender.disconnect()
    listener = _alert_client(kafka_broker, group, tmp_path, consumer_group=f"cg-{group}")
    received = []

    async def on_alert(topic, payload):
        received.append(payload["n"])
        if payload["n"] == 1:
            listener.stop()

    async def main():
        await asyncio.wait_for(listener.listen_async(on_alert, "superevent"), 30)
        listener.until_eos = True
        await asyncio.wait_for(listener.listen_async(on_alert, "superevent"), 30)

    run_checked(main())
    # Stopped after alert 1; the same consumer group then resumes with alert 2.
    assert received == [0, 1, 2, 3]
