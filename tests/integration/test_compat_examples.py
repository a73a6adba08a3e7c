"""Code written for hop-client 0.13 and igwn-alert 0.7 runs unchanged on skyhop (issue 13).

Each example in ``tests/compat/`` uses only upstream's documented API, the way a user's
program or unit test does, and prints what it observed as one JSON object. It runs
once with skyhop's interpreter and once with the upstream packages (the peers'
virtualenv), and the observations must be the same, apart from the deliberate
differences listed here (README's and ``docs/migration.rst``'s "differs from upstream").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _peers import run_peer
from hop.testing import KafkaBroker

COMPAT = Path(__file__).resolve().parents[1] / "compat"

_TIMEOUT_S = 240.0


def _run_skyhop(example: str, *args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(COMPAT / example), *args],
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        check=False,
    )
    assert proc.returncode == 0, f"{example} failed on skyhop:\n{proc.stderr[-3000:]}"
    observed: dict[str, Any] = json.loads(proc.stdout)
    return observed


def _run_upstream(peers_python: Path, example: str, *args: str) -> dict[str, Any]:
    proc = run_peer(peers_python, (COMPAT / example).read_text(), *args, timeout=_TIMEOUT_S)
    observed: dict[str, Any] = json.loads(proc.stdout)
    return observed


def _differences(ours: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    return {
        key: {"skyhop": ours.get(key), "upstream": theirs.get(key)}
        for key in sorted(set(ours) | set(theirs))
        if ours.get(key) != theirs.get(key)
    }


def test_credentials_and_configuration_example_behaves_as_upstream(peers_python: Path) -> None:
    ours = _run_skyhop("auth_config_example.py")
    # What today's main got wrong, checked on skyhop alone as well.
    assert ours["multi_line_inline_tables"] == [
        ["alice", "kafka.example:9092", "SCRAM-SHA-512"],
        ["bob", "", "SCRAM-SHA-256"],
    ]
    assert ours["scram_sha_1"] == ["SCRAM-SHA-1", True, False]
    assert ours["mechanism_as_given"] == "SCRAM_SHA_256"
    assert ours["oidc"] == [True, False, "OAUTHBEARER", "tok-1", "tok-1"]
    for key in ("prune_malformed", "delete_without_store", "config_load_without_section",
                "bad_environment_value"):
        assert ours[key]["runtime"] is True, key
    assert ours["write_config_value_writes_one_setting"] == "[config]\nfetch_external = false\n"
    assert ours["patched_load_auth"] == "mocked for h:9092\n"
    assert ours["patched_config_path"] == ["carol"]
    assert ours["hop_auth_add_conflict"] == [{"status": 0, "stdout": ""}] * 2
    assert ours["bare_hop_without_credentials"] == [2, "No valid credential data found"]
    assert _differences(ours, _run_upstream(peers_python, "auth_config_example.py")) == {}


def test_streams_models_and_journal_example_behaves_as_upstream(
    kafka_broker: KafkaBroker, make_topic: Callable[..., str], peers_python: Path
) -> None:
    broker = kafka_broker.bootstrap["plaintext"]
    ours = _run_skyhop("streams_models_example.py", broker, make_topic())
    assert ours["python_m_hop_version"] == [0, "hop version 0.13.0"]
    assert ours["ctrl_c_in_producer"] == "Aborted (CTRL-C).\n"
    assert ours["read_back"] == [1] and ours["list_topics"] is True
    assert ours["list_topics_two_brokers"] == [True]
    assert ours["list_topics_timeout"] == [True]
    assert ours["patched_consumer"] is True and ours["patched_producer"] is True
    assert ours["journal_next"] == [0, "payload", "a-topic", [["h", "v"]], "key"]
    theirs = _run_upstream(peers_python, "streams_models_example.py", broker, make_topic())
    assert _differences(ours, theirs) == {}


def test_igwn_alert_example_behaves_as_upstream(peers_python: Path) -> None:
    ours = _run_skyhop("igwn_alert_example.py")
    assert ours["base_url_without_slash"] == "kafka://test.server:1234/test"
    assert ours["sessions_after_bare_disconnect"] == ["topic1", "topic2"]
    assert ours["deprecated_methods"] == [[None] * 4, ["DeprecationWarning"] * 4]
    assert ours["get_topics"] == [["topic1"], []]
    assert ours["listen_callback"] == [["topic1", {"uid": "S1"}]]
    assert _differences(ours, _run_upstream(peers_python, "igwn_alert_example.py")) == {}
