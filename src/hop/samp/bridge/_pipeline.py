"""One Kafka message in, the SAMP notifications for it out (or a reason to skip it).

The steps, each timed: ``decode`` (bytes to model to :class:`Alert`), and for a sky
map ``read`` (FITS table), ``write`` (files into the cache), ``flatten`` and ``moc``.
Delivery, memory and commits are the bridge's; this class touches only the cache.
"""

from __future__ import annotations

import io
import logging
import time
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hop._codec import _format_header, unpack
from hop._registry import models
from hop.models import MessageModel, format_name
from hop.samp.bridge import _skymap
from hop.samp.bridge._alerts import Alert, MalformedAlert, read_alert
from hop.samp.bridge._cache import SkyMapCache, safe_stem
from hop.samp.bridge._coords import to_icrs
from hop.samp.bridge._messages import Origin, SkyMapFiles, build_messages

__all__ = ["DEFAULT_FLATTEN_ORDER", "Filters", "Pipeline", "Prepared"]

logger = logging.getLogger("hop.samp.bridge")

DEFAULT_FLATTEN_ORDER = 8
"""Finest order of the flattened map (NSIDE 256, 0.23 deg pixels, 6 MB).

The 90% MOC keeps the sky map's own finest order; the flattened map is for display,
and at order 9 it would be four times larger and slower to write and load."""


@dataclass(frozen=True, slots=True)
class Filters:
    """Which alerts are forwarded."""

    test: bool = False
    """Forward test and mock alerts too."""
    significant_only: bool = False
    """IGWN: only alerts whose ``event.significant`` is true (retractions always pass)."""
    far_max: float | None = None
    """IGWN: only alerts with a false alarm rate at most this, in Hz."""

    def reason_to_skip(self, alert: Alert) -> str | None:
        """Why ``alert`` is not forwarded, or None."""
        if alert.test and not self.test:
            return "a test alert (forward them with test=True / --test)"
        if alert.kind != "igwn" or alert.retraction:
            return None
        if self.significant_only and alert.significant is not True:
            return "not significant"
        if self.far_max is not None and (alert.far is None or alert.far > self.far_max):
            return f"FAR {alert.far} Hz is above {self.far_max} Hz"
        return None


