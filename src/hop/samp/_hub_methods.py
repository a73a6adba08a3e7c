"""The hub methods of SAMP 1.3, shared by the Standard and Web Profiles.

:class:`HubMethods` is mixed into :class:`~hop.samp._hub.SAMPHubServer`: each
``op_*`` method is one hub method, called with the calling client's record (found from
the private key by :func:`dispatch_keyed`) and the remaining XML-RPC arguments.
Lifecycle, transport and delivery stay in :mod:`hop.samp._hub`.
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
from hop.samp._registry import WEB, ClientRecord, Registry, SyncWaiter, check_message

if TYPE_CHECKING:
    import ssl

__all__ = ["HubMethods", "dispatch_keyed", "dispatch_profile"]

logger = logging.getLogger("hop.samp.hub")
traffic = logging.getLogger("hop.samp.traffic")

_MAX_SYNC_WAIT_S = 12 * 3600.0
_JOIN_TIMEOUT_S = 5.0


def _parse_timeout(value: Any) -> float:
    # SAMP sends a SAMP int string; astropy clients send XML-RPC ints: accept both.
    try:
        timeout = float(value)
    except (TypeError, ValueError):
        raise SAMPHubError(f"timeout must be a number of seconds, not {value!r}") from None
    if math.isnan(timeout):
        raise SAMPHubError("timeout must be a number of seconds, not NaN")
    return timeout


class HubMethods:
    """The SAMP hub methods; needs the state and delivery of ``SAMPHubServer``."""

    registry: Registry
    _lock: threading.RLock
    _state: str
    _boxes: dict[str, Outbox | PullBox]
    _last_activity: float
    _callback_timeout: float
    _max_failures: int
    _callback_ssl: ssl.SSLContext

    def _deliver(self, recipient: ClientRecord, method: str, args: tuple[Any, ...]) -> None:
        raise NotImplementedError

    def _broadcast(self, mtype: str, params: dict[str, Any], exclude: str | None = None) -> None:
        raise NotImplementedError

    def _eject(self, record: ClientRecord, reason: str) -> None:
        raise NotImplementedError

    def _after_unregister(self, record: ClientRecord, orphans: list[Any]) -> None:
        raise NotImplementedError

    def _web_allowed(self, sender: ClientRecord, recipient: ClientRecord, mtype: str) -> bool:
        raise NotImplementedError

    def touch(self) -> None:
        """Note hub activity (for the inactivity timeout)."""
        self._last_activity = time.monotonic()

    def check_running(self) -> None:
        """Refuse calls while the hub is stopping."""
        if self._state != "running":
            raise SAMPHubError("the hub is shutting down")

    def register_client(self, profile: str) -> ClientRecord:
        """Register a new client and announce it."""
        self.check_running()
        record = self.registry.register(profile)
        if profile == WEB:
            with self._lock:
                self._boxes[record.public_id] = PullBox(record)
        traffic.info("register %s (%s)", record.public_id, profile)
        self._broadcast(C.MTYPE_REGISTER, {"id": record.public_id})
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
                self._eject,
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
        self._broadcast(C.MTYPE_METADATA, {"id": me.public_id, "metadata": dict(metadata)})
        return ""

    def op_get_metadata(self, me: ClientRecord, client_id: Any) -> dict[str, Any]:
        return self.registry.get_metadata(client_id)

    def op_declare_subscriptions(self, me: ClientRecord, subscriptions: Any) -> str:
        record = self.registry.declare_subscriptions(me.private_key, subscriptions)
        self._broadcast(
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
        recipient = self._target(me, recipient_id, mtype)
        traffic.info("notify %s -> %s %s", me.public_id, recipient.public_id, message)
        self._deliver(recipient, "receiveNotification", (me.public_id, message))
        return ""

    def op_notify_all(self, me: ClientRecord, message: Any) -> list[str]:
        mtype = check_message(message)
        recipients = self._targets(me, mtype)
        traffic.info("notifyAll %s -> %s %s", me.public_id, [r.public_id for r in recipients],
                     message)
        for recipient in recipients:
            self._deliver(recipient, "receiveNotification", (me.public_id, message))
        return [r.public_id for r in recipients]

    def op_call(self, me: ClientRecord, recipient_id: Any, msg_tag: Any, message: Any) -> str:
        mtype = check_message(message)
        if not isinstance(msg_tag, str):
            raise SAMPHubError(f"msg-tag must be a string, not {msg_tag!r}")
        recipient = self._target(me, recipient_id, mtype)
        msg_id = self.registry.new_call(me, recipient, msg_tag)
        traffic.info("call %s -> %s [%s] %s", me.public_id, recipient.public_id, msg_id, message)
        self._deliver(recipient, "receiveCall", (me.public_id, msg_id, message))
        return msg_id

    def op_call_all(self, me: ClientRecord, msg_tag: Any, message: Any) -> dict[str, str]:
        mtype = check_message(message)
        if not isinstance(msg_tag, str):
            raise SAMPHubError(f"msg-tag must be a string, not {msg_tag!r}")
        ids: dict[str, str] = {}
        for recipient in self._targets(me, mtype):
            msg_id = self.registry.new_call(me, recipient, msg_tag)
            ids[recipient.public_id] = msg_id
            traffic.info("callAll %s -> %s [%s] %s", me.public_id, recipient.public_id, msg_id,
                         message)
            self._deliver(recipient, "receiveCall", (me.public_id, msg_id, message))
        return ids

    def op_call_and_wait(
        self, me: ClientRecord, recipient_id: Any, message: Any, timeout: Any
    ) -> Any:
        mtype = check_message(message)
        seconds = _parse_timeout(timeout)
        recipient = self._target(me, recipient_id, mtype)
        waiter = SyncWaiter()
        # Recorded before delivery: a reply can never beat its own bookkeeping.
        msg_id = self.registry.new_call(me, recipient, None, waiter)
        traffic.info("callAndWait %s -> %s [%s] %s", me.public_id, recipient.public_id, msg_id,
                     message)
        self._deliver(recipient, "receiveCall", (me.public_id, msg_id, message))
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
        self._deliver(sender, "receiveResponse", (me.public_id, pending.msg_tag, dict(response)))



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
