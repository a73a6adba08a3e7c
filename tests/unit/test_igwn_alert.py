"""igwn_alert without a broker: API surface, settings, credentials, subscriptions, CLI."""

from __future__ import annotations

import inspect
from datetime import timedelta
from pathlib import Path

import pytest

import igwn_alert
from hop.auth import Auth
from hop.errors import ConfigurationError, CredentialFileError, HopError, InsecureFileError
from hop.models import Blob, JSONBlob
from igwn_alert import cli
from igwn_alert._credentials import NO_AUTH_WARNING, netrc_credential

SERVER = "kafka://kafka.test/"


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """An environment whose config dir and netrc are empty folders of this test."""
    home = tmp_path / "home"
    home.mkdir()
    return {"HOME": str(home), "XDG_CONFIG_HOME": str(tmp_path / "xdg")}


def _private(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)
    return path


def _client(env: dict[str, str], **kwargs):
    kwargs.setdefault("noauth", True)
    kwargs.setdefault("server", SERVER)
    return igwn_alert.client(env=env, **kwargs)


# -- API surface -----------------------------------------------------------------------


def test_public_names_are_pinned():
    assert sorted(igwn_alert.__all__) == sorted([
        "DEFAULT_GROUP", "DEFAULT_LISTEN_RETRIES", "DEFAULT_PORT", "DEFAULT_RETRY_WAIT",
        "DEFAULT_SERVER", "IncompleteCredentialError", "InvalidSettingError",
        "KafkaException", "NotConnectedError", "__version__", "client",
    ])
    for name in igwn_alert.__all__:
        assert hasattr(igwn_alert, name)


def test_client_imports_like_upstream():
    from igwn_alert import client
    from igwn_alert.client import DEFAULT_SERVER
    from igwn_alert.client import client as same

    assert client is same
    assert inspect.isclass(client)
    assert DEFAULT_SERVER == "kafka://kafka.scimma.org/"
    assert issubclass(igwn_alert.KafkaException, HopError)


def test_constructor_defaults_are_the_specs():
    params = inspect.signature(igwn_alert.client).parameters
    defaults = {name: p.default for name, p in params.items() if p.kind is not p.KEYWORD_ONLY}
    assert defaults == {
        "username": None, "password": None, "auth": None, "authfile": None,
        "noauth": False, "group": "gracedb", "consumer_group": None,
        "server": "kafka://kafka.scimma.org/", "port": 9092, "batch_size": 1,
        "batch_timeout": timedelta(microseconds=200000), "retry_on_fatal": False,
        "listen_retries": 3, "retry_wait": 0.1, "jsonpp_on": False,
    }
    assert list(params)[:5] == ["username", "password", "auth", "authfile", "noauth"]


def test_every_spec_method_exists():
    for name in ("connect", "delete", "disconnect", "flush_by_topic", "get_subscriptions",
                 "get_topics", "listen", "publish", "publish_to_topic", "subscribe",
                 "unsubscribe", "stop"):
        assert callable(getattr(igwn_alert.client, name)), name


# -- settings and names -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        # igwn-alert's assertion texts, type reprs included.
        ({"port": "9093"}, '"port" must be int, not <class \'str\'>'),
        ({"server": None}, '"server" must be str, not <class \'NoneType\'>'),
        ({"group": None}, '"group" must be str, not <class \'NoneType\'>'),
        ({"group": "a.b"}, '"group" must be a name'),
        ({"port": 70000}, '"port" must be between'),
        ({"server": "http://host/"}, '"server" must look like kafka://host/'),
        ({"session_timeout": "6"}, '"session_timeout" must be'),
    ],
)
def test_bad_settings_raise_an_assertion_error_that_names_the_setting(env, kwargs, message):
    with pytest.raises(AssertionError, match=message) as info:
        _client(env, **kwargs)
    assert isinstance(info.value, ConfigurationError)


def test_unknown_keyword_is_a_type_error(env):
    with pytest.raises(TypeError):
        _client(env, colour="blue")


def test_urls_carry_the_port_and_the_group_prefix(env):
    c = _client(env, group="gracedb-playground", port=1234)
    assert c.base_url_prefix == "kafka://kafka.test:1234/gracedb-playground"
    assert c._construct_topic_url("superevent") == (
        "kafka://kafka.test:1234/gracedb-playground.superevent"
    )
    assert c._construct_topic_url(["superevent", "cbc_gstlal"]) == (
        "kafka://kafka.test:1234/gracedb-playground.superevent,gracedb-playground.cbc_gstlal"
    )


