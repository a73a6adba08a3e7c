"""The alert bridge: Kafka alert streams to the desktop's SAMP tools.

``hop samp bridge URL [URL ...]`` on the command line, or in Python::

    from hop.samp.bridge import AlertBridge

    with AlertBridge("kafka://kafka.scimma.org/igwn.gwalert", significant_only=True) as bridge:
        bridge.wait()

Each alert becomes standard SAMP notifications, so Aladin, TOPCAT and DS9 react:

===========================  ==============================================================
``image.load.fits``          an IGWN alert's sky map, flattened to one HEALPix order
``coverage.load.moc.fits``   its 90% credible region as an IVOA MOC
``coord.pointAt.sky``        the most probable pixel; a VOEvent's or GCN notice's position
``x-hop.alert``              every alert: topic, partition, offset, timestamp, format, id,
                             summary (all strings)
===========================  ==============================================================

The bridge needs the optional extra ``skyhop[bridge]`` (astropy, mocpy, numpy);
importing this module does not (the check is made when a bridge is created).
"""

from __future__ import annotations

from hop.samp.bridge._bridge import AlertBridge, ForwardedAlert
from hop.samp.bridge._hublink import BRIDGE_NAME
from hop.samp.bridge._messages import (
    BRIDGE_MTYPES,
    MTYPE_ALERT,
    MTYPE_IMAGE,
    MTYPE_MOC,
    MTYPE_POINT,
    Origin,
    SkyMapFiles,
)

__all__ = [
    "BRIDGE_MTYPES",
    "BRIDGE_NAME",
    "MTYPE_ALERT",
    "MTYPE_IMAGE",
    "MTYPE_MOC",
    "MTYPE_POINT",
    "AlertBridge",
    "ForwardedAlert",
    "Origin",
    "SkyMapFiles",
]
