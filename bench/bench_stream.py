"""Streaming throughput, latency, start-up and memory: skyhop vs librdkafka vs upstream.

Run on demand (not a test)::

    ./run bench [--quick] [--repeats N] [--only produce,consume,...] [--no-upstream]

Starts the project's real Kafka broker (:class:`hop.testing.KafkaBroker`), then for
each scenario measures three clients in the same run (these machines are noisy, so
only ratios measured side by side mean anything):

* **skyhop**, in this process, through the public API (``Stream.open``, ``write``,
  ``read``);
* **raw** confluent-kafka, in this process: the same bytes and headers with
  ``Producer.produce``, or ``consume()`` plus the cheapest decode of the payload
  (``json.loads``; ``ElementTree.fromstring`` for the VOEvent). This is the physical
  limit of a Python client on librdkafka;
* **upstream** hop-client 0.13.0 in the peers' virtualenv (``tests/_peers.py``), as a
  child process running the same loops (:mod:`bench._upstream`), with its defaults.

Throughputs are the best of ``--repeats`` runs. The goals are issue 8's.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from bench._harness import (
    TESTDATA,
    Row,
    peers_python,
    percentile,
    print_table,
    run_json,
    startup_cost,
    wait_until,
)
from bench._upstream import SCRIPT as CLIENT_SCRIPT

SCENARIOS = ("produce", "consume", "latency", "startup", "memory")
_MAX_BYTES = 4 * 1024 * 1024  # the 1 MB alert needs more than Kafka's 1 MB default


@dataclass(frozen=True)
class Case:
    """One message type: where its payload comes from and how many to send."""

    name: str
    path: str
    kind: str  # "json" or "voevent"
    count: int

    @property
    def slug(self) -> str:
        return "".join(c if c.isalnum() else "-" for c in self.name.lower())


def _json_of_size(size: int) -> dict[str, Any]:
    # An alert-like object padded so that its JSON is exactly ``size`` bytes.
    obj: dict[str, Any] = {
        "event": "S240101abc", "ra": 123.456, "dec": -45.678, "far": 1.2e-10,
        "instruments": ["H1", "L1"], "pad": "",
    }  # fmt: skip
    obj["pad"] = "x" * (size - len(json.dumps(obj)))
    assert len(json.dumps(obj)) == size
    return obj


def make_cases(workdir: Path, scale: float) -> list[Case]:
    """The four message types of issue 8, with counts scaled by ``scale``."""
    small, kilo = workdir / "json-200.json", workdir / "json-1k.json"
    small.write_text(json.dumps(_json_of_size(200)))
    kilo.write_text(json.dumps(_json_of_size(1024)))

    def n(count: int) -> int:
        return max(20, int(count * scale))

    return [
        Case("200 B JSON", str(small), "json", n(20000)),
        Case("1 KB JSON", str(kilo), "json", n(20000)),
        Case("VOEvent 6 KB", str(TESTDATA / "hop-client" / "example_voevent.xml"), "voevent",
             n(10000)),
        Case("IGWN 1 MB", str(TESTDATA / "igwn" / "MS181101ab-preliminary.json"), "json",
             n(200)),
    ]  # fmt: skip


def _sky_model(case: Case) -> Any:
    from hop import models

    if case.kind == "voevent":
        return models.VOEvent.load_file(case.path)
    return models.JSONBlob(content=json.loads(Path(case.path).read_bytes()))


# -- producer -------------------------------------------------------------------------


def sky_produce(bootstrap: str, topic: str, case: Case) -> float:
    """skyhop: messages per second of ``write`` of a model, ending with ``flush``."""
    from hop.io import Stream

    model = _sky_model(case)
    with Stream(auth=False).open(f"kafka://{bootstrap}/{topic}", "w") as w:
        w.write(model)  # connection and topic metadata are not part of the rate
        w.flush()
        start = time.perf_counter()
        for _ in range(case.count):
            w.write(model)
        w.flush()
        elapsed = time.perf_counter() - start
    return case.count / elapsed


def raw_produce(bootstrap: str, topic: str, case: Case) -> float:
    """confluent-kafka: ``produce`` of the bytes and headers skyhop sends, then ``flush``."""
    import confluent_kafka

    from hop import _codec

    payload, headers = _codec.pack(_sky_model(case))
    producer = confluent_kafka.Producer(
        {"bootstrap.servers": bootstrap, "message.max.bytes": _MAX_BYTES}
    )
    producer.produce(topic, payload, headers=headers)
    producer.flush(30)
    produce = producer.produce
    start = time.perf_counter()
    for _ in range(case.count):
        while True:
            try:
                produce(topic, payload, headers=headers)
                break
            except BufferError:
                producer.poll(0.05)
    left = producer.flush(120)
    elapsed = time.perf_counter() - start
    if left:
        raise RuntimeError(f"raw producer: {left} messages not delivered to {topic}")
    return case.count / elapsed


# -- consumer -------------------------------------------------------------------------


def fill_topic(bootstrap: str, topic: str, case: Case, count: int) -> None:
    """Write ``count`` copies of the case's message (skyhop's bytes and headers)."""
    import confluent_kafka

    from hop import _codec

    payload, headers = _codec.pack(_sky_model(case))
    producer = confluent_kafka.Producer(
        {"bootstrap.servers": bootstrap, "message.max.bytes": _MAX_BYTES, "linger.ms": 50}
    )
    for _ in range(count):
        while True:
            try:
                producer.produce(topic, payload, headers=headers)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(120):
        raise RuntimeError(f"could not fill topic {topic}")


def sky_consume(bootstrap: str, topic: str, case: Case) -> float:
    """skyhop: messages per second of ``read()`` yielding models, from the first one."""
    from hop.io import StartPosition, Stream

    stream = Stream(auth=False, start_at=StartPosition.EARLIEST)
    got, start = 0, 0.0
    with stream.open(f"kafka://{bootstrap}/{topic}", "r", group_id=_group()) as r:
        for _ in r.read():
            got += 1
            if got == 1:
                start = time.perf_counter()
            if got == case.count:
                break
        elapsed = time.perf_counter() - start
    return (case.count - 1) / elapsed


def raw_consume(bootstrap: str, topic: str, case: Case) -> float:
    """confluent-kafka: ``consume()`` batches and decode each payload."""
    import confluent_kafka

    decode: Callable[[bytes], Any] = ET.fromstring if case.kind == "voevent" else json.loads
    consumer = confluent_kafka.Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": _group(),
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([topic])
    got, start = 0, 0.0
    deadline = time.monotonic() + 300
    try:
        while got < case.count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"raw consumer: only {got} messages from {topic}")
            # What is already fetched, else wait briefly for one: consume(n, t) with a
            # timeout waits for the whole batch, which would measure the wait.
            batch = consumer.consume(100, 0) or consumer.consume(1, 0.25)
            for msg in batch:
                if msg.error() is not None:
                    continue
                decode(msg.value())
                got += 1
                if got == 1:
                    start = time.perf_counter()
                if got == case.count:
                    break
        elapsed = time.perf_counter() - start
    finally:
        consumer.close()
    return (case.count - 1) / elapsed


def _group() -> str:
    return f"bench-{uuid.uuid4().hex}"


# -- latency --------------------------------------------------------------------------


class _Latency:
    """A reader thread collecting write-to-model delays; the writer paces messages."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.delays: list[float] = []
        self.warm = threading.Event()
        self.done = threading.Event()

    def seen(self, content: dict[str, Any], now: float) -> bool:
        """Record one message; True once every measured message arrived."""
        if content["phase"] != "m":
            self.warm.set()
            return False
        self.delays.append(now - content["t"])
        if len(self.delays) >= self.count:
            self.done.set()
            return True
        return False

    def drive(self, write: Callable[[dict[str, Any]], None], rate: float, pad: str) -> None:
        deadline = time.monotonic() + 60
        while not self.warm.is_set():
            if time.monotonic() > deadline:
                raise RuntimeError("latency: the reader never saw a warm-up message")
            write({"phase": "w", "t": time.perf_counter(), "pad": pad})
            self.warm.wait(0.05)
        start = time.perf_counter()
        for i in range(self.count):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # pacing the writer, not synchronising
            write({"phase": "m", "t": time.perf_counter(), "seq": i, "pad": pad})
        self.done.wait(self.count / rate + 30)


