"""An OIDC provider on loopback for the broker's OAUTHBEARER listener.

It serves what a real identity provider serves to Kafka and its clients:

- ``GET /jwks``: the JSON Web Key Set the broker's ``OAuthBearerValidatorCallbackHandler``
  checks token signatures with;
- ``POST /token``: the OAuth 2.0 client-credentials grant (RFC 6749 section 4.4) that
  librdkafka's ``sasl.oauthbearer.method=oidc`` uses, client id and secret in HTTP Basic
  (or in the form), answering ``{"access_token", "token_type": "bearer", "expires_in"}``.

Tokens are RS256 JWTs signed with PyJWT (and cryptography's RSA), ``sub`` = the client
id. :meth:`OIDCProvider.mint` makes one directly, for ``token_command`` programs.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER = "https://idp.skyhop.test"
AUDIENCE = "kafka"


class OIDCProvider:
    """JWKS and token endpoint on 127.0.0.1, in threads of this process.

    Parameters
    ----------
    clients : mapping of str to str
        Client ids and their secrets.
    token_lifetime : float
        Seconds a token from ``/token`` is valid (``expires_in``); may be changed later.
    """

    def __init__(self, clients: Mapping[str, str], token_lifetime: float = 3600.0) -> None:
        self.clients = dict(clients)
        self.token_lifetime = token_lifetime
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        self.issued: list[tuple[str, float]] = []
        """``(client id, time)`` of every token /token handed out."""
        self.refused: list[str] = []
        """Client ids (or "?") /token refused."""
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        provider = self

        class Handler(_Handler):
            owner = provider

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(5)
            assert not self._thread.is_alive(), "the OIDC provider thread did not stop"

    def __enter__(self) -> OIDCProvider:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "the OIDC provider is not running"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/jwks"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    # ------------------------------------------------------------------ tokens

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self._key.public_key()))
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return {"keys": [jwk]}

    def mint(self, subject: str, lifetime: float = 3600.0) -> str:
        """A signed token for ``subject``, valid for ``lifetime`` seconds."""
        now = int(time.time())
        claims = {
            "sub": subject,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "nbf": now,
            "exp": now + max(1, round(lifetime)),
            "jti": uuid.uuid4().hex,
            "scope": "kafka",
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})

    def subject_of(self, token: str) -> str | None:
        """The ``sub`` of a valid token signed here, or None: a bearer check for services."""
        try:
            claims = jwt.decode(
                token, self._key.public_key(), algorithms=["RS256"], audience=AUDIENCE
            )
        except jwt.PyJWTError:
            return None
        sub = claims.get("sub")
        return sub if isinstance(sub, str) else None

    def count_issued(self, client: str) -> int:
        with self._lock:
            return sum(1 for who, _ in self.issued if who == client)

    def _grant(self, client: str | None, secret: str | None) -> tuple[int, dict[str, Any]]:
        if client is None or self.clients.get(client) != secret:
            with self._lock:
                self.refused.append(client or "?")
            return 401, {"error": "invalid_client"}
        lifetime = self.token_lifetime
        token = self.mint(client, lifetime)
        with self._lock:
            self.issued.append((client, time.time()))
        return 200, {"access_token": token, "token_type": "bearer", "expires_in": lifetime}


class _Handler(BaseHTTPRequestHandler):
    owner: OIDCProvider
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _json(self, status: int, body: Mapping[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path.split("?")[0] == "/jwks":
            self._json(200, self.owner.jwks())
        else:
            self._json(404, {"error": "not_found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode("ascii", "replace"))
        if self.path.split("?")[0] != "/token":
            self._json(404, {"error": "not_found"})
            return
        if form.get("grant_type") != ["client_credentials"]:
            self._json(400, {"error": "unsupported_grant_type"})
            return
        client = secret = None
        header = self.headers.get("Authorization", "")
        if header.lower().startswith("basic "):
            decoded = base64.b64decode(header[6:].strip()).decode("utf-8", "replace")
            client, _, secret = decoded.partition(":")
            # RFC 6749 2.3.1: the id and secret are form-encoded before Basic encoding.
            client, secret = unquote(client), unquote(secret)
        elif "client_id" in form:
            client = form["client_id"][0]
            secret = form.get("client_secret", [""])[0]
        status, body = self.owner._grant(client, secret)
        self._json(status, body)
