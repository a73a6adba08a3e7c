"""A real Apache Kafka broker (KRaft, single node) on 127.0.0.1 for tests and the demo.

The broker runs from Kafka's own jars, fetched once from Maven Central (see
:mod:`hop.testing._jars`), in a JVM that this module starts, watches and always
stops. It has four listeners::

    PLAINTEXT        no authentication; clients are the super user ANONYMOUS
    SASL_PLAINTEXT   SCRAM-SHA-512 users, ACLs enforced
    SASL_SSL         the same over TLS (self-signed CA, see ``ca_file``)
    CONTROLLER       KRaft quorum, not advertised

Run ``python -m hop.testing.broker`` (or ``hop dev-broker``) to keep one in the
foreground while developing.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from hop.errors import HopError
from hop.testing._admin import BrokerAdmin
from hop.testing._errors import BrokerError
from hop.testing._jars import KAFKA_VERSION, ensure_kafka_jars
from hop.testing._props import (
    MESSAGE_MAX_BYTES,
    BrokerPorts,
    check_users,
    free_ports,
    log4j2_properties,
    scram_arguments,
    server_properties,
)
from hop.testing._tls import TLSFiles, ensure_tls_files

if TYPE_CHECKING:
    from hop.testing.cluster import KafkaCluster

__all__ = [
    "DEFAULT_USERS",
    "DEV_PLAINTEXT_PORT",
    "DEV_PORTS",
    "MESSAGE_MAX_BYTES",
    "BrokerError",
    "BrokerPorts",
    "KafkaBroker",
    "build_parser",
    "main",
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
    ) -> None:
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
            ports = BrokerPorts(**state["ports"]) if "ports" in state else BrokerPorts.free()
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
        """``host:port`` per client listener: ``plaintext``, ``sasl_plaintext``, ``sasl_ssl``."""
        return {
            "plaintext": f"127.0.0.1:{self.ports.plaintext}",
            "sasl_plaintext": f"127.0.0.1:{self.ports.sasl_plaintext}",
            "sasl_ssl": f"127.0.0.1:{self.ports.sasl_ssl}",
        }

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
            self.ports = BrokerPorts.free()
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
        return server_properties(self.ports, self.data_dir / "kraft", tls)

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


# --------------------------------------------------------------------- command line


def _topic_spec(text: str) -> tuple[str, int]:
    name, _, partitions = text.partition(":")
    if not name or (partitions and not partitions.isdigit()) or partitions == "0":
        raise argparse.ArgumentTypeError(
            f"{text!r} is not NAME or NAME:PARTITIONS (partitions a positive number)"
        )
    return name, int(partitions or 1)


def _node_count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 9:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of nodes from 1 to 9")
    return int(text)


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The ``hop dev-broker`` parser (also used to document the command)."""
    parser = argparse.ArgumentParser(
        prog=prog or "python -m hop.testing.broker",
        description=f"Run a local Apache Kafka {KAFKA_VERSION} broker for development.",
    )
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="keep data here (default: a temporary folder removed at exit)")
    for listener, port in DEV_PORTS.items():
        parser.add_argument(f"--{listener.replace('_', '-')}-port", type=int, default=None,
                            metavar="PORT", help=f"{listener.upper()} port (default: {port} when "
                            "free, else a free one; 0: any free port)")
    parser.add_argument("--controller-port", type=int, default=0, metavar="PORT",
                        help="KRaft controller port (default: a free one)")
    parser.add_argument("--start-timeout", type=float, default=_START_TIMEOUT_S,
                        metavar="SECONDS")
    parser.add_argument("--nodes", type=_node_count, default=1, metavar="N",
                        help="run a cluster of N nodes (KRaft quorum, topics replicated "
                        "min(3, N) times, min.insync.replicas 2 from 3 nodes); the port "
                        "options apply to node 1, the others take free ports")
    # The broker does not create topics on first use, so a developer names them here.
    parser.add_argument("-t", "--topic", type=_topic_spec, action="append", default=[],
                        metavar="NAME[:PARTITIONS]",
                        help="create this topic at start (repeatable); sized for 4 MiB alerts")
    return parser


def _parse_args(argv: Sequence[str] | None, prog: str | None = None) -> argparse.Namespace:
    return build_parser(prog).parse_args(argv)


DEV_PORTS: Mapping[str, int] = {"plaintext": 9092, "sasl_plaintext": 9093, "sasl_ssl": 9094}
"""The ports ``hop dev-broker`` takes when they are free: Kafka's customary ones, so that
``kafka://localhost:9092/...`` examples (and ``localhost:9093`` for SCRAM) work as written."""
DEV_PLAINTEXT_PORT = DEV_PORTS["plaintext"]


