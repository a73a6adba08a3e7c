"""The hub's outbox honours ``conf.n_retries`` for callbacks whose connection drops."""

from __future__ import annotations

import http.server
import threading
import time
import xmlrpc.client
from collections.abc import Iterator
from typing import Any

import pytest

from hop.samp import conf
from hop.samp._delivery import Outbox
from hop.samp._registry import ClientRecord


class _FlakyClient:
    """A callback server that drops the first ``drops`` connections without answering."""

    def __init__(self, drops: int) -> None:
        self.drops = drops
        self.attempts = 0
        self.received: list[tuple[Any, ...]] = []
        self.got = threading.Event()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                owner.attempts += 1
                if owner.attempts <= owner.drops:
                    self.close_connection = True  # hang up: the caller sees a reset
                    return
                params, method = xmlrpc.client.loads(body)
                owner.received.append((method, *params))
                out = xmlrpc.client.dumps(("",), methodresponse=True).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
                owner.got.set()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def flaky() -> Iterator[_FlakyClient]:
    # xmlrpc.client itself retries a dropped request once, so each of the outbox's
    # tries costs two connections: four drops need a third try.
    client = _FlakyClient(drops=4)
    yield client
    client.close()


def _outbox(url: str, dead: list[str]) -> Outbox:
    record = ClientRecord("c1", "key1", "standard")
    return Outbox(record, url, lambda r, why: dead.append(why), timeout=5, max_failures=3)


def test_a_dropped_callback_connection_is_retried_and_the_message_arrives(
    flaky: _FlakyClient,
) -> None:
    dead: list[str] = []
    box = _outbox(flaky.url, dead)
    try:
        box.put("receiveNotification", ("c2", {"samp.mtype": "x.y", "samp.params": {}}))
        assert flaky.got.wait(5)
    finally:
        box.close(5)
    assert flaky.attempts == 5  # four dropped (two tries), the third try delivered
    assert flaky.received == [("samp.client.receiveNotification", "key1", "c2",
                               {"samp.mtype": "x.y", "samp.params": {}})]
    assert dead == []


def test_with_fewer_retries_the_dropped_message_is_given_up(flaky: _FlakyClient) -> None:
    dead: list[str] = []
    with conf.set_temp("n_retries", 2):
        box = _outbox(flaky.url, dead)
        try:
            box.put("receiveNotification", ("c2", {"samp.mtype": "first", "samp.params": {}}))
            deadline = time.monotonic() + 5
            while flaky.attempts < 4 and time.monotonic() < deadline:
                time.sleep(0.01)  # polling with a deadline for the server thread
            box.put("receiveNotification", ("c2", {"samp.mtype": "second", "samp.params": {}}))
            assert flaky.got.wait(5)
        finally:
            box.close(5)
    assert [r[3]["samp.mtype"] for r in flaky.received] == ["second"]
    assert dead == []
