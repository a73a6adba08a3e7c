"""The credential value type and the rules for choosing one for a broker."""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import Sequence
from typing import Any

from hop.errors import AmbiguousCredentialError, ConfigurationError, NoMatchingCredentialError

__all__ = ["DEFAULT_PORT", "Auth", "AuthOption", "SASLMethod", "select_matching_auth"]

logger = logging.getLogger("hop")

DEFAULT_PORT = "9092"
"""The port a broker address without one is assumed to use."""


class SASLMethod(enum.Enum):
    """The SASL mechanisms a credential can use; ``str()`` gives the librdkafka name."""

    PLAIN = 1
    SCRAM_SHA_256 = 2
    SCRAM_SHA_512 = 3
    OAUTHBEARER = 4

    def __str__(self) -> str:
        return self.name.replace("_", "-")

    @classmethod
    def parse(cls, value: SASLMethod | str) -> SASLMethod:
        """Return the member named by ``value``: a member, or a name with ``-`` or ``_``.

        Raises
        ------
        ValueError
            The name is not a known mechanism.
        """
        if isinstance(value, SASLMethod):
            return value
        key = str(value).strip().upper().replace("-", "_")
        try:
            return cls[key]
        except KeyError as exc:
            known = ", ".join(str(m) for m in cls)
            raise ConfigurationError(
                f"unknown SASL mechanism {value!r} (expected one of {known})"
            ) from exc


_PROTOCOLS = ("SASL_SSL", "SASL_PLAINTEXT")

# SCRAM-SHA-1 is a valid mechanism for HTTP SCRAM (RFC 7804), which hop-client accepts
# in a credential, but librdkafka (so Kafka through it) does not implement it.
_HTTP_ONLY_MECHANISMS = ("SCRAM-SHA-1",)


def _canonical_mechanism(value: SASLMethod | str) -> str:
    """The mechanism's standard name (``"SCRAM-SHA-256"``) for any accepted spelling.

    Raises
    ------
    ConfigurationError
        Not a known mechanism.
    """
    if isinstance(value, str):
        name = value.strip().upper().replace("_", "-")
        if name in _HTTP_ONLY_MECHANISMS:
            return name
    return str(SASLMethod.parse(value))


