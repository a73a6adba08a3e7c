"""Benchmark: the alert bridge, Kafka produce -> SAMP receipt, at 10 alerts/s.

Run on demand (not a test)::

    ./run bench bridge [--voevents 200] [--igwn 60] [--rate 10]

Starts the project's Kafka broker, our SAMP hub, a receiving SAMP client and an
:class:`~hop.samp.bridge.AlertBridge`, all in this process (so one clock times both
ends), then publishes alerts at ``--rate`` per second and measures, per alert, the
time from just before ``write`` to the receiver getting

* the first notification (``coord.pointAt.sky`` for a VOEvent; ``image.load.fits``
  for an IGWN alert: what the astronomer sees first), and
* ``x-hop.alert``, the last one (the whole alert delivered).

Per-stage times come from the bridge itself (``on_forward``): decode, read (the FITS
table), write (cache files), flatten, moc, notify. Baselines measured in the same run:
Kafka produce -> hop reader (no SAMP), and SAMP notify -> receipt through the hub;
"ratio" is the bridge's p50 over their sum.

The IGWN alert is a real ~1 MB sky map (``../shared/testdata/igwn``) when present,
else a synthetic one of the same size. Goals (issue 16): VOEvent p99 <= 20 ms; IGWN
alert with a 1 MB sky map p99 <= 500 ms.
"""

from __future__ import annotations

import argparse
import base64
import json
import math
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._harness import TESTDATA, percentile, wait_until  # noqa: E402

VOEVENT = """<?xml version='1.0' encoding='UTF-8'?>
<voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" version="2.0" role="observation"
    ivorn="ivo://skyhop.bench/voevent#{n}">
  <Who><AuthorIVORN>ivo://skyhop.bench</AuthorIVORN><Date>2024-05-01T13:45:00</Date></Who>
  <What><Param name="n" value="{n}"/></What>
  <WhereWhen><ObsDataLocation><ObservatoryLocation id="GEOSURFACE"/><ObservationLocation>
    <AstroCoordSystem id="UTC-FK5-GEO"/>
    <AstroCoords coord_system_id="UTC-FK5-GEO">
      <Time unit="s"><TimeInstant><ISOTime>2024-05-01T13:42:10.50</ISOTime></TimeInstant></Time>
      <Position2D unit="deg"><Name1>RA</Name1><Name2>Dec</Name2>
        <Value2><C1>{ra}</C1><C2>{dec}</C2></Value2><Error2Radius>0.01</Error2Radius>
      </Position2D>
    </AstroCoords>
  </ObservationLocation></ObsDataLocation></WhereWhen>
</voe:VOEvent>
"""


def _synthetic_skymap() -> bytes:
    """A ~1 MB multi-order map: order 4 everywhere, 1,000 pixels refined to order 6."""
    from hop._skymap import Pixel, nuniq, pixel_area, write_moc_fits

    refined = set(range(1000, 2000))
    weighted = []
    for p in range(12 * 4**4):
        if p in refined:
            for c in range(16 * p, 16 * p + 16):
                weighted.append((6, c, math.exp(-((c - 24000) / 4000) ** 2)))
        else:
            weighted.append((4, p, 1e-6))
    total = sum(w for _, _, w in weighted)
    pixels = [Pixel(nuniq(o, i), w / total / pixel_area(o), 100.0, 20.0, 1e-4)
              for o, i, w in weighted]  # fmt: skip
    return write_moc_fits(sorted(pixels, key=lambda px: px.uniq),
                          [("OBJECT", "S240501bench", "synthetic")])  # fmt: skip


def _igwn_content() -> tuple[dict[str, Any], str]:
    real = TESTDATA / "igwn" / "MS181101ab-preliminary.json"
    if real.is_file():
        content = json.loads(real.read_text())
        source = "real (MS181101ab, shared testdata)"
    else:
        from hop._samples import igwn_alert

        content = json.loads(json.dumps(igwn_alert().content))
        content["event"]["skymap"] = base64.b64encode(_synthetic_skymap()).decode()
        source = "synthetic (no shared testdata)"
    size = len(content["event"]["skymap"])
    return content, f"{source}, sky map {size / 1e6:.2f} MB base64"


