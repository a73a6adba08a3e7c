"""igwn_alert against the real broker: sample alerts, restarts, load balancing, the CLI."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import igwn_alert
from _brokers import running_broker
from _data import IGWN, files, needs_testdata
from hop import Stream, _samples, errors
from hop.auth import Auth
from hop.io import StartPosition
from hop.testing import KafkaBroker

SAMPLES = IGWN
ALERT_FILES = files(SAMPLES, "*.json")
BIG_TOPIC = {"max.message.bytes": str(4 * 1024 * 1024)}
WAIT_S = 60.0


def _alert_texts(count: int) -> list[str]:
    """``count`` distinct IGWN alerts (the demo's, one per alert type) as GraceDB's JSON."""
    content = _samples.igwn_alert().content
    kinds = ["EARLY_WARNING", "PRELIMINARY", "INITIAL", "UPDATE", "RETRACTION"][:count]
    return [json.dumps({**content, "alert_type": kind}) for kind in kinds]


def _port(broker: KafkaBroker, listener: str = "plaintext") -> int:
    return int(broker.bootstrap[listener].rsplit(":", 1)[1])


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}


@pytest.fixture
def group() -> str:
    """A GraceDB group prefix of this test's own."""
    return f"gdb-{uuid.uuid4().hex[:10]}"


def _make_client(
    broker: KafkaBroker, group: str, env: dict[str, str], *, earliest: bool = True, **kwargs: Any
) -> igwn_alert.client:
    kwargs.setdefault("noauth", True)
    kwargs.setdefault("port", _port(broker))
    c = igwn_alert.client(group=group, server="kafka://127.0.0.1/", env=env, **kwargs)
    if earliest:
        # A fresh group then reads what was sent before it joined: no race with sending.
        c.start_at = StartPosition.EARLIEST
    return c


class _Listener:
    """Runs ``client.listen`` in a thread and records what the callback receives."""

    def __init__(self, alert_client: igwn_alert.client, topics: Any = None) -> None:
        self.client = alert_client
        self.received: list[tuple[str, Any]] = []
        self.error: BaseException | None = None
        self._done = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, args=(topics,), daemon=True)
        self._thread.start()

    def _callback(self, topic: str, payload: Any) -> None:
        with self._cond:
            self.received.append((topic, payload))
            self._cond.notify_all()

    def _run(self, topics: Any) -> None:
        try:
            self.client.listen(self._callback, topics)
        except BaseException as exc:
            self.error = exc
        finally:
            with self._cond:
                self._done = True
                self._cond.notify_all()

    def wait_for(self, count: int, timeout: float = WAIT_S) -> list[tuple[str, Any]]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.received) >= count or self._done, timeout)
            if self.error is not None:
                raise self.error
            assert len(self.received) >= count, (
                f"got {len(self.received)} of {count} alerts within {timeout} s"
            )
            return list(self.received)

    def stop(self, timeout: float = 10.0) -> None:
        self.client.stop()
        self._thread.join(timeout)
        assert not self._thread.is_alive(), f"listen() did not return within {timeout} s of stop()"
        if self.error is not None:
            raise self.error