class Auth:
    """A credential for a Kafka broker.

    Parameters
    ----------
    user : str
        Username to authenticate with (for OAUTHBEARER, the OIDC client id).
    password : str
        Password to authenticate with (for OAUTHBEARER, the OIDC client secret).
    host : str, optional
        The broker (``host`` or ``host:port``) this credential is for; empty for any.
    ssl : bool, optional
        Whether to encrypt the connection with TLS (``SASL_SSL``); default True.
    method : SASLMethod or str, optional
        The SASL mechanism. Default SCRAM-SHA-512, or OAUTHBEARER when a
        ``token_endpoint`` is given. A name may be spelt with ``-`` or ``_``;
        :attr:`mechanism` returns it as given, as hop-client does. ``"SCRAM-SHA-1"``
        is accepted for HTTP SCRAM only: librdkafka cannot use it with Kafka.
    token_endpoint : str, optional
        The OIDC token endpoint URL for OAUTHBEARER (client-credentials grant).
    ssl_ca_location : str, optional
        CA certificates to verify the broker with; certifi's bundle when SSL is on and
        none is given.
    token_command : None
        Accepted for hop-client compatibility, but only None: running a shell command
        for tokens is not supported.

    Raises
    ------
    ValueError
        An empty username, an unknown mechanism, or OAUTHBEARER without a token endpoint.
    """

    __slots__ = (
        "_explicit_ca",
        "_hostname",
        "_mechanism",
        "_method",
        "_password",
        "_sasl_mechanism",
        "_ssl",
        "_ssl_ca_location",
        "_token_cache",
        "_token_endpoint",
        "_username",
    )

    def __init__(
        self,
        user: str,
        password: str,
        host: str = "",
        ssl: bool = True,
        method: SASLMethod | str | None = None,
        token_endpoint: str | None = None,
        *,
        ssl_ca_location: str | None = None,
        token_command: str | None = None,
    ) -> None:
        if token_command is not None:
            raise ConfigurationError(
                "token_command credentials (a shell command printing a token) are not "
                "supported; use an OIDC token_endpoint with a client id and secret"
            )
        if not isinstance(user, str) or not user:
            raise ConfigurationError("a credential needs a non-empty username")
        if not isinstance(password, str):
            raise ConfigurationError(f"the password of credential {user!r} must be a string")
        if method is None:
            method = SASLMethod.OAUTHBEARER if token_endpoint else SASLMethod.SCRAM_SHA_512
        canonical = _canonical_mechanism(method)
        parsed: SASLMethod | None = (
            None if canonical in _HTTP_ONLY_MECHANISMS else SASLMethod.parse(method)
        )
        if parsed is SASLMethod.OAUTHBEARER and not token_endpoint:
            raise ConfigurationError(
                f"credential {user!r} uses OAUTHBEARER but has no token_endpoint; "
                "skyhop fetches OIDC tokens with the client-credentials grant and needs one"
            )
        self._username = user
        self._password = password
        self._hostname = host or ""
        self._ssl = bool(ssl)
        self._method = parsed
        # hop-client reports a mechanism given as a string exactly as given (its
        # SASLAuth stores str(method)); the canonical name drives everything else.
        self._mechanism = method if isinstance(method, str) else canonical
        self._sasl_mechanism = canonical
        self._token_cache: tuple[str, float] | None = None
        self._token_endpoint = token_endpoint or None
        self._explicit_ca = ssl_ca_location or None
        self._ssl_ca_location: str | None = (
            (self._explicit_ca or _certifi_bundle()) if self._ssl else None
        )

    @property
    def username(self) -> str:
        """The username for this credential."""
        return self._username

    @property
    def password(self) -> str:
        """The password (or OIDC client secret) for this credential."""
        return self._password

    @property
    def hostname(self) -> str:
        """The broker this credential is for, or the empty string for any broker."""
        return self._hostname

    @property
    def method(self) -> SASLMethod | None:
        """The SASL mechanism as a :class:`SASLMethod` member (None for SCRAM-SHA-1)."""
        return self._method

    @property
    def mechanism(self) -> str:
        """The SASL mechanism, e.g. ``"SCRAM-SHA-512"``.

        As hop-client's: the standard name, or the string passed as ``method``
        exactly as given (``Auth(u, p, method="SCRAM_SHA_256").mechanism`` is
        ``"SCRAM_SHA_256"``).
        """
        return self._mechanism


    @property
    def protocol(self) -> str:
        """The security protocol: ``"SASL_SSL"`` or ``"SASL_PLAINTEXT"``."""
        return "SASL_SSL" if self._ssl else "SASL_PLAINTEXT"

    @property
    def ssl(self) -> bool:
        """Whether communication is secured with TLS."""
        return self._ssl

    @property
    def ssl_ca_location(self) -> str | None:
        """The CA certificates used to verify the broker, or None if SSL is off."""
        return self._ssl_ca_location

    @property
    def token_endpoint(self) -> str | None:
        """The OIDC token endpoint URL, or None."""
        return self._token_endpoint

    @property
    def is_scram(self) -> bool:
        """Whether this credential uses SCRAM (SCRAM-SHA-1, -256 or -512)."""
        return self._sasl_mechanism.startswith("SCRAM-")

    @property
    def is_token(self) -> bool:
        """Whether this credential uses a bearer token (OAUTHBEARER)."""
        return self._method is SASLMethod.OAUTHBEARER

    @property
    def token(self) -> str:
        """The current access token of a token credential, fetched when needed.

        Kafka connections get their tokens through librdkafka; this is for other
        protocols (HTTP bearer authentication). A token is reused until it expires;
        one whose lifetime the server did not state is fetched again each time.

        Raises
        ------
        ValueError
            This is not a token credential.
        RuntimeError
            (:class:`hop.errors.CredentialError`) The token could not be obtained;
            the message says why (hop-client's messages).
        """
        if not self.is_token:
            raise ValueError("Cannot extract a token from a non-token credential")
        import time

        cached = self._token_cache
        if cached is not None and cached[1] >= time.time():
            return cached[0]
        token, expiry = self._fetch_token()
        self._token_cache = (token, expiry)
        return token

    def _fetch_token(self) -> tuple[str, float]:
        """Obtain a new token and the time (epoch seconds) it stops being reusable."""
        from hop._auth.token import fetch_client_credentials_token

        assert self._token_endpoint is not None  # a token credential without one is refused
        return fetch_client_credentials_token(
            self._token_endpoint, self._username, self._password, ca_file=self._ssl_ca_location
        )

    def __call__(self) -> dict[str, Any]:
        """Return the librdkafka settings for this credential (as upstream's Auth did)."""
        from hop._config import auth_settings  # the one place Kafka settings are made

        return dict(auth_settings(self))

    def _key(self) -> tuple[Any, ...]:
        return (
            self._username,
            self._password,
            self._hostname,
            self._sasl_mechanism,
            self._ssl,
            self._ssl_ca_location,
            self._token_endpoint,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Auth):
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        # Never show the password: reprs end up in logs and tracebacks.
        parts = [f"user={self._username!r}", "password='***'"]
        if self._hostname:
            parts.append(f"host={self._hostname!r}")
        parts.append(f"method={self.mechanism!r}")
        parts.append(f"protocol={self.protocol!r}")
        if self._token_endpoint:
            parts.append(f"token_endpoint={self._token_endpoint!r}")
        return f"Auth({', '.join(parts)})"

    def _describe(self) -> str:
        if self._hostname:
            return f"{self._username} for {self._hostname}"
        return f"{self._username} which has no associated hostname"

    def _to_record(self) -> dict[str, str]:
        record = {
            "username": self._username,
            "password": self._password,
            "protocol": self.protocol,
            # The standard name, which hop-client reads back whatever the spelling given.
            "mechanism": self._sasl_mechanism,
        }
        if self._hostname:
            record["hostname"] = self._hostname
        # The certifi path depends on the virtualenv it was found in; storing it would
        # break the credential when that environment is rebuilt (hop-client #221).
        if self._explicit_ca and self._explicit_ca != _certifi_bundle():
            record["ssl_ca_location"] = self._explicit_ca
        if self._token_endpoint:
            record["token_endpoint"] = self._token_endpoint
        return record


