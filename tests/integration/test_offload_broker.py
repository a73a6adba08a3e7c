"""Large-message offload against the real broker and a loopback offload service.

The broker announces the service in ``sys.metadata`` as a SCiMMA deployment does; the
service (hop.testing.OffloadService) speaks the documented protocol behind real HTTP
SCRAM. Messages over their topic's ``max.message.bytes`` go by HTTP, a placeholder
goes by Kafka, and readers get the original back.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import KafkaError

from hop import Stream
from hop.auth import Auth
from hop.errors import AuthorizationError, MessageTooLargeError
from hop.io import StartPosition
from hop.models import Blob, ExternalMessage
from hop.testing import KafkaBroker, OffloadService

pytestmark = pytest.mark.filterwarnings("ignore:Large message offload service is bare HTTP")

LIMIT = 100_000
BIG = b"\x00sky map\xff" * 30_000  # 300 kB, three times the topic's limit


@pytest.fixture(scope="module")
def service(kafka_broker: KafkaBroker) -> Iterator[OffloadService]:
    with OffloadService(kafka_broker.users) as running:
        kafka_broker.create_topic("sys.metadata")
        kafka_broker.grant("alice", topic="sys.metadata", operations=["READ", "DESCRIBE"])
        with Stream(auth=False).open(
            f"kafka://{kafka_broker.bootstrap['plaintext']}/sys.metadata", "w"
        ) as s:
            s.write_raw(json.dumps({"LargeMessageUploadEndpoint": running.url}).encode())
        try:
            yield running
        finally:
            # Other modules' tests of too-large messages expect no offload service.
            kafka_broker.delete_topic("sys.metadata")


@pytest.fixture
def topic(kafka_broker: KafkaBroker, service: OffloadService) -> str:
    name = f"offload-{uuid.uuid4().hex[:8]}"
    kafka_broker.create_topic(name, config={"max.message.bytes": str(LIMIT)})
    kafka_broker.grant("alice", topic=name, operations=["READ", "WRITE", "DESCRIBE",
                                                         "DESCRIBE_CONFIGS"])  # fmt: skip
    kafka_broker.grant("alice", group=f"{name}-", prefixed=True)
    return name


@pytest.fixture
def alice(kafka_broker: KafkaBroker) -> Auth:
    return Auth("alice", kafka_broker.users["alice"], ssl=False)


def _url(broker: KafkaBroker, topic: str) -> str:
    return f"kafka://{broker.bootstrap['sasl_plaintext']}/{topic}"


def _read(broker: KafkaBroker, topic: str, auth: Auth, **options) -> list:
    reader = Stream(auth=auth, start_at=StartPosition.EARLIEST, until_eos=True)
    with reader.open(_url(broker, topic), "r", group_id=f"{topic}-{uuid.uuid4().hex[:6]}",
                     **options) as s:  # fmt: skip
        return list(s.read(metadata=True))


def test_a_message_over_the_topic_limit_goes_by_http_and_comes_back(
    kafka_broker, service, topic, alice
):
    with Stream(auth=alice).open(_url(kafka_broker, topic), "w") as s:
        s.write(Blob(BIG), headers=[("source", b"LVK")], key="S250101a")
        s.write({"small": True})
    # Kafka holds a placeholder naming the service; the message itself went by HTTP.
    placeholders = _read(kafka_broker, topic, alice, fetch_external=False)
    external = placeholders[0][0]
    assert isinstance(external, ExternalMessage)
    assert external.url.startswith(f"{service.url}/msg/")
    uploads = service.seen("POST")
    assert uploads[-1].path == f"/topic/{topic}+oversized" and uploads[-1].user == "alice"
    assert uploads[0].body_size == 0  # SCRAM shortcut: the body crosses only once
    # A reader gets the original back, with its headers, key and place in the topic.
    (model, meta), (small, _) = _read(kafka_broker, topic, alice)
    assert model == Blob(BIG)
    assert ("source", b"LVK") in meta.headers and meta.key == "S250101a"
    assert (meta.topic, meta.offset) == (topic, placeholders[0][1].offset)
    assert small.content == {"small": True}
    assert service.seen("GET")[-1].user == "alice"


def test_credentials_go_only_to_the_endpoint_the_broker_declared(
    kafka_broker, service, topic, alice
):
    from hop._offload import upload

    with OffloadService(kafka_broker.users, require_auth_for_download=False) as elsewhere:
        message_id = uuid.uuid4()
        url = upload(elsewhere.url, topic, b'{"from": "elsewhere"}',
                     [("_id", message_id.bytes), ("_format", b"json")], None, alice)  # fmt: skip
        with Stream(auth=alice).open(_url(kafka_broker, topic), "w") as s:
            s.write(ExternalMessage(url=url))
        ((model, _),) = _read(kafka_broker, topic, alice)
        assert model.content == {"from": "elsewhere"}
        assert "authorization" not in elsewhere.seen("GET")[-1].headers


def test_automatic_offload_false_leaves_the_message_to_kafka(kafka_broker, service, topic, alice):
    posts = len(service.seen("POST"))
    with pytest.raises(MessageTooLargeError):  # noqa: SIM117 (the error is raised on close)
        with Stream(auth=alice).open(_url(kafka_broker, topic), "w", automatic_offload=False) as s:
            s.write(Blob(BIG))
    assert len(service.seen("POST")) == posts


def test_a_refused_upload_is_the_mapped_kafka_error(kafka_broker, service, topic, alice):
    service.fail_next(403)
    with pytest.raises(AuthorizationError, match="HTTP Error 403"):  # noqa: SIM117
        with Stream(auth=alice).open(_url(kafka_broker, topic), "w") as s:
            s.write(Blob(BIG))
    reported = []
    service.fail_next(503)
    with Stream(auth=alice).open(_url(kafka_broker, topic), "w") as s:
        s.write(Blob(BIG), delivery_callback=lambda err, msg: reported.append(err))
    assert [e.code() for e in reported] == [KafkaError.NETWORK_EXCEPTION]
    assert reported[0].retriable()


def test_a_failed_download_keeps_the_placeholder_and_the_stream_going(
    kafka_broker, service, topic, alice
):
    with Stream(auth=alice).open(_url(kafka_broker, topic), "w") as s:
        s.write(Blob(BIG))
        s.write({"next": 1})
    errors: list = []
    service.fail_next(404)
    got = _read(kafka_broker, topic, alice, error_callback=errors.append)
    assert isinstance(got[0][0], ExternalMessage) and got[1][0].content == {"next": 1}
    assert [e.code() for e in errors] == [KafkaError.RESOURCE_NOT_FOUND]


def test_a_bare_http_service_is_warned_about(kafka_broker, service, topic, alice):
    with pytest.warns(UserWarning, match="bare HTTP"):  # noqa: SIM117
        with Stream(auth=alice).open(_url(kafka_broker, topic), "w") as s:
            s.write(Blob(BIG))


COMPAT = Path(__file__).resolve().parents[1] / "compat" / "offload_http_scram_upstream.py"


def test_upstream_code_runs_unchanged_and_sees_what_upstream_sees(
    kafka_broker, service, peers_python, tmp_path
):
    # A user of its own, with what upstream's client needs: it reads sys.metadata
    # under a random consumer group and checks the topic's configuration.
    if "compat" not in kafka_broker.users:
        kafka_broker.add_user("compat", "compat-secret")
    service.add_user("compat", "compat-secret")
    kafka_broker.grant("compat", group="*", operations=["READ", "DESCRIBE"])
    kafka_broker.grant("compat", topic="sys.metadata", operations=["READ", "DESCRIBE"])
    claims = base64.urlsafe_b64encode(
        json.dumps({"sub": "scitoken-user", "exp": int(time.time()) + 600}).encode()
    )
    token_file = tmp_path / "token"
    token_file.write_text(f"eyJhbGciOiJSUzI1NiJ9.{claims.decode().rstrip('=')}.c2ln\n")
    seen = {}
    for name, python in (("skyhop", sys.executable), ("upstream", str(peers_python))):
        topic = f"offload-compat-{name}-{uuid.uuid4().hex[:6]}"
        kafka_broker.create_topic(topic, config={"max.message.bytes": str(LIMIT)})
        kafka_broker.grant("compat", topic=topic, operations=["ALL"])
        env = {
            **os.environ,
            "COMPAT_USER": "compat",
            "COMPAT_PASSWORD": "compat-secret",
            "COMPAT_BROKER": kafka_broker.bootstrap["sasl_plaintext"],
            "COMPAT_TOPIC": topic,
            "COMPAT_SERVICE": service.url,
            "COMPAT_TOKEN_FILE": str(token_file),
        }
        run = subprocess.run(
            [python, str(COMPAT)], env=env, capture_output=True, text=True, timeout=180,
            check=False,
        )  # fmt: skip
        assert run.returncode == 0, f"{name}:\n{run.stderr[-3000:]}"
        seen[name] = json.loads(run.stdout.strip().splitlines()[-1])
    assert seen["skyhop"] == seen["upstream"]
    assert seen["skyhop"]["fetched_equal"] and seen["skyhop"]["scram_get_status"] == 404
