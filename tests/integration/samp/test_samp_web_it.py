"""The hub's Web Profile: consent, CORS, pull callbacks, URL translator."""

from __future__ import annotations

import http.client
import threading
import xmlrpc.client
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _samphelpers import WAIT_S

from hop.samp import SAMPHubServer, SAMPIntegratedClient


class _Consent:
    def __init__(self, answer: bool = True, hold: bool = False) -> None:
        self.answer = answer
        self.asked = threading.Event()
        self.release = threading.Event()
        if not hold:
            self.release.set()
        self.infos: list[dict[str, Any]] = []

    def __call__(self, info: dict[str, Any]) -> bool:
        self.infos.append(info)
        self.asked.set()
        self.release.wait(WAIT_S)
        return self.answer


def _web_hub(lockfile: Path, consent: Callable[[dict[str, Any]], bool] | None
             ) -> SAMPHubServer:
    return SAMPHubServer(web_profile=True, web_port=0, lockfile=lockfile, web_consent=consent)


@pytest.fixture
def consent() -> _Consent:
    return _Consent()


@pytest.fixture
def web_hub(samp_lockfile: Path, no_thread_leak: None, consent: _Consent
            ) -> Iterator[SAMPHubServer]:
    with _web_hub(samp_lockfile, consent) as hub:
        yield hub


