"""What an alert says, read from its model: kind, name, sky position, sky map.

This module only reads the models hop decodes (VOEvent, GCN text notice, JSON,
Avro); it needs neither numpy nor astropy, so it can be tested and used without the
bridge's extra. A position is kept in the frame the alert gives it in; conversion to
ICRS is :mod:`hop.samp.bridge._coords`' job.

An alert whose fields are present but wrong (a Position2D without coordinates, an
IGWN alert without its event, a sky map that is not base64) raises
:class:`MalformedAlert`; the bridge logs it with the message's position and skips it.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hop.models import AvroBlob, GCNCircular, GCNTextNotice, JSONBlob, MessageModel, VOEvent

__all__ = ["Alert", "MalformedAlert", "SkyPosition", "read_alert"]

#: Frames :mod:`hop.samp.bridge._coords` converts to ICRS.
FRAMES = ("icrs", "fk5", "fk4", "galactic", "ecliptic", "supergalactic")


class MalformedAlert(ValueError):
    """An alert that cannot be forwarded: the message says which field is wrong."""


@dataclass(frozen=True, slots=True)
class SkyPosition:
    """A position on the sky as the alert gives it."""

    lon: float
    """Longitude (RA for equatorial frames), degrees."""
    lat: float
    """Latitude (Dec for equatorial frames), degrees."""
    frame: str = "icrs"
    """One of :data:`FRAMES`."""
    equinox: str | None = None
    """``J2000``, ``B1950``...: for fk5, fk4 and ecliptic; None for the frame's default."""
    error_deg: float | None = None
    """Radius of the error circle, degrees, when the alert gives one."""


@dataclass(frozen=True, slots=True)
class Alert:
    """The parts of an alert that the bridge forwards."""

    kind: str
    """``igwn``, ``voevent``, ``gcn-text-notice``, ``gcn-json-notice``, ``gcn-circular``
    or ``other``."""
    event: str
    """The event's name: superevent ID, IVORN, circular number... (may be empty)."""
    summary: str
    """One line for people."""
    position: SkyPosition | None = None
    """Where to point, when the alert says (for IGWN alerts: from the sky map)."""
    skymap: bytes | None = None
    """The multi-order sky map (FITS bytes) of an IGWN alert."""
    alert_type: str = ""
    """IGWN ``alert_type`` (``PRELIMINARY``, ``RETRACTION``...) or VOEvent role."""
    retraction: bool = False
    """An IGWN retraction: withdraws an earlier alert; carries no sky map."""
    significant: bool | None = None
    """IGWN ``event.significant``."""
    far: float | None = None
    """IGWN false alarm rate, Hz."""
    test: bool = False
    """A test or mock alert (VOEvent role ``test``, a mock superevent such as ``MS...``)."""


def read_alert(model: MessageModel) -> Alert:
    """Read what the bridge forwards from a decoded message.

    Raises
    ------
    MalformedAlert
        When the alert is of a known kind but a field it needs is missing or wrong.
    """
    if isinstance(model, VOEvent):
        return _voevent(model)
    if isinstance(model, GCNTextNotice):
        return _text_notice(model)
    if isinstance(model, GCNCircular):
        number = str(model.header.get("number", "")).strip()
        subject = str(model.header.get("subject", "")).strip()
        return Alert("gcn-circular", number, f"GCN Circular {number or '?'}: {subject}")
    if isinstance(model, JSONBlob) and isinstance(model.content, Mapping):
        return _json(model.content)
    if isinstance(model, AvroBlob):
        records = model.content if isinstance(model.content, list) else [model.content]
        if len(records) == 1 and isinstance(records[0], Mapping) and _is_igwn(records[0]):
            return _igwn(records[0])
    return Alert("other", "", f"{type(model).__name__} message")


# -- VOEvent ------------------------------------------------------------------------


def _text(value: Any) -> str:
    """The text of an XML element as hop's VOEvent model holds it."""
    if isinstance(value, Mapping):
        value = value.get("#text", "")
    if value is None:
        return ""
    return str(value).strip()


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _number(value: Any, what: str) -> float:
    text = _text(value) if not isinstance(value, int | float) else value
    try:
        number = float(text)
    except (TypeError, ValueError) as exc:
        raise MalformedAlert(f"{what} is not a number: {text!r}") from exc
    if not math.isfinite(number):
        raise MalformedAlert(f"{what} is not finite: {text!r}")
    return number