@dataclass
class Prepared:
    """An alert ready to be delivered."""

    key: str
    """What the bridge remembers it by: the ``_id``, else ``topic[partition]@offset``."""
    origin: Origin
    alert: Alert
    messages: list[dict[str, object]]
    files: SkyMapFiles | None
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per stage (decode, read, write, flatten, moc)."""


def _id_of(headers: Sequence[tuple[str, Any]]) -> bytes | None:
    for name, value in headers:
        if name == "_id" and isinstance(value, bytes | bytearray) and value:
            return bytes(value)
    return None


def decode(value: bytes | None, headers: Sequence[tuple[str, Any]], where: str) -> MessageModel:
    """Decode a message like a hop reader, but raise for a model that cannot decode it.

    A reader turns such a message into a Blob so that the stream goes on; the bridge
    wants to say which alert was malformed and skip it.
    """
    fmt = _format_header(headers)
    if fmt is not None:
        name = fmt.decode("utf-8", "replace") if isinstance(fmt, bytes | bytearray) else str(fmt)
        cls = models().get(name.upper())
        if cls is not None:
            try:
                return cls.deserialize(value if value is not None else b"")
            except Exception as exc:
                raise MalformedAlert(f"cannot be decoded as {name}: {exc}") from exc
    return unpack(value, headers, where)


class Pipeline:
    """Turns messages into :class:`Prepared` alerts.

    Parameters
    ----------
    cache : SkyMapCache
        Where sky map files go.
    filters : Filters
        Which alerts to forward.
    flatten_order : int
        Finest order of the flattened sky map.
    """

    def __init__(
        self, cache: SkyMapCache, filters: Filters, flatten_order: int = DEFAULT_FLATTEN_ORDER
    ) -> None:
        if not 0 <= flatten_order <= 13:
            raise ValueError(f"flatten_order must be between 0 and 13, not {flatten_order}")
        self.cache = cache
        self.filters = filters
        self.flatten_order = flatten_order

    @staticmethod
    def origin(meta: Any, model: MessageModel | None = None) -> Origin:
        """Where a message was read, from its :class:`hop.io.Metadata`."""
        raw_id = _id_of(meta.headers or [])
        text_id = ""
        if raw_id is not None:
            text_id = str(uuid.UUID(bytes=raw_id)) if len(raw_id) == 16 else raw_id.hex()
        fmt = format_name(type(model)) if model is not None else ""
        return Origin(meta.topic, meta.partition, meta.offset, meta.timestamp, fmt, text_id)

    @staticmethod
    def key(meta: Any) -> str:
        """The key an alert is remembered by."""
        raw_id = _id_of(meta.headers or [])
        if raw_id is not None:
            return "id:" + raw_id.hex()
        return f"at:{meta.topic}[{meta.partition}]@{meta.offset}"

    def prepare(self, value: bytes | None, meta: Any) -> tuple[Prepared | None, str]:
        """Decode and read one message; make its files and notifications.

        Returns
        -------
        (Prepared or None, str)
            None with the reason when the alert is not forwarded.

        Raises
        ------
        MalformedAlert
            When the message is not a valid alert.
        """
        timings: dict[str, float] = {}
        started = time.perf_counter()
        where = f"{meta.topic}[{meta.partition}]@{meta.offset}"
        model = decode(value, meta.headers or [], where)
        alert = read_alert(model)
        timings["decode"] = time.perf_counter() - started
        skip = self.filters.reason_to_skip(alert)
        if skip is not None:
            return None, skip
        origin = self.origin(meta, model)
        key = self.key(meta)
        files: SkyMapFiles | None = None
        point: tuple[float, float] | None = None
        if alert.skymap is not None and not alert.retraction:
            files, point = self._skymap_files(alert, key, timings)
        elif alert.position is not None:
            point = to_icrs(alert.position)
        messages = build_messages(alert, origin, point=point, files=files)
        return Prepared(key, origin, alert, messages, files, timings), ""

    def _skymap_files(
        self, alert: Alert, key: str, timings: dict[str, float]
    ) -> tuple[SkyMapFiles, tuple[float, float]]:
        assert alert.skymap is not None
        timed = _skymap.timed
        skymap = timed(timings, "read", _skymap.read_skymap, alert.skymap)
        event = skymap.object or alert.event or "skymap"
        skymap.object = event  # some maps have no OBJECT card: the files carry the event's
        stem = safe_stem(event, alert.alert_type or "alert", f"{zlib.crc32(key.encode()):08x}")
        cache = self.cache
        multiorder = timed(timings, "write", cache.write, stem, ".multiorder.fits", alert.skymap)
        order = min(skymap.max_order, self.flatten_order)
        flat = timed(timings, "flatten", _skymap.flatten, skymap, order)
        data = timed(timings, "flatten", _skymap.flat_fits, skymap, flat, order)
        flat_path = timed(timings, "write", cache.write, stem, ".fits", data)
        moc = timed(timings, "moc", _skymap.credible_moc, skymap)
        moc_bytes = timed(timings, "moc", _moc_fits, moc, event)
        moc_path = timed(timings, "write", cache.write, stem, ".moc.fits", moc_bytes)
        point = _skymap.peak(skymap)
        removed = cache.trim(keep=stem)
        if removed:
            logger.debug("sky map cache full: removed %s", ", ".join(removed))
        name = f"{event} {alert.alert_type}".strip()
        return SkyMapFiles(stem, name, flat_path, moc_path, multiorder), point


def _moc_fits(moc: Any, event: str) -> bytes:
    # NUNIQ ordering (v1-compatible): what every MOC reader, old or new, understands.
    hdus = moc.serialize(format="fits", optional_kw_dict={"OBJECT": event}, v1_compatible=True)
    out = io.BytesIO()
    hdus.writeto(out)
    return out.getvalue()
