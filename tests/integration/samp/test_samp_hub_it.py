"""Our hub with our clients: the SAMP 1.3 hub methods, events, delivery and lifecycle."""

from __future__ import annotations

import http.client
import threading
import xmlrpc.client
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _samphelpers import WAIT_S, Inbox

from hop.samp import (
    SAMP_STATUS_OK,
    SAMPClientError,
    SAMPHubError,
    SAMPHubProxy,
    SAMPHubServer,
    SAMPIntegratedClient,
    SAMPProxyError,
    SAMPProxyTimeoutError,
    SAMPWarning,
)
from hop.samp._http import Request, Response, RPCServer, xmlrpc_reply

Make = Callable[..., SAMPIntegratedClient]


def _echo_replier(client: SAMPIntegratedClient) -> Callable[..., None]:
    def on_call(key: str, sender: str, msg_id: str, mtype: str, params: Any, extra: Any) -> None:
        client.ereply(msg_id, SAMP_STATUS_OK, {"echo": params, "mtype": mtype})

    return on_call


def test_registration_metadata_and_subscriptions_round_trip(make_client: Make) -> None:
    a = make_client("A", description="first", metadata={"app.version": 2})
    b = make_client("B")
    b.bind_receive_notification("table.load.votable", lambda *args: None,
                                metadata={"x-samp.mostly-harmless": "1"})
    assert sorted(a.get_registered_clients()) == sorted(["hub", b.get_public_id()])
    assert a.get_metadata(a.get_public_id()) == {
        "samp.name": "A", "samp.description.text": "first", "app.version": 2
    }
    subs = a.get_subscriptions(b.get_public_id())
    assert subs["table.load.votable"] == {"x-samp.mostly-harmless": "1"}
    assert a.get_subscribed_clients("table.load.votable") == {
        b.get_public_id(): {"x-samp.mostly-harmless": "1"}
    }
    assert "samp.app.ping" in a.get_subscriptions("hub")


def test_notify_delivers_typed_params_and_extra_keys(make_client: Make, inbox: Inbox) -> None:
    a, b = make_client("A"), make_client("B")
    b.bind_receive_notification("test.note", inbox.notification)
    a.enotify(b.get_public_id(), "test.note", ra=10.5, n=3, ok=True,
              extra_kws={"my.extra": "x"})
    (sender, mtype, params, extra), = inbox.wait_for(1)
    assert (sender, mtype) == (a.get_public_id(), "test.note")
    assert params == {"ra": 10.5, "n": 3, "ok": True}  # XML-RPC types kept, as astropy
    assert extra == {"my.extra": "x"}


def test_wildcard_subscriptions_receive_matching_mtypes(make_client: Make, inbox: Inbox) -> None:
    a, b = make_client("A"), make_client("B")
    b.bind_receive_notification("table.*", inbox.notification)
    assert a.enotify_all("table.load.fits", url="file:///x") == [b.get_public_id()]
    assert inbox.wait_for(1)[0][1] == "table.load.fits"


def test_notify_all_with_no_receiver_warns(make_client: Make) -> None:
    a = make_client("A")
    with pytest.warns(SAMPWarning, match="nobody notified"):
        assert a.enotify_all("nobody.listens") == []


def test_notify_to_unsubscribed_client_is_a_proxy_error(make_client: Make) -> None:
    a, b = make_client("A"), make_client("B")
    with pytest.raises(SAMPProxyError) as info:
        a.enotify(b.get_public_id(), "not.subscribed")
    assert info.value.faultCode == 2


def test_call_response_reaches_the_bound_msg_tag(make_client: Make, inbox: Inbox) -> None:
    a, b = make_client("A"), make_client("B")
    b.bind_receive_call("test.echo", _echo_replier(b))
    a.bind_receive_response("tag-1", inbox.response)
    msg_id = a.ecall(b.get_public_id(), "tag-1", "test.echo", v="1")
    assert isinstance(msg_id, str)
    (responder, tag, response), = inbox.wait_for(1)
    assert (responder, tag) == (b.get_public_id(), "tag-1")
    assert response["samp.result"]["echo"] == {"v": "1"}


