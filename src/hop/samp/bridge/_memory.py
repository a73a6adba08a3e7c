"""The bridge's memory of the alerts it has forwarded, kept across restarts.

A message comes back after the bridge restarts before its offset reached the broker,
and a RobustProducer resends a message (same ``_id``, new offset) when it cannot tell
whether the broker had it. Either way the desktop already has the alert; opening the
same sky map again would be noise. So the bridge records the key of every alert the
hub accepted (the ``_id`` header, else ``topic[partition]@offset``) before it commits
the offset, and skips keys it has seen.

The record is a small append-only file: a version line, then one line per key
``<key> <crc32 hex>``, flushed and fsynced per key, so a SIGKILL loses at most the key
being written (a torn or corrupt last line is ignored on load). Only the newest
``capacity`` keys are kept: the file is compacted (written to a temporary file,
fsynced, renamed) when it holds twice that many. An exclusive lock on the file stops
a second bridge from sharing it.

The component is self-contained (``in``, ``add``, ``close``) so that a general
reader-side de-duplication can replace it later.
"""

from __future__ import annotations

import collections
import contextlib
import fcntl
import os
import tempfile
import threading
import zlib
from pathlib import Path

from hop.errors import BridgeError

__all__ = ["DEFAULT_CAPACITY", "ForwardedIds"]

DEFAULT_CAPACITY = 10_000
"""Keys remembered: days of alerts for the busiest public streams."""

_VERSION_LINE = b"skyhop-bridge-forwarded 1\n"


def _line(key: str) -> bytes:
    data = key.encode("utf-8")
    return data + b" " + f"{zlib.crc32(data):08x}".encode() + b"\n"


def _parse(line: bytes) -> str | None:
    if not line.endswith(b"\n"):
        return None  # torn by a crash mid-write
    data, _, crc = line[:-1].rpartition(b" ")
    try:
        if not data or int(crc, 16) != zlib.crc32(data):
            return None
        return data.decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None


class ForwardedIds:
    """Keys of forwarded alerts: in memory, and in ``path`` when one is given.

    Parameters
    ----------
    path : path or None
        The file; None keeps the keys in memory only (lost at exit).
    capacity : int
        How many of the newest keys are remembered.

    Raises
    ------
    BridgeError
        When another process holds the file.
    OSError
        When the file cannot be created or read.
    """

    def __init__(self, path: str | os.PathLike[str] | None, capacity: int = DEFAULT_CAPACITY):
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.path = Path(path) if path is not None else None
        self.capacity = capacity
        self._keys: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._file: int | None = None
        self._lines = 0
        if self.path is not None:
            self._open(self.path)

    def _open(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise BridgeError(
                f"another alert bridge is using {path}; give each bridge its own group ID "
                "(or memory file)"
            ) from exc
        try:
            with open(path, "rb") as f:
                first = f.readline()
                if first and first != _VERSION_LINE:
                    raise BridgeError(f"{path} is not a skyhop bridge memory file")
                for line in f:
                    key = _parse(line)
                    if key is not None:
                        self._remember(key)
                    self._lines += 1
            if not first:
                os.write(fd, _VERSION_LINE)
        except BaseException:
            os.close(fd)
            raise
        self._file = fd
        if self._lines > 2 * self.capacity:
            self._compact()

    def _remember(self, key: str) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self.capacity:
            self._keys.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._keys

    def __len__(self) -> int:
        with self._lock:
            return len(self._keys)

    def add(self, key: str) -> None:
        """Remember ``key``; with a file, it is on disk when this returns."""
        if not key or "\n" in key:
            raise ValueError(f"bad key {key!r}")
        with self._lock:
            self._remember(key)
            if self._file is None:
                return
            os.write(self._file, _line(key))
            os.fsync(self._file)
            self._lines += 1
            if self._lines > 2 * self.capacity:
                self._compact()

    def _compact(self) -> None:
        assert self.path is not None and self._file is not None
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(_VERSION_LINE + b"".join(_line(k) for k in self._keys))
                f.flush()
                os.fsync(f.fileno())
            new = os.open(tmp, os.O_RDWR | os.O_APPEND)
            fcntl.flock(new, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        os.close(self._file)
        self._file = new
        self._lines = len(self._keys)

    def close(self) -> None:
        """Release the file (idempotent)."""
        with self._lock:
            if self._file is not None:
                os.close(self._file)
                self._file = None
