"""Helpers shared by the SAMP integration tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

WAIT_S = 10.0


class Inbox:
    """Collects what bound functions receive; tests wait on it with a deadline."""

    def __init__(self) -> None:
        self.items: list[tuple[Any, ...]] = []
        self._cond = threading.Condition()

    def add(self, *item: Any) -> None:
        with self._cond:
            self.items.append(item)
            self._cond.notify_all()

    def notification(self, private_key: str, sender_id: str, mtype: str, params: Any,
                     extra: Any) -> None:
        self.add(sender_id, mtype, params, extra)

    def response(self, private_key: str, responder_id: str, msg_tag: str, response: Any) -> None:
        self.add(responder_id, msg_tag, response)

    def wait_for(self, count: int, timeout: float = WAIT_S) -> list[tuple[Any, ...]]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.items) >= count, timeout):
                raise AssertionError(f"got {len(self.items)} of {count} items: {self.items}")
            return list(self.items)


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT_S) -> None:
    """Poll ``predicate`` until true or fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)