def test_call_all_msg_ids_match_what_recipients_see(make_client: Make, inbox: Inbox) -> None:
    a, b, c = make_client("A"), make_client("B"), make_client("C")
    seen: dict[str, str] = {}

    def replier(client: SAMPIntegratedClient) -> Callable[..., None]:
        def on_call(key: str, sender: str, msg_id: str, *rest: Any) -> None:
            seen[client.get_public_id()] = msg_id
            client.ereply(msg_id, SAMP_STATUS_OK, {})
        return on_call

    for client in (b, c):
        client.bind_receive_call("test.all", replier(client))
    a.bind_receive_response("all", inbox.response)
    ids = a.ecall_all("all", "test.all")
    inbox.wait_for(2)
    assert ids == seen
    assert {r[0] for r in inbox.items} == {b.get_public_id(), c.get_public_id()}


def test_call_and_wait_returns_the_response(make_client: Make) -> None:
    a, b = make_client("A"), make_client("B")
    b.bind_receive_call("test.echo", _echo_replier(b))
    response = a.ecall_and_wait(b.get_public_id(), "test.echo", "10", v="2")
    assert response["samp.status"] == SAMP_STATUS_OK
    assert response["samp.result"]["echo"] == {"v": "2"}


def test_call_and_wait_to_the_hub_never_loses_fast_replies(make_client: Make) -> None:
    # astropy's hub loses most of these (reply arrives before the wait is registered).
    a = make_client("A")
    for _ in range(50):
        assert a.ecall_and_wait("hub", "samp.app.ping", "10")["samp.status"] == SAMP_STATUS_OK


def test_call_and_wait_times_out_when_nobody_replies(make_client: Make) -> None:
    a, b = make_client("A"), make_client("B")
    b.bind_receive_call("test.silent", lambda *args: None)
    with pytest.raises(SAMPProxyTimeoutError, match="Timeout expired"):
        a.ecall_and_wait(b.get_public_id(), "test.silent", "1")


def test_call_and_wait_fails_at_once_when_the_recipient_leaves(make_client: Make) -> None:
    a, b = make_client("A"), make_client("B")
    called = threading.Event()
    b.bind_receive_call("test.leave", lambda *args: called.set())
    errors: list[BaseException] = []

    def wait_call() -> None:
        try:
            a.ecall_and_wait(b.get_public_id(), "test.leave", "600")
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=wait_call)
    thread.start()
    assert called.wait(WAIT_S)
    b.disconnect()
    thread.join(WAIT_S)
    assert not thread.is_alive()
    assert len(errors) == 1
    assert "unregistered before replying" in str(errors[0])


def test_hub_query_by_meta_finds_clients(make_client: Make) -> None:
    a, b = make_client("A"), make_client("needle")
    response = a.ecall_and_wait("hub", "x-samp.query.by-meta", "10",
                                key="samp.name", value="needle")
    assert response["samp.result"]["ids"] == [b.get_public_id()]


def test_clients_answer_samp_app_ping(make_client: Make) -> None:
    a, b = make_client("A"), make_client("B")
    assert a.ecall_and_wait(b.get_public_id(), "samp.app.ping", "10")["samp.status"] == "samp.ok"


def test_hub_events_reach_subscribed_clients(make_client: Make, inbox: Inbox) -> None:
    watcher = make_client("watcher")
    watcher.bind_receive_notification("samp.hub.event.*", inbox.notification)
    other = make_client("other")
    other.declare_metadata({"samp.name": "renamed"})
    other_id = other.get_public_id()
    other.disconnect()
    # watcher: its own subscriptions; other: register, subscriptions, 2 metadata, unregister.
    events = [(m, p) for s, m, p, e in inbox.wait_for(6) if p.get("id") == other_id]
    mtypes = [m for m, p in events]
    assert mtypes[0] == "samp.hub.event.register"
    assert "samp.hub.event.subscriptions" in mtypes
    assert ("samp.hub.event.metadata", {"id": other_id, "metadata": {"samp.name": "renamed"}}
            ) in events
    assert mtypes[-1] == "samp.hub.event.unregister"
    assert all(s == "hub" for s, *_ in inbox.items)


def test_reconnect_after_disconnect_works(hub: SAMPHubServer) -> None:
    client = SAMPIntegratedClient("again")
    for _ in range(2):
        client.connect(hub=hub)
        assert client.is_connected
        client.disconnect()
        assert not client.is_connected


