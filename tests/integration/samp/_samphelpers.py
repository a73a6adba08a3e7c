"""Helpers shared by the SAMP integration tests."""

from __future__ import annotations

import contextlib
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


class PeerProcess:
    """A peer script running in the peers' virtualenv, talked to by stdin/stdout lines.

    The script prints ``TAG json`` lines; :meth:`expect` waits (with a deadline) for
    the next line starting with ``TAG`` and returns the decoded JSON.
    """

    def __init__(self, python: Any, script: str, *args: str, env: dict[str, str]) -> None:
        import os
        import queue
        import subprocess

        leaky = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTHONUSERBASE")
        full_env = {k: v for k, v in os.environ.items() if k not in leaky}
        full_env.update(env, PYTHONNOUSERSITE="1", PYTHONUNBUFFERED="1")
        self._lines: queue.Queue[str | None] = queue.Queue()
        self.output: list[str] = []
        self.proc = subprocess.Popen(
            [str(python), "-P", "-c", script, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=full_env,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output.append(line)
            self._lines.put(line.rstrip("\n"))
        self._lines.put(None)

    def expect(self, tag: str, timeout: float = 60.0) -> Any:
        import json
        import queue

        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self._lines.get(timeout=max(remaining, 0.001))
            except queue.Empty:
                raise AssertionError(f"peer did not print {tag} in time:\n{''.join(self.output)}"
                                     ) from None
            if line is None:
                raise AssertionError(f"peer exited before {tag}:\n{''.join(self.output)}")
            if line.startswith(tag + " ") or line == tag:
                rest = line[len(tag):].strip()
                return json.loads(rest) if rest else None

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def close(self, timeout: float = 30.0) -> int:
        import subprocess

        if self.proc.stdin is not None and not self.proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait(timeout)
        self._reader.join(timeout)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        return code
