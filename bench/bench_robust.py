"""Throughput of RobustProducer in each durability mode vs the plain Producer and upstream.

Run on demand (not a test)::

    .venv/bin/python bench/bench_robust.py [--messages 20000] [--bootstrap HOST:PORT]

Starts a Kafka broker on 127.0.0.1 (unless ``--bootstrap`` names one), then runs one
measuring script per configuration, each in a fresh subprocess, against a fresh topic:

* skyhop's plain ``Producer`` (``Stream.open(url, "w")``, write all, ``close()``);
* skyhop's ``RobustProducer`` with ``durability="none"`` and ``"fsync"``; fsync is
  measured with one writer thread and with 8 and 32 (group commit shares fsyncs between
  concurrent writers; a lone writer waits for one fsync per message);
* both modes again with one writer calling ``write_many`` with batches of 100 (one
  write and, with fsync, one fsync per batch);
* upstream hop-client 0.13.0's ``Producer`` and ``RobustProducer``, in the peers'
  virtualenv (built by ``tests/_peers.py`` on first use; ``--no-upstream`` skips them).

A rate is messages per second from the first write until every message is
acknowledged by the broker (``close()``/``stop()`` returned). Each round measures
every configuration back to back; a ratio is against skyhop's plain Producer of the
same round. Rates and ratios are the median over ``--repeat`` rounds with their range,
which keeps a shared machine's load swings out of the ratios. Each round also measures
the disk's fsync latency (append + ``fdatasync`` in the temporary directory the
journals use): a lone fsync writer cannot beat 1 / that latency. The records/fsync
column is the batching group commit achieved (messages / ``fdatasync`` calls).
Goals (issue 18): RobustProducer durability none >= 0.5x, fsync with 32 writers >= 0.2x.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._harness import Spread, load_average  # noqa: E402

# Runs under either interpreter; argv: url, mode, messages, writer threads, journal dir,
# batch size (> 0: the writer calls write_many with batches of that many messages).
MEASURE = r"""
import json, os, sys, threading, time
url, mode, n, threads, tmp, batch = sys.argv[1:7]
n, threads, batch = int(n), int(threads), int(batch)
pad = "x" * 100
syncs = [0]

def run_writers(write):
    share = n // threads
    def work(base):
        for i in range(base, base + share):
            write({"seq": i, "pad": pad})
    if threads == 1:
        work(0)
        return
    ts = [threading.Thread(target=work, args=(k * share,)) for k in range(threads)]
    for t in ts: t.start()
    for t in ts: t.join()

if mode == "plain":
    from hop.io import Stream
    producer = Stream(auth=False).open(url, "w")
    start = time.perf_counter()
    run_writers(producer.write)
    producer.close()
else:
    from hop.robust_publisher import RobustProducer
    kwargs = {} if mode == "upstream" else {"durability": mode}
    if mode != "upstream":
        # Count the journal's fdatasyncs, to show how many records each one covered.
        from hop._robust import file as journal_file
        real_sync = journal_file._datasync
        def counting_sync(fd):
            syncs[0] += 1
            real_sync(fd)
        journal_file._datasync = counting_sync
    publisher = RobustProducer(url, auth=False, journal_path=os.path.join(tmp, "pub.journal"),
                               **kwargs)
    publisher.start()
    start = time.perf_counter()
    if batch:
        for b in range(0, n, batch):
            publisher.write_many({"seq": i, "pad": pad} for i in range(b, min(n, b + batch)))
    else:
        run_writers(publisher.write)
    publisher.stop()
