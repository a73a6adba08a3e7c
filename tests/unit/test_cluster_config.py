"""The cluster harness's pure parts: quorum and replication settings, ports, folders."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hop.testing import BrokerPorts, KafkaCluster
from hop.testing._props import server_properties
from hop.testing._tls import TLSFiles

_TLS = TLSFiles(Path("/t/ca.pem"), Path("/t/wrong.pem"), Path("/t/broker.p12"), "pw")
_PORTS = BrokerPorts(plaintext=9001, controller=9002, sasl_plaintext=9003, sasl_ssl=9004)


def _parse(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_a_cluster_node_names_every_voter_and_replicates_internal_topics() -> None:
    props = _parse(server_properties(
        _PORTS, Path("/d"), _TLS, node_id=2, voters={1: 7001, 2: 9002, 3: 7003},
        replication=3, min_insync=2,
    ))
    assert props["node.id"] == "2"
    assert props["controller.quorum.voters"] == (
        "1@127.0.0.1:7001,2@127.0.0.1:9002,3@127.0.0.1:7003"
    )
    assert props["default.replication.factor"] == "3"
    assert props["min.insync.replicas"] == "2"
    assert props["offsets.topic.replication.factor"] == "3"
    assert props["transaction.state.log.min.isr"] == "2"


def test_cluster_nodes_get_distinct_ports_own_folders_and_one_cluster_id(tmp_path: Path) -> None:
    cluster = KafkaCluster(3, tmp_path)
    ports = [p for node in cluster.nodes for p in node.ports.as_dict().values()]
    assert len(set(ports)) == 12
    assert [node.data_dir for node in cluster.nodes] == [tmp_path / f"node-{k}" for k in (1, 2, 3)]
    ids = {json.loads((node.data_dir / "broker.json").read_text())["cluster_id"]
           for node in cluster.nodes}
    assert len(ids) == 1
    assert cluster.voters == {k: n.ports.controller for k, n in enumerate(cluster.nodes, 1)}
    assert cluster.bootstrap["plaintext"].count(",") == 2
    # The same folder again: the same ports and cluster id.
    again = KafkaCluster(3, tmp_path)
    assert [n.ports for n in again.nodes] == [n.ports for n in cluster.nodes]
    assert all(n.ca_file == tmp_path / "tls" / "ca.pem" for n in again.nodes)


def test_cluster_defaults_follow_the_node_count(tmp_path: Path) -> None:
    one = KafkaCluster(1, tmp_path / "one")
    assert (one.replication, one.min_insync) == (1, 1)
    five = KafkaCluster(5, tmp_path / "five")
    assert (five.replication, five.min_insync) == (3, 2)


def test_cluster_refuses_impossible_replication_settings() -> None:
    with pytest.raises(ValueError, match="replication"):
        KafkaCluster(nodes=2, replication=3)
    with pytest.raises(ValueError, match="min_insync"):
        KafkaCluster(nodes=3, min_insync=4)
    with pytest.raises(ValueError, match="at least one node"):
        KafkaCluster(nodes=0)


def test_dev_broker_nodes_option_takes_one_to_nine(capsys) -> None:
    from hop.testing import dev_broker as broker

    assert broker._parse_args(["--nodes", "3"]).nodes == 3
    assert broker._parse_args([]).nodes == 1
    with pytest.raises(SystemExit):
        broker._parse_args(["--nodes", "0"])
    assert "not a number of nodes" in capsys.readouterr().err


def test_dev_broker_cluster_reuses_the_ports_its_data_folder_recorded(tmp_path: Path) -> None:
    from hop.testing import dev_broker as broker

    KafkaCluster(3, tmp_path)
    args = broker._parse_args(["--nodes", "3", "--data-dir", str(tmp_path)])
    assert broker._ports_from(args) == (None, [])
