"""The samp-hub command line: run a hub, send, list clients, monitor, errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _samphelpers import WAIT_S, Inbox, wait_until

from hop.samp import SAMPIntegratedClient
from hop.samp.cli import main


def _cli(*args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hop.samp.cli", *args], capture_output=True,
                          text=True, timeout=timeout, env=os.environ.copy(), check=False)


@pytest.fixture
def cli_hub(samp_lockfile: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hop.samp.cli", "hub", "--no-web-profile", "-v"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy(),
    )
    try:
        wait_until(samp_lockfile.exists, timeout=30)
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(WAIT_S)
        assert proc.stdout is not None
        proc.stdout.close()


def test_hub_command_serves_and_stops_cleanly_on_sigterm(cli_hub: subprocess.Popen[str],
                                                         samp_lockfile: Path) -> None:
    with SAMPIntegratedClient("probe") as client:
        assert client.ping() == ""
    cli_hub.send_signal(signal.SIGTERM)
    assert cli_hub.wait(WAIT_S) == 0
    assert not samp_lockfile.exists()


def test_send_notifies_a_client_by_name_and_clients_lists_it(cli_hub: subprocess.Popen[str],
                                                            inbox: Inbox) -> None:
    with SAMPIntegratedClient("target") as client:
        client.bind_receive_notification("table.load.votable", inbox.notification)
        client.bind_receive_call("test.echo", lambda k, s, mid, m, p, e: client.ereply(
            mid, "samp.ok", {"got": p["x"]}))
        result = _cli("send", "table.load.votable", "url=http://example.org/t.xml",
                      "rows=[1, 2]", "--to", "target")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == [client.get_public_id()]
        (_, _mtype, params, _), = inbox.wait_for(1)
        assert params == {"url": "http://example.org/t.xml", "rows": [1, 2]}
        called = _cli("send", "test.echo", "x=7", "--to", client.get_public_id(), "--call")
        assert json.loads(called.stdout)["samp.result"] == {"got": "7"}
        listed = _cli("clients")
        assert f"{client.get_public_id()}\ttarget" in listed.stdout.splitlines()


def test_monitor_prints_traffic(cli_hub: subprocess.Popen[str]) -> None:
    monitor = subprocess.Popen(
        [sys.executable, "-m", "hop.samp.cli", "monitor", "--mtype", "test.*", "--count", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=os.environ.copy(),
    )
    try:
        assert monitor.stdout is not None
        assert monitor.stdout.readline().startswith("monitoring as")
        with SAMPIntegratedClient("sender") as sender:
            sender.enotify_all("test.hello", who="world")
        out, _ = monitor.communicate(timeout=WAIT_S)
        assert monitor.returncode == 0
        assert 'test.hello {"who": "world"}' in out
    finally:
        if monitor.poll() is None:
            monitor.kill()
            monitor.communicate(timeout=WAIT_S)


def test_errors_are_reported_in_one_line_with_status_1(samp_lockfile: Path,
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    assert main(["send", "samp.app.ping"], prog="hop samp") == 1
    err = capsys.readouterr().err
    assert err.startswith("hop samp: error: no running SAMP hub found")


def test_bad_parameter_syntax_is_an_error(samp_lockfile: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["send", "x.y", "novalue"]) == 1
    assert "is not NAME=VALUE" in capsys.readouterr().err
