"""The bridge's side of SAMP: find the hub, stay registered, deliver notifications.

:meth:`HubLink.deliver` returns only once the hub has accepted every notification of
an alert (or the bridge is stopping). Until then it waits, reading the lockfile again
every ``poll_interval`` seconds:

* no hub (no lockfile, or a stale one): wait for one, register, send;
* the hub went away mid-alert (a user closed TOPCAT, which ran it): register with the
  next hub and send the whole alert again, since its clients have seen nothing;
* a hub whose clients listen to none of the bridge's MTypes (or, with ``to``, without
  that client): wait for one, so alerts are not thrown at an empty desktop.

Notifications the same hub already accepted are not sent twice when an alert is
retried. The hub's faults for a single message (a refused MType) are logged and the
message counted as delivered: sending it again would be refused again.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hop.samp._constants import FAULT_BAD_KEY
from hop.samp._errors import SAMPClientError, SAMPHubError, SAMPProxyError
from hop.samp._lockfile import read_lockfile, resolve_lockfile_location
from hop.samp.bridge._messages import BRIDGE_MTYPES

__all__ = ["BRIDGE_NAME", "Delivery", "HubLink"]

logger = logging.getLogger("hop.samp.bridge")

BRIDGE_NAME = "skyhop bridge"
"""``samp.name`` the bridge registers with."""

_DESCRIPTION = "Forwards alerts (GCN, VOEvent, IGWN) from Kafka streams to SAMP tools"


class _HubGone(Exception):
    """The hub stopped answering, or no longer knows the bridge."""


class _NotYet(Exception):
    """Nobody to deliver to yet; the message says who is awaited."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """What the hub accepted for one alert."""

    recipients: frozenset[str]
    """Public IDs of the clients the hub passed a notification to."""
    hub_url: str
    """The hub's XML-RPC URL."""


