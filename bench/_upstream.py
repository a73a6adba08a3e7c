"""The measuring script run under upstream hop-client 0.13 (the peers' virtualenv).

It is passed to ``python -P -c`` as a string: it must only import what the peers'
virtualenv holds, and it uses only the API the two share, so the replay scenario also
runs it under skyhop's interpreter. ``sys.argv[1]`` names the scenario, ``sys.argv[2]``
is a JSON object of parameters; the result is printed as one JSON line. The loops mirror
the skyhop and raw ones in :mod:`bench.bench_stream`, through upstream's public API and
with its defaults.
"""

from __future__ import annotations

SCRIPT = r"""
import json, sys, threading, time, uuid
from pathlib import Path
from hop import models
from hop.io import StartPosition, Stream

mode, p = sys.argv[1], json.loads(sys.argv[2])
url = "kafka://%s/%s" % (p["bootstrap"], p["topic"])

def model(kind, path):
    if kind == "voevent":
        return models.VOEvent.load_file(path)
    return models.JSONBlob(content=json.loads(Path(path).read_bytes()))

def produce():
    m = model(p["kind"], p["path"])
    w = Stream(auth=False).open(url, "w")
    w.write(m)
    w.flush()
    t0 = time.perf_counter()
    for _ in range(p["n"]):
        w.write(m)
    w.flush()
    elapsed = time.perf_counter() - t0
    w.close()
    return p["n"] / elapsed

def consume():
    s = Stream(auth=False, start_at=StartPosition.EARLIEST)
    r = s.open(url, "r", group_id="bench-up-" + uuid.uuid4().hex)
    got, t0 = 0, None
    for _ in r.read():
        got += 1
        if got == 1:
            t0 = time.perf_counter()
        if got == p["n"]:
            break
    elapsed = time.perf_counter() - t0
    r.close()
    return (p["n"] - 1) / elapsed

def latency():
    n, rate, pad = p["n"], p["rate"], "x" * p["pad"]
    lat, warm, done = [], threading.Event(), threading.Event()
    holder = {}
    def reader():
        r = Stream(auth=False).open(url, "r", group_id="bench-up-" + uuid.uuid4().hex)
        holder["r"] = r
        for m in r.read():
            now = time.perf_counter()
            c = m.content
            if c["phase"] == "m":
                lat.append(now - c["t"])
                if len(lat) >= n:
                    done.set()
                    break
            else:
                warm.set()
        r.close()
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    w = Stream(auth=False).open(url, "w")
    deadline = time.monotonic() + 60
    while not warm.is_set():
        if time.monotonic() > deadline:
            raise SystemExit("reader never saw a warm-up message")
        w.write(models.JSONBlob(content={"phase": "w", "t": time.perf_counter(), "pad": pad}))
        warm.wait(0.05)
    start = time.perf_counter()
    for i in range(n):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        c = {"phase": "m", "t": time.perf_counter(), "seq": i, "pad": pad}
        w.write(models.JSONBlob(content=c))
    done.wait(n / rate + 30)
    w.close()
    if "r" in holder:
        holder["r"].stop()
    t.join(10)
    return lat

def replay():
    import resource
    s = Stream(auth=False, start_at=StartPosition.EARLIEST)
    extra = {"kafka_config": p["kafka_config"]} if p.get("kafka_config") else {}
    r = s.open(url, "r", group_id="bench-up-" + uuid.uuid4().hex, **extra)
    page = resource.getpagesize()
    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * page / 2**20
    marks, got, every, t0 = [], 0, p["every"], None
    for _ in r.read():
        got += 1
        if got == 1:
            t0 = time.perf_counter()
        if got % every == 0:
            marks.append([got, rss()])
        if got == p["n"]:
            break
    rate = (got - 1) / (time.perf_counter() - t0)
    r.close()
    return {"marks": marks, "rate": rate}

print(json.dumps({"produce": produce, "consume": consume, "latency": latency,
                  "replay": replay}[mode]()))
"""
