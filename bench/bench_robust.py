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
same round, and the median over ``--repeat`` rounds is reported (with the best rate),
which keeps a shared machine's load swings out of the ratios.
Goals: RobustProducer no-fsync >= 0.5x, fsync >= 0.2x.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Runs under either interpreter; argv: url, mode, messages, writer threads, journal dir,
# batch size (> 0: the writer calls write_many with batches of that many messages).
MEASURE = r"""
import json, os, sys, threading, time
url, mode, n, threads, tmp, batch = sys.argv[1:7]
n, threads, batch = int(n), int(threads), int(batch)
pad = "x" * 100

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
print(json.dumps({"rate": (n // threads) * threads / elapsed}))
"""


def _measure(python: str, url: str, mode: str, messages: int, threads: int,
             env: dict[str, str] | None = None, batch: int = 0) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [python, "-P", "-c", MEASURE, url, mode, str(messages), str(threads), tmp,
             str(batch)],
            capture_output=True, text=True, timeout=900, env=env, check=False,
        )
    if proc.returncode != 0:
        raise SystemExit(f"{mode} failed under {python}:\n{proc.stderr[-3000:]}")
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["rate"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--fsync-messages", type=int, default=5_000,
                        help="messages for the one-writer fsync run (one fsync each)")
    parser.add_argument("--bootstrap", help="use this broker instead of starting one")
    parser.add_argument("--no-upstream", action="store_true")
    parser.add_argument("--repeat", type=int, default=5,
                        help="interleaved rounds; ratios are the median over rounds")
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
        rounds: list[dict[str, float]] = []
        # Interleaved rounds: each round measures every configuration back to back, so
        # a ratio compares runs that saw the same load on a shared machine.
        for _ in range(args.repeat):
            rates: dict[str, float] = {}
            for label, python, mode, count, threads, batch in runs:
                rates[label] = _measure(python, url(), mode, count, threads,
                                        env if python != ours else dict(os.environ), batch)
                print(f"  measured {label}: {rates[label]:,.0f} msg/s", file=sys.stderr)
            rounds.append(rates)
    finally:
        if broker is not None:
            broker.close()

    base_label = runs[0][0]
    width = max(len(label) for label, *_ in runs)
    print(f"{'configuration':<{width}}  {'best msg/s':>10}  {'median ratio vs Producer':>24}")
    for label, *_ in runs:
        best = max(r[label] for r in rounds)
        ratio = statistics.median(r[label] / r[base_label] for r in rounds)
        print(f"{label:<{width}}  {best:>10,.0f}  {ratio:>23.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