def _certifi_bundle() -> str:
    import certifi

    return str(certifi.where())


# ----------------------------------------------------------------------------- selection

_HOST_PORT = re.compile(r"^(?P<host>[^\[:][^:]*|\[[^\]]+\])(?::(?P<port>[0-9]+))?$")


def _split_host_port(address: str) -> tuple[str, str | None]:
    """Split ``host[:port]`` (IPv6 literals in brackets) into a lower-cased host and port."""
    match = _HOST_PORT.match(address.strip())
    if match is None:
        return "", None
    return match.group("host").lower(), match.group("port")


def _host_matches(cred_host: str, broker: str) -> bool:
    """Whether a credential's host names the broker, a missing port meaning 9092."""
    c_host, c_port = _split_host_port(cred_host)
    b_host, b_port = _split_host_port(broker)
    if not c_host or c_host != b_host:
        return False
    return (c_port or DEFAULT_PORT) == (b_port or DEFAULT_PORT)


AuthOption = Auth | Sequence[Auth] | bool | None
"""What ``auth=`` accepts (:class:`hop.io.Stream`, ``list_topics``, the RobustProducer):
a credential, several to choose from, True to load the credential store, or
False/None for no authentication."""


def select_matching_auth(
    creds: Auth | Sequence[Auth], hostname: str, username: str | None = None
) -> Auth:
    """Select the credential to use for a broker.

    The rules, in order:

    1. credentials whose hostname names the broker (a missing port means 9092) are
       preferred; only when there are none are credentials without a hostname used;
    2. a ``username`` (from ``kafka://username@host/topic``) keeps only that user's;
    3. exactly one candidate must remain.

    Parameters
    ----------
    creds : Auth or sequence of Auth
        The candidates, e.g. from :func:`load_auth`.
    hostname : str
        The broker address, ``host`` or ``host:port``.
    username : str, optional
        The username the credential must have.

    Returns
    -------
    Auth

    Raises
    ------
    NoMatchingCredentialError
        No credential fits.
    AmbiguousCredentialError
        Several fit; the message lists them.
    """
    candidates = [creds] if isinstance(creds, Auth) else list(creds)
    if username is not None:
        candidates = [c for c in candidates if c.username == username]
    exact = [c for c in candidates if c.hostname and _host_matches(c.hostname, hostname)]
    matches = exact or [c for c in candidates if not c.hostname]
    user_part = f" with username {username!r}" if username is not None else ""
    if not matches:
        known = sorted({c._describe() for c in (creds if not isinstance(creds, Auth) else [creds])})
        listing = "".join(f"\n  {d}" for d in known) if known else " (none are configured)"
        raise NoMatchingCredentialError(
            f"No matching credential found for hostname {hostname!r}{user_part}\n"
            f"Available credentials:{listing}"
        )
    if len(matches) > 1:
        which = user_part or " with no username specified"
        listing = "".join(f"\n  {c._describe()}" for c in matches)
        raise AmbiguousCredentialError(
            f"Ambiguous credentials found for hostname {hostname!r}{which}\n"
            f"Matched credentials:{listing}"
        )
    return matches[0]
