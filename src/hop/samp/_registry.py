"""The hub's state: registered clients, their metadata and subscriptions, pending calls.

Pure state under one lock, no sockets and no threads, so it is unit-tested directly.
The hub server (:mod:`hop.samp._hub`) is the transport around it. Every method that
returns client data returns copies, so callers never iterate a dict another thread is
changing (astropy's hub does exactly that).
"""

from __future__ import annotations

import itertools
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hop.samp import _constants as C
from hop.samp._errors import SAMPHubError

__all__ = [
    "ClientRecord",
    "PendingCall",
    "Registry",
    "SyncWaiter",
    "mtype_matches",
    "mtype_subtypes",
]

STANDARD = "standard"
WEB = "web"
HUB = "hub"


def mtype_matches(pattern: str, mtype: str) -> bool:
    """Return whether subscription ``pattern`` covers ``mtype``.

    ``*`` covers everything; ``a.b.*`` covers MTypes with at least one more atom after
    ``a.b`` (``a.b.c``, ``a.b.c.d``), not ``a.b`` itself; anything else must be equal.
    """
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return mtype.startswith(pattern[:-1])
    return pattern == mtype


def mtype_subtypes(mtype: str) -> list[str]:
    """Return the subscription patterns that cover ``mtype``, most specific first.

    Each pattern returned satisfies :func:`mtype_matches`. The hub answers
    ``get_mtype_subtypes`` with it and a client finds its bindings with it, so the two
    cannot drift apart on what a pattern covers.

    >>> mtype_subtypes("samp.app.ping")
    ['samp.app.ping', 'samp.app.*', 'samp.*', '*']
    """
    atoms = mtype.split(".")
    return [mtype] + [".".join(atoms[:i]) + ".*" for i in range(len(atoms) - 1, 0, -1)] + ["*"]


@dataclass
class ClientRecord:
    """What the hub knows about one registered client."""

    public_id: str
    """The client's ``samp.self-id``."""
    private_key: str
    """The secret the client passes to every hub call."""
    profile: str
    """``"standard"``, ``"web"`` or ``"hub"`` (the hub's own client)."""
    metadata: dict[str, Any] = field(default_factory=dict)
    """As last declared."""
    subscriptions: dict[str, Any] = field(default_factory=dict)
    """MType pattern -> annotation map, as last declared."""
    callback_url: str | None = None
    """Standard Profile XML-RPC callback URL, once set."""
    callable: bool = False
    """Whether the hub may deliver messages to it."""
    last_seen: float = field(default_factory=time.monotonic)
    """Monotonic time of the client's last hub call (for ``client_timeout``)."""

    def annotation_for(self, mtype: str) -> dict[str, Any] | None:
        """Annotation of the most specific subscription covering ``mtype``, or None."""
        best: tuple[int, Any] | None = None
        for pattern, annotation in self.subscriptions.items():
            if mtype_matches(pattern, mtype):
                rank = len(pattern) if pattern != "*" else -1
                if best is None or rank > best[0]:
                    best = (rank, annotation)
        if best is None:
            return None
        return dict(best[1]) if isinstance(best[1], Mapping) else {}


