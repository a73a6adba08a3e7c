"""OIDC (OAUTHBEARER) against the real broker, as gcn-kafka users connect to NASA GCN.

The broker gets a fifth listener whose JWTs Kafka's own
``OAuthBearerValidatorCallbackHandler`` checks against the JWKS of a loopback OIDC
provider (tests/_oidc.py), which also serves the client-credentials token endpoint
that librdkafka (``sasl.oauthbearer.method=oidc``) uses. That broker is this module's
own: the session broker keeps its listeners and start-up time.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from _brokers import running_broker
from _oidc import AUDIENCE, ISSUER, OIDCProvider
from hop import Stream
from hop.auth import Auth
from hop.errors import AuthenticationError
from hop.io import StartPosition
from hop.models import Blob
from hop.testing import KafkaBroker, OffloadService
from hop.testing.broker import OAuthBearerListener

pytestmark = pytest.mark.broker

CLIENT, SECRET = "gcn-client", "right-secret"


@pytest.fixture(scope="module")
def provider() -> Iterator[OIDCProvider]:
    with OIDCProvider({CLIENT: SECRET}) as running:
        yield running


@pytest.fixture(scope="module")
def oidc_broker(
    provider: OIDCProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KafkaBroker]:
    listener = OAuthBearerListener(provider.jwks_url, audience=AUDIENCE, issuer=ISSUER)
    with running_broker(tmp_path_factory.mktemp("kafka-oidc"), oauthbearer=listener) as broker:
        # The token's sub claim is the principal the ACLs name.
        broker.grant(CLIENT, topic="oidc-", group="oidc-", prefixed=True)
        yield broker


@pytest.fixture
def topic_url(oidc_broker: KafkaBroker) -> str:
    topic = f"oidc-{uuid.uuid4().hex[:8]}"
    oidc_broker.create_topic(topic)
    return f"kafka://{oidc_broker.bootstrap['oauthbearer']}/{topic}"


def _oidc_auth(provider: OIDCProvider, secret: str = SECRET) -> Auth:
    return Auth(CLIENT, secret, ssl=False, token_endpoint=provider.token_url)


def _read_all(url: str, auth: Auth) -> list[object]:
    group = f"oidc-{uuid.uuid4().hex[:8]}"
    reader = Stream(auth=auth, start_at=StartPosition.EARLIEST, until_eos=True)
    with reader.open(url, "r", group_id=group) as s:
        return [m.content for m in s]


def test_right_client_secret_writes_and_reads(provider, topic_url):
    auth = _oidc_auth(provider)
    with Stream(auth=auth).open(topic_url, "w") as s:
        s.write({"circular": 1})
        s.write({"circular": 2})
    assert _read_all(topic_url, auth) == [{"circular": 1}, {"circular": 2}]
    assert provider.count_issued(CLIENT) >= 1


@pytest.mark.parametrize("mode", ["r", "w"])
def test_wrong_client_secret_is_an_authentication_error_within_15_s(provider, topic_url, mode):
    auth = _oidc_auth(provider, secret="wrong-secret")
    started = time.monotonic()
    with (
        pytest.raises(AuthenticationError),
        Stream(auth=auth, until_eos=True).open(topic_url, mode) as s,
    ):
        if mode == "w":
            s.write({"never": "sent"})
            s.flush()
        else:
            list(s)
    assert time.monotonic() - started < 15
    assert CLIENT in provider.refused


def test_a_token_that_expires_mid_stream_is_refreshed_without_losing_a_message(provider, topic_url):
    # Tokens live 10 s and the broker ends a session when its token expires (re-
    # authentication is enforced), so over ~22 s both clients must fetch new ones and
    # re-authenticate. (Much shorter tokens make librdkafka re-authenticate twice
    # within a second, which Kafka refuses: measured with 6 s tokens.)
    provider.token_lifetime = 10.0
    try:
        auth = _oidc_auth(provider)
        before = provider.count_issued(CLIENT)
        received: list[object] = []
        failures: list[BaseException] = []
        total = 110
        ready = threading.Event()

        def read() -> None:
            try:
                group = f"oidc-{uuid.uuid4().hex[:8]}"
                reader = Stream(auth=auth, start_at=StartPosition.EARLIEST)
                with reader.open(topic_url, "r", group_id=group) as s:
                    ready.set()
                    for message in s:
                        received.append(message.content)
                        if len(received) == total:
                            return
            except BaseException as exc:
                failures.append(exc)
                ready.set()

        thread = threading.Thread(target=read, daemon=True)
        thread.start()
        assert ready.wait(30)
        with Stream(auth=auth).open(topic_url, "w") as s:
            for n in range(total):
                s.write({"n": n})
                time.sleep(0.2)
        thread.join(60)
        assert not failures, failures
        assert received == [{"n": n} for n in range(total)]
        # Writer and reader each began with one token and refreshed at least twice.
        assert provider.count_issued(CLIENT) - before >= 4
    finally:
        provider.token_lifetime = 3600.0


def test_token_command_credential_on_the_same_listener(provider, topic_url, tmp_path: Path):
    token_file = tmp_path / "token"
    token_file.write_text(provider.mint(CLIENT, lifetime=600) + "\n")
    auth = Auth(CLIENT, "", ssl=False, token_command=f"cat {token_file}")
    with Stream(auth=auth).open(topic_url, "w") as s:
        s.write({"via": "token_command"})
    assert _read_all(topic_url, auth) == [{"via": "token_command"}]


def test_the_broker_ends_a_session_whose_token_expired_and_was_not_renewed(
    provider, topic_url, tmp_path: Path
):
    # The control for the refresh test: a program that keeps printing the same short
    # token cannot renew it, so once it runs out the broker refuses the client (a
    # broker that did not enforce token lifetimes would keep the session forever).
    token_file = tmp_path / "token"
    token_file.write_text(provider.mint(CLIENT, lifetime=4) + "\n")
    auth = Auth(CLIENT, "", ssl=False, token_command=f"cat {token_file}")
    writer = Stream(auth=auth).open(topic_url, "w", produce_timeout=5)
    refused = None
    try:
        writer.write({"n": 0})
        writer.flush()
        deadline = time.monotonic() + 25
        while refused is None and time.monotonic() < deadline:
            try:
                writer.write({"n": 1})
                writer.flush()
            except AuthenticationError as exc:
                refused = exc
            time.sleep(0.5)
    finally:
        with contextlib.suppress(AuthenticationError):
            writer.close()
    assert refused is not None, "the broker kept a session whose token had expired"


@pytest.fixture(scope="module")
def bearer_service(provider, oidc_broker) -> Iterator[OffloadService]:
    with OffloadService({}, bearer=provider.subject_of) as service:
        oidc_broker.create_topic("sys.metadata")
        oidc_broker.grant(CLIENT, topic="sys.metadata", operations=["READ", "DESCRIBE"])
        endpoint = json.dumps({"LargeMessageUploadEndpoint": service.url}).encode()
        with Stream(auth=False).open(
            f"kafka://{oidc_broker.bootstrap['plaintext']}/sys.metadata", "w"
        ) as s:
            s.write_raw(endpoint)
        yield service


@pytest.mark.filterwarnings("ignore:Large message offload service is bare HTTP")
@pytest.mark.parametrize("kind", ["token_endpoint", "token_command"])
def test_offload_with_a_token_credential_uses_bearer_authentication(
    provider, oidc_broker, bearer_service, tmp_path: Path, kind
):
    topic = f"oidc-big-{uuid.uuid4().hex[:8]}"
    oidc_broker.create_topic(topic, config={"max.message.bytes": "50000"})
    oidc_broker.grant(CLIENT, topic=topic, operations=["ALL"])
    url = f"kafka://{oidc_broker.bootstrap['oauthbearer']}/{topic}"
    if kind == "token_endpoint":
        auth = _oidc_auth(provider)
    else:
        token_file = tmp_path / "token"
        token_file.write_text(provider.mint(CLIENT, lifetime=600))
        auth = Auth(CLIENT, "", ssl=False, token_command=f"cat {token_file}")
    big = b"healpix" * 20_000
    with Stream(auth=auth).open(url, "w") as s:
        s.write(Blob(big))
    assert _read_all(url, auth) == [big]
    upload, download = bearer_service.seen("POST")[-1], bearer_service.seen("GET")[-1]
    assert upload.headers["authorization"].startswith("Bearer ")
    assert (upload.user, download.user) == (CLIENT, CLIENT)
