"""hop.http_scram.SCRAMAuth against a real HTTP SCRAM server (the harness's, scramp's server side).

No Kafka here: the server is hop.testing.OffloadService on loopback, a real HTTP
server doing the server half of RFC 7804.
"""

from __future__ import annotations

import uuid
from types import SimpleNamespace

import pytest
import requests

from hop import _bson
from hop.auth import Auth
from hop.errors import CredentialError
from hop.http_scram import SCRAMAuth
from hop.testing import OffloadService

USERS = {"alice": "alice-secret", "bob": "bob-secret"}


@pytest.fixture
def service():
    with OffloadService(USERS) as running:
        yield running


def _upload_body() -> bytes:
    return _bson.encode({"message": b"x" * 1000, "headers": [["_id", uuid.uuid4().bytes]]})


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-512", "SCRAM-SHA-256"])
@pytest.mark.parametrize("shortcut", [False, True])
def test_right_password_authenticates_and_the_server_proof_is_checked(service, mechanism, shortcut):
    cred = Auth("alice", "alice-secret", method=mechanism)
    answer = requests.post(
        f"{service.url}/topic/alerts+oversized",
        data=_upload_body(),
        auth=SCRAMAuth(cred, shortcut=shortcut),
        timeout=10,
    )
    assert answer.status_code == 201
    assert [r.user for r in service.seen("POST")][-1] == "alice"


def test_scram_sha_1_works_over_http():
    # librdkafka has no SCRAM-SHA-1, but HTTP SCRAM does; any object with the
    # credential's attributes will do.
    cred = SimpleNamespace(username="bob", password="bob-secret", mechanism="SCRAM_SHA_1")
    with OffloadService(USERS) as service:
        answer = requests.get(f"{service.url}/msg/{uuid.uuid4()}", auth=SCRAMAuth(cred), timeout=10)
    assert answer.status_code == 404  # authenticated; the message just does not exist
    assert service.seen()[-1].user == "bob"


def test_shortcut_sends_the_body_only_with_the_final_request(service):
    body = _upload_body()
    cred = Auth("alice", "alice-secret")
    requests.post(
        f"{service.url}/topic/t+oversized",
        data=body,
        auth=SCRAMAuth(cred, shortcut=True),
        timeout=10,
    )
    first, final = service.seen("POST")
    assert first.body_size == 0 and first.headers["authorization"].startswith("SCRAM-SHA-512 data=")
    assert final.body_size == len(body) and "sid=" in final.headers["authorization"]


def test_without_shortcut_the_client_answers_the_server_challenge(service):
    cred = Auth("alice", "alice-secret")
    requests.post(
        f"{service.url}/topic/t+oversized", data=_upload_body(), auth=SCRAMAuth(cred), timeout=10
    )
    seen = service.seen("POST")
    assert "authorization" not in seen[0].headers
    assert [r.user for r in seen] == [None, None, "alice"]


def test_wrong_password_ends_in_401(service):
    cred = Auth("alice", "not-the-secret")
    answer = requests.post(
        f"{service.url}/topic/t+oversized",
        data=_upload_body(),
        auth=SCRAMAuth(cred, shortcut=True),
        timeout=10,
    )
    assert answer.status_code == 401


def test_a_server_that_skips_its_final_proof_is_refused(service, monkeypatch):
    original = service._scram_final

    def no_proof(mech, sid, data):
        user, _headers, status = original(mech, sid, data)
        return user, {}, status

    monkeypatch.setattr(service, "_scram_final", no_proof)
    cred = Auth("alice", "alice-secret")
    with pytest.raises(CredentialError, match="Missing sid/data in SCRAM server final"):
        requests.get(
            f"{service.url}/msg/{uuid.uuid4()}", auth=SCRAMAuth(cred, shortcut=True), timeout=10
        )
    # check_final=False accepts it.
    answer = requests.get(
        f"{service.url}/msg/{uuid.uuid4()}",
        auth=SCRAMAuth(cred, shortcut=True, check_final=False),
        timeout=10,
    )
    assert answer.status_code == 404


def test_a_non_scram_credential_is_refused():
    with pytest.raises(CredentialError, match="needs a SCRAM credential"):
        SCRAMAuth(Auth("client", "secret", method="PLAIN"))
