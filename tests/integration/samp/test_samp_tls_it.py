"""TLS arguments work end to end, or are refused with a clear error (never ignored)."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest
from _samphelpers import Inbox

from hop.samp import SAMPClientError, SAMPHubError, SAMPHubServer, SAMPIntegratedClient


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    directory = tmp_path_factory.mktemp("tls")
    key, crt = directory / "key.pem", directory / "cert.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True, timeout=60,
    )
    return str(key), str(crt)


def test_https_hub_and_https_client_callbacks(cert: tuple[str, str], samp_lockfile: Path,
                                              no_thread_leak: None, inbox: Inbox) -> None:
    key, crt = cert
    with SAMPHubServer(web_profile=False, lockfile=samp_lockfile, https=True, key_file=key,
                       cert_file=crt, ca_certs=crt, cert_reqs=ssl.CERT_REQUIRED) as hub:
        assert hub.params["samp.hub.xmlrpc.url"].startswith("https://")
        receiver = SAMPIntegratedClient("tls-receiver", https=True, key_file=key,
                                        cert_file=crt)
        sender = SAMPIntegratedClient("tls-sender")
        # Mutual TLS: the hub requires client certificates, clients verify the hub,
        # and the hub verifies the receiver's https callback server.
        tls = {"key_file": key, "cert_file": crt, "cert_reqs": ssl.CERT_REQUIRED, "ca_certs": crt}
        receiver.connect(**tls)
        sender.connect(**tls)
        try:
            receiver.bind_receive_notification("test.note", inbox.notification)
            sender.enotify(receiver.get_public_id(), "test.note", over="tls")
            assert inbox.wait_for(1)[0][2] == {"over": "tls"}
        finally:
            sender.disconnect()
            receiver.disconnect()


def test_https_hub_is_refused_when_its_certificate_is_not_trusted(
    cert: tuple[str, str], samp_lockfile: Path, no_thread_leak: None, tmp_path: Path
) -> None:
    key, crt = cert
    other = tmp_path / "other.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=other", "-keyout", str(tmp_path / "k.pem"), "-out", str(other)],
        check=True, capture_output=True, timeout=60,
    )
    with SAMPHubServer(web_profile=False, lockfile=samp_lockfile, https=True, key_file=key,
                       cert_file=crt) as hub:
        client = SAMPIntegratedClient("untrusting")
        with pytest.raises(SAMPHubError, match="cannot reach"):
            client.connect(hub=hub, cert_reqs=ssl.CERT_REQUIRED, ca_certs=str(other))


def test_tls_settings_for_a_plain_http_hub_are_refused(hub: SAMPHubServer,
                                                       cert: tuple[str, str]) -> None:
    client = SAMPIntegratedClient("confused")
    with pytest.raises(SAMPHubError, match="does not use https"):
        client.connect(hub=hub, ca_certs=cert[1], cert_reqs=ssl.CERT_REQUIRED)


def test_tls_files_without_https_are_refused(cert: tuple[str, str]) -> None:
    with pytest.raises(SAMPClientError, match="https=False"):
        SAMPIntegratedClient("confused", cert_file=cert[1])
    with pytest.raises(SAMPHubError, match="https=False"):
        SAMPHubServer(web_profile=False, cert_file=cert[1])
