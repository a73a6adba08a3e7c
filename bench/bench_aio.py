"""hop.aio against the synchronous hop.io API, and confluent-kafka's own asyncio clients.

Run on demand (not a test)::

    ./run bench aio [--rounds 3] [--count 20000] [--latency-count 1000] [--quick]

Starts the project's real Kafka broker and measures, in each round and in this one
process (these machines are noisy: only numbers measured side by side mean anything):

* **produce**: messages per second writing a 200 B JSON model and flushing;
  ``hop.io`` ``write`` + ``flush`` against ``hop.aio`` ``write_nowait`` + ``await
  flush()``;
* **consume**: messages per second reading models from a full topic; ``for`` over
  ``hop.io`` ``read()`` against ``async for`` over ``hop.aio``;
* **latency** at 100 msg/s: write to model in the reader, p50 and p99; ``hop.io`` with
  a reader thread against ``hop.aio`` with writer and reader in one event loop.

The third column, **ck.aio**, is confluent-kafka's ``confluent_kafka.aio``
(``AIOProducer``, ``AIOConsumer``) driven directly with hop's codec: the option hop.aio
did not take. Its producer cannot send headers (``produce(headers=...)`` raises
``NotImplementedError``), so its messages lack hop's ``_id``/``_format`` headers, and it
batches writes for up to ``buffer_timeout`` (1 s) unless flushed, so its latency run
flushes after every message.

The table shows the median of ``--rounds`` rounds and the spread (lowest-highest).
Goals (issue 17): hop.aio's throughput >= 0.8x hop.io's; its p99 latency <= hop.io's
+ 1 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench._harness import percentile
from bench.bench_stream import Case, _json_of_size, _Latency, fill_topic, sky_consume, sky_latency
from bench.bench_stream import sky_produce as sync_produce

_PAD = 150


def _log(text: str) -> None:
    print(f"bench: {text}", file=sys.stderr, flush=True)


def _group() -> str:
    return f"bench-aio-{uuid.uuid4().hex}"


def _model(case: Case) -> Any:
    from hop.models import JSONBlob

    return JSONBlob(content=json.loads(Path(case.path).read_bytes()))


# -- hop.aio ----------------------------------------------------------------------------


async def aio_produce(bootstrap: str, topic: str, case: Case) -> float:
    """hop.aio: ``write_nowait`` of a model per message, then ``await flush()``."""
    from hop.aio import Stream

    model = _model(case)
    async with Stream(auth=False).open(f"kafka://{bootstrap}/{topic}", "w") as w:
        await w.write(model)  # connection and topic metadata are not part of the rate
        start = time.perf_counter()
        for _ in range(case.count):
            w.write_nowait(model)
        await w.flush()
        elapsed = time.perf_counter() - start
    return case.count / elapsed


async def aio_consume(bootstrap: str, topic: str, case: Case) -> float:
    """hop.aio: ``async for`` over the stream, models, from the first message."""
    from hop.aio import Stream
    from hop.io import StartPosition

    stream = Stream(auth=False, start_at=StartPosition.EARLIEST)
    got, start = 0, 0.0
    async with stream.open(f"kafka://{bootstrap}/{topic}", "r", group_id=_group()) as r:
        async for _ in r:
            got += 1
            if got == 1:
                start = time.perf_counter()
            if got == case.count:
                break
        elapsed = time.perf_counter() - start
    return (case.count - 1) / elapsed


async def _drive(run: _Latency, write: Callable[[dict[str, Any]], Any], rate: float) -> None:
    # _Latency.drive's pacing, with asyncio.sleep so the reader shares the loop.
    pad = "x" * _PAD
    deadline = time.monotonic() + 60
    while not run.warm.is_set():
        if time.monotonic() > deadline:
            raise RuntimeError("latency: the reader never saw a warm-up message")
        await write({"phase": "w", "t": time.perf_counter(), "pad": pad})
        await asyncio.sleep(0.05)
    start = time.perf_counter()
    for i in range(run.count):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)  # pacing the writer, not synchronising
        await write({"phase": "m", "t": time.perf_counter(), "seq": i, "pad": pad})


async def aio_latency(bootstrap: str, topic: str, count: int, rate: float) -> list[float]:
    """hop.aio: writer and reader in one loop; ``write_nowait`` to the model read."""
    from hop.aio import Stream
    from hop.models import JSONBlob

    run = _Latency(count)
    url = f"kafka://{bootstrap}/{topic}"

    async def write_one(w: Any, content: dict[str, Any]) -> None:
        w.write_nowait(JSONBlob(content=content))

    async with Stream(auth=False).open(url, "r", group_id=_group()) as r:

        async def read() -> None:
            async for model in r:
                if run.seen(model.content, time.perf_counter()):
                    break

        reader = asyncio.create_task(read())
        async with Stream(auth=False).open(url, "w") as w:
            await _drive(run, lambda c: write_one(w, c), rate)
            await asyncio.wait_for(reader, 30)
    return run.delays


# -- confluent_kafka.aio, driven directly ---------------------------------------------


async def ck_produce(bootstrap: str, topic: str, case: Case) -> float:
    """AIOProducer: ``await produce()`` of hop's payload (no headers: it refuses them)."""
    from confluent_kafka.aio import AIOProducer

    from hop import _codec

    payload, _headers = _codec.pack(_model(case))
    producer = AIOProducer({"bootstrap.servers": bootstrap, "linger.ms": 2})
    try:
        await (await producer.produce(topic, payload))
        await producer.flush()
        start = time.perf_counter()
        for _ in range(case.count):
            await producer.produce(topic, payload)
        await producer.flush()
        elapsed = time.perf_counter() - start
    finally:
        await producer.close()
    return case.count / elapsed


