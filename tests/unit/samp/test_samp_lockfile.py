"""The Standard Profile lockfile: format, permissions, discovery, stale and live hubs."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from hop.samp import SAMPHubError
from hop.samp._http import Request, Response, RPCServer, xmlrpc_reply
from hop.samp._lockfile import (
    claim_lockfile,
    format_lockfile,
    hub_is_alive,
    lockfile_path_for_hub,
    parse_lockfile,
    read_lockfile,
    release_lockfile,
    resolve_lockfile_location,
)

PARAMS = {
    "samp.secret": "s3cret",
    "samp.hub.xmlrpc.url": "http://127.0.0.1:1/",
    "samp.profile.version": "1.3",
}


class _PingApp:
    def handle(self, request: Request) -> Response:
        return xmlrpc_reply(request.body, lambda method, params: "")


@pytest.fixture
def live_url() -> Iterator[str]:
    server = RPCServer(_PingApp())
    server.start()
    yield server.url
    assert server.stop() == []


def _dead_url() -> str:
    # A port that was free a moment ago: nothing listens there.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def test_format_then_parse_round_trips_without_blank_lines() -> None:
    text = format_lockfile(PARAMS)
    assert "\n\n" not in text
    assert text.startswith("#")
    assert parse_lockfile(text) == PARAMS


def test_values_with_equals_or_newlines_are_refused() -> None:
    with pytest.raises(ValueError, match=r"samp\.secret"):
        format_lockfile({"samp.secret": "a=b"})


def test_parse_names_the_bad_line() -> None:
    with pytest.raises(SAMPHubError, match=r"lock, line 2"):
        parse_lockfile("# comment\nnot an assignment\n", source="lock")


def test_parse_keeps_equals_inside_values_and_skips_blank_lines() -> None:
    assert parse_lockfile("\nsamp.secret=a=b\n\n") == {"samp.secret": "a=b"}


def test_read_lockfile_accepts_file_urls(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    path.write_text(format_lockfile(PARAMS))
    assert read_lockfile(path.as_uri()) == PARAMS


def test_read_lockfile_without_required_keys_fails(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    path.write_text("samp.profile.version=1.3\n")
    with pytest.raises(SAMPHubError, match=r"lacks samp\.secret"):
        read_lockfile(path)


def test_samp_hub_variable_wins_over_home() -> None:
    env = {"HOME": "/home/x", "SAMP_HUB": "std-lockurl:file:///tmp/elsewhere"}
    assert resolve_lockfile_location(env) == "file:///tmp/elsewhere"
    assert lockfile_path_for_hub(env) == Path("/tmp/elsewhere")
    assert resolve_lockfile_location({"HOME": "/home/x"}) == "/home/x/.samp"


def test_unsupported_samp_hub_profile_is_refused() -> None:
    with pytest.raises(SAMPHubError, match="std-lockurl"):
        resolve_lockfile_location({"SAMP_HUB": "web-appname:foo"})


def test_hub_cannot_write_an_http_lockfile_url() -> None:
    with pytest.raises(SAMPHubError, match="not a file: URL"):
        lockfile_path_for_hub({"SAMP_HUB": "std-lockurl:http://127.0.0.1/lock"})


def test_claim_creates_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / ".samp"
    claim_lockfile(path, PARAMS)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_lockfile(path) == PARAMS
    assert [p.name for p in tmp_path.iterdir()] == [".samp"]  # no temp file left


def test_stale_lockfile_of_a_dead_hub_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / ".samp"
    path.write_text(format_lockfile({**PARAMS, "samp.hub.xmlrpc.url": _dead_url()}))
    new = {**PARAMS, "samp.secret": "new"}
    claim_lockfile(path, new)
    assert read_lockfile(path)["samp.secret"] == "new"


def test_garbage_lockfile_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / ".samp"
    path.write_text("this is not a lockfile\n")
    claim_lockfile(path, PARAMS)
    assert read_lockfile(path) == PARAMS


def test_live_hubs_lockfile_is_never_overwritten(tmp_path: Path, live_url: str) -> None:
    path = tmp_path / ".samp"
    live = {**PARAMS, "samp.hub.xmlrpc.url": live_url, "samp.secret": "live"}
    path.write_text(format_lockfile(live))
    with pytest.raises(SAMPHubError, match="another SAMP hub is running"):
        claim_lockfile(path, PARAMS)
    assert read_lockfile(path)["samp.secret"] == "live"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".samp"]


def test_hub_is_alive_tells_live_from_dead(live_url: str) -> None:
    assert hub_is_alive({"samp.hub.xmlrpc.url": live_url})
    assert not hub_is_alive({"samp.hub.xmlrpc.url": _dead_url()})


def test_release_removes_only_our_own_lockfile(tmp_path: Path) -> None:
    path = tmp_path / ".samp"
    claim_lockfile(path, PARAMS)
    assert not release_lockfile(path, "someone-else")
    assert path.exists()
    assert release_lockfile(path, "s3cret")
    assert not path.exists()


def test_claim_reports_an_unwritable_directory(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        target = Path("/proc/no-such-dir/.samp")  # root ignores permissions
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = locked / ".samp"
    with pytest.raises(SAMPHubError, match="cannot write SAMP lockfile"):
        claim_lockfile(target, PARAMS)
