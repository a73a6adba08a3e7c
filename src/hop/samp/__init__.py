"""SAMP (IVOA Simple Application Messaging Protocol 1.3): a hub and clients.

A replacement for ``astropy.samp`` / ``pyvo.samp`` with the same public names (pyvo's
``connection``, ``send_table_to`` and the other helpers included)::

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
    "SAMP_ICON",
    "SAMP_STATUS_ERROR",
    "SAMP_STATUS_OK",
    "SAMP_STATUS_WARNING",
    "Conf",
    "SAMPClient",
    "SAMPClientError",
    "SAMPHubError",
    "SAMPHubProxy",
    "SAMPHubServer",
    "SAMPIntegratedClient",
    "SAMPMsgReplierWrapper",
    "SAMPProxyError",
    "SAMPProxyTimeoutError",
    "SAMPWarning",
    "SAMPXXEServerProxy",
    "WebProfileDialog",
    "accessible_table",
    "conf",
    "connection",
    "find_client_id",
    "safe_xmlrpc_loads",
    "send_image_to",
    "send_product_to",
    "send_spectrum_to",
    "send_table_to",
]

if TYPE_CHECKING:
    from hop.samp._client import SAMPClient
    from hop.samp._conf import Conf, conf
    from hop.samp._dialog import WebProfileDialog
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
    from hop.samp._utils import SAMPMsgReplierWrapper, SAMPXXEServerProxy, safe_xmlrpc_loads
    from hop.samp._vo_helpers import (
        accessible_table,
        connection,
        find_client_id,
        send_image_to,
        send_product_to,
        send_spectrum_to,
        send_table_to,
    )

    SAMP_ICON: bytes

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
    "Conf": "hop.samp._conf",
    "conf": "hop.samp._conf",
    "WebProfileDialog": "hop.samp._dialog",
    "SAMPMsgReplierWrapper": "hop.samp._utils",
    "SAMPXXEServerProxy": "hop.samp._utils",
    "safe_xmlrpc_loads": "hop.samp._utils",
    "accessible_table": "hop.samp._vo_helpers",
    "connection": "hop.samp._vo_helpers",
    "find_client_id": "hop.samp._vo_helpers",
    "send_image_to": "hop.samp._vo_helpers",
    "send_product_to": "hop.samp._vo_helpers",
    "send_spectrum_to": "hop.samp._vo_helpers",
    "send_table_to": "hop.samp._vo_helpers",
}


def __getattr__(name: str) -> Any:
    if name == "SAMP_ICON":  # drawn on first use, not at import
        from hop.samp._icon import samp_icon

        globals()[name] = icon = samp_icon()
        return icon
    if name == "hub_script":  # the submodule, as ``from hop.samp import hub_script``
        return importlib.import_module("hop.samp.hub_script")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hop.samp' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