elapsed = time.perf_counter() - start
print(json.dumps({"rate": (n // threads) * threads / elapsed, "syncs": syncs[0],
                  "messages": (n // threads) * threads}))
"""


def _measure(python: str, url: str, mode: str, messages: int, threads: int,
             env: dict[str, str] | None = None, batch: int = 0) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [python, "-P", "-c", MEASURE, url, mode, str(messages), str(threads), tmp,
             str(batch)],
            capture_output=True, text=True, timeout=900, env=env, check=False,
        )
    if proc.returncode != 0:
        raise SystemExit(f"{mode} failed under {python}:\n{proc.stderr[-3000:]}")
    out: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def fsync_latency(directory: str, count: int = 200) -> list[float]:
    """Seconds of each of ``count`` append-then-fdatasync of a 200 B record in ``directory``.

    What a lone fsync writer waits for per message; 1 / the median is its ceiling.
    """
    sync = getattr(os, "fdatasync", os.fsync)
    times = []
    with tempfile.NamedTemporaryFile(dir=directory) as f:
        fd = f.fileno()
        for _ in range(count):
            start = time.perf_counter()
            os.write(fd, b"x" * 200)
            sync(fd)
            times.append(time.perf_counter() - start)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--fsync-messages", type=int, default=5_000,
                        help="messages for the one-writer fsync run (one fsync each)")
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument("--no-upstream", action="store_true")
    parser.add_argument("--only", metavar="TEXT", default="",
                        help="only the configurations whose label contains TEXT (and the "
                             "plain Producer, the base of every ratio)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="interleaved rounds (at least 3); figures are medians over them")
    args = parser.parse_args(argv)

    from hop.testing import KafkaBroker

    broker = None
    if args.bootstrap:
        bootstrap = args.bootstrap
    else:
        broker = KafkaBroker()
        broker.start()
        bootstrap = broker.bootstrap["plaintext"]
    try:
        def url() -> str:
            topic = f"bench-robust-{uuid.uuid4().hex[:8]}"
            if broker is not None:
                broker.create_topic(topic, 1)
            return f"kafka://{bootstrap}/{topic}"

        ours = sys.executable
        n = args.messages
        # (label, interpreter, mode, messages, writer threads, write_many batch size)
        runs = [
            ("skyhop Producer", ours, "plain", n, 1, 0),
            ("skyhop RobustProducer durability=none", ours, "none", n, 1, 0),
            ("skyhop RobustProducer durability=none, write_many(100)", ours, "none", n, 1,
             100),
            ("skyhop RobustProducer durability=fsync, 1 writer", ours, "fsync",
             args.fsync_messages, 1, 0),
            ("skyhop RobustProducer durability=fsync, 8 writers", ours, "fsync", n, 8, 0),
            ("skyhop RobustProducer durability=fsync, 32 writers", ours, "fsync", n, 32, 0),
            ("skyhop RobustProducer durability=fsync, write_many(100)", ours, "fsync", n, 1,
             100),
        ]
        env = None
        if not args.no_upstream:
            from tests._peers import _clean_env, ensure_peers_python

            peers = str(ensure_peers_python())
            env = _clean_env()
            runs += [
                ("upstream Producer", peers, "plain", n, 1, 0),
                ("upstream RobustProducer", peers, "upstream", n, 1, 0),
            ]
        if args.only:
            runs = [runs[0], *(r for r in runs[1:] if args.only in r[0])]
        rounds: list[dict[str, dict[str, float]]] = []
        loads: list[float] = []
        latencies: list[float] = []
        # Interleaved rounds: each round measures every configuration back to back, so
        # a ratio compares runs that saw the same load on a shared machine.
        for r in range(args.repeat):
            results: dict[str, dict[str, float]] = {}
            loads.append(load_average())
            # The disk's own fsync latency, measured in each round where the journals go.
            latencies.append(statistics.median(fsync_latency(tempfile.gettempdir())))
            for label, python, mode, count, threads, batch in runs:
                results[label] = _measure(python, url(), mode, count, threads,
                                          env if python != ours else dict(os.environ), batch)
                print(f"  round {r + 1}: {label}: {results[label]['rate']:,.0f} msg/s",
                      file=sys.stderr)
            rounds.append(results)
    finally:
        if broker is not None:
            broker.close()

    base_label = runs[0][0]
    goals = {
        "skyhop RobustProducer durability=none": 0.5,
        "skyhop RobustProducer durability=fsync, 32 writers": 0.2,
    }
    latency = Spread.of(latencies)
    assert latency is not None
    ceiling = 1 / latency.median
    width = max(len(label) for label, *_ in runs)
    print(f"fsync latency on {tempfile.gettempdir()} (append 200 B + fdatasync, median of 200, "
          f"per round): {latency.text(lambda v: f'{v * 1000:.2f}')} ms -> one writer's "
          f"ceiling {ceiling:,.0f} msg/s")
    print(f"{'configuration':<{width}}  {'msg/s [range]':>24}  {'vs Producer [range]':>20}  "
          f"{'records/fsync':>13}  {'goal':>6}  met")
    for label, _python, mode, _count, threads, _batch in runs:
        rate = Spread.of([r[label]["rate"] for r in rounds])
        ratio = Spread.of([r[label]["rate"] / r[base_label]["rate"] for r in rounds])
        assert rate is not None and ratio is not None
        per_sync = "-"
        if mode == "fsync":
            per_sync = f"{statistics.median(r[label]['messages'] / max(1, r[label]['syncs']) for r in rounds):.1f}"  # noqa: E501
        goal = goals.get(label)
        met = "-" if goal is None else ("yes" if ratio.median >= goal else "NO")
        note = ""
        if mode == "fsync" and threads == 1 and not _batch:
            note = f"  (ceiling 1/fsync latency: {ceiling:,.0f} msg/s)"
        print(f"{label:<{width}}  {rate.text(lambda v: f'{v:,.0f}'):>24}  "
              f"{ratio.text(lambda v: f'{v:.2f}') + 'x':>20}  {per_sync:>13}  "
              f"{'-' if goal is None else f'>={goal}x':>6}  {met}{note}")
    print(f"load average at the start of each round: {', '.join(f'{x:.1f}' for x in loads)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
