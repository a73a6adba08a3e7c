"""A large-message offload service on loopback, speaking hop-client's documented protocol.

Writers send messages too large for their Kafka topic to ``POST {endpoint}/topic/
{topic}+oversized`` (a BSON document ``{"message", "headers", "key"}``), then publish a
small placeholder that points at ``{endpoint}/msg/{id}``, where ``id`` is the message's
``_id`` header; readers fetch it from there (BSON ``{"message", "metadata": {"headers",
"timestamp", "key"}}``). Requests authenticate with HTTP SCRAM (RFC 7804, the server
side of scramp) or with an ``Authorization: Bearer`` token.

The service records what it saw (:attr:`OffloadService.requests`) and can be told to
answer the next requests with an error status (:meth:`OffloadService.fail_next`), so
tests can check the client's side of every part of the protocol.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import unquote

import scramp

from hop import _bson

__all__ = ["OffloadService", "SeenRequest"]

_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "SCRAM-SHA-1")
_SESSION_TTL_S = 60.0


@dataclass(frozen=True)
class SeenRequest:
    """One request the service received."""

    method: str
    path: str
    headers: Mapping[str, str]
    """The request headers, names lower-cased."""
    body_size: int
    user: str | None
    """Who authenticated the request, or None."""


@dataclass
class _Stored:
    message: bytes
    headers: list[list[Any]]
    key: Any
    timestamp: int
    topic: str


@dataclass
class _Conversation:
    server: Any
    mechanism: str
    user: str
    started: float = field(default_factory=time.monotonic)


def _params(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in text.split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            out[name.strip().lower()] = value.strip()
    return out


class OffloadService:
    """The offload service: an HTTP server on 127.0.0.1 in a thread of this process.

    Parameters
    ----------
    users : mapping of str to str
        SCRAM users and passwords (any of SCRAM-SHA-1, -256, -512).
    bearer : callable, optional
        ``bearer(token)`` returns the user name a bearer token stands for, or None to
        refuse it. Without it bearer tokens are refused.
    require_auth_for_download : bool
        Whether ``GET /msg/...`` needs authentication too (default True).
    """

    def __init__(
        self,
        users: Mapping[str, str],
        *,
        bearer: Callable[[str], str | None] | None = None,
        require_auth_for_download: bool = True,
    ) -> None:
        self._auth_info: dict[tuple[str, str], tuple[bytes, bytes, bytes, int]] = {}
        for name, password in users.items():
            self.add_user(name, password)
        self._bearer = bearer
        self.require_auth_for_download = require_auth_for_download
        self._lock = threading.Lock()
        self._messages: dict[str, _Stored] = {}
        self._conversations: dict[str, _Conversation] = {}
        self._failures: list[int] = []
        self.requests: list[SeenRequest] = []
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Listen on a free port of 127.0.0.1. Idempotent."""
        if self._server is not None:
            return
        service = self

        class Handler(_Handler):
            owner = service

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="offload-service",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and release the port. Idempotent."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(5)
            if self._thread.is_alive():
                raise RuntimeError("the offload service thread did not stop within 5 s")

    def __enter__(self) -> OffloadService:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The endpoint, ``http://127.0.0.1:<port>``, to announce in ``sys.metadata``."""
        if self._server is None:
            raise RuntimeError("the offload service is not running")
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # ------------------------------------------------------------------ test controls

    def add_user(self, name: str, password: str) -> None:
        """Accept ``name`` with ``password`` (any SCRAM mechanism) from now on."""
        for mech in _MECHANISMS:
            # A low iteration count: the test server's cost, not a security setting.
            info = scramp.ScramMechanism(mech).make_auth_info(password, iteration_count=4096)
            self._auth_info[mech, name] = info

    def fail_next(self, *statuses: int) -> None:
        """Answer the next requests (one per status) with these HTTP statuses."""
        with self._lock:
            self._failures.extend(statuses)

    def stored(self, message_id: str) -> bytes | None:
        """The payload stored under ``message_id``, or None."""
        with self._lock:
            found = self._messages.get(message_id)
        return None if found is None else found.message

    def seen(self, method: str | None = None) -> list[SeenRequest]:
        """The requests received so far (a copy), optionally only one method's."""
        with self._lock:
            return [r for r in self.requests if method is None or r.method == method]

    # ------------------------------------------------------------------ protocol

    def _take_failure(self) -> int | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def _authenticate(self, header: str) -> tuple[str | None, dict[str, str], int]:
        """Return ``(user, response headers, status)``; status 0 means authenticated."""
        scheme, _, rest = header.strip().partition(" ")
        scheme_up = scheme.upper()
        if scheme_up == "BEARER":
            user = self._bearer(rest.strip()) if self._bearer else None
            if user is None:
                return None, {"WWW-Authenticate": self._challenges()}, 401
            return user, {}, 0
        if scheme_up not in _MECHANISMS:
            return None, {"WWW-Authenticate": self._challenges()}, 401
        params = _params(rest)
        try:
            data = base64.b64decode(params.get("data", ""), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeError):
            return None, {}, 400
        if "sid" not in params:
            return self._scram_first(scheme_up, data)
        return self._scram_final(scheme_up, params["sid"], data)

    def _scram_first(self, mech: str, data: str) -> tuple[str | None, dict[str, str], int]:
        seen: list[str] = []

        def lookup(username: str) -> tuple[bytes, bytes, bytes, int]:
            seen.append(username)
            info = self._auth_info.get((mech, username))
            if info is None:
                raise scramp.ScramException("unknown user")
            return info

        server = scramp.ScramMechanism(mech).make_server(lookup)
        try:
            server.set_client_first(data)
            first = server.get_server_first()
        except scramp.ScramException:
            return None, {"WWW-Authenticate": self._challenges()}, 401
        sid = secrets.token_hex(8)
        now = time.monotonic()
        with self._lock:
            for old in [
                s for s, c in self._conversations.items() if now - c.started > _SESSION_TTL_S
            ]:
                del self._conversations[old]
            self._conversations[sid] = _Conversation(server, mech, seen[-1])
        encoded = base64.b64encode(first.encode()).decode()
        return None, {"WWW-Authenticate": f"{mech} sid={sid}, data={encoded}"}, 401

    def _scram_final(
        self, mech: str, sid: str, data: str
    ) -> tuple[str | None, dict[str, str], int]:
        with self._lock:
            conversation = self._conversations.pop(sid, None)
        if conversation is None or conversation.mechanism != mech:
            return None, {"WWW-Authenticate": self._challenges()}, 401
        server = conversation.server
        try:
            server.set_client_final(data)
            final = server.get_server_final()
        except scramp.ScramException:
            return None, {"WWW-Authenticate": self._challenges()}, 401
        encoded = base64.b64encode(final.encode()).decode()
        return conversation.user, {"Authentication-Info": f"sid={sid}, data={encoded}"}, 0

    def _challenges(self) -> str:
        names = list(_MECHANISMS)
        if self._bearer is not None:
            names.append("Bearer")
        return ", ".join(names)

    def _upload(self, topic: str, body: bytes) -> tuple[int, bytes]:
        try:
            doc = _bson.decode(body)
        except _bson.BSONError as exc:
            return 400, f"body is not BSON: {exc}".encode()
        message = doc.get("message")
        headers = doc.get("headers", [])
        if not isinstance(message, bytes) or not isinstance(headers, list):
            return 400, b"message (binary) and headers (array) are required"
        ids = [h[1] for h in headers if isinstance(h, list) and len(h) == 2 and h[0] == "_id"]
        if len(ids) != 1 or not isinstance(ids[0], bytes) or len(ids[0]) != 16:
            return 400, b"the message needs one 16-byte _id header"
        message_id = str(uuid.UUID(bytes=ids[0]))
        stored = _Stored(message, headers, doc.get("key"), int(time.time() * 1000), topic)
        with self._lock:
            self._messages[message_id] = stored
        return 201, b""

    def _download(self, message_id: str) -> tuple[int, bytes]:
        with self._lock:
            stored = self._messages.get(message_id)
        if stored is None:
            return 404, b"no such message"
        metadata: dict[str, Any] = {"headers": stored.headers, "timestamp": stored.timestamp}
        if stored.key is not None:
            metadata["key"] = stored.key
        return 200, _bson.encode({"message": stored.message, "metadata": metadata})


