"""The credential store is shared with upstream hop-client: each reads what the other wrote.

Users switching between hop-client and skyhop keep one ``~/.config/hop/auth.toml``.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from _peers import run_peer
from hop import Stream, auth
from hop.auth import Auth
from hop.io import StartPosition

_UPSTREAM_READ = """
import json, sys
from hop import auth
creds = auth.load_auth(sys.argv[1])
print(json.dumps([[c.username, c.password, c.hostname, c.mechanism, c.protocol,
                   c.token_endpoint] for c in creds]))
"""

_UPSTREAM_WRITE = """
import sys
from hop import auth
from hop.auth import Auth, SASLMethod
creds = [
    Auth("alice", "pw1"),
    Auth("bob", "pw2", host="kafka.example:9092", ssl=False, method=SASLMethod.SCRAM_SHA_256),
    Auth("carol", "s", token_endpoint="https://idp.example/token"),
]
auth.write_auth_data(sys.argv[1], creds)
"""

_UPSTREAM_PUBLISH = """
import sys
from hop import Stream
with Stream().open(sys.argv[1], "w") as s:
    s.write({"from": "upstream"})
"""


def test_upstream_reads_the_store_skyhop_wrote(peers_python: Path, tmp_path: Path) -> None:
    store = tmp_path / "auth.toml"
    auth.write_auth_data(
        store,
        [
            Auth("alice", "pw1"),
            Auth("bob", "pw2", host="kafka.example:9092", ssl=False, method="SCRAM-SHA-256"),
            Auth("carol", "s", token_endpoint="https://idp.example/token"),
        ],
    )
    result = run_peer(peers_python, _UPSTREAM_READ, str(store), timeout=60)
    assert json.loads(result.stdout) == [
        ["alice", "pw1", "", "SCRAM-SHA-512", "SASL_SSL", None],
        ["bob", "pw2", "kafka.example:9092", "SCRAM-SHA-256", "SASL_PLAINTEXT", None],
        ["carol", "s", "", "OAUTHBEARER", "SASL_SSL", "https://idp.example/token"],
    ]


def test_skyhop_reads_the_store_upstream_wrote(peers_python: Path, tmp_path: Path) -> None:
    store = tmp_path / "auth.toml"
    run_peer(peers_python, _UPSTREAM_WRITE, str(store), timeout=60)
    assert store.stat().st_mode & 0o777 == 0o600
    assert auth.load_auth(store) == [
        Auth("alice", "pw1"),
        Auth("bob", "pw2", host="kafka.example:9092", ssl=False, method="SCRAM-SHA-256"),
        Auth("carol", "s", token_endpoint="https://idp.example/token"),
    ]


def test_upstream_publishes_with_a_credential_skyhop_stored(
    peers_python: Path, tmp_path: Path, kafka_broker
) -> None:
    topic = f"peer-auth-{uuid.uuid4().hex[:10]}"
    group = f"alice-{uuid.uuid4().hex[:10]}"
    kafka_broker.create_topic(topic)
    kafka_broker.grant("alice", topic=topic, group=group)
    host = kafka_broker.bootstrap["sasl_plaintext"]
    config_home = tmp_path / "xdg"
    alice = Auth("alice", kafka_broker.users["alice"], host=host, ssl=False)
    auth.write_auth_data(config_home / "hop" / "auth.toml", [alice])
    url = f"kafka://{host}/{topic}"
    run_peer(
        peers_python, _UPSTREAM_PUBLISH, url, env={"XDG_CONFIG_HOME": str(config_home)}, timeout=90
    )
    reader = Stream(auth=alice, start_at=StartPosition.EARLIEST, until_eos=True)
    with reader.open(url, "r", group_id=group) as consumer:
        assert [m.content for m in consumer] == [{"from": "upstream"}]


_UPSTREAM_READ_PASSWORDS = """
import json, sys
from hop import auth
print(json.dumps([c.password for c in auth.load_auth(sys.argv[1])]))
"""

_UPSTREAM_LOAD_CONFIG = """
import json, os, sys
os.environ["XDG_CONFIG_HOME"] = sys.argv[1]
from hop import configure
print(json.dumps(configure.load_config().asdict()))
"""


def test_upstream_reads_awkward_passwords_skyhop_stored(peers_python: Path, tmp_path: Path) -> None:
    passwords = ['quo"te', "back\\slash", "tab\there", "é-ü", "ctl\x01\x7f", "new\nline"]
    store = tmp_path / "auth.toml"
    auth.write_auth_data(store, [Auth(f"u{i}", p) for i, p in enumerate(passwords)])
    result = run_peer(peers_python, _UPSTREAM_READ_PASSWORDS, str(store), timeout=60)
    assert json.loads(result.stdout) == passwords


def test_upstream_reads_the_config_skyhop_wrote(peers_python: Path, tmp_path: Path) -> None:
    from hop import configure

    path = tmp_path / "hop" / "config.toml"
    path.parent.mkdir()
    # Written by hand as TOML 1.1, which hop-client's parser refuses (a trailing comma
    # in an inline table); once skyhop changes a setting, hop-client reads it.
    path.write_text("config = {automatic_offload = false,}\n")
    configure.write_config_value("fetch_external", "no", config_path=str(path))
    result = run_peer(peers_python, _UPSTREAM_LOAD_CONFIG, str(tmp_path), timeout=60)
    assert json.loads(result.stdout) == {"fetch_external": False, "automatic_offload": False}