def test_short_topic_keeps_dots_after_the_group(env):
    c = _client(env, group="gracedb")
    assert c._short_topic("gracedb.superevent") == "superevent"
    assert c._short_topic("gracedb.cbc.gstlal") == "cbc.gstlal"


def test_one_consumer_group_is_generated_per_client_and_kept(env):
    c = _client(env)
    first = c._listen_group()
    assert first == c._listen_group()
    assert first != _client(env)._listen_group()
    assert _client(env, consumer_group="mine")._listen_group() == "mine"


# -- credentials ------------------------------------------------------------------------


def test_username_without_password_is_a_runtime_error(env):
    with pytest.raises(RuntimeError, match="both a username and a password"):
        _client(env, noauth=False, username="alice")


def test_username_and_password_make_a_scram_credential(env):
    c = _client(env, noauth=False, username="alice", password="pw")
    assert c.auth == [Auth("alice", "pw")]


def test_explicit_auth_wins_over_everything(env):
    cred = Auth("bob", "x", ssl=False)
    c = _client(env, noauth=False, auth=cred, username="alice", password="pw")
    assert c.auth == [cred]


def test_noauth_means_no_credential(env):
    assert _client(env).auth is None


def test_netrc_entry_for_the_broker_host_is_used(env):
    _private(Path(env["HOME"]) / ".netrc", "machine kafka.test login alice password s3cret\n")
    c = _client(env, noauth=False)
    assert [(a.username, a.password) for a in c.auth] == [("alice", "s3cret")]


def test_netrc_entry_with_the_port_is_preferred_over_the_bare_host(tmp_path):
    path = _private(
        tmp_path / "netrc",
        "machine kafka.test login any password a\nmachine kafka.test:9093 login p password b\n",
    )
    found = netrc_credential("kafka.test", 9093, SERVER, path=path)
    assert (found.username, found.password) == ("p", "b")


def test_upstream_style_netrc_entry_keyed_by_url_still_matches(env):
    _private(Path(env["HOME"]) / ".netrc", f"machine {SERVER} login old password pw\n")
    c = _client(env, noauth=False)
    assert [a.username for a in c.auth] == ["old"]


def test_netrc_readable_by_others_is_refused(env):
    path = _private(Path(env["HOME"]) / ".netrc", "machine kafka.test login a password b\n")
    path.chmod(0o644)
    with pytest.raises(InsecureFileError, match="chmod 600"):
        _client(env, noauth=False)


def test_malformed_netrc_names_file_and_line(tmp_path):
    path = _private(tmp_path / "netrc", "machine kafka.test login a password b\nbogus\n")
    with pytest.raises(CredentialFileError, match=rf"{path}, line \d+: bad follower token 'bogus'"):
        netrc_credential("kafka.test", 9092, SERVER, path=path)


def test_no_credential_anywhere_warns_and_goes_unauthenticated(env):
    with pytest.warns(UserWarning, match=NO_AUTH_WARNING):
        c = _client(env, noauth=False)
    assert c.auth is None and c.auth_obj is False


def test_authfile_is_loaded(env, tmp_path):
    text = '[[auth]]\nusername = "user-asdf"\npassword = "pw123"\n'
    path = _private(tmp_path / "auth.toml", text)
    c = _client(env, noauth=False, authfile=str(path))
    assert [(a.username, a.password) for a in c.auth] == [("user-asdf", "pw123")]


def test_authfile_missing_or_insecure_is_refused(env, tmp_path):
    with pytest.raises(FileNotFoundError):
        _client(env, noauth=False, authfile=str(tmp_path / "nope.toml"))
    path = _private(tmp_path / "auth.toml", '[[auth]]\nusername = "u"\npassword = "p"\n')
    path.chmod(0o755)
    with pytest.raises(PermissionError):
        _client(env, noauth=False, authfile=str(path))


def test_default_store_is_used_when_it_has_a_credential_for_the_host(env):
    store = Path(env["XDG_CONFIG_HOME"]) / "hop" / "auth.toml"
    _private(store, '[[auth]]\nusername = "stored"\npassword = "p"\nhostname = "kafka.test"\n')
    _private(Path(env["HOME"]) / ".netrc", "machine kafka.test login fromnetrc password b\n")
    assert [a.username for a in _client(env, noauth=False).auth] == ["stored"]


