"""Interoperability with the real peers: astropy 8.0.2 and pyvo, in their own virtualenv.

* astropy's and pyvo's ``SAMPIntegratedClient`` against our hub, exchanging messages
  both ways with our client;
* our client against astropy's ``SAMPHubServer``, exchanging messages both ways with
  an astropy client;
* astropy's own ``TestStandardProfile.test_main`` pointed at our hub.

Peers are never imported here: they run in subprocesses, and find the hub through
``SAMP_HUB`` set to a temporary lockfile (never the real ``~/.samp``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _samphelpers import Inbox, PeerProcess, wait_until

from _peers import run_peer
from hop.samp import SAMP_STATUS_OK, SAMPHubServer, SAMPIntegratedClient

PEER_CLIENTS = r"""
import json, os, sys, threading, warnings
warnings.simplefilter("ignore")
if sys.argv[1] == "astropy":
    from astropy.samp import SAMPIntegratedClient
else:
    from pyvo.samp import SAMPIntegratedClient

def out(tag, obj=None):
    print(tag, json.dumps(obj), flush=True)

a = SAMPIntegratedClient(name="peerA")
b = SAMPIntegratedClient(name="peerB", description="peer B")
a.connect()
b.connect()
notes, responses = [], []
got, got_resp, shutdown = threading.Event(), threading.Event(), threading.Event()

def on_note(k, s, mtype, params, extra):
    notes.append([s, mtype, params])
    got.set()

def on_call(k, s, msg_id, mtype, params, extra):
    b.reply(msg_id, {"samp.status": "samp.ok", "samp.result": {"echo": params.get("v", "")}})

def on_resp(k, r, t, resp):
    responses.append(resp)
    got_resp.set()

b.bind_receive_notification("test.note", on_note)
b.bind_receive_call("test.call", on_call)
b.bind_receive_notification("samp.hub.event.shutdown", lambda *args: shutdown.set())
a.bind_receive_response("tag1", on_resp)
aid, bid = a.get_public_id(), b.get_public_id()
r = {"a": aid, "b": bid}
r["registered"] = a.get_registered_clients()
r["ours"] = [c for c in r["registered"] if a.get_metadata(c).get("samp.name") == "ours"]
r["meta_b"] = a.get_metadata(bid)
r["subs_b"] = sorted(a.get_subscriptions(bid))
r["subscribed_call"] = sorted(a.get_subscribed_clients("test.call"))
a.enotify(bid, "test.note", v="n1")
got.wait(10)
r["notes"] = list(notes)
r["notify_all"] = sorted(a.enotify_all("test.note", v="n2"))
a.ecall(bid, "tag1", "test.call", v="c1")
got_resp.wait(10)
r["response"] = responses
r["call_and_wait"] = a.ecall_and_wait(bid, "test.call", "10", v="w1")
r["call_and_wait_int_timeout"] = a.ecall_and_wait(bid, "test.call", 10, v="w2")
r["call_ours"] = a.ecall_and_wait(r["ours"][0], "test.call", "10", v="to-ours")
r["hub_ping"] = a.ecall_and_wait("hub", "samp.app.ping", "10")
a.enotify(r["ours"][0], "test.note", v="from-peer")
a.disconnect()
out("RESULT", r)
out("WAITING")
shutdown.wait(30)
out("SHUTDOWN", shutdown.is_set())
os._exit(0)
"""

ASTROPY_HUB = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
from astropy.samp import SAMPHubServer, SAMPIntegratedClient
hub = SAMPHubServer(web_profile=False, lockfile=sys.argv[1])
hub.start()
astro = SAMPIntegratedClient(name="astro")
astro.connect(hub=hub)
notes = []
astro.bind_receive_notification("test.note", lambda k, s, m, p, e: notes.append(p))
astro.bind_receive_call("test.call", lambda k, s, mid, m, p, e: astro.reply(
    mid, {"samp.status": "samp.ok", "samp.result": {"echo": p.get("v", "")}}))
print("READY", json.dumps({"id": astro.get_public_id()}), flush=True)
for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    if cmd == "call":
        print("CALLED", json.dumps(astro.ecall_and_wait(arg, "test.call", "10", v="from-astro")),
              flush=True)
    elif cmd == "notify":
        astro.enotify(arg, "test.note", v="from-astro")
        print("NOTIFIED", flush=True)
    elif cmd == "notes":
        print("NOTES", json.dumps(notes), flush=True)
    elif cmd == "stop":
        astro.disconnect()
        hub.stop()
        print("STOPPED", flush=True)
        break
"""

ASTROPY_SUITE = r"""
import contextlib, sys, tempfile, types, warnings
warnings.simplefilter("ignore")
# astropy's SAMP tests import pytest only for decorators and pytest.raises; the peers'
# virtualenv has no pytest, so a minimal stand-in runs TestStandardProfile.test_main.
stub = types.ModuleType("pytest")
class _Mark:
    def __getattr__(self, name):
        return lambda *a, **k: (lambda f: f)
stub.mark = _Mark()
stub.fixture = lambda *a, **k: (lambda f: f)
@contextlib.contextmanager
def raises(exc):
    try:
        yield
    except exc:
        return
    raise AssertionError(exc.__name__ + " not raised")
stub.raises = raises
sys.modules["pytest"] = stub
from astropy.samp import SAMPIntegratedClient
from astropy.samp.lockfile_helpers import get_main_running_hub
from astropy.samp.tests.test_standard_profile import TestStandardProfile
case = TestStandardProfile()
case.tmpdir = tempfile.mkdtemp()
params = get_main_running_hub()
case.client1 = SAMPIntegratedClient()
case.client1.connect(hub_params=params, pool_size=1)
case.client2 = SAMPIntegratedClient()
case.client2.connect(hub_params=params, pool_size=1)
try:
    case.test_main()
finally:
    for c in (case.client1, case.client2):
        if c.is_connected:
            c.disconnect()
print("ASTROPY-SUITE-PASSED")
"""


