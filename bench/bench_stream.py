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

Raw confluent-kafka runs twice: with skyhop's own librdkafka settings (``raw ck``: the
goal applies to it, so skyhop/raw is what the Python layer costs) and with the best
settings found for raw (``raw best``, from ``--sweep-raw``).

Every figure is the median of ``--repeats`` rounds (at least 3) with its range; a round
runs every client back to back, and ratios are taken within a round, then their median
reported. Each row names its goal (issues 8 and 18) and whether it is met, and the load
average when it was measured.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from bench._harness import (
    TESTDATA,
    Row,
    Spread,
    column,
    load_average,
    peers_python,
    percentile,
    print_table,
    ratios,
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
        Case("200 B JSON", str(small), "json", n(60000)),
        Case("1 KB JSON", str(kilo), "json", n(40000)),
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


def sky_producer_settings(bootstrap: str) -> dict[str, Any]:
    """The librdkafka settings a skyhop writer uses (``Stream.open(url, "w")``)."""
    from hop._config import ProducerConfig

    return ProducerConfig().librdkafka(bootstrap, None)


#: The best settings found for raw confluent-kafka's producer on these cases (librdkafka
#: defaults plus these), from ``./run bench stream --sweep-raw``: a longer linger and
#: bigger batches trade latency for bulk rate, which skyhop does not (its 2 ms linger
#: keeps alert latency low; see hop._config.DEFAULT_LINGER_MS).
RAW_BEST_PRODUCER: dict[str, Any] = {"linger.ms": 20, "batch.size": 1_000_000}
#: Candidates the sweep tries (each on top of librdkafka's defaults).
RAW_PRODUCER_SWEEP: list[dict[str, Any]] = [
    {},
    {"linger.ms": 20},
    {"linger.ms": 20, "batch.size": 1_000_000},
    {"linger.ms": 100, "batch.size": 1_000_000},
    {"linger.ms": 20, "batch.size": 1_000_000, "compression.type": "lz4"},
]


def raw_produce(bootstrap: str, topic: str, case: Case, conf: dict[str, Any]) -> float:
    """confluent-kafka: ``produce`` of the bytes and headers skyhop sends, then ``flush``.

    ``conf`` is the librdkafka configuration (without ``bootstrap.servers``): skyhop's
    own for the baseline, or the best found for raw.
    """
    import confluent_kafka

    from hop import _codec

    payload, headers = _codec.pack(_sky_model(case))
    settings = {"message.max.bytes": _MAX_BYTES, **conf, "bootstrap.servers": bootstrap}
    producer = confluent_kafka.Producer(settings)
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


def sky_consumer_settings(bootstrap: str) -> dict[str, Any]:
    """The librdkafka settings a skyhop reader uses, less the group and start position."""
    from hop._config import ConsumerConfig

    conf = ConsumerConfig().librdkafka(
        bootstrap, "unused", None, offset_reset="earliest", eof=False
    )
    del conf["group.id"]
    return conf


#: The best settings found for raw confluent-kafka's consumer (on top of librdkafka's
#: defaults), from ``--sweep-raw``: the defaults already prefetch up to 64 MiB.
RAW_BEST_CONSUMER: dict[str, Any] = {}
RAW_CONSUMER_SWEEP: list[dict[str, Any]] = [
    {},
    {"fetch.max.bytes": 104_857_600, "max.partition.fetch.bytes": 10_485_760},
    {"fetch.wait.max.ms": 100},
]


def raw_consume(bootstrap: str, topic: str, case: Case, conf: dict[str, Any]) -> float:
    """confluent-kafka: ``consume()`` batches and decode each payload.

    ``conf``: librdkafka settings, as for :func:`raw_produce`.
    """
    import confluent_kafka

    decode: Callable[[bytes], Any] = ET.fromstring if case.kind == "voevent" else json.loads
    consumer = confluent_kafka.Consumer(
        {
            **conf,
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
    notes: list[str] = field(default_factory=list)

    def upstream_run(self, mode: str, timeout: float = 900.0, **params: Any) -> Any:
        assert self.upstream is not None
        params.setdefault("bootstrap", self.bootstrap)
        return run_json(self.upstream, CLIENT_SCRIPT, mode, json.dumps(params), timeout=timeout)

    def upstream_rate(self, mode: str, **params: Any) -> float:
        return float(self.upstream_run(mode, **params))


def _log(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def _rounds(runs: list[Callable[[], float]], repeats: int) -> list[list[float | None]]:
    # Every run once per round, back to back (skyhop, raw, raw best, upstream), so that a
    # ratio within a round compares runs that saw the same load on a shared machine.
    out: list[list[float | None]] = []
    for _ in range(repeats):
        out.append([run() for run in runs])
    return out


def _rate_row(scenario: str, case: Case, rounds: list[list[float | None]], load: float) -> Row:
    # Columns of a round: skyhop, raw (skyhop's settings), raw (best settings), upstream.
    sky, raw, best, up = (column(rounds, i) for i in range(4))
    ratio, up_ratio = ratios(rounds, 0, 1), ratios(rounds, 0, 3)
    met = None
    if ratio is not None:
        met = ratio.median >= 0.8 and (up_ratio is None or up_ratio.median >= 2)
    return Row(
        scenario, case.name, "msg/s", sky and sky.median, raw and raw.median,
        up and up.median, ">=0.8x raw, >=2x up", met, raw_best=best and best.median,
        sky_range=sky, ratio=ratio, up_ratio=up_ratio, load=load,
    )  # fmt: skip


def _none() -> None:
    return None


def bench_produce(ctx: Context, cases: list[Case]) -> None:
    sky_conf = {k: v for k, v in sky_producer_settings(ctx.bootstrap).items()
                if k != "bootstrap.servers"}  # fmt: skip
    for case in cases:
        topic = f"bench-produce-{case.slug}"
        ctx.broker.create_topic(topic, config={"max.message.bytes": str(_MAX_BYTES)})
        _log(f"produce {case.name} x {case.count}")
        runs: list[Callable[[], Any]] = [
            partial(sky_produce, ctx.bootstrap, topic, case),
            partial(raw_produce, ctx.bootstrap, topic, case, sky_conf),
            partial(raw_produce, ctx.bootstrap, topic, case, RAW_BEST_PRODUCER),
            _none,
        ]
        if ctx.upstream:
            runs[3] = partial(
                ctx.upstream_rate, "produce", topic=topic, kind=case.kind, path=case.path,
                n=case.count)  # fmt: skip
        load = load_average()
        ctx.rows.append(_rate_row("producer", case, _rounds(runs, ctx.repeats), load))
        ctx.broker.delete_topic(topic)  # keeps the broker's disk use bounded


def bench_consume(ctx: Context, cases: list[Case]) -> None:
    sky_conf = sky_consumer_settings(ctx.bootstrap)
    for case in cases:
        topic = f"bench-consume-{case.slug}"
        ctx.broker.create_topic(topic, config={"max.message.bytes": str(_MAX_BYTES)})
        fill_topic(ctx.bootstrap, topic, case, case.count)
        _log(f"consume {case.name} x {case.count}")
        runs: list[Callable[[], Any]] = [
            partial(sky_consume, ctx.bootstrap, topic, case),
            partial(raw_consume, ctx.bootstrap, topic, case, sky_conf),
            partial(raw_consume, ctx.bootstrap, topic, case, RAW_BEST_CONSUMER),
            _none,
        ]
        if ctx.upstream:
            runs[3] = partial(ctx.upstream_rate, "consume", topic=topic, n=case.count)
        load = load_average()
        ctx.rows.append(_rate_row("consumer", case, _rounds(runs, ctx.repeats), load))
        ctx.broker.delete_topic(topic)


def sweep_raw(ctx: Context, cases: list[Case]) -> None:
    """Print raw confluent-kafka's rate under each candidate setting (for RAW_BEST_*)."""
    for case in cases:
        topic = f"bench-sweep-{case.slug}"
        ctx.broker.create_topic(topic, config={"max.message.bytes": str(_MAX_BYTES)})
        fill_topic(ctx.bootstrap, topic, case, case.count)
        for conf in RAW_PRODUCER_SWEEP:
            rates = [raw_produce(ctx.bootstrap, topic, case, conf) for _ in range(ctx.repeats)]
            print(
                f"sweep produce {case.name:<13} {conf}: median {statistics.median(rates):,.0f}"
                f" [{min(rates):,.0f}-{max(rates):,.0f}] load {load_average():.1f}"
            )
        for conf in RAW_CONSUMER_SWEEP:
            rates = [raw_consume(ctx.bootstrap, topic, case, conf) for _ in range(ctx.repeats)]
            print(
                f"sweep consume {case.name:<13} {conf}: median {statistics.median(rates):,.0f}"
                f" [{min(rates):,.0f}-{max(rates):,.0f}] load {load_average():.1f}"
            )
        ctx.broker.delete_topic(topic)


def bench_latency(ctx: Context, count: int, rate: float = 100.0, pad: int = 150) -> None:
    # One round: skyhop, raw, upstream back to back, ``count`` messages each; the
    # percentiles are per round and the rows give their median over the rounds.
    rounds: dict[str, list[list[float]]] = {"sky": [], "raw": [], "up": []}
    load = load_average()
    for r in range(ctx.repeats):
        for name, fn in (("sky", sky_latency), ("raw", raw_latency)):
            topic = f"bench-latency-{name}-{r}"
            ctx.broker.create_topic(topic)
            _log(f"latency {name} round {r + 1}: {count} messages at {rate:g}/s")
            rounds[name].append(fn(ctx.bootstrap, topic, count, rate, pad))
            ctx.broker.delete_topic(topic)
        if ctx.upstream:
            topic = f"bench-latency-up-{r}"
            ctx.broker.create_topic(topic)
            _log(f"latency upstream round {r + 1}: {count} messages at {rate:g}/s")
            rounds["up"].append(
                ctx.upstream_run("latency", topic=topic, n=count, rate=rate, pad=pad)
            )
            ctx.broker.delete_topic(topic)
    for name, runs in rounds.items():
        for delays in runs:
            if len(delays) < count:
                _log(f"latency {name}: only {len(delays)} of {count} messages arrived")

    def per_round(q: float) -> list[list[float | None]]:
        out: list[list[float | None]] = []
        for i in range(ctx.repeats):
            row: list[float | None] = []
            for name in ("sky", "raw", "up"):
                runs = rounds[name]
                row.append(percentile(runs[i], q) * 1000 if i < len(runs) else None)
            out.append(row)
        return out

    for q, goal in ((50, "-"), (99, "<=10 ms, <=up/10")):
        table = per_round(q)
        sky, raw, up = column(table, 0), column(table, 1), column(table, 2)
        up_ratio = ratios(table, 0, 2)
        met = None
        if q == 99 and sky is not None:
            met = sky.median <= 10 and (up_ratio is None or up_ratio.median <= 0.1)
        ctx.rows.append(Row(
            "latency @100/s", f"p{q}", "ms", sky and sky.median, raw and raw.median,
            up and up.median, goal, met, sky_range=sky, ratio=ratios(table, 0, 1),
            up_ratio=up_ratio, load=load))  # fmt: skip


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
            load = load_average()
            # Within-run spreads (the runs of one command follow each other, so there are
            # no rounds to pair): the ratio columns are ratios of the medians.
            ctx.rows.append(Row(
                "startup", f"{label} (raw: bare python)", "ms", sky.seconds * 1000,
                base.seconds * 1000, None if up is None else up.seconds * 1000, "<= up",
                None if up is None else sky.seconds <= up.seconds,
                sky_range=Spread(sky.seconds * 1000, sky.seconds_range[0] * 1000,
                                 sky.seconds_range[1] * 1000, repeats),
                load=load))  # fmt: skip
            ctx.rows.append(Row(
                "startup", f"{label} peak RSS", "MiB", sky.max_rss_mb, base.max_rss_mb,
                None if up is None else up.max_rss_mb, "<= up",
                None if up is None else sky.max_rss_mb <= up.max_rss_mb,
                sky_range=Spread(sky.max_rss_mb, *sky.rss_range, 3), load=load))  # fmt: skip


#: The librdkafka fetch settings the fetch table tries for a skyhop replay (the first is
#: skyhop's defaults). Memory is bounded by queued.max.messages.kbytes per partition, but
#: a fetch response is one unit: a small queue limit with a big fetch stalls the reader
#: (librdkafka backs off fetch.queue.backoff.ms when the queue is over its limit).
_Q, _QK, _FMB, _MPFB, _BACK = (
    "queued.min.messages", "queued.max.messages.kbytes", "fetch.max.bytes",
    "max.partition.fetch.bytes", "fetch.queue.backoff.ms",
)  # fmt: skip
FETCH_SWEEP: list[dict[str, Any]] = [
    {},
    {_QK: 16384},
    {_QK: 16384, _BACK: 10},
    {_Q: 10000},
    {_Q: 10000, _BACK: 10},
    {_QK: 4096, _FMB: 2097152, _MPFB: 1048576, _BACK: 5},
    {_QK: 2048, _FMB: 1048576, _MPFB: 524288, _BACK: 1},
    {_QK: 1024, _FMB: 1048576, _MPFB: 262144, _BACK: 1},
    {_Q: 5000, _QK: 2048, _FMB: 1048576, _MPFB: 524288, _BACK: 1},
    {_Q: 2000, _QK: 1024, _FMB: 1048576, _MPFB: 262144, _BACK: 1},
]


def _replay(python: str, params: dict[str, Any]) -> tuple[list[list[float]], float]:
    out = run_json(python, CLIENT_SCRIPT, "replay", json.dumps(params))
    return out["marks"], out["rate"]


def bench_memory(ctx: Context, count: int, workdir: Path, fetch_table: bool = False) -> None:
    topic = "bench-replay"
    ctx.broker.create_topic(topic)
    case = Case("200 B JSON", str(workdir / "json-200.json"), "json", count)
    # Twice what is read, so that librdkafka's prefetch queue (up to 100k messages) stays
    # full to the end rather than draining as the reader reaches the end of the topic.
    _log(f"memory: filling {topic} with {2 * count} messages")
    fill_topic(ctx.bootstrap, topic, case, 2 * count)
    every = max(1, count // 10)
    params: dict[str, Any] = {"bootstrap": ctx.bootstrap, "topic": topic, "n": count,
                              "every": every}  # fmt: skip
    # Columns of a round: final RSS of skyhop, of upstream; replay rate of each; growth.
    rounds: list[list[float | None]] = []
    half = 0
    load = load_average()
    for r in range(ctx.repeats):
        _log(f"memory round {r + 1}: skyhop replay")
        sky, sky_rate = _replay(sys.executable, params)
        up, up_rate = None, None
        if ctx.upstream:
            _log(f"memory round {r + 1}: upstream replay")
            up, up_rate = _replay(ctx.upstream, params)
        for name, marks in (("skyhop", sky), ("upstream", up)):
            if marks:
                _log(f"memory: {name} RSS MiB every {every:,} msgs: "
                     f"{[round(m[1], 1) for m in marks]}")  # fmt: skip
        # librdkafka fills its prefetch queue during the first part of the replay, so
        # growth is measured over the second half: a per-message leak shows there.
        half = len(sky) // 2 - 1
        rounds.append([
            sky[-1][1], None if up is None else up[-1][1], sky_rate, up_rate,
            sky[-1][1] - sky[half][1], None if up is None else up[-1][1] - up[half][1],
        ])  # fmt: skip
    rss, up_rss = column(rounds, 0), column(rounds, 1)
    rss_ratio = ratios(rounds, 0, 1)
    ctx.rows.append(Row(
        "replay RSS", f"after {count:,} msgs", "MiB", rss and rss.median, None,
        up_rss and up_rss.median, "<= up", None if rss_ratio is None else rss_ratio.median <= 1,
        sky_range=rss, up_ratio=rss_ratio, load=load))  # fmt: skip
    rate, up_rate_s = column(rounds, 2), column(rounds, 3)
    ctx.rows.append(Row(
        "replay rate", f"{count:,} msgs", "msg/s", rate and rate.median, None,
        up_rate_s and up_rate_s.median, "-", None, sky_range=rate,
        up_ratio=ratios(rounds, 2, 3), load=load))  # fmt: skip
    g, up_g = column(rounds, 4), column(rounds, 5)
    mid = (half + 1) * every
    ctx.rows.append(Row(
        "replay RSS", f"growth {mid:,}->{count:,}", "MiB", g and g.median, None,
        up_g and up_g.median, "flat (<2 MiB)", None if g is None else g.median < 2.0,
        sky_range=g, load=load))  # fmt: skip
    if fetch_table:
        _fetch_table(ctx, params)


def _fetch_table(ctx: Context, params: dict[str, Any]) -> None:
    """Replay RSS and rate of skyhop under each of FETCH_SWEEP's settings, printed."""
    lines = []
    for conf in FETCH_SWEEP:
        rss, rate = [], []
        for r in range(ctx.repeats):
            _log(f"fetch table round {r + 1}: {conf or 'defaults'}")
            marks, value = _replay(sys.executable, {**params, "kafka_config": conf})
            rss.append(marks[-1][1])
            rate.append(value)
        rs, ra = Spread.of(rss), Spread.of(rate)
        assert rs is not None and ra is not None
        lines.append((conf or {"(skyhop defaults)": ""}, rs, ra, load_average()))
    ctx.notes.append(
        f"replay of 100k x 200 B by fetch settings (median [range] of {ctx.repeats} rounds):"
    )
    for conf, rs, ra, load in lines:
        ctx.notes.append(
            f"  RSS {rs.text(lambda v: f'{v:.1f}')} MiB  rate {ra.text(lambda v: f'{v:,.0f}')}"
            f" msg/s  load {load:.1f}  {conf}"
        )


def main(argv: list[str] | None = None) -> int:
    """Run the streaming benchmarks and print the table."""
    parser = argparse.ArgumentParser(prog="./run bench stream", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the messages")
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help="rounds; each figure is the median over them (at least 3)",
    )
    parser.add_argument(
        "--sweep-raw",
        action="store_true",
        help="only print raw confluent-kafka's rate under candidate settings",
    )
    parser.add_argument(
        "--fetch-table",
        action="store_true",
        help="with memory: also replay under each of FETCH_SWEEP's settings",
    )
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
        if args.sweep_raw:
            sweep_raw(ctx, cases)
            return 0
        if "produce" in only:
            bench_produce(ctx, cases)
        if "consume" in only:
            bench_consume(ctx, cases)
        if "latency" in only:
            bench_latency(ctx, max(50, int(1000 * scale)))
        if "startup" in only:
            bench_startup(ctx)
        if "memory" in only:
            bench_memory(ctx, max(1000, int(100_000 * scale)), workdir, args.fetch_table)
    print()
    print_table(ctx.rows)
    for note in ctx.notes:
        print(note)
    if args.json:
        Path(args.json).write_text(json.dumps([r.as_json() for r in ctx.rows], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
