"""RobustProducer under faults, on the real broker: nothing that write() returned for is lost.

* A publisher subprocess writing 10,000 messages is SIGKILLed at random points and
  restarted on the same journal.
* The broker is SIGKILLed mid-stream and restarted on the same data folder.
* The broker is down when the publisher starts and comes up 20 s later.

Each test prints its lost (must be 0) and duplicate counts; a deduplicating reader then
hands each message over exactly once. The kill points come from
a seed printed with them; set ``SKYHOP_FAULT_SEED`` to replay a run.
"""

from __future__ import annotations

import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from _brokers import running_broker
from hop.robust_publisher import PublicationJournal, RobustProducer
from hop.testing import KafkaBroker

pytestmark = pytest.mark.slow

TOTAL = 10_000
_SEED = int(os.environ.get("SKYHOP_FAULT_SEED") or random.SystemRandom().randrange(2**32))
# Five kill points spread over the run (one per fifth), so early, middle and late kills
# are all exercised whatever the seed.
_KILL_POINTS = [
    random.Random(_SEED + k).randrange(k * TOTAL // 5 + 50, (k + 1) * TOTAL // 5 - 50)
    for k in range(5)
]

_PUBLISHER = r"""
import sys
from hop.robust_publisher import RobustProducer

url, journal, first, last, durability = sys.argv[1:6]
publisher = RobustProducer(url, auth=False, journal_path=journal, durability=durability)
print("replaying", sum(publisher._journal._counts()), flush=True)
publisher.start()
for i in range(int(first), int(last)):
    publisher.write({"seq": i}, headers=[("seq", str(i))])
    # Printed only after write() returned: from here on the message must not be lost.
    print(i, flush=True)
publisher.stop()
print("done", flush=True)
"""


def _run_publisher(
    url: str,
    journal: Path,
    first: int,
    durability: str,
    log: Path,
    kill_at: int | None = None,
    timeout: float = 120.0,
) -> tuple[int, int, bool]:
    """Run the publisher script; SIGKILL it once it reports writing ``kill_at``.

    Returns ``(last message whose write returned, messages replayed, killed)``.
    """
    with open(log, "ab") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-c", _PUBLISHER, url, str(journal), str(first), str(TOTAL),
             durability],
            stdout=subprocess.PIPE, stderr=stderr, text=True,
        )
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.strip())
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    last, replayed, killed = first - 1, 0, False
    try:
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                pytest.fail(f"publisher gave no output for {timeout} s; log: {log}")
            if line is None or line == "done":
                break
            if line.startswith("replaying"):
                replayed = int(line.split()[1])
                continue
            last = int(line)
            if kill_at is not None and last >= kill_at and not killed:
                proc.send_signal(signal.SIGKILL)
                killed = True
                # Keep reading: lines printed before the kill are still in the pipe,
                # and the last of them is the last write() that returned.
        code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    reader.join(timeout=10)
    assert proc.stdout is not None
    proc.stdout.close()
    if not killed:
        assert code == 0, f"publisher failed with exit {code}: {log.read_text()[-3000:]}"
    return last, replayed, killed


def _read_topic(bootstrap: str, topic: str, timeout: float = 60.0) -> list[int]:
    """Every message's sequence number, in log order, up to the high watermark."""
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"verify-{uuid.uuid4().hex}",
        "enable.auto.commit": False,
    })
    try:
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)
        consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
        seqs: list[int] = []
        position = -1
        deadline = time.monotonic() + timeout
        while position < high - 1:
            assert time.monotonic() < deadline, f"read {len(seqs)} of {high} messages"
            msg = consumer.poll(1.0)
            if msg is None or msg.error() is not None:
                continue
            position = msg.offset()
            seqs.append(json.loads(msg.value())["seq"])
        return seqs
    finally:
        consumer.close()


def _read_deduplicated(url: str) -> list[int]:
    """Every sequence number a deduplicating hop reader hands over, in order."""
    from hop import Stream
    from hop.io import StartPosition

    reader = Stream(auth=False, start_at=StartPosition.EARLIEST, until_eos=True, deduplicate=True)
    with reader.open(url, "r") as s:
        return [m.content["seq"] for m in s]


def _report(label: str, seqs: list[int], expected: int = TOTAL) -> tuple[int, int]:
    lost = len(set(range(expected)) - set(seqs))
    duplicates = sum(n - 1 for n in Counter(seqs).values())
    print(f"\n[robust] {label}: lost={lost} duplicates={duplicates} received={len(seqs)}")
    return lost, duplicates