class _Handler(BaseHTTPRequestHandler):
    owner: OffloadService
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""

    def _reply(self, status: int, body: bytes = b"", headers: Mapping[str, str] = {}) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _handle(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        owner = self.owner
        header = self.headers.get("Authorization")
        user: str | None = None
        extra: dict[str, str] = {}
        status = 0
        path = unquote(self.path)
        needs_auth = method == "POST" or owner.require_auth_for_download
        if header:
            user, extra, status = owner._authenticate(header)
        elif needs_auth:
            status, extra = 401, {"WWW-Authenticate": owner._challenges()}
        with owner._lock:
            owner.requests.append(
                SeenRequest(
                    method,
                    path,
                    {k.lower(): v for k, v in self.headers.items()},
                    len(body),
                    user,
                )
            )
        if status:
            self._reply(status, HTTPStatus(status).phrase.encode(), extra)
            return
        failure = owner._take_failure()
        if failure is not None:
            self._reply(failure, HTTPStatus(failure).phrase.encode(), extra)
            return
        if method == "POST" and path.startswith("/topic/") and path.endswith("+oversized"):
            code, answer = owner._upload(path[len("/topic/") : -len("+oversized")], body)
        elif method == "GET" and path.startswith("/msg/"):
            code, answer = owner._download(path[len("/msg/") :])
        else:
            code, answer = 404, b"unknown path"
        self._reply(code, answer, extra)

    def do_POST(self) -> None:
        """Upload (``/topic/{topic}+oversized``)."""
        self._handle("POST")

    def do_GET(self) -> None:
        """Download (``/msg/{id}``)."""
        self._handle("GET")