class _Throttled:
    """Logs a waiting state once, then at most every ``interval`` seconds."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.since: float | None = None
        self._last = 0.0
        self._text = ""

    def note(self, text: str) -> None:
        now = time.monotonic()
        if self.since is None:
            self.since, self._last, self._text = now, now, text
            logger.warning("%s", text)
        elif now - self._last >= self.interval or text != self._text:
            self._last, self._text = now, text
            logger.warning("%s (for %.0f s)", text, now - self.since)

    def clear(self, done: str) -> None:
        if self.since is not None:
            logger.warning("%s after %.1f s", done, time.monotonic() - self.since)
        self.since = None
        self._text = ""


class HubLink:
    """A registration with the SAMP hub that survives the hub coming and going.

    Parameters
    ----------
    name : str
        ``samp.name`` to register with.
    hub_url : str, optional
        Where the hub's lockfile is: a path, a ``file:`` or ``http(s):`` URL, or
        ``std-lockurl:<url>``. By default ``SAMP_HUB`` or ``~/.samp``.
    to : str, optional
        Deliver only to the client whose ``samp.name`` is this.
    environ : mapping, optional
        Environment for hub discovery (``os.environ`` by default).
    poll_interval : float
        Seconds between looks at the lockfile while waiting.
    log_interval : float
        Least seconds between two log lines about the same wait.
    """

    def __init__(
        self,
        *,
        name: str = BRIDGE_NAME,
        hub_url: str | None = None,
        to: str | None = None,
        environ: Mapping[str, str] | None = None,
        poll_interval: float = 0.5,
        log_interval: float = 60.0,
    ) -> None:
        if poll_interval <= 0:
            raise ValueError("poll_interval must be positive")
        if hub_url is not None and hub_url.startswith("std-lockurl:"):
            hub_url = hub_url[len("std-lockurl:") :]
        self.name = name
        self.hub_url = hub_url
        self.to = to
        self._environ = environ
        self.poll_interval = poll_interval
        self._client: Any = None
        self._params: dict[str, str] = {}
        self._target: str | None = None
        self._wait = _Throttled(log_interval)
        self._lock = threading.Lock()

    # -- connection -------------------------------------------------------------------

    def location(self) -> str:
        """Where the lockfile is looked for."""
        if self.hub_url:
            return self.hub_url
        return resolve_lockfile_location(self._environ if self._environ is not None
                                         else os.environ)  # fmt: skip

    @property
    def connected(self) -> bool:
        """Whether registered with a hub (which may have gone since the last call)."""
        return self._client is not None

    def _connect(self) -> None:
        from hop import __skyhop_version__ as __version__
        from hop.samp._integrated import SAMPIntegratedClient

        location = self.location()
        try:
            params = read_lockfile(location)
        except SAMPHubError as exc:
            raise _NotYet(f"waiting for a SAMP hub: {exc}") from exc
        client = SAMPIntegratedClient(
            self.name,
            _DESCRIPTION,
            metadata={"skyhop.version": __version__, "author.name": "skyhop"},
        )
        try:
            client.connect(hub_params=params)
        except (SAMPHubError, SAMPClientError, SAMPProxyError, OSError) as exc:
            raise _NotYet(f"waiting for a SAMP hub (lockfile {location}): {exc}") from exc
        self._client, self._params, self._target = client, params, None
        self._wait.clear(f"registered with the SAMP hub at {params['samp.hub.xmlrpc.url']}")
        logger.info(
            "registered with the SAMP hub at %s as %s",
            params["samp.hub.xmlrpc.url"],
            client.get_public_id(),
        )

    def _release(self, *, unregister: bool) -> None:
        client, self._client, self._target = self._client, None, None
        if client is None:
            return
        inner, client.client = client.client, None
        try:
            if unregister and inner is not None and inner.is_registered:
                try:
                    client.hub.unregister(inner.get_private_key())
                except Exception as exc:  # the hub may be gone: nothing to undo there
                    logger.debug("could not unregister from the SAMP hub: %s", exc)
        finally:
            if inner is not None:
                try:
                    inner.stop()
                except SAMPClientError as exc:
                    logger.warning("%s", exc)
            client.hub.disconnect()

    def try_connect(self) -> bool:
        """Register now if a hub is up (so the first alert does not wait for it)."""
        with self._lock:
            if self._client is None:
                try:
                    self._connect()
                except _NotYet as exc:
                    self._wait.note(str(exc))
            return self._client is not None

    def close(self) -> None:
        """Unregister from the hub, if still registered (idempotent)."""
        with self._lock:
            self._release(unregister=True)

    def _hub_changed(self) -> bool:
        try:
            now = read_lockfile(self.location())
        except SAMPHubError:
            return True
        return now.get("samp.secret") != self._params.get("samp.secret") or now.get(
            "samp.hub.xmlrpc.url"
        ) != self._params.get("samp.hub.xmlrpc.url")

    # -- delivery -----------------------------------------------------------------------

    def _call(self, method: str, *args: Any) -> Any:
        client = self._client
        if client is None or client.client is None or not client.client.is_registered:
            raise _HubGone("the hub ended the bridge's registration")
        try:
            return getattr(client.hub, method)(client.get_private_key(), *args)
        except SAMPProxyError as exc:
            if exc.faultCode == FAULT_BAD_KEY or self._hub_changed():
                raise _HubGone(f"the hub no longer knows the bridge: {exc}") from exc
            raise
        except (SAMPHubError, SAMPClientError, OSError) as exc:
            raise _HubGone(str(exc)) from exc

    def _target_id(self) -> str:
        assert self.to is not None
        registered = self._call("get_registered_clients")
        if self._target is not None and self._target in registered:
            return self._target
        names = {}
        for cid in registered:
            try:
                names[cid] = str(self._call("get_metadata", cid).get("samp.name", ""))
            except SAMPProxyError:
                continue  # it left between the two calls
        match = [c for c, n in names.items() if n == self.to] or [
            c for c, n in names.items() if n.lower() == self.to.lower()
        ]
        if not match:
            shown = ", ".join(sorted(n for n in names.values() if n)) or "none"
            raise _NotYet(f"waiting for SAMP client {self.to!r} (registered: {shown})")
        self._target = sorted(match)[0]
        return self._target

    def _listened(self, target: str | None) -> bool:
        for mtype in BRIDGE_MTYPES:
            subscribed = self._call("get_subscribed_clients", mtype)
            if subscribed and (target is None or target in subscribed):
                return True
        return False

    def _send(
        self, messages: Sequence[Mapping[str, Any]], done: set[int], recipients: set[str]
    ) -> None:
        target = self._target_id() if self.to is not None else None
        for index, message in enumerate(messages):
            if index in done:
                continue
            try:
                if target is None:
                    recipients.update(self._call("notify_all", message))
                elif target in self._call("get_subscribed_clients", message["samp.mtype"]):
                    self._call("notify", target, message)
                    recipients.add(target)
            except SAMPProxyError as exc:
                logger.warning(
                    "the SAMP hub refused %s: %s", message.get("samp.mtype"), exc.faultString
                )
            done.add(index)

    def deliver(
        self, messages: Sequence[Mapping[str, Any]], stop: threading.Event
    ) -> Delivery | None:
        """Send ``messages`` (SAMP message maps) and return once the hub accepted them.

        Returns None, with the alert possibly not delivered, only when ``stop`` is set.
        """
        done: set[int] = set()
        recipients: set[str] = set()
        secret: str | None = None
        with self._lock:
            while not stop.is_set():
                try:
                    if self._client is None:
                        self._connect()
                    if self._params.get("samp.secret") != secret:
                        # A new hub: its clients have seen none of this alert.
                        secret = self._params.get("samp.secret")
                        done.clear()
                        recipients.clear()
                    self._send(messages, done, recipients)
                    if recipients or self._listened(self._target if self.to else None):
                        self._wait.clear("a SAMP client listens again")
                        return Delivery(frozenset(recipients), self._params["samp.hub.xmlrpc.url"])
                    done.clear()  # nobody heard it: send it all again to whoever comes
                    raise _NotYet(
                        "no SAMP client listens to the bridge's MTypes; holding alerts "
                        "until one does"
                        if self.to is None
                        else f"SAMP client {self.to!r} listens to none of the bridge's MTypes"
                    )
                except _HubGone as exc:
                    logger.warning("lost the SAMP hub (%s); waiting for it to come back", exc)
                    self._release(unregister=False)
                    continue  # look for the next hub at once
                except _NotYet as exc:
                    self._wait.note(str(exc))
                stop.wait(self.poll_interval)
        return None
