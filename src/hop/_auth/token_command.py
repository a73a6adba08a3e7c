"""Bearer tokens that only a program can produce: ``token_command`` credentials.

hop-client 0.13 lets a credential name a shell command that prints a JWT (for
example SciTokens' ``htgettoken``, or ``cat $BEARER_TOKEN_FILE``). librdkafka cannot
run programs, so the token reaches it through confluent-kafka's ``oauth_cb``, which
librdkafka calls whenever it needs a (fresh) token. OIDC client credentials do not
come here: librdkafka fetches those itself (``sasl.oauthbearer.method=oidc``).

Two things make this more than a ``subprocess.run``:

- confluent-kafka swallows an exception raised by ``oauth_cb`` while a client is being
  constructed, then waits 10 s and raises "OAuth token not set" (measured with
  confluent-kafka 2.16). So the first token is fetched *before* the client exists
  (:meth:`TokenCommand.prime`, called where client settings are made), and a command
  that fails or hangs becomes a :class:`~hop.errors.CredentialError` naming it, at once;
- a command that hangs would block the thread serving librdkafka's callbacks forever,
  so every run has a timeout.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Any

from hop.errors import CredentialError

__all__ = ["DEFAULT_TOKEN_COMMAND_TIMEOUT", "Token", "TokenCommand", "decode_jwt_claims"]

logger = logging.getLogger("hop")

DEFAULT_TOKEN_COMMAND_TIMEOUT = 30.0
"""Seconds a token command may run. Token helpers that talk to a vault take a few
seconds; one that has not answered in 30 is stuck (or waiting for a prompt that
nobody will answer), and librdkafka's callbacks must not stall behind it."""


@dataclass(frozen=True)
class Token:
    """A bearer token and what librdkafka needs to know about it."""

    value: str
    """The compact JWT."""
    expiry: float
    """Expiry time, seconds since the epoch (the ``exp`` claim)."""
    subject: str
    """The principal name (the ``sub`` claim)."""

    def as_oauth_cb_result(self) -> tuple[str, float, str, dict[str, str]]:
        """The tuple confluent-kafka's ``oauth_cb`` returns."""
        return (self.value, self.expiry, self.subject, {})


def decode_jwt_claims(token: str) -> dict[str, Any]:
    """Return the claims of a compact JWT, without verifying its signature.

    The client only needs ``exp`` and ``sub`` to tell librdkafka when to refresh and
    who it is; the broker is the one that verifies the signature.

    Raises
    ------
    ValueError
        ``token`` is not three base64url parts whose middle one is a JSON object.
    """
    parts = token.split(".")
    if len(parts) != 3:
        raise ValueError(f"a JWT has 3 dot-separated parts, this has {len(parts)}")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise ValueError(f"the JWT claims are not base64url-encoded JSON ({exc})") from exc
    if not isinstance(claims, dict):
        raise ValueError("the JWT claims are not a JSON object")
    return claims


class TokenCommand:
    """Run a shell command that prints a JWT, as confluent-kafka's ``oauth_cb``.

    Parameters
    ----------
    command : str
        Run with the shell (as hop-client does), so pipelines and variables work.
    timeout : float
        Seconds one run may take before it is killed and reported.

    Notes
    -----
    Thread-safe: clients of one credential may ask for tokens from several threads;
    each call runs the command at most once at a time.
    """

    def __init__(self, command: str, timeout: float = DEFAULT_TOKEN_COMMAND_TIMEOUT) -> None:
        if not isinstance(command, str) or not command.strip():
            raise CredentialError("token_command must be a non-empty shell command")
        if timeout <= 0:
            raise CredentialError(f"token_command timeout must be positive, got {timeout!r}")
        self.command = command
        self.timeout = float(timeout)
        self._lock = threading.Lock()
        # A token fetched by prime() and not yet handed to librdkafka.
        self._primed: Token | None = None

    def __repr__(self) -> str:
        return f"TokenCommand({self.command!r}, timeout={self.timeout:g})"

    def _fail(self, why: str) -> CredentialError:
        return CredentialError(f"token_command {self.command!r} {why}")

    def fetch(self) -> Token:
        """Run the command and return the token it printed.

        Raises
        ------
        CredentialError
            The command could not be started, ran past the timeout, exited non-zero,
            or printed something that is not a JWT with ``exp`` and ``sub`` claims.
        """
        returncode, stdout, stderr = self._run()
        if returncode != 0:
            err = stderr.decode("utf-8", "replace").strip()
            detail = f": {err[-500:]}" if err else ""
            raise self._fail(f"exited with status {returncode}{detail}")
        text = stdout.decode("utf-8", "replace").strip()
        if not text:
            raise self._fail("printed no token")
        try:
            claims = decode_jwt_claims(text)
        except ValueError as exc:
            raise self._fail(f"did not print a JWT: {exc}") from exc
        exp = claims.get("exp")
        sub = claims.get("sub")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise self._fail("printed a JWT without a numeric 'exp' claim")
        if not isinstance(sub, str) or not sub:
            raise self._fail("printed a JWT without a 'sub' claim")
        return Token(text, float(exp), sub)

    def _run(self) -> tuple[int, bytes, bytes]:
        try:
            proc = subprocess.Popen(
                self.command,
                shell=True,  # as hop-client: pipelines and $VARIABLES in the command work
                stdin=subprocess.DEVNULL,  # never wait for a prompt nobody answers
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                # Its own process group, so a timeout kills what the shell started too
                # (a grandchild holding the pipes open would make the wait endless).
                start_new_session=True,
            )
        except OSError as exc:
            raise self._fail(f"could not be run: {exc}") from exc
        try:
            stdout, stderr = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired as exc:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise self._fail(f"did not finish within {self.timeout:g} s") from exc
        return proc.returncode, stdout, stderr

    def prime(self) -> None:
        """Fetch a token now, so that a client being built gets it without waiting.

        Raises
        ------
        CredentialError
            As :meth:`fetch`.
        """
        with self._lock:
            if self._primed is None or self._primed.expiry <= time.time() + 1:
                self._primed = self.fetch()

    def token(self) -> Token:
        """Return a token: the primed one if not yet used, else a fresh one."""
        with self._lock:
            primed, self._primed = self._primed, None
            if primed is not None and primed.expiry > time.time() + 1:
                return primed
            return self.fetch()

    def __call__(self, oauthbearer_config: str | None) -> tuple[str, float, str, dict[str, str]]:
        """confluent-kafka's ``oauth_cb``: return ``(token, expiry, principal, {})``.

        A failure is logged (naming the command) as well as raised, because
        confluent-kafka does not always pass the exception on.
        """
        try:
            return self.token().as_oauth_cb_result()
        except CredentialError as exc:
            logger.error("%s", exc)
            raise
