"""The hub methods of SAMP 1.3 and the routing between clients, for one run of a hub.

:class:`HubMethods` is a collaborator of :class:`~hop.samp._hub.SAMPHubServer`, made
anew each time the hub starts. It owns the clients' mailboxes (an
:class:`~hop.samp._delivery.Outbox` per callable Standard Profile client, a
:class:`~hop.samp._delivery.PullBox` per Web Profile client) and is given the
:class:`~hop.samp._registry.Registry` and the delivery settings. Each ``op_*`` method
is one hub method, called with the calling client's record (found from the private
key by :func:`dispatch_keyed`) and the remaining XML-RPC arguments. Both profiles'
HTTP apps dispatch to it; lifecycle and transport stay in :mod:`hop.samp._hub`.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from hop.samp import _constants as C
from hop.samp._delivery import Outbox, PullBox
from hop.samp._errors import SAMPHubError
from hop.samp._registry import (
    HUB,
    WEB,
    ClientRecord,
    Registry,
    SyncWaiter,
    check_message,
    mtype_matches,
)

if TYPE_CHECKING:
    import ssl

__all__ = ["HubMethods", "UrlTracker", "dispatch_keyed", "dispatch_profile"]

logger = logging.getLogger("hop.samp.hub")
traffic = logging.getLogger("hop.samp.traffic")

_MAX_SYNC_WAIT_S = 12 * 3600.0
_JOIN_TIMEOUT_S = 5.0


def _parse_timeout(value: Any) -> float:
    # SAMP sends a SAMP int string; astropy clients send XML-RPC ints: accept both.
    try:
        timeout = float(value)
    except (TypeError, ValueError) as exc:
        raise SAMPHubError(f"timeout must be a number of seconds, not {value!r}") from exc
    if math.isnan(timeout):
        raise SAMPHubError("timeout must be a number of seconds, not NaN")
    return timeout


_URL_SCHEMES = ("http://", "https://", "file:", "ftp://")
_MAX_TRACKED_URLS = 10_000


class UrlTracker:
    """URLs that desktop (Standard Profile) clients mentioned in what they sent.

    The Web Profile's URL translator serves such a URL to a browser client even when
    it is local (a ``file:`` URL or a loopback host): a desktop client offered it to
    the others. Nothing a Web client sends is noted, so a page cannot unlock a URL by
    naming it. The oldest entries go first past :data:`_MAX_TRACKED_URLS`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._urls: dict[str, None] = {}  # insertion-ordered set

    def note(self, sender: ClientRecord, value: Any) -> None:
        """Remember the URLs found anywhere in ``value`` if ``sender`` is not a Web client."""
        if sender.profile == WEB:
            return
        found: list[str] = []
        _collect_urls(value, found, depth=0)
        if not found:
            return
        with self._lock:
            for url in found:
                self._urls.pop(url, None)
                self._urls[url] = None
            while len(self._urls) > _MAX_TRACKED_URLS:
                del self._urls[next(iter(self._urls))]

    def __contains__(self, url: object) -> bool:
        with self._lock:
            return url in self._urls


