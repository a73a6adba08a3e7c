"""hop.samp as a drop-in for astropy.samp and pyvo.samp, checked against the installed peers.

* every public name of astropy.samp and pyvo.samp (listed from the peers' virtualenv)
  exists in hop.samp, with a compatible signature (same positional parameters, names
  and defaults; ours may add keyword-only options) and the same public methods;
* values keep their XML-RPC types through our hub between astropy clients, ours, and
  both mixed;
* the ``samp_hub`` script with astropy's flags; the hub's ``timeout`` and
  ``client_timeout``; a ``WebProfileDialog`` deciding real Web Profile registrations;
* pyvo's helpers (``connection``, ``send_table_to`` ...) against a receiving astropy client.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
import threading
import types
import xmlrpc.client
from pathlib import Path
from typing import Any

import pytest
from _samphelpers import WAIT_S, Inbox, PeerProcess, wait_until

import hop.samp
from _peers import run_peer
from hop.samp import SAMPHubServer, SAMPIntegratedClient, WebProfileDialog

LIST_NAMES = r"""
import importlib, inspect, json, sys, types, warnings
warnings.simplefilter("ignore")
def sig(o):
    try:
        s = inspect.signature(o)
    except (TypeError, ValueError):
        return None
    return [[p.name, p.kind.name, repr(p.default) if p.default is not p.empty else None]
            for p in s.parameters.values()]
out = {}
for modname in sys.argv[1:]:
    mod = importlib.import_module(modname)
    names = {}
    for n in dir(mod):
        if n.startswith("_"):
            continue
        o = getattr(mod, n)
        if isinstance(o, types.ModuleType):
            names[n] = {"kind": "module"}
            continue
        e = {"kind": "class" if isinstance(o, type) else type(o).__name__}
        if callable(o):
            e["sig"] = sig(o)
        if isinstance(o, type):
            e["bases"] = [c.__name__ for c in o.__mro__[1:]]
            e["methods"] = {m: sig(getattr(o, m)) for m in dir(o)
                            if not m.startswith("_") and callable(getattr(o, m, None))}
        names[n] = e
    out[modname] = names
