""":class:`SAMPClient`: a registered SAMP client with a callback server and MType bindings.

Callbacks from the hub are answered at once and handed to one dispatcher thread, so
the hub never waits for an application handler, and handlers run in arrival order.
"""

from __future__ import annotations

import logging
import os
import queue
import ssl
import threading
from collections.abc import Callable, Mapping
from typing import Any

from hop._lifecycle import State, join_threads, report_stuck_threads
from hop.samp import _constants as C
from hop.samp._errors import SAMPClientError, SAMPHubError, SAMPWarning
from hop.samp._http import Request, Response, RPCServer, xmlrpc_reply
from hop.samp._hub_proxy import SAMPHubProxy
from hop.samp._registry import mtype_subtypes
from hop.samp._xmlrpc import outgoing, server_ssl_context

__all__ = ["SAMPClient"]

logger = logging.getLogger("hop.samp.client")

_STOP = object()

# A notification or call binding: the function and the subscription's metadata.
_Binding = tuple[Callable[..., Any], dict[str, Any]]


class SAMPClient:
    """A SAMP client: registers with a hub and runs bound functions on messages.

    Parameters
    ----------
    hub : SAMPHubProxy
        A connected hub proxy.
    name : str, optional
        ``samp.name`` metadata.
    description : str, optional
        ``samp.description.text`` metadata.
    metadata : dict, optional
        More metadata.
    addr : str, optional
        Address of the callback server (loopback, the default).
    port : int
        Port of the callback server; 0 picks a free one.
    callable : bool
        Whether to run a callback server and receive messages.
    https : bool
        Serve callbacks over TLS (needs ``cert_file``).
    key_file, cert_file, cert_reqs, ca_certs, ssl_version :
        TLS settings of the callback server.
    samp_strings : bool
        Send metadata and subscriptions as SAMP strings (numbers and booleans as
        text), as strict hubs such as JSAMP's require. By default values keep their
        XML-RPC types, as astropy's client sends them.
    """

    def __init__(
        self,
        hub: SAMPHubProxy,
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
        if not https and (key_file or cert_file or ca_certs or ssl_version is not None):
            raise SAMPClientError(
                "TLS files or ssl_version given but https=False: pass https=True to serve "
                "callbacks over TLS, or pass the hub's TLS settings to connect()"
            )
        if https and not callable:
            raise SAMPClientError("https=True is for the callback server; callable=False has none")
        self.hub = hub
        self._metadata: dict[str, Any] = dict(metadata or {})
        if name is not None:
            self._metadata["samp.name"] = name
        if description is not None:
            self._metadata["samp.description.text"] = description
        self._addr = addr or "127.0.0.1"
        self._port = port
        self._callable = callable
        self._outgoing = outgoing(samp_strings)
        self._ssl = server_ssl_context(
            https,
            key_file=key_file,
            cert_file=cert_file,
            cert_reqs=cert_reqs,
            ca_certs=ca_certs,
            ssl_version=ssl_version,
        )
        self._lock = threading.RLock()
        self._notification_bindings: dict[str, _Binding] = {}
        self._call_bindings: dict[str, _Binding] = {}
        self._response_bindings: dict[str, Callable[..., Any]] = {}
        self._server: RPCServer | None = None
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._dispatcher: threading.Thread | None = None
        self._state = State.CREATED
        self._private_key: str | None = None
        self._public_id: str | None = None
        self._hub_id: str | None = None
        self._registered = False
        self._extra_subscriptions: dict[str, Any] = {}
        # Default behaviour every SAMP client should have.
        self.bind_receive_call(C.MTYPE_PING, self._ping_handler, declare=False)
        self.bind_receive_call("client.env.get", self._env_get_handler, declare=False)

    # -- lifecycle --------------------------------------------------------------------

    @property
    def is_running(self) -> bool:
        """Whether :meth:`start` was called and :meth:`stop` not yet."""
        return self._state is State.RUNNING

    @property
    def is_registered(self) -> bool:
        """Whether registered with the hub (False after a hub shutdown or ejection)."""
        return self._registered

    def start(self) -> None:
        """Start the callback server and dispatcher (callable clients only)."""
        with self._lock:
            if self._state is State.RUNNING:
                raise SAMPClientError("the client is already running")
            if self._callable:
                try:
                    self._server = RPCServer(
                        _CallbackApp(self),
                        host=self._addr,
                        port=self._port,
                        ssl_context=self._ssl,
                        name="samp-client-callbacks",
                    )
                except OSError as exc:
                    raise SAMPClientError(
                        f"cannot listen on {self._addr}:{self._port}: {exc}"
                    ) from exc
                self._inbox = queue.SimpleQueue()
                self._dispatcher = threading.Thread(
                    target=self._dispatch_loop, name="samp-client-dispatch", daemon=True
                )
                self._server.start()
                self._dispatcher.start()
            self._state = State.RUNNING

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the callback server and dispatcher (idempotent).

        Warns
        -----
        SAMPWarning
            If a thread did not stop within ``timeout`` (it is named).
        """
        with self._lock:
            if self._state is not State.RUNNING:
                return
            self._state = State.STOPPED
            server, dispatcher = self._server, self._dispatcher
            self._server = self._dispatcher = None
        stuck: list[str] = []
        if server is not None:
            stuck += server.stop(timeout)
        if dispatcher is not None:
            self._inbox.put(_STOP)
            # A handler may stop its own client, from the dispatcher thread.
            stuck += join_threads([dispatcher], timeout)
        report_stuck_threads("SAMP client", stuck, timeout, category=SAMPWarning)

    def register(self) -> None:
        """Register with the hub, set the callback, declare subscriptions and metadata.

        Raises
        ------
        SAMPClientError
            If the client was not started.
        """
        if self._state is not State.RUNNING:
            raise SAMPClientError("start() the client before register()")
        secret = self.hub.lockfile.get("samp.secret", "")
        reg = self.hub.register(secret)
        with self._lock:
            self._private_key = reg["samp.private-key"]
            self._public_id = reg["samp.self-id"]
            self._hub_id = reg.get("samp.hub-id")
            self._registered = True
        if self._server is not None:
            self.hub.set_xmlrpc_callback(self._private_key, self._server.url)
            self.declare_subscriptions()
        if self._metadata:
            self.declare_metadata()

    def unregister(self) -> None:
        """Unregister from the hub (idempotent)."""
        with self._lock:
            key, was = self._private_key, self._registered
            self._registered = False
        if key is not None and was:
            self.hub.unregister(key)

    # -- identity ---------------------------------------------------------------------

    def get_private_key(self) -> str:
        """The ``samp.private-key`` from registration."""
        if self._private_key is None:
            raise SAMPClientError("not registered with a hub")
        return self._private_key

    def get_public_id(self) -> str:
        """The ``samp.self-id`` from registration."""
        if self._public_id is None:
            raise SAMPClientError("not registered with a hub")
        return self._public_id

    # -- declarations -----------------------------------------------------------------

    def declare_metadata(self, metadata: Mapping[str, Any] | None = None) -> None:
        """Merge ``metadata`` into this client's metadata and declare it to the hub."""
        if metadata is not None:
            self._metadata.update(metadata)
        if self._registered:
            self.hub.declare_metadata(
                self.get_private_key(), self._outgoing(self._metadata, where="metadata")
            )

    def declare_subscriptions(self, subscriptions: Mapping[str, Any] | None = None) -> None:
        """Declare the bound MTypes (plus ``subscriptions``) to the hub.

        Raises
        ------
        SAMPClientError
            For a non-callable client, which cannot receive messages.
        """
        if not self._callable:
            raise SAMPClientError("a client created with callable=False cannot subscribe")
        if subscriptions is not None:
            self._extra_subscriptions = dict(subscriptions)
        with self._lock:
            # Always heard, whatever the user binds: they end this client's registration.
            subs: dict[str, Any] = {C.MTYPE_SHUTDOWN: {}, C.MTYPE_DISCONNECT: {}}
            for mtype, (_, meta) in self._notification_bindings.items():
                subs[mtype] = meta
            for mtype, (_, meta) in self._call_bindings.items():
                subs[mtype] = meta
            subs.update(self._extra_subscriptions)
        if self._registered:
            self.hub.declare_subscriptions(
                self.get_private_key(), self._outgoing(subs, where="subscriptions")
            )

    # -- bindings ---------------------------------------------------------------------

    def bind_receive_notification(
        self,
        mtype: str,
        function: Callable[..., Any],
        declare: bool = True,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Run ``function(private_key, sender_id, mtype, params, extra)`` on notifications."""
        self._set_binding(
            self._notification_bindings, mtype, (function, dict(metadata or {})), declare
        )

    def bind_receive_call(
        self,
        mtype: str,
        function: Callable[..., Any],
        declare: bool = True,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Run ``function(private_key, sender_id, msg_id, mtype, params, extra)`` on calls.

        The function must reply itself (``reply``/``ereply``).
        """
        self._set_binding(self._call_bindings, mtype, (function, dict(metadata or {})), declare)

    def bind_receive_message(
        self,
        mtype: str,
        function: Callable[..., Any],
        declare: bool = True,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Bind ``function`` to both calls and notifications of ``mtype``.

        For a notification the function gets ``msg_id=None``.
        """

        def as_notification(private_key: str, sender_id: str, mtype: str, params: Any,
                            extra: Any) -> Any:
            return function(private_key, sender_id, None, mtype, params, extra)

        self.bind_receive_notification(mtype, as_notification, declare=False, metadata=metadata)
        self.bind_receive_call(mtype, function, declare=declare, metadata=metadata)

    def bind_receive_response(self, msg_tag: str, function: Callable[..., Any]) -> None:
        """Run ``function(private_key, responder_id, msg_tag, response)`` on responses."""
        with self._lock:
            self._response_bindings[msg_tag] = function

    def unbind_receive_notification(self, mtype: str, declare: bool = True) -> None:
        """Remove a notification binding (and re-declare subscriptions)."""
        self._set_binding(self._notification_bindings, mtype, None, declare)

    def unbind_receive_call(self, mtype: str, declare: bool = True) -> None:
        """Remove a call binding (and re-declare subscriptions)."""
        self._set_binding(self._call_bindings, mtype, None, declare)

    def unbind_receive_response(self, msg_tag: str) -> None:
        """Remove a response binding."""
        with self._lock:
            self._response_bindings.pop(msg_tag, None)

    def _set_binding(
        self,
        table: dict[str, _Binding],
        mtype: str,
        entry: _Binding | None,
        declare: bool,
    ) -> None:
        """Bind (or, with ``entry`` None, unbind) ``mtype`` in ``table``.

        Notification and call bindings change the same way: under the lock, then the
        hub is told the new subscriptions unless the caller batches (``declare=False``)
        or the client cannot receive messages at all.
        """
        with self._lock:
            if entry is None:
                table.pop(mtype, None)
            else:
                table[mtype] = entry
        if declare and self._callable:
            self.declare_subscriptions()

    # -- receiving ------------------------------------------------------------------

    def receive_notification(self, private_key: str, sender_id: str, message: Mapping[str, Any]
                             ) -> str:
        """Run the functions bound to the notification's MType (all matching patterns)."""
        mtype, params, extra = _split_message(message)
        if mtype in (C.MTYPE_SHUTDOWN, C.MTYPE_DISCONNECT):
            self._gone_handler(private_key, sender_id, mtype, params, extra)
        with self._lock:
            handlers = [self._notification_bindings[p][0] for p in mtype_subtypes(mtype)
                        if p in self._notification_bindings]
        for handler in handlers:
            handler(private_key, sender_id, mtype, params, extra)
        return ""

    def receive_call(self, private_key: str, sender_id: str, msg_id: str,
                     message: Mapping[str, Any]) -> str:
        """Run the functions bound to the call's MType; reply an error if there are none."""
        mtype, params, extra = _split_message(message)
        with self._lock:
            handlers = [self._call_bindings[p][0] for p in mtype_subtypes(mtype)
                        if p in self._call_bindings]
        if not handlers:
            self._reply_error(msg_id, f"no handler for {mtype}")
        for handler in handlers:
            try:
                handler(private_key, sender_id, msg_id, mtype, params, extra)
            except Exception as exc:
                logger.exception("handler for %s call %s failed", mtype, msg_id)
                self._reply_error(msg_id, f"{type(exc).__name__}: {exc}")
        return ""

    def receive_response(self, private_key: str, responder_id: str, msg_tag: str,
                         response: Mapping[str, Any]) -> str:
        """Run the function bound to the response's msg-tag."""
        with self._lock:
            handler = self._response_bindings.get(msg_tag)
        if handler is not None:
            handler(private_key, responder_id, msg_tag, response)
        return ""

    def _reply_error(self, msg_id: str, text: str) -> None:
        try:
            self.hub.reply(
                self.get_private_key(),
                msg_id,
                {"samp.status": C.SAMP_STATUS_ERROR, "samp.error": {"samp.errortxt": text}},
            )
        except Exception as exc:
            logger.warning("could not send error reply for %s: %s", msg_id, exc)

    def _dispatch_loop(self) -> None:
        while True:
            item = self._inbox.get()
            if item is _STOP:
                return
            method, args = item
            try:
                getattr(self, method)(*args)
            except Exception:
                logger.exception("SAMP callback %s failed", method)

    def _enqueue(self, method: str, args: tuple[Any, ...]) -> None:
        self._inbox.put((method, args))

    # -- default handlers ----------------------------------------------------------

    def _ping_handler(self, private_key: str, sender_id: str, msg_id: str, mtype: str,
                      params: Any, extra: Any) -> None:
        self.hub.reply(private_key, msg_id, {"samp.status": C.SAMP_STATUS_OK, "samp.result": {}})

    def _env_get_handler(self, private_key: str, sender_id: str, msg_id: str, mtype: str,
                         params: Any, extra: Any) -> None:
        name = str(params.get("name", ""))
        if name in os.environ:
            response = {"samp.status": C.SAMP_STATUS_OK,
                        "samp.result": {"value": os.environ[name]}}
        else:
            response = {
                "samp.status": C.SAMP_STATUS_WARNING,
                "samp.result": {"value": ""},
                "samp.error": {"samp.errortxt": f"environment variable {name!r} is not set"},
            }
        self.hub.reply(private_key, msg_id, response)

    def _gone_handler(self, private_key: str, sender_id: str, mtype: str, params: Any,
                      extra: Any) -> None:
        if sender_id != self._hub_id:
            return
        with self._lock:
            self._registered = False
        if mtype == C.MTYPE_DISCONNECT:
            logger.warning(
                "the SAMP hub disconnected this client: %s", params.get("reason", "no reason")
            )


def _split_message(message: Mapping[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    mtype = str(message.get("samp.mtype", ""))
    params = message.get("samp.params") or {}
    extra = {k: v for k, v in message.items() if k not in ("samp.mtype", "samp.params")}
    return mtype, dict(params), extra


class _CallbackApp:
    """Answers the hub's ``samp.client.*`` callbacks and queues them for the dispatcher."""

    _METHODS = {
        "samp.client.receiveNotification": ("receive_notification", 3),
        "samp.client.receiveCall": ("receive_call", 4),
        "samp.client.receiveResponse": ("receive_response", 4),
    }

    def __init__(self, client: SAMPClient) -> None:
        self._client = client

    def handle(self, request: Request) -> Response:
        if request.method != "POST":
            return 405, [], b"SAMP client callbacks are XML-RPC over POST\n"
        return xmlrpc_reply(request.body, self._dispatch)

    def _dispatch(self, method: str, params: tuple[Any, ...]) -> str:
        entry = self._METHODS.get(method)
        if entry is None:
            raise SAMPHubError(f"unknown SAMP client method {method!r}")
        name, nargs = entry
        if len(params) != nargs:
            raise SAMPHubError(f"{method} takes {nargs} arguments, got {len(params)}")
        if params[0] != self._client._private_key:
            raise SAMPHubError("wrong private key for this client", code=C.FAULT_BAD_KEY)
        self._client._enqueue(name, params)
        return ""
