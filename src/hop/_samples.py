"""The demo's sample alerts, made here from the models (no data files needed).

Three alerts about one made-up event, as a pipeline would see them: the
gravitational-wave alert with its multi-order sky map, a VOEvent from a telescope that
followed it up with a sky position, and the GCN circular that reports the
counterpart. Every value is invented for the demo (the event names start with ``MS``,
GraceDB's prefix for mock superevents, and the VOEvent's role is ``test``).
"""

from __future__ import annotations

import base64
from typing import Any

from hop._skymap import Pixel, nuniq, pixel_area, write_moc_fits
from hop.models import GCNCircular, JSONBlob, VOEvent

__all__ = ["gcn_circular", "igwn_alert", "sample_alerts", "skymap_fits", "skymap_pixels", "voevent"]

SUPEREVENT = "MS240501x"
EVENT_TIME = "2024-05-01T12:00:00.125Z"

# The sky map: the whole sky at order 0, one pixel of it refined along this path of
# NESTED children (a child index per order), and the four pixels at the end of the
# path at the finest order. The pixels left at each order share LEVEL_SHARES[order]
# of the probability; the finest four share the rest. The path leads to the VOEvent's
# position (RA 51.33, Dec +4.18: NESTED pixel 23274 at order 6).
_BASE_PIXEL = 5
_PATH = (2, 2, 3, 2, 2)
_LEVEL_SHARES = (0.02, 0.03, 0.05, 0.10, 0.15, 0.25)
_CORE_SHARE = 1.0 - sum(_LEVEL_SHARES)
_DISTMU, _DISTSIGMA = 412.0, 96.0


def skymap_pixels() -> list[Pixel]:
    """The sky map's rows, by NUNIQ: 30 pixels of orders 0 to 6 that tile the sphere."""
    weighted = [(0, p, _LEVEL_SHARES[0] / 11) for p in range(12) if p != _BASE_PIXEL]
    refined = _BASE_PIXEL
    for order, step in enumerate(_PATH, start=1):
        children = [4 * refined + i for i in range(4)]
        refined = children[step]
        weighted += [(order, c, _LEVEL_SHARES[order] / 3) for c in children if c != refined]
    finest = len(_PATH) + 1
    weighted += [(finest, 4 * refined + i, _CORE_SHARE / 4) for i in range(4)]
    distnorm = 1.0 / (_DISTMU**2 + _DISTSIGMA**2)
    pixels = [
        Pixel(nuniq(order, ipix), prob / pixel_area(order), _DISTMU, _DISTSIGMA, distnorm)
        for order, ipix, prob in weighted
    ]
    return sorted(pixels, key=lambda px: px.uniq)


def skymap_fits() -> bytes:
    """The sky map as a multi-order FITS file (8,640 bytes)."""
    return write_moc_fits(
        skymap_pixels(),
        [
            ("OBJECT", SUPEREVENT, "Unique identifier for this event"),
            ("DATE-OBS", EVENT_TIME.rstrip("Z"), "UTC date of the observation"),
            ("MJD-OBS", 60431.50000144676, "modified Julian date of the observation"),
            ("CREATOR", "skyhop.demo", "Program that created this file"),
            ("ORIGIN", "skyhop demo", "Made up for the demo; not a real event"),
            ("DISTMEAN", _DISTMU, "Posterior mean distance (Mpc)"),
            ("DISTSTD", _DISTSIGMA, "Posterior standard deviation of distance (Mpc)"),
        ],
    )


def igwn_alert() -> JSONBlob:
    """An IGWN alert (PRELIMINARY) in the JSON form GraceDB sends over Kafka."""
    content: dict[str, Any] = {
        "alert_type": "PRELIMINARY",
        "time_created": "2024-05-01T12:00:41Z",
        "superevent_id": SUPEREVENT,
        "urls": {"gracedb": f"https://gracedb.example.org/superevents/{SUPEREVENT}/view/"},
        "event": {
            "significant": True,
            "time": EVENT_TIME,
            "far": 3.2e-10,
            "instruments": ["H1", "L1", "V1"],
            "group": "CBC",
            "pipeline": "skyhop-demo",
            "search": "MDC",
            "properties": {"HasNS": 0.98, "HasRemnant": 0.92, "HasMassGap": 0.02},
            "classification": {"BNS": 0.93, "NSBH": 0.05, "BBH": 0.0, "Terrestrial": 0.02},
            "skymap": base64.b64encode(skymap_fits()).decode("ascii"),
        },
        "external_coinc": None,
    }
    return JSONBlob(content=content)


def voevent() -> VOEvent:
    """A telescope's VOEvent: an optical transient found in the sky map, with its position."""
    coords = {
        "coord_system_id": "UTC-FK5-TOPO",
        "Time": {"unit": "s", "TimeInstant": {"ISOTime": "2024-05-01T13:42:10.50"}},
        "Position2D": {
            "unit": "deg",
            "Name1": "RA",
            "Name2": "Dec",
            "Value2": {"C1": "51.3281", "C2": "4.1837"},
            "Error2Radius": "0.0003",
        },
    }
    return VOEvent(
        ivorn="ivo://skyhop.example/demo#MS240501x-AT1",
        role="test",
        Who={
            "AuthorIVORN": "ivo://skyhop.example/demo",
            "Date": "2024-05-01T13:45:00",
            "Author": {"shortName": "skyhop demo telescope", "contactName": "Demo Observer"},
        },
        What={
            "Param": [
                {"name": "superevent", "value": SUPEREVENT, "ucd": "meta.id"},
                {"name": "magnitude", "value": "19.84", "unit": "mag", "ucd": "phot.mag;em.opt.r"},
                {"name": "filter", "value": "r", "ucd": "instr.filter"},
                {"name": "probability_in_skymap", "value": "0.62", "ucd": "stat.probability"},
            ]
        },
        WhereWhen={
            "ObsDataLocation": {
                "ObservatoryLocation": {"id": "GEOSURFACE"},
                "ObservationLocation": {
                    "AstroCoordSystem": {"id": "UTC-FK5-TOPO"},
                    "AstroCoords": coords,
                },
            }
        },
        How={"Description": "Made up by skyhop's demo; not a real observation."},
        Why={"importance": "0.9", "Inference": {"probability": "0.8", "Concept": "kilonova"}},
    )


def gcn_circular() -> GCNCircular:
    """The GCN circular that reports the counterpart."""
    return GCNCircular(
        header={
            "title": "GCN CIRCULAR",
            "number": "90001",
            "subject": f"LIGO/Virgo/KAGRA {SUPEREVENT}: optical counterpart candidate AT1",
            "date": "24/05/01 14:02:55 GMT",
            "from": "Demo Observer at skyhop <demo@skyhop.example>",
        },
        body=(
            "Demo Observer (skyhop) reports:\n\n"
            f"We observed the localisation of the gravitational-wave candidate {SUPEREVENT}\n"
            "(an alert made up for the skyhop demo) and found a new source at\n\n"
            "  RA, Dec = 03:25:18.74 +04:11:01.3 (J2000), r = 19.84 +/- 0.05 mag\n\n"
            "about 1.7 hours after the merger. It is not in archival images.\n"
            "Follow-up observations are encouraged.\n"
        ),
    )


def sample_alerts() -> list[tuple[str, Any]]:
    """The three alerts in the order the demo publishes them, with a short label each."""
    return [
        ("IGWN alert", igwn_alert()),
        ("VOEvent", voevent()),
        ("GCN circular", gcn_circular()),
    ]
