"""Upstream-style code for hop.http_scram and token_command credentials, run unchanged.

The bodies below are written as a hop-client 0.13 user writes them (imports, names
and calls from upstream's documentation); only the server and the token program are
the test's own: a real HTTP SCRAM server on loopback, and a shell command printing a
JWT.
"""

from __future__ import annotations

import base64
import json
import time
import uuid

import pytest

from hop.testing import OffloadService


@pytest.fixture
def scram_server():
    with OffloadService({"user": "pw"}) as server:
        yield server.url


def test_upstream_style_http_scram_request(scram_server):
    # --- as upstream's users write it -------------------------------------------
    import requests

    from hop.auth import Auth
    from hop.http_scram import SCRAMAuth

    cred = Auth("user", "pw", method="SCRAM-SHA-256")
    resp = requests.get(
        scram_server + "/msg/" + str(uuid.uuid4()), auth=SCRAMAuth(cred, shortcut=True)
    )
    # ----------------------------------------------------------------------------
    assert resp.status_code == 404  # authenticated, and no such message stored


def test_upstream_style_token_command_credential(tmp_path):
    claims = (
        base64.urlsafe_b64encode(
            json.dumps({"sub": "scitoken-user", "exp": int(time.time()) + 300}).encode()
        )
        .decode()
        .rstrip("=")
    )
    token_file = tmp_path / "bearer_token"
    token_file.write_text(f"eyJhbGciOiJSUzI1NiJ9.{claims}.c2ln\n")
    # --- as upstream's users write it -------------------------------------------
    from hop.auth import Auth

    auth = Auth("scitoken-user", "", token_command=f"cat {token_file}")
    config = auth()
    assert auth.token_command == f"cat {token_file}"
    assert config["sasl.oauthbearer.method"] == "default"
    token, expiry, principal, extensions = config["oauth_cb"](None)
    # ----------------------------------------------------------------------------
    assert principal == "scitoken-user" and expiry > time.time() and extensions == {}
    assert token == token_file.read_text().strip()
