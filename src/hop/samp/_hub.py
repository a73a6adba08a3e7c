"""The SAMP hub: :class:`SAMPHubServer` (Standard Profile, and the Web Profile on request).

The hub's state lives in :class:`~hop.samp._registry.Registry`; the hub methods and
the routing between clients in :class:`~hop.samp._hub_methods.HubMethods`, a
collaborator made anew at each start; this module is the lifecycle and the transport
around them. Each HTTP connection has its own thread; each callable client has its
own delivery queue (:mod:`hop.samp._delivery`), so a slow or dead client never delays
the others; ``callAndWait`` waits on an event registered before the call is
delivered, so a fast reply is never lost.
"""

from __future__ import annotations

import logging
import os
import secrets
import ssl
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hop._lifecycle import State, join_threads, report_stuck_threads
from hop.samp import _constants as C
from hop.samp._errors import SAMPHubError, SAMPWarning
from hop.samp._http import Request, Response, RPCServer, xmlrpc_reply
from hop.samp._hub_methods import HubMethods, dispatch_profile
from hop.samp._lockfile import claim_lockfile, lockfile_path_for_hub, release_lockfile
from hop.samp._registry import STANDARD, Registry, mtype_subtypes
from hop.samp._xmlrpc import make_ssl_context, server_ssl_context

__all__ = ["SAMPHubServer"]

logger = logging.getLogger("hop.samp.hub")

DEFAULT_CALLBACK_TIMEOUT_S = 20.0
"""Socket timeout of one callback to a client: long enough for a desktop tool busy
loading a table, short enough that a hung client is ejected within a minute
(with :data:`DEFAULT_MAX_CALLBACK_FAILURES`)."""

DEFAULT_MAX_CALLBACK_FAILURES = 3
"""Consecutive failed callbacks before a client is ejected: one lost connection is
forgiven, a client that is gone stops costing the others."""

_SHUTDOWN_FLUSH_S = 2.0
_JOIN_TIMEOUT_S = 5.0


