"""Benchmark: SAMP through the hub, skyhop's hop.samp vs astropy.samp, same run.

Measures, for each implementation (its own hub and its own clients):

* notifications per second, 1 sender -> 1 receiver through the hub;
* ``call_and_wait`` round trip p50 / p99 (sender -> hub -> receiver -> reply -> hub);
* the Web Profile round trip in headless Chromium (skyhop's hub only): the test
  page's own time to register, then one notification from a Python client to the
  page and the page's notification back (Python -> hub -> browser pull -> browser
  notify -> hub -> Python), over several page loads.

The hub runs in one process and both clients in another, for both implementations;
astropy runs in the peers' virtualenv (see ``tests/_peers.py``). Nothing touches the
real ``~/.samp``: every run uses a temporary ``HOME`` and ``SAMP_HUB``.

Run on demand (not a test)::

    python bench/bench_samp.py [--notifications 3000] [--calls 400] [--web-rounds 7]

Goals (issues 7 and 14): notification rate >= 3x astropy's, call_and_wait p50 <= 2 ms.
The Web Profile part needs Debian's chromium and chromium-driver (skipped without).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HUB = r"""
import sys, warnings
warnings.simplefilter("ignore")
if sys.argv[1] == "astropy":
    from astropy.samp import SAMPHubServer
    hub = SAMPHubServer(web_profile=False, lockfile=sys.argv[2])
else:
    from hop.samp import SAMPHubServer
    hub = SAMPHubServer(web_profile=False, lockfile=sys.argv[2])
hub.start()
print("READY", flush=True)
sys.stdin.read()
hub.stop()
"""

CLIENTS = r"""
import json, statistics, sys, threading, time, warnings
warnings.simplefilter("ignore")
if sys.argv[1] == "astropy":
    from astropy.samp import SAMPIntegratedClient
else:
    from hop.samp import SAMPIntegratedClient
n_notes, n_calls = int(sys.argv[2]), int(sys.argv[3])
sender = SAMPIntegratedClient("sender", callable=False)
receiver = SAMPIntegratedClient("receiver")
sender.connect()
receiver.connect()
count = [0]
done = threading.Event()
target = [n_notes]

def on_note(k, s, mtype, params, extra):
    count[0] += 1
    if count[0] >= target[0]:
        done.set()

def on_call(k, s, msg_id, mtype, params, extra):
    receiver.reply(msg_id, {"samp.status": "samp.ok", "samp.result": {}})

receiver.bind_receive_notification("bench.note", on_note)
receiver.bind_receive_call("bench.call", on_call)
rid = receiver.get_public_id()
message = {"samp.mtype": "bench.note", "samp.params": {"i": "0", "text": "x" * 40}}
# Warm-up.
target[0] = 50
for _ in range(50):
    sender.notify(rid, message)
done.wait(60)
count[0] = 0
done.clear()
target[0] = n_notes
t0 = time.perf_counter()
for _ in range(n_notes):
    sender.notify(rid, message)
finished = done.wait(300)
elapsed = time.perf_counter() - t0
call = {"samp.mtype": "bench.call", "samp.params": {"i": "0"}}
for _ in range(20):
    sender.call_and_wait(rid, call, "5")
lat, timeouts = [], 0
for _ in range(n_calls):
    t = time.perf_counter()
    try:
        sender.call_and_wait(rid, call, "5")
    except Exception:
        timeouts += 1
        continue
    lat.append((time.perf_counter() - t) * 1000)
lat.sort()
def pct(p):
    return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] if lat else float("nan")