def _wait_until(
    condition: Callable[[], bool], what: str | Callable[[], str], timeout: float = WAIT_S
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            described = what if isinstance(what, str) else what()
            raise AssertionError(f"timed out after {timeout} s waiting for {described}")
        time.sleep(0.1)


def _committed(broker: KafkaBroker, group_id: str) -> int:
    """Sum of the offsets ``group_id`` has committed."""
    from confluent_kafka import ConsumerGroupTopicPartitions
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(broker.admin_config())
    request = [ConsumerGroupTopicPartitions(group_id)]
    try:
        result = admin.list_consumer_group_offsets(request)[group_id].result(timeout=5)
    except Exception:
        return -1  # the coordinator may still be loading after a restart
    return sum(max(tp.offset, 0) for tp in result.topic_partitions)


# -- round trips ------------------------------------------------------------------------


@needs_testdata
def test_every_sample_alert_and_the_retraction_round_trip(kafka_broker, group, env):
    for topic in ("superevent", "mdc_superevent"):
        kafka_broker.create_topic(f"{group}.{topic}", config=BIG_TOPIC)
    kafka_broker.create_topic(f"other{group}.superevent")
    sender = _make_client(kafka_broker, group, env)
    assert sender.get_topics() == ["mdc_superevent", "superevent"]
    texts = [path.read_text() for path in ALERT_FILES]
    assert len(texts) >= 6 and any("RETRACTION" in t for t in texts)

    receiver = _make_client(
        kafka_broker, group, env, consumer_group=f"cg-{group}", keep_subscriptions=True
    )
    receiver.subscribe("superevent", "mdc_superevent")
    listener = _Listener(receiver)  # no topics: the subscriptions
    sender.connect("superevent")
    for text in texts:
        sender.publish_to_topic("superevent", text)
    sender.flush_by_topic("superevent")
    sender.disconnect()
    # One publish() to several topics; the retraction is the smallest sample.
    retraction = next(t for t in texts if "RETRACTION" in t)
    sender.publish(["superevent", "mdc_superevent"], retraction)

    got = listener.wait_for(len(texts) + 2)
    listener.stop()
    on_superevent = [payload for topic, payload in got if topic == "superevent"]
    on_mdc = [payload for topic, payload in got if topic == "mdc_superevent"]
    # GraceDB's form: the callback gets the JSON document as a str, unchanged.
    assert on_superevent == [*texts, retraction]
    assert on_mdc == [retraction]
    alert_types = [json.loads(p)["alert_type"] for p in on_superevent]
    assert {"EARLY_WARNING", "PRELIMINARY", "INITIAL", "UPDATE", "RETRACTION"} <= set(alert_types)
    assert len(got) == len(texts) + 2


def test_delete_removes_a_topic_or_explains_the_refusal(kafka_broker, group, env):
    kafka_broker.create_topic(f"{group}.doomed")
    kafka_broker.create_topic(f"{group}.kept")
    alice = Auth("alice", kafka_broker.users["alice"], ssl=False)
    kafka_broker.grant("alice", topic=f"{group}.", operations=["DESCRIBE"], prefixed=True)
    port = _port(kafka_broker, "sasl_plaintext")
    as_alice = _make_client(kafka_broker, group, env, noauth=False, auth=alice, port=port)
    assert as_alice.get_topics() == ["doomed", "kept"]
    with pytest.raises(errors.AuthorizationError, match="'alice' is not allowed to delete topic"):
        as_alice.delete("kept")

    admin = _make_client(kafka_broker, group, env, keep_subscriptions=True)
    admin.subscribe("doomed")
    admin.delete("doomed")
    _wait_until(lambda: admin.get_topics() == ["kept"], "the topic to disappear")
    assert admin.get_subscriptions() == []
    with pytest.raises(errors.UnknownTopicError, match="does not exist"):
        admin.delete("never-there")


def test_get_topics_gives_up_on_a_dead_port_within_its_timeout(group, env):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = sock.getsockname()[1]
    c = igwn_alert.client(noauth=True, group=group, server="kafka://127.0.0.1/", port=dead, env=env)
    with pytest.raises(errors.BrokerUnreachableError):
        c.get_topics(timeout=1.0)


# -- faults -----------------------------------------------------------------------------


@pytest.fixture
def own_broker(tmp_path_factory):
    """A broker of this test's own, so restarting it disturbs no other test."""
    with running_broker(tmp_path_factory.mktemp("igwn-restart")) as broker:
        yield broker


def test_listening_survives_a_broker_restart_without_losing_alerts(own_broker, group, env):
    own_broker.create_topic(f"{group}.superevent", config=BIG_TOPIC)
    texts = _alert_texts(4)
    consumer_group = f"cg-{group}"
    listener = _Listener(
        _make_client(own_broker, group, env, consumer_group=consumer_group, retry_on_fatal=True),
        "superevent",
    )
    sender = _make_client(own_broker, group, env)
    sender.publish("superevent", texts[0])
    sender.publish("superevent", texts[1])
    listener.wait_for(2)
    _wait_until(lambda: _committed(own_broker, consumer_group) == 2, "offsets to be committed")

    own_broker.stop()
    # Sent while the broker is down: the producer holds it until the broker is back.
    sent = threading.Event()
    failure: list[BaseException] = []

    def send_during_outage() -> None:
        try:
            sender.publish("superevent", texts[2])
        except BaseException as exc:
            failure.append(exc)
        finally:
            sent.set()

    threading.Thread(target=send_during_outage, daemon=True).start()
    own_broker.start()
    assert sent.wait(WAIT_S) and not failure, failure
    sender.publish("superevent", texts[3])

    got = listener.wait_for(4, timeout=90.0)
    listener.stop()
    assert [payload for _, payload in got] == texts


def test_retry_on_fatal_reconnects_and_resumes_from_the_committed_offset(kafka_broker, group, env):
    kafka_broker.create_topic(f"{group}.superevent")
    consumer_group = f"cg-{group}"
    failures = iter([True, True, False, False, False])

    class Flaky(_Listener):
        def _callback(self, topic: str, payload: Any) -> None:
            # A Kafka failure while handling: the alert is not marked done.
            if payload["n"] == 1 and next(failures):
                raise errors.KafkaException("simulated broker failure", fatal=True)
            super()._callback(topic, payload)

    reader = _make_client(
        kafka_broker, group, env, consumer_group=consumer_group, retry_on_fatal=True,
        listen_retries=2, retry_wait=0.05,
    )
    listener = Flaky(reader, "superevent")
    sender = _make_client(kafka_broker, group, env)
    for n in range(3):
        sender.publish("superevent", {"n": n})
    got = listener.wait_for(3)
    listener.stop()
    # Two failures on alert 1, each followed by a reconnection that re-read it.
    assert [payload["n"] for _, payload in got] == [0, 1, 2]


class _RetryWatch(logging.Handler):
    """Sets an event when the client logs that it is reconnecting."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.reconnecting = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "reconnecting" in record.getMessage():
            self.reconnecting.set()


def test_retry_on_fatal_rides_out_a_revoked_acl_the_broker_reports(kafka_broker, group, env):
    topic, consumer_group = f"{group}.superevent", f"cg-{group}"
    kafka_broker.create_topic(topic)
    kafka_broker.grant("alice", topic=topic)
    kafka_broker.grant("alice", group=consumer_group)
    reader = _make_client(
        kafka_broker, group, env, noauth=False, consumer_group=consumer_group,
        auth=Auth("alice", kafka_broker.users["alice"], ssl=False),
        port=_port(kafka_broker, "sasl_plaintext"),
        retry_on_fatal=True, listen_retries=1000, retry_wait=0.2,
    )
    watch = _RetryWatch()
    logging.getLogger("igwn_alert.client").addHandler(watch)
    try:
        listener = _Listener(reader, "superevent")
        sender = _make_client(kafka_broker, group, env)
        sender.publish("superevent", {"n": 0})
        listener.wait_for(1)
        # The broker now refuses alice's fetches (TOPIC_AUTHORIZATION_FAILED, not retriable).
        kafka_broker.revoke("alice", topic=topic)
        assert watch.reconnecting.wait(WAIT_S), "the refused fetch should make listen reconnect"
        sender.publish("superevent", {"n": 1})
        sender.publish("superevent", {"n": 2})
        kafka_broker.grant("alice", topic=topic)
        _wait_until(
            lambda: {p["n"] for _, p in listener.received} >= {0, 1, 2}, "alerts after re-grant"
        )
        listener.stop()
    finally:
        logging.getLogger("igwn_alert.client").removeHandler(watch)
    numbers = [payload["n"] for _, payload in listener.received]
    # At least once: an alert whose commit the broker refused may come again, in order.
    assert sorted(set(numbers)) == [0, 1, 2] and numbers[0] == 0
    assert numbers.index(1) < numbers.index(2)


def test_without_retry_on_fatal_the_first_kafka_error_is_raised(kafka_broker, group, env):
    kafka_broker.create_topic(f"{group}.superevent")
    reader = _make_client(kafka_broker, group, env)

    def callback(topic: str, payload: Any) -> None:
        raise errors.KafkaException("simulated broker failure", fatal=True)

    _make_client(kafka_broker, group, env).publish("superevent", {"n": 0})
    with pytest.raises(errors.KafkaException, match="simulated broker failure"):
        reader.listen(callback, "superevent")


# -- the command line -------------------------------------------------------------------


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "igwn_alert.cli", *args]


def _cli_env(env: dict[str, str]) -> dict[str, str]:
    return {**os.environ, **env, "PYTHONUNBUFFERED": "1"}


class _Process:
    """A CLI subprocess whose output lines are collected by a thread."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()

    def alerts(self) -> list[int]:
        with self._cond:
            return [json.loads(line)["n"] for line in self.lines if line.startswith('{"n"')]

    def interrupt(self, signum: int = signal.SIGINT, timeout: float = 20.0) -> int:
        self.proc.send_signal(signum)
        status = self.proc.wait(timeout)
        self._thread.join(timeout)
        return status

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._thread.join(10)
        for pipe in (self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                pipe.close()


def _members_with_partitions(broker: KafkaBroker, group_id: str) -> int:
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(broker.admin_config())
    try:
        desc = admin.describe_consumer_groups([group_id])[group_id].result(timeout=5)
    except Exception:
        return 0
    return sum(1 for m in desc.members if m.assignment and m.assignment.topic_partitions)


def _send_numbered(broker: KafkaBroker, topic: str, numbers: range) -> None:
    url = f"kafka://{broker.bootstrap['plaintext']}/{topic}"
    with Stream(auth=False).open(url, "w") as producer:
        for n in numbers:
            # Keys spread the alerts over the partitions; the value is GraceDB's str form.
            producer.write(json.dumps({"n": n}), key=f"key-{n}")


def _start_group_at_zero(broker: KafkaBroker, group_id: str, topic: str, partitions: int) -> None:
    # Listeners of a group with no committed offset start at the latest message, which
    # races with sending; committing offset 0 first makes them start at the beginning.
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    from confluent_kafka.admin import AdminClient

    offsets = [TopicPartition(topic, p, 0) for p in range(partitions)]
    request = [ConsumerGroupTopicPartitions(group_id, offsets)]
    admin = AdminClient(broker.admin_config())  # kept referenced until the answer comes
    admin.alter_consumer_group_offsets(request)[group_id].result(timeout=30)


def test_listeners_in_one_consumer_group_share_the_alerts_exactly_once(kafka_broker, group, env):
    kafka_broker.create_topic(f"{group}.lb", partitions=4)
    consumer_group = f"cg-{group}"
    _start_group_at_zero(kafka_broker, consumer_group, f"{group}.lb", 4)
    base = ["-s", "kafka://127.0.0.1/", "-p", str(_port(kafka_broker)), "--no-auth",
            "-g", group, "-c", consumer_group, "listen", "lb"]
    first, second = _Process(_cli(*base), _cli_env(env)), _Process(_cli(*base), _cli_env(env))
    try:
        _wait_until(
            lambda: _members_with_partitions(kafka_broker, consumer_group) == 2,
            "both listeners to get partitions",
        )
        _send_numbered(kafka_broker, f"{group}.lb", range(40))
        _wait_until(
            lambda: len(first.alerts()) + len(second.alerts()) >= 40,
            f"40 alerts; got {first.alerts()}, {second.alerts()}",
        )
        assert first.alerts() and second.alerts(), "both listeners should handle some alerts"
        assert sorted(first.alerts() + second.alerts()) == list(range(40))

        # Ctrl-C ends a listener cleanly; the survivor takes over its partitions.
        assert first.interrupt() == 0
        _send_numbered(kafka_broker, f"{group}.lb", range(40, 80))
        _wait_until(lambda: len(first.alerts()) + len(second.alerts()) >= 80, "80 alerts")
        assert sorted(first.alerts() + second.alerts()) == list(range(80))
        assert set(range(40, 80)) <= set(second.alerts())
        # A service manager's SIGTERM stops a listener as cleanly as Ctrl-C.
        assert second.interrupt(signal.SIGTERM) == 0
        assert second.proc.stderr is not None and second.proc.stderr.read() == ""
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("dedupe", [False, True], ids=["at-least-once", "dedupe-path"])
def test_when_a_listener_is_sigkilled_the_survivor_handles_the_rest(
    kafka_broker, group, env, dedupe, tmp_path
):
    kafka_broker.create_topic(f"{group}.lbk", partitions=4)
    consumer_group = f"cgk-{group}"
    _start_group_at_zero(kafka_broker, consumer_group, f"{group}.lbk", 4)
    # A short session so the broker notices the dead listener in seconds, not 45 s.
    base = ["-s", "kafka://127.0.0.1/", "-p", str(_port(kafka_broker)), "--no-auth",
            "-g", group, "-c", consumer_group, "--session-timeout", "6", "listen", "lbk"]
    if dedupe:
        # Both listeners share one store: the survivor skips what the dead one printed.
        base += ["--dedupe-path", str(tmp_path / "handled.ids")]
    first, second = _Process(_cli(*base), _cli_env(env)), _Process(_cli(*base), _cli_env(env))
    try:
        _wait_until(
            lambda: _members_with_partitions(kafka_broker, consumer_group) == 2,
            "both listeners to get partitions",
        )
        _send_numbered(kafka_broker, f"{group}.lbk", range(40))
        _wait_until(
            lambda: len(set(first.alerts()) | set(second.alerts())) >= 40,
            lambda: f"the first 40 alerts; got {sorted(first.alerts())} and "
            f"{sorted(second.alerts())}",
        )
        assert first.alerts() and second.alerts(), "both listeners should handle some alerts"
        first.proc.kill()  # SIGKILL: no chance to leave the group or commit
        assert first.proc.wait(20) == -signal.SIGKILL
        _send_numbered(kafka_broker, f"{group}.lbk", range(40, 80))
        _wait_until(lambda: set(range(40, 80)) <= set(second.alerts()), "the survivor's 40")
        handled = first.alerts() + second.alerts()
        lost = set(range(80)) - set(handled)
        duplicates = len(handled) - len(set(handled))
        print(f"after SIGKILL: lost {len(lost)}, duplicates {duplicates}")
        assert not lost
        if dedupe:
            assert sorted(handled) == list(range(80))  # exactly once
        # At-least-once: only alerts the dead listener handled but had not committed
        # may come twice.
        assert all(n < 40 for n in handled if handled.count(n) > 1)
    finally:
        first.close()
        second.close()


@needs_testdata
def test_cli_sends_alert_files_and_lists_topics(kafka_broker, group, env):
    kafka_broker.create_topic(f"{group}.superevent", config=BIG_TOPIC)
    files = [p for p in ALERT_FILES if "retraction" in p.name or "preliminary" in p.name]
    common = ["-s", "kafka://127.0.0.1/", "-p", str(_port(kafka_broker)), "--no-auth", "-g", group]
    sent = subprocess.run(
        _cli(*common, "send", "superevent", *map(str, files)),
        capture_output=True, text=True, env=_cli_env(env), timeout=60, check=False,
    )
    assert (sent.returncode, sent.stderr) == (0, "")
    topics = subprocess.run(
        _cli(*common, "topics"),
        capture_output=True, text=True, env=_cli_env(env), timeout=60, check=False,
    )
    assert topics.returncode == 0
    assert topics.stdout == (
        f"Topics for group {group} associated with the current credential:\nsuperevent\n"
    )
    reader = _make_client(kafka_broker, group, env)
    reader.until_eos = True
    got: list[Any] = []
    reader.listen(lambda topic, payload: got.append(payload), "superevent")
    assert got == [p.read_text() for p in files]


def test_cli_reports_a_missing_topic_in_one_line(kafka_broker, group, env):
    args = ["-s", "kafka://127.0.0.1/", "-p", str(_port(kafka_broker)), "--no-auth", "-g", group,
            "listen", "nothing-here"]
    done = subprocess.run(
        _cli(*args), capture_output=True, text=True, env=_cli_env(env), timeout=60, check=False
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith(f"igwn-alert: error: topic '{group}.nothing-here' does not exist")


# -- upstream igwn-alert 0.7.0 ----------------------------------------------------------

_PEER_SEND = """
import sys
from igwn_alert import client
c = client(noauth=True, server="kafka://127.0.0.1/", port=int(sys.argv[1]), group=sys.argv[2])
c.publish(topic="superevent", msg=open(sys.argv[3]).read())
"""

_PEER_LISTEN = """
import json, sys
from hop.io import StartPosition
from igwn_alert import client
c = client(noauth=True, server="kafka://127.0.0.1/", port=int(sys.argv[1]), group=sys.argv[2])
c.start_at = StartPosition.EARLIEST
want = int(sys.argv[3])
got = []
def callback(topic, payload):
    got.append([topic, payload])
    if len(got) == want:
        c.stop()
c.listen(callback, "superevent")
print(json.dumps(got))
"""


@needs_testdata
def test_upstream_igwn_alert_and_ours_understand_each_other(kafka_broker, group, env, peers_python):
    from _peers import run_peer

    kafka_broker.create_topic(f"{group}.superevent", config=BIG_TOPIC)
    port = str(_port(kafka_broker))
    big = next(p for p in ALERT_FILES if "preliminary" in p.name)
    small = next(p for p in ALERT_FILES if "retraction" in p.name)
    run_peer(peers_python, _PEER_SEND, port, group, str(big), timeout=120)

    ours = _make_client(kafka_broker, group, env)
    ours.publish("superevent", small.read_text())
    listener = _Listener(_make_client(kafka_broker, group, env), "superevent")
    got = listener.wait_for(2)
    listener.stop()
    assert got == [("superevent", big.read_text()), ("superevent", small.read_text())]

    upstream = run_peer(peers_python, _PEER_LISTEN, port, group, "2", timeout=120)
    heard = json.loads(upstream.stdout.strip().splitlines()[-1])
    assert heard == [["superevent", big.read_text()], ["superevent", small.read_text()]]
