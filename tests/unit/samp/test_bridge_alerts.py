"""What the bridge reads from each kind of alert (no broker, no hub)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _alerts import gcn_json_notice, voevent_xml
from _data import HOP_CLIENT, IGWN, needs_testdata
from hop.models import AvroBlob, Blob, GCNCircular, GCNTextNotice, JSONBlob, VOEvent
from hop.samp.bridge._alerts import MalformedAlert, read_alert


def _igwn(name: str) -> dict[str, Any]:
    return json.loads((IGWN / f"{name}.json").read_text())


def test_voevent_position_is_read_in_its_frame_with_its_error() -> None:
    alert = read_alert(VOEvent.deserialize(voevent_xml("ivo://t/a#1", "51.328123456789", -4.5,
                                                       system="UTC-FK5-GEO", error=0.02)))
    assert alert.kind == "voevent" and alert.event == "ivo://t/a#1"
    pos = alert.position
    assert pos is not None
    assert (pos.lon, pos.lat, pos.frame, pos.equinox, pos.error_deg) == (
        51.328123456789, -4.5, "fk5", "J2000", 0.02)  # fmt: skip
    assert "51.32812" in alert.summary


@pytest.mark.parametrize(
    ("system", "frame"),
    [("UTC-ICRS-TOPO", "icrs"), ("TT-FK4-GEO", "fk4"), ("UTC-GAL-TOPO", "galactic"),
     ("UTC-GALACTIC_II-TOPO", "galactic"), ("UTC-ECLIPTIC-BARY", "ecliptic"),
     ("UTC-SUPER_GALACTIC-TOPO", "supergalactic")],
)  # fmt: skip
def test_voevent_coordinate_systems_name_their_frame(system: str, frame: str) -> None:
    alert = read_alert(VOEvent.deserialize(voevent_xml("ivo://t/a#2", 10, 20, system=system)))
    assert alert.position is not None and alert.position.frame == frame


def test_voevent_in_radians_is_read_in_degrees() -> None:
    alert = read_alert(VOEvent.deserialize(voevent_xml("ivo://t/a#3", 1.0, 0.5, unit="rad")))
    assert alert.position is not None
    assert alert.position.lon == pytest.approx(57.29577951308232)
    assert alert.position.lat == pytest.approx(28.64788975654116)


@needs_testdata
def test_voevent_without_position_has_none_and_role_test_marks_a_test() -> None:
    alert = read_alert(VOEvent.load_file(str(HOP_CLIENT / "example_voevent.xml")))
    assert alert.position is None and not alert.test
    event = VOEvent.deserialize(voevent_xml("ivo://t/a#4", 1, 2, role="test"))
    assert read_alert(event).test


@pytest.mark.parametrize(
    ("c1", "c2", "system", "reason"),
    [("abc", 1, "UTC-ICRS-TOPO", "C1 is not a number"),
     (1, 95, "UTC-ICRS-TOPO", r"outside \[-90, 90\]"),
     (1, 2, "UTC-HELIOSPHERIC-TOPO", "coordinate system"),
     (1, "nan", "UTC-ICRS-TOPO", "not finite")],
)  # fmt: skip
def test_voevent_with_bad_position_is_malformed(c1: Any, c2: Any, system: str, reason: str) -> None:
    event = VOEvent.deserialize(voevent_xml("ivo://t/bad", c1, c2, system=system))
    with pytest.raises(MalformedAlert, match=reason):
        read_alert(event)


def test_voevent_position_without_c2_is_malformed() -> None:
    xml = voevent_xml("ivo://t/bad", 1, 2).replace(b"<C2>2</C2>", b"")
    with pytest.raises(MalformedAlert, match="C1 and C2"):
        read_alert(VOEvent.deserialize(xml))


@needs_testdata
def test_gcn_text_notice_gives_the_j2000_position_and_error() -> None:
    notice = GCNTextNotice.load_file(str(HOP_CLIENT / "example_gcn.txt"))
    alert = read_alert(notice)
    assert alert.kind == "gcn-text-notice" and alert.event == "10803235"
    pos = alert.position
    assert pos is not None
    assert (pos.lon, pos.lat, pos.frame) == (103.7861, 5.8716, "fk5")
    assert pos.error_deg == pytest.approx(69.22 / 60)
    assert "ICECUBE Astrotrack Bronze" in alert.summary


def test_gcn_json_notice_gives_an_icrs_position() -> None:
    alert = read_alert(JSONBlob(gcn_json_notice(210.5, -33.25, 0.1)))
    assert alert.kind == "gcn-json-notice" and alert.event == "trigger-4242"
    assert alert.position is not None
    assert (alert.position.lon, alert.position.lat, alert.position.frame) == (210.5, -33.25, "icrs")
    assert alert.position.error_deg == 0.1
    assert "SkyhopSat XRT" in alert.summary


def test_gcn_json_notice_with_text_for_ra_is_malformed() -> None:
    with pytest.raises(MalformedAlert, match="'ra' is not a number"):
        read_alert(JSONBlob(gcn_json_notice("abc", 1.0)))


@needs_testdata
def test_igwn_alert_gives_its_sky_map_significance_and_far() -> None:
    alert = read_alert(JSONBlob(_igwn("S230528ay-preliminary")))
    assert alert.kind == "igwn" and alert.event == "S230528ay"
    assert alert.alert_type == "PRELIMINARY" and not alert.test
    assert alert.significant is False and alert.far == pytest.approx(7.032685984134245e-07)
    assert alert.skymap is not None and alert.skymap.startswith(b"SIMPLE  =")


@needs_testdata
def test_mock_igwn_alert_is_a_test_and_retraction_has_no_sky_map() -> None:
    assert read_alert(JSONBlob(_igwn("MS181101ab-preliminary"))).test
    retraction = read_alert(JSONBlob(_igwn("MS181101ab-retraction")))
    assert retraction.retraction and retraction.skymap is None and retraction.test


@needs_testdata
def test_igwn_alert_over_avro_carries_sky_map_bytes() -> None:
    content = _igwn("S230528ay-preliminary")
    raw = base64.b64decode(content["event"]["skymap"])
    content["event"]["skymap"] = raw
    assert read_alert(AvroBlob(content)).skymap == raw


@needs_testdata
@pytest.mark.parametrize(
    ("change", "reason"),
    [(lambda c: c.update(event=None), "has no event"),
     (lambda c: c["event"].update(skymap="not base64!"), "not base64"),
     (lambda c: c["event"].update(skymap=42), "skymap is a int"),
     (lambda c: c.update(superevent_id=""), "empty superevent_id")],
)  # fmt: skip
def test_igwn_alert_with_missing_or_wrong_fields_is_malformed(change: Any, reason: str) -> None:
    content = _igwn("S230528ay-preliminary")
    change(content)
    with pytest.raises(MalformedAlert, match=reason):
        read_alert(JSONBlob(content))


@needs_testdata
def test_circulars_and_other_messages_are_described() -> None:
    circular = read_alert(GCNCircular.load_file(str(HOP_CLIENT / "example_gcn.gcn3")))
    assert circular.kind == "gcn-circular" and circular.event == "40"
    assert circular.summary == "GCN Circular 40: GRB980329 VLA observations"
    assert read_alert(Blob(b"\x00\x01")).kind == "other"
    assert read_alert(JSONBlob([1, 2])).kind == "other"


_json = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=12,
)  # fmt: skip
_keys = st.sampled_from(["superevent_id", "alert_type", "event", "ra", "dec", "ra_dec_error",
                         "skymap", "significant", "far", "id"])  # fmt: skip


@settings(deadline=None)  # a shared 2-core machine: time is not what this checks
@given(st.dictionaries(_keys, _json, max_size=6))
def test_any_json_object_is_read_or_rejected_as_malformed(content: dict[str, Any]) -> None:
    try:
        alert = read_alert(JSONBlob(content))
    except MalformedAlert:
        return
    assert alert.kind in ("igwn", "gcn-json-notice", "other")
    assert isinstance(alert.summary, str)
