"""How the hub delivers callbacks: one queue per client, so no client waits for another.

* :class:`Outbox` — Standard Profile: a thread per client drains its queue with XML-RPC
  calls to the client's callback URL. A slow client only delays its own messages; a
  client whose callbacks keep failing at the transport level is reported to the hub
  (which ejects it).
* :class:`PullBox` — Web Profile: callbacks wait in a queue until the browser fetches
  them with ``pullCallbacks``, which blocks on a condition up to its timeout.
"""

from __future__ import annotations

import http.client
import logging
import ssl
import threading
import time
import xmlrpc.client
from collections import deque
from collections.abc import Callable
from typing import Any

from hop.samp._registry import ClientRecord
from hop.samp._xmlrpc import make_proxy

__all__ = ["Outbox", "PullBox"]

logger = logging.getLogger("hop.samp.hub")

_MAX_PULL_WAIT_S = 600.0
_PULL_QUEUE_LIMIT = 4096
_RETRY_PAUSE_S = 0.01


class Outbox:
    """Queue and thread delivering Standard Profile callbacks to one client.

    Parameters
    ----------
    record : ClientRecord
        The recipient.
    url : str
        Its XML-RPC callback URL.
    on_dead : callable
        Called (from the outbox thread) with the record and a reason after
        ``max_failures`` consecutive transport failures.
    timeout : float
        Socket timeout of one callback.
    max_failures : int
        Consecutive failures before ``on_dead``.
    ssl_context : ssl.SSLContext, optional
        For an https callback URL.
    """

    def __init__(
        self,
        record: ClientRecord,
        url: str,
        on_dead: Callable[[ClientRecord, str], None],
        *,
        timeout: float,
        max_failures: int,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.record = record
        self.url = url
        self._on_dead = on_dead
        self._timeout = timeout
        self._max_failures = max_failures
        self._ssl_context = ssl_context
        self._items: deque[tuple[str, tuple[Any, ...]]] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._busy = False
        self._thread = threading.Thread(
            target=self._run, name=f"samp-outbox-{record.public_id}", daemon=True
        )
        self._thread.start()

    def put(self, method: str, args: tuple[Any, ...]) -> bool:
        """Queue ``samp.client.<method>(private_key, *args)``; False once closed."""
        with self._cond:
            if self._closed:
                return False
            self._items.append((method, args))
            self._cond.notify()
            return True

    def drain(self, deadline: float) -> bool:
        """Wait until the queue is empty (or ``deadline``, a monotonic time)."""
        with self._cond:
            while (self._items or self._busy) and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def close(self, timeout: float = 5.0) -> bool:
        """Drop queued callbacks and stop the thread; False if it did not stop in time."""
        with self._cond:
            self._closed = True
            self._items.clear()
            self._cond.notify_all()
        if threading.current_thread() is self._thread:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def thread(self) -> threading.Thread:
        """The delivery thread."""
        return self._thread

    def _run(self) -> None:
        proxy = make_proxy(self.url, timeout=self._timeout, ssl_context=self._ssl_context)
        failures = 0
        key = self.record.private_key
        try:
            while True:
                with self._cond:
                    while not self._items and not self._closed:
                        self._cond.wait()
                    if self._closed:
                        return
                    method, args = self._items.popleft()
                    self._busy = True
                try:
                    self._call(proxy, method, key, args)
                    failures = 0
                except xmlrpc.client.Fault as fault:
                    # The client is alive; it refused this one message.
                    logger.warning(
                        "client %s answered %s with fault %s: %s",
                        self.record.public_id, method, fault.faultCode, fault.faultString,
                    )
                except (OSError, http.client.HTTPException, xmlrpc.client.ProtocolError,
                        xmlrpc.client.ResponseError, ssl.SSLError) as exc:
                    failures += 1
                    logger.warning(
                        "callback %s to client %s at %s failed (%d in a row): %s",
                        method, self.record.public_id, self.url, failures, exc,
                    )
                    proxy("close")()
                    if failures >= self._max_failures:
                        with self._cond:
                            self._closed = True
                            self._items.clear()
                        self._on_dead(
                            self.record, f"{failures} callbacks in a row failed: {exc}"
                        )
                        return
                finally:
                    with self._cond:
                        self._busy = False
                        self._cond.notify_all()
        finally:
            proxy("close")()


    def _call(self, proxy: Any, method: str, key: str, args: tuple[Any, ...]) -> None:
        # A refused or reset connection is retried (conf.n_retries attempts in all,
        # as astropy's hub does), so a client restarting its server loses nothing;
        # a timeout is not: the client is there but stuck, and each try would wait.
        from hop.samp._conf import conf

        attempts = conf.n_retries
        for attempt in range(1, attempts + 1):
            try:
                getattr(proxy, f"samp.client.{method}")(key, *args)
                return
            except ConnectionError:
                proxy("close")()
                if attempt == attempts:
                    raise
                with self._cond:
                    if self._cond.wait_for(lambda: self._closed, _RETRY_PAUSE_S):
                        raise

class PullBox:
    """Callbacks waiting for a Web Profile client's ``pullCallbacks``."""

    def __init__(self, record: ClientRecord) -> None:
        self.record = record
        self._items: list[dict[str, Any]] = []
        self._cond = threading.Condition()
        self._closed = False

    def put(self, method: str, args: tuple[Any, ...]) -> bool:
        """Queue a callback; the oldest are dropped beyond a fixed limit."""
        with self._cond:
            if self._closed:
                return False
            self._items.append({"samp.methodName": method, "samp.params": list(args)})
            if len(self._items) > _PULL_QUEUE_LIMIT:
                del self._items[0]
            self._cond.notify_all()
            return True

    def pull(self, timeout: float) -> list[dict[str, Any]]:
        """Return queued callbacks, waiting up to ``timeout`` s for the first one."""
        deadline = time.monotonic() + min(max(timeout, 0.0), _MAX_PULL_WAIT_S)
        with self._cond:
            while not self._items and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            items, self._items = self._items, []
            return items

    def drain(self, deadline: float) -> bool:
        """Nothing to flush actively: the browser pulls."""
        return True

    def close(self, timeout: float = 0.0) -> bool:
        """Wake any waiting ``pullCallbacks`` and refuse further callbacks."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        return True
