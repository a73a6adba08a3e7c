"""The worker thread behind each hop.aio stream (no broker)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from hop._aio.worker import Worker


def test_jobs_run_in_order_on_one_thread_of_their_own():
    async def main():
        worker = Worker("hop.aio-test", asyncio.get_running_loop())
        seen = []
        futures = [
            worker.submit(lambda n=n: seen.append((n, threading.get_ident()))) for n in range(5)
        ]
        await asyncio.gather(*futures)
        await worker.stop()
        return seen, worker.alive

    seen, alive = asyncio.run(main())
    assert [n for n, _ in seen] == list(range(5))
    assert len({ident for _, ident in seen}) == 1
    assert seen[0][1] != threading.get_ident()
    assert not alive


def test_a_job_that_raises_hands_its_exception_to_the_awaiting_task():
    async def main():
        worker = Worker("hop.aio-test", asyncio.get_running_loop())
        try:
            with pytest.raises(KeyError, match="from the worker"):
                await worker.submit(lambda: {}["from the worker"])
            return await worker.submit(lambda: "still working")
        finally:
            await worker.stop()

    assert asyncio.run(main()) == "still working"


class _Ticker:
    def __init__(self) -> None:
        self.ticks = 0

    def tick(self) -> None:
        self.ticks += 1
        time.sleep(0.01)


def test_idle_work_runs_between_jobs_and_stops_with_the_thread():
    ticker = _Ticker()

    async def main():
        worker = Worker("hop.aio-test", asyncio.get_running_loop())
        worker.set_idle(ticker.tick)
        deadline = time.monotonic() + 5
        while ticker.ticks < 3 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert await worker.submit(lambda: 7) == 7
        await worker.stop()
        with pytest.raises(RuntimeError, match="stopping"):
            worker.submit(lambda: 8)
        return worker.alive

    assert asyncio.run(main()) is False
    assert ticker.ticks >= 3


def test_the_thread_ends_when_the_owner_of_its_idle_work_is_dropped():
    async def main():
        worker = Worker("hop.aio-test", asyncio.get_running_loop())
        ticker = _Ticker()
        worker.set_idle(ticker.tick)
        await asyncio.sleep(0.05)
        del ticker  # dropped without stopping the worker
        worker._thread.join(5)
        return worker.alive

    assert asyncio.run(main()) is False


def test_a_job_finishing_after_its_loop_closed_is_dropped_quietly():
    release = threading.Event()

    async def main():
        worker = Worker("hop.aio-test", asyncio.get_running_loop())
        worker.submit(release.wait)
        worker.stop_soon()
        return worker

    worker = asyncio.run(main())
    release.set()
    worker._thread.join(5)
    assert not worker.alive
