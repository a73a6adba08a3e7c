"""Fetching an OIDC access token (client-credentials grant) for :attr:`hop.auth.Auth.token`.

Kafka connections never come here: librdkafka fetches and refreshes their tokens
itself (``sasl.oauthbearer.method=oidc``). This is for other protocols that want a
bearer token from the same credential, such as HTTP services beside the broker. The
request and the checks on the answer are hop-client's (RFC 6749 section 4.4), and so
are the error messages.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.error
import urllib.request
from typing import Any

from hop.errors import CredentialError

__all__ = ["DEFAULT_TOKEN_TIMEOUT", "fetch_client_credentials_token"]

DEFAULT_TOKEN_TIMEOUT = 30.0
"""Seconds a token request may take before it fails (hop-client waits forever)."""


def fetch_client_credentials_token(
    endpoint: str,
    client_id: str,
    client_secret: str,
    *,
    ca_file: str | None = None,
    timeout: float = DEFAULT_TOKEN_TIMEOUT,
) -> tuple[str, float]:
    """Ask an OIDC token endpoint for an access token with the client-credentials grant.

    Parameters
    ----------
    endpoint : str
        The token endpoint URL.
    client_id, client_secret : str
        Sent with HTTP Basic authentication.
    ca_file : str, optional
        CA certificates to verify an ``https`` endpoint with; the system's when None.
    timeout : float
        Seconds before the request is abandoned.

    Returns
    -------
    tuple of (str, float)
        The token, and the time (seconds since the epoch) until which it may be reused:
        request time plus ``expires_in``, or the request time when the answer has none.

    Raises
    ------
    CredentialError
        The endpoint could not be reached, refused, or answered something that is not
        a bearer token (a ``RuntimeError``, as hop-client's).
    """
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
    request = urllib.request.Request(
        endpoint,
        data=b"grant_type=client_credentials",
        method="POST",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": f"Basic {basic}",
            "Accept": "application/json",
        },
    )
    context = ssl.create_default_context(cafile=ca_file) if endpoint.startswith("https") else None
    requested_at = time.time()
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        text = exc.read().decode("utf-8", errors="replace")
        raise CredentialError(
            f"Failed to fetch token from OIDC endpoint: ({exc.code}) {text}"
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CredentialError(
            f"Failed to fetch token from OIDC endpoint {endpoint}: {reason}"
        ) from exc
    try:
        data: Any = json.loads(body)
    except ValueError as exc:
        raise CredentialError("Failed to decode data from OIDC endpoint as JSON") from exc
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("access_token"), str)
        or not isinstance(data.get("token_type"), str)
    ):
        raise CredentialError("Not able to process result from token endpoint")
    if data["token_type"].lower() != "bearer":
        raise CredentialError(
            f"Only bearer tokens are supported, got token type: {data['token_type']}"
        )
    expires_in = data.get("expires_in", 0)
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
        raise CredentialError("Unable to interpret token response 'expires_in' value")
    return data["access_token"], requested_at + float(expires_in)
