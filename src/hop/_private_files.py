"""Writing files that hold secrets: atomically, and readable by their owner only.

Shared by everything that stores something private: the credential store
(:mod:`hop.auth`), the general configuration (:mod:`hop.configure`) and igwn_alert's
subscriptions (through :mod:`hop._internal`). The RobustProducer's journal has its own
writer (:func:`hop._robust.file.write_journal`), which must never replace a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import Any

__all__ = ["write_private_file", "write_toml"]


def write_private_file(path: str, data: bytes) -> None:
    """Replace ``path`` atomically with ``data``, readable by its owner only.

    The bytes go to a 0600 temporary file in the same directory, which is synced and
    then renamed over ``path``: a crash leaves either the old or the new file, never a
    truncated one, and the secret is never visible to other users, not even briefly.
    Missing parent directories are created with mode 0700.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    try:
        # mkstemp already creates the file 0600; fchmod states it independently of
        # the platform's tempfile behaviour.
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    # The rename is durable only once the directory entry is on disk.
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_toml(path: str, data: dict[str, Any]) -> None:
    """Write ``data`` as TOML to ``path`` with :func:`write_private_file`."""
    import tomli_w

    write_private_file(path, tomli_w.dumps(data).encode("utf-8"))
