"""The broker harness's pure parts: ports, users, configuration text, cache paths."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from hop.testing import BrokerPorts, KafkaBroker
from hop.testing._jars import kafka_cache_dir
from hop.testing._props import (
    MESSAGE_MAX_BYTES,
    check_users,
    free_ports,
    scram_arguments,
    server_properties,
)
from hop.testing._tls import TLSFiles

_TLS = TLSFiles(Path("/t/ca.pem"), Path("/t/wrong.pem"), Path("/t/broker.p12"), "pw")
_PORTS = BrokerPorts(plaintext=9001, controller=9002, sasl_plaintext=9003, sasl_ssl=9004)


def _parse(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_free_ports_are_distinct_and_bindable() -> None:
    ports = free_ports(4)

    assert len(set(ports)) == 4
    assert all(1024 <= port <= 65535 for port in ports)


def test_server_properties_wire_each_listener_to_its_port() -> None:
    props = _parse(server_properties(_PORTS, Path("/data/kraft"), _TLS))

    assert props["listeners"] == (
        "PLAINTEXT://127.0.0.1:9001,CONTROLLER://127.0.0.1:9002,"
        "SASL_PLAINTEXT://127.0.0.1:9003,SASL_SSL://127.0.0.1:9004"
    )
    assert "CONTROLLER" not in props["advertised.listeners"]
    assert props["controller.quorum.voters"] == "1@127.0.0.1:9002"
    assert props["listener.name.sasl_ssl.ssl.keystore.location"] == "/t/broker.p12"


def test_server_properties_enforce_acls_and_accept_large_alerts() -> None:
    props = _parse(server_properties(_PORTS, Path("/data/kraft"), _TLS))

    assert props["allow.everyone.if.no.acl.found"] == "false"
    assert props["super.users"] == "User:ANONYMOUS;User:admin"
    assert props["auto.create.topics.enable"] == "false"
    assert int(props["message.max.bytes"]) == MESSAGE_MAX_BYTES >= 2 * 1024 * 1024
    assert int(props["replica.fetch.max.bytes"]) >= MESSAGE_MAX_BYTES


def test_server_properties_have_no_inline_comments_or_blank_values() -> None:
    # Java properties files have no inline comments: a '#' would become part of a value.
    props = _parse(server_properties(_PORTS, Path("/data/kraft"), _TLS))

    assert all(value and "#" not in value for value in props.values())


def test_scram_arguments_name_every_user() -> None:
    args = scram_arguments({"alice": "a-1", "bob": "b-2"})

    assert args == [
        "-S",
        "SCRAM-SHA-512=[name=alice,password=a-1]",
        "-S",
        "SCRAM-SHA-512=[name=bob,password=b-2]",
    ]


@pytest.mark.parametrize("users", [{"alice": "has,comma"}, {"al=ice": "x"}, {"bob": ""}])
def test_users_storage_tool_cannot_take_are_refused(users: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="must be non-empty"):
        check_users(users)


def test_broker_records_its_ports_and_reuses_them_for_the_same_folder(tmp_path: Path) -> None:
    first = KafkaBroker(tmp_path)
    again = KafkaBroker(tmp_path)

    assert again.ports == first.ports
    assert json.loads((tmp_path / "broker.json").read_text())["ports"] == first.ports.as_dict()
    assert first.bootstrap["sasl_ssl"] == f"127.0.0.1:{first.ports.sasl_ssl}"
    assert not first.is_running and first.pid is None


def test_client_config_for_sasl_ssl_carries_credentials_and_ca(tmp_path: Path) -> None:
    broker = KafkaBroker(tmp_path, ports=_PORTS)

    config = broker.client_config("sasl_ssl", "alice")

    assert config == {
        "bootstrap.servers": "127.0.0.1:9004",
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "alice",
        "sasl.password": "alice-secret",
        "ssl.ca.location": str(tmp_path.resolve() / "tls" / "ca.pem"),
    }


def test_client_config_for_sasl_listener_needs_a_known_user(tmp_path: Path) -> None:
    broker = KafkaBroker(tmp_path, ports=_PORTS)

    with pytest.raises(ValueError, match="needs a user"):
        broker.client_config("sasl_plaintext", "mallory")


def test_jar_cache_follows_xdg_cache_home() -> None:
    path = kafka_cache_dir({"XDG_CACHE_HOME": "/somewhere"})

    assert path == Path("/somewhere/skyhop/kafka-4.3.1")


def test_cluster_ids_never_start_with_a_dash(monkeypatch):
    import uuid

    from hop.testing import broker

    # 0xf8 as the first byte makes base64url start with '-'.
    drawn = iter([uuid.UUID(bytes=b"\xf8" + b"\x00" * 15), uuid.UUID(int=1)])
    monkeypatch.setattr(broker.uuid, "uuid4", lambda: next(drawn))
    assert broker._cluster_id() == "AAAAAAAAAAAAAAAAAAAAAQ"


# -- hop dev-broker's choice of ports ---------------------------------------------------


def _listening_port() -> tuple[socket.socket, int]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock, sock.getsockname()[1]


def test_dev_broker_takes_the_preferred_port_when_it_is_free() -> None:
    from hop.testing import dev_broker as broker

    sock, port = _listening_port()
    sock.close()  # free again (in TIME_WAIT at most, which a server may reuse)
    assert broker._choose_port("plaintext", port) == (port, None)


def test_dev_broker_takes_a_free_port_and_says_so_when_the_preferred_one_is_in_use() -> None:
    from hop.testing import dev_broker as broker

    sock, port = _listening_port()
    with sock:
        chosen, notice = broker._choose_port("sasl_plaintext", port)
        assert chosen != port and broker._port_is_free(chosen)
        assert notice == (
            f"port {port} on 127.0.0.1 is in use, so the SASL_PLAINTEXT listener takes port "
            f"{chosen} instead: use localhost:{chosen} in place of localhost:{port}"
        )


def test_dev_broker_prefers_kafkas_customary_ports(capsys) -> None:
    from hop.testing import dev_broker as broker

    assert broker.DEV_PORTS == {"plaintext": 9092, "sasl_plaintext": 9093, "sasl_ssl": 9094}
    with pytest.raises(SystemExit):
        broker.build_parser().parse_args(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "PLAINTEXT port (default: 9092 when free, else a free one; 0: any free port)" in out
    assert "SASL_PLAINTEXT port (default: 9093 when free" in out


def test_dev_broker_refuses_an_explicit_port_in_use_in_one_line(capsys) -> None:
    from hop.testing import dev_broker as broker

    sock, port = _listening_port()
    with sock:
        assert broker.main(["--plaintext-port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err == f"hop: error: port {port} on 127.0.0.1 is in use (choose another, or 0)\n"


def test_dev_broker_reuses_the_ports_a_data_folder_recorded(tmp_path: Path) -> None:
    from hop.testing import dev_broker as broker

    KafkaBroker(tmp_path)  # records its ports in broker.json
    args = broker._parse_args(["--data-dir", str(tmp_path)])
    assert broker._ports_from(args) == (None, [])


def test_dev_broker_fills_zero_ports_with_distinct_free_ones() -> None:
    from hop.testing import dev_broker as broker

    sock, port = _listening_port()
    sock.close()
    args = broker._parse_args(["--plaintext-port", "0", "--sasl-plaintext-port", "0",
                               "--sasl-ssl-port", str(port)])  # fmt: skip
    ports, notices = broker._ports_from(args)
    assert notices == [] and ports is not None
    assert ports.sasl_ssl == port
    assert len(set(ports.as_dict().values())) == 4 and 0 not in ports.as_dict().values()