async def ck_consume(bootstrap: str, topic: str, case: Case) -> float:
    """AIOConsumer: ``await consume(100, 0.25)`` and hop's decoder per message."""
    from confluent_kafka.aio import AIOConsumer

    from hop import _codec

    consumer = AIOConsumer(
        {"bootstrap.servers": bootstrap, "group.id": _group(), "auto.offset.reset": "earliest"}
    )
    await consumer.subscribe([topic])
    got, start = 0, 0.0
    deadline = time.monotonic() + 300
    try:
        while got < case.count:
            if time.monotonic() > deadline:
                raise RuntimeError(f"AIOConsumer: only {got} messages from {topic}")
            for msg in await consumer.consume(100, 0.25):
                if msg.error() is not None:
                    continue
                _codec.unpack(msg.value(), msg.headers(), msg)
                got += 1
                if got == 1:
                    start = time.perf_counter()
                if got == case.count:
                    break
        elapsed = time.perf_counter() - start
    finally:
        await consumer.close()
    return (case.count - 1) / elapsed


async def ck_latency(bootstrap: str, topic: str, count: int, rate: float) -> list[float]:
    """AIOProducer (flushed per message) and AIOConsumer ``poll`` in one loop."""
    from confluent_kafka.aio import AIOConsumer, AIOProducer

    from hop import _codec

    run = _Latency(count)
    consumer = AIOConsumer({"bootstrap.servers": bootstrap, "group.id": _group()})
    producer = AIOProducer({"bootstrap.servers": bootstrap, "linger.ms": 2})
    await consumer.subscribe([topic])

    async def read() -> None:
        while True:
            msg = await consumer.poll(0.1)
            if msg is None or msg.error() is not None:
                continue
            if run.seen(_codec.unpack(msg.value(), None, msg).content, time.perf_counter()):
                return

    async def write(content: dict[str, Any]) -> None:
        payload, _ = _codec.pack(content)
        await producer.produce(topic, payload)
        await producer.flush()  # else it waits up to buffer_timeout (1 s) to batch

    reader = asyncio.create_task(read())
    try:
        await _drive(run, write, rate)
        await asyncio.wait_for(reader, 30)
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
        await producer.close()
        await consumer.close()
    return run.delays


# -- the table --------------------------------------------------------------------------


def _median_spread(values: list[float]) -> str:
    if not values:
        return "-"
    med = statistics.median(values)
    digits = 0 if med >= 100 else 2
    return f"{med:,.{digits}f} ({min(values):,.{digits}f}-{max(values):,.{digits}f})"


