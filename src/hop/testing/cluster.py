"""A real multi-node Apache Kafka cluster (KRaft) on 127.0.0.1 for failover tests.

Each node is a :class:`~hop.testing.broker.KafkaBroker` of its own: its own JVM, data
folder and ports, with the same four listeners and SCRAM users as the single broker.
All nodes are combined brokers and controllers and form one controller quorum, so a
node can be SIGKILLed, stopped and restarted on its own while the others carry on.

Topics are created with replication factor 3 and ``min.insync.replicas=2`` (for three
nodes or more), the settings under which one node may fail without losing an
acknowledged write and without refusing writes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from hop.testing._admin import BrokerAdmin
from hop.testing._errors import BrokerError
from hop.testing._props import BrokerPorts, free_ports, server_properties
from hop.testing._tls import TLSFiles
from hop.testing.broker import DEFAULT_USERS, KafkaBroker

__all__ = ["KafkaCluster"]

# Three JVMs share two cores and the other engineers' memory: half the single broker's
# ceiling each. A node of a test cluster holds a few small topics; 512 MiB leaves room
# for 4 MiB alerts in the replica fetchers' buffers.
_NODE_JVM_OPTIONS = (
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
)
_START_TIMEOUT_S = 180.0


class _ClusterNode(KafkaBroker):
    """One node of a :class:`KafkaCluster`: a broker whose quorum has several voters."""

    _jvm_options = _NODE_JVM_OPTIONS

    def __init__(
        self,
        cluster: KafkaCluster,
        node_id: int,
        data_dir: Path,
        ports: BrokerPorts | None,
        cluster_id: str,
    ) -> None:
        self._cluster = cluster
        self.node_id = node_id
        super().__init__(
            data_dir, ports=ports, users=cluster.users, start_timeout=cluster.start_timeout
        )
        # Every node formats its storage with the cluster's id, or the quorum refuses it.
        self._cluster_id = cluster_id
        self._save_state()
        self._admin = BrokerAdmin(self.admin_config, replication=cluster.replication)

    def __repr__(self) -> str:
        return f"<cluster node {self.node_id} pid={self.pid} {self.bootstrap['plaintext']}>"

    def _tls_folder(self) -> Path:
        # One CA for the whole cluster: a client trusts every node with one ca_file.
        return self._cluster.data_dir / "tls"

    def _server_properties(self, tls: TLSFiles) -> str:
        return server_properties(
            self.ports,
            self.data_dir / "kraft",
            tls,
            node_id=self.node_id,
            voters=self._cluster.voters,
            replication=self._cluster.replication,
            min_insync=self._cluster.min_insync,
        )


class KafkaCluster:
    """Several Kafka nodes in KRaft mode, one controller quorum, replicated topics.

    Parameters
    ----------
    nodes : int
        How many nodes; each is a broker and a controller.
    data_dir : path, optional
        Holds ``node-1``, ``node-2``... (each a node's configuration, data and logs)
        and the shared TLS files. A new temporary folder (removed on :meth:`close`)
        when omitted. Reusing a folder reuses its data and ports.
    users : mapping, optional
        SCRAM-SHA-512 users and passwords, on every node; :data:`DEFAULT_USERS` by
        default.
    replication : int, optional
        Replication factor of new topics and of the internal ones: ``min(3, nodes)``
        by default.
    min_insync : int, optional
        ``min.insync.replicas``: 2 by default when ``replication`` is 3 or more (one
        node may fail without refusing writes), else 1.
    ports : sequence of BrokerPorts or None, optional
        Fixed ports, one entry per node; None (or no sequence) for free ones, or those
        recorded in the node's folder.
    start_timeout : float
        Seconds to wait for the whole cluster, or one restarted node, to answer.

    Attributes
    ----------
    nodes : list of KafkaBroker
        The nodes, in node-id order (ids start at 1). Each can be :meth:`~KafkaBroker.kill`\\ ed,
        :meth:`~KafkaBroker.stop`\\ ped and :meth:`~KafkaBroker.start`\\ ed on its own.

    Examples
    --------
    >>> from hop import Stream
    >>> from hop.testing import KafkaCluster
    >>> with KafkaCluster(nodes=3) as cluster:
    ...     cluster.create_topic("alerts", partitions=6)
    ...     url = f"kafka://{cluster.bootstrap['plaintext']}/alerts"
    ...     cluster.leader("alerts").kill()  # a crash: the other two carry on
    ...     with Stream(auth=False).open(url, "w") as s:
    ...         s.write({"still": "writable"})
    ...     print(url)
    kafka://127.0.0.1:...,127.0.0.1:...,127.0.0.1:.../alerts
    """

    def __init__(
        self,
        nodes: int = 3,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        users: Mapping[str, str] | None = None,
        replication: int | None = None,
        min_insync: int | None = None,
        ports: Sequence[BrokerPorts | None] | None = None,
        start_timeout: float = _START_TIMEOUT_S,
    ) -> None:
        if nodes < 1:
            raise ValueError(f"a cluster needs at least one node, not {nodes}")
        self.replication = min(3, nodes) if replication is None else replication
        if not 1 <= self.replication <= nodes:
            raise ValueError(f"replication must be between 1 and {nodes}, not {replication}")
        default_isr = 2 if self.replication >= 3 else 1
        self.min_insync = default_isr if min_insync is None else min_insync
        if not 1 <= self.min_insync <= self.replication:
            raise ValueError(
                f"min_insync must be between 1 and the replication {self.replication}, "
                f"not {min_insync}"
            )
        if ports is not None and len(ports) != nodes:
            raise ValueError(f"ports: {len(ports)} entries for {nodes} nodes")
        self.users: dict[str, str] = dict(DEFAULT_USERS if users is None else users)
        self.start_timeout = start_timeout
        self._owns_data_dir = data_dir is None
        if data_dir is None:
            data_dir = tempfile.mkdtemp(prefix="skyhop-cluster-")
        self.data_dir = Path(data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cluster_id = self._cluster_id()
        dirs = [self.data_dir / f"node-{k}" for k in range(1, nodes + 1)]
        recorded = [(d / "broker.json").is_file() for d in dirs]
        given: Sequence[BrokerPorts | None] = ports or [None] * nodes
        # All free ports drawn at once, so no two nodes are handed the same one.
        taken = {p for ports_ in given if ports_ for p in ports_.as_dict().values()}
        fresh = iter(p for p in free_ports(4 * nodes + len(taken)) if p not in taken)
        chosen = [
            p if p is not None or known else BrokerPorts(*(next(fresh) for _ in range(4)))
            for p, known in zip(given, recorded, strict=True)
        ]
        self.nodes: list[KafkaBroker] = [
            _ClusterNode(self, k, d, p, cluster_id)
            for k, (d, p) in enumerate(zip(dirs, chosen, strict=True), start=1)
        ]
        self.ca_file = self.data_dir / "tls" / "ca.pem"
        self.wrong_ca_file = self.data_dir / "tls" / "wrong-ca.pem"
        self.startup_seconds: float | None = None
        self._admin = BrokerAdmin(self.admin_config, replication=self.replication)

    def _cluster_id(self) -> str:
        from hop.testing.broker import _cluster_id

        state_file = self.data_dir / "cluster.json"
        try:
            cluster_id = str(json.loads(state_file.read_text())["cluster_id"])
        except FileNotFoundError:
            cluster_id = _cluster_id()
            state_file.write_text(json.dumps({"cluster_id": cluster_id}, indent=2) + "\n")
        except (OSError, ValueError, KeyError) as exc:
            raise BrokerError(f"cannot read {state_file}: {exc}") from exc
        return cluster_id

    # ----------------------------------------------------------------- addresses

    @property
    def voters(self) -> dict[int, int]:
        """``{node id: controller port}`` of the controller quorum."""
        return {k: node.ports.controller for k, node in enumerate(self.nodes, start=1)}

    @property
    def bootstrap(self) -> dict[str, str]:
        """Comma-separated ``host:port`` of every node, per client listener."""
        return {
            listener: ",".join(node.bootstrap[listener] for node in self.nodes)
            for listener in ("plaintext", "sasl_plaintext", "sasl_ssl")
        }

    def admin_config(self) -> dict[str, Any]:
        """Return librdkafka settings for a super-user admin client over PLAINTEXT."""
        return {"bootstrap.servers": self.bootstrap["plaintext"]}

    def client_config(self, listener: str = "plaintext", user: str | None = None) -> dict[str, Any]:
        """Return librdkafka settings to reach ``listener`` on every node as ``user``.

        See :meth:`KafkaBroker.client_config`.
        """
        config = self.nodes[0].client_config(listener, user)
        config["bootstrap.servers"] = self.bootstrap[listener]
        if "ssl.ca.location" in config:
            config["ssl.ca.location"] = str(self.ca_file)
        return config

    def node(self, node_id: int) -> KafkaBroker:
        """Return the node with this id (ids start at 1)."""
        if not 1 <= node_id <= len(self.nodes):
            raise ValueError(f"no node {node_id}; ids are 1 to {len(self.nodes)}")
        return self.nodes[node_id - 1]

    def leader(self, topic: str, partition: int = 0, timeout: float = 30.0) -> KafkaBroker:
        """Return the node that leads ``partition`` of ``topic`` now."""
        deadline = time.monotonic() + timeout
        while True:
            leader = self._partition_info(topic, partition)[0]
            if leader >= 1:
                return self.node(leader)
            if time.monotonic() > deadline:
                raise BrokerError(f"partition {topic}[{partition}] has no leader after {timeout} s")
            time.sleep(0.1)  # bounded poll: metadata changes come with no notification

    def in_sync_replicas(self, topic: str, partition: int = 0) -> list[int]:
        """Return the node ids in the in-sync replica set of a partition."""
        return self._partition_info(topic, partition)[1]

    def _partition_info(self, topic: str, partition: int) -> tuple[int, list[int]]:
        from confluent_kafka import KafkaException

        try:
            meta = self._admin._admin_client().list_topics(topic=topic, timeout=5)
        except KafkaException:
            return -1, []
        tmeta = meta.topics.get(topic)
        if tmeta is None or tmeta.error is not None or partition not in tmeta.partitions:
            return -1, []
        pmeta = tmeta.partitions[partition]
        return pmeta.leader, sorted(pmeta.isrs)

    # ----------------------------------------------------------------- administration

    def create_topic(
        self, name: str, partitions: int = 1, config: Mapping[str, str] | None = None
    ) -> None:
        """Create a replicated topic and wait until every replica of it is in sync.

        Parameters
        ----------
        name : str
        partitions : int
        config : mapping, optional
            Topic configuration, e.g. ``{"min.insync.replicas": "3"}``.
        """
        self._admin.create_topic(name, partitions, config)

    def delete_topic(self, name: str) -> None:
        """Delete a topic and wait until the cluster no longer lists it."""
        self._admin.delete_topic(name)

    def list_topics(self) -> set[str]:
        """Return the names of the topics that exist, internal ones included."""
        return self._admin.list_topics()

    def wait_in_sync(self, topic: str, timeout: float = 60.0) -> None:
        """Wait until every partition of ``topic`` has a leader and all replicas in sync.

        After a node comes back, its replicas rejoin the in-sync set once they caught up.
        """
        self._admin.wait_in_sync(topic, timeout)

    def grant(
        self,
        user: str,
        topic: str | None = None,
        group: str | None = None,
        operations: Sequence[str] | None = None,
        *,
        prefixed: bool = False,
    ) -> None:
        """Allow ``user`` operations on a topic and/or group (see :meth:`KafkaBroker.grant`)."""
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
        """Create (or change the password of) a SCRAM-SHA-512 user on every node."""
        self._admin.add_user(name, password)
        self.users[name] = password
        for node in self.nodes:
            node.users[name] = password

    # ----------------------------------------------------------------- lifecycle

    @property
    def is_running(self) -> bool:
        """Whether every node's JVM is alive."""
        return all(node.is_running for node in self.nodes)

    def rss_bytes(self) -> dict[int, int | None]:
        """Resident memory of each node's JVM, ``{node id: bytes}`` (None when not running)."""
        return {k: _rss(node.pid if node.is_running else None)
                for k, node in enumerate(self.nodes, start=1)}

    def __enter__(self) -> KafkaCluster:
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
        """Start every node that is not running, and return once all of them serve.

        The nodes are launched together: none can finish starting until a majority of
        the controller quorum is up.

        Raises
        ------
        BrokerError
            When a node exits or the cluster does not answer within ``start_timeout``.
        """
        started = time.monotonic()
        deadline = started + self.start_timeout
        waiting = [node for node in self.nodes if not node.is_running]
        try:
            for node in waiting:
                node._launch()
            for node in waiting:
                node._wait_ready(deadline)
                node.startup_seconds = time.monotonic() - started
            self._admin.reset()
            self._admin._wait_for(
                self._all_registered, f"all {len(self.nodes)} nodes to register",
                max(1.0, deadline - time.monotonic()),
            )
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started

    def _all_registered(self) -> bool:
        from confluent_kafka import KafkaException

        try:
            meta = self._admin._admin_client().list_topics(timeout=5)
        except KafkaException:
            return False
        return len(meta.brokers) == len(self.nodes)

    def stop(self) -> None:
        """Stop every node (SIGTERM, then SIGKILL). Idempotent."""
        self._admin.reset()
        # SIGTERM to all at once: stopped one by one, the last nodes would lose the
        # controller quorum and wait out their controlled shutdown before exiting.
        for node in self.nodes:
            if node.is_running:
                node._signal(signal.SIGTERM)
        for node in self.nodes:
            node.stop()

    def close(self) -> None:
        """Stop every node and remove the data folder if this object created it."""
        self.stop()
        if self._owns_data_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)


def _rss(pid: int | None) -> int | None:
    if pid is None:
        return None
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return None
