"""The HTTP transport under the hub and the client callback servers.

A small threaded HTTP/1.1 server bound to loopback. Compared with
:class:`xmlrpc.server.SimpleXMLRPCServer` it

* keeps connections alive and writes each response in one ``send`` with Nagle off,
  so a request costs well under a millisecond instead of a delayed-ACK 40 ms;
* accepts XML-RPC POSTs on any path (``/``, ``/RPC2``, ``/xmlrpc``: clients differ);
* stops without polling: the accept loop waits on a wake-up socket, and stopping
  shuts down every open connection so that no handler thread stays blocked reading.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import ssl
import threading
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, Protocol

from hop.samp._errors import SAMPHubError

__all__ = ["HTTPApp", "RPCServer", "Request", "Response", "xmlrpc_reply"]

logger = logging.getLogger("hop.samp.http")

#: Status, extra headers, body.
Response = tuple[int, list[tuple[str, str]], bytes]

_MAX_BODY = 64 * 1024 * 1024
_XML = [("Content-Type", "text/xml")]


@dataclass(frozen=True)
class Request:
    """One HTTP request as seen by an :class:`HTTPApp`."""

    method: str
    """``GET``, ``POST``, ``OPTIONS``..."""
    path: str
    """Request target, with query string."""
    headers: Message
    """Request headers."""
    body: bytes
    """Request body (empty for GET)."""
    client_address: tuple[str, int]
    """Peer address."""


class HTTPApp(Protocol):
    """What the server calls for each request."""

    def handle(self, request: Request) -> Response:
        """Answer one request."""
        ...


def xmlrpc_reply(body: bytes, dispatch: Callable[[str, tuple[Any, ...]], Any]) -> Response:
    """Decode an XML-RPC call, run ``dispatch(method, params)``, encode the result.

    :class:`SAMPHubError` (and :class:`xmlrpc.client.Fault`) become faults with their
    code; any other exception becomes fault 1 and is logged, so a bad request never
    takes the server down.
    """
    try:
        params, method = xmlrpc.client.loads(body)
    except Exception as exc:  # expat and xmlrpc raise a variety of types
        fault = xmlrpc.client.Fault(1, f"malformed XML-RPC request: {exc}")
        return 200, _XML, xmlrpc.client.dumps(fault, methodresponse=True).encode()
    if not method:
        fault = xmlrpc.client.Fault(1, "XML-RPC request names no method")
        return 200, _XML, xmlrpc.client.dumps(fault, methodresponse=True).encode()
    try:
        result = dispatch(method, params)
        payload = xmlrpc.client.dumps(
            ("" if result is None else result,), methodresponse=True, allow_none=True
        )
    except SAMPHubError as exc:
        payload = xmlrpc.client.dumps(xmlrpc.client.Fault(exc.code, str(exc)), methodresponse=True)
    except xmlrpc.client.Fault as err:
        payload = xmlrpc.client.dumps(
            xmlrpc.client.Fault(err.faultCode, err.faultString), methodresponse=True
        )
    except Exception as exc:
        logger.exception("XML-RPC method %s failed", method)
        fault = xmlrpc.client.Fault(1, f"{method}: {type(exc).__name__}: {exc}")
        payload = xmlrpc.client.dumps(fault, methodresponse=True)
    return 200, _XML, payload.encode("utf-8", "xmlcharrefreplace")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        length_text = self.headers.get("Content-Length")
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self._write(411, [], b"chunked requests are not supported", close=True)
            return
        try:
            length = int(length_text) if length_text else 0
        except ValueError:
            length = -1
        if not 0 <= length <= _MAX_BODY:
            self._write(400, [], b"bad Content-Length", close=True)
            return
        body = self.rfile.read(length) if length else b""
        request = Request(self.command, self.path, self.headers, body, self.client_address)
        try:
            status, headers, payload = self.server.app.handle(request)
        except Exception:
            logger.exception("HTTP handler failed for %s %s", self.command, self.path)
            status, headers, payload = 500, [], b"internal error"
        self._write(status, headers, payload)

    do_GET = do_POST = do_OPTIONS = do_HEAD = _serve

    def _write(
        self, status: int, headers: list[tuple[str, str]], payload: bytes, close: bool = False
    ) -> None:
        reason = self.responses.get(status, ("",))[0]
        lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(payload)}"]
        lines += [f"{k}: {v}" for k, v in headers]
        if close:
            lines.append("Connection: close")
            self.close_connection = True
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        # One write: header and body in one segment, so Nagle/delayed-ACK never stall.
        self.wfile.write(head + (b"" if self.command == "HEAD" else payload))

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


class _Server(HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, app: HTTPApp, address: tuple[str, int], ctx: ssl.SSLContext | None):
        self.app = app
        self._ctx = ctx
        self._conns: dict[socket.socket, threading.Thread] = {}
        self._conns_lock = threading.Lock()
        self._closing = False
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        if self._ctx is not None:
            # Handshake in the connection's thread (lazily), never in the accept loop.
            sock = self._ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(
            target=self._run_connection,
            args=(request, client_address),
            name=f"samp-http-conn-{client_address[1]}",
            daemon=True,
        )
        with self._conns_lock:
            if self._closing:
                self.shutdown_request(request)
                return
            self._conns[request] = thread
        thread.start()

    def _run_connection(self, request: Any, client_address: Any) -> None:
        try:
            if isinstance(request, ssl.SSLSocket):
                request.do_handshake()
            self.finish_request(request, client_address)
        except (OSError, ssl.SSLError) as exc:
            logger.debug("connection from %s ended: %s", client_address, exc)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            with self._conns_lock:
                self._conns.pop(request, None)
            self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.exception("error while serving %s", client_address)

    def close_connections(self) -> list[threading.Thread]:
        with self._conns_lock:
            self._closing = True
            conns = list(self._conns.items())
        for sock, _ in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        return [thread for _, thread in conns]


class RPCServer:
    """A threaded HTTP server on loopback that hands every request to an :class:`HTTPApp`.

    Parameters
    ----------
    app : HTTPApp
        Answers requests.
    host : str
        Address to bind (loopback by default).
    port : int
        Port to bind; 0 picks a free one.
    ssl_context : ssl.SSLContext, optional
        Serve HTTPS with this context.
    name : str
        Name of the accept thread (shows in thread dumps).
    """

    def __init__(
        self,
        app: HTTPApp,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        name: str = "samp-http",
    ) -> None:
        self._server = _Server(app, (host, port), ssl_context)
        self._scheme = "https" if ssl_context is not None else "http"
        self._name = name
        self._wake_r, self._wake_w = socket.socketpair()
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port."""
        return int(self._server.server_address[1])

    @property
    def host(self) -> str:
        """The bound address."""
        return str(self._server.server_address[0])

    @property
    def url(self) -> str:
        """``http(s)://host:port/`` of this server."""
        return f"{self._scheme}://{self.host}:{self.port}/"

    def start(self) -> None:
        """Start accepting connections in a background thread."""
        self._thread = threading.Thread(target=self._accept_loop, name=self._name, daemon=True)
        self._thread.start()

    def _accept_loop(self) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self._server.socket, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while True:
                for key, _ in sel.select():
                    if key.fileobj is self._wake_r:
                        return
                    self._accept_one()

    def _accept_one(self) -> None:
        # What socketserver's serve_forever does per ready socket, through its
        # documented hooks (get_request, verify_request, process_request...).
        server = self._server
        try:
            request, client_address = server.get_request()
        except OSError:
            return
        if not server.verify_request(request, client_address):
            server.shutdown_request(request)
            return
        try:
            server.process_request(request, client_address)
        except Exception:
            server.handle_error(request, client_address)
            server.shutdown_request(request)
        except BaseException:
            server.shutdown_request(request)
            raise

    def stop(self, timeout: float = 5.0) -> list[str]:
        """Stop accepting, close every connection, join the threads.

        Returns
        -------
        list of str
            Names of threads still alive after ``timeout`` (empty when all stopped).
        """
        self._wake_w.send(b"x")
        stuck: list[str] = []
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                stuck.append(self._thread.name)
        for thread in self._server.close_connections():
            thread.join(timeout)
            if thread.is_alive():
                stuck.append(thread.name)
        self._server.server_close()
        self._wake_r.close()
        self._wake_w.close()
        return stuck
