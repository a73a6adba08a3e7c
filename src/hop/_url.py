"""Parsing of ``kafka://`` URLs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from hop.errors import ConfigurationError

__all__ = ["DEFAULT_PORT", "KafkaURL", "parse_url"]

DEFAULT_PORT = 9092
"""Port used when a broker address in a URL has none."""

_TOPIC_RE = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
_HOST_RE = re.compile(r"^[A-Za-z0-9._-]+$")


@dataclass(frozen=True, slots=True)
class KafkaURL:
    """The parts of a ``kafka://[username@]host[:port][,host2[:port]]/topic[,topic2]`` URL."""

    username: str | None
    """Credential username named before ``@``, percent-decoded; None when absent."""
    brokers: tuple[str, ...]
    """Broker addresses as ``host:port`` (IPv6 hosts keep their brackets)."""
    topics: tuple[str, ...]
    """Topic names; empty when the URL names none."""

    @property
    def bootstrap(self) -> str:
        """The brokers joined for librdkafka's ``bootstrap.servers``."""
        return ",".join(self.brokers)


def _parse_broker(url: str, text: str) -> str:
    if not text:
        raise ConfigurationError(f"invalid kafka URL {url!r}: empty broker address")
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ConfigurationError(f"invalid kafka URL {url!r}: unclosed '[' in {text!r}")
        host, rest = text[: end + 1], text[end + 1 :]
        if len(host) <= 2:
            raise ConfigurationError(f"invalid kafka URL {url!r}: empty IPv6 address")
        if rest and not rest.startswith(":"):
            raise ConfigurationError(
                f"invalid kafka URL {url!r}: expected ':port' after {host!r}, got {rest!r}"
            )
        port_text = rest[1:] if rest else ""
    else:
        host, sep, port_text = text.partition(":")
        if ":" in port_text:
            raise ConfigurationError(
                f"invalid kafka URL {url!r}: {text!r} has several ':'; "
                "write IPv6 addresses in brackets, e.g. [::1]:9092"
            )
        if sep and not port_text:
            raise ConfigurationError(f"invalid kafka URL {url!r}: empty port in {text!r}")
        if not _HOST_RE.match(host):
            raise ConfigurationError(f"invalid kafka URL {url!r}: bad host name {host!r}")
    if not port_text:
        return f"{host}:{DEFAULT_PORT}"
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigurationError(
            f"invalid kafka URL {url!r}: port {port_text!r} is not a number from 1 to 65535"
        )
    return f"{host}:{int(port_text)}"


def parse_url(url: str) -> KafkaURL:
    """Split a kafka URL into credential username, brokers and topics.

    Parameters
    ----------
    url : str
        ``kafka://[username@]host[:port][,host2[:port]][/topic[,topic2...]]``.

    Returns
    -------
    KafkaURL

    Raises
    ------
    hop.errors.ConfigurationError
        (a ``ValueError``) naming what is wrong with the URL.
    """
    if not isinstance(url, str):
        raise ConfigurationError(f"a kafka URL must be a str, got {type(url).__name__}")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != "kafka":
        raise ConfigurationError(f"invalid kafka URL {url!r}: must start with 'kafka://'")
    netloc, _, path = rest.partition("/")
    if "?" in path or "#" in path:
        raise ConfigurationError(f"invalid kafka URL {url!r}: query strings are not supported")
    username: str | None = None
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        # A password in the URL is never used: credentials come from the auth store.
        user = userinfo.split(":", 1)[0]
        if not user:
            raise ConfigurationError(f"invalid kafka URL {url!r}: empty username before '@'")
        username = unquote(user)
    if not netloc:
        raise ConfigurationError(f"invalid kafka URL {url!r}: no broker address")
    brokers = tuple(_parse_broker(url, part) for part in netloc.split(","))
    topics: tuple[str, ...] = ()
    path = path.rstrip("/")
    if path:
        topics = tuple(path.split(","))
        for topic in topics:
            if not _TOPIC_RE.match(topic):
                raise ConfigurationError(
                    f"invalid kafka URL {url!r}: bad topic name {topic!r} (topics use letters, "
                    "digits, '.', '_' and '-', at most 249 characters)"
                )
    return KafkaURL(username=username, brokers=brokers, topics=topics)
