"""Consumer throughput with ``deduplicate=True`` vs off, on one broker (``./run bench dedupe``).

A topic is filled with ``--messages`` 200-byte JSON messages, each with its own ``_id``
(as hop writes them). Each round reads all of them with ``read()`` three ways, back to
back, each as a new consumer group: deduplication off, on (the in-memory window), and on
with a ``dedupe_path`` store. A rate is messages per second from the first message to
the last; the ratio to "off" of the same round is taken and the median over
``--repeat`` rounds reported, which keeps a shared machine's load swings out of it.
Goal: deduplicate on >= 0.9x off. The store (one locked append per message) has no goal:
it is reported so its cost is known.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _fill(bootstrap: str, topic: str, count: int) -> None:
    import confluent_kafka

    from hop import _codec

    payload, headers = _codec.pack({"alert": "x" * 170})
    others = [h for h in headers if h[0] != "_id"]
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "linger.ms": 50})
    for _ in range(count):
        # A fresh _id per message, as a hop writer gives each one.
        message_headers = [("_id", uuid.uuid4().bytes), *others]
        while True:
            try:
                producer.produce(topic, payload, headers=message_headers)
                break
            except BufferError:
                producer.poll(0.05)
    if producer.flush(120):
        raise RuntimeError(f"could not fill {topic}")


def _read_rate(bootstrap: str, topic: str, count: int, **options: Any) -> float:
    from hop.io import StartPosition, Stream

    stream = Stream(auth=False, start_at=StartPosition.EARLIEST)
    got, start = 0, 0.0
    with stream.open(f"kafka://{bootstrap}/{topic}", "r", group_id=f"bench-{uuid.uuid4().hex}",
                     **options) as reader:
        for _ in reader.read():
            got += 1
            if got == 1:
                start = time.perf_counter()
            if got == count:
                break
        elapsed = time.perf_counter() - start
    if got != count:
        raise RuntimeError(f"read {got} of {count} messages")
    return (count - 1) / elapsed


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(prog="./run bench dedupe", description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5, help="rounds (median reported)")
    args = parser.parse_args(argv)

    from hop.testing import KafkaBroker

    with tempfile.TemporaryDirectory(prefix="skyhop-bench-dedupe-") as tmp, \
            KafkaBroker() as broker:  # fmt: skip
        bootstrap = broker.bootstrap["plaintext"]
        topic = "bench-dedupe"
        broker.create_topic(topic)
        print(f"filling {topic} with {args.messages:,} messages", file=sys.stderr, flush=True)
        _fill(bootstrap, topic, args.messages)
        rates: dict[str, list[float]] = {"off": [], "on": [], "on + dedupe_path": []}
        for k in range(args.repeat):
            rates["off"].append(_read_rate(bootstrap, topic, args.messages))
            rates["on"].append(_read_rate(bootstrap, topic, args.messages, deduplicate=True))
            rates["on + dedupe_path"].append(_read_rate(
                bootstrap, topic, args.messages, dedupe_path=Path(tmp, f"ids-{k}")))
            print(f"round {k + 1}: " + ", ".join(f"{name} {r[-1]:,.0f}/s"
                                                  for name, r in rates.items()),
                  file=sys.stderr, flush=True)
    print(f"\nconsumer throughput, {args.messages:,} x 200 B JSON, one partition, "
          f"median of {args.repeat} rounds")
    print(f"{'deduplicate':<20} {'msg/s (median)':>15} {'best':>10} {'vs off':>12}  goal")
    base = rates["off"]
    for name, values in rates.items():
        ratios = [v / b for v, b in zip(values, base, strict=True)]
        ratio = statistics.median(ratios)
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
        goal = ">= 0.9x " + ("met" if ratio >= 0.9 else "NOT met") if name == "on" else ""
        print(f"{name:<20} {statistics.median(values):>15,.0f} {max(values):>10,.0f} "
              f"{ratio:>6.2f}x ({spread})  {goal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
