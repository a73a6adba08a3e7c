"""The offload protocol's pieces without Kafka: BSON, the HTTP error table, downloads.

Downloads run against the harness's real HTTP service (hop.testing.OffloadService)
answering with the bodies under test.
"""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import KafkaError
from hypothesis import given
from hypothesis import strategies as st

from hop import _bson, _offload
from hop._producer import _estimate_size
from hop.auth import Auth
from hop.errors import SerializationError
from hop.testing import OffloadService

_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.binary() | st.text(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text().filter(lambda k: "\x00" not in k), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(st.dictionaries(st.text().filter(lambda k: "\x00" not in k), _values, max_size=5))
def test_bson_round_trips_the_protocol_subset(doc):
    assert _bson.decode(_bson.encode(doc)) == doc


def test_bson_encodes_as_the_spec_says():
    # {"a": b"\x01"}: int32 length, 0x05 "a\0", int32 1, subtype 0, the byte, end.
    assert _bson.encode({"a": b"\x01"}) == b"\x0e\x00\x00\x00\x05a\x00\x01\x00\x00\x00\x00\x01\x00"
    assert _bson.encode({"h": [["_id", "x"]]})[4] == 0x04  # lists are arrays


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x05\x00\x00\x00",
        b"\xff\x00\x00\x00\x00",
        b"\x0c\x00\x00\x00\x05a\x00\x09\x00\x00\x00\x00\x00",
    ],
)
def test_bson_refuses_malformed_bytes_as_a_serialization_error(data):
    with pytest.raises(SerializationError):
        _bson.decode(data)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, KafkaError.INVALID_REQUEST),
        (401, KafkaError.SASL_AUTHENTICATION_FAILED),
        (403, KafkaError.TOPIC_AUTHORIZATION_FAILED),
        (404, KafkaError.RESOURCE_NOT_FOUND),
        (413, KafkaError.MSG_SIZE_TOO_LARGE),
        (418, KafkaError.INVALID_REQUEST),
        (502, KafkaError.NETWORK_EXCEPTION),
        (504, KafkaError.NETWORK_EXCEPTION),
        (505, KafkaError.UNSUPPORTED_VERSION),
        (500, KafkaError.UNKNOWN),
    ],
)
def test_http_statuses_map_to_upstreams_kafka_errors(status, code):
    err = _offload.http_error_to_kafka(status, "why")
    assert err.code() == code
    assert err.retriable() == (code == KafkaError.NETWORK_EXCEPTION)


def test_size_estimate_is_upstreams():
    headers = [("_id", b"x" * 16), ("é", "ü")]
    assert _estimate_size(b"12345", headers, "k") == 70 + 5 + 1 + (3 + 16 + 2) + (2 + 2 + 2)


def test_upload_needs_a_message_id():
    with pytest.raises(_offload.OffloadFailure) as info:
        _offload.upload("http://127.0.0.1:1", "t", b"x", [], None, None)
    assert info.value.error.code() == KafkaError._BAD_MSG
    assert "Message has no ID" in info.value.error.str()


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"not bson", "is not valid BSON"),
        (_bson.encode({"metadata": {}}), "has no original message data"),
        (_bson.encode({"message": b"m"}), "has no metadata"),
        (_bson.encode({"message": b"m", "metadata": {"timestamp": 1}}), "headers"),
        (
            _bson.encode({"message": b"m", "metadata": {"headers": [["a"]], "timestamp": 1}}),
            "malformed original message header",
        ),
        (_bson.encode({"message": b"m", "metadata": {"headers": []}}), "timestamp"),
    ],
)
def test_a_malformed_download_names_what_is_wrong(monkeypatch, body, why):
    with OffloadService({"u": "p"}) as service:
        monkeypatch.setattr(service, "_download", lambda message_id: (200, body))
        url = f"{service.url}/msg/{uuid.uuid4()}"
        with pytest.raises(_offload.OffloadFailure) as info:
            _offload.fetch(url, service.url, Auth("u", "p"))
    assert url in info.value.error.str() and why in info.value.error.str()


def test_a_download_from_elsewhere_carries_no_credentials():
    with (
        OffloadService({"u": "p"}) as declared,
        OffloadService({"u": "p"}, require_auth_for_download=False) as other,
    ):
        url = f"{other.url}/msg/{uuid.uuid4()}"
        with pytest.raises(_offload.OffloadFailure) as info:
            _offload.fetch(url, declared.url, Auth("u", "p"))
        assert info.value.error.code() == KafkaError.RESOURCE_NOT_FOUND
        assert "authorization" not in other.seen("GET")[-1].headers
