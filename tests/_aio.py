"""Running hop.aio test programs: asyncio debug mode and a leak check around each."""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
import warnings
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def os_threads() -> int:
    """Threads of this process, librdkafka's native ones included."""
    return len(os.listdir("/proc/self/task"))


def hop_threads() -> list[str]:
    """Names of the Python threads hop.aio started that are still alive."""
    return [t.name for t in threading.enumerate() if t.name.startswith("hop.aio")]


async def _only_task(main: Coroutine[Any, Any, T]) -> T:
    result = await main
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert not others, f"tasks left running: {others}"
    return result


def run_checked(
    main: Coroutine[Any, Any, T],
    *,
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> T:
    """Run ``main`` in a new loop in debug mode; fail if it leaves threads or tasks.

    Debug mode makes asyncio report coroutines never awaited and callbacks from the
    wrong thread; ResourceWarnings (a stream left open) are errors under the suite's
    warning filter. Afterwards no hop.aio thread may be alive and the process may not
    hold more OS threads than before (librdkafka's threads end when its client does).
    """
    threads_before = os_threads()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        with asyncio.Runner(debug=True, loop_factory=loop_factory) as runner:
            result = runner.run(_only_task(main))
        gc.collect()
    assert hop_threads() == [], f"hop.aio threads left: {hop_threads()}"
    deadline = time.monotonic() + 5
    while os_threads() > threads_before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert os_threads() <= threads_before, (
        f"{os_threads() - threads_before} more OS thread(s) than before the test"
    )
    return result
