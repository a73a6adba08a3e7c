"""One lifecycle vocabulary for everything in skyhop that starts and stops.

Streams, the RobustProducer, the SAMP hub and the SAMP clients all move through the
same :class:`State` values, and all treat a thread that does not stop in time the
same way (:func:`join_threads` then :func:`report_stuck_threads`): it is left
running (every thread skyhop starts is a daemon, so it never keeps the process
alive) and one warning names the owner, the threads and the time waited. ``stop()``
and ``close()`` never raise for it: they have already released everything they
could, and raising from a context manager's exit would hide the error that caused it.
"""

from __future__ import annotations

import enum
import threading
import time
import warnings
from collections.abc import Iterable

from hop.errors import HopWarning

__all__ = ["State", "join_threads", "report_stuck_threads"]


class State(enum.Enum):
    """Where an object is in its life.

    Streams and the RobustProducer end in :attr:`STOPPED`; the SAMP hub and clients may
    be started again from there, as astropy's can.
    """

    CREATED = "created"
    """Made, not yet started (a stream is running from the moment it is opened)."""
    RUNNING = "running"
    """Started or open: taking calls."""
    STOPPING = "stopping"
    """``stop()``/``close()`` is under way: new calls are refused."""
    STOPPED = "stopped"
    """Stopped or closed."""


def join_threads(threads: Iterable[threading.Thread | None], timeout: float) -> list[str]:
    """Join every thread within one shared ``timeout``; return the names still alive.

    The calling thread and threads never started are skipped (neither can be joined).
    """
    deadline = time.monotonic() + timeout
    stuck: list[str] = []
    current = threading.current_thread()
    for thread in threads:
        if thread is None or thread is current or thread.ident is None:
            continue
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            stuck.append(thread.name)
    return stuck


def report_stuck_threads(
    owner: str,
    names: Iterable[str],
    timeout: float,
    *,
    category: type[Warning] = HopWarning,
    stacklevel: int = 3,
) -> None:
    """Warn that threads of ``owner`` did not stop within ``timeout`` seconds.

    Does nothing when ``names`` is empty. ``stacklevel`` defaults to the caller of the
    ``stop()`` that calls this.
    """
    stuck = list(names)
    if not stuck:
        return
    warnings.warn(
        f"{owner}: thread(s) {', '.join(stuck)} did not stop within {timeout:g} s; "
        "left running as daemon thread(s)",
        category,
        stacklevel=stacklevel,
    )
