"""Constants of the SAMP 1.3 standard used by the hub and the clients."""

from __future__ import annotations

__all__ = [
    "SAFE_MTYPES",
    "SAMP_STATUS_ERROR",
    "SAMP_STATUS_OK",
    "SAMP_STATUS_WARNING",
]

#: ``samp.status`` of a successful response.
SAMP_STATUS_OK = "samp.ok"
#: ``samp.status`` of a response that succeeded with a problem (carries ``samp.error``).
SAMP_STATUS_WARNING = "samp.warning"
#: ``samp.status`` of a failed response (carries ``samp.error``).
SAMP_STATUS_ERROR = "samp.error"

#: MType patterns a Web Profile client may send without a recipient opting in
#: (a recipient opts in per subscription with ``x-samp.mostly-harmless = "1"``).
SAFE_MTYPES: tuple[str, ...] = (
    "samp.app.*",
    "samp.msg.progress",
    "table.*",
    "image.*",
    "coord.*",
    "spectrum.*",
    "bibcode.*",
    "voresource.*",
    "coverage.*",
)

PROFILE_VERSION = "1.3"
DEFAULT_WEB_PORT = 21012

# Fault codes sent by the hub; the same numbers astropy's hub uses, so that code
# matching on them keeps working.
FAULT_GENERIC = 1
FAULT_NOT_SUBSCRIBED = 2
FAULT_NO_MTYPE = 3
FAULT_BAD_KEY = 5
FAULT_BAD_CLIENT_ID = 6
FAULT_BAD_SECRET = 7
FAULT_REFUSED = 403

# Hub administrative MTypes.
MTYPE_REGISTER = "samp.hub.event.register"
MTYPE_UNREGISTER = "samp.hub.event.unregister"
MTYPE_METADATA = "samp.hub.event.metadata"
MTYPE_SUBSCRIPTIONS = "samp.hub.event.subscriptions"
MTYPE_SHUTDOWN = "samp.hub.event.shutdown"
MTYPE_DISCONNECT = "samp.hub.disconnect"
MTYPE_PING = "samp.app.ping"
