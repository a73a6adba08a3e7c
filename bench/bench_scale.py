"""Scale-out on a three-node cluster: a consumer group of 1, 2 and 4 reader processes.

``./run bench scale [--messages N] [--repeat R]``

Starts a :class:`hop.testing.KafkaCluster` (three nodes, replication 3,
``min.insync.replicas`` 2; its start-up time and memory are reported), creates a topic
with 8 partitions, and measures:

* produce throughput to it: skyhop's ``Producer`` with its defaults (``acks=all``,
  idempotent) and with ``use_idempotence=False`` (upstream's setting), messages per
  second until ``close()`` returned;
* consumer-group throughput: N messages read by 1, 2 and 4 reader processes of one
  group (each ``Stream.open(..., "r")``, ``until_eos``, with ``--work-us`` of CPU per
  message standing for the handler's work), from the group's first message to its last.
  "steady" counts only the time when every member was reading, so the group's joins
  and rebalances, and the tail when some members are done, are left out.

Each round measures 1, 2 and 4 readers back to back; ratios are to one reader in the
same round; the median over rounds is reported. On a two-core machine shared with the
three broker JVMs, more reader processes cannot add CPU: the ratios show the cost of
coordination rather than a speed-up (see the printed note).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PARTITIONS = 8

_MEMBER = r"""
import json, sys, time
from hop.io import StartPosition, Stream

url, group, work_us = sys.argv[1], sys.argv[2], float(sys.argv[3])
work = work_us / 1e6
clock = time.perf_counter
reader = Stream(auth=False, start_at=StartPosition.EARLIEST, until_eos=True)
count, marks = 0, []
with reader.open(url, "r", group_id=group) as s:
    for _ in s.read():
        if work:
            # The handler's own work: a busy wait, as CPU-bound handling would be.
            end = clock() + work
            while clock() < end:
                pass
        count += 1
        if count % 100 == 1:
            marks.append(time.time())
    marks.append(time.time())
print(json.dumps({"count": count, "marks": marks if count else []}), flush=True)
"""


def _produce_rate(bootstrap: str, topic: str, count: int, **options: Any) -> float:
    from hop.io import Stream

    content = {"alert": "x" * 170}
    start = time.perf_counter()
    with Stream(auth=False).open(f"kafka://{bootstrap}/{topic}", "w", **options) as s:
        for i in range(count):
            s.write(content, key=str(i))
    return count / (time.perf_counter() - start)


def _group_rate(
    bootstrap: str, topic: str, readers: int, count: int, work_us: float
) -> tuple[float, float]:
    """(overall, steady) messages per second of ``readers`` processes in a new group.

    Overall: all messages over the time from the group's first message to its last.
    Steady: only the time when every member was reading (after the joins and
    rebalances, before the first member ran out of partitions).
    """
    group = f"bench-scale-{uuid.uuid4().hex[:8]}"
    url = f"kafka://{bootstrap}/{topic}"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    procs = [subprocess.Popen([sys.executable, "-P", "-c", _MEMBER, url, group, str(work_us)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(readers)]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=900)
        if proc.returncode != 0:
            raise RuntimeError(f"reader exited with {proc.returncode}: {err[-2000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    active = [r for r in results if r["count"]]
    got = sum(r["count"] for r in results)
    if got < count:
        raise RuntimeError(f"the group read {got} of {count} messages")
    first = min(r["marks"][0] for r in active)
    last = max(r["marks"][-1] for r in active)
    overall = count / (last - first)
    if len(active) < readers:
        return overall, overall  # a member never got a partition: no common window
    start = max(r["marks"][0] for r in active)
    end = min(r["marks"][-1] for r in active)
    if end - start < 1.0:
        return overall, overall
    in_window = sum(100 * sum(1 for t in r["marks"][:-1] if start <= t < end) for r in active)
    return overall, in_window / (end - start)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(prog="./run bench scale", description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000,
                        help="written twice per round (defaults, idempotent)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (median reported)")
    parser.add_argument("--work-us", type=float, default=50.0,
                        help="handler work per message, microseconds of CPU (0: none)")
    args = parser.parse_args(argv)

    from hop.testing import KafkaCluster

    with KafkaCluster(nodes=3) as cluster:
        rss = cluster.rss_bytes()
        print(f"cluster of 3 started in {cluster.startup_seconds:.1f} s; RSS MiB per node "
              + ", ".join(f"{(v or 0) / 2**20:.0f}" for v in rss.values()),
              file=sys.stderr, flush=True)
        bootstrap = cluster.bootstrap["plaintext"]
        produce: dict[str, list[float]] = {"defaults (idempotent)": [],
                                           "use_idempotence=False": []}
        options = {"defaults (idempotent)": {}, "use_idempotence=False": {"use_idempotence": False}}
        groups: dict[int, list[tuple[float, float]]] = {1: [], 2: [], 4: []}
        for k in range(args.repeat):
            topic = f"bench-scale-{k}"
            cluster.create_topic(topic, partitions=PARTITIONS)
            # Alternate which goes first: the first writes of a round meet colder caches.
            for name in sorted(produce, reverse=bool(k % 2)):
                produce[name].append(
                    _produce_rate(bootstrap, topic, args.messages, **options[name]))
            total = 2 * args.messages
            for readers in groups:
                groups[readers].append(
                    _group_rate(bootstrap, topic, readers, total, args.work_us))
            print(f"round {k + 1}: produce "
                  + ", ".join(f"{n} {r[-1]:,.0f}/s" for n, r in produce.items())
                  + "; readers " + ", ".join(f"{n}: {r[-1][0]:,.0f}/s" for n, r in groups.items()),
                  file=sys.stderr, flush=True)
        after = cluster.rss_bytes()
    print(f"\ncluster: 3 nodes, started in {cluster.startup_seconds:.1f} s, RSS MiB at start "
          + "/".join(f"{(v or 0) / 2**20:.0f}" for v in rss.values()) + ", after the runs "
          + "/".join(f"{(v or 0) / 2**20:.0f}" for v in after.values()))
    print(f"\nproduce to an {PARTITIONS}-partition topic (replication 3, min ISR 2), "
          f"{args.messages:,} x 200 B, median of {args.repeat}")
    base = produce["defaults (idempotent)"]
    for name, values in produce.items():
        ratios = [v / b for v, b in zip(values, base, strict=True)]
        print(f"  {name:<22} {statistics.median(values):>10,.0f} msg/s   "
              f"{statistics.median(ratios):.2f}x defaults")
    print(f"\nconsumer group on {PARTITIONS} partitions, {2 * args.messages:,} messages, "
          f"handler work {args.work_us:g} us/message, median of {args.repeat}")
    print(f"  {'readers':<8} {'msg/s':>10} {'vs 1':>6} {'steady msg/s':>13} {'vs 1':>6}")
    for readers, values in groups.items():
        overall = [v[0] / b[0] for v, b in zip(values, groups[1], strict=True)]
        steady = [v[1] / b[1] for v, b in zip(values, groups[1], strict=True)]
        rate = statistics.median(v[0] for v in values)
        steady_rate = statistics.median(v[1] for v in values)
        print(f"  {readers:<8} {rate:>10,.0f} {statistics.median(overall):>5.2f}x "
              f"{steady_rate:>13,.0f} {statistics.median(steady):>5.2f}x")
    print(f"\nnote: this machine has {os.cpu_count()} cores, shared by the three broker JVMs, "
          "the readers and other users; reader processes beyond the free cores cannot read "
          "faster, they only split the same CPU.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
