"""What each alert becomes: SAMP notifications with the standard MTypes.

* a sky map: ``image.load.fits`` (the flattened map), then ``coverage.load.moc.fits``
  (the 90% region), then ``coord.pointAt.sky`` at the most probable pixel;
* a position (VOEvent, GCN notice): ``coord.pointAt.sky``;
* every alert, last: ``x-hop.alert`` with where it came from and a summary.

Every value is a string, as SAMP wants (numbers in their shortest exact form).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from hop.samp.bridge._alerts import Alert

__all__ = [
    "BRIDGE_MTYPES",
    "MTYPE_ALERT",
    "MTYPE_IMAGE",
    "MTYPE_MOC",
    "MTYPE_POINT",
    "Origin",
    "SkyMapFiles",
    "build_messages",
]

MTYPE_IMAGE = "image.load.fits"
MTYPE_MOC = "coverage.load.moc.fits"
MTYPE_POINT = "coord.pointAt.sky"
MTYPE_ALERT = "x-hop.alert"
BRIDGE_MTYPES = (MTYPE_IMAGE, MTYPE_MOC, MTYPE_POINT, MTYPE_ALERT)
"""Every MType the bridge sends, in the order it sends them."""


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a message was read."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    """Kafka timestamp, ms since the Unix epoch (0 or less when unknown)."""
    format: str
    """hop's format name (``voevent``, ``json``, ``circular``...)."""
    id: str
    """The ``_id`` header as a UUID string, or empty."""

    @property
    def where(self) -> str:
        """``topic[partition]@offset``."""
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclass(frozen=True, slots=True)
class SkyMapFiles:
    """The files made from an alert's sky map."""

    stem: str
    """The files' common stem; also the ``image-id``."""
    name: str
    """What tools show, e.g. ``MS181101ab PRELIMINARY``."""
    flat: Path
    """Single-order HEALPix map."""
    moc: Path
    """90% credible region."""
    multiorder: Path
    """The alert's own sky map."""


def _timestamp(ms: int) -> str:
    if ms <= 0:
        return ""
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _message(mtype: str, **params: str) -> dict[str, object]:
    return {"samp.mtype": mtype, "samp.params": params}


def build_messages(
    alert: Alert,
    origin: Origin,
    *,
    point: tuple[float, float] | None,
    files: SkyMapFiles | None,
) -> list[dict[str, object]]:
    """The notifications for one alert, in the order they are sent.

    Parameters
    ----------
    alert : Alert
        What the alert says.
    origin : Origin
        Where it was read.
    point : (ra, dec) or None
        ICRS degrees to point at.
    files : SkyMapFiles or None
        The sky map's files, for an IGWN alert that has one.
    """
    messages: list[dict[str, object]] = []
    if files is not None:
        messages.append(_message(MTYPE_IMAGE, url=files.flat.as_uri(), name=files.name,
                                 **{"image-id": files.stem}))  # fmt: skip
        messages.append(_message(MTYPE_MOC, url=files.moc.as_uri(), name=f"{files.name} 90%"))
    if point is not None:
        messages.append(_message(MTYPE_POINT, ra=repr(point[0]), dec=repr(point[1])))
    messages.append(
        _message(
            MTYPE_ALERT,
            topic=origin.topic,
            partition=str(origin.partition),
            offset=str(origin.offset),
            timestamp=_timestamp(origin.timestamp_ms),
            format=origin.format,
            id=origin.id,
            summary=_ascii(alert.summary),
            kind=alert.kind,
            event=_ascii(alert.event),
        )
    )
    return messages


def _ascii(text: str) -> str:
    # SAMP strings are ASCII (0x09, 0x0a, 0x0d, 0x20-0x7f); strict hubs reject others.
    out = "".join(c if c in "\t\n\r" or " " <= c <= "\x7f" else "?" for c in text)
    return out