# STC coordinate system IDs (VOEvent 2.0, section 3.3): TIME-SPACE-REFPOS, e.g.
# UTC-FK5-GEO, TT-ICRS-TOPO, UTC-GAL-TOPO.
_STC_FRAMES = {
    "ICRS": ("icrs", None),
    "FK5": ("fk5", "J2000"),
    "FK4": ("fk4", "B1950"),
    "GAL": ("galactic", None),
    "GALACTIC": ("galactic", None),
    "GALACTIC_II": ("galactic", None),
    "ECL": ("ecliptic", "J2000"),
    "ECLIPTIC": ("ecliptic", "J2000"),
    "SGAL": ("supergalactic", None),
    "SUPER_GALACTIC": ("supergalactic", None),
    "SUPERGALACTIC": ("supergalactic", None),
}
_UNIT_DEG = {"deg": 1.0, "degree": 1.0, "degrees": 1.0, "rad": 180.0 / math.pi,
             "arcmin": 1 / 60.0, "arcsec": 1 / 3600.0}  # fmt: skip


def _stc_frame(system: str) -> tuple[str, str | None]:
    for part in system.upper().split("-"):
        if part in _STC_FRAMES:
            return _STC_FRAMES[part]
    raise MalformedAlert(f"VOEvent coordinate system {system!r} is not one skyhop knows")


def _voevent_position(event: VOEvent) -> SkyPosition | None:
    where = event.WhereWhen if isinstance(event.WhereWhen, Mapping) else {}
    locations = where.get("ObsDataLocation")
    for location in locations if isinstance(locations, list) else [locations]:
        if not isinstance(location, Mapping):
            continue
        observation = location.get("ObservationLocation")
        if not isinstance(observation, Mapping):
            continue
        coords = _first(observation.get("AstroCoords"))
        if not isinstance(coords, Mapping) or "Position2D" not in coords:
            continue
        position = _first(coords["Position2D"])
        if not isinstance(position, Mapping):
            raise MalformedAlert("VOEvent Position2D is empty")
        system = _first(observation.get("AstroCoordSystem"))
        system_id = _text(system.get("id")) if isinstance(system, Mapping) else ""
        system_id = system_id or _text(coords.get("coord_system_id"))
        frame, equinox = _stc_frame(system_id) if system_id else ("icrs", None)
        unit = _text(position.get("unit")) or "deg"
        scale = _UNIT_DEG.get(unit.lower())
        if scale is None:
            raise MalformedAlert(f"VOEvent Position2D has unit {unit!r}, not deg or rad")
        value = position.get("Value2")
        if not isinstance(value, Mapping) or "C1" not in value or "C2" not in value:
            raise MalformedAlert("VOEvent Position2D has no Value2 with C1 and C2")
        lon = _number(value["C1"], "VOEvent Position2D C1") * scale
        lat = _number(value["C2"], "VOEvent Position2D C2") * scale
        if not -90.0 <= lat <= 90.0:
            raise MalformedAlert(f"VOEvent Position2D latitude {lat} is outside [-90, 90]")
        error = None
        if "Error2Radius" in position:
            error = _number(position["Error2Radius"], "VOEvent Error2Radius") * scale
        return SkyPosition(lon % 360.0, lat, frame, equinox, error)
    return None


def _voevent(event: VOEvent) -> Alert:
    role = str(event.role or "observation")
    position = _voevent_position(event)
    where = ""
    if position is not None:
        where = f" at {position.frame.upper()} {position.lon:.5f} {position.lat:+.5f}"
    return Alert(
        "voevent",
        event.ivorn,
        f"VOEvent {event.ivorn} ({role}){where}",
        position=position,
        alert_type=role,
        test=role == "test",
    )


# -- GCN text notices ---------------------------------------------------------------

_RA_KEYS = ("src_ra", "grb_ra", "evt_ra", "ra")
_DEC_KEYS = ("src_dec", "grb_dec", "evt_dec", "dec")
_ERROR_KEYS = ("src_error", "grb_error", "evt_error", "error")
# "103.7861d {+06h 55m 09s} (J2000)," -- the degrees, then the epoch in parentheses.
_DEGREES = re.compile(r"([+-]?\d+(?:\.\d*)?)d\b[^(\n]*(?:\(([^)]*)\))?")
_ERROR = re.compile(r"([+-]?\d+(?:\.\d*)?)\s*\[?\s*(arcmin|arcsec|deg)?", re.IGNORECASE)


def _notice_angle(text: str, what: str) -> float:
    found = [(float(m.group(1)), (m.group(2) or "").strip()) for m in _DEGREES.finditer(text)]
    if not found:
        raise MalformedAlert(f"GCN notice {what} {text.splitlines()[0]!r} has no degrees")
    for value, epoch in found:
        if epoch.upper() == "J2000":
            return value
    return found[0][0]


