"""All Kafka client configuration, in one place.

Options users pass to :meth:`hop.io.Stream.open` become one of two frozen dataclasses,
:class:`ConsumerConfig` or :class:`ProducerConfig`. Each has a single translation to
librdkafka settings (:meth:`~ConsumerConfig.librdkafka`). Defaults are the ``DEFAULT_*``
constants; raw librdkafka keys given in ``kafka_config`` win over everything; an option
that is not known raises instead of being silently dropped (upstream drops them).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol

from hop.errors import ConfigurationError

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_PRODUCE_TIMEOUT",
    "DEFAULT_USE_IDEMPOTENCE",
    "ConsumerConfig",
    "Credential",
    "ProducerConfig",
    "auth_settings",
    "connection_settings",
    "seconds",
]

DEFAULT_CONNECT_TIMEOUT = timedelta(seconds=10)
"""How long opening a stream or listing topics waits for a broker before failing."""

DEFAULT_PRODUCE_TIMEOUT = timedelta(seconds=30)
"""How long a written message may wait for delivery before it is reported failed.

Upstream waits forever by default, which turns an unreachable broker into a hang at
``close()``; 30 s rides out a broker restart while still ending with an error."""

DEFAULT_USE_IDEMPOTENCE = True
"""Writers are idempotent unless ``use_idempotence=False`` (upstream's default).

With ``acks=all`` (librdkafka's default, kept) a write is acknowledged only once every
in-sync replica has it, so a partition leader's crash loses nothing; but the retries of
the writes in flight at the crash stored some twice. Measured on a three-node cluster,
leader SIGKILLed during 1,000 msg/s (tests/integration/test_cluster_failover.py): 3
duplicates per kill without idempotence, none with it, and no slower produce
(``./run bench scale``). Brokers older than Kafka 2.8 with ACLs need the
IDEMPOTENT_WRITE cluster permission for it."""

DEFAULT_MESSAGE_MAX_BYTES = 64 * 1024 * 1024
"""Client-side size cap. The topic's own ``max.message.bytes`` is checked per write."""

DEFAULT_OFFSET_COMMIT_INTERVAL = timedelta(seconds=5)
"""How often handled offsets are committed: librdkafka's own interval, which bounds what a
crashed reader reads again to a few seconds of messages."""

DEFAULT_RECONNECT_BACKOFF = timedelta(milliseconds=100)
"""First pause before reconnecting to a broker: librdkafka's default, quick enough that a
broker restart costs a reader well under a second."""

DEFAULT_RECONNECT_MAX = timedelta(seconds=10)
"""Longest pause between reconnection attempts: librdkafka's default; an outage of
minutes is noticed within 10 s of its end."""

DEFAULT_PRODUCE_BACKOFF = timedelta(milliseconds=100)
"""Pause before retrying a failed produce request: librdkafka's default, short enough to
ride out a leader election without adding latency to every message."""

DEFAULT_FETCH_WAIT_MS = 100
"""How long the broker may hold a fetch to fill it (librdkafka: 500 ms): alerts are
small and rare, so waiting for a fuller fetch would only add latency."""

DEFAULT_FETCH_SETTINGS: dict[str, int] = {
    "queued.max.messages.kbytes": 1024,
    "fetch.max.bytes": 1048576,
    "max.partition.fetch.bytes": 262144,
    "fetch.queue.backoff.ms": 1,
}
"""How much a reader prefetches, and how it refills.

librdkafka's defaults prefetch up to 64 MiB per partition (100k messages), which made a
replay of 100k small messages peak at ~90 MiB, twice upstream's 48 MiB. A 1 MiB queue
refilled by fetches of at most 1 MiB (256 KiB per partition) with a 1 ms backoff keeps
a replay at ~44 MiB with the same rate (``./run bench stream --only memory
--fetch-table``). The backoff is what matters: a small queue alone stalled the reader on
the default 1 s backoff (half the rate). A record batch bigger than these limits is
still fetched (Kafka returns at least one), so large alerts are not refused; a
``message.max.bytes`` above 1 MiB in ``kafka_config`` raises ``fetch.max.bytes`` with it,
which librdkafka requires."""

DEFAULT_LINGER_MS = 2
"""How long the producer holds a message to batch it with the next ones.

librdkafka's default is 5 ms. Alert streams care more about latency than bulk rate:
measured with ``./run bench`` (write to model at 100 msg/s) 2 ms takes the median
from ~7 to ~4.5 ms and halves the messages over 10 ms, for a bulk rate of small
messages ~10-20% lower. ``kafka_config={"linger.ms": ...}`` overrides it."""


class Credential(Protocol):
    """What the Kafka settings need of a credential: a :class:`hop.auth.Auth`.

    A protocol rather than the class, so that configuration does not depend on the
    credential store (data flows from credentials to Kafka settings, not back).
    """

    @property
    def username(self) -> str: ...
    @property
    def password(self) -> str: ...
    @property
    def mechanism(self) -> str: ...
    @property
    def protocol(self) -> str: ...
    @property
    def ssl(self) -> bool: ...
    @property
    def ssl_ca_location(self) -> str | None: ...


def seconds(value: timedelta | float | int | None, name: str) -> float | None:
    """Return a duration in seconds, accepting ``timedelta`` or a number."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise ConfigurationError(f"{name} must be a datetime.timedelta or a number of seconds")


def _ms(value: timedelta | float, name: str) -> int:
    s = seconds(value, name)
    assert s is not None
    if s < 0:
        raise ConfigurationError(f"{name} must not be negative")
    return int(s * 1000)


class _LibrdkafkaLog:
    """Receives librdkafka's own log lines.

    librdkafka logs every failed connection attempt; the errors that matter reach
    hop through the error callback, so its log is kept at DEBUG rather than flooding
    stderr at 3 a.m.
    """

    _logger = logging.getLogger("hop.librdkafka")

    def log(self, level: int, fmt: str, *args: Any) -> None:
        if self._logger.isEnabledFor(logging.DEBUG):
            self._logger.debug("[%s] " + fmt, logging.getLevelName(level), *args)


LIBRDKAFKA_LOG = _LibrdkafkaLog()
"""The ``logger`` given to every librdkafka client."""


def auth_settings(auth: Credential | None) -> dict[str, Any]:
    """librdkafka settings for a credential (a :class:`hop.auth.Auth`) or None."""
    if auth is None:
        return {}
    # Auth.mechanism reports a name as the user spelt it (hop-client's contract);
    # librdkafka needs the standard one.
    mechanism = str(getattr(auth, "_sasl_mechanism", auth.mechanism)).upper().replace("_", "-")
    if mechanism == "SCRAM-SHA-1":
        raise ConfigurationError(
            f"credential {auth.username!r} uses SCRAM-SHA-1, which Kafka clients "
            "(librdkafka) cannot use; it is valid for HTTP SCRAM (hop.http_scram) only. "
            "Use SCRAM-SHA-512 or SCRAM-SHA-256 for the broker"
        )
    settings: dict[str, Any] = {
        "security.protocol": auth.protocol,
        "sasl.mechanism": mechanism,
    }
    if auth.ssl:
        ca = auth.ssl_ca_location
        if ca:
            settings["ssl.ca.location"] = ca
            # librdkafka's OIDC token fetch uses its own HTTP client and CA setting.
            settings["https.ca.location"] = ca
    if auth.mechanism == "OAUTHBEARER":
        endpoint = getattr(auth, "token_endpoint", None)
        command = getattr(auth, "_token_source", None)
        if command is not None and not endpoint:
            # A program prints the tokens: librdkafka asks for them through oauth_cb.
            settings.update({"sasl.oauthbearer.method": "default", "oauth_cb": command})
            return settings
        if not endpoint:
            raise ConfigurationError(
                f"credential {auth.username!r} uses OAUTHBEARER but has no token endpoint"
            )
        settings.update(
            {
                "sasl.oauthbearer.method": "oidc",
                "sasl.oauthbearer.client.id": auth.username,
                "sasl.oauthbearer.client.secret": auth.password,
                "sasl.oauthbearer.token.endpoint.url": endpoint,
            }
        )
    else:
        settings["sasl.username"] = auth.username
        settings["sasl.password"] = auth.password
    return settings


def connection_settings(
    brokers: str, auth: Credential | None, connect_timeout_ms: int
) -> dict[str, Any]:
    """librdkafka settings every client needs: the brokers, logging and the credential.

    Readers, writers and admin clients all start from these, so a setting that affects
    how a client connects is made in one place.

    Parameters
    ----------
    brokers : str
        ``bootstrap.servers``: comma-separated ``host:port``.
    auth : hop.auth.Auth or None
        The credential; None for an unauthenticated connection.
    connect_timeout_ms : int
        How long one connection attempt may take, in milliseconds.
    """
    conf: dict[str, Any] = {
        "bootstrap.servers": brokers,
        "logger": LIBRDKAFKA_LOG,
        # librdkafka refuses a connection setup timeout under one second.
        "socket.connection.setup.timeout.ms": max(1000, connect_timeout_ms),
    }
    conf.update(auth_settings(auth))
    prime = getattr(conf.get("oauth_cb"), "prime", None)
    if prime is not None:
        # The client about to be built needs its first token at once; fetching it here
        # turns a failing token command into an error naming it, instead of
        # confluent-kafka's 10 s wait for a token that never comes.
        prime()
    return conf


def _from_kwargs(
    cls: type, kind: str, kwargs: Mapping[str, Any], also: frozenset[str] = frozenset()
) -> Any:
    # ``also``: options the stream itself takes before these (named in the message).
    names = {f.name for f in dataclasses.fields(cls)} | also
    unknown = sorted(set(kwargs) - names)
    if unknown:
        raise ConfigurationError(
            f"unknown option(s) for a {kind} stream: {', '.join(unknown)}; "
            f"valid options are {', '.join(sorted(names))}"
        )
    return cls(**{k: v for k, v in kwargs.items() if k not in also})


@dataclass(frozen=True)
class _Common:
    error_callback: Callable[[Any], None] | None = None
    """Called with each librdkafka client error (connection loss and the like)."""
    connect_timeout: timedelta | float = DEFAULT_CONNECT_TIMEOUT
    """How long to wait for a broker when opening before raising
    :class:`~hop.errors.BrokerUnreachableError`."""
    reconnect_backoff_time: timedelta | float = DEFAULT_RECONNECT_BACKOFF
    """First delay before reconnecting to a broker."""
    reconnect_max_time: timedelta | float = DEFAULT_RECONNECT_MAX
    """Longest delay between reconnection attempts."""
    kafka_config: Mapping[str, Any] = field(default_factory=dict)
    """Raw librdkafka settings; these win over every default."""
    fetch_external: bool = True
    """Readers: download offloaded messages (an ``ExternalMessage`` placeholder becomes
    the original message); False yields the placeholders themselves."""
    automatic_offload: bool = True
    """Writers: send a message larger than its topic's ``max.message.bytes`` to the
    offload service the broker announces (``sys.metadata``) and write a placeholder;
    False never asks the broker for the topic's limit or the service."""

    def _base(self, brokers: str, auth: Credential | None) -> dict[str, Any]:
        conf = connection_settings(brokers, auth, _ms(self.connect_timeout, "connect_timeout"))
        conf.update(
            {
                "reconnect.backoff.ms": _ms(self.reconnect_backoff_time, "reconnect_backoff_time"),
                "reconnect.backoff.max.ms": _ms(self.reconnect_max_time, "reconnect_max_time"),
            }
        )
        return conf

    @property
    def connect_seconds(self) -> float:
        """``connect_timeout`` in seconds."""
        value = seconds(self.connect_timeout, "connect_timeout")
        assert value is not None
        return value


@dataclass(frozen=True)
class ConsumerConfig(_Common):
    """Options of a stream opened for reading."""

    offset_commit_interval: timedelta | float = DEFAULT_OFFSET_COMMIT_INTERVAL
    """How often offsets of handled messages are committed in the background."""
    check_crcs: bool = False
    """Verify CRC32 of consumed records."""
    session_timeout: timedelta | float | None = None
    """Consumer-group session timeout (librdkafka's default when None)."""

    @classmethod
    def from_kwargs(
        cls, kwargs: Mapping[str, Any], *, also: frozenset[str] = frozenset()
    ) -> ConsumerConfig:
        """Build from ``Stream.open`` keyword arguments, refusing unknown ones.

        ``also`` names the options the reader takes itself (``start_at``...), so the
        error for an unknown option lists them among the valid ones.
        """
        return _from_kwargs(cls, "read", kwargs, also)  # type: ignore[no-any-return]

    def librdkafka(
        self, brokers: str, group_id: str, auth: Credential | None, *, offset_reset: str, eof: bool
    ) -> dict[str, Any]:
        """The complete librdkafka consumer configuration."""
        conf = self._base(brokers, auth)
        conf.update(
            {
                "group.id": group_id,
                "auto.offset.reset": offset_reset,
                "enable.partition.eof": eof,
                # Offsets are stored only once a message is handled (after the caller
                # asked for the next one, or in mark_done), then committed in the
                # background: nothing is marked read before the user has it.
                "enable.auto.commit": True,
                "enable.auto.offset.store": False,
                "auto.commit.interval.ms": _ms(
                    self.offset_commit_interval, "offset_commit_interval"
                ),
                "check.crcs": self.check_crcs,
                "fetch.wait.max.ms": DEFAULT_FETCH_WAIT_MS,
                **DEFAULT_FETCH_SETTINGS,
            }
        )
        if self.session_timeout is not None:
            conf["session.timeout.ms"] = _ms(self.session_timeout, "session_timeout")
        conf.update(self.kafka_config)
        if "fetch.max.bytes" not in self.kafka_config:
            # librdkafka refuses a fetch.max.bytes below message.max.bytes.
            try:
                wanted = int(self.kafka_config.get("message.max.bytes", 0))
            except (TypeError, ValueError):
                wanted = 0  # librdkafka names the bad value itself
            conf["fetch.max.bytes"] = max(conf["fetch.max.bytes"], wanted)
        return conf


@dataclass(frozen=True)
class ProducerConfig(_Common):
    """Options of a stream opened for writing."""

    produce_timeout: timedelta | float | None = DEFAULT_PRODUCE_TIMEOUT
    """Delivery deadline per message; 0 means no deadline (upstream's default)."""
    produce_backoff_time: timedelta | float = DEFAULT_PRODUCE_BACKOFF
    """Delay between retries of a failed produce request."""
    use_idempotence: bool = DEFAULT_USE_IDEMPOTENCE
    """Enable librdkafka's idempotent producer (no duplicates from retries); on by
    default, unlike upstream (see :data:`DEFAULT_USE_IDEMPOTENCE`)."""
    compression_type: str | None = None
    """One of none, gzip, snappy, lz4, zstd."""
    message_max_bytes: int | None = None
    """Client-side cap on one message's size; the topic's limit is also checked."""
    topic_check_period: timedelta | float = timedelta(seconds=1800)
    """How long a topic's size limit, read from the broker, is trusted."""

    @classmethod
    def from_kwargs(cls, kwargs: Mapping[str, Any]) -> ProducerConfig:
        """Build from ``Stream.open`` keyword arguments, refusing unknown ones."""
        config: ProducerConfig = _from_kwargs(cls, "write", kwargs)
        if config.compression_type not in (None, "none", "gzip", "snappy", "lz4", "zstd"):
            raise ConfigurationError(
                f"compression_type {config.compression_type!r} is not one of "
                "none, gzip, snappy, lz4, zstd"
            )
        backoff = seconds(config.produce_backoff_time, "produce_backoff_time")
        if backoff is not None and backoff < 0.001:
            raise ConfigurationError("produce_backoff_time must be at least 1 ms")
        return config

    @property
    def produce_seconds(self) -> float | None:
        """Delivery deadline in seconds; None for none."""
        value = seconds(self.produce_timeout, "produce_timeout")
        return value if value else None

    def librdkafka(self, brokers: str, auth: Credential | None) -> dict[str, Any]:
        """The complete librdkafka producer configuration."""
        conf = self._base(brokers, auth)
        conf.update(
            {
                "message.timeout.ms": _ms(self.produce_timeout or 0, "produce_timeout"),
                "retry.backoff.ms": _ms(self.produce_backoff_time, "produce_backoff_time"),
                "enable.idempotence": self.use_idempotence,
                "compression.type": self.compression_type or "none",
                "message.max.bytes": self.message_max_bytes or DEFAULT_MESSAGE_MAX_BYTES,
                "linger.ms": DEFAULT_LINGER_MS,
            }
        )
        conf.update(self.kafka_config)
        return conf
