"""Helpers for the alert bridge tests: desktop tools played by astropy clients, hubs.

The receivers stand in for Aladin, TOPCAT and DS9: astropy ``SAMPIntegratedClient``\\ s
in the peers' virtualenv, subscribed to the MTypes those tools subscribe to. For each
file they are sent they open it with astropy's own FITS reader and report what they
found (OBJECT, NSIDE, the MOC's area from its UNIQ column), so the values checked come
from outside skyhop.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from samp._samphelpers import PeerProcess

from hop.samp.bridge import MTYPE_ALERT, MTYPE_IMAGE, MTYPE_MOC, MTYPE_POINT

#: The tools and the bridge MTypes they subscribe to.
DESKTOP = {
    "aladin": [MTYPE_IMAGE, MTYPE_MOC, MTYPE_POINT],
    "topcat": [MTYPE_POINT],
    "ds9": [MTYPE_IMAGE, MTYPE_POINT],
    "monitor": [MTYPE_ALERT],
}

RECEIVERS = r"""
import json, math, sys, threading, warnings
from urllib.parse import unquote, urlparse
warnings.simplefilter("ignore")
import numpy as np
from astropy.io import fits
from astropy.samp import SAMPIntegratedClient

spec = json.loads(sys.argv[1])
lock = threading.Lock()

def out(tag, obj):
    with lock:
        print(tag, json.dumps(obj), flush=True)

def look(mtype, params):
    path = unquote(urlparse(params["url"]).path)
    with fits.open(path) as hdus:
        header = hdus[1].header
        info = {"object": header.get("OBJECT"), "columns": list(hdus[1].columns.names),
                "ordering": header.get("ORDERING")}
        if mtype == "image.load.fits":
            prob = np.asarray(hdus[1].data["PROB"])
            info.update(nside=header["NSIDE"], npix=int(prob.size), total=float(prob.sum()))
        else:
            uniq = np.asarray(hdus[1].data["UNIQ"], dtype=np.int64)
            order = np.array([(int(u).bit_length() - 1) // 2 - 1 for u in uniq])
            info["area_sr"] = float((4 * math.pi / (12 * 4.0 ** order)).sum())
    return info

clients = []
for name, mtypes in spec.items():
    client = SAMPIntegratedClient(name=name)
    client.connect()
    def on_note(*args, name=name):
        # (private_key, sender_id, [msg_id,] mtype, params, extra): astropy passes a
        # msg_id of None to functions bound for notifications.
        mtype, params = args[-3], args[-2]
        got = {"client": name, "mtype": mtype, "params": params}
        if mtype in ("image.load.fits", "coverage.load.moc.fits"):
            try:
                got["file"] = look(mtype, params)
            except Exception as exc:
                got["file_error"] = repr(exc)
        out("GOT", got)
    for mtype in mtypes:
        client.bind_receive_notification(mtype, on_note)
    clients.append(client)
out("READY", {name: c.get_public_id() for name, c in zip(spec, clients)})
sys.stdin.read()
for client in clients:
    try:
        client.disconnect()
    except Exception:
        pass
"""

ASTROPY_HUB = r"""
import sys, warnings
warnings.simplefilter("ignore")
from astropy.samp import SAMPHubServer
hub = SAMPHubServer(web_profile=False, lockfile=sys.argv[1])
hub.start()
print("READY", flush=True)
sys.stdin.read()
hub.stop()
"""


class Desktop:
    """Receivers in one peer process; :meth:`wait` collects what they got."""

    def __init__(self, python: Path, lockfile: Path, spec: dict[str, list[str]] | None = None):
        self.spec = spec or DESKTOP
        env = {"SAMP_HUB": f"std-lockurl:{lockfile.as_uri()}", "HOME": str(lockfile.parent)}
        self.peer = PeerProcess(python, RECEIVERS, json.dumps(self.spec), env=env)
        self.ids: dict[str, str] = self.peer.expect("READY")
        self.got: list[dict[str, Any]] = []

    def wait(self, predicate: Any, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Collect GOT lines until ``predicate(self.got)`` holds."""
        deadline = time.monotonic() + timeout
        while not predicate(self.got):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"receivers got only: {json.dumps(self.got, indent=1)}")
            self.got.append(self.peer.expect("GOT", timeout=remaining))
        return self.got

    def alerts(self) -> list[dict[str, str]]:
        """The ``x-hop.alert`` params received, in order."""
        return [g["params"] for g in self.got if g["mtype"] == MTYPE_ALERT]

    def close(self) -> None:
        self.peer.close()


def alerts_at_least(n: int) -> Any:
    return lambda got: sum(g["mtype"] == MTYPE_ALERT for g in got) >= n


class HubProcess:
    """A hub in its own process, so that a test can SIGKILL it: ours or astropy's."""

    def __init__(self, kind: str, lockfile: Path, peers_python: Path | None = None) -> None:
        self.kind = kind
        self.lockfile = lockfile
        if kind == "astropy":
            assert peers_python is not None
            # astropy's hub writes where SAMP_HUB points, whatever its lockfile argument.
            env = {"HOME": str(lockfile.parent), "SAMP_HUB": f"std-lockurl:{lockfile.as_uri()}"}
            self.peer: PeerProcess | None = PeerProcess(
                peers_python, ASTROPY_HUB, str(lockfile), env=env
            )
            self.peer.expect("READY")
            self.proc = self.peer.proc
        else:
            self.peer = None
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hop.samp.cli", "hub", "--no-web-profile", "-f",
                 str(lockfile)],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
            assert self.proc.stdout is not None
            line = self.proc.stdout.readline()
            assert "SAMP hub running" in line, line

    def kill(self) -> None:
        """SIGKILL: the lockfile stays behind, naming a hub that is gone."""
        self.proc.kill()
        self.proc.wait(30)

    def close(self) -> None:
        if self.peer is not None:
            self.peer.close()  # also after kill(): closes the pipes
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@contextmanager
def hub_process(
    kind: str, lockfile: Path, peers_python: Path | None = None
) -> Iterator[HubProcess]:
    hub = HubProcess(kind, lockfile, peers_python)
    try:
        yield hub
    finally:
        hub.close()


def publish_lockfile(source: Path, target: Path) -> None:
    """Make the hub whose lockfile is ``source`` the one found at ``target`` (atomically)."""
    tmp = target.with_name(target.name + ".tmp")
    shutil.copyfile(source, tmp)
    tmp.chmod(0o600)
    tmp.replace(target)
    with suppress(FileNotFoundError):
        tmp.unlink()
