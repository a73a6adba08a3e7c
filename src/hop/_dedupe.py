"""Effectively-once reading: drop messages whose ``_id`` a reader already handed over.

At-least-once delivery hands a handler some messages twice: a RobustProducer resends
what the broker may already have, a restarted or rebalanced reader re-reads what was
handed over but not yet committed. Every hop message carries a unique ``_id`` header,
so a reader can recognise a second copy and drop it.

:class:`IdWindow`
    The ids of the last ``capacity`` messages handed over, in memory: a set for the
    look-up, a ring (deque) for the order in which the oldest are forgotten. Memory
    is bounded by ``capacity`` whatever the length of the stream.
:class:`IdStore`
    The same window backed by an append-only file, so that a reader that crashed, or
    another reader of the same group that took over its partitions, does not hand over
    again what was handed over before. Each id is appended before its message is
    handed over (one ``write``: it survives the process being killed, though not the
    machine losing power). Readers on one machine may share a store: every check and
    append happens under an exclusive ``flock`` (on ``<path>.lock``), and first reads
    what the others appended. The file is compacted to the last ``capacity`` ids when it grows past
    four times that.

Store format: one lowercase hex id per line. A line cut short by a crash is dropped
when the store is next opened.
"""

from __future__ import annotations

import fcntl
import os
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hop import errors

__all__ = ["DEFAULT_DEDUPE_WINDOW", "Deduplicator", "IdStore", "IdWindow", "message_id"]

DEFAULT_DEDUPE_WINDOW = 100_000
"""How many ids a reader remembers. A duplicate arrives within seconds to minutes of the
first copy (a resend after a broker outage, a re-read after a crash: bounded by the
commit interval and the producer journal's backlog), far fewer messages than this at
alert rates; 100,000 ids take about 15 MiB."""


def message_id(headers: Sequence[tuple[str, Any]] | None) -> bytes | None:
    """Return the first ``_id`` header's value as bytes, or None when there is none."""
    if headers:
        for key, value in headers:
            if key == "_id":
                if isinstance(value, bytes):
                    return value
                if isinstance(value, str):
                    return value.encode("utf-8")
                return None
    return None


class IdWindow:
    """The last ``capacity`` ids seen, with O(1) look-up, insertion and eviction.

    Eviction is done in steps of a tenth of the capacity (the oldest ids go together),
    so the per-id work is one set look-up and two appends; memory stays within 1.1
    times the capacity.

    Parameters
    ----------
    capacity : int
        How many of the most recent ids are always remembered.
    """

    def __init__(self, capacity: int = DEFAULT_DEDUPE_WINDOW) -> None:
        if capacity < 1:
            raise errors.ConfigurationError(f"dedupe_window must be at least 1, got {capacity}")
        self.capacity = capacity
        self._limit = capacity + max(1, capacity // 10)
        self._ids: set[bytes] = set()
        self._order: deque[bytes] = deque()

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, key: bytes) -> bool:
        return key in self._ids

    def add(self, key: bytes) -> bool:
        """Remember ``key``; return False when it was already remembered."""
        ids = self._ids
        if key in ids:
            return False
        ids.add(key)
        self._order.append(key)
        if len(ids) > self._limit:
            self._evict()
        return True

    def _evict(self) -> None:
        ids, order = self._ids, self._order
        while len(order) > self.capacity:
            ids.discard(order.popleft())

    def checker(self) -> Callable[[bytes], bool]:
        """Return a fast ``add``: the same answers, for a reader's per-message loop."""
        ids, order, limit = self._ids, self._order, self._limit
        contains, remember, append = ids.__contains__, ids.add, order.append
        evict = self._evict

        def add(key: bytes) -> bool:
            if contains(key):
                return False
            remember(key)
            append(key)
            if len(order) > limit:
                evict()
            return True

        return add

    def recent(self) -> list[bytes]:
        """The remembered ids, oldest first."""
        return list(self._order)


