"""XML-RPC helpers shared by the hub and the clients.

* :func:`to_xmlrpc` checks what a client sends and keeps each value's XML-RPC type
  (an int stays an ``<int>``), as astropy's client does: SAMP's string-only rule is
  the sender's business.
* :func:`to_samp` turns Python values into the three SAMP types (string, list, map),
  for senders that opt in (``samp_strings=True``) to be legal for strict hubs such as
  JSAMP's.
* :func:`make_ssl_context` turns the astropy-style TLS arguments into an
  :class:`ssl.SSLContext`, or refuses them clearly; :func:`server_ssl_context` does
  it for a listening server that may or may not use https.
* :class:`ProxyPool` is a thread-safe pool of :class:`xmlrpc.client.ServerProxy`
  objects (one proxy holds one HTTP connection and is not thread-safe).

Parsing uses the standard library's expat-based :func:`xmlrpc.client.loads`: expat
never fetches external entities and limits entity expansion, so the XXE and
"billion laughs" attacks fixed in astropy 8.0 do not apply.
"""

from __future__ import annotations

import http.client
import math
import queue
import socket
import ssl
import threading
import xmlrpc.client
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from hop.samp._errors import SAMPClientError, SAMPProxyError, SAMPProxyTimeoutError

__all__ = ["ProxyPool", "make_ssl_context", "to_samp", "to_xmlrpc"]


def to_samp(value: Any, *, where: str = "value") -> Any:
    """Convert a Python value to SAMP types: str, list of SAMP values, dict str -> value.

    Booleans become ``"1"``/``"0"``, integers and floats their decimal text (the SAMP
    int/float conventions), ``None`` the empty string; tuples and sets become lists.

    Parameters
    ----------
    value : object
        What to convert.
    where : str
        Where the value sits (e.g. ``"message['samp.params']['ra']"``), for errors.

    Raises
    ------
    SAMPClientError
        For a value with no SAMP form (bytes, objects, NaN or infinite floats,
        non-string map keys, non-ASCII text).
    """
    if isinstance(value, str):
        _check_samp_string(value, where)
        return value
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SAMPClientError(f"{where}: {value!r} has no SAMP float form")
        return repr(value)
    if value is None:
        return ""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise SAMPClientError(f"{where}: map key {key!r} is not a string")
            out[key] = to_samp(item, where=f"{where}[{key!r}]")
        return out
    if isinstance(value, list | tuple | set | frozenset):
        return [to_samp(item, where=f"{where}[{i}]") for i, item in enumerate(value)]
    # numpy scalars and similar number-likes: accept anything int()/float() round-trips.
    if hasattr(value, "item") and callable(value.item):
        return to_samp(value.item(), where=where)
    raise SAMPClientError(f"{where}: {type(value).__name__} {value!r} is not a SAMP type")


_XMLRPC_INT_MIN, _XMLRPC_INT_MAX = -(2**31), 2**31 - 1


def to_xmlrpc(value: Any, *, where: str = "value") -> Any:
    """Check that a value can be sent over XML-RPC, keeping its type.

    Strings, booleans, ints, floats and ``None`` pass unchanged (an int is sent as
    ``<int>``, as astropy sends it); tuples and sets become lists, mappings dicts;
    numpy scalars become the Python number they hold.

    Parameters
    ----------
    value : object
        What to send.
    where : str
        Where the value sits, for errors.

    Raises
    ------
    SAMPClientError
        For what XML-RPC cannot carry (bytes, objects, non-string map keys, ints
        outside 32 bits), named by where it sits, before anything is sent.
    """
    if value is None or isinstance(value, str | bool | float):
        return value
    if isinstance(value, int):
        if not _XMLRPC_INT_MIN <= value <= _XMLRPC_INT_MAX:
            raise SAMPClientError(f"{where}: {value} does not fit an XML-RPC (32-bit) int")
        return value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise SAMPClientError(f"{where}: map key {key!r} is not a string")
            out[key] = to_xmlrpc(item, where=f"{where}[{key!r}]")
        return out
    if isinstance(value, list | tuple | set | frozenset):
        return [to_xmlrpc(item, where=f"{where}[{i}]") for i, item in enumerate(value)]
    if hasattr(value, "item") and callable(value.item):
        return to_xmlrpc(value.item(), where=where)
    raise SAMPClientError(f"{where}: {type(value).__name__} {value!r} cannot be sent over XML-RPC")


def outgoing(samp_strings: bool) -> Any:
    """The conversion a client applies to what it sends: :func:`to_samp` or :func:`to_xmlrpc`."""
    return to_samp if samp_strings else to_xmlrpc