print(json.dumps(out))
"""

# Submodules of astropy.samp are implementation modules; hop.samp keeps its own
# private ones, and offers the one a user runs (hub_script).
_MODULES_NOT_MIRRORED = {
    "client", "constants", "errors", "hub", "hub_proxy", "integrated_client",
    "lockfile_helpers", "standard_profile", "utils", "web_profile", "vo_helpers",
}


def _our_sig(o: Any) -> list[list[Any]] | None:
    try:
        s = inspect.signature(o)
    except (TypeError, ValueError):
        return None
    return [[p.name, p.kind.name, repr(p.default) if p.default is not p.empty else None]
            for p in s.parameters.values()]


def _signature_problems(where: str, theirs: list[list[Any]] | None,
                        ours: list[list[Any]] | None) -> list[str]:
    if theirs is None:
        return []  # upstream has no introspectable signature (e.g. a bare Exception)
    if ours is None:
        return [f"{where}: no signature"]
    problems = []
    for i, (name, kind, default) in enumerate(theirs):
        if i >= len(ours) or ours[i][:2] != [name, kind]:
            problems.append(f"{where}: parameter {i} should be {name} ({kind}), ours {ours[i:i+1]}")
        elif ours[i][2] != default:
            problems.append(f"{where}: {name} default {ours[i][2]} != {default}")
    for name, kind, default in ours[len(theirs):]:
        if kind not in ("KEYWORD_ONLY", "VAR_KEYWORD") or (kind == "KEYWORD_ONLY" and
                                                          default is None):
            problems.append(f"{where}: extra parameter {name} must be keyword-only with a default")
    return problems


@pytest.fixture(scope="module")
def upstream_names(peers_python: Path) -> dict[str, dict[str, Any]]:
    result = run_peer(peers_python, LIST_NAMES, "astropy.samp", "pyvo.samp", timeout=120)
    names: dict[str, dict[str, Any]] = json.loads(result.stdout)
    return names


@pytest.mark.parametrize("library", ["astropy.samp", "pyvo.samp"])
def test_every_public_name_of_upstream_exists_with_a_compatible_signature(
    upstream_names: dict[str, dict[str, Any]], library: str
) -> None:
    upstream = upstream_names[library]
    assert len(upstream) > 25  # the listing found the real package
    problems = []
    for name, entry in sorted(upstream.items()):
        if entry["kind"] == "module":
            if name not in _MODULES_NOT_MIRRORED:
                problems.append(f"{name}: new upstream submodule")
            continue
        if not hasattr(hop.samp, name):
            problems.append(f"{name}: missing")
            continue
        ours = getattr(hop.samp, name)
        if entry["kind"] == "class":
            if not isinstance(ours, type):
                problems.append(f"{name}: not a class")
                continue
            if "sig" in entry:
                problems += _signature_problems(name, entry["sig"], _our_sig(ours))
            for method, msig in entry["methods"].items():
                if not callable(getattr(ours, method, None)):
                    problems.append(f"{name}.{method}: missing")
                else:
                    problems += _signature_problems(f"{name}.{method}", msig,
                                                    _our_sig(getattr(ours, method)))
            for base in ("Exception", "Warning", "Fault"):
                if base in entry["bases"] and not any(
                        c.__name__ == base for c in ours.__mro__):
                    problems.append(f"{name}: not a {base}")
        elif entry["kind"] in ("function", "contextmanager"):
            problems += _signature_problems(name, entry.get("sig"), _our_sig(ours))
        else:
            kind = type(ours).__name__
            if entry["kind"] not in (kind, "Conf") and not (
                    entry["kind"] == "list" and kind == "tuple"):
                problems.append(f"{name}: {kind}, upstream {entry['kind']}")
    assert problems == []
    assert isinstance(hop.samp.hub_script, types.ModuleType)


def test_safe_mtypes_and_statuses_match_upstream(peers_python: Path) -> None:
    script = ("import json, warnings; warnings.simplefilter('ignore');"
              "import astropy.samp as s; print(json.dumps([s.SAFE_MTYPES, s.SAMP_STATUS_OK,"
              " s.SAMP_STATUS_WARNING, s.SAMP_STATUS_ERROR, s.conf.n_retries,"
              " s.conf.use_internet]))")
    safe, ok, warn, err, retries, internet = json.loads(run_peer(peers_python, script).stdout)
    assert set(safe) <= set(hop.samp.SAFE_MTYPES)
    assert (ok, warn, err) == (hop.samp.SAMP_STATUS_OK, hop.samp.SAMP_STATUS_WARNING,
                               hop.samp.SAMP_STATUS_ERROR)
    assert (retries, internet) == (hop.samp.conf.n_retries, hop.samp.conf.use_internet)


# -- typed values ---------------------------------------------------------------------

TYPED = {"n": 1331, "neg": -7, "x": 2.5, "yes": True, "no": False, "s": "text",
         "l": [1, 2.5, "three", [True, {"deep": 4}]], "m": {"a": 1, "b": {"c": [False]}}}

ASTROPY_TYPED = r"""
import json, sys, threading, warnings
warnings.simplefilter("ignore")
from astropy.samp import SAMPIntegratedClient
typed = json.loads(sys.argv[1])
rx = SAMPIntegratedClient(name="astro-rx")
tx = SAMPIntegratedClient(name="astro-tx")
rx.connect(); tx.connect()
got, ev = [], threading.Event()
rx.bind_receive_notification("test.typed", lambda k, s, m, p, e: (got.append(p), ev.set()))
rx.bind_receive_call("test.typed", lambda k, s, mid, m, p, e: rx.reply(
    mid, {"samp.status": "samp.ok", "samp.result": p}))