def sky_latency(bootstrap: str, topic: str, count: int, rate: float, pad: int) -> list[float]:
    """skyhop: delays from ``write`` to ``read()`` yielding the model, default settings."""
    from hop.io import Stream
    from hop.models import JSONBlob

    run = _Latency(count)
    url = f"kafka://{bootstrap}/{topic}"
    reader = Stream(auth=False).open(url, "r", group_id=_group())

    def read() -> None:
        for model in reader.read():
            if run.seen(model.content, time.perf_counter()):
                break

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        with Stream(auth=False).open(url, "w") as w:
            run.drive(lambda c: w.write(JSONBlob(content=c)), rate, "x" * pad)
    finally:
        reader.stop()
        thread.join(10)
        reader.close()
    return run.delays


def raw_latency(bootstrap: str, topic: str, count: int, rate: float, pad: int) -> list[float]:
    """confluent-kafka with its defaults: ``produce`` + ``poll(0)``; ``poll`` + ``json.loads``."""
    import confluent_kafka

    from hop import _codec

    run = _Latency(count)
    consumer = confluent_kafka.Consumer({"bootstrap.servers": bootstrap, "group.id": _group()})
    consumer.subscribe([topic])
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            msg = consumer.poll(0.1)
            if msg is None or msg.error() is not None:
                continue
            if run.seen(json.loads(msg.value()), time.perf_counter()):
                break

    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap})

    def write(content: dict[str, Any]) -> None:
        payload, headers = _codec.pack(content)
        producer.produce(topic, payload, headers=headers)
        producer.poll(0)

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    try:
        run.drive(write, rate, "x" * pad)
    finally:
        stop.set()
        thread.join(10)
        consumer.close()
        producer.flush(10)
    return run.delays