def _check_samp_string(text: str, where: str) -> None:
    # SAMP strings are ASCII 0x09, 0x0a, 0x0d, 0x20-0x7f; JSAMP refuses anything else.
    if text.isascii() and (text.isprintable() or all(_samp_char(c) for c in text)):
        return
    bad = next(c for c in text if not _samp_char(c))
    raise SAMPClientError(f"{where}: character {bad!r} (0x{ord(bad):x}) is not allowed in SAMP")


def _samp_char(c: str) -> bool:
    o = ord(c)
    return o in (0x09, 0x0A, 0x0D) or 0x20 <= o <= 0x7F


def make_ssl_context(
    *,
    server_side: bool,
    key_file: str | None = None,
    cert_file: str | None = None,
    cert_reqs: int = ssl.CERT_NONE,
    ca_certs: str | None = None,
    ssl_version: int | None = None,
) -> ssl.SSLContext:
    """Build an SSL context from astropy-style TLS arguments.

    Parameters
    ----------
    server_side : bool
        True for a listening socket (``cert_file`` required), False for a connection.
    key_file, cert_file : str, optional
        PEM private key and certificate (``key_file`` may be omitted when the
        certificate file holds the key).
    cert_reqs : int
        ``ssl.CERT_NONE``, ``ssl.CERT_OPTIONAL`` or ``ssl.CERT_REQUIRED``: whether the
        peer's certificate is requested and verified. Verification needs ``ca_certs``.
    ca_certs : str, optional
        PEM file of CA certificates used to verify the peer.
    ssl_version : int, optional
        An ``ssl.PROTOCOL_*`` constant; the default negotiates the best TLS version.

    Raises
    ------
    SAMPClientError
        When the combination cannot work (no certificate for a server, verification
        without CAs, unknown ``cert_reqs``), or a file cannot be loaded.
    """
    if cert_reqs not in (ssl.CERT_NONE, ssl.CERT_OPTIONAL, ssl.CERT_REQUIRED):
        raise SAMPClientError(
            f"cert_reqs={cert_reqs!r}: use ssl.CERT_NONE, ssl.CERT_OPTIONAL or ssl.CERT_REQUIRED"
        )
    if cert_reqs != ssl.CERT_NONE and not ca_certs:
        raise SAMPClientError("cert_reqs asks to verify certificates but ca_certs is not given")
    if server_side and not cert_file:
        raise SAMPClientError("https=True needs cert_file (and key_file unless the cert holds it)")
    if key_file and not cert_file:
        raise SAMPClientError("key_file given without cert_file")
    protocol: Any
    if ssl_version is None:
        protocol = ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT
    else:
        protocol = ssl_version
    try:
        ctx = ssl.SSLContext(protocol)
    except (ValueError, OSError) as exc:
        raise SAMPClientError(f"ssl_version={ssl_version!r} is not usable: {exc}") from exc
    ctx.check_hostname = False
    ctx.verify_mode = ssl.VerifyMode(cert_reqs)
    try:
        if cert_file:
            ctx.load_cert_chain(cert_file, key_file)
        if ca_certs:
            ctx.load_verify_locations(ca_certs)
    except (OSError, ssl.SSLError) as exc:
        raise SAMPClientError(f"cannot load TLS files ({cert_file}, {ca_certs}): {exc}") from exc
    return ctx


def server_ssl_context(
    https: bool,
    *,
    key_file: str | None = None,
    cert_file: str | None = None,
    cert_reqs: int = ssl.CERT_NONE,
    ca_certs: str | None = None,
    ssl_version: int | None = None,
) -> ssl.SSLContext | None:
    """Build the TLS context of a listening server, or None for plain http.

    The hub's Standard Profile server and a client's callback server take the same
    astropy-style ``https``/TLS arguments, so both build their context here.

    Parameters
    ----------
    https : bool
        Whether the server speaks TLS; without it the other arguments are not used.
    key_file, cert_file, cert_reqs, ca_certs, ssl_version :
        As for :func:`make_ssl_context` (``cert_file`` is required).

    Returns
    -------
    ssl.SSLContext or None
        The server-side context, or None when ``https`` is False.

    Raises
    ------
    SAMPClientError
        As :func:`make_ssl_context`.
    """
    if not https:
        return None
    return make_ssl_context(
        server_side=True,
        key_file=key_file,
        cert_file=cert_file,
        cert_reqs=cert_reqs,
        ca_certs=ca_certs,
        ssl_version=ssl_version,
    )


