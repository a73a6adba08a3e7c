"""The offload protocol's BSON codec: skyhop's vs upstream hop-client's (and pymongo's).

Run on demand (not a test)::

    ./run bench offload [--seconds 0.5]

The same measuring script runs under skyhop's interpreter (``hop._bson``, and
pymongo's ``bson`` when it is importable there) and under the upstream peers'
virtualenv (hop-client 0.13.0's vendored py-bson, built by ``tests/_peers.py`` on first
use), on the documents the protocol carries: an upload of a 4 MiB message with hop's
headers, and a small download answer. Times are the median of 5 repeats, with the
fastest and slowest; the ratio column is skyhop / upstream (below 1 is faster).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

# Runs in either interpreter; argv: which codec, seconds per measurement.
MEASURE = r"""
import json, os, statistics, sys, time
which, seconds = sys.argv[1], float(sys.argv[2])
if which == "skyhop":
    from hop import _bson
    encode, decode = _bson.encode, _bson.decode
elif which == "pymongo":
    import bson
    encode, decode = bson.encode, bson.decode
else:
    from hop import bson
    encode, decode = bson.dumps, bson.loads
docs = {
    "upload 4 MiB": {"message": os.urandom(4 << 20),
                     "headers": [["_id", os.urandom(16)], ["_sender", b"alice"],
                                 ["_format", b"blob"]], "key": "S250101a"},
    "download 2 kB": {"message": b'{"a": 1}' * 250,
                      "metadata": {"headers": [["_id", os.urandom(16)], ["_format", b"json"]],
                                   "timestamp": 1700000000000}},
}
def timed(fn, arg):
    n, start = 0, time.perf_counter()
    while True:
        fn(arg); n += 1
        took = time.perf_counter() - start
        if took >= seconds:
            return took / n * 1e6
out = {}
for name, doc in docs.items():
    data = encode(doc)
    enc = [timed(encode, doc) for _ in range(5)]
    dec = [timed(decode, data) for _ in range(5)]
    out[name] = {"encode": [statistics.median(enc), min(enc), max(enc)],
                 "decode": [statistics.median(dec), min(dec), max(dec)], "bytes": len(data)}
print(json.dumps(out))
"""


def _run(python: str, which: str, seconds: float) -> dict[str, dict[str, list[float]]] | None:
    run = subprocess.run(
        [python, "-c", MEASURE, which, str(seconds)], capture_output=True, text=True, check=False
    )
    if run.returncode != 0:
        print(f"bench offload: {which} not measured: {run.stderr.strip().splitlines()[-1:]}")
        return None
    result: dict[str, dict[str, list[float]]] = json.loads(run.stdout)
    return result


def main(argv: list[str] | None = None) -> int:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(prog="bench offload", description=__doc__)
    parser.add_argument("--seconds", type=float, default=0.5, help="per measurement")
    args = parser.parse_args(argv)
    from tests._peers import ensure_peers_python

    results = {
        "skyhop": _run(sys.executable, "skyhop", args.seconds),
        "upstream": _run(str(ensure_peers_python()), "upstream", args.seconds),
        "pymongo": _run(sys.executable, "pymongo", args.seconds),
    }
    base = results["upstream"]
    head = ("document", "op", "codec", "median us", "min", "max", "ratio")
    print("{:15} {:7} {:9} {:>10} {:>9} {:>9} {:>6}".format(*head))
    for name in results["skyhop"] or {}:
        for op in ("encode", "decode"):
            for codec, result in results.items():
                if result is None:
                    continue
                med, low, high = result[name][op]
                ratio = f"{med / base[name][op][0]:.2f}" if base else "-"
                print(f"{name:15} {op:7} {codec:9} {med:10.1f} {low:9.1f} {high:9.1f} {ratio:>6}")
    return 0