def _collect_urls(value: Any, out: list[str], depth: int) -> None:
    if depth > 32:  # SAMP values nest, but not without bound
        return
    if isinstance(value, str):
        if value.startswith(_URL_SCHEMES):
            out.append(value)
    elif isinstance(value, Mapping):
        for item in value.values():
            _collect_urls(item, out, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            _collect_urls(item, out, depth + 1)


class HubMethods:
    """The SAMP hub methods of one hub run, and the mailboxes they deliver to.

    Parameters
    ----------
    registry : Registry
        The hub's state: clients, subscriptions, pending calls.
    accepting : callable
        ``accepting()`` says whether the hub still takes calls (False while stopping).
    callback_timeout : float
        Socket timeout of one callback to a Standard Profile client.
    max_failures : int
        Consecutive failed callbacks after which a client is ejected.
    callback_ssl : ssl.SSLContext
        For clients whose callback URL is https.
    web_restrict : bool
        Let Web clients send only :data:`SAFE_MTYPES` unless the recipient's
        subscription says ``x-samp.mostly-harmless = "1"``.
    """

    def __init__(
        self,
        registry: Registry,
        *,
        accepting: Callable[[], bool],
        callback_timeout: float,
        max_failures: int,
        callback_ssl: ssl.SSLContext,
        web_restrict: bool,
    ) -> None:
        self.registry = registry
        self._accepting = accepting
        self._callback_timeout = callback_timeout
        self._max_failures = max_failures
        self._callback_ssl = callback_ssl
        self._web_restrict = web_restrict
        self._lock = threading.Lock()  # guards _boxes
        self._boxes: dict[str, Outbox | PullBox] = {}
        self.last_activity = time.monotonic()
        """When a client last called the hub (``time.monotonic()``)."""
        self.urls = UrlTracker()
        """URLs desktop clients mentioned, which the Web Profile's translator serves."""

    def touch(self) -> None:
        """Note hub activity (for the inactivity timeout)."""
        self.last_activity = time.monotonic()

    def check_running(self) -> None:
        """Refuse calls while the hub is stopping."""
        if not self._accepting():
            raise SAMPHubError("the hub is shutting down")

    # -- mailboxes

    def mailbox(self, public_id: str) -> Outbox | PullBox | None:
        """The mailbox of a client, if it has one."""
        with self._lock:
            return self._boxes.get(public_id)

    def mailboxes(self) -> list[Outbox | PullBox]:
        """A snapshot of every mailbox."""
        with self._lock:
            return list(self._boxes.values())

    def close_mailboxes(self, timeout: float) -> list[str]:
        """Close every mailbox; return the names of outbox threads that did not stop."""
        with self._lock:
            boxes, self._boxes = list(self._boxes.values()), {}
        return [
            box.thread.name
            for box in boxes
            if not box.close(timeout) and isinstance(box, Outbox)
        ]

    def register_client(self, profile: str) -> ClientRecord:
        """Register a new client and announce it."""
        self.check_running()
        record = self.registry.register(profile)
        if profile == WEB:
            with self._lock:
                self._boxes[record.public_id] = PullBox(record)
        traffic.info("register %s (%s)", record.public_id, profile)
        self.broadcast(C.MTYPE_REGISTER, {"id": record.public_id})
        return record

    def reg_info(self, record: ClientRecord) -> dict[str, str]:
        """The registration map returned to a new client."""
        return {
            "samp.hub-id": self.registry.hub.public_id,
            "samp.self-id": record.public_id,
            "samp.private-key": record.private_key,
        }

    def op_unregister(self, me: ClientRecord) -> str:
        _, orphans = self.registry.unregister(me.private_key)
        with self._lock:
            box = self._boxes.pop(me.public_id, None)
        if box is not None:
            box.close(_JOIN_TIMEOUT_S)
        traffic.info("unregister %s", me.public_id)
        self._after_unregister(me, orphans)
        return ""

    def op_set_xmlrpc_callback(self, me: ClientRecord, url: Any) -> str:
        if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https"):
            raise SAMPHubError(f"callback URL must be an http(s) URL, not {url!r}")
        with self._lock:
            old = self._boxes.pop(me.public_id, None)
            self._boxes[me.public_id] = Outbox(
                me,
                url,
                self.eject,
                timeout=self._callback_timeout,
                max_failures=self._max_failures,
                ssl_context=self._callback_ssl if url.startswith("https") else None,
            )
        if old is not None:
            old.close(_JOIN_TIMEOUT_S)
        self.registry.set_callback(me.private_key, url)
        return ""

    def op_declare_metadata(self, me: ClientRecord, metadata: Any) -> str:
        self.registry.declare_metadata(me.private_key, metadata)
        self.urls.note(me, metadata)
        self.broadcast(C.MTYPE_METADATA, {"id": me.public_id, "metadata": dict(metadata)})
        return ""

    def op_get_metadata(self, me: ClientRecord, client_id: Any) -> dict[str, Any]:
        return self.registry.get_metadata(client_id)

    def op_declare_subscriptions(self, me: ClientRecord, subscriptions: Any) -> str:
        record = self.registry.declare_subscriptions(me.private_key, subscriptions)
        self.broadcast(
            C.MTYPE_SUBSCRIPTIONS, {"id": me.public_id, "subscriptions": record.subscriptions}
        )
        return ""

    def op_get_subscriptions(self, me: ClientRecord, client_id: Any) -> dict[str, Any]:
        return self.registry.get_subscriptions(client_id)

    def op_get_registered_clients(self, me: ClientRecord) -> list[str]:
        return self.registry.registered_ids(me.private_key)

    def op_get_subscribed_clients(self, me: ClientRecord, mtype: Any) -> dict[str, Any]:
        return self.registry.subscribed_clients(me.private_key, mtype)

    def _target(self, me: ClientRecord, recipient_id: Any, mtype: str) -> ClientRecord:
        recipient = self.registry.recipient(me, recipient_id, mtype)
        if not self._web_allowed(me, recipient, mtype):
            raise SAMPHubError(
                f"Web Profile clients may not send {mtype} to {recipient_id}", code=C.FAULT_REFUSED
            )
        return recipient

    def _targets(self, me: ClientRecord, mtype: str) -> list[ClientRecord]:
        return [
            r for r in self.registry.recipients(me, mtype) if self._web_allowed(me, r, mtype)
        ]

    def op_notify(self, me: ClientRecord, recipient_id: Any, message: Any) -> str:
        mtype = check_message(message)
        self.urls.note(me, message)
        recipient = self._target(me, recipient_id, mtype)
        traffic.info("notify %s -> %s %s", me.public_id, recipient.public_id, message)
        self.deliver(recipient, "receiveNotification", (me.public_id, message))
        return ""

    def op_notify_all(self, me: ClientRecord, message: Any) -> list[str]:
        mtype = check_message(message)
        self.urls.note(me, message)
        recipients = self._targets(me, mtype)
        traffic.info("notifyAll %s -> %s %s", me.public_id, [r.public_id for r in recipients],
                     message)
        for recipient in recipients:
            self.deliver(recipient, "receiveNotification", (me.public_id, message))
        return [r.public_id for r in recipients]

    def op_call(self, me: ClientRecord, recipient_id: Any, msg_tag: Any, message: Any) -> str:
        mtype = check_message(message)
        self.urls.note(me, message)
        if not isinstance(msg_tag, str):
            raise SAMPHubError(f"msg-tag must be a string, not {msg_tag!r}")
        recipient = self._target(me, recipient_id, mtype)
        msg_id = self.registry.new_call(me, recipient, msg_tag)
        traffic.info("call %s -> %s [%s] %s", me.public_id, recipient.public_id, msg_id, message)
        self.deliver(recipient, "receiveCall", (me.public_id, msg_id, message))
        return msg_id

    def op_call_all(self, me: ClientRecord, msg_tag: Any, message: Any) -> dict[str, str]:
        mtype = check_message(message)
        self.urls.note(me, message)
        if not isinstance(msg_tag, str):
            raise SAMPHubError(f"msg-tag must be a string, not {msg_tag!r}")
        ids: dict[str, str] = {}
        for recipient in self._targets(me, mtype):
            msg_id = self.registry.new_call(me, recipient, msg_tag)
            ids[recipient.public_id] = msg_id
            traffic.info("callAll %s -> %s [%s] %s", me.public_id, recipient.public_id, msg_id,
                         message)
            self.deliver(recipient, "receiveCall", (me.public_id, msg_id, message))
        return ids

    def op_call_and_wait(
        self, me: ClientRecord, recipient_id: Any, message: Any, timeout: Any
    ) -> Any:
        mtype = check_message(message)
        self.urls.note(me, message)
        seconds = _parse_timeout(timeout)
        recipient = self._target(me, recipient_id, mtype)
        waiter = SyncWaiter()
        # Recorded before delivery: a reply can never beat its own bookkeeping.
        msg_id = self.registry.new_call(me, recipient, None, waiter)
        traffic.info("callAndWait %s -> %s [%s] %s", me.public_id, recipient.public_id, msg_id,
                     message)
        self.deliver(recipient, "receiveCall", (me.public_id, msg_id, message))
        limit = seconds if seconds > 0 else _MAX_SYNC_WAIT_S
        if not waiter.wait(min(limit, _MAX_SYNC_WAIT_S)):
            self.registry.cancel_call(msg_id)
            raise SAMPHubError("Timeout expired!")
        if waiter.error is not None:
            raise waiter.error
        return waiter.response

    def op_reply(self, me: ClientRecord, msg_id: Any, response: Any) -> str:
        if not isinstance(response, Mapping):
            raise SAMPHubError(f"response must be a map, not {type(response).__name__}")
        self.urls.note(me, response)
        self._reply(me, msg_id, response)
        return ""

    def _reply(self, me: ClientRecord, msg_id: Any, response: Mapping[str, Any]) -> None:
        pending = self.registry.take_call(me, msg_id)
        traffic.info("reply %s -> %s [%s] %s", me.public_id, pending.sender_id, msg_id, response)
        if pending.waiter is not None:
            pending.waiter.resolve(dict(response))
            return
        sender = self.registry.sender_of(pending)
        if sender is None:
            logger.debug("reply to %s dropped: sender %s is gone", msg_id, pending.sender_id)
            return
        self.deliver(sender, "receiveResponse", (me.public_id, pending.msg_tag, dict(response)))

    # -- routing

    def deliver(self, recipient: ClientRecord, method: str, args: tuple[Any, ...]) -> None:
        """Queue ``samp.client.<method>`` for a client (the hub answers its own calls)."""
        if recipient.profile == HUB:
            self._hub_receive(method, args)
            return
        with self._lock:
            box = self._boxes.get(recipient.public_id)
        if box is None or not box.put(method, args):
            logger.debug("dropped %s to %s: no callback", method, recipient.public_id)

    def broadcast(self, mtype: str, params: dict[str, Any], exclude: str | None = None) -> None:
        """Notify every client subscribed to ``mtype`` (but ``exclude``) from the hub."""
        hub = self.registry.hub
        message = {"samp.mtype": mtype, "samp.params": params}
        for record in self.registry.recipients(hub, mtype):
            if record.public_id != exclude:
                self.deliver(record, "receiveNotification", (hub.public_id, message))

    def _hub_receive(self, method: str, args: tuple[Any, ...]) -> None:
        if method != "receiveCall":
            return
        _sender, msg_id, message = args
        mtype = message.get("samp.mtype")
        params = message.get("samp.params") or {}
        if mtype == C.MTYPE_PING:
            response: dict[str, Any] = {"samp.status": C.SAMP_STATUS_OK, "samp.result": {}}
        elif mtype in ("x-samp.query.by-meta", "samp.query.by-meta"):
            ids = self.registry.find_by_meta(str(params.get("key")), params.get("value"))
            response = {"samp.status": C.SAMP_STATUS_OK, "samp.result": {"ids": ids}}
        else:
            response = {
                "samp.status": C.SAMP_STATUS_ERROR,
                "samp.error": {"samp.errortxt": f"the hub does not handle {mtype}"},
            }
        self._reply(self.registry.hub, msg_id, response)

    def _web_allowed(self, sender: ClientRecord, recipient: ClientRecord, mtype: str) -> bool:
        if sender.profile != WEB or not self._web_restrict:
            return True
        annotation = recipient.annotation_for(mtype) or {}
        harmless = annotation.get("x-samp.mostly-harmless", annotation.get("samp.mostly-harmless"))
        if harmless is not None:
            return str(harmless) == "1"
        return any(mtype_matches(p, mtype) for p in C.SAFE_MTYPES)

    def eject(self, record: ClientRecord, reason: str) -> None:
        """Forcibly unregister a client: tell it why, then tell the others."""
        try:
            _, orphans = self.registry.unregister(record.private_key)
        except SAMPHubError:
            return  # already gone
        logger.warning("ejecting SAMP client %s: %s", record.public_id, reason)
        with self._lock:
            box = self._boxes.pop(record.public_id, None)
        if box is not None:
            message = {"samp.mtype": C.MTYPE_DISCONNECT, "samp.params": {"reason": reason}}
            if isinstance(box, Outbox) and threading.current_thread() is not box.thread:
                box.put("receiveNotification", (self.registry.hub.public_id, message))
                box.drain(time.monotonic() + 1.0)
            elif isinstance(box, PullBox):
                box.put("receiveNotification", (self.registry.hub.public_id, message))
            box.close(_JOIN_TIMEOUT_S)
        self._after_unregister(record, orphans)

    def _after_unregister(self, record: ClientRecord, orphans: list[Any]) -> None:
        for pending in orphans:
            if pending.waiter is not None:
                pending.waiter.fail(
                    SAMPHubError(f"recipient {record.public_id} unregistered before replying")
                )
        self.broadcast(C.MTYPE_UNREGISTER, {"id": record.public_id})


# Hub method name -> (handler, number of arguments after the private key).
_METHODS: dict[str, tuple[Callable[..., Any], int]] = {
    "unregister": (HubMethods.op_unregister, 0),
    "declareMetadata": (HubMethods.op_declare_metadata, 1),
    "getMetadata": (HubMethods.op_get_metadata, 1),
    "declareSubscriptions": (HubMethods.op_declare_subscriptions, 1),
    "getSubscriptions": (HubMethods.op_get_subscriptions, 1),
    "getRegisteredClients": (HubMethods.op_get_registered_clients, 0),
    "getSubscribedClients": (HubMethods.op_get_subscribed_clients, 1),
    "notify": (HubMethods.op_notify, 2),
    "notifyAll": (HubMethods.op_notify_all, 1),
    "call": (HubMethods.op_call, 3),
    "callAll": (HubMethods.op_call_all, 2),
    "callAndWait": (HubMethods.op_call_and_wait, 3),
    "reply": (HubMethods.op_reply, 2),
}


def dispatch_keyed(
    hub: HubMethods, method: str, name: str, params: tuple[Any, ...],
    extra: Mapping[str, tuple[Callable[..., Any], int]] | None = None,
) -> Any:
    """Run a hub method that takes a private key first (both profiles)."""
    entry = _METHODS.get(name)
    bound = False
    if entry is None and extra is not None:
        entry = extra.get(name)
        bound = True
    if entry is None:
        raise SAMPHubError(f"unknown SAMP hub method {method!r}")
    handler, nargs = entry
    if len(params) != nargs + 1:
        raise SAMPHubError(
            f"{method} takes {nargs + 1} argument(s) (private-key first), got {len(params)}"
        )
    hub.check_running()
    me = hub.registry.client(params[0])
    hub.touch()
    if bound:
        return handler(me, *params[1:])
    return handler(hub, me, *params[1:])


def dispatch_profile(
    hub: HubMethods,
    method: str,
    params: tuple[Any, ...],
    *,
    prefix: str,
    wrong_prefix: str,
    register: Callable[[Any], Any],
    register_arg: str,
    extra: Mapping[str, tuple[Callable[..., Any], int]] | None = None,
) -> Any:
    """Run one XML-RPC call of a hub profile (``samp.hub.*`` or ``samp.webhub.*``).

    Both profiles answer ``ping`` and ``register`` without a private key and hand the
    rest to :func:`dispatch_keyed`; only their prefix and how they register differ.

    Parameters
    ----------
    hub : HubMethods
        The hub.
    method, params : str, tuple
        The XML-RPC method name and arguments.
    prefix : str
        The profile's method prefix, with its trailing dot.
    wrong_prefix : str
        What the fault says after the method name when ``method`` lacks ``prefix``.
    register : callable
        ``register(arg)`` registers a client from the one ``register`` argument.
    register_arg : str
        What that argument is, for the fault about a wrong argument count.
    extra : mapping, optional
        The profile's own keyed methods, as for :func:`dispatch_keyed`.

    Raises
    ------
    SAMPHubError
        For an unknown method or a wrong number of arguments, or as the method does.
    """
    if not method.startswith(prefix):
        raise SAMPHubError(f"unknown method {method!r}: {wrong_prefix}")
    name = method[len(prefix) :]
    if name == "ping":
        hub.check_running()
        return ""
    if name == "register":
        if len(params) != 1:
            raise SAMPHubError(f"{method} takes 1 argument ({register_arg})")
        return register(params[0])
    return dispatch_keyed(hub, method, name, params, extra)