@pytest.mark.parametrize("point", range(len(_KILL_POINTS)), ids=lambda k: f"kill{k}")
def test_publisher_killed_and_restarted_loses_nothing(
    point: int, tmp_path: Path, make_topic: Callable[..., str], kafka_broker: KafkaBroker
) -> None:
    kill_at = _KILL_POINTS[point]
    durability = "fsync" if point % 2 else "none"
    topic = make_topic()
    url = f"kafka://{kafka_broker.bootstrap['plaintext']}/{topic}"
    journal, log = tmp_path / "pub.journal", tmp_path / "publisher.log"
    last, _, killed = _run_publisher(url, journal, 0, durability, log, kill_at=kill_at)
    assert killed, "the publisher finished before the kill point"
    # Restart after the last write the first run saw return; anything it wrote after
    # that (or lost in flight) must come back from the journal.
    _, replayed, _ = _run_publisher(url, journal, last + 1, durability, log)
    seqs = _read_topic(kafka_broker.bootstrap["plaintext"], topic)
    lost, _dups = _report(
        f"seed={_SEED} killed after write {last} ({durability}): {replayed} replayed",
        seqs,
    )
    assert lost == 0
    # The copies the restart resent carry their first _id: with deduplication on, the
    # reader hands each message over exactly once. The one exception is not a resend:
    # if the kill fell between write(last + 1) returning and the script printing it, the
    # restarted script writes last + 1 again, as a new message with its own _id.
    counts = Counter(_read_deduplicated(url))
    assert set(counts) == set(range(TOTAL))
    assert {seq for seq, n in counts.items() if n > 1} <= {last + 1}


@pytest.fixture(scope="module")
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    """A broker these tests may kill and restart without disturbing the session's."""
    with running_broker(tmp_path_factory.mktemp("robust-kafka")) as broker:
        yield broker


def _own_topic(broker: KafkaBroker) -> tuple[str, str]:
    if not broker.is_running:
        broker.start()
    topic = f"robust-{uuid.uuid4().hex[:10]}"
    broker.create_topic(topic, 1)
    return topic, f"kafka://{broker.bootstrap['plaintext']}/{topic}"


def test_broker_killed_mid_stream_and_restarted_loses_nothing(
    own_broker: KafkaBroker, tmp_path: Path
) -> None:
    topic, url = _own_topic(own_broker)
    half = TOTAL // 2
    publisher = RobustProducer(url, auth=False, journal_path=tmp_path / "pub.journal")
    try:
        publisher.start()
        for i in range(half):
            publisher.write({"seq": i})
        own_broker.kill()
        pending_at_kill = sum(publisher._journal._counts())
        for i in range(half, TOTAL):
            publisher.write({"seq": i})
        own_broker.start()
    finally:
        publisher.stop(timeout=180)
    seqs = _read_topic(own_broker.bootstrap["plaintext"], topic)
    lost, _ = _report(f"broker killed with {pending_at_kill} messages unacknowledged", seqs)
    assert lost == 0
    assert sorted(_read_deduplicated(url)) == list(range(TOTAL))


def test_broker_down_at_start_and_up_20_s_later_loses_nothing(
    own_broker: KafkaBroker, tmp_path: Path
) -> None:
    topic, url = _own_topic(own_broker)
    own_broker.kill()
    count = 2_000
    journal_path = tmp_path / "pub.journal"
    publisher = RobustProducer(url, auth=False, journal_path=journal_path)
    try:
        publisher.start()
        for i in range(count):
            publisher.write({"seq": i})
        # For 20 s the broker stays down; all along, every message must stay journaled.
        down_until = time.monotonic() + 20.0
        while time.monotonic() < down_until:
            assert sum(publisher._journal._counts()) == count
            publisher.join(timeout=0.5)  # a bounded wait that also notices a dead sender
            assert publisher.is_alive()
        own_broker.start()
    finally:
        publisher.stop(timeout=180)
    seqs = _read_topic(own_broker.bootstrap["plaintext"], topic)
    lost, _ = _report("broker down for 20 s at start", seqs, expected=count)
    assert lost == 0
    with PublicationJournal(journal_path) as journal:
        assert journal._counts() == (0, 0)


def test_stop_with_timeout_during_an_outage_keeps_messages_for_the_next_run(
    own_broker: KafkaBroker, tmp_path: Path
) -> None:
    from hop.errors import DeliveryError

    topic, url = _own_topic(own_broker)
    own_broker.kill()
    journal_path = tmp_path / "pub.journal"
    publisher = RobustProducer(url, auth=False, journal_path=journal_path)
    publisher.start()
    for i in range(100):
        publisher.write({"seq": i})
    with pytest.raises(DeliveryError, match="100 message"):
        publisher.stop(timeout=2.0)
    own_broker.start()
    # The next publisher on the journal delivers them.
    with RobustProducer(url, auth=False, journal_path=journal_path):
        pass
    lost, _ = _report("stopped with a timeout during an outage, then resumed",
                      _read_topic(own_broker.bootstrap["plaintext"], topic), expected=100)
    assert lost == 0