# -- the run --------------------------------------------------------------------------


@dataclass
class Context:
    bootstrap: str
    broker: Any
    upstream: str | None
    repeats: int
    rows: list[Row]

    def upstream_run(self, mode: str, timeout: float = 900.0, **params: Any) -> Any:
        assert self.upstream is not None
        params.setdefault("bootstrap", self.bootstrap)
        return run_json(self.upstream, CLIENT_SCRIPT, mode, json.dumps(params), timeout=timeout)

    def upstream_rate(self, mode: str, **params: Any) -> float:
        return float(self.upstream_run(mode, **params))


def _log(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def _best(runs: list[Callable[[], float]], repeats: int) -> list[float | None]:
    # Interleaved (raw, skyhop, upstream, raw, ...) so that drift hits all alike.
    best: list[float | None] = [None] * len(runs)
    for _ in range(repeats):
        for i, run in enumerate(runs):
            value = run()
            best[i] = value if best[i] is None else max(value, best[i])  # type: ignore[type-var]
    return best


def _rate_row(scenario: str, case: Case, values: list[float | None]) -> Row:
    sky, raw, up = values
    met = None
    if sky is not None and raw is not None:
        met = sky >= 0.8 * raw and (up is None or sky >= 2 * up)
    return Row(scenario, case.name, "msg/s", sky, raw, up, ">=0.8x raw, >=2x up", met)


def bench_produce(ctx: Context, cases: list[Case]) -> None:
    for case in cases:
        topic = f"bench-produce-{case.slug}"
        ctx.broker.create_topic(topic, config={"max.message.bytes": str(_MAX_BYTES)})
        _log(f"produce {case.name} x {case.count}")
        runs: list[Callable[[], float]] = [
            partial(sky_produce, ctx.bootstrap, topic, case),
            partial(raw_produce, ctx.bootstrap, topic, case),
        ]
        if ctx.upstream:
            runs.append(partial(
                ctx.upstream_rate, "produce", topic=topic, kind=case.kind, path=case.path,
                n=case.count))  # fmt: skip
        values = _best(runs, ctx.repeats)
        if len(values) == 2:
            values.append(None)
        ctx.rows.append(_rate_row("producer", case, values))
        ctx.broker.delete_topic(topic)  # keeps the broker's disk use bounded


def bench_consume(ctx: Context, cases: list[Case]) -> None:
    for case in cases:
        topic = f"bench-consume-{case.slug}"
        ctx.broker.create_topic(topic, config={"max.message.bytes": str(_MAX_BYTES)})
        fill_topic(ctx.bootstrap, topic, case, case.count)
        _log(f"consume {case.name} x {case.count}")
        runs: list[Callable[[], float]] = [
            partial(sky_consume, ctx.bootstrap, topic, case),
            partial(raw_consume, ctx.bootstrap, topic, case),
        ]
        if ctx.upstream:
            runs.append(partial(ctx.upstream_rate, "consume", topic=topic, n=case.count))
        values = _best(runs, ctx.repeats)
        if len(values) == 2:
            values.append(None)
        ctx.rows.append(_rate_row("consumer", case, values))
        ctx.broker.delete_topic(topic)


def bench_latency(ctx: Context, count: int, rate: float = 100.0, pad: int = 150) -> None:
    results: dict[str, list[float] | None] = {}
    for name, fn in (("sky", sky_latency), ("raw", raw_latency)):
        topic = f"bench-latency-{name}"
        ctx.broker.create_topic(topic)
        _log(f"latency {name}: {count} messages at {rate:g}/s")
        results[name] = fn(ctx.bootstrap, topic, count, rate, pad)
    results["up"] = None
    if ctx.upstream:
        ctx.broker.create_topic("bench-latency-up")
        _log(f"latency upstream: {count} messages at {rate:g}/s")
        results["up"] = ctx.upstream_run(
            "latency", topic="bench-latency-up", n=count, rate=rate, pad=pad
        )

    def ms(name: str, q: float) -> float | None:
        delays = results[name]
        return None if delays is None else percentile(delays, q) * 1000

    for name, delays in results.items():
        if delays is not None and len(delays) < count:
            _log(f"latency {name}: only {len(delays)} of {count} messages arrived")
    ctx.rows.append(
        Row("latency @100/s", "p50", "ms", ms("sky", 50), ms("raw", 50), ms("up", 50), "-", None)
    )
    sky99, up99 = ms("sky", 99), ms("up", 99)
    met = None if sky99 is None else sky99 <= 10 and (up99 is None or sky99 <= up99 / 10)
    ctx.rows.append(
        Row("latency @100/s", "p99", "ms", sky99, ms("raw", 99), up99, "<=10 ms, <=up/10", met)
    )


def bench_startup(ctx: Context, repeats: int = 5) -> None:
    pythons = {"sky": Path(sys.executable)}
    if ctx.upstream:
        pythons["up"] = Path(ctx.upstream)
    with tempfile.TemporaryDirectory() as cwd:  # nothing from the checkout on sys.path
        base = startup_cost(sys.executable, code="pass", repeats=repeats, cwd=cwd)
        for label in ("import hop", "hop --help"):
            _log(f"startup: {label}")
            cost: dict[str, Any] = {"up": None}
            for name, python in pythons.items():
                if label == "import hop":
                    cost[name] = startup_cost(python, code="import hop", repeats=repeats, cwd=cwd)
                else:
                    cost[name] = startup_cost(
                        python, script=python.parent / "hop", args=["--help"], repeats=repeats,
                        cwd=cwd,
                    )  # fmt: skip
            sky, up = cost["sky"], cost["up"]
            ctx.rows.append(Row(
                "startup", f"{label} (raw: bare python)", "ms", sky.seconds * 1000,
                base.seconds * 1000, None if up is None else up.seconds * 1000, "<= up",
                None if up is None else sky.seconds <= up.seconds))  # fmt: skip
            ctx.rows.append(Row(
                "startup", f"{label} peak RSS", "MiB", sky.max_rss_mb, base.max_rss_mb,
                None if up is None else up.max_rss_mb, "<= up",
                None if up is None else sky.max_rss_mb <= up.max_rss_mb))  # fmt: skip


def bench_memory(ctx: Context, count: int, workdir: Path) -> None:
    topic = "bench-replay"
    ctx.broker.create_topic(topic)
    case = Case("200 B JSON", str(workdir / "json-200.json"), "json", count)
    # Twice what is read, so that librdkafka's prefetch queue (up to 100k messages) stays
    # full to the end rather than draining as the reader reaches the end of the topic.
    _log(f"memory: filling {topic} with {2 * count} messages")
    fill_topic(ctx.bootstrap, topic, case, 2 * count)
    every = max(1, count // 10)
    params = json.dumps({"bootstrap": ctx.bootstrap, "topic": topic, "n": count, "every": every})
    _log("memory: skyhop replay")
    sky = run_json(sys.executable, CLIENT_SCRIPT, "replay", params)
    up = None
    if ctx.upstream:
        _log("memory: upstream replay")
        up = run_json(ctx.upstream, CLIENT_SCRIPT, "replay", params)

    for name, marks in (("skyhop", sky), ("upstream", up)):
        if marks:
            _log(f"memory: {name} RSS MiB every {every:,} msgs: {[round(m[1], 1) for m in marks]}")

    # librdkafka fills its prefetch queue (up to 100k messages or 64 MiB by default)
    # during the first part of the replay, so growth is measured over the second half:
    # a per-message leak shows there, the prefetch does not.
    half = len(sky) // 2 - 1

    def growth(marks: list[list[float]] | None) -> float | None:
        return None if not marks else marks[-1][1] - marks[half][1]

    def at(marks: list[list[float]] | None, i: int) -> float | None:
        return None if not marks else marks[i][1]

    mid = int(sky[half][0])
    ctx.rows.append(Row("replay RSS", f"after {mid:,} msgs", "MiB", at(sky, half), None,
                        at(up, half), "-", None))  # fmt: skip
    ctx.rows.append(Row("replay RSS", f"after {count:,} msgs", "MiB", at(sky, -1), None,
                        at(up, -1), "-", None))  # fmt: skip
    g = growth(sky)
    ctx.rows.append(Row("replay RSS", f"growth {mid:,}->{count:,}", "MiB", g, None, growth(up),
                        "flat (<2 MiB)", None if g is None else g < 2.0))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the streaming benchmarks and print the table."""
    parser = argparse.ArgumentParser(prog="./run bench stream", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the messages")
    parser.add_argument("--repeats", type=int, default=2, help="runs per throughput (best)")
    parser.add_argument("--only", default=",".join(SCENARIOS),
                        help=f"comma-separated subset of {','.join(SCENARIOS)}")  # fmt: skip
    parser.add_argument("--no-upstream", action="store_true", help="skip hop-client 0.13")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    unknown = only - set(SCENARIOS)
    if unknown:
        parser.error(f"unknown scenario(s): {', '.join(sorted(unknown))}")
    scale = 0.1 if args.quick else 1.0

    from hop.testing import KafkaBroker

    upstream = None if args.no_upstream else str(peers_python())
    with tempfile.TemporaryDirectory(prefix="skyhop-bench-") as tmp, KafkaBroker() as broker:
        workdir = Path(tmp)
        cases = make_cases(workdir, scale)
        ctx = Context(broker.bootstrap["plaintext"], broker, upstream, args.repeats, [])
        _log(f"broker up at {ctx.bootstrap}")
        wait_until(lambda: bool(broker.list_topics() is not None), 30, "the broker")
        if "produce" in only:
            bench_produce(ctx, cases)
        if "consume" in only:
            bench_consume(ctx, cases)
        if "latency" in only:
            bench_latency(ctx, max(50, int(1000 * scale)))
        if "startup" in only:
            bench_startup(ctx)
        if "memory" in only:
            bench_memory(ctx, max(1000, int(100_000 * scale)), workdir)
    print()
    print_table(ctx.rows)
    if args.json:
        Path(args.json).write_text(json.dumps([r.__dict__ for r in ctx.rows], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
