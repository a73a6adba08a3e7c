"""The public surface of hop.samp is pinned, and importing it stays cheap."""

from __future__ import annotations

import subprocess
import sys
import xmlrpc.client

import hop.samp
from hop.errors import HopError, SAMPError

EXPECTED = {
    "SAFE_MTYPES",
    "SAMP_ICON",
    "Conf",
    "SAMPMsgReplierWrapper",
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
}


def test_all_lists_exactly_the_public_names() -> None:
    assert set(hop.samp.__all__) == EXPECTED


def test_every_public_name_resolves() -> None:
    for name in hop.samp.__all__:
        assert getattr(hop.samp, name) is not None, name


def test_status_constants_have_the_standard_values() -> None:
    assert hop.samp.SAMP_STATUS_OK == "samp.ok"
    assert hop.samp.SAMP_STATUS_WARNING == "samp.warning"
    assert hop.samp.SAMP_STATUS_ERROR == "samp.error"


def test_errors_sit_in_the_hop_exception_tree() -> None:
    for name in ("SAMPHubError", "SAMPClientError", "SAMPProxyError"):
        assert issubclass(getattr(hop.samp, name), SAMPError)
        assert issubclass(getattr(hop.samp, name), HopError)
    assert issubclass(hop.samp.SAMPWarning, Warning)


def test_proxy_error_is_an_xmlrpc_fault_with_its_fields() -> None:
    err = hop.samp.SAMPProxyError(2, "not subscribed")
    assert isinstance(err, xmlrpc.client.Fault)
    assert (err.faultCode, err.faultString) == (2, "not subscribed")
    assert "not subscribed" in str(err)


def test_importing_hop_samp_loads_no_server_or_client_modules() -> None:
    code = (
        "import sys, hop.samp\n"
        "heavy = [m for m in ('http.server', 'xmlrpc.client', 'hop.samp._hub',"
        " 'hop.samp._client', 'ssl') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""


def test_the_hub_server_shows_its_lifecycle_not_the_hub_methods() -> None:
    # The SAMP hub methods live on a collaborator (hop.samp._hub_methods.HubMethods);
    # the server's public surface is its lifecycle and what it serves.
    public = {name for name in dir(hop.samp.SAMPHubServer) if not name.startswith("_")}
    assert public == {
        "get_mtype_subtypes",
        "id",
        "is_running",
        "lockfile",
        "params",
        "registry",
        "start",
        "stop",
        "web_port",
    }
