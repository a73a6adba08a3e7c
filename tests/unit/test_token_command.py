"""token_command credentials: a shell command prints the JWT librdkafka sends."""

from __future__ import annotations

import base64
import json
import shlex
import sys
import time

import pytest

from hop import Stream
from hop.auth import Auth
from hop.errors import CredentialError


def _unsigned_jwt(**claims: object) -> str:
    # The client never verifies the signature (the broker does), so any will do here.
    def part(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2ln"


def _printing(text: str) -> str:
    return f"printf %s {shlex.quote(text)}"


def test_command_output_becomes_the_oauth_cb_result():
    exp = int(time.time()) + 600
    jwt = _unsigned_jwt(sub="dave", exp=exp)
    cred = Auth("dave", "", token_command=_printing(jwt + "\n"))
    settings = cred()
    assert settings["sasl.mechanism"] == "OAUTHBEARER"
    assert settings["sasl.oauthbearer.method"] == "default"
    assert settings["oauth_cb"]("") == (jwt, float(exp), "dave", {})


def test_each_refresh_runs_the_command_again(tmp_path):
    counter = tmp_path / "runs"
    jwt = _unsigned_jwt(sub="dave", exp=int(time.time()) + 600)
    command = f"echo run >> {shlex.quote(str(counter))}; {_printing(jwt)}"
    callback = Auth("dave", "", token_command=command)()["oauth_cb"]
    callback("")
    callback("")
    assert counter.read_text().count("run") == 2


@pytest.mark.parametrize(
    ("command", "why"),
    [
        ("echo 'vault says no' >&2; exit 3", "exited with status 3: vault says no"),
        ("true", "printed no token"),
        ("echo not-a-token", "did not print a JWT"),
        (_printing(_unsigned_jwt(sub="dave")), "without a numeric 'exp' claim"),
        (_printing(_unsigned_jwt(exp=2_000_000_000)), "without a 'sub' claim"),
    ],
)
def test_a_failing_command_is_a_runtime_error_naming_it(command, why):
    callback = Auth("dave", "", token_command=command)()["oauth_cb"]
    with pytest.raises(CredentialError) as info:
        callback("")
    assert isinstance(info.value, RuntimeError)
    assert repr(command) in str(info.value)
    assert why in str(info.value)


def test_a_hanging_command_is_killed_after_its_timeout():
    # The grandchild keeps the pipes open: only killing the process group ends the wait.
    command = "sleep 30; echo late"
    callback = Auth("dave", "", token_command=command, token_command_timeout=0.5)()["oauth_cb"]
    started = time.monotonic()
    with pytest.raises(CredentialError, match=r"did not finish within 0\.5 s"):
        callback("")
    assert time.monotonic() - started < 5


def test_opening_a_stream_with_a_failing_command_fails_at_once_naming_it():
    # Without fetching the token first, confluent-kafka waits 10 s and then reports
    # only "OAuth token not set"; the command and its error would be lost.
    cred = Auth("dave", "", ssl=False, token_command=f"{sys.executable} -c 'raise SystemExit(7)'")
    started = time.monotonic()
    with pytest.raises(CredentialError, match="exited with status 7"):
        Stream(auth=cred).open("kafka://127.0.0.1:1/alerts", "w")
    assert time.monotonic() - started < 5


def test_token_command_credentials_round_trip_through_the_store(tmp_path):
    from hop.auth import load_auth, write_auth_data

    cred = Auth("dave", "", host="kafka.example:9092", token_command="htgettoken -a vault")
    path = tmp_path / "auth.toml"
    write_auth_data(path, [cred])
    assert load_auth(str(path)) == [cred]
    assert 'token_command = "htgettoken -a vault"' in path.read_text()


def test_an_empty_command_is_refused():
    with pytest.raises(ValueError, match="token_command"):
        Auth("dave", "", token_command="  ")