class SAMPHubServer:
    """A SAMP hub, run in background threads of this process.

    The signature follows astropy's ``SAMPHubServer``; options beyond it are
    keyword-only.

    Parameters
    ----------
    secret : str, optional
        Registration secret written to the lockfile (random by default).
    addr : str, optional
        Address to listen on; only loopback addresses are allowed (default 127.0.0.1).
    port : int
        Standard Profile port; 0 picks a free one.
    lockfile : str, optional
        Lockfile path; default ``SAMP_HUB=std-lockurl:file:...`` if set, else ``~/.samp``.
    timeout : float
        Stop the hub after this many seconds without any hub call (0 = never).
    client_timeout : float
        Eject clients silent for this many seconds (0 = never).
    mode : {'single', 'multiple'}
        ``'multiple'`` writes ``~/.samp-1/samp-hub-<UUID>`` instead of the main
        lockfile, so several hubs run at once (astropy's multi-instance mode).
    label : str
        Written as ``hub.label`` and used as the hub's description.
    web_profile : bool
        Also serve the Web Profile.
    web_profile_dialog : WebProfileDialog, optional
        An object with astropy's consent-dialog interface (see
        :class:`~hop.samp.WebProfileDialog`): the hub sets its ``queue_request`` and
        ``queue_result`` and asks it about each Web Profile registration. Give this
        or ``web_consent``, not both; with neither, Web registrations are refused.
    web_port : int
        Web Profile port (21012 by the standard; 0 picks a free one).
    pool_size : int
        Accepted for compatibility; each client has one persistent callback connection.
    web_consent : callable, optional
        ``web_consent(info: dict) -> bool`` decides Web Profile registrations; ``info``
        holds ``samp.name``, the identity map, ``origin``, ``referer`` and ``address``.
        Called in the registering request's thread only, so it never blocks the
        Standard Profile. Without it every Web registration is refused.
    https : bool
        Serve the Standard Profile over TLS (needs ``cert_file``).
    key_file, cert_file, cert_reqs, ca_certs, ssl_version :
        TLS settings: the server certificate, and how client certificates and
        clients' https callback servers are verified.
    callback_timeout : float
        Socket timeout of one callback to a client.
    max_callback_failures : int
        Consecutive failed callbacks after which a client is ejected.
    web_restrict_mtypes : bool
        Let Web clients send only :data:`SAFE_MTYPES` unless the recipient's
        subscription says ``x-samp.mostly-harmless = "1"``.
    environ : mapping, optional
        Environment to read ``HOME``/``SAMP_HUB`` from (default ``os.environ``).

    Examples
    --------
    >>> from hop.samp import SAMPHubServer
    >>> with SAMPHubServer(web_profile=False) as hub:
    ...     print(hub.params["samp.hub.xmlrpc.url"])
    http://127.0.0.1:.../
    """

    def __init__(
        self,
        secret: str | None = None,
        addr: str | None = None,
        port: int = 0,
        lockfile: str | os.PathLike[str] | None = None,
        timeout: float = 0,
        client_timeout: float = 0,
        mode: str = "single",
        label: str = "",
        web_profile: bool = True,
        web_profile_dialog: Any = None,
        web_port: int = C.DEFAULT_WEB_PORT,
        pool_size: int = 20,
        *,
        web_consent: Callable[[dict[str, Any]], bool] | None = None,
        https: bool = False,
        key_file: str | None = None,
        cert_file: str | None = None,
        cert_reqs: int = ssl.CERT_NONE,
        ca_certs: str | None = None,
        ssl_version: int | None = None,
        callback_timeout: float = DEFAULT_CALLBACK_TIMEOUT_S,
        max_callback_failures: int = DEFAULT_MAX_CALLBACK_FAILURES,
        web_restrict_mtypes: bool = True,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if mode not in ("single", "multiple"):
            raise ValueError(f"mode must be 'single' or 'multiple', not {mode!r}")
        if web_profile_dialog is not None:
            if web_consent is not None:
                raise ValueError("pass web_profile_dialog or web_consent, not both")
            from hop.samp._dialog import dialog_consent

            web_consent = dialog_consent(web_profile_dialog)
        if addr not in (None, "127.0.0.1", "localhost", "::1"):
            raise ValueError(f"addr={addr!r}: the hub only listens on loopback")
        if timeout < 0 or client_timeout < 0:
            raise ValueError("timeout and client_timeout must be >= 0")
        if callback_timeout <= 0 or max_callback_failures < 1:
            raise ValueError("callback_timeout must be > 0 and max_callback_failures >= 1")
        if not https and (key_file or cert_file):
            raise SAMPHubError("key_file/cert_file given but https=False: pass https=True")
        self._secret_arg = secret
        self._addr = "127.0.0.1" if addr in (None, "localhost") else addr
        self._port = port
        self._lockfile_arg = lockfile
        self._timeout = float(timeout)
        self._client_timeout = float(client_timeout)
        self._mode = mode
        self._label = label
        self._web_profile = web_profile
        self._web_port = web_port
        self._pool_size = pool_size
        self._web_consent = web_consent
        self._callback_timeout = callback_timeout
        self._max_failures = max_callback_failures
        self._web_restrict = web_restrict_mtypes
        self._environ = environ
        self._server_ssl = server_ssl_context(
            https,
            key_file=key_file,
            cert_file=cert_file,
            cert_reqs=cert_reqs,
            ca_certs=ca_certs,
            ssl_version=ssl_version,
        )
        self._callback_ssl = (
            make_ssl_context(server_side=False, cert_reqs=cert_reqs, ca_certs=ca_certs)
            if (ca_certs or cert_reqs)
            else make_ssl_context(server_side=False)
        )
        self._lock = threading.RLock()
        self._state = State.CREATED
        self._stop_event = threading.Event()
        self._stopped = threading.Event()
        self._std: RPCServer | None = None
        self._web: RPCServer | None = None
        self._housekeeper: threading.Thread | None = None
        self._lockfile_path: Path | None = None
        self._params: dict[str, str] = {}
        self._id = str(uuid.uuid4())
        self._secret = secret or secrets.token_hex(16)
        self._methods = self._new_methods()

    # -- lifecycle -------------------------------------------------------------------

    def _new_methods(self) -> HubMethods:
        return HubMethods(
            self._new_registry(),
            accepting=lambda: self._state is State.RUNNING,
            callback_timeout=self._callback_timeout,
            max_failures=self._max_failures,
            callback_ssl=self._callback_ssl,
            web_restrict=self._web_restrict,
        )

    @property
    def registry(self) -> Registry:
        """The hub's state: registered clients, their metadata and subscriptions."""
        return self._methods.registry

    def _new_registry(self) -> Registry:
        return Registry(
            "hub",
            {
                "samp.name": "skyhop SAMP Hub",
                "samp.description.text": self._label or "skyhop SAMP hub",
                "author.name": "skyhop",
                "hub.impl": "skyhop",
            },
            {C.MTYPE_PING: {}, "x-samp.query.by-meta": {}, "samp.query.by-meta": {}},
        )

    @property
    def id(self) -> str:
        """Unique ID of this hub instance (not its SAMP public ID, which is ``hub``)."""
        return self._id

    @property
    def is_running(self) -> bool:
        """Whether the hub is serving."""
        return self._state is State.RUNNING

    @property
    def params(self) -> dict[str, str]:
        """The lockfile content (empty until started)."""
        return dict(self._params)

    @property
    def lockfile(self) -> Path | None:
        """Path of the lockfile this hub wrote (None until started)."""
        return self._lockfile_path

    @property
    def web_port(self) -> int | None:
        """The bound Web Profile port, or None when the Web Profile is off."""
        return self._web.port if self._web is not None else None

    @staticmethod
    def get_mtype_subtypes(mtype: str) -> list[str]:
        """Return the subscription patterns that cover ``mtype``, most specific first.

        >>> SAMPHubServer.get_mtype_subtypes("samp.app.ping")
        ['samp.app.ping', 'samp.app.*', 'samp.*', '*']
        """
        return mtype_subtypes(mtype)

    def _resolve_lockfile(self) -> Path:
        if self._mode == "multiple":
            from hop.samp._lockfile import default_lockfile_path

            directory = default_lockfile_path(self._environ).parent / ".samp-1"
            directory.mkdir(mode=0o700, exist_ok=True)
            return directory / f"samp-hub-{self._id}"
        if self._lockfile_arg is not None:
            return Path(self._lockfile_arg)
        return lockfile_path_for_hub(self._environ)

    def start(self, wait: bool = False) -> None:
        """Start serving and write the lockfile.

        Parameters
        ----------
        wait : bool
            Block until the hub is stopped (from another thread, a signal, or its
            inactivity ``timeout``).

        Raises
        ------
        SAMPHubError
            When already running, when a live hub owns the lockfile, or the port is busy.
        """
        with self._lock:
            if self._state is State.RUNNING:
                raise SAMPHubError("the hub is already running")
            methods = self._methods = self._new_methods()
            self._stop_event = threading.Event()
            try:
                self._std = RPCServer(
                    _StandardApp(methods, self._secret),
                    host=self._addr,
                    port=self._port,
                    ssl_context=self._server_ssl,
                    name="samp-hub-std",
                )
            except OSError as exc:
                raise SAMPHubError(f"cannot listen on {self._addr}:{self._port}: {exc}") from exc
            url = self._std.url
            self._params = {
                "samp.secret": self._secret,
                "samp.hub.xmlrpc.url": url,
                "samp.profile.version": C.PROFILE_VERSION,
                "hub.id": self._id,
                "hub.label": self._label or f"skyhop hub {self._id}",
                "hub.impl": "skyhop",
            }
            path = self._resolve_lockfile()
            try:
                claim_lockfile(path, self._params)
            except BaseException:
                self._std.stop()
                self._std = None
                raise
            self._lockfile_path = path
            self._std.start()
            if self._web_profile:
                self._start_web(methods)
            self._state = State.RUNNING
            methods.touch()
            if self._timeout or self._client_timeout:
                self._housekeeper = threading.Thread(
                    target=self._housekeep, name="samp-hub-housekeeper", daemon=True
                )
                self._housekeeper.start()
            logger.info("SAMP hub running at %s (lockfile %s)", url, path)
        if wait:
            self._stop_event.wait()

    def _start_web(self, methods: HubMethods) -> None:
        from hop.samp._web import WebProfileApp

        app = WebProfileApp(methods, consent=self._web_consent)
        try:
            server = RPCServer(app, host=self._addr, port=self._web_port, name="samp-hub-web")
        except OSError as exc:
            warnings.warn(
                f"Web Profile disabled: cannot listen on port {self._web_port}: {exc}",
                SAMPWarning,
                stacklevel=3,
            )
            return
        app.port = server.port
        server.start()
        self._web = server

    def stop(self) -> None:
        """Tell clients, stop serving, remove the lockfile; idempotent.

        Subscribed clients get ``samp.hub.event.shutdown`` first; every thread and
        socket of the hub is closed when this returns.

        Warns
        -----
        SAMPWarning
            If a thread did not stop within its timeout (it is named).
        """
        with self._lock:
            if self._state is State.STOPPING:
                stopped = self._stopped
            elif self._state is not State.RUNNING:
                return
            else:
                self._state = State.STOPPING
                self._stopped = threading.Event()
                stopped = None
        if stopped is not None:
            # Another thread (say the idle timeout's) is stopping the hub: return when
            # it has finished, lockfile removed, as if this call had done it.
            stopped.wait(_SHUTDOWN_FLUSH_S + 4 * _JOIN_TIMEOUT_S)
            return
        methods = self._methods
        methods.broadcast(C.MTYPE_SHUTDOWN, {})
        deadline = time.monotonic() + _SHUTDOWN_FLUSH_S
        for box in methods.mailboxes():
            box.drain(deadline)
        self._stop_event.set()
        for pending in methods.registry.drain_calls():
            if pending.waiter is not None:
                pending.waiter.fail(SAMPHubError("the hub is shutting down"))
        stuck = methods.close_mailboxes(_JOIN_TIMEOUT_S)
        for server in (self._std, self._web):
            if server is not None:
                stuck += server.stop(_JOIN_TIMEOUT_S)
        # The housekeeper may be the thread stopping the hub (inactivity timeout).
        stuck += join_threads([self._housekeeper], _JOIN_TIMEOUT_S)
        if self._lockfile_path is not None:
            release_lockfile(self._lockfile_path, self._secret)
        with self._lock:
            self._std = self._web = self._housekeeper = None
            self._state = State.STOPPED
            if self._secret_arg is None:
                self._secret = secrets.token_hex(16)
            self._stopped.set()
        report_stuck_threads("SAMP hub", stuck, _JOIN_TIMEOUT_S, category=SAMPWarning)
        logger.info("SAMP hub stopped")

    def __enter__(self) -> SAMPHubServer:
        if not self.is_running:
            self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __del__(self) -> None:
        if getattr(self, "_state", None) is State.RUNNING:
            warnings.warn(
                "SAMPHubServer was never stopped; call stop() or use it as a context manager",
                ResourceWarning,
                stacklevel=2,
            )

    def _housekeep(self) -> None:
        methods = self._methods
        while True:
            now = time.monotonic()
            deadlines = []
            if self._timeout:
                deadlines.append(methods.last_activity + self._timeout)
            if self._client_timeout:
                for record in methods.registry.clients():
                    deadlines.append(record.last_seen + self._client_timeout)
                if not deadlines:
                    deadlines.append(now + self._client_timeout)
            if self._stop_event.wait(max(0.0, min(deadlines) - now)):
                return
            now = time.monotonic()
            if self._timeout and now - methods.last_activity >= self._timeout:
                logger.info("SAMP hub idle for %s s: stopping", self._timeout)
                threading.Thread(target=self.stop, name="samp-hub-idle-stop").start()
                return
            if self._client_timeout:
                for record in methods.registry.clients():
                    if now - record.last_seen >= self._client_timeout:
                        methods.eject(record, "Timeout expired!")


class _StandardApp:
    """HTTP app of the Standard Profile: XML-RPC ``samp.hub.*`` on any path.

    Given the hub methods and the lockfile secret that registration needs.
    """

    def __init__(self, methods: HubMethods, secret: str) -> None:
        self._methods = methods
        self._secret = secret
        self._EXTRA: dict[str, tuple[Callable[..., Any], int]] = {
            "setXmlrpcCallback": (methods.op_set_xmlrpc_callback, 1),
        }

    def handle(self, request: Request) -> Response:
        if request.method != "POST":
            return 200, [("Content-Type", "text/plain")], b"skyhop SAMP hub (XML-RPC over POST)\n"
        return xmlrpc_reply(request.body, self._dispatch)

    def _dispatch(self, method: str, params: tuple[Any, ...]) -> Any:
        return dispatch_profile(
            self._methods,
            method,
            params,
            prefix="samp.hub.",
            wrong_prefix="Standard Profile uses samp.hub.*",
            register=self._register,
            register_arg="the lockfile secret",
            extra=self._EXTRA,
        )

    def _register(self, secret: Any) -> dict[str, str]:
        methods = self._methods
        if secret != self._secret:
            raise SAMPHubError("wrong SAMP secret", code=C.FAULT_BAD_SECRET)
        methods.touch()
        return methods.reg_info(methods.register_client(STANDARD))