print("READY", json.dumps({"rx": rx.get_public_id()}), flush=True)
tx.notify(rx.get_public_id(), {"samp.mtype": "test.typed", "samp.params": typed})
ev.wait(10)
print("ASTROPY-TO-ASTROPY", json.dumps(got[:1]), flush=True)
for line in sys.stdin:
    cmd, _, arg = line.strip().partition(" ")
    if cmd == "send":
        tx.notify(arg, {"samp.mtype": "test.typed", "samp.params": typed})
        print("SENT", flush=True)
    elif cmd == "received":
        print("RECEIVED", json.dumps(got), flush=True)
    elif cmd == "stop":
        break
rx.disconnect(); tx.disconnect()
"""


def test_values_keep_their_types_between_astropy_ours_and_mixed(
    peers_python: Path, hub: SAMPHubServer, inbox: Inbox
) -> None:
    ours = SAMPIntegratedClient("ours")
    other = SAMPIntegratedClient("ours-2")
    ours.connect(hub=hub)
    other.connect(hub=hub)
    peer = PeerProcess(peers_python, ASTROPY_TYPED, json.dumps(TYPED), env={})
    try:
        ours.bind_receive_notification("test.typed", inbox.notification)
        rx = peer.expect("READY")["rx"]
        assert peer.expect("ASTROPY-TO-ASTROPY") == [TYPED]  # astropy -> astropy, our hub
        peer.send(f"send {ours.get_public_id()}")  # astropy -> ours
        peer.expect("SENT")
        assert inbox.wait_for(1)[0][2] == TYPED
        other.notify(ours.get_public_id(), {"samp.mtype": "test.typed", "samp.params": TYPED})
        assert inbox.wait_for(2)[1][2] == TYPED  # ours -> ours
        other.notify(rx, {"samp.mtype": "test.typed", "samp.params": TYPED})  # ours -> astropy
        wait_until(lambda: (peer.send("received"), len(peer.expect("RECEIVED")) >= 2)[1])
        peer.send("received")
        assert peer.expect("RECEIVED")[1] == TYPED
        # A call's response keeps its types on the way back to us as well.
        response = other.call_and_wait(rx, {"samp.mtype": "test.typed", "samp.params": TYPED},
                                       "10")
        assert response["samp.result"] == TYPED
        peer.send("stop")
    finally:
        ours.disconnect()
        other.disconnect()
        assert peer.close() == 0


def test_samp_strings_option_still_sends_samp_strings(make_client: Any, inbox: Inbox) -> None:
    receiver = make_client("rx")
    receiver.bind_receive_notification("test.typed", inbox.notification)
    sender = make_client("tx", samp_strings=True)
    sender.enotify(receiver.get_public_id(), "test.typed", n=1331, ok=True, l=[1.5])
    assert inbox.wait_for(1)[0][2] == {"n": "1331", "ok": "1", "l": ["1.5"]}


# -- the hub script and the hub's timeouts ----------------------------------------------


def _samp_hub(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "hop.samp.hub_script", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_samp_hub_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("samp_hub")
    assert script.exists() or shutil.which("samp_hub")
    out = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    for flag in ("--secret", "--addr", "--port", "--lockfile", "--no-web-profile",
                 "--pool-size", "--timeout", "--client-timeout", "--log-level",
                 "--log-output", "--label", "--multi"):
        assert flag in out.stdout


def test_samp_hub_with_an_idle_timeout_stops_and_removes_its_lockfile(
    samp_lockfile: Path, tmp_path: Path
) -> None:
    log = tmp_path / "hub.log"
    proc = _samp_hub("-w", "-f", str(samp_lockfile), "-t", "1", "-l", "timed", "-k", "s3cret",
                     "-L", "DEBUG", "-O", str(log))
    try:
        wait_until(samp_lockfile.exists)
        text = samp_lockfile.read_text()
        assert "samp.secret=s3cret" in text
        assert "hub.label=timed" in text
        assert proc.wait(WAIT_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=WAIT_S)
    assert not samp_lockfile.exists()
    assert "idle" in log.read_text()


def test_samp_hub_multi_mode_hubs_are_found_by_astropy(
    peers_python: Path, samp_lockfile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SAMP_HUB")
    home = Path(os.environ["HOME"])
    procs = [_samp_hub("-w", "-m", "-l", f"multi{i}") for i in range(2)]
    try:
        wait_until(lambda: len(list((home / ".samp-1").glob("samp-hub-*"))) == 2)
        script = ("import json, warnings; warnings.simplefilter('ignore');"
                  "from astropy.samp.lockfile_helpers import get_running_hubs;"
                  "print(json.dumps(sorted(h['hub.label'] for h in get_running_hubs().values())))")
        out = run_peer(peers_python, script, env={"HOME": str(home)})
        assert json.loads(out.stdout.strip().splitlines()[-1]) == ["multi0", "multi1"]
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            assert proc.wait(WAIT_S) == 0
            proc.communicate(timeout=WAIT_S)
    assert list((home / ".samp-1").glob("samp-hub-*")) == []


def test_samp_hub_reports_a_busy_port_in_one_line(samp_lockfile: Path) -> None:
    with SAMPHubServer(web_profile=False, lockfile=samp_lockfile) as running:
        port = running.params["samp.hub.xmlrpc.url"].rsplit(":", 1)[1].strip("/")
        proc = _samp_hub("-w", "-p", port, "-f", str(samp_lockfile.with_name("other.lock")))
        _out, err = proc.communicate(timeout=WAIT_S)
    assert proc.returncode == 1
    assert err.startswith("samp_hub: error: cannot listen")
    assert "Traceback" not in err


def test_an_inactive_hub_shuts_down_by_itself(samp_lockfile: Path, no_thread_leak: None) -> None:
    hub = SAMPHubServer(web_profile=False, lockfile=samp_lockfile, timeout=0.5)
    hub.start()
    try:
        wait_until(lambda: not hub.is_running)
    finally:
        hub.stop()
    assert not samp_lockfile.exists()


def test_inactive_clients_are_unregistered_with_samp_hub_disconnect(
    samp_lockfile: Path, no_thread_leak: None
) -> None:
    hub = SAMPHubServer(web_profile=False, lockfile=samp_lockfile, client_timeout=1)
    hub.start()
    idle = SAMPIntegratedClient("idle")
    told = Inbox()
    try:
        idle.connect(hub=hub)
        idle.bind_receive_notification("samp.hub.disconnect", told.notification)
        public_id = idle.get_public_id()
        sender, mtype, params, _ = told.wait_for(1)[0]
        assert (sender, mtype) == ("hub", "samp.hub.disconnect")
        assert "Timeout" in params["reason"]
        assert public_id not in [r.public_id for r in hub.registry.clients()]
        wait_until(lambda: not idle.is_connected)
    finally:
        idle.disconnect()
        hub.stop()


# -- astropy's consent dialog deciding real Web Profile registrations -------------------


class _AutoDialog(WebProfileDialog):
    """A 'GUI' whose timer thread polls handle_queue and whose user always answers."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer
        self.asked: list[tuple[Any, ...]] = []
        self._stop = threading.Event()
        self._timer = threading.Thread(target=self._loop, daemon=True)
        self._timer.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.02):
            self.handle_queue()

    def show_dialog(self, samp_name: str, details: Any, client: Any, origin: str) -> None:
        self.asked.append((samp_name, client[0], origin))
        (self.consent if self.answer else self.reject)()

    def close(self) -> None:
        self._stop.set()
        self._timer.join(WAIT_S)


