"""A real Apache Kafka broker (KRaft, single node) on 127.0.0.1 for tests and the demo.

The broker runs from Kafka's own jars, fetched once from Maven Central (see
:mod:`hop.testing._jars`), in a JVM that this module starts, watches and always
stops. It has four listeners::

    PLAINTEXT        no authentication; clients are the super user ANONYMOUS
    SASL_PLAINTEXT   SCRAM-SHA-512 users, ACLs enforced
    SASL_SSL         the same over TLS (self-signed CA, see ``ca_file``)
    CONTROLLER       KRaft quorum, not advertised

and, when asked for (``oauthbearer=``), a fifth: OAUTHBEARER, where Kafka's own
validator checks JWTs against a JWKS that the caller serves.

Run ``hop dev-broker`` (:mod:`hop.testing.dev_broker`) to keep one, or a cluster, in
the foreground while developing.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

from hop.testing._admin import BrokerAdmin
from hop.testing._errors import BrokerError
from hop.testing._jars import ensure_kafka_jars
from hop.testing._props import (
    MESSAGE_MAX_BYTES,
    BrokerPorts,
    OAuthBearerListener,
    check_users,
    free_ports,
    log4j2_properties,
    scram_arguments,
    server_properties,
)
from hop.testing._tls import TLSFiles, ensure_tls_files

__all__ = [
    "DEFAULT_USERS",
    "MESSAGE_MAX_BYTES",
    "BrokerError",
    "BrokerPorts",
    "KafkaBroker",
    "OAuthBearerListener",
]

#: SCRAM users created at format time; ``admin`` is a super user, the others have no
#: rights until :meth:`KafkaBroker.grant` gives them some.
DEFAULT_USERS: Mapping[str, str] = {
    "admin": "admin-secret",
    "alice": "alice-secret",
    "bob": "bob-secret",
    "carol": "carol-secret",
}

# C1 only and the serial collector: on the two-core CI machines this starts faster and
# takes ~50 MB less memory than the defaults; a test broker needs no peak throughput.
_JVM_OPTIONS = (
    "-Xms256m",
    "-Xmx1g",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
)
_START_TIMEOUT_S = 120.0
_STOP_TIMEOUT_S = 30.0

# Brokers whose JVM may be running; stopped at interpreter exit whatever happened.
_RUNNING: set[KafkaBroker] = set()
_RUNNING_LOCK = threading.Lock()


def _stop_all() -> None:
    with _RUNNING_LOCK:
        brokers = list(_RUNNING)
    for broker in brokers:
        broker.stop()


atexit.register(_stop_all)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Turned into KeyboardInterrupt so that pytest (or any caller) unwinds, runs its
    # finalizers and atexit hooks, and the JVMs are stopped instead of orphaned.
    raise KeyboardInterrupt(f"signal {signum}")


def _install_sigterm_handler() -> None:
    if threading.current_thread() is not threading.main_thread():
        return
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _on_sigterm)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"({path} not readable)"
    return "\n".join(text.splitlines()[-lines:]) or f"({path} is empty)"


def _cluster_id() -> str:
    # The storage tool reads an id starting with '-' as an option (1 UUID in 64 in
    # base64url), so such ids are drawn again.
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    java = shutil.which("java")
    if java is None:
        raise BrokerError("cannot start the test broker: 'java' (17 or later) is not on PATH")
    return java


class KafkaBroker:
    """A single-node Kafka broker in a child JVM, with SCRAM users and ACLs.

    Parameters
    ----------
    data_dir : path, optional
        Where the configuration, TLS files, Kafka's data and logs live. A new
        temporary folder (removed on :meth:`close`) when omitted. Reusing a folder
        reuses its data, ports and certificates.
    ports : BrokerPorts, optional
        Fixed ports; by default the ones recorded in ``data_dir`` or free ones.
    users : mapping, optional
        SCRAM-SHA-512 users and passwords; :data:`DEFAULT_USERS` by default. Only
        used when the storage is formatted (the first start in ``data_dir``).
    start_timeout : float
        Seconds to wait for the broker to answer before giving up.
    oauthbearer : OAuthBearerListener, optional
        Add an OAUTHBEARER listener (``bootstrap["oauthbearer"]``) validating JWTs
        against this JWKS. Its key server must be running whenever the broker starts.

    Examples
    --------
    >>> from hop.testing import KafkaBroker
    >>> with KafkaBroker() as broker:
    ...     broker.create_topic("alerts")
    ...     print(broker.bootstrap["plaintext"])
    127.0.0.1:...
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        ports: BrokerPorts | None = None,
        users: Mapping[str, str] | None = None,
        start_timeout: float = _START_TIMEOUT_S,
        oauthbearer: OAuthBearerListener | None = None,
    ) -> None:
        self.oauthbearer = oauthbearer
        self.users: dict[str, str] = dict(DEFAULT_USERS if users is None else users)
        check_users(self.users)
        self._owns_data_dir = data_dir is None
        if data_dir is None:
            data_dir = tempfile.mkdtemp(prefix="skyhop-kafka-")
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._state_file = self.data_dir / "broker.json"
        state = self._load_state()
        # Ports this object picked itself may be re-picked if another process takes one
        # before the first start; fixed or recorded ports never change under a client.
        self._may_repick_ports = ports is None and "ports" not in state
        if ports is None:
            ports = (
                BrokerPorts(**state["ports"])
                if "ports" in state
                else BrokerPorts.free(oauthbearer=oauthbearer is not None)
            )
        if oauthbearer is not None and not ports.oauthbearer:
            ports = dataclasses.replace(ports, oauthbearer=free_ports(1)[0])
        self.ports = ports
        self._cluster_id: str = state.get("cluster_id") or _cluster_id()
        self._save_state()
        self.start_timeout = start_timeout
        self.log_file = self.data_dir / "logs" / "server.log"
        self.console_file = self.data_dir / "logs" / "console.log"
        self.ca_file = self._tls_folder() / "ca.pem"
        self.wrong_ca_file = self._tls_folder() / "wrong-ca.pem"
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._admin = BrokerAdmin(self.admin_config)

    # ----------------------------------------------------------------- addresses

    @property
    def bootstrap(self) -> dict[str, str]:
        """``host:port`` per client listener: ``plaintext``, ``sasl_plaintext``, ``sasl_ssl``
        (and ``oauthbearer`` when the broker has that listener)."""
        found = {
            "plaintext": f"127.0.0.1:{self.ports.plaintext}",
            "sasl_plaintext": f"127.0.0.1:{self.ports.sasl_plaintext}",
            "sasl_ssl": f"127.0.0.1:{self.ports.sasl_ssl}",
        }
        if self.oauthbearer is not None:
            found["oauthbearer"] = f"127.0.0.1:{self.ports.oauthbearer}"
        return found

    @property
    def pid(self) -> int | None:
        """The JVM's process id, or None when it was never started."""
        return None if self._proc is None else self._proc.pid

    @property
    def is_running(self) -> bool:
        """Whether the JVM is alive (it may still be starting)."""
        return self._proc is not None and self._proc.poll() is None

    def admin_config(self) -> dict[str, Any]:
        """Return librdkafka settings for a super-user admin client over PLAINTEXT."""
        return {"bootstrap.servers": self.bootstrap["plaintext"]}

    def client_config(self, listener: str = "plaintext", user: str | None = None) -> dict[str, Any]:
        """Return librdkafka settings to reach ``listener`` as ``user``.

        Parameters
        ----------
        listener : {"plaintext", "sasl_plaintext", "sasl_ssl"}
        user : str, optional
            One of :attr:`users`; required for the SASL listeners.
        """
        if listener not in self.bootstrap:
            raise ValueError(f"unknown listener {listener!r}; use one of {sorted(self.bootstrap)}")
        config: dict[str, Any] = {"bootstrap.servers": self.bootstrap[listener]}
        if listener == "plaintext":
            return config
        if user not in self.users:
            raise ValueError(f"listener {listener!r} needs a user; known: {sorted(self.users)}")
        config |= {
            "security.protocol": listener.upper(),
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": user,
            "sasl.password": self.users[user],
        }
        if listener == "sasl_ssl":
            config["ssl.ca.location"] = str(self.ca_file)
        return config

    # ----------------------------------------------------------------- administration
    # Done by the BrokerAdmin collaborator (hop.testing._admin), as the super user.

    def create_topic(
        self, name: str, partitions: int = 1, config: Mapping[str, str] | None = None
    ) -> None:
        """Create a topic and wait until every partition has a leader.

        Parameters
        ----------
        name : str
        partitions : int
        config : mapping, optional
            Topic configuration, e.g. ``{"max.message.bytes": "2097152"}``.
        """
        self._admin.create_topic(name, partitions, config)

    def delete_topic(self, name: str) -> None:
        """Delete a topic and wait until the broker no longer lists it."""
        self._admin.delete_topic(name)

    def list_topics(self) -> set[str]:
        """Return the names of the topics that exist, internal ones included."""
        return self._admin.list_topics()

    def grant(
        self,
        user: str,
        topic: str | None = None,
        group: str | None = None,
        operations: Sequence[str] | None = None,
        *,
        prefixed: bool = False,
    ) -> None:
        """Allow ``user`` operations on a topic and/or consumer group, and wait until enforced.

        Parameters
        ----------
        user : str
            The SCRAM user name (the principal is ``User:<user>``).
        topic, group : str, optional
            The resources; at least one.
        operations : sequence of str, optional
            Kafka ACL operations such as ``"READ"``, ``"WRITE"``, ``"DESCRIBE"``,
            ``"ALL"``. Default: READ, WRITE and DESCRIBE on a topic; READ and
            DESCRIBE on a group.
        prefixed : bool
            Treat the names as prefixes rather than literal names.
        """
        self._admin.grant(user, topic, group, operations, prefixed=prefixed)

    def revoke(
        self,
        user: str,
        topic: str | None = None,
        group: str | None = None,
        operations: Sequence[str] | None = None,
        *,
        prefixed: bool = False,
    ) -> None:
        """Remove what :meth:`grant` with the same arguments gave, and wait until enforced."""
        self._admin.revoke(user, topic, group, operations, prefixed=prefixed)

    def add_user(self, name: str, password: str) -> None:
        """Create (or change the password of) a SCRAM-SHA-512 user and wait until it exists.

        The user is added to :attr:`users`, so :meth:`client_config` can connect as it.
        """
        self._admin.add_user(name, password)
        self.users[name] = password

    # ----------------------------------------------------------------- lifecycle

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> None:
        """Start the broker and return once it answers metadata requests.

        Does nothing when it is already running. The first start in a data folder
        fetches the jars if needed, makes the TLS files and formats the storage.

        Raises
        ------
        BrokerError
            When the JVM exits or does not answer within ``start_timeout`` seconds;
            the message ends with the tail of the broker's log.
        """
        if self.is_running:
            return
        started = time.monotonic()
        try:
            self._start(started)
        except BrokerError as exc:
            if not (self._may_repick_ports and "Address already in use" in str(exc)):
                raise
            self.ports = BrokerPorts.free(oauthbearer=self.oauthbearer is not None)
            self._save_state()
            self._start(time.monotonic())
        self._may_repick_ports = False
        self.startup_seconds = time.monotonic() - started

    def _start(self, started: float) -> None:
        self._launch()
        try:
            self._wait_ready(started + self.start_timeout)
        except BaseException:
            self.stop()
            raise

    # Hooks that a node of a KafkaCluster (hop.testing.cluster) overrides.
    _jvm_options: tuple[str, ...] = _JVM_OPTIONS

    def _tls_folder(self) -> Path:
        return self.data_dir / "tls"

    def _server_properties(self, tls: TLSFiles) -> str:
        return server_properties(
            self.ports, self.data_dir / "kraft", tls, oauthbearer=self.oauthbearer
        )

    def _launch(self) -> None:
        """Write the configuration, format the storage on first use, and spawn the JVM."""
        libs = ensure_kafka_jars()
        tls = ensure_tls_files(self._tls_folder())
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        config = self.data_dir / "server.properties"
        config.write_text(self._server_properties(tls))
        log4j = self.data_dir / "log4j2.properties"
        log4j.write_text(log4j2_properties(self.log_file))
        classpath = f"{libs}/*"
        if not (self.data_dir / "kraft" / "meta.properties").exists():
            self._format(classpath, config)
        self._spawn(classpath, config, log4j)

    def stop(self, timeout: float = _STOP_TIMEOUT_S) -> None:
        """Stop the broker: SIGTERM, then SIGKILL after ``timeout`` seconds. Idempotent."""
        self._admin.reset()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                proc.wait(10)
        with _RUNNING_LOCK:
            _RUNNING.discard(self)

    def kill(self) -> None:
        """Kill the JVM with SIGKILL, as a crash would; the data stays for :meth:`restart`."""
        self._admin.reset()
        proc = self._proc
        if proc is not None and proc.poll() is None:
            self._signal(signal.SIGKILL)
            proc.wait(10)
        with _RUNNING_LOCK:
            _RUNNING.discard(self)

    def restart(self) -> None:
        """Stop (if running) and start again on the same data folder and ports."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the broker and remove the data folder if this object created it."""
        self.stop()
        if self._owns_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def _signal(self, signum: int) -> None:
        assert self._proc is not None
        # The JVM leads its own process group; anything it forked goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signum)

    def _load_state(self) -> dict[str, Any]:
        try:
            state: dict[str, Any] = json.loads(self._state_file.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise BrokerError(f"cannot read {self._state_file}: {exc}") from exc
        return state

    def _save_state(self) -> None:
        state = {"cluster_id": self._cluster_id, "ports": self.ports.as_dict()}
        self._state_file.write_text(json.dumps(state, indent=2) + "\n")

    def _format(self, classpath: str, config: Path) -> None:
        cmd = [
            _java(), "-Xmx256m", "-cp", classpath, "kafka.tools.StorageTool", "format",
            "-t", self._cluster_id, "-c", str(config), *scram_arguments(self.users),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        except subprocess.TimeoutExpired as exc:
            raise BrokerError(f"formatting the broker storage with {config} timed out") from exc
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-20:])
            raise BrokerError(f"formatting the broker storage with {config} failed:\n{tail}")

    def _spawn(self, classpath: str, config: Path, log4j: Path) -> None:
        cmd = [
            _java(), *self._jvm_options,
            *(self.oauthbearer.system_properties() if self.oauthbearer else []),
            f"-Dlog4j2.configurationFile={log4j}",
            f"-Dkafka.logs.dir={self.log_file.parent}",
            "-cp", classpath, "kafka.Kafka", str(config),
        ]
        setpriv = shutil.which("setpriv")
        if setpriv and threading.current_thread() is threading.main_thread():
            # If this process dies without running atexit (SIGKILL, a CI timeout), the
            # kernel sends the JVM SIGTERM. Tied to the forking thread, hence main only.
            cmd = [setpriv, "--pdeathsig", "TERM", *cmd]
        _install_sigterm_handler()
        with open(self.console_file, "ab") as console:
            self._proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=self.data_dir,
            )
        with _RUNNING_LOCK:
            _RUNNING.add(self)

    def _wait_ready(self, deadline: float) -> None:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        errors: list[str] = []
        config: dict[str, Any] = {
            **self.admin_config(),
            "reconnect.backoff.ms": 50,
            "reconnect.backoff.max.ms": 500,
            # Connection refused is expected until the JVM listens; keep stderr quiet.
            "log_level": 0,
            "error_cb": lambda err: errors.append(str(err)),
        }
        admin = AdminClient(config)
        assert self._proc is not None
        while True:
            code = self._proc.poll()
            if code is not None:
                raise BrokerError(
                    f"the Kafka broker exited with code {code} while starting; "
                    f"see {self.log_file}\n{self._diagnostics()}"
                )
            if time.monotonic() > deadline:
                raise BrokerError(
                    f"the Kafka broker did not answer on {self.bootstrap['plaintext']} within "
                    f"{self.start_timeout:.0f} s (last client error: "
                    f"{errors[-1] if errors else 'none'}); see {self.log_file}\n"
                    f"{self._diagnostics()}"
                )
            try:
                metadata = admin.list_topics(timeout=1.0)
            except KafkaException:
                continue
            if metadata.brokers:
                return

    def _diagnostics(self) -> str:
        return (
            f"--- {self.log_file} (tail) ---\n{_tail(self.log_file)}\n"
            f"--- {self.console_file} (tail) ---\n{_tail(self.console_file, 20)}"
        )
