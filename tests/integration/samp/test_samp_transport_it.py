"""The XML-RPC transport hop.samp calls hubs and clients with, against a real server."""

from __future__ import annotations

import threading
import xmlrpc.server
from collections.abc import Iterator

import pytest

from hop.samp._xmlrpc import make_proxy


@pytest.fixture
def closing_server() -> Iterator[str]:
    """An XML-RPC server that closes the connection after every reply, as HTTP/1.0
    servers do (astropy's hub among them)."""
    server = xmlrpc.server.SimpleXMLRPCServer(
        ("127.0.0.1", 0), logRequests=False, allow_none=True
    )
    server.register_function(lambda n: n + 1, "inc")
    thread = threading.Thread(target=server.serve_forever, name="closing-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def test_thousands_of_calls_to_a_server_that_closes_each_connection_keep_working(
    closing_server: str,
) -> None:
    # Each call reconnects the transport's one cached connection; setting it up again
    # on every call used to nest one wrapper per call until a RecursionError.
    proxy = make_proxy(closing_server, timeout=10.0)
    n = 0
    for _ in range(1500):
        n = proxy.inc(n)
    assert n == 1500