def _text_notice(notice: GCNTextNotice) -> Alert:
    fields = notice.fields
    title = fields.get("notice_type") or fields.get("title") or "GCN notice"
    event = fields.get("trigger_num") or fields.get("event_num") or ""
    event = event.split(",")[0].strip()
    ra_key = next((k for k in _RA_KEYS if k in fields), None)
    dec_key = next((k for k in _DEC_KEYS if k in fields), None)
    position = None
    if ra_key and dec_key:
        ra = _notice_angle(fields[ra_key], ra_key.upper())
        dec = _notice_angle(fields[dec_key], dec_key.upper())
        if not -90.0 <= dec <= 90.0:
            raise MalformedAlert(f"GCN notice {dec_key.upper()} {dec} is outside [-90, 90]")
        error = None
        error_key = next((k for k in _ERROR_KEYS if k in fields), None)
        if error_key:
            match = _ERROR.match(fields[error_key].strip())
            if match:
                unit = (match.group(2) or "deg").lower()
                error = float(match.group(1)) * _UNIT_DEG[unit]
        # Classic notices give J2000 coordinates (FK5 at equinox J2000).
        position = SkyPosition(ra % 360.0, dec, "fk5", "J2000", error)
    summary = title.strip() + (f" {event}" if event else "")
    if position is not None:
        summary += f" at RA {position.lon:.4f} Dec {position.lat:+.4f}"
    return Alert("gcn-text-notice", event, summary, position=position)


# -- JSON: IGWN alerts and GCN unified-schema notices --------------------------------


def _is_igwn(content: Mapping[str, Any]) -> bool:
    return "superevent_id" in content and "alert_type" in content


def _json(content: Mapping[str, Any]) -> Alert:
    if _is_igwn(content):
        return _igwn(content)
    if "ra" in content and "dec" in content and content["ra"] is not None:
        return _json_notice(content)
    return Alert("other", "", "JSON message")


def _json_notice(content: Mapping[str, Any]) -> Alert:
    ra = _number(content["ra"], "GCN notice 'ra'")
    dec = _number(content["dec"], "GCN notice 'dec'")
    if not -90.0 <= dec <= 90.0:
        raise MalformedAlert(f"GCN notice 'dec' {dec} is outside [-90, 90]")
    error = content.get("ra_dec_error")
    error_deg = _number(error, "GCN notice 'ra_dec_error'") if error is not None else None
    ids = content.get("id")
    event = str(ids[0] if isinstance(ids, list) and ids else ids or "")
    who = " ".join(str(content[k]) for k in ("mission", "instrument") if content.get(k))
    kind = str(content.get("alert_type") or "")
    head = " ".join(part for part in ("GCN notice", who, kind, event) if part)
    # The unified schema gives ICRS coordinates.
    position = SkyPosition(ra % 360.0, dec, "icrs", None, error_deg)
    return Alert(
        "gcn-json-notice",
        event,
        f"{head} at RA {ra:.4f} Dec {dec:+.4f}",
        position=position,
        alert_type=kind,
    )


def _skymap_bytes(value: Any, superevent: str) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)  # Avro alerts carry the bytes themselves
    if not isinstance(value, str):
        raise MalformedAlert(f"IGWN alert {superevent}: skymap is a {type(value).__name__}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedAlert(f"IGWN alert {superevent}: skymap is not base64 ({exc})") from exc


def _igwn(content: Mapping[str, Any]) -> Alert:
    superevent = str(content.get("superevent_id") or "")
    if not superevent:
        raise MalformedAlert("IGWN alert has an empty superevent_id")
    alert_type = str(content.get("alert_type") or "").upper()
    # Production superevents are S...; MS (mock), TS (test) and the like are tests.
    test = not superevent.startswith("S")
    if alert_type == "RETRACTION":
        return Alert("igwn", superevent, f"IGWN {superevent} RETRACTION", alert_type=alert_type,
                     retraction=True, test=test)  # fmt: skip
    event = content.get("event")
    if not isinstance(event, Mapping):
        raise MalformedAlert(f"IGWN {alert_type or 'alert'} {superevent} has no event")
    significant = event.get("significant")
    far = event.get("far")
    far_hz = _number(far, f"IGWN alert {superevent}: event.far") if far is not None else None
    parts = [f"IGWN {superevent} {alert_type}"]
    if isinstance(significant, bool):
        parts.append("significant" if significant else "low significance")
    if far_hz is not None:
        parts.append(f"FAR {far_hz:.3g} Hz")
    classification = event.get("classification")
    if isinstance(classification, Mapping) and classification:
        best = max(classification.items(), key=lambda kv: kv[1] if _is_real(kv[1]) else -1.0)
        if _is_real(best[1]):
            parts.append(f"{best[0]} {best[1]:.2f}")
    return Alert(
        "igwn",
        superevent,
        ", ".join(parts),
        skymap=_skymap_bytes(event.get("skymap"), superevent),
        alert_type=alert_type,
        significant=significant if isinstance(significant, bool) else None,
        far=far_hz,
        test=test,
    )


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
