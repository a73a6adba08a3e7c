"""Fixtures for the SAMP integration tests: a private lockfile, our hub, our clients.

Every test runs with ``HOME`` and ``SAMP_HUB`` pointing into its own temporary
directory, so neither our code nor a peer ever touches the real ``~/.samp``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _samphelpers import WAIT_S, Inbox

from hop.samp import SAMPHubServer, SAMPIntegratedClient


@pytest.fixture
def samp_lockfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Lockfile path; HOME and SAMP_HUB point at it for this test."""
    home = tmp_path / "home"
    home.mkdir()
    lockfile = tmp_path / "samp.lock"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SAMP_HUB", f"std-lockurl:{lockfile.as_uri()}")
    return lockfile


def _samp_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("samp-")]


@pytest.fixture
def no_thread_leak() -> Iterator[None]:
    """Fail the test if a hop.samp thread outlives it."""
    yield
    deadline = time.monotonic() + WAIT_S
    while _samp_threads() and time.monotonic() < deadline:
        time.sleep(0.01)  # polling with a deadline: threads end asynchronously
    assert _samp_threads() == []


@pytest.fixture
def hub(samp_lockfile: Path, no_thread_leak: None) -> Iterator[SAMPHubServer]:
    """Our hub (Standard Profile only), stopped after the test."""
    server = SAMPHubServer(web_profile=False, lockfile=samp_lockfile)
    server.start()
    try:
        yield server
    finally:
        server.stop()
    assert not samp_lockfile.exists()


@pytest.fixture
def make_client(hub: SAMPHubServer) -> Iterator[Callable[..., SAMPIntegratedClient]]:
    """Create connected clients of ``hub``; all are disconnected afterwards."""
    clients: list[SAMPIntegratedClient] = []

    def make(name: str = "client", **kwargs: Any) -> SAMPIntegratedClient:
        client = SAMPIntegratedClient(name, **kwargs)
        client.connect(hub=hub)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.disconnect()


@pytest.fixture
def inbox() -> Inbox:
    return Inbox()