def _echo(client: SAMPIntegratedClient) -> Any:
    def on_call(key: str, sender: str, msg_id: str, mtype: str, params: Any, extra: Any) -> None:
        client.ereply(msg_id, SAMP_STATUS_OK, {"echo": params.get("v", "")})

    return on_call


@pytest.mark.parametrize("library", ["astropy", "pyvo"])
def test_peer_clients_work_with_our_hub_and_our_client(
    peers_python: Path, samp_lockfile: Path, no_thread_leak: None, inbox: Inbox, library: str
) -> None:
    hub = SAMPHubServer(web_profile=False, lockfile=samp_lockfile)
    hub.start()
    ours = SAMPIntegratedClient("ours")
    peer = None
    try:
        ours.connect(hub=hub)
        ours.bind_receive_call("test.call", _echo(ours))
        ours.bind_receive_notification("test.note", inbox.notification)
        peer = PeerProcess(peers_python, PEER_CLIENTS, library, env={})
        r = peer.expect("RESULT")
        ours_id = ours.get_public_id()
        assert r["ours"] == [ours_id]
        assert sorted(r["registered"]) == sorted(["hub", r["b"], ours_id])
        assert r["meta_b"] == {"samp.name": "peerB", "samp.description.text": "peer B"}
        assert "test.call" in r["subs_b"]
        assert r["subscribed_call"] == sorted([r["b"], ours_id])
        assert r["notes"] == [[r["a"], "test.note", {"v": "n1"}]]
        assert r["notify_all"] == sorted([r["b"], ours_id])
        assert r["response"][0]["samp.result"] == {"echo": "c1"}
        assert r["call_and_wait"]["samp.result"] == {"echo": "w1"}
        assert r["call_and_wait_int_timeout"]["samp.result"] == {"echo": "w2"}
        assert r["call_ours"] == {"samp.status": "samp.ok", "samp.result": {"echo": "to-ours"}}
        assert r["hub_ping"]["samp.status"] == "samp.ok"
        got = [(s, p) for s, m, p, e in inbox.wait_for(2)]
        assert (r["a"], {"v": "n2"}) in got
        assert (r["a"], {"v": "from-peer"}) in got
        # Our client calls the peer's client.
        response = ours.ecall_and_wait(r["b"], "test.call", "10", v="from-ours")
        assert response["samp.result"] == {"echo": "from-ours"}
        peer.expect("WAITING")
        ours.disconnect()
        hub.stop()
        assert peer.expect("SHUTDOWN") is True
    finally:
        ours.disconnect()
        hub.stop()
        if peer is not None:
            assert peer.close() == 0


def test_our_client_works_with_astropys_hub_and_client(
    peers_python: Path, samp_lockfile: Path, no_thread_leak: None, inbox: Inbox
) -> None:
    peer = PeerProcess(peers_python, ASTROPY_HUB, str(samp_lockfile), env={})
    a = SAMPIntegratedClient("A", metadata={"app.version": 1.5})
    b = SAMPIntegratedClient("B")
    try:
        astro_id = peer.expect("READY")["id"]
        a.connect()  # found through SAMP_HUB, written by astropy's hub
        b.connect()
        b.bind_receive_notification("test.note", inbox.notification)
        b.bind_receive_call("test.call", _echo(b))
        shutdown = Inbox()
        b.bind_receive_notification("samp.hub.event.shutdown", shutdown.notification)
        responses = Inbox()
        a.bind_receive_response("tag", responses.response)
        bid = b.get_public_id()
        assert {astro_id, bid} <= set(a.get_registered_clients())
        assert a.get_metadata(astro_id)["samp.name"] == "astro"
        assert a.get_metadata(a.get_public_id())["app.version"] == 1.5
        assert "test.call" in a.get_subscriptions(bid)
        assert set(a.get_subscribed_clients("test.call")) == {astro_id, bid}
        a.enotify(bid, "test.note", v="1")
        assert inbox.wait_for(1)[0][2] == {"v": "1"}
        assert sorted(a.enotify_all("test.note", v="2")) == sorted([astro_id, bid])
        a.ecall(bid, "tag", "test.call", v="3")
        assert responses.wait_for(1)[0][2]["samp.result"] == {"echo": "3"}
        assert a.ecall_and_wait(bid, "test.call", "10", v="4")["samp.result"] == {"echo": "4"}
        assert a.ecall_and_wait(astro_id, "test.call", "10", v="5")["samp.result"] == {
            "echo": "5"
        }
        # The astropy client calls and notifies ours.
        peer.send(f"call {bid}")
        assert peer.expect("CALLED")["samp.result"] == {"echo": "from-astro"}
        peer.send(f"notify {bid}")
        peer.expect("NOTIFIED")
        assert any(p == {"v": "from-astro"} for s, m, p, e in inbox.wait_for(3))
        peer.send("notes")
        assert {"v": "2"} in peer.expect("NOTES")
        a.disconnect()
        peer.send("stop")
        peer.expect("STOPPED")
        assert shutdown.wait_for(1)[0][1] == "samp.hub.event.shutdown"
        wait_until(lambda: not b.is_connected)
    finally:
        a.disconnect()
        b.disconnect()
        assert peer.close() == 0


def test_astropys_own_standard_profile_test_passes_against_our_hub(
    peers_python: Path, hub: SAMPHubServer
) -> None:
    result = run_peer(peers_python, ASTROPY_SUITE, timeout=120)
    assert "ASTROPY-SUITE-PASSED" in result.stdout
