"""``hop dev-broker``: a local Kafka broker, or a cluster of them, in the foreground.

The ports of the first (or only) node are Kafka's customary ones when they are free
(:data:`DEV_PORTS`), so that ``kafka://localhost:9092/...`` examples work as written.
Run it as ``hop dev-broker`` or ``python -m hop.testing.dev_broker``.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from hop.errors import HopError
from hop.testing._jars import KAFKA_VERSION
from hop.testing._props import BrokerPorts, free_ports
from hop.testing.broker import _START_TIMEOUT_S, KafkaBroker, _tail
from hop.testing.cluster import KafkaCluster

__all__ = ["DEV_PLAINTEXT_PORT", "DEV_PORTS", "build_parser", "main"]


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
        prog=prog or "python -m hop.testing.dev_broker",
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