class _Transport(xmlrpc.client.Transport):
    """HTTP transport with a socket timeout and Nagle off (small requests, low latency).

    Keeps the connection it made, so :meth:`set_timeout` reaches it without reading the
    base class's private state.
    """

    def __init__(self, timeout: float | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def make_connection(self, host: Any) -> Any:  # HTTP(S)Connection, as the base's
        # The base class hands back its cached connection for every request to the
        # same host (keep-alive): set it up once, when it is new.
        conn = super().make_connection(host)
        if conn is not self._conn:
            conn.timeout = self._timeout
            self._conn = _nodelay(conn)
        return conn

    def set_timeout(self, timeout: float | None) -> None:
        """Change the socket timeout, also of the open connection."""
        self._timeout = timeout
        conn = self._conn
        if conn is not None:
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)


class _SafeTransport(_Transport, xmlrpc.client.SafeTransport):
    """The same over TLS."""

    def __init__(self, timeout: float | None, context: ssl.SSLContext) -> None:
        super().__init__(timeout, context=context)


def _nodelay(conn: http.client.HTTPConnection) -> http.client.HTTPConnection:
    connect = conn.connect

    def connect_nodelay() -> None:
        connect()
        if conn.sock is not None:
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    conn.connect = connect_nodelay  # type: ignore[method-assign]
    return conn


def make_proxy(
    url: str, *, timeout: float | None = None, ssl_context: ssl.SSLContext | None = None
) -> xmlrpc.client.ServerProxy:
    """Return a ServerProxy for ``url`` with a timeout (and TLS context for https)."""
    scheme = urlsplit(url).scheme
    transport: xmlrpc.client.Transport
    if scheme == "https":
        ctx = ssl_context if ssl_context is not None else ssl.create_default_context()
        transport = _SafeTransport(timeout, ctx)
    elif scheme == "http":
        transport = _Transport(timeout)
    else:
        raise SAMPClientError(f"{url}: only http and https XML-RPC URLs are supported")
    return xmlrpc.client.ServerProxy(url, transport=transport, allow_none=True)


class ProxyPool:
    """A fixed-size pool of XML-RPC proxies to one URL, safe to share between threads.

    Parameters
    ----------
    url : str
        The XML-RPC endpoint.
    size : int
        How many connections may be open at once; callers beyond that wait.
    timeout : float, optional
        Socket timeout of each call in seconds.
    ssl_context : ssl.SSLContext, optional
        TLS settings for an https URL.
    """

    def __init__(
        self,
        url: str,
        size: int = 20,
        *,
        timeout: float | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if size < 1:
            raise ValueError(f"pool_size must be >= 1, not {size}")
        self.url = url
        self._timeout = timeout
        self._ssl_context = ssl_context
        self._idle: queue.LifoQueue[xmlrpc.client.ServerProxy] = queue.LifoQueue()
        self._slots = size
        self._created = 0
        self._lock = threading.Lock()
        make_proxy(url, timeout=timeout, ssl_context=ssl_context)  # validate the URL now

    @contextmanager
    def _proxy(self) -> Iterator[xmlrpc.client.ServerProxy]:
        try:
            proxy = self._idle.get_nowait()
        except queue.Empty:
            with self._lock:
                grow = self._created < self._slots
                if grow:
                    self._created += 1
            if grow:
                proxy = make_proxy(self.url, timeout=self._timeout, ssl_context=self._ssl_context)
            else:
                proxy = self._idle.get(timeout=self._timeout)
        ok = False
        try:
            yield proxy
            ok = True
        finally:
            if not ok:
                # The connection may be half-used after an error: start afresh next time.
                proxy("close")()
            self._idle.put(proxy)

    def call(self, method: str, *args: Any, timeout: float | bool | None = False) -> Any:
        """Call ``method`` remotely; faults become :class:`SAMPProxyError`.

        ``timeout`` (seconds, or None for none) overrides the pool's socket timeout
        for this call only.
        """
        with self._proxy() as proxy:
            transport: Any = proxy("transport")
            if timeout is not False:
                transport.set_timeout(timeout)
            try:
                return getattr(proxy, method)(*args)
            except xmlrpc.client.Fault as fault:
                # Both astropy's hub and ours say this on a callAndWait timeout.
                timed_out = "Timeout expired" in str(fault.faultString)
                cls = SAMPProxyTimeoutError if timed_out else SAMPProxyError
                raise cls(fault.faultCode, fault.faultString) from fault
            finally:
                if timeout is not False:
                    transport.set_timeout(self._timeout)

    def close(self) -> None:
        """Close every idle connection."""
        while True:
            try:
                proxy = self._idle.get_nowait()
            except queue.Empty:
                return
            proxy("close")()
