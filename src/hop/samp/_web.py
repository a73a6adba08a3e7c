"""The hub's Web Profile: ``samp.webhub.*`` for browser clients on port 21012.

* CORS: the request's ``Origin`` is echoed; ``OPTIONS`` preflights are answered, and
  so are Private Network Access preflights (``Access-Control-Allow-Private-Network``).
  ``/crossdomain.xml`` and ``/clientaccesspolicy.xml`` are served for old plug-ins.
* Registration needs explicit consent from the hub's ``web_consent`` hook; with no
  hook, it is refused. The hook runs in the registering request's own thread, so the
  Standard Profile (and other web calls) keep being served while it decides.
* ``pullCallbacks`` long-polls up to its timeout.
* The URL translator serves registered web clients only: any URL a desktop
  (Standard Profile) client mentioned in a message, response or its metadata (a
  ``file:`` URL or a loopback host included), and other http(s) URLs only on public
  hosts and while ``hop.samp.conf.use_internet`` is True. Anything else -- another
  ``file:`` URL, a loopback, private or link-local host -- is refused.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from hop.samp import _constants as C
from hop.samp._delivery import PullBox
from hop.samp._errors import SAMPHubError
from hop.samp._http import Request, Response, xmlrpc_reply
from hop.samp._hub_methods import HubMethods, dispatch_profile
from hop.samp._registry import WEB, ClientRecord

__all__ = ["WebProfileApp", "is_public_url"]

logger = logging.getLogger("hop.samp.web")

_CROSSDOMAIN = b"""<?xml version="1.0"?>
<!DOCTYPE cross-domain-policy SYSTEM "http://www.adobe.com/xml/dtds/cross-domain-policy.dtd">
<cross-domain-policy>
  <site-control permitted-cross-domain-policies="master-only"/>
  <allow-access-from domain="*"/>
  <allow-http-request-headers-from domain="*" headers="*"/>
</cross-domain-policy>
"""

_CLIENTACCESSPOLICY = b"""<?xml version="1.0" encoding="utf-8"?>
<access-policy>
  <cross-domain-access>
    <policy>
      <allow-from http-request-headers="*">
        <domain uri="*"/>
      </allow-from>
      <grant-to>
        <resource path="/" include-subpaths="true"/>
      </grant-to>
    </policy>
  </cross-domain-access>
</access-policy>
"""

_TRANSLATE_LIMIT = 64 * 1024 * 1024
_TRANSLATE_TIMEOUT_S = 30.0


def is_public_url(url: str) -> tuple[bool, str]:
    """Say whether the URL translator may fetch ``url``, and why not.

    Only http(s) URLs whose host resolves exclusively to public (global) addresses
    are allowed: no local files, no loopback, private, link-local or reserved hosts.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return False, f"scheme {parts.scheme or '(none)'!r} is not allowed"
    host = parts.hostname
    if not host:
        return False, "URL has no host"
    try:
        infos = socket.getaddrinfo(host, parts.port or 80, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError) as exc:
        return False, f"cannot resolve {host}: {exc}"
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            return False, f"host {host} is a local address ({address})"
    return True, ""


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() in ("1", "true", "yes")


