"""The test broker's configuration files, rendered from plain values (no I/O)."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from hop.testing._tls import TLSFiles

#: The largest record batch the test broker accepts: room for ~1 MB IGWN alerts
#: (base64 sky maps) plus headers and batch overhead.
MESSAGE_MAX_BYTES = 4 * 1024 * 1024

#: Characters allowed in test user names and passwords. StorageTool's ``-S`` syntax
#: splits on ``,`` ``=`` and ``]``, so anything fancier would need quoting.
_SAFE_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")

_SCRAM_JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
_OAUTHBEARER_JAAS = (
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required;"
)
_OAUTHBEARER_VALIDATOR = (
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
)


@dataclass(frozen=True)
class OAuthBearerListener:
    """An OAUTHBEARER listener whose tokens Kafka's own validator checks against a JWKS.

    The broker (``OAuthBearerValidatorCallbackHandler``) fetches the signing keys from
    ``jwks_url`` when it starts, so the key server must be up by then. The token's
    ``sub`` claim is the principal (``User:<sub>``) that ACLs name.
    """

    jwks_url: str
    """Where the broker reads the JSON Web Key Set, e.g. ``http://127.0.0.1:8080/jwks``."""
    audience: str | None = None
    """The ``aud`` claim tokens must carry, or None to accept any."""
    issuer: str | None = None
    """The ``iss`` claim tokens must carry, or None to accept any."""

    def system_properties(self) -> list[str]:
        """JVM options the listener needs.

        Kafka 3.9.1 and 4.x read JWKS and token endpoints only from URLs allowed by a
        system property (CVE-2025-27817), so the key server's URL is named there.
        """
        return [f"-Dorg.apache.kafka.sasl.oauthbearer.allowed.urls={self.jwks_url}"]

    def properties(self, prefix: str) -> dict[str, str]:
        """The listener's ``server.properties`` entries, keys under ``prefix``."""
        props = {
            f"{prefix}sasl.enabled.mechanisms": "OAUTHBEARER",
            f"{prefix}oauthbearer.sasl.jaas.config": _OAUTHBEARER_JAAS,
            f"{prefix}oauthbearer.sasl.server.callback.handler.class": _OAUTHBEARER_VALIDATOR,
            f"{prefix}oauthbearer.sasl.oauthbearer.jwks.endpoint.url": self.jwks_url,
            # Re-authentication is enforced, so a connection lives no longer than its
            # token: the broker ends the session at the token's exp (KIP-368) and the
            # client must bring a fresh one, as a real OIDC deployment requires.
            f"{prefix}oauthbearer.connections.max.reauth.ms": "3600000",
            # The default tolerates 30 s of clock skew, which would let a client that
            # never renews its token pass a test with tokens of seconds; one process
            # clock here, so 5 s is plenty.
            f"{prefix}oauthbearer.sasl.oauthbearer.clock.skew.seconds": "5",
        }
        if self.audience:
            props[f"{prefix}oauthbearer.sasl.oauthbearer.expected.audience"] = self.audience
        if self.issuer:
            props[f"{prefix}oauthbearer.sasl.oauthbearer.expected.issuer"] = self.issuer
        return props


@dataclass(frozen=True)
class BrokerPorts:
    """The TCP ports of the broker's four listeners, all on 127.0.0.1."""

    plaintext: int
    """Unauthenticated clients; they act as the super user ``ANONYMOUS``."""
    controller: int
    """The KRaft controller; not advertised to clients."""
    sasl_plaintext: int
    """SCRAM-SHA-512 without TLS."""
    sasl_ssl: int
    """SCRAM-SHA-512 over TLS."""
    oauthbearer: int = 0
    """OAUTHBEARER (JWTs checked against a JWKS) without TLS; 0 when the broker has no
    such listener (see :class:`OAuthBearerListener`)."""

    @classmethod
    def free(cls, oauthbearer: bool = False) -> BrokerPorts:
        """Pick distinct ports that are free on 127.0.0.1 right now.

        Four, or five with ``oauthbearer`` (a port for the OAUTHBEARER listener too).
        """
        return cls(*free_ports(5 if oauthbearer else 4))

    def as_dict(self) -> dict[str, int]:
        """Return the ports keyed by listener name, as stored in ``broker.json``."""
        return {
            "plaintext": self.plaintext,
            "controller": self.controller,
            "sasl_plaintext": self.sasl_plaintext,
            "sasl_ssl": self.sasl_ssl,
            **({"oauthbearer": self.oauthbearer} if self.oauthbearer else {}),
        }


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct TCP ports that are free on 127.0.0.1.

    All sockets stay bound until every port is chosen, so the kernel cannot hand
    out the same port twice; another process may still take one before the broker
    binds it, which the broker then reports as a start-up failure.
    """
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
        return ports


def check_users(users: Mapping[str, str]) -> None:
    """Raise ``ValueError`` for a user name or password StorageTool cannot take."""
    for name, password in users.items():
        for what, value in (("user name", name), ("password", password)):
            if not value or not set(value) <= _SAFE_CHARS:
                raise ValueError(
                    f"test broker {what} {value!r} (user {name!r}) must be non-empty and use "
                    "only letters, digits, '-', '_' and '.'"
                )


def scram_arguments(users: Mapping[str, str]) -> list[str]:
    """Return StorageTool's ``-S`` arguments that create the SCRAM users at format time."""
    args = []
    for name, password in users.items():
        args += ["-S", f"SCRAM-SHA-512=[name={name},password={password}]"]
    return args