def test_client_finds_the_hub_through_samp_hub(hub: SAMPHubServer) -> None:
    with SAMPIntegratedClient("discovering") as client:
        assert client.is_connected
        assert client.ping() == ""


def test_non_callable_client_sends_and_unregisters(make_client: Make, hub: SAMPHubServer,
                                                   inbox: Inbox) -> None:
    b = make_client("B")
    b.bind_receive_notification("test.note", inbox.notification)
    sender = SAMPIntegratedClient("sender", callable=False)
    sender.connect(hub=hub)
    assert sender.is_connected
    sender.enotify(b.get_public_id(), "test.note")
    inbox.wait_for(1)
    sender_id = sender.get_public_id()
    sender.disconnect()
    assert sender_id not in b.get_registered_clients()


def test_connect_twice_is_refused(make_client: Make, hub: SAMPHubServer) -> None:
    a = make_client("A")
    with pytest.raises(SAMPClientError, match="already connected"):
        a.connect(hub=hub)


def test_unsafe_values_are_refused_before_sending(make_client: Make) -> None:
    a, b = make_client("A"), make_client("B")
    with pytest.raises(SAMPClientError, match="cannot be sent over XML-RPC"):
        a.enotify(b.get_public_id(), "test.note", blob=b"bytes")


def test_stop_sends_shutdown_and_clients_notice(samp_lockfile: Path, no_thread_leak: None,
                                                inbox: Inbox) -> None:
    hub = SAMPHubServer(web_profile=False, lockfile=samp_lockfile)
    hub.start()
    client = SAMPIntegratedClient("C")
    client.connect(hub=hub)
    client.bind_receive_notification("samp.hub.event.shutdown", inbox.notification)
    hub.stop()
    assert inbox.wait_for(1)[0][:2] == ("hub", "samp.hub.event.shutdown")
    assert not client.is_connected
    assert not samp_lockfile.exists()
    client.disconnect()


def test_hub_is_a_context_manager_and_restartable(samp_lockfile: Path, no_thread_leak: None
                                                  ) -> None:
    hub = SAMPHubServer(web_profile=False, lockfile=samp_lockfile)
    for _ in range(2):
        with hub:
            assert hub.is_running
            assert samp_lockfile.exists()
        assert not hub.is_running
        assert not samp_lockfile.exists()


def test_second_hub_refuses_a_live_hubs_lockfile(hub: SAMPHubServer, samp_lockfile: Path) -> None:
    before = samp_lockfile.read_text()
    second = SAMPHubServer(web_profile=False, lockfile=samp_lockfile)
    with pytest.raises(SAMPHubError, match="another SAMP hub is running"):
        second.start()
    assert not second.is_running
    assert samp_lockfile.read_text() == before


def test_hub_replaces_a_stale_lockfile(samp_lockfile: Path, no_thread_leak: None) -> None:
    samp_lockfile.write_text("samp.secret=old\nsamp.hub.xmlrpc.url=http://127.0.0.1:9/\n")
    with SAMPHubServer(web_profile=False, lockfile=samp_lockfile) as hub:
        assert hub.params["samp.secret"] in samp_lockfile.read_text()


# -- slow and dead clients ------------------------------------------------------------