print("RESULT", json.dumps({
    "notes_per_s": n_notes / elapsed if finished else 0.0,
    "received": count[0],
    "p50_ms": pct(50), "p99_ms": pct(99), "call_timeouts": timeouts,
}), flush=True)
sender.disconnect()
receiver.disconnect()
"""


def _clean_env(home: Path, lockfile: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    env.update(HOME=str(home), SAMP_HUB=f"std-lockurl:{lockfile.as_uri()}",
               PYTHONNOUSERSITE="1")
    return env


def run_one(python: str, impl: str, n_notes: int, n_calls: int) -> dict[str, float]:
    """Run hub + clients of one implementation; return the measurements."""
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        lockfile = home / "samp.lock"
        env = _clean_env(home, lockfile)
        hub = subprocess.Popen([python, "-P", "-c", HUB, impl, str(lockfile)],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        try:
            assert hub.stdout is not None
            seen = []
            for line in hub.stdout:  # astropy logs before READY
                seen.append(line)
                if line.startswith("READY"):
                    break
            else:
                raise RuntimeError(f"{impl} hub did not start: {''.join(seen)}")
            out = subprocess.run([python, "-P", "-c", CLIENTS, impl, str(n_notes), str(n_calls)],
                                 capture_output=True, text=True, env=env, timeout=900,
                                 check=False)
            for row in out.stdout.splitlines():
                if row.startswith("RESULT "):
                    return dict(json.loads(row[len("RESULT "):]))
            raise RuntimeError(f"{impl} clients failed:\n{out.stdout}\n{out.stderr}")
        finally:
            assert hub.stdin is not None
            hub.stdin.close()
            try:
                hub.wait(30)
            except subprocess.TimeoutExpired:
                hub.kill()
                hub.wait(30)


def web_round_trip(rounds: int) -> dict[str, list[float]] | str:
    """Time the browser page against our hub; a reason string when no browser is there."""
    import threading

    samp_tests = Path(__file__).resolve().parent.parent / "tests" / "integration" / "samp"
    sys.path.insert(0, str(samp_tests))
    import _browser

    if _browser._find() is None:
        return f"skipped: needs Debian's {' '.join(_browser.PACKAGES)}"
    from hop.samp import SAMPHubServer, SAMPIntegratedClient

    got = threading.Event()
    times: dict[str, list[float]] = {"register_ms": [], "ready_ms": [], "round_trip_ms": []}
    with tempfile.TemporaryDirectory() as tmp:
        lockfile = Path(tmp) / "samp.lock"
        with SAMPHubServer(web_port=0, lockfile=lockfile, web_consent=lambda info: True) as hub, \
                _browser.PageServer() as pages, _browser.chromium() as driver:
            python = SAMPIntegratedClient("bench-python")
            python.connect(hub=hub)
            python.bind_receive_notification("table.highlight.row", lambda *a: got.set())
            try:
                for _ in range(rounds):
                    driver.get(f"{pages.origin}/samp_page.html?hub=http://127.0.0.1:"
                               f"{hub.web_port}/")
                    deadline = time.monotonic() + 30
                    while not driver.find_element("id", "self-id").text:
                        if time.monotonic() > deadline:
                            raise RuntimeError("the page did not register")
                        time.sleep(0.005)
                    page_id = driver.find_element("id", "self-id").text
                    got.clear()
                    t0 = time.perf_counter()
                    python.enotify(page_id, "coord.pointAt.sky", ra="10.68", dec="41.27")
                    if not got.wait(30):
                        raise RuntimeError("the page's notification never came back")
                    times["round_trip_ms"].append((time.perf_counter() - t0) * 1000)
                    page_times = driver.execute_script("return window.sampTimes")
                    times["register_ms"].append(float(page_times["register"]))
                    times["ready_ms"].append(float(page_times["ready"]))
                    driver.execute_script("window.sampStop = true")
                    driver.get("about:blank")
            finally:
                python.disconnect()
    return times


def _peers_python() -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from _peers import ensure_peers_python

    return str(ensure_peers_python())


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--notifications", type=int, default=3000)
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--web-rounds", type=int, default=7,
                        help="page loads timed in Chromium (0: no browser part)")
    args = parser.parse_args(argv)
    ours = run_one(sys.executable, "ours", args.notifications, args.calls)
    astropy = run_one(_peers_python(), "astropy", args.notifications, args.calls)
    print(f"{'':>22} {'skyhop':>10} {'astropy':>10} {'ratio':>8}")
    print(f"{'notifications/s':>22} {ours['notes_per_s']:10.0f} {astropy['notes_per_s']:10.0f} "
          f"{ours['notes_per_s'] / max(astropy['notes_per_s'], 1e-9):7.2f}x")
    for key, label in (("p50_ms", "call_and_wait p50 ms"), ("p99_ms", "call_and_wait p99 ms")):
        print(f"{label:>22} {ours[key]:10.2f} {astropy[key]:10.2f} "
              f"{astropy[key] / max(ours[key], 1e-9):7.2f}x faster")
    print(f"{'call timeouts':>22} {ours['call_timeouts']:10.0f} {astropy['call_timeouts']:10.0f}")
    goal_rate = ours["notes_per_s"] >= 3 * astropy["notes_per_s"]
    goal_p50 = ours["p50_ms"] <= 2.0
    print(f"goals: rate >= 3x astropy: {'met' if goal_rate else 'NOT met'}; "
          f"p50 <= 2 ms: {'met' if goal_p50 else 'NOT met'}")
    if args.web_rounds > 0:
        web = web_round_trip(args.web_rounds)
        print(f"\nWeb Profile in headless Chromium (skyhop hub), {args.web_rounds} page loads:")
        if isinstance(web, str):
            print(f"  {web}")
        else:
            import statistics

            print(f"{'':>30} {'median':>8} {'min':>8} {'max':>8}")
            for key, label in (("register_ms", "page: samp.webhub.register ms"),
                               ("ready_ms", "page: register..subscribed ms"),
                               ("round_trip_ms", "notify page + reply back ms")):
                values = web[key]
                print(f"{label:>30} {statistics.median(values):8.1f} {min(values):8.1f} "
                      f"{max(values):8.1f}")
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    status = main()
    print(f"(benchmark took {time.perf_counter() - started:.0f} s)")
    raise SystemExit(status)