def server_properties(
    ports: BrokerPorts,
    log_dir: Path,
    tls: TLSFiles,
    *,
    node_id: int = 1,
    voters: Mapping[int, int] | None = None,
    replication: int = 1,
    min_insync: int = 1,
    oauthbearer: OAuthBearerListener | None = None,
) -> str:
    """Render ``server.properties`` for one KRaft node (broker and controller).

    Parameters
    ----------
    ports : BrokerPorts
        This node's listeners.
    log_dir : Path
        Kafka's data folder (``log.dirs``).
    tls : TLSFiles
        The SASL_SSL listener's keystore.
    node_id : int
        This node's id in the quorum.
    voters : mapping, optional
        ``{node id: controller port}`` of every controller in the quorum; this node
        alone when omitted (a single-node broker).
    replication, min_insync : int
        Replication factor and ``min.insync.replicas`` of new and internal topics.
    oauthbearer : OAuthBearerListener, optional
        Add the OAUTHBEARER listener (on ``ports.oauthbearer``).
    """
    host = "127.0.0.1"
    voters = voters or {node_id: ports.controller}
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": ",".join(
            f"{node}@{host}:{port}" for node, port in sorted(voters.items())
        ),
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listeners": ",".join([
            f"PLAINTEXT://{host}:{ports.plaintext}",
            f"CONTROLLER://{host}:{ports.controller}",
            f"SASL_PLAINTEXT://{host}:{ports.sasl_plaintext}",
            f"SASL_SSL://{host}:{ports.sasl_ssl}",
        ]),
        "advertised.listeners": ",".join([
            f"PLAINTEXT://{host}:{ports.plaintext}",
            f"SASL_PLAINTEXT://{host}:{ports.sasl_plaintext}",
            f"SASL_SSL://{host}:{ports.sasl_ssl}",
        ]),
        "listener.security.protocol.map": (
            "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
            "SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL"
        ),
        "sasl.enabled.mechanisms": "SCRAM-SHA-512",
        "listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config": _SCRAM_JAAS,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": _SCRAM_JAAS,
        "listener.name.sasl_ssl.ssl.keystore.type": "PKCS12",
        "listener.name.sasl_ssl.ssl.keystore.location": str(tls.keystore),
        "listener.name.sasl_ssl.ssl.keystore.password": tls.keystore_password,
        "listener.name.sasl_ssl.ssl.key.password": tls.keystore_password,
        # ANONYMOUS must be super: the node talks to its own controller over PLAINTEXT.
        "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "super.users": "User:ANONYMOUS;User:admin",
        "allow.everyone.if.no.acl.found": "false",
        "auto.create.topics.enable": "false",
        "log.dirs": str(log_dir),
        "num.partitions": "1",
        "default.replication.factor": str(replication),
        "min.insync.replicas": str(min_insync),
        "offsets.topic.replication.factor": str(replication),
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": str(replication),
        "transaction.state.log.min.isr": str(min_insync),
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": str(replication),
        "share.coordinator.state.topic.min.isr": str(min_insync),
        "share.coordinator.state.topic.num.partitions": "1",
        "group.initial.rebalance.delay.ms": "0",
        # Large alerts: the batch limit, and the fetch limits kept at least as large so a
        # consumer is never stuck behind a batch it may not fetch.
        "message.max.bytes": str(MESSAGE_MAX_BYTES),
        "replica.fetch.max.bytes": str(MESSAGE_MAX_BYTES),
        "replica.fetch.response.max.bytes": str(4 * MESSAGE_MAX_BYTES),
        # Two cores in CI: fewer threads, and a small dedupe buffer for the compacted
        # offsets topic (the default 128 MiB would dominate the heap).
        "num.network.threads": "2",
        "num.io.threads": "4",
        "background.threads": "4",
        "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
        "num.recovery.threads.per.data.dir": "1",
        # After a SIGKILL the restarted controller refuses the new broker incarnation
        # (DUPLICATE_BROKER_REGISTRATION) until the old one's session expires; the
        # default 9 s made every crash test wait. Still far above a GC pause.
        "broker.session.timeout.ms": "4000",
        "broker.heartbeat.interval.ms": "500",
    }
    if oauthbearer is not None:
        if not ports.oauthbearer:
            raise ValueError("an OAUTHBEARER listener needs BrokerPorts.oauthbearer")
        address = f"OAUTHBEARER://{host}:{ports.oauthbearer}"
        lines["listeners"] += f",{address}"
        lines["advertised.listeners"] += f",{address}"
        lines["listener.security.protocol.map"] += ",OAUTHBEARER:SASL_PLAINTEXT"
        lines.update(oauthbearer.properties("listener.name.oauthbearer."))
    return "".join(f"{key}={value}\n" for key, value in lines.items())


def log4j2_properties(log_file: Path) -> str:
    """Render a log4j2 configuration that writes the broker's log to ``log_file``."""
    return "\n".join([
        "status = warn",
        "appender.file.type = File",
        "appender.file.name = FILE",
        f"appender.file.fileName = {log_file}",
        "appender.file.append = true",
        "appender.file.layout.type = PatternLayout",
        "appender.file.layout.pattern = [%d] %p %m (%c)%n",
        "rootLogger.level = INFO",
        "rootLogger.appenderRef.file.ref = FILE",
        # Refused requests are what the ACL tests look for when they fail.
        "logger.authorizer.name = kafka.authorizer.logger",
        "logger.authorizer.level = INFO",
        "logger.request.name = kafka.request.logger",
        "logger.request.level = WARN",
        "",
    ])
