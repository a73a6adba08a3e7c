"""HTTP SCRAM authentication (RFC 7804) for ``requests``, as hop-client 0.11+ has it.

The large-message offload service, and other SCiMMA HTTP services, accept the same
SCRAM credentials as the Kafka brokers. :class:`SCRAMAuth` plugs into ``requests``::

    import requests
    from hop.auth import Auth
    from hop.http_scram import SCRAMAuth

    cred = Auth("alice", "alice-secret", method="SCRAM-SHA-512")
    requests.get("https://service.example.org/thing", auth=SCRAMAuth(cred))

The exchange (RFC 7804 section 5): the client sends ``Authorization: <MECH>
data=<base64 client-first>``; the server answers 401 with ``WWW-Authenticate: <MECH>
sid=<sid>, data=<base64 server-first>``; the client repeats the request with
``Authorization: <MECH> sid=<sid>, data=<base64 client-final>``; the server's answer
carries ``Authentication-Info: sid=<sid>, data=<base64 server-final>``, which proves
that the server knew the password too. The SCRAM arithmetic is scramp's.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
from typing import Any

import requests
import scramp

from hop.errors import CredentialError

__all__ = ["SCRAMAuth"]


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _unb64(data: str) -> str:
    try:
        return base64.b64decode(data.encode("ascii"), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise CredentialError(f"SCRAM server sent data that is not base64 UTF-8: {exc}") from exc


def _parse_params(text: str) -> dict[str, str]:
    """``sid=abc, data=xyz==`` as a dict (values may end in base64 padding)."""
    params: dict[str, str] = {}
    for item in text.split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            params[name.strip().lower()] = value.strip().strip('"')
    return params


def _challenge_params(header: str, mechanism: str) -> dict[str, str] | None:
    """The parameters of the ``mechanism`` challenge in a WWW-Authenticate header."""
    # Several challenges may share the header ("Bearer, SCRAM-SHA-512 sid=..."); the
    # scheme name is the first word of its part.
    upper = header.upper()
    start = upper.find(mechanism.upper())
    if start < 0:
        return None
    rest = header[start + len(mechanism) :]
    return _parse_params(rest)


def _mechanism_of(credential: Any) -> str:
    mech = str(getattr(credential, "mechanism", "")).upper().replace("_", "-")
    if not mech.startswith("SCRAM-"):
        raise CredentialError(
            f"HTTP SCRAM needs a SCRAM credential; {getattr(credential, 'username', '?')!r} "
            f"uses {mech or 'no mechanism'}"
        )
    return mech


class _Exchange:
    """One SCRAM conversation's client state."""

    def __init__(self, mechanism: str, username: str, password: str) -> None:
        self.client = scramp.ScramClient(
            [mechanism], username, password, c_nonce=secrets.token_urlsafe()
        )
        self.sid: str | None = None
        self.body: Any = None
        self.started = False
        self.done = False