def test_netrc_is_used_when_the_store_has_nothing_for_the_host(env):
    store = Path(env["XDG_CONFIG_HOME"]) / "hop" / "auth.toml"
    _private(store, '[[auth]]\nusername = "other"\npassword = "p"\nhostname = "elsewhere"\n')
    _private(Path(env["HOME"]) / ".netrc", "machine kafka.test login fromnetrc password b\n")
    assert [a.username for a in _client(env, noauth=False).auth] == ["fromnetrc"]


# -- subscriptions ----------------------------------------------------------------------


def _keeping_client(env: dict[str, str], **kwargs):
    return _client(env, keep_subscriptions=True, **kwargs)


def test_subscription_methods_only_warn_deprecation_by_default_as_upstream(env):
    c = _client(env, consumer_group="team-a")
    # igwn-alert 0.7: each warns and returns None; nothing is checked or stored.
    with pytest.warns(DeprecationWarning, match="deprecated"):
        assert c.subscribe() is None
    with pytest.warns(DeprecationWarning, match="deprecated"):
        assert c.subscribe("superevent") is None
    with pytest.warns(DeprecationWarning, match="deprecated"):
        assert c.unsubscribe("nope") is None
    with pytest.warns(DeprecationWarning, match="client.listen"):
        assert c.get_subscriptions() is None
    assert _keeping_client(env, consumer_group="team-a").get_subscriptions() == []


def test_subscriptions_persist_per_consumer_group(env):
    a = _keeping_client(env, consumer_group="team-a")
    assert a.get_subscriptions() == []
    assert a.subscribe("superevent", "cbc_gstlal") == ["cbc_gstlal", "superevent"]
    # A new client (a new process, say) of the same group sees them; another group not.
    assert _keeping_client(env, consumer_group="team-a").get_subscriptions() == [
        "cbc_gstlal", "superevent",
    ]
    assert _keeping_client(env, consumer_group="team-b").get_subscriptions() == []
    assert _keeping_client(env).get_subscriptions() == []
    assert a.unsubscribe("cbc_gstlal") == ["superevent"]
    store = Path(env["XDG_CONFIG_HOME"]) / "hop" / "igwn-alert-subscriptions.toml"
    text = store.read_text()
    assert text.startswith("[subscriptions]\nteam-a = [") and "gracedb.superevent" in text


def test_subscriptions_are_scoped_to_the_gracedb_group(env):
    playground = _keeping_client(env, consumer_group="g", group="gracedb-playground")
    playground.subscribe("superevent")
    assert _keeping_client(env, consumer_group="g", group="gracedb").get_subscriptions() == []
    assert playground.get_subscriptions() == ["superevent"]


def test_unsubscribing_an_unknown_topic_warns(env):
    with pytest.warns(UserWarning, match="Not subscribed to topic nope"):
        assert _keeping_client(env).unsubscribe("nope") == []


def test_invalid_topic_names_are_refused(env):
    with pytest.raises(ValueError, match="not a valid topic name"):
        _keeping_client(env).subscribe("bad topic")
    with pytest.raises(ValueError, match="at least one topic"):
        _keeping_client(env).subscribe()


def test_corrupt_subscription_file_is_reported_with_its_path(env):
    store = Path(env["XDG_CONFIG_HOME"]) / "hop" / "igwn-alert-subscriptions.toml"
    store.parent.mkdir(parents=True)
    store.write_text("[subscriptions\n")
    with pytest.raises(ConfigurationError, match=str(store)):
        _keeping_client(env).get_subscriptions()


# -- producer sessions without a broker -------------------------------------------------


def test_publishing_without_a_session_names_the_problem(env):
    c = _client(env)
    with pytest.raises(RuntimeError, match="No active sessions"):
        c.publish_to_topic("superevent", "{}")
    with pytest.raises(RuntimeError, match="No active sessions"):
        c.flush_by_topic("superevent")
    c.sessions["other"] = object()  # type: ignore[assignment]
    with pytest.raises(RuntimeError, match="Not connected to topic superevent"):
        c.publish_to_topic("superevent", "{}")
    c.sessions.clear()


def test_disconnect_without_topics_closes_every_stream_but_keeps_sessions(env):
    closed = []

    class _Stream:
        def __init__(self, name):
            self.name = name

        def close(self):
            closed.append(self.name)

    c = _client(env)
    c.sessions.update({"a": _Stream("a"), "b": _Stream("b")})  # type: ignore[dict-item]
    c.disconnect()
    # As igwn-alert 0.7: the streams are closed, the dict keeps them.
    assert sorted(closed) == ["a", "b"] and sorted(c.sessions) == ["a", "b"]
    c.disconnect("a")
    assert list(c.sessions) == ["b"]


