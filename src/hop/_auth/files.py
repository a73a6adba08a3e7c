"""File I/O for secrets: atomic private writes and the CSV credential import."""

from __future__ import annotations

import contextlib
import csv
import os
import tempfile
from collections.abc import Callable
from typing import Any, TypeVar

from hop.errors import ConfigurationError, CredentialFileError

__all__ = ["CREDENTIAL_KEYS", "read_csv_credentials", "write_private_file", "write_toml"]

_A = TypeVar("_A")

# The fields a stored credential may have, both as keys of an auth.toml table and as
# columns of a credential CSV: one set, so the store can hold whatever a CSV imports.
# (The SCiMMA auth portal's CSV has only username,password.)
CREDENTIAL_KEYS = frozenset(
    {
        "username",
        "password",
        "hostname",
        "protocol",
        "mechanism",
        "ssl_ca_location",
        "token_endpoint",
    }
)


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


def read_csv_credentials(path: str, make: Callable[..., _A]) -> list[_A]:
    """Read every credential of a CSV file with a header row.

    Parameters
    ----------
    path : str
        The CSV file.
    make : callable
        Builds one credential: ``make(user, password, host=, ssl=, method=,
        ssl_ca_location=, token_endpoint=)`` (that is, :class:`hop.auth.Auth`).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    CredentialFileError
        No header row, no ``username`` or ``password`` column, an unknown column, an
        empty username or password, or no data row; the message names the line.
    """
    with open(path, newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f)
        header = [name.strip() for name in (reader.fieldnames or [])]
        if not header:
            raise CredentialFileError(
                f"{path} is empty; expected a header row such as 'username,password,hostname'"
            )
        reader.fieldnames = header
        missing = [c for c in ("username", "password") if c not in header]
        if missing:
            raise CredentialFileError(
                f"{path}, line 1: the header row has no {missing[0]!r} column "
                f"(found: {', '.join(header)})"
            )
        unknown = [c for c in header if c not in CREDENTIAL_KEYS]
        if unknown:
            raise CredentialFileError(
                f"{path}, line 1: unknown column {unknown[0]!r} "
                f"(known columns: {', '.join(sorted(CREDENTIAL_KEYS))})"
            )
        creds = []
        for row in reader:
            line = reader.line_num
            values = {k: (v or "").strip() for k, v in row.items() if k is not None}
            if not any(values.values()):
                continue  # a blank line
            if None in row:
                raise CredentialFileError(f"{path}, line {line}: more fields than columns")
            if not values["username"]:
                raise CredentialFileError(f"{path}, line {line}: the username is empty")
            if not values["password"]:
                raise CredentialFileError(f"{path}, line {line}: the password is empty")
            protocol = values.get("protocol", "").upper() or "SASL_SSL"
            if protocol not in ("SASL_SSL", "SASL_PLAINTEXT"):
                raise CredentialFileError(
                    f"{path}, line {line}: protocol {values['protocol']!r} is not "
                    "SASL_SSL or SASL_PLAINTEXT"
                )
            try:
                creds.append(
                    make(
                        values["username"],
                        values["password"],
                        host=values.get("hostname", ""),
                        ssl=protocol == "SASL_SSL",
                        method=values.get("mechanism") or None,
                        ssl_ca_location=values.get("ssl_ca_location") or None,
                        token_endpoint=values.get("token_endpoint") or None,
                    )
                )
            except ConfigurationError as exc:
                raise CredentialFileError(f"{path}, line {line}: {exc}") from exc
        if not creds:
            raise CredentialFileError(f"{path} has a header row but no credential")
        return creds