# The receiving desktop client, in its own process like a real tool: prints, for each
# alert, when its first notification and its x-hop.alert arrived (CLOCK_MONOTONIC,
# which every process on the machine shares).
RECEIVER = r"""
import json, sys, threading, time
from hop.samp import SAMPIntegratedClient
from hop.samp._lockfile import read_lockfile
from hop.samp.bridge import BRIDGE_MTYPES
lock = threading.Lock()
first = []
def on_note(key, sender, mtype, params, extra):
    now = time.monotonic()
    with lock:
        if mtype != "x-hop.alert":
            if not first:
                first.append(now)
            return
        print(json.dumps({"id": params["id"], "first": first[0] if first else now,
                          "last": now}), flush=True)
        first.clear()
client = SAMPIntegratedClient("bench receiver")
client.connect(hub_params=read_lockfile(sys.argv[1]))
for mtype in BRIDGE_MTYPES + ("bench.note",):
    client.bind_receive_notification(mtype, on_note)
print(json.dumps({"ready": client.get_public_id()}), flush=True)
sys.stdin.read()
client.disconnect()
"""

# The alert source, in its own process: sends pre-packed messages at a fixed rate and
# prints when each write started.
PRODUCER = r"""
import base64, json, sys, time
from hop import Stream
url, rate, path = sys.argv[1], float(sys.argv[2]), sys.argv[3]
messages = json.load(open(path))
with Stream(auth=False).open(url, "w") as writer:
    start = time.monotonic() + 0.5
    for n, (payload, headers) in enumerate(messages):
        due = start + n / rate
        while time.monotonic() < due:
            time.sleep(min(0.002, max(0.0, due - time.monotonic())))
        sent = time.monotonic()
        writer.write_raw(base64.b64decode(payload),
                         [(k, base64.b64decode(v)) for k, v in headers])
        print(json.dumps({"id": headers[0][1], "sent": sent}), flush=True)
"""


