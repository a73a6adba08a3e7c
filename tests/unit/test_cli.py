"""The ``hop`` command line, run in-process (no broker)."""

from __future__ import annotations

import argparse
import io
import json
import logging
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from hop import _samples, auth, cli
from hop.auth import Auth
from hop.cli import _main, _subscribe
from hop.models import Blob, JSONBlob


@pytest.fixture(autouse=True)
def _remove_cli_log_handler():
    # The CLI installs a stderr handler bound to pytest's capture stream of the test;
    # take it away so later tests do not log into a closed stream.
    yield
    logger = logging.getLogger("hop")
    for handler in list(logger.handlers):
        if getattr(handler, cli._HANDLER_MARK, False):
            logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)


@pytest.fixture
def config_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    for name in ("HOP_FETCH_EXTERNAL", "HOP_AUTOMATIC_OFFLOAD"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


# ------------------------------------------------------------------- spec helpers


def test_logging_helpers_follow_quiet_and_verbose():
    parser = argparse.ArgumentParser()
    cli.add_logging_opts(parser)
    assert cli.get_log_level(parser.parse_args([])) == logging.INFO
    assert cli.get_log_level(parser.parse_args(["-q"])) == logging.WARNING
    assert cli.get_log_level(parser.parse_args(["--verbose"])) == logging.DEBUG
    with pytest.raises(SystemExit):
        parser.parse_args(["-q", "-v"])


def test_client_opts_add_url_and_no_auth():
    parser = argparse.ArgumentParser()
    cli.add_client_opts(parser)
    args = parser.parse_args(["kafka://h/t", "--no-auth"])
    assert (args.url, args.no_auth) == ("kafka://h/t", True)


def test_set_up_logger_does_not_stack_handlers():
    args = SimpleNamespace(quiet=False, verbose=True)
    logger = logging.getLogger("hop")
    before = len(logger.handlers)
    cli.set_up_logger(args)
    cli.set_up_logger(args)
    try:
        assert len(logger.handlers) == before + 1
        assert logger.level == logging.DEBUG
    finally:
        for handler in list(logger.handlers)[before:]:
            logger.removeHandler(handler)


# --------------------------------------------------------------------- top level


def test_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in _main.COMMANDS:
        assert name in out


def test_version_flag(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("hop version ")


def test_unknown_command_is_a_usage_error(capsys):
    assert cli.main(["bogus"]) == 2
    assert "invalid choice: 'bogus'" in capsys.readouterr().err


def test_help_does_not_import_confluent_kafka():
    code = (
        "import sys, hop.cli\n"
        "assert hop.cli.main(['--help']) == 0\n"
        "assert 'confluent_kafka' not in sys.modules, 'confluent_kafka imported'\n"
        "assert hop.cli.main(['auth', '--help']) == 0\n"
        "assert 'confluent_kafka' not in sys.modules, 'confluent_kafka imported by auth'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_version_command_lists_skyhop_and_librdkafka(capsys):
    assert cli.main(["version"]) == 0
    out = capsys.readouterr().out
    assert "skyhop==" in out and "librdkafka==" in out


def test_forwarded_commands_get_the_remaining_arguments(monkeypatch):
    seen = []
    module = SimpleNamespace(main=lambda argv: seen.append(argv) or 7)
    monkeypatch.setitem(sys.modules, "fake_forward_target", module)
    monkeypatch.setitem(_main.COMMANDS, "fake", _main._Command("fake_forward_target:main", "Fake."))
    assert cli.main(["fake", "--port", "5", "-v"]) == 7
    assert seen == [["--port", "5", "-v"]]


# ------------------------------------------------------------------ error funnel


def test_missing_store_is_one_line_error_without_traceback(config_home, capsys):
    assert cli.main(["auth", "list"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hop: error: ")
    assert str(config_home / "hop" / "auth.toml") in err
    assert "hop auth add" in err
    assert "Traceback" not in err


def test_debug_flag_adds_the_traceback(config_home, capsys):
    assert cli.main(["-d", "auth", "list"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_verbose_flag_adds_the_traceback(config_home, capsys):
    assert cli.main(["auth", "-v", "list"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_insecure_store_is_refused_with_the_fix(config_home, capsys):
    store = config_home / "hop" / "auth.toml"
    auth.write_auth_data(store, [Auth("a", "b")])
    store.chmod(0o644)
    assert cli.main(["auth", "list"]) == 1
    err = capsys.readouterr().err
    assert f"chmod 600 {store}" in err and "Traceback" not in err


def test_keyboard_interrupt_exits_130(monkeypatch, capsys):
    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr("hop.cli._version.run", interrupted)
    assert cli.main(["version"]) == 130
    assert "interrupted" in capsys.readouterr().err


def test_bad_url_is_a_one_line_error(config_home, capsys):
    assert cli.main(["list-topics", "--no-auth", "http://nope/"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hop: error: ") and "kafka://" in err
    assert "Traceback" not in err


def test_no_matching_credential_gives_hint(config_home, capsys):
    auth.write_auth_data(config_home / "hop" / "auth.toml", [Auth("a", "b", host="other:9092")])
    assert cli.main(["list-topics", "kafka://localhost:9092/"]) == 1
    err = capsys.readouterr().err
    assert "No matching credential found for hostname 'localhost:9092'" in err
    assert "hop: hint:" in err


# --------------------------------------------------------------------- hop auth


def test_auth_locate_prints_the_store_path(config_home, capsys):
    assert cli.main(["auth", "locate"]) == 0
    assert capsys.readouterr().out.strip() == str(config_home / "hop" / "auth.toml")


def test_auth_add_from_csv_then_list_then_remove(config_home, tmp_path, capsys):
    csv_file = tmp_path / "creds.csv"
    csv_file.write_text("username,password,hostname\nalice,pw1,\nbob,pw2,kafka.example:9092\n")
    assert cli.main(["auth", "add", str(csv_file)]) == 0
    assert cli.main(["auth", "list"]) == 0
    out = capsys.readouterr().out
    assert "alice" in out and "bob" in out and "for kafka.example:9092" in out
    assert "pw1" not in out
    assert cli.main(["auth", "remove", "bob"]) == 0
    assert [c.username for c in auth.load_auth()] == ["alice"]


def test_auth_add_conflict_without_force_logs_and_exits_zero(config_home, tmp_path, capsys):
    csv_file = tmp_path / "creds.csv"
    csv_file.write_text("username,password\nalice,pw1\n")
    assert cli.main(["auth", "add", str(csv_file)]) == 0
    capsys.readouterr()
    # As hop-client: the error is logged, and the status is still 0.
    assert cli.main(["auth", "add", str(csv_file)]) == 0
    assert "Credential already exists; overwrite with --force" in capsys.readouterr().err
    assert cli.main(["auth", "add", "--force", str(csv_file)]) == 0


def test_auth_add_missing_csv_names_the_file(config_home, tmp_path, capsys):
    missing = tmp_path / "nope.csv"
    assert cli.main(["auth", "add", str(missing)]) == 1
    assert f"hop: error: {missing}: No such file or directory" in capsys.readouterr().err


def test_auth_remove_unknown_is_an_error(config_home, capsys):
    auth.write_auth_data(config_home / "hop" / "auth.toml", [Auth("a", "b")])
    assert cli.main(["auth", "remove", "zed"]) == 1
    assert "'zed'" in capsys.readouterr().err


# ---------------------------------------------------------------- hop configure


def test_configure_locate_set_show(config_home, capsys):
    assert cli.main(["configure", "locate"]) == 0
    assert capsys.readouterr().out.strip() == str(config_home / "hop" / "config.toml")
    assert cli.main(["configure", "locate", "-t", "auth"]) == 0
    assert capsys.readouterr().out.strip().endswith("auth.toml")
    assert cli.main(["configure", "set", "fetch_external", "false"]) == 0
    capsys.readouterr()
    assert cli.main(["configure", "show"]) == 0
    assert "fetch_external: False" in capsys.readouterr().out


def test_configure_set_bad_value_is_an_error(config_home, capsys):
    assert cli.main(["configure", "set", "fetch_external", "maybe"]) == 1
    assert "hop: error: Invalid boolean value 'maybe'" in capsys.readouterr().err


# ------------------------------------------------------------------ hop publish


def test_publish_malformed_file_is_an_error_naming_it(config_home, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert cli.main(["publish", "--no-auth", "-f", "JSON", "kafka://127.0.0.1:9/t", str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("hop: error: ") and str(bad) in err and "Traceback" not in err


def test_publish_missing_file_is_an_error_naming_it(config_home, tmp_path, capsys):
    missing = tmp_path / "missing.xml"
    argv = ["publish", "--no-auth", "-f", "BLOB", "kafka://127.0.0.1:9/t", str(missing)]
    assert cli.main(argv) == 1
    assert f"{missing}: No such file or directory" in capsys.readouterr().err


def test_publish_format_is_case_insensitive_and_checked(capsys):
    assert cli.main(["publish", "-f", "nosuch", "kafka://h/t"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_publish_formats_come_from_the_registry():
    from hop import io
    from hop.cli._formats import formats

    assert set(formats()) == {member.name for member in io.Deserializer}
    assert {"BLOB", "JSON", "VOEVENT", "CIRCULAR", "GCNTEXTNOTICE", "AVRO"} <= set(formats())


def test_stdin_lines_become_messages_and_bad_line_is_named():
    from hop.cli._publish import _lines

    good = list(_lines(JSONBlob, "JSON", io.BytesIO(b'{"a": 1}\n\n[2]\n')))
    assert [m.content for m in good] == [{"a": 1}, [2]]
    blobs = list(_lines(Blob, "BLOB", io.BytesIO(b"one\ntwo\r\n")))
    assert [m.content for m in blobs] == [b"one", b"two"]
    with pytest.raises(ValueError, match="<stdin> line 2"):
        list(_lines(JSONBlob, "JSON", io.BytesIO(b"1\n{oops\n")))


# ---------------------------------------------------------------- hop subscribe


NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-1h", NOW - timedelta(hours=1)),
        ("-30m", NOW - timedelta(minutes=30)),
        ("-1h30m", NOW - timedelta(minutes=90)),
        ("2d", NOW - timedelta(days=2)),
        ("2024-04-30T06:00", datetime(2024, 4, 30, 6, 0, tzinfo=UTC)),
        (
            "2024-04-30T06:00+02:00",
            datetime(2024, 4, 30, 4, 0, tzinfo=UTC),
        ),
    ],
)
def test_start_position_parses_times(text, expected):
    assert _subscribe.parse_start(text, now=NOW) == expected


def test_start_position_names_are_case_insensitive():
    from hop.io import StartPosition

    assert _subscribe.parse_start("earliest") is StartPosition.EARLIEST
    assert _subscribe.parse_start("LATEST") is StartPosition.LATEST


def test_start_position_garbage_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot understand start position 'yesterday'"):
        _subscribe.parse_start("yesterday")


def test_dash_values_are_glued_to_their_option():
    words = ["URL", "-s", "-1h", "-e", "--start-at", "-5m", "-g", "x"]
    joined = _main._join_dash_values(words, _subscribe.DASH_VALUE_OPTIONS)
    assert joined == ["URL", "-s=-1h", "-e", "--start-at=-5m", "-g", "x"]
    parser = _main.command_parser("subscribe", _subscribe)
    assert parser.parse_args(joined).start_at == "-5m"


def test_count_must_be_positive(capsys):
    assert cli.main(["subscribe", "kafka://h/t", "-n", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err


def _meta(**overrides):
    fields = {
        "topic": "t",
        "partition": 0,
        "offset": 5,
        "timestamp": 1714564800000,
        "key": None,
        "headers": [("_format", b"json"), ("_id", bytes(range(16))), ("bin", b"\xff\x00")],
    }
    fields.update(overrides)
    return SimpleNamespace(**fields)


def test_json_record_has_content_and_metadata():
    record = _subscribe.json_record(JSONBlob({"x": [1, 2]}), _meta(key=b"k"))
    assert record["content"] == {"x": [1, 2]}
    assert record["format"] == "json"
    assert (record["topic"], record["partition"], record["offset"]) == ("t", 0, 5)
    assert record["time"] == "2024-05-01T12:00:00.000+00:00"
    assert record["key"] == "k"
    headers = dict(record["headers"])
    assert headers["_id"] == "00010203-0405-0607-0809-0a0b0c0d0e0f"
    assert headers["bin"] == "/wA="
    assert record["headers_base64"] == ["bin"]
    assert record["encoding"] == "json"
    json.dumps(record)


def test_json_record_of_binary_blob_is_base64():
    record = _subscribe.json_record(Blob(b"\x00\xff"), _meta())
    assert record["content"] == "AP8="
    assert record["encoding"] == "base64"


def test_json_record_embeds_a_circular_as_an_object():
    circular = _samples.gcn_circular()
    record = _subscribe.json_record(circular, _meta())
    assert record["format"] == "circular"
    assert record["content"] == {"header": circular.header, "body": circular.body}
    assert record["encoding"] == "json"


def test_json_record_embeds_an_igwn_alert_sent_as_a_string_as_its_document():
    # GraceDB (and igwn_alert.client.publish) send the alert as a JSON string.
    alert = _samples.igwn_alert().content
    record = _subscribe.json_record(JSONBlob(json.dumps(alert)), _meta())
    assert record["content"] == alert
    assert record["encoding"] == "json-in-string"


@pytest.mark.parametrize(
    ("model", "content", "encoding"),
    [
        (JSONBlob("just a string"), "just a string", "json"),
        (JSONBlob(None), None, "json"),
        (JSONBlob([1, "[2]"]), [1, "[2]"], "json"),
        (Blob(b'{"a": 1}'), {"a": 1}, "json"),
        (Blob(b"[1, 2"), "[1, 2", "text"),
        (Blob(b"plain words"), "plain words", "text"),
    ],
)
def test_json_record_says_how_content_holds_the_message(model, content, encoding):
    record = _subscribe.json_record(model, _meta())
    assert (record["content"], record["encoding"]) == (content, encoding)


def test_json_record_of_a_voevent_is_its_xml_text():
    event = _samples.voevent()
    record = _subscribe.json_record(event, _meta())
    assert (record["content"], record["encoding"]) == (bytes(event).decode(), "text")


def test_rich_writer_shows_an_alert_sent_as_a_string_as_the_document():
    out = io.StringIO()
    _subscribe._RichWriter(out).write(JSONBlob(json.dumps({"superevent_id": "S1"})), _meta())
    assert '"superevent_id": "S1"' in out.getvalue()
    assert '\\"' not in out.getvalue()


def test_raw_writer_adds_delimiter_once():
    out = io.BytesIO()
    writer = _subscribe._RawWriter(out, b"\n")
    writer.write(Blob(b"a"), _meta())
    writer.write(Blob(b"b\n"), _meta())
    assert out.getvalue() == b"a\nb\n"


def test_rich_writer_shows_position_and_content():
    out = io.StringIO()
    _subscribe._RichWriter(out).write(JSONBlob({"alert": "GRB"}), _meta())
    text = out.getvalue()
    assert "t[0]@5" in text and "GRB" in text


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_only_for_backlog_and_clears_when_caught_up():
    ticks = iter([0.0, 0.1, 1.0, 2.0])
    out = _Terminal()
    now = 1714564800.0
    progress = _subscribe.Progress(out, clock=lambda: next(ticks), now=lambda: now)
    old = _meta(timestamp=int((now - 3 * 3600) * 1000))
    progress.update(old)  # shown
    progress.update(old)  # too soon after the last update: not redrawn
    progress.update(old)  # shown again
    assert out.getvalue().count("replaying backlog") == 2
    assert "3 messages read" in out.getvalue() and "3h 0m behind" in out.getvalue()
    progress.update(_meta(timestamp=int(now * 1000)))  # caught up: line cleared
    assert out.getvalue().endswith("\r\x1b[K")


def test_subscribe_help_mentions_relative_times(capsys):
    assert cli.main(["subscribe", "--help"]) == 0
    out = capsys.readouterr().out
    assert "-1h" in out and "--count" in out and "--json" in out


def test_publish_help_lists_formats(capsys):
    assert cli.main(["publish", "--help"]) == 0
    out = capsys.readouterr().out
    assert "VOEVENT" in out and "CIRCULAR" in out and "BLOB" in out


def test_publish_help_states_the_real_default_timeout(capsys):
    from hop._config import DEFAULT_PRODUCE_TIMEOUT

    assert cli.main(["publish", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert f"(default: {DEFAULT_PRODUCE_TIMEOUT.total_seconds():g}; 0 waits without limit)" in out


class _RecordingStream:
    """Stands in for hop.io.Stream: records how ``hop publish`` opens the stream."""

    opened: list[dict[str, object]] = []

    def __init__(self, **kwargs: object) -> None:
        pass

    def open(self, url: str, mode: str, **options: object) -> object:
        self.opened.append(options)
        return self

    def __enter__(self) -> _RecordingStream:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def write(self, message: object, test: bool = False) -> None:
        pass


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], {}),
        (["--timeout", "0"], {"produce_timeout": 0.0}),
        (["--timeout", "2.5"], {"produce_timeout": 2.5}),
    ],
)
def test_publish_timeout_default_leaves_the_stream_default_and_zero_means_no_limit(
    monkeypatch, tmp_path, argv, expected
):
    import hop.io

    monkeypatch.setattr(hop.io, "Stream", _RecordingStream)
    monkeypatch.setattr(_RecordingStream, "opened", [])
    message = tmp_path / "m.txt"
    message.write_text("hello")
    assert cli.main(["publish", "kafka://h/t", "--no-auth", str(message), *argv]) == 0
    assert _RecordingStream.opened == [expected]


@pytest.mark.parametrize("value", ["-1", "soon", "nan"])
def test_publish_timeout_must_be_a_non_negative_number(capsys, value):
    assert cli.main(["publish", "kafka://h/t", f"--timeout={value}"]) == 2
    assert "--timeout" in capsys.readouterr().err


def test_public_names_of_hop_cli():
    assert set(cli.__all__) == {
        "add_client_opts",
        "add_logging_opts",
        "get_log_level",
        "main",
        "set_up_logger",
    }


@pytest.mark.parametrize("name", sorted(_main.COMMANDS))
def test_every_command_has_a_parser_for_its_help_and_the_docs(name):
    parser = _main.parser_for(name)
    assert parser.prog == f"hop {name}"
    assert parser.format_help().startswith(f"usage: hop {name}")


def test_every_command_module_has_add_arguments_and_run():
    import importlib

    for name, command in _main.COMMANDS.items():
        if command.forwards:
            continue
        module = importlib.import_module(command.target)
        assert callable(module.add_arguments) and callable(module.run), name
        assert textwrap.dedent(module.__doc__ or "").strip(), name


def test_publish_files_may_follow_the_options(monkeypatch):
    from hop.cli import _publish

    seen = []
    monkeypatch.setattr(_publish, "run", lambda args: seen.append(args) or 0)
    assert cli.main(["publish", "kafka://h/t", "-f", "json", "a.json", "-t", "b.json"]) == 0
    (args,) = seen
    assert (args.format, args.message, args.test) == ("JSON", ["a.json", "b.json"], True)


def test_whole_stdin_is_one_message_for_structured_formats():
    from hop.cli._formats import formats
    from hop.cli._publish import _whole_input

    text = bytes(_samples.gcn_circular())
    message = _whole_input(formats()["CIRCULAR"], "CIRCULAR", io.BytesIO(text))
    assert message == _samples.gcn_circular()


def test_python_dash_m_hop_cli_runs_the_program():
    result = subprocess.run(
        [sys.executable, "-m", "hop.cli", "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stdout.startswith("hop version")


def test_auth_add_interactively_prompts_for_the_credential(config_home, monkeypatch, capsys):
    answers = iter(["alice", "kafka.example:9092", ""])
    monkeypatch.setattr("builtins.input", lambda prompt="": next(answers))
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "s3cret")
    assert cli.main(["auth", "add"]) == 0
    assert auth.load_auth() == [Auth("alice", "s3cret", host="kafka.example:9092")]
    assert "s3cret" not in capsys.readouterr().out


def test_rich_writer_shows_binary_blobs_as_a_hex_preview():
    out = io.StringIO()
    _subscribe._RichWriter(out).write(Blob(b"\x00\x01binary"), _meta())
    assert "<8 bytes of binary data> 00 01 62" in out.getvalue()


def test_samp_help_names_itself_hop_samp(capsys):
    assert cli.main(["samp", "--help"]) == 0
    assert capsys.readouterr().out.startswith("usage: hop samp")