def test_server_without_trailing_slash_gives_a_valid_url(env):
    c = _client(env, server="kafka://test.server", port=1234, group="test")
    # igwn-alert 0.7 gave kafka://test.server:1234test.
    assert c.base_url_prefix == "kafka://test.server:1234/test"
    assert c._construct_topic_url("t") == "kafka://test.server:1234/test.t"


def test_disconnecting_an_unknown_topic_warns(env):
    with pytest.warns(UserWarning, match="Not currently connected to topic nope"):
        _client(env).disconnect("nope")


def test_delete_without_a_topic_only_warns_as_upstream(env):
    with pytest.warns(DeprecationWarning):
        assert _client(env).delete() is None


# -- how alerts reach the callback ------------------------------------------------------


def test_json_str_alert_reaches_the_callback_as_the_str(env):
    got = []
    _client(env)._deliver(lambda **kw: got.append(kw), "gracedb.superevent", JSONBlob('{"a": 1}'))
    assert got == [{"topic": "superevent", "payload": '{"a": 1}'}]


def test_non_json_payload_warns_and_is_passed_unchanged(env):
    got = []
    blob = Blob(b"\xff not json")
    with pytest.warns(UserWarning, match="Payload is not valid json"):
        _client(env)._deliver(lambda **kw: got.append(kw), "gracedb.t", blob)
    assert got == [{"topic": "t", "payload": blob}]


def test_printed_alerts_name_the_kafka_topic_and_pretty_print_on_request(env, capsys):
    _client(env)._deliver(None, "gracedb.superevent", JSONBlob('{"a": 1}'))
    _client(env, jsonpp_on=True)._deliver(None, "gracedb.superevent", JSONBlob('{"a": 1}'))
    out = capsys.readouterr().out
    assert out == (
        'New message from topic gracedb.superevent:\n{"a": 1}\n'
        'New message from topic gracedb.superevent:\n{\n    "a": 1\n}\n'
    )


# -- command line (in process; the broker tests run it in subprocesses) -----------------


@pytest.fixture
def cli_env(env, monkeypatch):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("NETRC", raising=False)
    return env


def test_cli_port_must_be_a_number(cli_env, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["-p", "ninety", "topics"])
    assert info.value.code == 2
    assert "'ninety' is not a whole number" in capsys.readouterr().err


def test_cli_retry_options_are_typed():
    args = cli.build_parser().parse_args(["-t", "7", "-w", "0.5", "-p", "9093", "listen", "a", "b"])
    assert (args.listen_retries, args.retry_wait, args.port) == (7, 0.5, 9093)
    assert args.topics == ["a", "b"]
    timed = cli.build_parser().parse_args(["--session-timeout", "6", "listen"])
    assert timed.session_timeout == 6.0


def test_cli_manages_subscriptions(cli_env, capsys):
    base = ["--no-auth", "-s", SERVER, "-c", "cli-group"]
    assert cli.main([*base, "subscribe", "superevent", "mdc_superevent"]) == 0
    assert cli.main([*base, "unsubscribe", "mdc_superevent"]) == 0
    capsys.readouterr()
    assert cli.main([*base, "subscriptions"]) == 0
    assert capsys.readouterr().out == "superevent\n"


def test_cli_user_error_is_one_line_with_status_1(cli_env, tmp_path, capsys):
    missing = tmp_path / "missing.json"
    status = cli.main(["--no-auth", "-s", SERVER, "send", "superevent", str(missing)])
    err = capsys.readouterr().err
    assert status == 1
    assert err == f"igwn-alert: error: {missing}: No such file or directory\n"


def test_cli_refuses_to_send_a_file_that_is_not_json(cli_env, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert cli.main(["--no-auth", "-s", SERVER, "send", "superevent", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"igwn-alert: error: {bad}: not a JSON alert") and err.count("\n") == 1


def test_cli_netrc_option_reads_that_file(cli_env, tmp_path, capsys):
    path = _private(tmp_path / "my-netrc", "machine other.host login a password b\n")
    status = cli.main(["-n", str(path), "-s", SERVER, "subscriptions"])
    assert status == 1
    assert f"{path} has no entry for machine kafka.test" in capsys.readouterr().err


def test_library_never_exits_the_process():
    source = "".join(
        p.read_text() for p in Path(igwn_alert.__file__).parent.glob("*.py") if p.name != "cli.py"
    )
    assert "sys.exit" not in source and "SystemExit" not in source

