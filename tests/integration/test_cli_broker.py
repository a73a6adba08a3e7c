"""The ``hop`` program end to end, in subprocesses, as a user types it.

Each test gets its own configuration directory (``XDG_CONFIG_HOME``), stores
alice's credential from a CSV file with ``hop auth add``, then talks to the
broker's SASL_PLAINTEXT listener, where ACLs are enforced.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from hop import _samples
from hop.models import GCNCircular

RUN_TIMEOUT_S = 90


def _hop_command() -> list[str]:
    script = shutil.which("hop", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "hop.cli"]


class User:
    """Runs ``hop`` with a private configuration directory."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("HOP_")}
        self.env["XDG_CONFIG_HOME"] = str(home)

    def hop(self, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [*_hop_command(), *args],
            input=stdin.decode() if stdin is not None else None,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=RUN_TIMEOUT_S,
        )
        return result

    def ok(self, *args: str, stdin: bytes | None = None) -> str:
        result = self.hop(*args, stdin=stdin)
        assert result.returncode == 0, f"hop {' '.join(args)} failed:\n{result.stderr}"
        return result.stdout


@pytest.fixture
def broker(kafka_broker):
    return kafka_broker


@pytest.fixture
def topic(broker) -> str:
    name = f"cli-{uuid.uuid4().hex[:12]}"
    broker.create_topic(name)
    broker.grant("alice", topic=name)
    return name


@pytest.fixture(scope="module")
def alice_groups(kafka_broker) -> None:
    # `hop subscribe` without -g makes group ids "alice-<random>".
    kafka_broker.grant("alice", group="alice-", prefixed=True)


@pytest.fixture
def user(tmp_path, broker, alice_groups) -> User:
    user = User(tmp_path / "config")
    csv_file = tmp_path / "alice.csv"
    host = broker.bootstrap["sasl_plaintext"]
    csv_file.write_text(
        "username,password,hostname,protocol\n"
        f"alice,{broker.users['alice']},{host},SASL_PLAINTEXT\n"
    )
    user.ok("auth", "add", str(csv_file))
    return user


def _url(broker, topic: str) -> str:
    return f"kafka://{broker.bootstrap['sasl_plaintext']}/{topic}"


def test_auth_add_from_csv_stores_a_private_file_that_lists(user):
    store = Path(user.ok("auth", "locate").strip())
    assert store == user.home / "hop" / "auth.toml"
    assert store.stat().st_mode & 0o777 == 0o600
    # hop-client's listing: the username and the host it is for.
    listing = user.ok("auth", "list")
    assert listing.startswith("alice for 127.0.0.1:")


def test_publish_files_then_subscribe_until_end_of_stream(user, broker, topic):
    url = _url(broker, topic)
    first = _samples.gcn_circular()
    second = GCNCircular(
        {**first.header, "number": "90002", "subject": "a later circular"}, "The second circular.\n"
    )
    paths = []
    for n, circular in enumerate((first, second)):
        paths.append(user.home / f"circular{n}.gcn3")
        paths[-1].write_text(str(circular))
    user.ok("publish", url, "-f", "CIRCULAR", *map(str, paths))
    out = user.ok("subscribe", url, "-s", "EARLIEST", "-e")
    assert first.header["subject"] in out
    assert "SUBJECT: a later circular" in out
    assert out.index("90001") < out.index("90002")  # in the order published
    lines = user.ok("subscribe", url, "-s", "EARLIEST", "-e", "-j").splitlines()
    records = [json.loads(line) for line in lines]
    assert [(r["content"], r["encoding"]) for r in records] == [
        ({"header": c.header, "body": c.body}, "json") for c in (first, second)
    ]


def test_publish_stdin_lines_then_subscribe_json(user, broker, topic):
    url = _url(broker, topic)
    user.ok("publish", "-f", "JSON", url, stdin=b'{"a": 1}\n\n{"b": [2, 3]}\n')
    out = user.ok("subscribe", url, "-s", "EARLIEST", "-e", "-j")
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["content"] for r in records] == [{"a": 1}, {"b": [2, 3]}]
    assert [r["offset"] for r in records] == [0, 1]
    assert all(r["topic"] == topic and r["format"] == "json" for r in records)
    assert all(dict(r["headers"])["_sender"] == "alice" for r in records)


def test_subscribe_count_stops_after_n_messages_without_end_of_stream(user, broker, topic):
    url = _url(broker, topic)
    user.ok("publish", url, stdin=b"first\nsecond\nthird\n")
    out = user.ok("subscribe", url, "-s", "EARLIEST", "-n", "2")
    assert out.splitlines() == ["first", "second"]


def test_subscribe_from_a_relative_time_reads_recent_messages(user, broker, topic):
    url = _url(broker, topic)
    user.ok("publish", url, "-t", stdin=b"recent\n")
    out = user.ok("subscribe", url, "-s", "-1h", "-e", "-t")
    assert out.splitlines() == ["recent"]


def test_list_topics_shows_the_granted_topic(user, broker, topic):
    out = user.ok(
        "list-topics", f"kafka://{broker.bootstrap['sasl_plaintext']}/", "--timeout", "20"
    )
    assert out.splitlines()[0] == "Accessible topics:"
    assert f" {topic}" in out.splitlines()


def test_user_errors_are_one_line_without_traceback(user, broker, tmp_path):
    url = _url(broker, f"not-granted-{uuid.uuid4().hex[:8]}")
    broker.create_topic(url.rsplit("/", 1)[1])
    refused = user.hop("publish", url, stdin=b"x\n")
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[-1].startswith("hop: error: ")
    assert "authoriz" in refused.stderr.lower() and "Traceback" not in refused.stderr

    wrong_host = user.hop("publish", "kafka://elsewhere.example:9092/t", stdin=b"x\n")
    assert wrong_host.returncode == 1
    assert "No matching credential found for hostname 'elsewhere.example:9092'" in (
        wrong_host.stderr
    )

    bad_file = tmp_path / "bad.xml"
    bad_file.write_text("<not-a-voevent/>")
    malformed = user.hop("publish", url, "-f", "VOEVENT", str(bad_file))
    assert malformed.returncode == 1 and str(bad_file) in malformed.stderr
    assert "Traceback" not in malformed.stderr


def test_world_readable_auth_toml_is_refused_by_every_command(user, broker, topic):
    store = user.home / "hop" / "auth.toml"
    store.chmod(0o644)
    result = user.hop("subscribe", _url(broker, topic), "-e")
    assert result.returncode == 1
    assert f"chmod 600 {store}" in result.stderr


def test_refused_password_and_unknown_topic_are_one_line_errors(tmp_path, broker, topic):
    mallory = User(tmp_path / "mallory")
    csv_file = tmp_path / "wrong.csv"
    host = broker.bootstrap["sasl_plaintext"]
    csv_file.write_text(f"username,password,hostname,protocol\nalice,wrong,{host},SASL_PLAINTEXT\n")
    mallory.ok("auth", "add", str(csv_file))
    refused = mallory.hop("publish", _url(broker, topic), stdin=b"x\n")
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[-1].startswith("hop: error: ")
    assert "authentication" in refused.stderr.lower() and "Traceback" not in refused.stderr

    missing = f"missing-{uuid.uuid4().hex[:8]}"
    unknown = mallory.hop(
        "subscribe", "--no-auth", f"kafka://{broker.bootstrap['plaintext']}/{missing}", "-e"
    )
    assert unknown.returncode == 1
    assert f"hop: error: topic {missing!r} does not exist" in unknown.stderr