class SyncWaiter:
    """Where a ``callAndWait`` waits for its response (an Event, no polling)."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self.response: Any = None
        self.error: SAMPHubError | None = None

    def resolve(self, response: Any) -> None:
        """Hand over the response and wake the waiting call."""
        self.response = response
        self._event.set()

    def fail(self, error: SAMPHubError) -> None:
        """Wake the waiting call with an error (recipient gone, hub stopping)."""
        self.error = error
        self._event.set()

    def wait(self, timeout: float | None) -> bool:
        """Wait for a response or failure; False on timeout."""
        return self._event.wait(timeout)


@dataclass
class PendingCall:
    """A call delivered to a recipient and not yet replied to."""

    msg_id: str
    sender_id: str
    recipient_id: str
    msg_tag: str | None
    waiter: SyncWaiter | None = None


class Registry:
    """Registered clients and pending calls of one hub, safe to use from many threads.

    Parameters
    ----------
    hub_id : str
        Public ID of the hub's own client.
    hub_metadata : dict
        Metadata of the hub's own client.
    hub_subscriptions : dict
        Subscriptions of the hub's own client.
    key_factory : callable, optional
        Returns fresh private keys (tests may make them predictable).
    """

    def __init__(
        self,
        hub_id: str = "hub",
        hub_metadata: Mapping[str, Any] | None = None,
        hub_subscriptions: Mapping[str, Any] | None = None,
        *,
        key_factory: Callable[[], str] | None = None,
    ) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, ClientRecord] = {}
        self._by_id: dict[str, ClientRecord] = {}
        self._ids = itertools.count(1)
        self._msg_ids = itertools.count(1)
        self._pending: dict[str, PendingCall] = {}
        self._key_factory = key_factory or (lambda: secrets.token_hex(16))
        hub = ClientRecord(hub_id, self._key_factory(), HUB, callable=True)
        hub.metadata = dict(hub_metadata or {})
        hub.subscriptions = dict(hub_subscriptions or {})
        self.hub = hub
        self._by_key[hub.private_key] = hub
        self._by_id[hub.public_id] = hub

    # -- registration -------------------------------------------------------------

    def register(self, profile: str = STANDARD) -> ClientRecord:
        """Create a client with fresh, never reused, public ID and private key."""
        with self._lock:
            public_id = f"c{next(self._ids)}"
            key = self._key_factory()
            while key in self._by_key:
                key = self._key_factory()
            record = ClientRecord(public_id, f"{'wk' if profile == WEB else 'k'}:{key}", profile)
            self._by_key[record.private_key] = record
            self._by_id[public_id] = record
            return record

    def unregister(self, private_key: str) -> tuple[ClientRecord, list[PendingCall]]:
        """Remove a client; return it and the pending calls addressed to it.

        The caller fails the sync waiters among those calls, so no ``callAndWait``
        waits for a client that is gone.
        """
        with self._lock:
            record = self._lookup_key(private_key)
            if record.profile == HUB:
                raise SAMPHubError("the hub's own client cannot be unregistered", code=1)
            del self._by_key[private_key]
            del self._by_id[record.public_id]
            orphans = [p for p in self._pending.values() if p.recipient_id == record.public_id]
            for p in orphans:
                del self._pending[p.msg_id]
            return record, orphans

    def client(self, private_key: str) -> ClientRecord:
        """Return the client owning ``private_key`` and note it as active.

        Raises
        ------
        SAMPHubError
            Code 5 if the key is unknown.
        """
        with self._lock:
            record = self._lookup_key(private_key)
            record.last_seen = time.monotonic()
            return record

    def _lookup_key(self, private_key: Any) -> ClientRecord:
        record = self._by_key.get(private_key) if isinstance(private_key, str) else None
        if record is None:
            raise SAMPHubError("private key is not registered with this hub", code=C.FAULT_BAD_KEY)
        return record

    def _lookup_id(self, client_id: Any) -> ClientRecord:
        record = self._by_id.get(client_id) if isinstance(client_id, str) else None
        if record is None:
            raise SAMPHubError(
                f"no client with ID {client_id!r} is registered", code=C.FAULT_BAD_CLIENT_ID
            )
        return record

    def client_by_id(self, client_id: str) -> ClientRecord:
        """Return the client with public ID ``client_id`` (fault 6 if unknown)."""
        with self._lock:
            return self._lookup_id(client_id)

    def clients(self) -> list[ClientRecord]:
        """Every registered client except the hub's own."""
        with self._lock:
            return [r for r in self._by_id.values() if r.profile != HUB]

    def set_callback(self, private_key: str, url: str | None, callable_: bool = True) -> None:
        """Record the callback URL (Standard) or reverse-callback permission (Web)."""
        with self._lock:
            record = self._lookup_key(private_key)
            record.callback_url = url
            record.callable = callable_

    # -- metadata and subscriptions ---------------------------------------------

    def declare_metadata(self, private_key: str, metadata: Any) -> ClientRecord:
        """Replace a client's metadata (must be a map with string keys)."""
        _check_map(metadata, "metadata")
        with self._lock:
            record = self._lookup_key(private_key)
            record.metadata = dict(metadata)
            return record

    def get_metadata(self, client_id: str) -> dict[str, Any]:
        """Return a copy of a client's metadata."""
        with self._lock:
            return dict(self._lookup_id(client_id).metadata)

    def declare_subscriptions(self, private_key: str, subscriptions: Any) -> ClientRecord:
        """Replace a client's subscriptions (map of MType pattern -> annotation map)."""
        _check_map(subscriptions, "subscriptions")
        for pattern in subscriptions:
            if not pattern or " " in pattern:
                raise SAMPHubError(f"subscriptions: {pattern!r} is not an MType pattern")
        with self._lock:
            record = self._lookup_key(private_key)
            record.subscriptions = {
                k: (dict(v) if isinstance(v, Mapping) else {}) for k, v in subscriptions.items()
            }
            return record

    def get_subscriptions(self, client_id: str) -> dict[str, Any]:
        """Return a copy of a client's subscriptions."""
        with self._lock:
            return {k: dict(v) for k, v in self._lookup_id(client_id).subscriptions.items()}

    def registered_ids(self, private_key: str) -> list[str]:
        """IDs of all registered clients except the caller (the hub's ID included)."""
        with self._lock:
            me = self._lookup_key(private_key)
            return [cid for cid in self._by_id if cid != me.public_id]

    def subscribed_clients(self, private_key: str, mtype: str) -> dict[str, dict[str, Any]]:
        """Map ID -> annotation of every client except the caller subscribed to ``mtype``."""
        _check_mtype(mtype)
        with self._lock:
            me = self._lookup_key(private_key)
            out: dict[str, dict[str, Any]] = {}
            for record in self._by_id.values():
                if record is me:
                    continue
                annotation = record.annotation_for(mtype)
                if annotation is not None:
                    out[record.public_id] = annotation
            return out

    def recipient(self, sender: ClientRecord, recipient_id: Any, mtype: str) -> ClientRecord:
        """Return the client ``recipient_id`` if it may receive ``mtype``.

        Raises
        ------
        SAMPHubError
            Fault 6 for an unknown ID, 2 when it is not subscribed or not callable.
        """
        with self._lock:
            record = self._lookup_id(recipient_id)
            if record.annotation_for(mtype) is None:
                raise SAMPHubError(
                    f"client {recipient_id} is not subscribed to {mtype}",
                    code=C.FAULT_NOT_SUBSCRIBED,
                )
            if not record.callable:
                raise SAMPHubError(
                    f"client {recipient_id} is not callable (no callback)",
                    code=C.FAULT_NOT_SUBSCRIBED,
                )
            return record

    def recipients(self, sender: ClientRecord, mtype: str) -> list[ClientRecord]:
        """Every callable client other than ``sender`` subscribed to ``mtype``."""
        with self._lock:
            return [
                r
                for r in self._by_id.values()
                if r is not sender and r.callable and r.annotation_for(mtype) is not None
            ]

    # -- calls ----------------------------------------------------------------------

    def new_call(
        self,
        sender: ClientRecord,
        recipient: ClientRecord,
        msg_tag: str | None,
        waiter: SyncWaiter | None = None,
    ) -> str:
        """Record a call before it is delivered and return its msg-id.

        Recording first means a reply can never arrive before the hub knows the call
        (the race that loses fast replies in astropy's hub).
        """
        with self._lock:
            kind = "s" if waiter is not None else "a"
            msg_id = f"m{next(self._msg_ids)}{kind}:{sender.public_id}:{recipient.public_id}"
            self._pending[msg_id] = PendingCall(
                msg_id, sender.public_id, recipient.public_id, msg_tag, waiter
            )
            return msg_id

    def take_call(self, replier: ClientRecord, msg_id: Any) -> PendingCall:
        """Remove and return the pending call ``msg_id`` that ``replier`` answers.

        Raises
        ------
        SAMPHubError
            When no such call is pending, or it was addressed to another client.
        """
        with self._lock:
            pending = self._pending.get(msg_id) if isinstance(msg_id, str) else None
            if pending is None:
                raise SAMPHubError(f"no pending call has msg-id {msg_id!r} (already answered?)")
            if pending.recipient_id != replier.public_id:
                raise SAMPHubError(f"msg-id {msg_id!r} was not sent to {replier.public_id}")
            del self._pending[msg_id]
            return pending

    def cancel_call(self, msg_id: str) -> None:
        """Forget a pending call (its ``callAndWait`` timed out)."""
        with self._lock:
            self._pending.pop(msg_id, None)

    def drain_calls(self) -> list[PendingCall]:
        """Remove and return every pending call (the hub is stopping)."""
        with self._lock:
            calls = list(self._pending.values())
            self._pending.clear()
            return calls

    def sender_of(self, pending: PendingCall) -> ClientRecord | None:
        """The client that made ``pending``, or None if it has gone."""
        with self._lock:
            return self._by_id.get(pending.sender_id)

    def find_by_meta(self, key: str, value: Any) -> list[str]:
        """IDs of the clients whose metadata has ``key == value``."""
        with self._lock:
            return [r.public_id for r in self._by_id.values() if r.metadata.get(key) == value]


def _check_map(value: Any, what: str) -> None:
    if not isinstance(value, Mapping):
        raise SAMPHubError(f"{what} must be a map, not {type(value).__name__}")
    bad = [k for k in value if not isinstance(k, str)]
    if bad:
        raise SAMPHubError(f"{what} keys must be strings, not {bad[0]!r}")


def _check_mtype(mtype: Any) -> None:
    if not isinstance(mtype, str) or not mtype:
        raise SAMPHubError(f"MType must be a non-empty string, not {mtype!r}")


def check_message(message: Any) -> str:
    """Validate a message map and return its MType.

    Raises
    ------
    SAMPHubError
        Fault 3 when ``samp.mtype`` is missing, 1 when the message is not a map.
    """
    if not isinstance(message, Mapping):
        raise SAMPHubError(f"message must be a map, not {type(message).__name__}")
    mtype = message.get("samp.mtype")
    if mtype is None:
        raise SAMPHubError("message has no samp.mtype", code=C.FAULT_NO_MTYPE)
    _check_mtype(mtype)
    params = message.get("samp.params", {})
    if not isinstance(params, Mapping):
        raise SAMPHubError(f"samp.params must be a map, not {type(params).__name__}")
    return str(mtype)