def _port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a listening socket could bind ``host:port`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the JVM's server sockets do: a port held only by closing connections is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _choose_port(listener: str, preferred: int) -> tuple[int, str | None]:
    """``(preferred, None)`` when that port is free, else ``(a free port, why)``."""
    if _port_is_free(preferred):
        return preferred, None
    (port,) = free_ports(1)
    return port, (
        f"port {preferred} on 127.0.0.1 is in use, so the {listener.upper()} listener takes "
        f"port {port} instead: use localhost:{port} in place of localhost:{preferred}"
    )


def _ports_from(args: argparse.Namespace) -> tuple[BrokerPorts | None, list[str]]:
    """The ports to start with (None: the data folder's recorded ones), and notices.

    A listener's option is None (its port in :data:`DEV_PORTS` when free, else a free
    one), 0 (any free port) or a port (which must be free).
    """
    given = {listener: getattr(args, f"{listener}_port") for listener in DEV_PORTS}
    state = Path("node-1", "broker.json") if args.nodes > 1 else Path("broker.json")
    recorded = args.data_dir is not None and (Path(args.data_dir) / state).is_file()
    if recorded and all(v is None for v in given.values()) and not args.controller_port:
        return None, []  # a data folder keeps the ports its clients know
    chosen: dict[str, int] = {}
    notices = []
    for listener, port in given.items():
        if port is None:
            port, notice = _choose_port(listener, DEV_PORTS[listener])
            if notice:
                notices.append(notice)
        elif port and not _port_is_free(port):
            raise HopError(f"port {port} on 127.0.0.1 is in use (choose another, or 0)")
        chosen[listener] = port
    chosen["controller"] = args.controller_port
    free = iter(p for p in free_ports(len(chosen) + 1) if p not in chosen.values())
    ports = {listener: port or next(free) for listener, port in chosen.items()}
    return BrokerPorts(**ports), notices


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run a broker in the foreground until Ctrl-C or SIGTERM.

    Returns
    -------
    int
        0 after a clean stop, 1 when the broker failed, 130 when interrupted while starting.
    """
    args = _parse_args(argv, prog)
    try:
        ports, notices = _ports_from(args)
    except HopError as exc:
        print(f"hop: error: {exc}", file=sys.stderr)
        return 1
    for notice in notices:
        print(f"hop dev-broker: {notice}", file=sys.stderr, flush=True)
    broker: KafkaBroker | KafkaCluster
    if args.nodes > 1:
        from hop.testing.cluster import KafkaCluster

        broker = KafkaCluster(
            args.nodes, args.data_dir, ports=[ports] + [None] * (args.nodes - 1),
            start_timeout=max(args.start_timeout, _START_TIMEOUT_S),
        )
    else:
        broker = KafkaBroker(args.data_dir, ports=ports, start_timeout=args.start_timeout)
    stop = threading.Event()
    try:
        try:
            broker.start()
            for name, partitions in args.topic:
                if name not in broker.list_topics():
                    broker.create_topic(
                        name, partitions=partitions, config={"max.message.bytes": "4194304"}
                    )
        except KeyboardInterrupt:
            print("interrupted while starting; broker stopped", file=sys.stderr)
            return 130
        except HopError as exc:
            print(f"hop: error: {exc}", file=sys.stderr)
            return 1
        previous = {
            sig: signal.signal(sig, lambda signum, frame: stop.set())
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            _print_banner(broker, [name for name, _ in args.topic])
            nodes = _nodes(broker)
            dead: set[int] = set()
            while not stop.wait(0.5):
                for k, node in enumerate(nodes, start=1):
                    if k not in dead and not node.is_running:
                        dead.add(k)
                        # A cluster carries on without a node (that is what it is for);
                        # only when none is left is there nothing to serve.
                        what = "the broker" if len(nodes) == 1 else f"node {k}"
                        print(f"hop dev-broker: {what} exited; see {node.log_file}\n"
                              f"{_tail(node.log_file, 10)}", file=sys.stderr, flush=True)
                if len(dead) == len(nodes):
                    print("hop: error: the broker exited" if len(nodes) == 1 else
                          "hop: error: every node of the cluster exited", file=sys.stderr)
                    return 1
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        print("stopping the broker...", file=sys.stderr)
        return 0
    finally:
        broker.close()


def _nodes(broker: KafkaBroker | KafkaCluster) -> list[KafkaBroker]:
    return [broker] if isinstance(broker, KafkaBroker) else broker.nodes


def _print_banner(broker: KafkaBroker | KafkaCluster, created: Sequence[str] = ()) -> None:
    nodes = _nodes(broker)
    hosts = ",".join(f"localhost:{n.ports.plaintext}" for n in nodes)
    topics = sorted(t for t in broker.list_topics() if not t.startswith("__"))
    topic = (list(created) or topics or ["TOPIC"])[0]
    url = shlex.quote(f"kafka://{hosts}/{topic}")
    if len(nodes) == 1:
        lines = [
            f"Kafka {KAFKA_VERSION} broker ready in {broker.startup_seconds or 0:.1f} s "
            f"(pid {nodes[0].pid}, data {broker.data_dir})",
        ]
    else:
        lines = [
            f"Kafka {KAFKA_VERSION} cluster of {len(nodes)} nodes ready in "
            f"{broker.startup_seconds or 0:.1f} s (data {broker.data_dir}; replication "
            f"{getattr(broker, 'replication', 1)}, min.insync.replicas "
            f"{getattr(broker, 'min_insync', 1)})",
            *(f"  node {k}: pid {n.pid}, plaintext {n.bootstrap['plaintext']}, "
              f"log {n.log_file}" for k, n in enumerate(nodes, start=1)),
        ]
    lines += [
        f"  plaintext       {broker.bootstrap['plaintext']}   (no login, super user)",
        f"  sasl_plaintext  {broker.bootstrap['sasl_plaintext']}   (SCRAM-SHA-512)",
        f"  sasl_ssl        {broker.bootstrap['sasl_ssl']}   (SCRAM-SHA-512, TLS)",
        f"  CA file         {broker.ca_file}",
        f"  log             {nodes[0].log_file}",
        "  users           " + ", ".join(f"{u}:{p}" for u, p in broker.users.items()),
        "  (admin is a super user; grant others access with ACLs)",
        "  topics          " + (", ".join(topics) or "(none; add with -t NAME)"),
        "Try it from another terminal:" if topics else
        "Try it from another terminal (after restarting with -t TOPIC to create the topic):",
        f"  hop subscribe {url} --no-auth -s EARLIEST",
        f"  echo '{{\"hello\": \"world\"}}' | hop publish {url} --no-auth -f JSON",
        "Press Ctrl-C to stop.",
    ]
    print("\n".join(lines), flush=True)


if __name__ == "__main__":
    sys.exit(main())
