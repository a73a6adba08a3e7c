""":class:`SAMPHubProxy`: the client's view of the hub's XML-RPC interface."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

from hop.samp._errors import SAMPHubError, SAMPProxyError
from hop.samp._lockfile import read_lockfile, resolve_lockfile_location
from hop.samp._xmlrpc import ProxyPool, make_ssl_context

__all__ = ["SAMPHubProxy"]

_HUB_CALL_TIMEOUT_S = 60.0


class SAMPHubProxy:
    """Proxy to a SAMP hub's Standard Profile methods (the private key is explicit).

    Attributes
    ----------
    lockfile : dict
        The lockfile content of the connected hub.
    proxy : ProxyPool or None
        The pool of XML-RPC connections to the hub, once connected.
    """

    def __init__(self) -> None:
        self.proxy: ProxyPool | None = None
        self.lockfile: dict[str, str] = {}

    def connect(
        self,
        hub: Any = None,
        hub_params: Mapping[str, str] | None = None,
        pool_size: int = 20,
        *,
        key_file: str | None = None,
        cert_file: str | None = None,
        cert_reqs: int = ssl.CERT_NONE,
        ca_certs: str | None = None,
        ssl_version: int | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """Find the hub and check that it answers.

        Parameters
        ----------
        hub : SAMPHubServer, optional
            A hub running in this process.
        hub_params : dict, optional
            Lockfile content of the hub. Without ``hub`` or ``hub_params`` the hub is
            found through ``SAMP_HUB`` or ``~/.samp``.
        pool_size : int
            Connections to open to the hub at most.
        key_file, cert_file, cert_reqs, ca_certs, ssl_version :
            TLS settings for an https hub (client certificate and hub verification).
        environ : mapping, optional
            Environment used for hub discovery (default ``os.environ``).

        Raises
        ------
        SAMPHubError
            No lockfile, unreachable hub, or TLS settings for a plain-http hub.
        """
        if hub is not None:
            if not hub.is_running:
                raise SAMPHubError("the hub passed to connect() is not running")
            params = dict(hub.params)
        elif hub_params is not None:
            params = dict(hub_params)
        else:
            location = resolve_lockfile_location(environ)
            try:
                params = read_lockfile(location)
            except SAMPHubError as exc:
                raise SAMPHubError(f"no running SAMP hub found: {exc}") from exc
        url = params.get("samp.hub.xmlrpc.url")
        if not url:
            raise SAMPHubError("hub parameters lack samp.hub.xmlrpc.url")
        tls_args = any(x is not None for x in (key_file, cert_file, ca_certs, ssl_version))
        if url.startswith("https:"):
            ctx: ssl.SSLContext | None = make_ssl_context(
                server_side=False,
                key_file=key_file,
                cert_file=cert_file,
                cert_reqs=cert_reqs,
                ca_certs=ca_certs,
                ssl_version=ssl_version,
            )
        elif tls_args or cert_reqs != ssl.CERT_NONE:
            raise SAMPHubError(f"TLS settings given but the hub at {url} does not use https")
        else:
            ctx = None
        pool = ProxyPool(url, pool_size, timeout=_HUB_CALL_TIMEOUT_S, ssl_context=ctx)
        try:
            pool.call("samp.hub.ping", timeout=5.0)
        except SAMPProxyError:
            pass  # a fault still proves a live hub
        except Exception as exc:
            pool.close()
            raise SAMPHubError(f"cannot reach the SAMP hub at {url}: {exc}") from exc
        self.lockfile = params
        self.proxy = pool

    def disconnect(self) -> None:
        """Close the connections to the hub (idempotent)."""
        if self.proxy is not None:
            self.proxy.close()
        self.proxy = None
        self.lockfile = {}

    @property
    def is_connected(self) -> bool:
        """Whether connected and the hub answers a ping."""
        if self.proxy is None:
            return False
        try:
            self.ping()
        except Exception:
            return False
        return True

    def _call(self, method: str, *args: Any, timeout: float | bool | None = False) -> Any:
        if self.proxy is None:
            raise SAMPHubError("not connected to a SAMP hub: call connect() first")
        try:
            return self.proxy.call(f"samp.hub.{method}", *args, timeout=timeout)
        except SAMPProxyError:
            raise
        except OSError as exc:
            raise SAMPHubError(f"SAMP hub at {self.proxy.url} failed on {method}: {exc}") from exc

    # One thin method per hub method.

    def ping(self) -> Any:
        """``samp.hub.ping``."""
        return self._call("ping", timeout=5.0)

    def set_xmlrpc_callback(self, private_key: str, xmlrpc_addr: str) -> Any:
        """``samp.hub.setXmlrpcCallback``."""
        return self._call("setXmlrpcCallback", private_key, xmlrpc_addr)

    def register(self, secret: str) -> dict[str, str]:
        """``samp.hub.register``: returns the registration map."""
        return dict(self._call("register", secret))

    def unregister(self, private_key: str) -> Any:
        """``samp.hub.unregister``."""
        return self._call("unregister", private_key)

    def declare_metadata(self, private_key: str, metadata: Mapping[str, Any]) -> Any:
        """``samp.hub.declareMetadata``."""
        return self._call("declareMetadata", private_key, metadata)

    def get_metadata(self, private_key: str, client_id: str) -> dict[str, Any]:
        """``samp.hub.getMetadata``."""
        return dict(self._call("getMetadata", private_key, client_id))

    def declare_subscriptions(self, private_key: str, subscriptions: Mapping[str, Any]) -> Any:
        """``samp.hub.declareSubscriptions``."""
        return self._call("declareSubscriptions", private_key, subscriptions)

    def get_subscriptions(self, private_key: str, client_id: str) -> dict[str, Any]:
        """``samp.hub.getSubscriptions``."""
        return dict(self._call("getSubscriptions", private_key, client_id))

    def get_registered_clients(self, private_key: str) -> list[str]:
        """``samp.hub.getRegisteredClients``."""
        return list(self._call("getRegisteredClients", private_key))

    def get_subscribed_clients(self, private_key: str, mtype: str) -> dict[str, Any]:
        """``samp.hub.getSubscribedClients``."""
        return dict(self._call("getSubscribedClients", private_key, mtype))

    def notify(self, private_key: str, recipient_id: str, message: Mapping[str, Any]) -> Any:
        """``samp.hub.notify``."""
        return self._call("notify", private_key, recipient_id, message)

    def notify_all(self, private_key: str, message: Mapping[str, Any]) -> Any:
        """``samp.hub.notifyAll``: returns the recipients' IDs."""
        return self._call("notifyAll", private_key, message)

    def call(
        self, private_key: str, recipient_id: str, msg_tag: str, message: Mapping[str, Any]
    ) -> str:
        """``samp.hub.call``: returns the msg-id."""
        return str(self._call("call", private_key, recipient_id, msg_tag, message))

    def call_all(self, private_key: str, msg_tag: str, message: Mapping[str, Any]) -> Any:
        """``samp.hub.callAll``: returns recipient ID -> msg-id."""
        return self._call("callAll", private_key, msg_tag, message)

    def call_and_wait(
        self, private_key: str, recipient_id: str, message: Mapping[str, Any], timeout: str
    ) -> dict[str, Any]:
        """``samp.hub.callAndWait``: returns the response (waits up to ``timeout`` s)."""
        try:
            seconds = float(timeout)
        except (TypeError, ValueError):
            seconds = 0.0
        # The socket must outlive the SAMP timeout; with no SAMP timeout, none either.
        socket_timeout = seconds + 30.0 if seconds > 0 else None
        return dict(
            self._call("callAndWait", private_key, recipient_id, message, timeout,
                       timeout=socket_timeout)
        )

    def reply(self, private_key: str, msg_id: str, response: Mapping[str, Any]) -> Any:
        """``samp.hub.reply``."""
        return self._call("reply", private_key, msg_id, response)