def _request(hub: SAMPHubServer, method: str, path: str, body: bytes = b"",
             headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    assert hub.web_port
    conn = http.client.HTTPConnection("127.0.0.1", hub.web_port, timeout=WAIT_S)
    try:
        conn.request(method, path, body, headers or {})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def _web(hub: SAMPHubServer) -> xmlrpc.client.ServerProxy:
    return xmlrpc.client.ServerProxy(f"http://127.0.0.1:{hub.web_port}")


def test_web_registration_is_refused_without_a_consent_hook(samp_lockfile: Path,
                                                            no_thread_leak: None) -> None:
    with (
        _web_hub(samp_lockfile, None) as hub,
        _web(hub) as proxy,
        pytest.raises(xmlrpc.client.Fault) as info,
    ):
        proxy.samp.webhub.register({"samp.name": "page"})
    assert info.value.faultCode == 403


def test_web_registration_refused_by_the_user(samp_lockfile: Path, no_thread_leak: None) -> None:
    with (
        _web_hub(samp_lockfile, _Consent(answer=False)) as hub,
        _web(hub) as proxy,
        pytest.raises(xmlrpc.client.Fault, match="refused by the user"),
    ):
        proxy.samp.webhub.register({"samp.name": "page"})


def test_consented_web_client_gets_reg_info_and_a_translator(web_hub: SAMPHubServer,
                                                             consent: _Consent) -> None:
    with _web(web_hub) as proxy:
        reg = proxy.samp.webhub.register({"samp.name": "page"})
        assert reg["samp.hub-id"] == "hub"
        assert reg["samp.url-translator"].endswith(f"/translator/{reg['samp.private-key']}?ref=")
        assert consent.infos[0]["samp.name"] == "page"
        proxy.samp.webhub.unregister(reg["samp.private-key"])


def test_waiting_for_consent_never_blocks_the_standard_profile(samp_lockfile: Path,
                                                               no_thread_leak: None) -> None:
    consent = _Consent(hold=True)
    with _web_hub(samp_lockfile, consent) as hub:
        results: list[Any] = []

        def register() -> None:
            with _web(hub) as proxy:
                results.append(proxy.samp.webhub.register({"samp.name": "slow"}))

        thread = threading.Thread(target=register)
        thread.start()
        assert consent.asked.wait(WAIT_S)
        # The question is still open, yet the Standard Profile serves.
        with SAMPIntegratedClient("desktop") as client:
            assert client.ping() == ""
        consent.release.set()
        thread.join(WAIT_S)
        assert results[0]["samp.self-id"].startswith("c")


def test_pull_callbacks_waits_for_a_message_then_returns_it(web_hub: SAMPHubServer) -> None:
    with _web(web_hub) as proxy, SAMPIntegratedClient("desktop") as desktop:
        reg = proxy.samp.webhub.register({"samp.name": "page"})
        key = reg["samp.private-key"]
        proxy.samp.webhub.allowReverseCallbacks(key, "1")
        proxy.samp.webhub.declareSubscriptions(key, {"table.load.votable": {}})
        pulled: list[Any] = []

        def pull() -> None:
            with _web(web_hub) as puller:
                pulled.append(puller.samp.webhub.pullCallbacks(key, "30"))

        thread = threading.Thread(target=pull)
        thread.start()
        desktop.enotify(reg["samp.self-id"], "table.load.votable", url="http://example.org/t")
        thread.join(WAIT_S)
        assert not thread.is_alive()
        (callback,) = pulled[0]
        assert callback["samp.methodName"] == "receiveNotification"
        sender, message = callback["samp.params"]
        assert sender == desktop.get_public_id()
        assert message["samp.params"] == {"url": "http://example.org/t"}


def test_pull_callbacks_returns_empty_after_its_timeout(web_hub: SAMPHubServer) -> None:
    with _web(web_hub) as proxy:
        key = proxy.samp.webhub.register({"samp.name": "page"})["samp.private-key"]
        assert proxy.samp.webhub.pullCallbacks(key, "1") == []


def test_web_clients_may_send_only_safe_mtypes(web_hub: SAMPHubServer) -> None:
    with _web(web_hub) as proxy, SAMPIntegratedClient("desktop") as desktop:
        desktop.bind_receive_notification("script.run", lambda *args: None)
        desktop.bind_receive_notification("table.load.votable", lambda *args: None)
        key = proxy.samp.webhub.register({"samp.name": "page"})["samp.private-key"]
        with pytest.raises(xmlrpc.client.Fault, match=r"may not send script\.run"):
            proxy.samp.webhub.notify(key, desktop.get_public_id(), {"samp.mtype": "script.run"})
        proxy.samp.webhub.notify(key, desktop.get_public_id(),
                                 {"samp.mtype": "table.load.votable", "samp.params": {}})


def test_cors_and_private_network_preflight(web_hub: SAMPHubServer) -> None:
    status, headers, _ = _request(web_hub, "OPTIONS", "/", headers={
        "Origin": "https://page.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Private-Network": "true",
    })
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == "https://page.example"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert headers["Access-Control-Allow-Headers"] == "Content-Type"
    assert headers["Access-Control-Allow-Private-Network"] == "true"
    body = xmlrpc.client.dumps((), "samp.webhub.ping").encode()
    status, headers, _ = _request(web_hub, "POST", "/", body, {"Origin": "https://page.example"})
    assert headers["Access-Control-Allow-Origin"] == "https://page.example"


def test_policy_files_are_served(web_hub: SAMPHubServer) -> None:
    for path in ("/crossdomain.xml", "/clientaccesspolicy.xml"):
        status, _, body = _request(web_hub, "GET", path)
        assert status == 200
        assert b'domain="*"' in body or b'uri="*"' in body


@pytest.mark.parametrize(
    "target",
    ["file:///etc/passwd", "http://127.0.0.1:1/x", "http://localhost/x", "http://10.1.2.3/x",
     "ftp://example.org/x"],
)
def test_url_translator_refuses_local_files_and_hosts(web_hub: SAMPHubServer, target: str
                                                      ) -> None:
    with _web(web_hub) as proxy:
        reg = proxy.samp.webhub.register({"samp.name": "page"})
    path = reg["samp.url-translator"].split(str(web_hub.web_port), 1)[1]
    status, _, body = _request(web_hub, "GET", path + target)
    assert status == 403
    assert body.startswith(b"refused")


def test_url_translator_refuses_unknown_keys(web_hub: SAMPHubServer) -> None:
    status, _, _ = _request(web_hub, "GET", "/translator/nope?ref=http://example.org/")
    assert status == 403


def _translator_path(hub: SAMPHubServer, proxy: Any) -> tuple[str, str]:
    reg = proxy.samp.webhub.register({"samp.name": "page"})
    return reg["samp.private-key"], reg["samp.url-translator"].split(str(hub.web_port), 1)[1]


def test_url_translator_serves_local_urls_a_desktop_client_mentioned(
    web_hub: SAMPHubServer, tmp_path: Path
) -> None:
    table = tmp_path / "table.xml"
    table.write_text("<VOTABLE/>")
    other = tmp_path / "other.xml"
    other.write_text("not offered")
    with _web(web_hub) as proxy:
        key, path = _translator_path(web_hub, proxy)
        # A page naming a local file does not unlock it...
        proxy.samp.webhub.declareMetadata(key, {"samp.name": "page", "u": other.as_uri()})
        status, _, _ = _request(web_hub, "GET", path + other.as_uri())
        assert status == 403
        # ... a desktop client offering one does.
        with SAMPIntegratedClient("desktop", metadata={"table": table.as_uri()}):
            status, _, body = _request(web_hub, "GET", path + table.as_uri())
        assert (status, body) == (200, b"<VOTABLE/>")


def test_url_translator_fetches_no_public_url_without_use_internet(
    web_hub: SAMPHubServer
) -> None:
    from hop.samp import conf

    with _web(web_hub) as proxy, conf.set_temp("use_internet", False):
        _, path = _translator_path(web_hub, proxy)
        status, _, body = _request(web_hub, "GET", path + "http://93.184.216.34/x")
    assert status == 403
    assert b"use_internet is False" in body
