"""`hop dev-broker`, run as a developer runs it.

The tests pass ``--plaintext-port 0`` and the like: port 9092, the command's default, may
be taken by another broker on a shared machine (the choice itself is unit-tested in
tests/unit/test_broker_config.py).
"""

import json
import os
import shlex
import signal
import subprocess
import sys
import threading

import pytest

from hop import Stream
from hop.io import StartPosition

ANY_FREE_PORTS = ("--plaintext-port", "0", "--sasl-plaintext-port", "0", "--sasl-ssl-port", "0")


@pytest.mark.broker
def test_dev_broker_creates_topics_serves_them_and_stops_on_ctrl_c():
    proc = subprocess.Popen(
        [sys.executable, "-m", "hop.cli", "dev-broker", *ANY_FREE_PORTS, "-t", "alerts:2",
         "-t", "gcn"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    banner: list[str] = []
    ready = threading.Event()

    def read_banner():
        assert proc.stdout is not None
        for line in proc.stdout:
            banner.append(line)
            if line.startswith("Press Ctrl-C"):
                ready.set()
                return

    reader = threading.Thread(target=read_banner, daemon=True)
    reader.start()
    try:
        assert ready.wait(180), "".join(banner) + (proc.stderr.read() if proc.poll() else "")
        text = "".join(banner)
        assert "topics          alerts, gcn" in text
        address = next(line.split()[1] for line in banner if line.strip().startswith("plaintext"))
        url = f"kafka://{address}/alerts"
        with Stream(auth=False).open(url, "w") as s:
            s.write({"hello": "world"})
        eos = Stream(auth=False, start_at=StartPosition.EARLIEST, until_eos=True)
        with eos.open(url, "r") as s:
            assert [m.content for m in s] == [{"hello": "world"}]
        _run_the_suggested_commands(banner, address)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        reader.join(10)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def _run_the_suggested_commands(banner: list[str], address: str) -> None:
    """Paste the banner's `echo ... | hop publish` and `hop subscribe` lines, as a user would."""
    port = address.rsplit(":", 1)[1]
    subscribe = next(line.strip() for line in banner if line.strip().startswith("hop subscribe"))
    publish = next(line.strip() for line in banner if "| hop publish" in line)
    assert subscribe == f"hop subscribe kafka://localhost:{port}/alerts --no-auth -s EARLIEST"
    hop = [sys.executable, "-m", "hop.cli"]
    subprocess.run(["sh", "-c", publish.replace("hop publish", shlex.join(hop) + " publish", 1)],
                   check=True, timeout=60)
    # -j -e: machine-readable, and stop at the end of the topic instead of waiting on.
    out = subprocess.run([*hop, *shlex.split(subscribe)[1:], "-j", "-e"], capture_output=True,
                         text=True, check=True, timeout=60).stdout
    assert [json.loads(line)["content"] for line in out.splitlines()] == [{"hello": "world"}] * 2


def test_dev_broker_rejects_a_bad_topic_spec_in_one_line():
    proc = subprocess.run(
        [sys.executable, "-m", "hop.cli", "dev-broker", "-t", "alerts:zero"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "usage: hop dev-broker" in proc.stderr
    assert "'alerts:zero' is not NAME or NAME:PARTITIONS" in proc.stderr


@pytest.mark.broker
def test_dev_broker_nodes_3_runs_a_replicated_cluster_that_survives_a_killed_node():
    proc = subprocess.Popen(
        [sys.executable, "-m", "hop.cli", "dev-broker", "--nodes", "3", *ANY_FREE_PORTS,
         "-t", "alerts:3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    banner: list[str] = []
    ready = threading.Event()

    def read_banner():
        assert proc.stdout is not None
        for line in proc.stdout:
            banner.append(line)
            if line.startswith("Press Ctrl-C"):
                ready.set()
                return

    reader = threading.Thread(target=read_banner, daemon=True)
    reader.start()
    try:
        assert ready.wait(240), "".join(banner) + (proc.stderr.read() if proc.poll() else "")
        text = "".join(banner)
        assert "cluster of 3 nodes ready" in text
        assert "replication 3, min.insync.replicas 2" in text
        pids = [int(line.split("pid ")[1].split(",")[0]) for line in banner
                if line.strip().startswith("node ")]
        assert len(pids) == 3
        addresses = next(line.split()[1] for line in banner
                         if line.strip().startswith("plaintext"))
        assert addresses.count(",") == 2
        url = f"kafka://{addresses}/alerts"
        with Stream(auth=False).open(url, "w") as s:
            s.write({"n": 1})
        # One node crashes; the other two keep the topic writable and readable.
        os.killpg(pids[0], signal.SIGKILL)
        with Stream(auth=False).open(url, "w") as s:
            s.write({"n": 2})
        eos = Stream(auth=False, start_at=StartPosition.EARLIEST, until_eos=True)
        with eos.open(url, "r") as s:
            assert sorted(m.content["n"] for m in s) == [1, 2]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        # The command said which node went, and carried on with the others.
        assert "node 1 exited" in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        reader.join(10)
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