class SCRAMAuth(requests.auth.AuthBase):
    """RFC 7804 SCRAM authentication for ``requests``.

    Parameters
    ----------
    credential : hop.auth.Auth
        A SCRAM credential (SCRAM-SHA-1, -256 or -512): its username, password and
        mechanism are used.
    shortcut : bool
        Start the exchange in the first request instead of waiting for the server's
        challenge. That first request is sent with an empty body (the server will
        answer it with 401 anyway); the body goes with the final request only, so a
        large upload crosses the network once.
    check_final : bool
        Verify the server's final message (``Authentication-Info``), which proves that
        the server holds the credential; a missing or wrong one raises.

    Raises
    ------
    hop.errors.CredentialError
        (a ``RuntimeError``) from the request when the server's messages are missing or
        malformed, its ``sid`` changes, or its proof is wrong.
    """

    def __init__(self, credential: Any, shortcut: bool = False, check_final: bool = True) -> None:
        self.mechanism = _mechanism_of(credential)
        self.username = str(credential.username)
        self.password = str(credential.password)
        self.shortcut = shortcut
        self.check_final = check_final
        # Each thread has its own exchange: one SCRAMAuth may serve a threaded client.
        self._local = threading.local()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SCRAMAuth):
            return NotImplemented
        return (self.mechanism, self.username, self.password, self.shortcut) == (
            other.mechanism,
            other.username,
            other.password,
            other.shortcut,
        )

    def __hash__(self) -> int:
        return hash((self.mechanism, self.username, self.shortcut))

    def __repr__(self) -> str:
        return f"SCRAMAuth(user={self.username!r}, mechanism={self.mechanism!r})"

    def _first_header(self, exchange: _Exchange) -> str:
        exchange.started = True
        return f"{self.mechanism} data={_b64(exchange.client.get_client_first())}"

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        exchange = _Exchange(self.mechanism, self.username, self.password)
        self._local.exchange = exchange
        if self.shortcut:
            # The server cannot accept the body before the proof, so it is held back.
            exchange.body = request.body
            request.prepare_body(b"", None)
            request.headers["Content-Length"] = "0"
            request.headers["Authorization"] = self._first_header(exchange)
        else:
            exchange.body = request.body
        request.register_hook("response", self._on_response)  # type: ignore[no-untyped-call]
        return request

    def _resend(
        self, response: requests.Response, authorization: str, body: Any, **kwargs: Any
    ) -> requests.Response:
        # Read and release the connection of the 401 before reusing it.
        response.content  # noqa: B018
        response.close()
        prepared = response.request.copy()
        requests.cookies.extract_cookies_to_jar(  # type: ignore[no-untyped-call]
            prepared._cookies,  # type: ignore[attr-defined]
            response.request,
            response.raw,
        )
        prepared.prepare_cookies(prepared._cookies)  # type: ignore[attr-defined]
        prepared.prepare_body(body, None)
        if body is None or body == b"":
            prepared.headers["Content-Length"] = "0"
        prepared.headers["Authorization"] = authorization
        assert response.connection is not None
        answer: requests.Response = response.connection.send(prepared, **kwargs)
        answer.history.append(response)
        answer.request = prepared
        return answer

    def _on_response(self, response: requests.Response, **kwargs: Any) -> requests.Response:
        exchange: _Exchange | None = getattr(self._local, "exchange", None)
        if exchange is None or exchange.done:
            return response
        if response.status_code == 401:
            header = response.headers.get("WWW-Authenticate", "")
            params = _challenge_params(header, self.mechanism)
            if params is None:
                return response  # the server does not offer this mechanism
            if "sid" not in params and "data" not in params and exchange.sid is None:
                if not exchange.started:
                    # A bare challenge: the server wants us to start the exchange.
                    return self._on_response(
                        self._resend(response, self._first_header(exchange), b"", **kwargs),
                        **kwargs,
                    )
                return response  # refused after our first message
            if exchange.sid is not None:
                exchange.done = True
                return response  # refused after our final message: wrong password
            if "sid" not in params or "data" not in params:
                raise CredentialError("Missing sid/data in SCRAM server first message")
            exchange.sid = params["sid"]
            try:
                exchange.client.set_server_first(_unb64(params["data"]))
                final = exchange.client.get_client_final()
            except scramp.ScramException as exc:
                raise CredentialError(f"SCRAM server first message refused: {exc}") from exc
            authorization = f"{self.mechanism} sid={exchange.sid}, data={_b64(final)}"
            answer = self._resend(response, authorization, exchange.body, **kwargs)
            return self._on_final(answer, exchange)
        return response

    def _on_final(self, response: requests.Response, exchange: _Exchange) -> requests.Response:
        exchange.done = True
        if not self.check_final or response.status_code == 401:
            return response
        info = response.headers.get("Authentication-Info")
        params = _parse_params(info) if info else {}
        if "sid" not in params or "data" not in params:
            raise CredentialError("Missing sid/data in SCRAM server final message")
        if params["sid"] != exchange.sid:
            raise CredentialError(
                f"sid mismatch in SCRAM server final message: {params['sid']!r} after "
                f"{exchange.sid!r}"
            )
        try:
            exchange.client.set_server_final(_unb64(params["data"]))
        except scramp.ScramException as exc:
            raise CredentialError(
                f"the server's SCRAM proof is wrong (it does not know the password): {exc}"
            ) from exc
        return response
