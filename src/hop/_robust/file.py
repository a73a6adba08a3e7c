"""The RobustProducer's journal file: creation, locking, appending, group commit, compaction.

The record format is in :mod:`hop._robust.format`; this module only moves bytes to and from
the disk. Files are created with mode 0600 and an existing journal readable or writable
by others is refused, because payloads are stored unencrypted. A journal is locked
(``flock``) while open, so two publishers cannot share one. Compaction writes the live
records to a 0600 temporary file, ``fsync``\\ s it and renames it over the journal.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import threading
from collections.abc import Iterable

from hop._robust.format import HEADER_SIZE, JournalMessage, encode_header, encode_message, load
from hop.errors import InsecureFileError, JournalError

__all__ = ["JournalFile", "write_journal"]


def _fsync_dir(path: str) -> None:
    fd = os.open(os.path.dirname(os.path.abspath(path)), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    written = os.write(fd, data)
    if written == len(data):
        return
    view = memoryview(data)[written:]
    while view:
        written = os.write(fd, view)
        view = view[written:]


_datasync = getattr(os, "fdatasync", os.fsync)

_GATHER_MAX_S = 0.001
"""Longest a group-commit leader waits for the writers the last fdatasync released to
append again (see JournalFile.wait_durable). Short next to a disk's fsync (0.2 ms on a
fast SSD, milliseconds on most disks), long enough for a few dozen Python writers to
encode and append their next message."""


def _create_private(path: str) -> int:
    """Create ``path`` exclusively with mode 0600 and return a write descriptor."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
    # The umask can only remove bits; fchmod makes the mode exact whatever it is.
    os.fchmod(fd, 0o600)
    return fd


def write_journal(path: str, messages: Iterable[JournalMessage], *, replace: bool = False) -> None:
    """Write a new journal holding ``messages`` (0600, fsync'ed, atomically in place).

    Parameters
    ----------
    path : str
        Where to write it.
    messages : iterable of JournalMessage
        The live messages.
    replace : bool
        Replace an existing file; by default an existing ``path`` is an error.
    """
    if not replace and os.path.lexists(path):
        raise FileExistsError(errno.EEXIST, "refusing to overwrite an existing file", path)
    tmp = f"{path}.tmp-{os.getpid()}"
    fd = _create_private(tmp)
    try:
        _write_all(fd, encode_header() + b"".join(encode_message(m) for m in messages))
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    if replace:
        os.replace(tmp, path)
    else:
        try:
            # link() fails if path appeared meanwhile, so nothing is ever overwritten.
            os.link(tmp, path)
        finally:
            os.unlink(tmp)
    _fsync_dir(path)


def _check_permissions(path: str, st: os.stat_result) -> None:
    if not stat.S_ISREG(st.st_mode):
        raise JournalError(f"journal {path} is not a regular file")
    loose = stat.S_IMODE(st.st_mode) & 0o077
    if loose:
        raise InsecureFileError(
            f"journal {path} has permissions {stat.S_IMODE(st.st_mode):04o}; it holds message "
            f"payloads unencrypted, so it must not be accessible to other users: "
            f"run `chmod 600 {path}`"
        )


def _lock(fd: int, path: str) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        raise JournalError(
            f"journal {path} is in use by another publisher (it is locked); each "
            "RobustProducer needs its own journal"
        ) from exc