def _child(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", script, *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip


def _publish(url: str, messages: list[Any], rate: float, folder: Path) -> dict[str, float]:
    """Send ``messages`` from a child process at ``rate``; return {id: monotonic send time}."""
    from hop._codec import pack

    packed = []
    for model in messages:
        payload, headers = pack(model)
        ids = [v for k, v in headers if k == "_id"]
        order = [("_id", ids[0])] + [(k, v) for k, v in headers if k != "_id"]
        packed.append([base64.b64encode(payload).decode(),
                       [(k, base64.b64encode(v if isinstance(v, bytes) else v.encode()).decode())
                        for k, v in order]])  # fmt: skip
    path = folder / f"messages-{uuid.uuid4().hex[:6]}.json"
    path.write_text(json.dumps(packed))
    proc = _child(PRODUCER, url, str(rate), str(path))
    out, _ = proc.communicate(timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"the producer failed ({proc.returncode})")
    sent = {}
    for line in out.splitlines():
        record = json.loads(line)
        sent[str(uuid.UUID(bytes=base64.b64decode(record["id"])))] = record["sent"]
    return sent


class _ReceiverProcess:
    def __init__(self, lockfile: Path) -> None:
        self.proc = _child(RECEIVER, str(lockfile))
        assert self.proc.stdout is not None
        self.id = json.loads(self.proc.stdout.readline())["ready"]
        self.times: dict[str, tuple[float, float]] = {}
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            record = json.loads(line)
            self.times[record["id"]] = (record["first"], record["last"])

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait(30)
        self._thread.join(10)


def _run_bridge_case(
    url: str, lockfile: Path, folder: Path, messages: list[Any], rate: float
) -> dict[str, Any]:
    from hop.io import StartPosition
    from hop.samp.bridge import AlertBridge, ForwardedAlert

    stages: list[dict[str, float]] = []

    def on_forward(report: ForwardedAlert) -> None:
        stages.append(dict(report.timings))

    receiver = _ReceiverProcess(lockfile)
    bridge = AlertBridge(url, auth=False, start_at=StartPosition.LATEST, hub_url=str(lockfile),
                         cache_dir=folder / "maps", memory_file=False, on_forward=on_forward,
                         test=True, group_id=f"bench-{uuid.uuid4().hex[:8]}")  # fmt: skip
    try:
        with bridge:
            time.sleep(3.0)  # let the reader join its group before the clock starts
            sent = _publish(url, messages, rate, folder)
            wait_until(lambda: len(receiver.times) >= len(messages), 120,
                       "every alert at the client")  # fmt: skip
    finally:
        receiver.close()
    first = [(receiver.times[k][0] - t) * 1e3 for k, t in sent.items()]
    last = [(receiver.times[k][1] - t) * 1e3 for k, t in sent.items()]
    names = ("decode", "read", "write", "flatten", "moc", "notify")
    per_stage = {n: statistics.median(s.get(n, 0.0) for s in stages) * 1e3 for n in names}
    p99_stage = {n: percentile([s.get(n, 0.0) * 1e3 for s in stages], 99) for n in names}
    return {"first": first, "last": last, "stages": per_stage, "stages_p99": p99_stage}


def _kafka_baseline(url: str, count: int, rate: float, folder: Path) -> list[float]:
    from hop import Stream
    from hop.io import StartPosition
    from hop.models import JSONBlob

    got: dict[str, float] = {}
    group = f"bench-base-{uuid.uuid4().hex[:8]}"
    stop = threading.Event()

    def read() -> None:
        stream = Stream(auth=False, start_at=StartPosition.LATEST)
        with stream.open(url, "r", group_id=group) as reader:
            for _, meta in reader.read(metadata=True):
                got[str(uuid.UUID(bytes=dict(meta.headers)["_id"]))] = time.monotonic()
                if stop.is_set() or len(got) >= count:
                    return

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    time.sleep(3.0)
    sent = _publish(url, [JSONBlob({"n": n}) for n in range(count)], rate, folder)
    wait_until(lambda: len(got) >= count, 60, "the baseline reader")
    stop.set()
    thread.join(10)
    return [(got[k] - t) * 1e3 for k, t in sent.items()]


def _samp_baseline(lockfile: Path, count: int, rate: float) -> list[float]:
    from hop.samp import SAMPIntegratedClient
    from hop.samp._lockfile import read_lockfile

    receiver = _ReceiverProcess(lockfile)
    sender = SAMPIntegratedClient("bench sender", callable=False)
    sender.connect(hub_params=read_lockfile(lockfile))
    sent = {}
    try:
        for n in range(count):
            key = f"n{n}"
            sent[key] = time.monotonic()
            # x-hop.alert shape, so the receiver times it like an alert's last message.
            sender.enotify(receiver.id, "x-hop.alert", id=key)
            time.sleep(1.0 / rate)
        wait_until(lambda: len(receiver.times) >= count, 30, "the SAMP baseline receiver")
    finally:
        sender.disconnect()
        receiver.close()
    return [(receiver.times[k][1] - t) * 1e3 for k, t in sent.items()]


def _row(cells: list[str], widths: list[int]) -> str:
    return "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths,
                                                                                     strict=True)))


