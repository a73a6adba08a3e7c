"""The alert bridge end to end: a real broker, real hubs (ours and astropy's), real clients.

astropy ``SAMPIntegratedClient`` receivers in the peers' virtualenv stand in for
Aladin, TOPCAT and DS9 (see ``_bridgehelpers``); the values they report are checked
against numbers computed here from the alerts themselves, or by astropy in the peers'
virtualenv, never by the bridge's own code.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _bridgehelpers import Desktop, alerts_at_least, hub_process, publish_lockfile
from astropy.io import fits
from samp._samphelpers import Inbox, wait_until

from _alerts import gcn_json_notice, voevent_xml
from _data import HOP_CLIENT, IGWN, needs_testdata
from _peers import run_peer
from hop import Stream
from hop._codec import pack
from hop.io import StartPosition
from hop.models import GCNCircular, GCNTextNotice, JSONBlob, VOEvent
from hop.samp import SAMPHubServer, SAMPIntegratedClient
from hop.samp.bridge import (
    MTYPE_ALERT,
    MTYPE_IMAGE,
    MTYPE_MOC,
    MTYPE_POINT,
    AlertBridge,
    ForwardedAlert,
)

BIG = {"max.message.bytes": "4194304"}  # IGWN alerts carry ~1 MB sky maps


def _igwn(name: str) -> dict[str, Any]:
    return json.loads((IGWN / f"{name}.json").read_text())


def _sample_igwn(**changes: Any) -> dict[str, Any]:
    """The project's own IGWN alert (a mock, MS...), with ``changes`` made to it."""
    from hop._samples import igwn_alert

    content: dict[str, Any] = json.loads(json.dumps(igwn_alert().content))
    content.update(changes)
    return content


