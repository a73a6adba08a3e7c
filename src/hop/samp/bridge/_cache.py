"""The bounded folder of sky map files that desktop tools load by URL.

SAMP sends URLs, not data: Aladin or DS9 reads ``file://`` URLs some time after the
notification, so files stay after they are sent. Every alert writes one group of files
sharing a stem (``<stem>.multiorder.fits``, ``<stem>.fits``, ``<stem>.moc.fits``);
when the folder holds more than ``max_bytes`` the oldest groups are removed whole,
never the newest one. Files are written to a temporary name and renamed, so a tool
never reads half a file.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import threading
from pathlib import Path

__all__ = ["DEFAULT_CACHE_BYTES", "SkyMapCache", "default_cache_dir"]

DEFAULT_CACHE_BYTES = 1 << 30
"""1 GiB: about 150 alerts with their flattened maps at the default order."""

_SUFFIXES = (".multiorder.fits", ".moc.fits", ".fits")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def default_cache_dir(environ: dict[str, str] | None = None) -> Path:
    """``${XDG_CACHE_HOME:-~/.cache}/skyhop/skymaps``."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "skyhop" / "skymaps"


def safe_stem(*parts: str) -> str:
    """A file-name stem from ``parts`` (anything unsafe becomes ``-``)."""
    return "-".join(_UNSAFE.sub("-", p).strip("-.") or "x" for p in parts)


def _stem_of(name: str) -> str | None:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return None


class SkyMapCache:
    """A folder of sky map files whose total size is bounded.

    Parameters
    ----------
    directory : path
        Created (mode 0700) if missing.
    max_bytes : int
        Bound on the files' total size, checked after each group is written.
    """

    def __init__(self, directory: str | os.PathLike[str], max_bytes: int = DEFAULT_CACHE_BYTES):
        if max_bytes <= 0:
            raise ValueError("the sky map cache size must be positive")
        self.directory = Path(directory).expanduser()
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()

    def open(self) -> None:
        """Create the folder; raises ``OSError`` naming it when that fails."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def write(self, stem: str, suffix: str, data: bytes) -> Path:
        """Write ``<stem><suffix>`` atomically and return its path."""
        if suffix not in _SUFFIXES:
            raise ValueError(f"unknown sky map file suffix {suffix!r}")
        path = self.directory / f"{stem}{suffix}"
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=".tmp", dir=self.directory)
        except FileNotFoundError:  # someone removed the folder: make it again
            self.open()
            fd, tmp = tempfile.mkstemp(prefix=f".{stem}.", suffix=".tmp", dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return path

    def trim(self, keep: str) -> list[str]:
        """Remove the oldest groups until the total fits; never ``keep``. Returns stems removed."""
        with self._lock:
            groups: dict[str, list[tuple[Path, int, float]]] = {}
            for entry in os.scandir(self.directory):
                stem = _stem_of(entry.name)
                if stem is None or not entry.is_file(follow_symlinks=False):
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                groups.setdefault(stem, []).append((Path(entry.path), st.st_size, st.st_mtime))
            total = sum(size for files in groups.values() for _, size, _ in files)
            removed: list[str] = []
            oldest_first = sorted(groups, key=lambda s: max(m for _, _, m in groups[s]))
            for stem in oldest_first:
                if total <= self.max_bytes:
                    break
                if stem == keep:
                    continue
                for path, size, _ in groups[stem]:
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
                    total -= size
                removed.append(stem)
            return removed