class WebProfileApp:
    """HTTP app serving the Web Profile for one run of a hub.

    Parameters
    ----------
    methods : HubMethods
        The hub methods, with the registry and the clients' mailboxes they own.
    consent : callable, optional
        The hub's ``web_consent`` hook; without one every registration is refused.
    """

    def __init__(
        self, methods: HubMethods, *, consent: Callable[[dict[str, Any]], bool] | None
    ) -> None:
        self._methods = methods
        self._registry = methods.registry
        self._consent = consent
        self.port = 0
        self._consent_lock = threading.Lock()
        self._extra: dict[str, tuple[Callable[..., Any], int]] = {
            "allowReverseCallbacks": (self._allow_reverse_callbacks, 1),
            "pullCallbacks": (self._pull_callbacks, 1),
        }

    # -- HTTP ----------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        cors = self._cors_headers(request)
        host = request.client_address[0]
        if not ipaddress.ip_address(host.split("%")[0]).is_loopback:
            return 403, cors, b"the SAMP Web Profile only serves this machine\n"
        path = urlsplit(request.path).path
        if request.method == "OPTIONS":
            return 200, cors, b""
        if request.method in ("GET", "HEAD"):
            if path == "/crossdomain.xml":
                return 200, [*cors, ("Content-Type", "text/x-cross-domain-policy")], _CROSSDOMAIN
            if path == "/clientaccesspolicy.xml":
                return 200, [*cors, ("Content-Type", "text/xml")], _CLIENTACCESSPOLICY
            if path.startswith("/translator/"):
                return self._translate(request, cors)
            return 404, cors, b"not found\n"
        if request.method != "POST":
            return 405, cors, b"method not allowed\n"
        status, headers, body = xmlrpc_reply(
            request.body, lambda method, params: self._dispatch(method, params, request)
        )
        return status, [*cors, *headers], body

    @staticmethod
    def _cors_headers(request: Request) -> list[tuple[str, str]]:
        origin = request.headers.get("Origin")
        headers = [("Access-Control-Allow-Origin", origin or "*")]
        if origin:
            headers.append(("Vary", "Origin"))
        if request.method == "OPTIONS":
            headers += [
                ("Access-Control-Allow-Methods", "POST, GET, OPTIONS"),
                ("Access-Control-Allow-Headers", "Content-Type"),
                ("Access-Control-Max-Age", "600"),
            ]
            if request.headers.get("Access-Control-Request-Private-Network", "").lower() == "true":
                headers.append(("Access-Control-Allow-Private-Network", "true"))
        return headers

    def _translate(self, request: Request, cors: list[tuple[str, str]]) -> Response:
        parts = urlsplit(request.path)
        key = parts.path[len("/translator/") :]
        try:
            record = self._registry.client(key)
        except SAMPHubError:
            return 403, cors, b"unknown private key\n"
        if record.profile != WEB:
            return 403, cors, b"the translator serves Web Profile clients only\n"
        target = (parse_qs(parts.query).get("ref") or [""])[0]
        if target in self._methods.urls:
            return self._fetch(target, cors)
        from hop.samp._conf import conf

        allowed, why = is_public_url(target)
        if allowed and not conf.use_internet:
            allowed, why = False, "hop.samp.conf.use_internet is False"
        if not allowed:
            logger.warning("URL translator refused %r for %s: %s", target, record.public_id, why)
            return 403, cors, f"refused: {why} (and no desktop client mentioned it)\n".encode()
        return self._fetch(target, cors)

    @staticmethod
    def _fetch(target: str, cors: list[tuple[str, str]]) -> Response:
        try:
            with urllib.request.urlopen(target, timeout=_TRANSLATE_TIMEOUT_S) as resp:
                body = resp.read(_TRANSLATE_LIMIT + 1)
                ctype = resp.headers.get("Content-Type") or "application/octet-stream"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            return 502, cors, f"fetch failed: {exc}\n".encode()
        if len(body) > _TRANSLATE_LIMIT:
            return 502, cors, b"document too large\n"
        return 200, [*cors, ("Content-Type", ctype)], body

    # -- XML-RPC --------------------------------------------------------------------

    def _dispatch(self, method: str, params: tuple[Any, ...], request: Request) -> Any:
        # Refused by name so a Web client hears why: this profile has no callback
        # URLs, its clients pull their callbacks instead.
        if method == "samp.webhub.setXmlrpcCallback":
            raise SAMPHubError("setXmlrpcCallback is not part of the Web Profile")
        return dispatch_profile(
            self._methods,
            method,
            params,
            prefix="samp.webhub.",
            wrong_prefix="Web Profile methods are samp.webhub.*",
            register=lambda identity: self._register(identity, request),
            register_arg="identity info map",
            extra=self._extra,
        )

    def _register(self, identity: Any, request: Request) -> dict[str, str]:
        methods = self._methods
        methods.check_running()
        if isinstance(identity, str):
            identity = {"samp.name": identity}  # pre-1.3 drafts sent a bare name
        if not isinstance(identity, Mapping) or not isinstance(identity.get("samp.name"), str):
            raise SAMPHubError("register needs an identity map with samp.name")
        info = {
            "samp.name": identity["samp.name"],
            "identity": dict(identity),
            "origin": request.headers.get("Origin"),
            "referer": request.headers.get("Referer"),
            "address": request.client_address[0],
            "port": request.client_address[1],
        }
        consent = self._consent
        if consent is None:
            raise SAMPHubError(
                "Web Profile registration refused: this hub has no way to ask for consent",
                code=C.FAULT_REFUSED,
            )
        with self._consent_lock:  # one question at a time
            try:
                allowed = bool(consent(info))
            except Exception:
                logger.exception("web_consent hook failed; refusing registration")
                allowed = False
        if not allowed:
            raise SAMPHubError("Web Profile registration refused by the user", code=C.FAULT_REFUSED)
        record = methods.register_client(WEB)
        reg = methods.reg_info(record)
        reg["samp.url-translator"] = (
            f"http://localhost:{self.port}/translator/{record.private_key}?ref="
        )
        return reg

    def _allow_reverse_callbacks(self, me: ClientRecord, allow: Any) -> str:
        self._registry.set_callback(me.private_key, None, _truthy(allow))
        return ""

    def _pull_callbacks(self, me: ClientRecord, timeout: Any) -> list[dict[str, Any]]:
        try:
            seconds = float(timeout)
        except (TypeError, ValueError) as exc:
            raise SAMPHubError(f"timeout must be a number of seconds, not {timeout!r}") from exc
        box = self._methods.mailbox(me.public_id)
        if not isinstance(box, PullBox):
            return []
        return box.pull(seconds)
