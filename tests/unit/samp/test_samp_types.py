"""Conversion of Python values to SAMP types, and TLS argument checking."""

from __future__ import annotations

import ssl

import pytest

from hop.samp import SAMPClientError
from hop.samp._xmlrpc import make_ssl_context, to_samp


def test_scalars_become_samp_strings() -> None:
    assert to_samp(True) == "1"
    assert to_samp(False) == "0"
    assert to_samp(42) == "42"
    assert to_samp(1.5) == "1.5"
    assert to_samp(None) == ""
    assert to_samp("text") == "text"


def test_containers_are_converted_recursively() -> None:
    value = {"a": (1, [2.5, {"b": True}]), "c": {"d"}}
    assert to_samp(value) == {"a": ["1", ["2.5", {"b": "1"}]], "c": ["d"]}


def test_all_legal_samp_characters_pass() -> None:
    text = "\t\n\r" + "".join(chr(c) for c in range(0x20, 0x80))
    assert to_samp(text) == text


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "no SAMP float form"),
        (b"bytes", "not a SAMP type"),
        ({1: "x"}, "map key 1 is not a string"),
        ("caf\u00e9", "is not allowed in SAMP"),
        ("bell\x07", "is not allowed in SAMP"),
    ],
)
def test_values_with_no_samp_form_are_refused_with_their_place(value: object, message: str
                                                                ) -> None:
    with pytest.raises(SAMPClientError, match=message) as info:
        to_samp({"samp.params": {"p": value}}, where="message")
    assert "message['samp.params']['p']" in str(info.value)


def test_number_likes_with_item_are_converted() -> None:
    class FakeNumpyScalar:
        def item(self) -> int:
            return 7

    assert to_samp(FakeNumpyScalar()) == "7"


def test_server_tls_without_certificate_is_refused() -> None:
    with pytest.raises(SAMPClientError, match="needs cert_file"):
        make_ssl_context(server_side=True)


def test_verification_without_ca_is_refused() -> None:
    with pytest.raises(SAMPClientError, match="ca_certs"):
        make_ssl_context(server_side=False, cert_reqs=ssl.CERT_REQUIRED)


def test_unknown_cert_reqs_is_refused() -> None:
    with pytest.raises(SAMPClientError, match="cert_reqs"):
        make_ssl_context(server_side=False, cert_reqs=99)


def test_missing_certificate_file_is_named(tmp_path: object) -> None:
    with pytest.raises(SAMPClientError, match="cannot load TLS files"):
        make_ssl_context(server_side=True, cert_file="/nonexistent/cert.pem")