class _RawCallbacks:
    """A bare XML-RPC callback server whose handling can be held up."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()
        self.server = RPCServer(self)
        self.server.start()

    def handle(self, request: Request) -> Response:
        def dispatch(method: str, params: tuple[Any, ...]) -> str:
            self.entered.set()
            self.release.wait(WAIT_S)
            return ""

        return xmlrpc_reply(request.body, dispatch)


@pytest.fixture
def raw_callbacks() -> Iterator[_RawCallbacks]:
    server = _RawCallbacks()
    yield server
    server.release.set()
    server.server.stop()


def _register_raw(hub: SAMPHubServer, url: str, mtype: str) -> tuple[SAMPHubProxy, str, str]:
    proxy = SAMPHubProxy()
    proxy.connect(hub=hub)
    reg = proxy.register(hub.params["samp.secret"])
    key = reg["samp.private-key"]
    proxy.set_xmlrpc_callback(key, url)
    proxy.declare_subscriptions(key, {mtype: {}})
    return proxy, key, reg["samp.self-id"]


def test_a_slow_client_does_not_delay_the_others(make_client: Make, hub: SAMPHubServer,
                                                 raw_callbacks: _RawCallbacks,
                                                 inbox: Inbox) -> None:
    proxy, _, _ = _register_raw(hub, raw_callbacks.server.url, "test.note")
    fast = make_client("fast")
    fast.bind_receive_notification("test.note", inbox.notification)
    sender = make_client("sender")
    sender.enotify_all("test.note")
    assert raw_callbacks.entered.wait(WAIT_S)
    sender.enotify_all("test.note")
    # Both reached the fast client while the slow one still holds its first message.
    inbox.wait_for(2)
    assert not raw_callbacks.release.is_set()
    raw_callbacks.release.set()
    proxy.disconnect()


def test_a_dead_client_is_ejected_and_others_are_told(samp_lockfile: Path, no_thread_leak: None,
                                                      inbox: Inbox) -> None:
    dead = RPCServer(_RawCallbacks.__new__(_RawCallbacks))  # bound, then closed: refuses
    dead_url = dead.url
    dead.stop()
    with SAMPHubServer(web_profile=False, lockfile=samp_lockfile, max_callback_failures=2) as hub:
        proxy, _, dead_id = _register_raw(hub, dead_url, "test.note")
        with SAMPIntegratedClient("watcher") as watcher:
            watcher.bind_receive_notification("samp.hub.event.unregister", inbox.notification)
            for _ in range(2):
                watcher.enotify(dead_id, "test.note")
            assert inbox.wait_for(1)[0][2] == {"id": dead_id}
            assert dead_id not in watcher.get_registered_clients()
        proxy.disconnect()


# -- bad input --------------------------------------------------------------------------


def _post(url: str, body: bytes) -> tuple[int, bytes]:
    parts = url.split("/")[2].split(":")
    conn = http.client.HTTPConnection(parts[0], int(parts[1]), timeout=WAIT_S)
    try:
        conn.request("POST", "/", body, {"Content-Type": "text/xml"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def _fault(url: str, method: str, *params: Any) -> xmlrpc.client.Fault:
    status, body = _post(url, xmlrpc.client.dumps(params, method).encode())
    assert status == 200
    with pytest.raises(xmlrpc.client.Fault) as info:
        xmlrpc.client.loads(body)
    return info.value


def test_bad_requests_get_samp_faults_and_the_hub_keeps_serving(make_client: Make,
                                                                hub: SAMPHubServer,
                                                                inbox: Inbox) -> None:
    a, b = make_client("A"), make_client("B")
    b.bind_receive_notification("test.note", inbox.notification)
    url = hub.params["samp.hub.xmlrpc.url"]
    key = a.get_private_key()
    status, body = _post(url, b"<methodCall><methodName>samp.hub.ping</method")
    assert status == 200
    assert b"malformed XML-RPC" in body
    assert _fault(url, "samp.hub.register", "wrong secret").faultCode == 7
    assert _fault(url, "samp.hub.getRegisteredClients", "wrong-key").faultCode == 5
    assert _fault(url, "samp.hub.getRegisteredClients", 42).faultCode == 5
    assert "must be a map" in _fault(url, "samp.hub.declareMetadata", key, ["x"]).faultString
    assert _fault(url, "samp.hub.notify", key, b.get_public_id(),
                  {"samp.params": {}}).faultCode == 3
    assert "takes 3 argument" in _fault(url, "samp.hub.notify", key).faultString
    assert "unknown" in _fault(url, "samp.hub.noSuchMethod", key).faultString
    assert "unknown" in _fault(url, "system.listMethods").faultString
    assert _fault(url, "samp.hub.getMetadata", key, "c999").faultCode == 6
    assert "timeout" in _fault(url, "samp.hub.callAndWait", key, b.get_public_id(),
                               {"samp.mtype": "test.note"}, "soon").faultString
    assert "no pending call" in _fault(url, "samp.hub.reply", key, "m1", {}).faultString
    # Still serving everyone.
    a.enotify(b.get_public_id(), "test.note")
    inbox.wait_for(1)
    assert a.ping() == ""


def test_wrong_private_key_on_a_client_callback_is_refused(make_client: Make) -> None:
    b = make_client("B")
    assert b.client is not None and b.client._server is not None
    callback_url = b.client._server.url
    fault = _fault(callback_url, "samp.client.receiveNotification", "not-the-key", "c1",
                   {"samp.mtype": "x"})
    assert fault.faultCode == 5
