"""One thread per stream that makes the stream's blocking librdkafka calls.

confluent-kafka's clients block (``poll``, ``flush``, ``close``, metadata requests), and
the Consumer must not be called from two threads at once. Each hop.aio stream therefore
owns exactly one thread: jobs run on it one at a time, in the order submitted, and their
outcome is handed back to the event loop as an ``asyncio.Future``. A writer's thread
also serves delivery reports between jobs (its ``idle`` function).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any, TypeVar

from hop._lifecycle import report_stuck_threads

__all__ = ["Worker"]

T = TypeVar("T")

# How long close() waits for the thread to finish its last job before reporting it stuck.
DEFAULT_JOIN_TIMEOUT = 30.0

_Job = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any] | None"]


def _nothing() -> None:
    pass


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    # Runs on the loop: the awaiting task may have been cancelled meanwhile.
    if future.cancelled():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class Worker:
    """A thread that runs blocking calls for one stream, in order.

    Parameters
    ----------
    name : str
        The thread's name (shown by ``threading.enumerate()`` and in warnings).
    loop : asyncio.AbstractEventLoop
        The loop whose futures the jobs settle.
    """

    def __init__(self, name: str, loop: asyncio.AbstractEventLoop) -> None:
        self.name = name
        self._loop = loop
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        # Held weakly: a writer dropped without close() is then collected (and warns),
        # and its thread ends, instead of the thread keeping it alive forever.
        self._idle: weakref.WeakMethod[Callable[[], None]] | None = None
        self._exited: asyncio.Future[None] = loop.create_future()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def set_idle(self, idle: Callable[[], None]) -> None:
        """Call ``idle()`` whenever no job waits; it must return within ~0.1 s.

        ``idle`` is a bound method, held weakly: once its object is gone, the thread ends.
        """
        self._idle = weakref.WeakMethod(idle)
        # The thread may be blocked waiting for a job: wake it so that it starts idling.
        self._jobs.put((_nothing, (), None))

    def submit(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Queue ``fn(*args)``; the future gets its result or exception."""
        future: asyncio.Future[T] = self._loop.create_future()
        if self._stopping:
            raise RuntimeError(f"{self.name}: worker thread is stopping")
        self._jobs.put((fn, args, future))
        return future

    def _notify(self, future: asyncio.Future[Any], ok: bool, value: Any) -> None:
        # A closed loop raises RuntimeError: nobody is left to tell.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(_settle, future, ok, value)

    def _run(self) -> None:
        jobs = self._jobs
        while True:
            if self._idle is None:
                item = jobs.get()
            else:
                try:
                    item = jobs.get_nowait()
                except queue.Empty:
                    if not self._run_idle():
                        break  # its owner was dropped without closing
                    continue
            if item is None:
                break
            fn, args, future = item
            if future is None:
                continue
            self._execute(fn, args, future)
            # Drop references before waiting again: this frame keeps nothing alive.
            del item, fn, args, future
        self._notify(self._exited, True, None)

    def _execute(self, fn: Callable[..., Any], args: tuple[Any, ...], future: Any) -> None:
        # A method of its own, so that the result is not kept by the thread's loop.
        try:
            result = fn(*args)
        except BaseException as exc:  # handed to the awaiting task
            self._notify(future, False, exc)
        else:
            self._notify(future, True, result)

    def _run_idle(self) -> bool:
        # A method of its own, so that no strong reference outlives the call.
        idle = self._idle() if self._idle is not None else None
        if idle is None:
            return False
        idle()
        return True

    def stop_soon(self) -> None:
        """Let the thread end after the jobs already queued (idempotent, never blocks)."""
        if not self._stopping:
            self._stopping = True
            self._jobs.put(None)

    async def stop(self, timeout: float = DEFAULT_JOIN_TIMEOUT) -> None:
        """End the thread after its queued jobs and wait (at most ``timeout``) for it.

        A thread still busy after ``timeout`` is left running (it is a daemon) and one
        warning names it, as for every thread skyhop starts.
        """
        self.stop_soon()
        if not self._thread.is_alive():
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._exited), timeout)
        except TimeoutError:
            report_stuck_threads(f"hop.aio stream ({self.name})", [self.name], timeout)
            return
        # The thread has passed its last statement: the join is immediate.
        self._thread.join(1.0)

    @property
    def alive(self) -> bool:
        """Whether the thread is still running."""
        return self._thread.is_alive()