@pytest.mark.parametrize("answer", [True, False])
def test_a_web_profile_dialog_decides_registrations(
    samp_lockfile: Path, no_thread_leak: None, answer: bool
) -> None:
    dialog = _AutoDialog(answer)
    try:
        with (SAMPHubServer(lockfile=samp_lockfile, web_port=0,
                            web_profile_dialog=dialog) as hub,
              xmlrpc.client.ServerProxy(f"http://127.0.0.1:{hub.web_port}") as web):
            if answer:
                reg = web.samp.webhub.register({"samp.name": "page"})
                assert reg["samp.self-id"] in [r.public_id for r in hub.registry.clients()]
            else:
                with pytest.raises(xmlrpc.client.Fault, match="refused"):
                    web.samp.webhub.register({"samp.name": "page"})
        assert dialog.asked == [("page", "127.0.0.1", "unknown")]
    finally:
        dialog.close()


def test_dialog_and_web_consent_together_are_refused(samp_lockfile: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        SAMPHubServer(lockfile=samp_lockfile, web_profile_dialog=WebProfileDialog(),
                      web_consent=lambda info: True)


# -- pyvo's helpers, received by an astropy client --------------------------------------

ASTROPY_RECEIVER = r"""
import json, sys, threading, warnings
warnings.simplefilter("ignore")
from urllib.request import urlopen
from astropy.io.votable import parse_single_table
from astropy.samp import SAMPIntegratedClient
rx = SAMPIntegratedClient(name="astro-viewer")
rx.connect()
def on_table(k, s, mid, m, p, e):
    path = p["url"].removeprefix("file://")
    t = parse_single_table(path).to_table()
    print("TABLE", json.dumps({"name": p["name"], "cols": t.colnames,
                              "ra": [float(v) for v in t["ra"]]}), flush=True)
    rx.reply(mid, {"samp.status": "samp.ok", "samp.result": {}})
def on_note(k, s, m, p, e):
    print("NOTE", json.dumps([m, p]), flush=True)
rx.bind_receive_call("table.load.votable", on_table)
rx.bind_receive_notification("image.load.fits", on_note)
rx.bind_receive_notification("spectrum.load.ssa-generic", on_note)
print("READY", json.dumps(rx.get_public_id()), flush=True)
sys.stdin.readline()
rx.disconnect()
"""


def test_pyvo_helpers_send_to_a_receiving_astropy_client(
    peers_python: Path, hub: SAMPHubServer
) -> None:
    from astropy.table import Table

    peer = PeerProcess(peers_python, ASTROPY_RECEIVER, env={})
    try:
        viewer = peer.expect("READY")
        with hop.samp.connection(client_name="notebook") as conn:
            assert hop.samp.find_client_id(conn, "astro-viewer") == viewer
            with pytest.raises(KeyError, match="no-such-tool"):
                hop.samp.find_client_id(conn, "no-such-tool")
            table = Table({"ra": [10.5, 20.25], "dec": [-1.0, 2.0]})
            hop.samp.send_table_to(conn, table, client_name="astro-viewer", name="cat")
            assert peer.expect("TABLE") == {"name": "cat", "cols": ["ra", "dec"],
                                            "ra": [10.5, 20.25]}
            hop.samp.send_table_to(conn, table)  # every client that takes tables
            assert peer.expect("TABLE")["name"] == "data"
            hop.samp.send_image_to(conn, "http://127.0.0.1:9/i.fits", client_name="astro-viewer",
                                   name="img")
            assert peer.expect("NOTE") == ["image.load.fits",
                                           {"url": "http://127.0.0.1:9/i.fits", "name": "img"}]
            hop.samp.send_spectrum_to(conn, "http://127.0.0.1:9/s.fits")
            assert peer.expect("NOTE") == ["spectrum.load.ssa-generic",
                                           {"url": "http://127.0.0.1:9/s.fits", "name": "data"}]
            assert conn.is_connected
        assert not conn.is_connected
        peer.send("done")
    finally:
        assert peer.close() == 0