def _print(rows: list[list[str]]) -> None:
    header = ["scenario", "unit", "hop.io (sync)", "hop.aio", "ck.aio", "aio/sync", "goal", "met"]
    table = [header, *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    for n, row in enumerate(table):
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def _rate_row(name: str, results: dict[str, list[float]]) -> list[str]:
    sync, aio, ck = results["sync"], results["aio"], results["ck"]
    ratio = statistics.median(aio) / statistics.median(sync)
    return [
        name, "msg/s", _median_spread(sync), _median_spread(aio), _median_spread(ck),
        f"{ratio:.2f}x", ">= 0.8x sync", "met" if ratio >= 0.8 else "not met",
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the hop.aio benchmark and print its table."""
    parser = argparse.ArgumentParser(prog="./run bench aio", description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds (median and spread)")
    parser.add_argument("--count", type=int, default=20000, help="messages per throughput run")
    parser.add_argument("--latency-count", type=int, default=1000, help="messages at 100/s")
    parser.add_argument("--quick", action="store_true", help="a tenth of the messages")
    args = parser.parse_args(argv)
    if args.rounds < 3:
        parser.error("--rounds must be at least 3 (the table shows a median and its spread)")
    count = max(200, args.count // 10) if args.quick else args.count
    latency_count = max(100, args.latency_count // 10) if args.quick else args.latency_count
    rate = 100.0

    from hop.testing import KafkaBroker

    rates: dict[str, dict[str, list[float]]] = {
        s: {"sync": [], "aio": [], "ck": []} for s in ("produce", "consume")
    }
    p50: dict[str, list[float]] = {"sync": [], "aio": [], "ck": []}
    p99: dict[str, list[float]] = {"sync": [], "aio": [], "ck": []}
    with tempfile.TemporaryDirectory(prefix="skyhop-bench-aio-") as tmp, KafkaBroker() as broker:
        small = Path(tmp) / "json-200.json"
        small.write_text(json.dumps(_json_of_size(200)))
        case = Case("200 B JSON", str(small), "json", count)
        bootstrap = broker.bootstrap["plaintext"]
        _log(f"broker up at {bootstrap}; {args.rounds} rounds")
        for n in range(1, args.rounds + 1):
            _log(f"round {n}: produce x {count}")
            topic = f"bench-aio-produce-{n}"
            broker.create_topic(topic)
            rates["produce"]["sync"].append(sync_produce(bootstrap, topic, case))
            rates["produce"]["aio"].append(asyncio.run(aio_produce(bootstrap, topic, case)))
            rates["produce"]["ck"].append(asyncio.run(ck_produce(bootstrap, topic, case)))
            broker.delete_topic(topic)
            _log(f"round {n}: consume x {count}")
            topic = f"bench-aio-consume-{n}"
            broker.create_topic(topic)
            fill_topic(bootstrap, topic, case, count)
            rates["consume"]["sync"].append(sky_consume(bootstrap, topic, case))
            rates["consume"]["aio"].append(asyncio.run(aio_consume(bootstrap, topic, case)))
            rates["consume"]["ck"].append(asyncio.run(ck_consume(bootstrap, topic, case)))
            broker.delete_topic(topic)
            _log(f"round {n}: latency, {latency_count} messages at {rate:g}/s")
            runs: dict[str, Callable[[str], list[float]]] = {
                "sync": lambda t: sky_latency(bootstrap, t, latency_count, rate, _PAD),
                "aio": lambda t: asyncio.run(aio_latency(bootstrap, t, latency_count, rate)),
                "ck": lambda t: asyncio.run(ck_latency(bootstrap, t, latency_count, rate)),
            }
            for name, fn in runs.items():
                topic = f"bench-aio-latency-{name}-{n}"
                broker.create_topic(topic)
                delays = fn(topic)
                if len(delays) < latency_count:
                    _log(f"latency {name}: only {len(delays)} of {latency_count} arrived")
                p50[name].append(percentile(delays, 50) * 1000)
                p99[name].append(percentile(delays, 99) * 1000)
                broker.delete_topic(topic)
    rows = [_rate_row("produce", rates["produce"]), _rate_row("consume", rates["consume"])]
    rows.append([
        "latency p50 @100/s", "ms", _median_spread(p50["sync"]), _median_spread(p50["aio"]),
        _median_spread(p50["ck"]), "-", "-", "-",
    ])  # fmt: skip
    sync99, aio99 = statistics.median(p99["sync"]), statistics.median(p99["aio"])
    rows.append([
        "latency p99 @100/s", "ms", _median_spread(p99["sync"]), _median_spread(p99["aio"]),
        _median_spread(p99["ck"]), f"{aio99 - sync99:+.2f} ms", "<= sync + 1 ms",
        "met" if aio99 <= sync99 + 1.0 else "not met",
    ])  # fmt: skip
    print()
    print(
        f"hop.aio benchmark: median (lowest-highest) of {args.rounds} rounds, {count} "
        f"messages of 200 B JSON per throughput run, {latency_count} at {rate:g} msg/s"
    )
    _print(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
