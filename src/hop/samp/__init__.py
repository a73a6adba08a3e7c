"""SAMP (IVOA Simple Application Messaging Protocol 1.3): a hub and clients.

A replacement for ``astropy.samp`` / ``pyvo.samp`` with the same public names::

    from hop.samp import SAMPHubServer, SAMPIntegratedClient

    with SAMPHubServer(web_profile=False) as hub, SAMPIntegratedClient("me") as client:
        client.enotify_all("table.load.votable", url="http://example.org/t.xml")

Importing :mod:`hop.samp` is cheap: the hub and client modules (and their XML-RPC and
HTTP dependencies) load on first use of a name.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from hop.samp._constants import (
    SAFE_MTYPES,
    SAMP_STATUS_ERROR,
    SAMP_STATUS_OK,
    SAMP_STATUS_WARNING,
)

__all__ = [
    "SAFE_MTYPES",
    "SAMP_STATUS_ERROR",
    "SAMP_STATUS_OK",
    "SAMP_STATUS_WARNING",
    "SAMPClient",
    "SAMPClientError",
    "SAMPHubError",
    "SAMPHubProxy",
    "SAMPHubServer",
    "SAMPIntegratedClient",
    "SAMPProxyError",
    "SAMPProxyTimeoutError",
    "SAMPWarning",
]

if TYPE_CHECKING:
    from hop.samp._client import SAMPClient
    from hop.samp._errors import (
        SAMPClientError,
        SAMPHubError,
        SAMPProxyError,
        SAMPProxyTimeoutError,
        SAMPWarning,
    )
    from hop.samp._hub import SAMPHubServer
    from hop.samp._hub_proxy import SAMPHubProxy
    from hop.samp._integrated import SAMPIntegratedClient

_LAZY = {
    "SAMPClient": "hop.samp._client",
    "SAMPClientError": "hop.samp._errors",
    "SAMPHubError": "hop.samp._errors",
    "SAMPHubProxy": "hop.samp._hub_proxy",
    "SAMPHubServer": "hop.samp._hub",
    "SAMPIntegratedClient": "hop.samp._integrated",
    "SAMPProxyError": "hop.samp._errors",
    "SAMPProxyTimeoutError": "hop.samp._errors",
    "SAMPWarning": "hop.samp._errors",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hop.samp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