class JournalFile:
    """An open, locked journal file that records are appended to.

    Parameters
    ----------
    path : str
        The journal; created (mode 0600) when missing.
    durability : {"none", "fsync"}
        With ``"fsync"``, :meth:`wait_durable` blocks until an appended record is on
        stable storage; concurrent writers share ``fdatasync`` calls (group commit).

    Attributes
    ----------
    messages : dict
        The live messages found when the file was opened.
    """

    def __init__(self, path: str, *, durability: str = "none") -> None:
        if durability not in ("none", "fsync"):
            raise ValueError(f"durability must be 'none' or 'fsync', not {durability!r}")
        self.path = os.fspath(path)
        self._sync = durability == "fsync"
        self._lock = threading.Lock()
        self._cv = threading.Condition(self._lock)
        self._appended = 0  # bytes ever appended: a logical clock for group commit
        self._synced = 0
        self._syncing = False
        # Group commit's gathering (see wait_durable): appends ever made, how many
        # writers the last fdatasync released, and the appends a gathering leader waits
        # for (0: none is gathering).
        self._appends = 0
        self._released = 0
        self._gather_until = 0
        self._gathered = threading.Condition(self._lock)
        self._waiting = 0  # writers waiting for the fdatasync under way
        self._latch: threading.Lock | None = None  # held while an fdatasync is under way
        self._syncs = 0  # fdatasyncs of appended records, for tests and benchmarks
        self._sync_error: OSError | None = None
        self._closed = False
        self.messages, self._fd = self._open()
        self.size = os.fstat(self._fd).st_size

    def _open(self) -> tuple[dict[int, JournalMessage], int]:
        try:
            fd = _create_private(self.path)
        except FileExistsError:
            pass
        else:
            try:
                _lock(fd, self.path)
                _write_all(fd, encode_header())
                os.fsync(fd)
                _fsync_dir(self.path)
            except BaseException:
                os.close(fd)
                raise
            return {}, fd
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND)
        try:
            _check_permissions(self.path, os.fstat(fd))
            _lock(fd, self.path)
            with open(fd, "rb", closefd=False) as f:
                data = f.read()
            messages, end = load(data, self.path)
            if end < HEADER_SIZE:
                os.ftruncate(fd, 0)
                _write_all(fd, encode_header())
            elif end < len(data):
                os.ftruncate(fd, end)
            if end < len(data):
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        return messages, fd

    # -- appending

    def append(self, data: bytes) -> int:
        """Append records; return a ticket for :meth:`wait_durable`."""
        with self._lock:
            return self.append_serialized(data)

    def append_serialized(self, data: bytes) -> int:
        """:meth:`append` without taking the file's lock.

        Only for a caller that already serialises every call to :meth:`append`,
        :meth:`reset`, :meth:`rewrite` and :meth:`close`, and whose durability is
        ``"none"`` (no group-commit leader then reads the counters concurrently): it
        saves a lock round trip per message.
        """
        if self._closed or self._sync_error is not None:
            self._check_open()
        written = os.write(self._fd, data)
        if written != len(data):
            # A short write (a full disk, a signal): finish it, or cut the partial
            # record off so that later records do not follow a damaged one.
            try:
                _write_all(self._fd, data[written:])
            except OSError:
                with contextlib.suppress(OSError):
                    os.ftruncate(self._fd, self.size)
                raise
        self.size += len(data)
        self._appended += len(data)
        self._appends += 1
        if self._gather_until and self._appends >= self._gather_until:
            self._gathered.notify()
        return self._appended

    def wait_durable(self, ticket: int) -> None:
        """Block until everything appended up to ``ticket`` is on stable storage.

        Group commit, leader/follower style: a caller that finds no ``fdatasync`` under
        way runs one for everything appended so far, and callers arriving meanwhile
        wait for it or for the next one. Concurrent writers thus share fsyncs without
        a flusher thread (whose GIL hand-offs cost more than the batching gains).
        Returns at once with durability ``"none"``.

        A leader first gathers: when the previous fdatasync released other writers,
        it waits (at most ``_GATHER_MAX_S``) until as many records were appended since,
        so that the writers it released, busy with their next message, join this
        fdatasync instead of each starting the next one with a record or two. A lone
        writer released nobody and never waits.
        """
        if not self._sync:
            return
        lock = self._lock
        while True:
            with lock:
                if self._synced >= ticket:
                    return
                if self._sync_error is not None:
                    raise JournalError(
                        f"could not fsync journal {self.path}: {self._sync_error}"
                    ) from self._sync_error
                if self._closed:
                    raise JournalError(f"journal {self.path} was closed before reaching disk")
                latch = self._latch
                if latch is None:
                    latch = self._lead_sync()
                    continue
                self._waiting += 1
            # Wait for the fdatasync under way on its latch, not on a condition of the
            # shared lock: the leader releases the latch and each waiter passes it on,
            # so 32 writers wake one after another instead of all fighting for the lock
            # (the convoy cost more than the fsync on a fast disk).
            latch.acquire()
            latch.release()

    def _lead_sync(self) -> threading.Lock:
        """Run one fdatasync for everything appended so far. Called and returns locked."""
        latch = threading.Lock()
        latch.acquire()
        self._latch = latch
        self._syncing = True
        try:
            if self._released and not self._gather_until:
                self._gather_until = self._appends + self._released
                self._gathered.wait_for(
                    lambda: self._appends >= self._gather_until, _GATHER_MAX_S
                )
                self._gather_until = 0
            target, fd = self._appended, self._fd
            # Everyone waiting now appended before this fdatasync, so it covers them.
            waiting, self._waiting = self._waiting, 0
            self._lock.release()
            error: OSError | None = None
            try:
                _datasync(fd)
            except OSError as exc:
                error = exc
            finally:
                self._lock.acquire()
            if error is not None:
                # After a failed fsync the page cache state is unknown: stop for good.
                self._sync_error = error
            else:
                self._synced = max(self._synced, target)
                self._syncs += 1
            self._released = waiting
        finally:
            self._syncing = False
            self._latch = None
            latch.release()
            self._cv.notify_all()  # close/reset/rewrite waiting for the fsync to end
        return latch

    # -- rewriting

    def _quiesce(self) -> None:
        # A group-commit leader may be inside fdatasync on the current descriptor; wait
        # it out before closing or truncating that descriptor.
        self._cv.wait_for(lambda: not self._syncing)

    def reset(self) -> None:
        """Empty the journal (back to just the header)."""
        with self._lock:
            self._check_open()
            self._quiesce()
            os.ftruncate(self._fd, HEADER_SIZE)
            self.size = HEADER_SIZE

    def rewrite(self, messages: Iterable[JournalMessage]) -> None:
        """Replace the journal's content by ``messages`` (compaction), crash-safely."""
        with self._lock:
            self._check_open()
            self._quiesce()
            tmp = f"{self.path}.compact-{os.getpid()}"
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            fd = _create_private(tmp)
            try:
                _lock(fd, tmp)
                data = encode_header() + b"".join(encode_message(m) for m in messages)
                _write_all(fd, data)
                os.fsync(fd)
                os.replace(tmp, self.path)
            except BaseException:
                os.close(fd)
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            # The old descriptor (and its lock) is kept until the new file is in place,
            # so another process can never lock the journal in between.
            old, self._fd = self._fd, fd
            os.close(old)
            _fsync_dir(self.path)
            self.size = len(data)
            # The new file is on disk and holds every live record.
            self._synced = self._appended
            self._cv.notify_all()

    # -- closing

    def _check_open(self) -> None:
        if self._closed:
            raise JournalError(f"journal {self.path} is closed")
        if self._sync_error is not None:
            raise JournalError(
                f"journal {self.path} is unusable after a failed fsync: {self._sync_error}"
            )

    def __del__(self) -> None:
        # A journal dropped without close() is what a crash leaves, which the format is
        # built for; only release the descriptor (and with it the lock).
        fd = getattr(self, "_fd", None)
        if fd is not None and not self._closed:
            self._closed = True
            with contextlib.suppress(OSError):
                os.close(fd)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def close(self) -> None:
        """Make everything durable (with ``"fsync"``), unlock and close. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._quiesce()
            if self._sync and self._sync_error is None and self._synced < self._appended:
                with contextlib.suppress(OSError):
                    _datasync(self._fd)
                    self._synced = self._appended
            self._closed = True
            self._cv.notify_all()
            os.close(self._fd)
