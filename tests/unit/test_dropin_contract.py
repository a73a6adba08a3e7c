"""hop-client 0.13's and igwn-alert 0.7's observable contract, item by item (issue 13).

Each test names the upstream behaviour it pins; all of them failed before issue 13.
The same behaviours, run side by side with the real upstream packages, are in
tests/compat/ (tests/integration/test_compat_examples.py).
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest

import hop
from hop import auth, cli, configure
from hop.auth import Auth
from hop.errors import ConfigurationError, HopWarning


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    for name in ("HOP_FETCH_EXTERNAL", "HOP_AUTOMATIC_OFFLOAD"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "hop").mkdir()
    return tmp_path / "hop"


def _private(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


# -- 1. files upstream's `toml` reads ---------------------------------------------------


def test_auth_toml_with_inline_tables_over_several_lines_loads(config_home: Path) -> None:
    _private(
        config_home / "auth.toml",
        'auth = [\n  {username = "alice",\n   password = "pw1"},\n'
        '  {username = "bob", password = "pw2",\n   hostname = "h:9092"},\n]\n',
    )
    assert auth.load_auth() == [Auth("alice", "pw1"), Auth("bob", "pw2", host="h:9092")]


def test_files_with_a_byte_order_mark_load_as_with_upstream(config_home: Path) -> None:
    _private(config_home / "auth.toml", '\ufeff[[auth]]\nusername = "a"\npassword = "b"\n')
    (config_home / "config.toml").write_text("\ufeff[config]\nfetch_external = false\n")
    assert auth.load_auth() == [Auth("a", "b")]
    assert configure.load_config().fetch_external is False


def test_config_toml_in_toml_1_1_loads(config_home: Path) -> None:
    (config_home / "config.toml").write_text("config = {fetch_external = false,\n}\n")
    assert configure.load_config().fetch_external is False


# -- 1. Auth ---------------------------------------------------------------------------


def test_scram_sha_1_is_accepted_and_refused_clearly_for_kafka() -> None:
    cred = Auth("u", "p", method="SCRAM-SHA-1")
    assert (cred.mechanism, cred.is_scram, cred.is_token) == ("SCRAM-SHA-1", True, False)
    with pytest.raises(ConfigurationError, match=r"SCRAM-SHA-1.*HTTP SCRAM"):
        cred()


def test_token_of_a_password_credential_is_upstreams_value_error() -> None:
    with pytest.raises(ValueError, match="Cannot extract a token from a non-token credential"):
        _ = Auth("u", "p").token


class _TokenEndpoint(BaseHTTPRequestHandler):
    answers: list[tuple[int, bytes]] = []
    seen: list[tuple[str, str]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        basic = base64.b64decode(self.headers["Authorization"].split()[1]).decode()
        type(self).seen.append((body, basic))
        status, answer = type(self).answers.pop(0)
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def token_endpoint() -> Iterator[str]:
    _TokenEndpoint.answers, _TokenEndpoint.seen = [], []
    server = HTTPServer(("127.0.0.1", 0), _TokenEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/token"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_token_of_an_oidc_credential_is_fetched_once_until_it_expires(token_endpoint: str) -> None:
    _TokenEndpoint.answers = [
        (200, json.dumps({"access_token": "t1", "token_type": "bearer", "expires_in": 60}).encode())
    ]
    cred = Auth("client", "secret", token_endpoint=token_endpoint)
    assert cred.is_token and cred.token == "t1" and cred.token == "t1"
    assert _TokenEndpoint.seen == [("grant_type=client_credentials", "client:secret")]


@pytest.mark.parametrize(
    ("status", "answer", "message"),
    [
        (401, b"denied", r"Failed to fetch token from OIDC endpoint: \(401\) denied"),
        (200, b"not json", "Failed to decode data from OIDC endpoint as JSON"),
        (200, b'{"token_type": "bearer"}', "Not able to process result from token endpoint"),
        (200, b'{"access_token": "t", "token_type": "mac"}', "Only bearer tokens"),
    ],
)
def test_token_failures_are_upstreams_runtime_errors(
    token_endpoint: str, status: int, answer: bytes, message: str
) -> None:
    _TokenEndpoint.answers = [(status, answer)]
    with pytest.raises(RuntimeError, match=message):
        _ = Auth("client", "secret", token_endpoint=token_endpoint).token


# -- 1. exception types ----------------------------------------------------------------


def test_prune_outdated_auth_of_a_malformed_file_raises_runtime_error(config_home: Path) -> None:
    (config_home / "config.toml").write_text("[config\n")
    with pytest.raises(RuntimeError, match="malformed"):
        auth.prune_outdated_auth()


def test_delete_credential_without_a_store_is_no_matching_credential(config_home: Path) -> None:
    with pytest.raises(RuntimeError, match="No matching credential found with username 'bob'"):
        auth.delete_credential("bob")


def test_config_load_without_a_config_section_raises_runtime_error() -> None:
    with pytest.raises(RuntimeError, match="has no config section"):
        configure.Config.load("x = 1\n")
    with pytest.raises(RuntimeError):
        configure.Config.load("[config]\nbogus = true\n")


def test_a_bad_environment_value_raises_runtime_error(
    config_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOP_FETCH_EXTERNAL", "maybe")
    with pytest.raises(RuntimeError, match="HOP_FETCH_EXTERNAL"):
        configure.load_config()


def test_an_unreadable_config_file_warns_and_gives_the_defaults(config_home: Path) -> None:
    (config_home / "config.toml").mkdir()  # exists, cannot be opened as a file (even as root)
    with pytest.warns(HopWarning, match="Unable to open .* using default configuration"):
        assert configure.load_config() == configure.Config()


def test_write_config_value_writes_only_the_setting_given(config_home: Path) -> None:
    configure.write_config_value("fetch_external", False)
    assert (config_home / "config.toml").read_text() == "[config]\nfetch_external = false\n"
    configure.write_config_value("automatic_offload", "yes")
    assert configure.load_config().asdict() == {"fetch_external": False, "automatic_offload": True}


# -- 1. the command line ---------------------------------------------------------------


def test_hop_auth_list_prints_upstreams_lines(
    config_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    creds = [Auth("al", "1", host="h:9092"), Auth("b", "2")]
    auth.write_auth_data(config_home / "auth.toml", creds)
    assert cli.main(["auth", "list"]) == 0
    assert capsys.readouterr().out == "al for h:9092\nb\n"


def test_empty_credential_list_message_goes_to_a_terminal_stdout_only(config_home: Path) -> None:
    auth.write_auth_data(config_home / "auth.toml", [])

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, pipe = Terminal(), io.StringIO()
    auth.list_credentials(file=terminal)
    auth.list_credentials(file=pipe)
    assert terminal.getvalue() == "No credentials configured\n"
    assert pipe.getvalue() == ""  # as upstream, a script reading the list gets nothing


def test_bare_hop_without_credentials_prints_upstreams_advice(
    config_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([]) == 2
    out = capsys.readouterr().out
    assert out.splitlines()[1:4] == [
        "No valid credential data found",
        "You can get a credential from https://my.hop.scimma.org",
        "To load your credential, run `hop auth add`",
    ]
    auth.write_auth_data(config_home / "auth.toml", [Auth("a", "b")])
    assert cli.main([]) == 2
    assert "No valid credential" not in capsys.readouterr().out


# -- 1. module attributes that users patch ---------------------------------------------


def test_patching_hop_auth_load_auth_changes_what_the_store_functions_use(
    config_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with mock.patch("hop.auth.load_auth", return_value=[Auth("mocked", "pw")]) as load:
        auth.list_credentials()
        with pytest.raises(RuntimeError, match="No matching credential"):
            auth.delete_credential("someone-else")
    assert capsys.readouterr().out == "mocked\n"
    assert load.call_count == 2


def test_patching_get_config_path_changes_where_credentials_are_stored(tmp_path: Path) -> None:
    paths = {"auth": tmp_path / "a" / "auth.toml", "general": tmp_path / "a" / "config.toml"}
    csv_file = tmp_path / "c.csv"
    csv_file.write_text("username,password\ncarol,pw\n")
    with mock.patch(
        "hop.configure.get_config_path", side_effect=lambda type="general": str(paths[type])
    ):
        auth.add_credential(SimpleNamespace(cred_file=str(csv_file), force=False))
    assert auth.load_auth(paths["auth"]) == [Auth("carol", "pw")]


def test_the_store_functions_are_defined_in_hop_auth() -> None:
    for name in ("load_auth", "write_auth_data", "prune_outdated_auth", "read_new_credential",
                 "add_credential", "delete_credential", "list_credentials",
                 "select_matching_auth"):
        assert getattr(auth, name).__module__ == "hop.auth", name


# -- 2. versions and python -m hop -----------------------------------------------------


def test_versions_report_the_upstream_api_level_and_skyhop_release() -> None:
    import igwn_alert
    import igwn_alert.version

    assert hop.__version__ == "0.13.0"
    assert igwn_alert.__version__ == igwn_alert.version.__version__ == "0.7.0"
    assert hop.__skyhop_version__.count(".") == 2


def test_python_m_hop_runs_the_command_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hop", "--version"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONWARNINGS": "error"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("hop version 0.13.0 (skyhop ")


def test_list_topics_refuses_several_brokers_with_value_error() -> None:
    from hop.io import list_topics

    with pytest.raises(ValueError, match="Multiple broker addresses are not supported"):
        list_topics("kafka://a:9092,b:9092/t", auth=False)


def test_stream_open_uses_the_consumer_and_producer_of_hop_io() -> None:
    from hop.io import Stream

    with mock.patch("hop.io.Consumer") as consumer, mock.patch("hop.io.Producer") as producer:
        assert Stream(auth=False).open("kafka://h:9092/t", "r") is consumer.return_value
        assert Stream(auth=False).open("kafka://h:9092/t", "w") is producer.return_value
    assert consumer.call_args.args[1:] == (["h:9092"], ["t"])


# -- 2. models -------------------------------------------------------------------------

_XML = (
    '<?xml version="1.0" ?><voe:VOEvent xmlns:voe="http://www.ivoa.net/xml/VOEvent/v2.0" '
    'ivorn="ivo://x/y#1" role="test" version="2.0"><Who><Date>2024</Date></Who></voe:VOEvent>'
)


def test_voevent_deserializes_text_and_has_upstreams_helpers() -> None:
    from hop.models import VOEvent

    assert VOEvent.deserialize(_XML).ivorn == "ivo://x/y#1"
    fields = {"ivorn": "x", "Param": [{"name": "a", "value": "1"}], "Why": {"importance": "1"}}
    assert VOEvent.label_attributes_dict(fields) is None
    assert fields == {"@ivorn": "x", "Param": [{"@name": "a", "@value": "1"}],
                      "Why": {"@importance": "1"}}
    listed = [{"role": "r"}, [{"uri": "u"}]]
    VOEvent.label_attributes_list(listed, attr_prefix="_")
    assert listed == [{"_role": "r"}, [{"_uri": "u"}]]
    assert VOEvent.ensure_bytes("é") == "é".encode()
    assert VOEvent.ensure_bytes(io.StringIO("text")) == "text"  # read()'s result, as upstream
    assert VOEvent.ensure_bytes(c for c in (b"a", b"b")) == b"ab"


def test_invalid_json_is_a_json_decode_error_in_every_model() -> None:
    from hop.models import ExternalMessage, JSONBlob

    for call in (lambda: ExternalMessage.load("{bad"), lambda: JSONBlob.load("{bad"),
                 lambda: ExternalMessage.deserialize(b"{bad")):
        with pytest.raises(json.JSONDecodeError) as info:
            call()
        assert info.value.pos == 1 and info.value.lineno == 1


# -- 4. igwn_alert ---------------------------------------------------------------------


def test_igwn_alert_get_topics_goes_through_hop_list_topics(tmp_path: Path) -> None:
    import igwn_alert

    with mock.patch("hop.list_topics") as listing:
        listing.list_topics.return_value = {"test1.topic1": None, "test2.topic4": None}
        alerts = igwn_alert.client(group="test1", noauth=True, env={"HOME": str(tmp_path)})
        assert alerts.get_topics() == ["topic1"]


def test_igwn_alert_reads_what_enter_returns(tmp_path: Path) -> None:
    import igwn_alert

    alerts = igwn_alert.client(group="g", noauth=True, env={"HOME": str(tmp_path)})
    metadata = SimpleNamespace(topic="g.t")
    got: list[tuple[str, Any]] = []
    with mock.patch.object(igwn_alert.client, "open") as opened:
        opened.return_value.__enter__.return_value.read.return_value = [('{"a": 1}', metadata)]

        def callback(topic: str, payload: Any) -> None:
            got.append((topic, payload))
            alerts.stop()

        alerts.listen(callback, "t")
    assert got == [("t", {"a": 1})]
    opened.return_value.__enter__.return_value.mark_done.assert_called_once_with(metadata)


# -- found beyond the list -----------------------------------------------------


def test_igwn_alert_exceptions_fakes_drive_listen_as_in_upstreams_tests(tmp_path: Path) -> None:
    import igwn_alert
    from igwn_alert.exceptions import FakeFatalKafkaException, KafkaException

    assert FakeFatalKafkaException.fatal and not FakeFatalKafkaException.retriable
    metadata = SimpleNamespace(topic="g.t")
    calls: list[str] = []

    def callback(topic: str, payload: Any) -> None:
        calls.append(topic)
        raise FakeFatalKafkaException

    with mock.patch.object(igwn_alert.client, "open") as opened:
        opened.return_value.__enter__.return_value.read.return_value = [('{"a": 1}', metadata)]
        alerts = igwn_alert.client(group="g", noauth=True, env={"HOME": str(tmp_path)})
        with pytest.raises(KafkaException, match="fake fatal error"):
            alerts.listen(callback, "t")
    assert calls == ["t"]  # without retry_on_fatal, the first fatal error ends listen


def test_igwn_alert_tool_is_the_command() -> None:
    from igwn_alert import cli as igwn_cli
    from igwn_alert import tool

    assert tool.main is igwn_cli.main
    assert tool.parser().prog == "igwn-alert"


def test_hop_configure_set_prints_nothing_on_stdout(
    config_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["configure", "set", "automatic_offload", "false"]) == 0
    assert capsys.readouterr().out == ""  # as hop-client; the change is logged
    assert configure.load_config().automatic_offload is False


def test_a_bad_hostname_at_the_prompt_is_upstreams_runtime_error() -> None:
    answers = iter(["alice", "example.com/path"])
    with pytest.raises(RuntimeError, match="Unable to parse hostname"):
        auth.read_new_credential(prompt=lambda _: next(answers), secret_prompt=lambda _: "pw")


def test_journal_reports_the_topics_with_messages_in_flight(tmp_path: Path) -> None:
    from hop.robust_publisher import PublicationJournal

    with PublicationJournal(str(tmp_path / "j")) as journal:
        journal.queue_message(b"a", "t1")
        journal.queue_message(b"b", "t2")
        assert journal.topics_with_messages_in_flight() == set()
        journal.get_next_message_to_send()
        assert journal.topics_with_messages_in_flight() == {"t1"}


def test_patching_hop_io_load_auth_changes_what_stream_uses() -> None:
    from hop.io import Stream

    cred = Auth("patched", "pw", host="h:9092")
    with mock.patch("hop.io.load_auth", return_value=[cred]) as load:
        assert Stream().auth == [cred]  # as hop-client's Stream, which calls hop.io's
    load.assert_called_once_with()
    with mock.patch("hop.auth.load_auth", return_value=[cred]):
        assert Stream().auth == [cred]  # and skyhop's own callers patch hop.auth


def test_producer_takes_upstreams_topics_keyword() -> None:
    from hop.io import Producer

    producer = Producer("127.0.0.1:1", topics=["t"], auth=None)
    try:
        assert producer.default_topic == "t"
    finally:
        producer.close()


def test_model_parameters_have_upstreams_names() -> None:
    from hop.models import ExternalMessage, GCNTextNotice, VOEvent

    assert VOEvent.deserialize(raw=_XML).ivorn == "ivo://x/y#1"
    assert VOEvent.dict_factory(input=[("a", 1), ("_b", 2)]) == {"a": 1}
    assert ExternalMessage.load(input='{"url": "https://x/y"}').url == "https://x/y"
    assert GCNTextNotice.load(input=b"TITLE:  GCN/AMON NOTICE\n").fields["title"]