def main(argv: list[str] | None = None) -> int:
    """Run the bridge benchmark and print the latency table."""
    parser = argparse.ArgumentParser(prog="./run bench bridge", description=__doc__.split("\n")[0])
    parser.add_argument("--voevents", type=int, default=200, help="VOEvents to send (200)")
    parser.add_argument("--igwn", type=int, default=60, help="IGWN alerts to send (60)")
    parser.add_argument("--rate", type=float, default=10.0, help="alerts per second (10)")
    args = parser.parse_args(argv)

    from hop.models import JSONBlob, VOEvent
    from hop.testing import KafkaBroker

    igwn, igwn_source = _igwn_content()
    voevents = [VOEvent.deserialize(VOEVENT.format(n=n, ra=(n * 7.3) % 360, dec=-30 + n % 60)
                                    .encode()) for n in range(args.voevents)]  # fmt: skip
    igwns = []
    for n in range(args.igwn):
        content = json.loads(json.dumps(igwn))
        content["superevent_id"] = f"{content['superevent_id']}{n}"
        igwns.append(JSONBlob(content))
    print(f"bridge benchmark: {args.voevents} VOEvents and {args.igwn} IGWN alerts at "
          f"{args.rate:g}/s; IGWN sky map: {igwn_source}", flush=True)  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="skyhop-bench-bridge-") as tmp, KafkaBroker() as broker:
        folder = Path(tmp)
        lockfile = folder / "samp.lock"
        for topic in ("bench.voevent", "bench.igwn", "bench.base"):
            broker.create_topic(topic, 1, {"max.message.bytes": "4194304"})
        base = f"kafka://{broker.bootstrap['plaintext']}"
        # The hub in its own process, as on a desktop (TOPCAT's, or `samp-hub`).
        hub_cmd = [sys.executable, "-m", "hop.samp.cli", "hub", "--no-web-profile", "-f",
                   str(lockfile)]  # fmt: skip
        hub = subprocess.Popen(hub_cmd, stdout=subprocess.PIPE, text=True)
        try:
            assert hub.stdout is not None
            hub.stdout.readline()  # "SAMP hub running ..."
            results = {
                "VOEvent": _run_bridge_case(f"{base}/bench.voevent", lockfile, folder, voevents,
                                            args.rate),
                "IGWN 1 MB": _run_bridge_case(f"{base}/bench.igwn", lockfile, folder, igwns,
                                              args.rate),
            }  # fmt: skip
            n_base = max(args.voevents, 50)
            kafka = _kafka_baseline(f"{base}/bench.base", n_base, args.rate, folder)
            samp = _samp_baseline(lockfile, n_base, args.rate)
        finally:
            hub.terminate()
            hub.wait(30)
    goals = {"VOEvent": 20.0, "IGWN 1 MB": 500.0}
    base_p50 = statistics.median(kafka) + statistics.median(samp)
    header = ["alert", "n", "first p50", "first p99", "all p50", "all p99", "goal p99",
              "met", "ratio"]  # fmt: skip
    lines = [header]
    for name, r in results.items():
        p99 = percentile(r["last"], 99)
        lines.append([name, str(len(r["last"])), f"{statistics.median(r['first']):.1f}",
                      f"{percentile(r['first'], 99):.1f}", f"{statistics.median(r['last']):.1f}",
                      f"{p99:.1f}", f"{goals[name]:.0f}", "yes" if p99 <= goals[name] else "NO",
                      f"{statistics.median(r['last']) / base_p50:.1f}x"])  # fmt: skip
    for name, values in (("Kafka->reader", kafka), ("SAMP notify", samp)):
        lines.append([f"baseline {name}", str(len(values)), "-", "-",
                      f"{statistics.median(values):.1f}", f"{percentile(values, 99):.1f}",
                      "-", "-", "-"])  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    print("\nlatency, Kafka produce -> SAMP receipt (ms); first = first notification, all = "
          "x-hop.alert (last)")
    for i, line in enumerate(lines):
        print(_row(line, widths))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    stages = ["decode", "read", "write", "flatten", "moc", "notify"]
    print("\nbridge stage times (ms), p50 / p99")
    print("alert       " + "".join(f"{s:>16}" for s in stages))
    for name, r in results.items():
        cells = "".join(f"{r['stages'][s]:>8.2f} /{r['stages_p99'][s]:>6.1f}" for s in stages)
        print(f"{name:<12}{cells}")
    met = all(percentile(r["last"], 99) <= goals[n] for n, r in results.items())
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
