""":class:`SAMPIntegratedClient`: one object that connects, registers, sends and receives."""

from __future__ import annotations

import ssl
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from hop.samp import _constants as C
from hop.samp._client import SAMPClient
from hop.samp._errors import SAMPClientError, SAMPWarning
from hop.samp._hub_proxy import SAMPHubProxy
from hop.samp._xmlrpc import outgoing

__all__ = ["SAMPIntegratedClient"]


def _message(mtype: str, params: dict[str, Any]) -> dict[str, Any]:
    extra = params.pop("extra_kws", None) or {}
    message: dict[str, Any] = {"samp.mtype": mtype, "samp.params": params}
    message.update(extra)
    return message


class SAMPIntegratedClient:
    """A SAMP client and hub proxy in one, with astropy's ``SAMPIntegratedClient`` API.

    Values are sent with their XML-RPC types, as astropy's client sends them (an int
    arrives as an int); ``samp_strings=True`` converts them to SAMP strings instead,
    for strict hubs such as JSAMP's.

    Parameters
    ----------
    name : str, optional
        ``samp.name`` metadata.
    description : str, optional
        ``samp.description.text`` metadata.
    metadata : dict, optional
        More metadata.
    addr : str, optional
        Callback server address (loopback by default).
    port : int
        Callback server port; 0 picks a free one.
    callable : bool
        Whether the client receives messages.
    https : bool
        Serve callbacks over TLS (needs ``cert_file``).
    key_file, cert_file, cert_reqs, ca_certs, ssl_version :
        TLS settings of the callback server. The hub connection's TLS settings are
        passed to :meth:`connect`.
    samp_strings : bool
        Send numbers and booleans as SAMP strings (``"1331"``, ``"1"``) rather than
        as XML-RPC ints and booleans.

    Examples
    --------
    With a hub running (here one of this process's own):

    >>> from hop.samp import SAMPHubServer, SAMPIntegratedClient
    >>> with SAMPHubServer(web_profile=False), SAMPIntegratedClient(name="demo") as client:
    ...     print(client.ecall_and_wait("hub", "samp.app.ping", "5"))
    {'samp.status': 'samp.ok', 'samp.result': {}}
    """

    def __init__(
        self,
        name: str | None = None,
        description: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        addr: str | None = None,
        port: int = 0,
        callable: bool = True,
        *,
        https: bool = False,
        key_file: str | None = None,
        cert_file: str | None = None,
        cert_reqs: int = ssl.CERT_NONE,
        ca_certs: str | None = None,
        ssl_version: int | None = None,
        samp_strings: bool = False,
    ) -> None:
        self.hub = SAMPHubProxy()
        self._outgoing = outgoing(samp_strings)
        self.client_arguments: dict[str, Any] = {
            "name": name,
            "description": description,
            "metadata": metadata,
            "addr": addr,
            "port": port,
            "callable": callable,
            "https": https,
            "key_file": key_file,
            "cert_file": cert_file,
            "cert_reqs": cert_reqs,
            "ca_certs": ca_certs,
            "ssl_version": ssl_version,
            "samp_strings": samp_strings,
        }
        # Build (and throw away) a client now so bad TLS arguments fail here, eagerly.
        SAMPClient(self.hub, **self.client_arguments)
        self.client: SAMPClient | None = None
        self._bindings: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    # -- connection -------------------------------------------------------------------

    @property
    def is_connected(self) -> bool:
        """Whether connected and registered with a hub that still answers."""
        client = self.client
        return client is not None and client.is_registered and self.hub.is_connected

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
    ) -> None:
        """Connect to the hub (this process's ``hub``, ``hub_params``, or discovery).

        Raises
        ------
        SAMPClientError
            If already connected.
        SAMPHubError
            If no hub is found or it does not answer.
        """
        if self.client is not None and self.client.is_running:
            raise SAMPClientError("already connected: call disconnect() first")
        self.hub.connect(
            hub,
            hub_params,
            pool_size,
            key_file=key_file,
            cert_file=cert_file,
            cert_reqs=cert_reqs,
            ca_certs=ca_certs,
            ssl_version=ssl_version,
        )
        # A new SAMPClient per connection, so connect/disconnect/connect works.
        client = SAMPClient(self.hub, **self.client_arguments)
        for method, args, kwargs in self._bindings:
            getattr(client, method)(*args, **{**kwargs, "declare": False})
        try:
            client.start()
            client.register()
        except BaseException:
            client.stop()
            self.hub.disconnect()
            raise
        self.client = client

    def disconnect(self) -> None:
        """Unregister, stop the client and close the hub connection (idempotent)."""
        client, self.client = self.client, None
        if client is None:
            return
        try:
            if client.is_registered:
                try:
                    client.unregister()
                except Exception as exc:
                    # The hub may be gone already; the local side must still stop.
                    warnings.warn(f"SAMP unregister failed: {exc}", SAMPWarning, stacklevel=2)
        finally:
            client.stop()
            self.hub.disconnect()

    def __enter__(self) -> SAMPIntegratedClient:
        if self.client is None:
            self.connect()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.disconnect()

    def __del__(self) -> None:
        if getattr(self, "client", None) is not None:
            warnings.warn(
                "SAMPIntegratedClient was never disconnected; call disconnect() or use it "
                "as a context manager",
                ResourceWarning,
                stacklevel=2,
            )

    def _client(self) -> SAMPClient:
        if self.client is None:
            raise SAMPClientError("not connected to a SAMP hub: call connect() first")
        return self.client

    def _key(self) -> str:
        return self._client().get_private_key()

    # -- hub proxies --------------------------------------------------------------------

    def ping(self) -> Any:
        """Ping the hub."""
        return self.hub.ping()

    def declare_metadata(self, metadata: Mapping[str, Any]) -> None:
        """Declare (merge) this client's metadata."""
        self._client().declare_metadata(metadata)

    def get_metadata(self, client_id: str) -> dict[str, Any]:
        """Metadata of client ``client_id``."""
        return self.hub.get_metadata(self._key(), client_id)

    def get_subscriptions(self, client_id: str) -> dict[str, Any]:
        """Subscriptions of client ``client_id``."""
        return self.hub.get_subscriptions(self._key(), client_id)

    def get_registered_clients(self) -> list[str]:
        """IDs of the other registered clients (the hub's included)."""
        return self.hub.get_registered_clients(self._key())

    def get_subscribed_clients(self, mtype: str) -> dict[str, Any]:
        """Clients subscribed to ``mtype`` (ID -> annotation)."""
        return self.hub.get_subscribed_clients(self._key(), mtype)

    def notify(self, recipient_id: str, message: Mapping[str, Any]) -> None:
        """Send a notification to one client."""
        self.hub.notify(self._key(), recipient_id, self._outgoing(message, where="message"))

    def enotify(self, recipient_id: str, mtype: str, **params: Any) -> None:
        """Send notification ``mtype`` with ``params`` (``extra_kws``: extra message keys)."""
        self.notify(recipient_id, _message(mtype, params))

    def notify_all(self, message: Mapping[str, Any]) -> list[str]:
        """Notify every subscribed client; returns their IDs.

        Warns
        -----
        SAMPWarning
            When no client received it.
        """
        recipients = self.hub.notify_all(self._key(), self._outgoing(message, where="message"))
        if not recipients:
            warnings.warn(
                f"no client is subscribed to {message.get('samp.mtype')}: nobody notified",
                SAMPWarning,
                stacklevel=2,
            )
        return list(recipients or [])

    def enotify_all(self, mtype: str, **params: Any) -> list[str]:
        """Easy form of :meth:`notify_all`."""
        return self.notify_all(_message(mtype, params))

    def call(self, recipient_id: str, msg_tag: str, message: Mapping[str, Any]) -> str:
        """Call one client; the response comes to the function bound to ``msg_tag``."""
        return self.hub.call(
            self._key(), recipient_id, msg_tag, self._outgoing(message, where="message")
        )

    def ecall(self, recipient_id: str, msg_tag: str, mtype: str, **params: Any) -> str:
        """Easy form of :meth:`call`."""
        return self.call(recipient_id, msg_tag, _message(mtype, params))

    def call_all(self, msg_tag: str, message: Mapping[str, Any]) -> dict[str, str]:
        """Call every subscribed client; returns recipient ID -> msg-id."""
        return dict(
            self.hub.call_all(self._key(), msg_tag, self._outgoing(message, where="message"))
        )

    def ecall_all(self, msg_tag: str, mtype: str, **params: Any) -> dict[str, str]:
        """Easy form of :meth:`call_all`."""
        return self.call_all(msg_tag, _message(mtype, params))

    def call_and_wait(
        self, recipient_id: str, message: Mapping[str, Any], timeout: str | int | float
    ) -> dict[str, Any]:
        """Call one client and return its response (``timeout`` s, 0 = no limit).

        Raises
        ------
        SAMPProxyError
            On timeout or when the hub refuses the call.
        """
        return self.hub.call_and_wait(
            self._key(),
            recipient_id,
            self._outgoing(message, where="message"),
            str(int(float(timeout))),
        )

    def ecall_and_wait(
        self, recipient_id: str, mtype: str, timeout: str | int | float, **params: Any
    ) -> dict[str, Any]:
        """Easy form of :meth:`call_and_wait`."""
        return self.call_and_wait(recipient_id, _message(mtype, params), timeout)

    def reply(self, msg_id: str, response: Mapping[str, Any]) -> None:
        """Reply to call ``msg_id``."""
        self.hub.reply(self._key(), msg_id, self._outgoing(response, where="response"))

    def ereply(
        self,
        msg_id: str,
        status: str,
        result: Mapping[str, Any] | None = None,
        error: Mapping[str, Any] | None = None,
    ) -> None:
        """Reply with ``samp.status`` ``status`` and the given result and error maps."""
        response: dict[str, Any] = {"samp.status": status}
        if result is not None:
            response["samp.result"] = result
        elif status != C.SAMP_STATUS_ERROR:
            response["samp.result"] = {}
        if error is not None:
            response["samp.error"] = error
        elif status != C.SAMP_STATUS_OK:
            response["samp.error"] = {"samp.errortxt": "unspecified error"}
        self.reply(msg_id, response)

    # -- client delegation ---------------------------------------------------------

    def receive_notification(self, private_key: str, sender_id: str,
                             message: Mapping[str, Any]) -> str:
        """Handle a notification as the client would."""
        return self._client().receive_notification(private_key, sender_id, message)

    def receive_call(self, private_key: str, sender_id: str, msg_id: str,
                     message: Mapping[str, Any]) -> str:
        """Handle a call as the client would."""
        return self._client().receive_call(private_key, sender_id, msg_id, message)

    def receive_response(self, private_key: str, responder_id: str, msg_tag: str,
                         response: Mapping[str, Any]) -> str:
        """Handle a response as the client would."""
        return self._client().receive_response(private_key, responder_id, msg_tag, response)

    def _bind(self, method: str, *args: Any, **kwargs: Any) -> None:
        # Remembered so that bindings made before connect() (or before a reconnect) apply.
        self._bindings.append((method, args, {k: v for k, v in kwargs.items() if k != "declare"}))
        if self.client is not None:
            getattr(self.client, method)(*args, **kwargs)

    def bind_receive_notification(self, mtype: str, function: Callable[..., Any],
                                  declare: bool = True,
                                  metadata: Mapping[str, Any] | None = None) -> None:
        """Bind ``function(private_key, sender_id, mtype, params, extra)`` to ``mtype``."""
        self._bind("bind_receive_notification", mtype, function, declare=declare,
                   metadata=metadata)

    def bind_receive_call(self, mtype: str, function: Callable[..., Any], declare: bool = True,
                          metadata: Mapping[str, Any] | None = None) -> None:
        """Bind ``function(private_key, sender_id, msg_id, mtype, params, extra)``."""
        self._bind("bind_receive_call", mtype, function, declare=declare, metadata=metadata)

    def bind_receive_message(self, mtype: str, function: Callable[..., Any],
                             declare: bool = True,
                             metadata: Mapping[str, Any] | None = None) -> None:
        """Bind ``function`` to calls and notifications of ``mtype``."""
        self._bind("bind_receive_message", mtype, function, declare=declare, metadata=metadata)

    def bind_receive_response(self, msg_tag: str, function: Callable[..., Any]) -> None:
        """Bind ``function(private_key, responder_id, msg_tag, response)`` to ``msg_tag``."""
        self._bindings.append(("bind_receive_response", (msg_tag, function), {}))
        if self.client is not None:
            self.client.bind_receive_response(msg_tag, function)

    def _unbind(self, bind_methods: tuple[str, ...], key: str) -> None:
        self._bindings = [
            b for b in self._bindings if not (b[0] in bind_methods and b[1][0] == key)
        ]

    def unbind_receive_notification(self, mtype: str, declare: bool = True) -> None:
        """Remove a notification binding."""
        self._unbind(("bind_receive_notification", "bind_receive_message"), mtype)
        if self.client is not None:
            self.client.unbind_receive_notification(mtype, declare)

    def unbind_receive_call(self, mtype: str, declare: bool = True) -> None:
        """Remove a call binding."""
        self._unbind(("bind_receive_call", "bind_receive_message"), mtype)
        if self.client is not None:
            self.client.unbind_receive_call(mtype, declare)

    def unbind_receive_response(self, msg_tag: str) -> None:
        """Remove a response binding."""
        self._unbind(("bind_receive_response",), msg_tag)
        if self.client is not None:
            self.client.unbind_receive_response(msg_tag)

    def declare_subscriptions(self, subscriptions: Mapping[str, Any] | None = None) -> None:
        """Declare the bound MTypes plus ``subscriptions``."""
        self._client().declare_subscriptions(subscriptions)

    def get_private_key(self) -> str:
        """The ``samp.private-key`` from registration."""
        return self._client().get_private_key()

    def get_public_id(self) -> str:
        """The ``samp.self-id`` from registration."""
        return self._client().get_public_id()