def _credible_area_sr(content: dict[str, Any]) -> tuple[float, float]:
    """The 90% area straight from UNIQ/PROBDENSITY, and the boundary pixel's area."""
    raw = base64.b64decode(content["event"]["skymap"])
    with fits.open(io.BytesIO(raw)) as hdus:
        uniq = np.array(hdus[1].data["UNIQ"], dtype=np.int64)
        density = np.array(hdus[1].data["PROBDENSITY"])
    order = np.array([(int(u).bit_length() - 1) // 2 - 1 for u in uniq])
    area = 4 * math.pi / (12 * 4.0**order)
    ranked = np.argsort(-density, kind="stable")
    cumulative = np.cumsum((density * area)[ranked])
    crossing = ranked[np.searchsorted(cumulative, 0.9)]
    return float(area[ranked[cumulative <= 0.9]].sum()), float(area[crossing])


@pytest.fixture
def lockfile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the bridge looks for the hub; HOME and SAMP_HUB never reach the real ~/.samp."""
    home = tmp_path / "home"
    home.mkdir()
    path = tmp_path / "samp.lock"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SAMP_HUB", f"std-lockurl:{path.as_uri()}")
    return path


@pytest.fixture
def run_bridge(
    tmp_path: Path, lockfile: Path, kafka_url: Callable[..., str], unique_group: str
) -> Iterator[Callable[..., AlertBridge]]:
    """Start in-process bridges on a topic; all are stopped after the test."""
    bridges: list[AlertBridge] = []

    def start(topic: str, **options: Any) -> AlertBridge:
        options.setdefault("group_id", unique_group)
        options.setdefault("start_at", StartPosition.EARLIEST)
        options.setdefault("test", True)
        bridge = AlertBridge(
            kafka_url(topic),
            auth=False,
            hub_url=str(lockfile),
            cache_dir=tmp_path / "skymaps",
            memory_file=tmp_path / "forwarded",
            poll_interval=0.1,
            **options,
        )
        bridge.start()
        bridges.append(bridge)
        return bridge

    yield start
    for bridge in bridges:
        bridge.stop()


def _publish(url: str, *messages: Any) -> None:
    with Stream(auth=False).open(url, "w") as stream:
        for message in messages:
            if isinstance(message, tuple):
                stream.write_raw(*message)
            else:
                stream.write(message)


def _icrs_by_astropy(peers_python: Path, positions: list[tuple[str, float, float]]) -> Any:
    script = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
from astropy.coordinates import FK5, ICRS, Galactic, SkyCoord
from astropy.time import Time
import astropy.units as u
frames = {"fk5": FK5(equinox=Time("J2000", scale="tt")), "galactic": Galactic()}
out = []
for frame, lon, lat in json.loads(sys.argv[1]):
    c = SkyCoord(lon * u.deg, lat * u.deg, frame=frames[frame]).transform_to(ICRS())
    out.append([c.ra.deg, c.dec.deg])
print(json.dumps(out))
"""
    return json.loads(run_peer(peers_python, script, json.dumps(positions)).stdout)


def _close(a: float, b: float, tol: float = 1e-9) -> bool:
    return abs((a - b + 180.0) % 360.0 - 180.0) <= tol


# -- every kind of alert, both hubs ------------------------------------------------------


@needs_testdata
@pytest.mark.parametrize("hub_kind", ["ours", "astropy"])
def test_each_kind_of_alert_reaches_the_desktop_tools(
    hub_kind: str,
    peers_python: Path,
    lockfile: Path,
    make_topic: Callable[..., str],
    kafka_url: Callable[..., str],
    run_bridge: Callable[..., AlertBridge],
) -> None:
    topic = make_topic(config=BIG)
    mock, real = _igwn("MS181101ab-preliminary"), _igwn("S230528ay-preliminary")
    icrs = ("51.328123456789", "4.183712345678")
    published = [
        ("mock", JSONBlob(mock)),
        ("real", JSONBlob(real)),
        ("retraction", JSONBlob(_igwn("MS181101ab-retraction"))),
        ("icrs", VOEvent.deserialize(voevent_xml("ivo://skyhop.test/icrs#1", *icrs))),
        ("fk5", VOEvent.deserialize(voevent_xml("ivo://skyhop.test/fk5#1", 10.684708,
                                                41.26875, system="UTC-FK5-GEO"))),
        ("gal", VOEvent.deserialize(voevent_xml("ivo://skyhop.test/gal#1", 121.1743, -21.5733,
                                                system="UTC-GAL-TOPO"))),
        ("text", GCNTextNotice.load_file(str(HOP_CLIENT / "example_gcn.txt"))),
        ("json", JSONBlob(gcn_json_notice(210.5, -33.25, 0.1))),
        ("circular", GCNCircular.load_file(str(HOP_CLIENT / "example_gcn.gcn3"))),
    ]  # fmt: skip
    forwarded: list[ForwardedAlert] = []
    with hub_process(hub_kind, lockfile, peers_python):
        desktop = Desktop(peers_python, lockfile)
        try:
            run_bridge(topic, on_forward=forwarded.append)
            _publish(kafka_url(topic), *(m for _, m in published))
            # Per tool: 2 sky maps (image, MOC for aladin; image for ds9), 7 points.
            expect = {"aladin": 11, "topcat": 7, "ds9": 9, "monitor": len(published)}

            def complete(got: list[dict[str, Any]]) -> bool:
                counts = {name: sum(g["client"] == name for g in got) for name in expect}
                return counts == expect

            desktop.wait(complete)
            wait_until(lambda: len(forwarded) == len(published))
        finally:
            desktop.close()
    # Hubs may deliver concurrent notifications in any order (astropy's uses a thread
    # each): nothing below depends on the order of arrival.
    offset = {label: i for i, (label, _) in enumerate(published)}
    alerts = sorted(desktop.alerts(), key=lambda a: int(a["offset"]))
    assert [int(a["offset"]) for a in alerts] == list(range(len(published)))
    for params in alerts:
        assert all(isinstance(v, str) for v in params.values())
        assert params["topic"] == topic and params["partition"] == "0"
        assert uuid.UUID(params["id"]) and params["timestamp"].endswith("Z")
    kinds = {label: alerts[offset[label]] for label in offset}
    assert [kinds[k]["format"] for k in ("mock", "icrs", "text", "circular")] == [
        "json", "voevent", "gcntextnotice", "circular"]  # fmt: skip
    assert kinds["real"]["summary"].startswith("IGWN S230528ay PRELIMINARY")
    assert kinds["circular"]["summary"] == "GCN Circular 40: GRB980329 VLA observations"

    def received(client: str, mtype: str) -> list[dict[str, Any]]:
        got = [g for g in desktop.got if g["client"] == client and g["mtype"] == mtype]
        return sorted(got, key=lambda g: json.dumps(g["params"], sort_keys=True))

    # Sky maps: two alerts with maps (the retraction has none), to aladin and ds9.
    images = sorted(received("aladin", MTYPE_IMAGE), key=lambda i: i["file"]["object"])
    assert [i["file"]["object"] for i in images] == ["MS181101ab", "S230528ay"]
    assert [i["params"]["name"] for i in images] == ["MS181101ab PRELIMINARY",
                                                     "S230528ay PRELIMINARY"]  # fmt: skip
    assert received("ds9", MTYPE_IMAGE) == [dict(i, client="ds9")
                                            for i in received("aladin", MTYPE_IMAGE)]  # fmt: skip
    for image in images:
        info = image["file"]
        assert (info["ordering"], info["nside"], info["npix"]) == ("NESTED", 256, 12 * 256**2)
        assert info["total"] == pytest.approx(1.0, abs=1e-6)  # float32 PROB
        assert image["params"]["image-id"] and image["params"]["url"].startswith("file:///")
    mocs = sorted(received("aladin", MTYPE_MOC), key=lambda m: m["file"]["object"])
    assert [m["file"]["object"] for m in mocs] == ["MS181101ab", "S230528ay"]
    for moc, content in zip(mocs, (mock, real), strict=True):
        expect, boundary = _credible_area_sr(content)
        assert moc["file"]["ordering"] == "NUNIQ"
        assert abs(moc["file"]["area_sr"] - expect) <= boundary + 1e-12
    # Points: 2 sky map peaks, 3 VOEvents, 2 GCN notices, the same to every tool.
    assert received("aladin", MTYPE_POINT) == [
        dict(p, client="aladin") for p in received("topcat", MTYPE_POINT)]  # fmt: skip
    points = [(float(p["params"]["ra"]), float(p["params"]["dec"]))
              for p in received("topcat", MTYPE_POINT)]  # fmt: skip
    assert len(points) == 7

    def take(ra: float, dec: float) -> None:
        match = [p for p in points if _close(p[0], ra) and abs(p[1] - dec) <= 1e-9]
        assert len(match) == 1, (ra, dec, points)
        points.remove(match[0])

    take(float(icrs[0]), float(icrs[1]))  # the VOEvent's own numbers, within 1e-9 deg
    by_astropy = _icrs_by_astropy(peers_python, [("fk5", 10.684708, 41.26875),
                                                 ("galactic", 121.1743, -21.5733),
                                                 ("fk5", 103.7861, 5.8716)])  # fmt: skip
    for ra, dec in by_astropy:
        take(ra, dec)
    take(210.5, -33.25)
    assert len(points) == 2  # the two sky maps' most probable pixels
    # Stage times were measured for each alert.
    assert {"decode", "read", "write", "flatten", "moc", "notify"} <= set(forwarded[0].timings)


# -- bad input --------------------------------------------------------------------------


@pytest.fixture
def our_hub(lockfile: Path) -> Iterator[SAMPHubServer]:
    hub = SAMPHubServer(web_profile=False, lockfile=lockfile)
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()


def _receiver(hub: SAMPHubServer, name: str, *mtypes: str) -> tuple[SAMPIntegratedClient, Inbox]:
    inbox = Inbox()
    client = SAMPIntegratedClient(name)
    client.connect(hub=hub)
    for mtype in mtypes or (MTYPE_POINT, MTYPE_ALERT):
        client.bind_receive_notification(mtype, inbox.notification)
    return client, inbox


def _alert_params(inbox: Inbox) -> list[dict[str, str]]:
    return [params for _, mtype, params, _ in list(inbox.items) if mtype == MTYPE_ALERT]


def test_bad_alerts_are_logged_with_their_position_and_the_next_good_one_goes_through(
    our_hub: SAMPHubServer,
    make_topic: Callable[..., str],
    kafka_url: Callable[..., str],
    run_bridge: Callable[..., AlertBridge],
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic = make_topic(config=BIG)
    igwn = _sample_igwn()
    not_fits = json.loads(json.dumps(igwn))
    not_fits["event"]["skymap"] = base64.b64encode(b"this is not a FITS file").decode()
    not_base64 = json.loads(json.dumps(igwn))
    not_base64["event"]["skymap"] = "%%% not base64 %%%"
    no_event = dict(igwn, event=None)
    no_c2 = voevent_xml("ivo://skyhop.test/bad#2", 1, 2).replace(b"<C2>2</C2>", b"")
    _, voevent_headers = pack(VOEvent.deserialize(voevent_xml("ivo://t#0", 1, 2)))
    bad = [
        (b"<voe:VOEvent this is not XML", voevent_headers),  # bad XML
        VOEvent.deserialize(no_c2),  # Position2D without C2
        JSONBlob(not_fits),  # sky map that is not FITS
        JSONBlob(not_base64),  # sky map that is not base64
        JSONBlob(no_event),  # missing field
        JSONBlob(gcn_json_notice("north", 12.0)),  # wrong field
    ]
    good = VOEvent.deserialize(voevent_xml("ivo://skyhop.test/good#1", 33.0, -12.5))
    client, inbox = _receiver(our_hub, "topcat")
    try:
        with caplog.at_level(logging.WARNING, logger="hop.samp.bridge"):
            run_bridge(topic)
            _publish(kafka_url(topic), *bad, good)
            inbox.wait_for(2)  # the good alert's pointAt and x-hop.alert
            assert [p["offset"] for p in _alert_params(inbox)] == [str(len(bad))]
            skipped = [r.getMessage() for r in caplog.records if "malformed" in r.getMessage()]
            for offset, reason in enumerate(["cannot be decoded as voevent", "C1 and C2",
                                             "not a FITS file", "not base64", "has no event",
                                             "'ra' is not a number"]):  # fmt: skip
                assert any(f"{topic}[0]@{offset}:" in s and reason in s for s in skipped), (
                    offset, skipped)  # fmt: skip
    finally:
        client.disconnect()


# -- hub killed and restarted -------------------------------------------------------------


@pytest.mark.parametrize("hub_kind", ["ours", "astropy"])
def test_a_hub_killed_mid_stream_is_waited_for_and_the_new_hubs_clients_get_every_alert(
    hub_kind: str,
    peers_python: Path,
    lockfile: Path,
    tmp_path: Path,
    make_topic: Callable[..., str],
    kafka_url: Callable[..., str],
    run_bridge: Callable[..., AlertBridge],
) -> None:
    topic = make_topic()
    url = kafka_url(topic)

    def batch(first: int, n: int) -> list[VOEvent]:
        return [VOEvent.deserialize(voevent_xml(f"ivo://skyhop.test/s#{i}", i, 1.5))
                for i in range(first, first + n)]  # fmt: skip

    spec = {"topcat": [MTYPE_POINT, MTYPE_ALERT]}
    with hub_process(hub_kind, lockfile, peers_python) as first_hub:
        before = Desktop(peers_python, lockfile, spec)
        try:
            run_bridge(topic)
            _publish(url, *batch(0, 3))
            before.wait(lambda got: len(got) >= 6)
            first_hub.kill()  # like TOPCAT closed: a stale lockfile stays
            _publish(url, *batch(3, 4))  # the bridge reads these with no hub to send to
        finally:
            before.close()
    assert lockfile.exists()
    # The next hub starts elsewhere; its clients register before the bridge can see it.
    second_lock = tmp_path / "second.lock"
    with hub_process(hub_kind, second_lock, peers_python):
        after = Desktop(peers_python, second_lock, spec)
        try:
            publish_lockfile(second_lock, lockfile)
            after.wait(alerts_at_least(4))
            _publish(url, *batch(7, 2))  # and the stream goes on
            after.wait(lambda got: len(got) >= 12)  # 6 x (pointAt, x-hop.alert)
        finally:
            after.close()
    # Each alert once: the first hub's three, then everything else on the second hub.
    assert sorted(a["offset"] for a in before.alerts()) == ["0", "1", "2"]
    assert sorted(a["offset"] for a in after.alerts()) == ["3", "4", "5", "6", "7", "8"]
    points = sorted(float(g["params"]["ra"]) for g in after.got if g["mtype"] == MTYPE_POINT)
    assert points == [float(i) for i in range(3, 9)]


# -- bridge SIGKILLed and restarted ----------------------------------------------------------


def _memory_keys(path: Path) -> int:
    if not path.exists():
        return 0
    return max(0, len([ln for ln in path.read_bytes().split(b"\n")[1:] if ln]))


class _BridgeProcess:
    def __init__(self, args: list[str], log: Path) -> None:
        self._log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hop.cli", "samp", "bridge", *args],
            stdout=self._log, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)
        self._log.close()

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(60)
        self._log.close()
        return code


def test_a_sigkilled_bridge_restarted_loses_nothing_and_repeats_nothing_the_hub_took(
    our_hub: SAMPHubServer,
    lockfile: Path,
    tmp_path: Path,
    make_topic: Callable[..., str],
    kafka_url: Callable[..., str],
    unique_group: str,
) -> None:
    topic = make_topic()
    url = kafka_url(topic)
    memory = tmp_path / "forwarded"
    log = tmp_path / "bridge.log"
    args = [url, "--no-auth", "-s", "EARLIEST", "-g", unique_group, "--hub-url", str(lockfile),
            "--cache-dir", str(tmp_path / "maps"), "--memory-file", str(memory), "-v"]  # fmt: skip
    events = [VOEvent.deserialize(voevent_xml(f"ivo://skyhop.test/k#{i}", i, 2.0))
              for i in range(7)]  # fmt: skip
    packed = [pack(e) for e in events]
    client, inbox = _receiver(our_hub, "monitor", MTYPE_ALERT)
    try:
        bridge = _BridgeProcess(args, log)
        _publish(url, *packed[:3])
        inbox.wait_for(3, timeout=60)
        wait_until(lambda: _memory_keys(memory) == 3, timeout=30)
        bridge.kill()  # maybe before its offsets reached the broker
        # While it is dead: new alerts, and a resend of alert 1 (same _id, new offset),
        # as a RobustProducer makes when it cannot tell whether the broker had it.
        _publish(url, *packed[3:], packed[1])
        bridge = _BridgeProcess(args, log)
        inbox.wait_for(7, timeout=60)
        wait_until(lambda: f"already forwarded {topic}[0]@7" in log.read_text(), timeout=60)
        assert bridge.terminate() == 0
    finally:
        client.disconnect()
    ids = [p["id"] for p in _alert_params(inbox)]
    assert sorted(ids) == sorted(str(uuid.UUID(bytes=dict(h)["_id"])) for _, h in packed)
    assert len(set(ids)) == len(ids) == 7
    assert "Traceback" not in log.read_text()


# -- options -------------------------------------------------------------------------------


def test_to_sends_only_to_the_named_client_and_filters_apply(
    our_hub: SAMPHubServer,
    make_topic: Callable[..., str],
    kafka_url: Callable[..., str],
    run_bridge: Callable[..., AlertBridge],
) -> None:
    topic = make_topic(config=BIG)
    quiet = _sample_igwn(superevent_id="S240501x")
    quiet["event"].update(significant=False, far=7e-7)
    significant = _sample_igwn(superevent_id="S240501y")
    aladin, aladin_box = _receiver(our_hub, "aladin")
    topcat, topcat_box = _receiver(our_hub, "topcat")
    try:
        run_bridge(topic, to="topcat", test=False, significant_only=True)
        _publish(
            kafka_url(topic),
            JSONBlob(_sample_igwn()),  # a mock (MS...): a test alert
            JSONBlob(quiet),  # not significant
            (b"<x/>", [("_test", b"true")]),  # marked as a test
            VOEvent.deserialize(voevent_xml("ivo://skyhop.test/t#1", 1, 2, role="test")),
            JSONBlob(significant),
            VOEvent.deserialize(voevent_xml("ivo://skyhop.test/o#1", 5.0, 6.0)),
        )
        topcat_box.wait_for(4)  # 2 x (pointAt, x-hop.alert)
        assert [p["offset"] for p in _alert_params(topcat_box)] == ["4", "5"]
        assert aladin_box.items == []
    finally:
        aladin.disconnect()
        topcat.disconnect()


def test_alerts_wait_for_a_listening_client_and_hop_samp_monitor_follows_the_stream(
    our_hub: SAMPHubServer,
    lockfile: Path,
    make_topic: Callable[..., str],
    kafka_url: Callable[..., str],
    run_bridge: Callable[..., AlertBridge],
) -> None:
    topic = make_topic()
    forwarded: list[ForwardedAlert] = []
    run_bridge(topic, on_forward=forwarded.append)
    _publish(kafka_url(topic), VOEvent.deserialize(voevent_xml("ivo://skyhop.test/w#1", 7, 8)))
    time.sleep(0.5)  # nobody listens yet: the alert must be held, not dropped
    assert forwarded == []
    monitor = subprocess.Popen(
        [sys.executable, "-m", "hop.samp.cli", "monitor", "--mtype", MTYPE_ALERT, "--count", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        out, _ = monitor.communicate(timeout=60)
    finally:
        if monitor.poll() is None:
            monitor.kill()
    assert monitor.returncode == 0, out
    assert "x-hop.alert" in out and "ivo://skyhop.test/w#1" in out
    assert len(forwarded) == 1


def test_the_bridge_rides_out_a_broker_restart(
    our_hub: SAMPHubServer,
    kafka_broker: Any,
    make_topic: Callable[..., str],
    kafka_url: Callable[..., str],
    run_bridge: Callable[..., AlertBridge],
) -> None:
    topic = make_topic()
    client, inbox = _receiver(our_hub, "topcat")
    try:
        run_bridge(topic)
        _publish(kafka_url(topic), VOEvent.deserialize(voevent_xml("ivo://t/r#0", 1, 1)))
        inbox.wait_for(2)
        kafka_broker.restart()
        _publish(kafka_url(topic), VOEvent.deserialize(voevent_xml("ivo://t/r#1", 2, 2)))
        inbox.wait_for(4, timeout=90)
        assert [p["offset"] for p in _alert_params(inbox)] == ["0", "1"]
    finally:
        client.disconnect()


def test_cli_reports_a_missing_topic_in_one_line(
    kafka_url: Callable[..., str], tmp_path: Path
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hop.cli", "samp", "bridge", kafka_url("no-such-topic-x"),
         "--no-auth", "--memory-file", str(tmp_path / "m"), "--cache-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "hop samp: error: topic 'no-such-topic-x' does not exist" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_stop_returns_promptly_while_an_alert_waits_for_a_hub(
    make_topic: Callable[..., str], run_bridge: Callable[..., AlertBridge], kafka_url: Any
) -> None:
    topic = make_topic()
    bridge = run_bridge(topic)
    _publish(kafka_url(topic), VOEvent.deserialize(voevent_xml("ivo://t/n#0", 1, 1)))
    wait_until(lambda: bridge.hub._wait.since is not None)  # waiting for a hub
    stopper = threading.Thread(target=bridge.stop)
    started = time.monotonic()
    stopper.start()
    stopper.join(30)
    assert not stopper.is_alive() and time.monotonic() - started < 15
    assert not bridge.running