class IdStore:
    """An :class:`IdWindow` kept in a file that survives the reader (see the module doc).

    Parameters
    ----------
    path : path
        The store's file; created (with its folder) when missing.
    capacity : int
        Most ids remembered, in memory and after compaction in the file.
    """

    def __init__(self, path: str | os.PathLike[str], capacity: int = DEFAULT_DEDUPE_WINDOW) -> None:
        self.path = Path(path)
        self.window = IdWindow(capacity)
        self._fd = -1
        self._lock_fd = -1
        self._inode = -1
        self._offset = 0  # how far this reader has read the file
        self._lines = 0  # lines in the file, to know when to compact
        self._partial = b""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # A lock file of its own: the store file is replaced when compacted, and a
            # lock on the replaced file would exclude no one.
            self._lock_fd = os.open(
                self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600
            )
            self._open()
            with self._locked():
                self._repair()
                self._catch_up()
        except OSError as exc:
            self.close()
            raise errors.ConfigurationError(
                f"cannot use {self.path} as the deduplication store: {exc}"
            ) from exc

    def _open(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self._inode = os.fstat(self._fd).st_ino
        self._offset = 0
        self._lines = 0
        self._partial = b""

    def _locked(self) -> _Flock:
        return _Flock(self._lock_fd)

    def _repair(self) -> None:
        # A crash in the middle of an append leaves a line without its newline; the
        # next append would be glued to it. Cut it off (the id it held was not handed
        # over: the append comes first, and a torn append means the process died in it).
        size = os.fstat(self._fd).st_size
        if size == 0:
            return
        last = os.pread(self._fd, 1, size - 1)
        if last != b"\n":
            data = os.pread(self._fd, size, 0)
            os.ftruncate(self._fd, data.rfind(b"\n") + 1)

    def _catch_up(self) -> None:
        """Read what was appended since this reader last looked (by any process)."""
        try:
            inode = os.stat(self.path).st_ino
        except FileNotFoundError:
            inode = -1
        if inode != self._inode:
            # Another reader compacted the store into a new file: start over on it.
            self._open()
            self.window = IdWindow(self.window.capacity)
        size = os.fstat(self._fd).st_size
        if size <= self._offset:
            return
        data = self._partial + os.pread(self._fd, size - self._offset, self._offset)
        self._offset = size
        lines = data.split(b"\n")
        self._partial = lines.pop()
        add = self.window.add
        for line in lines:
            if line:
                add(bytes.fromhex(line.decode("ascii")))
        self._lines += len(lines)

    def check_and_add(self, key: bytes) -> bool:
        """Record ``key``; return False when it (or another reader) recorded it before."""
        with self._locked():
            self._catch_up()
            if key in self.window:
                return False
            record = key.hex().encode("ascii") + b"\n"
            os.write(self._fd, record)
            self._offset += len(record)
            self._lines += 1
            self.window.add(key)
            if self._lines > 4 * self.window.capacity:
                self._compact()
        return True

    def _compact(self) -> None:
        # Called under the lock: write the window to a new file, then swap it in. Other
        # readers notice the new inode in _catch_up.
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"".join(k.hex().encode("ascii") + b"\n" for k in self.window.recent()))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        self._open()
        self._offset = os.fstat(self._fd).st_size
        self._lines = len(self.window)

    def close(self) -> None:
        """Close the file (idempotent); what was recorded stays."""
        for name in ("_fd", "_lock_fd"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)


class _Flock:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def __enter__(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)


class Deduplicator:
    """What a reader asks, per message: hand this one over, or drop it as a copy?

    Parameters
    ----------
    window : int
        Ids remembered.
    path : path, optional
        A store file (:class:`IdStore`); memory only when None.
    """

    def __init__(self, window: int = DEFAULT_DEDUPE_WINDOW,
                 path: str | os.PathLike[str] | None = None) -> None:
        self._store = IdStore(path, window) if path is not None else None
        self._add = (self._store.check_and_add if self._store is not None
                     else IdWindow(window).checker())
        self.dropped = 0
        """Copies dropped so far."""

    def first_time(self, headers: Sequence[tuple[str, Any]] | None) -> bool:
        """True when the message with these headers should be handed over.

        A message without an ``_id`` header is always handed over: nothing says it is a
        copy.
        """
        if not headers:
            return True
        # hop writes _id first after the user's headers: usually headers[0].
        first = headers[0]
        key = first[1] if first[0] == "_id" and type(first[1]) is bytes else message_id(headers)
        if key is None:
            return True
        if self._add(key):
            return True
        self.dropped += 1
        return False

    def close(self) -> None:
        """Close the store, if any."""
        if self._store is not None:
            self._store.close()
