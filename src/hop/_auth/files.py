"""The CSV credential import, and the credential keys it shares with ``auth.toml``.

Files holding secrets are written by :mod:`hop._private_files`.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from typing import TypeVar

from hop.errors import ConfigurationError, CredentialFileError

__all__ = ["CREDENTIAL_KEYS", "read_csv_credentials"]

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
                        # As hop-client's import: SASLMethod member spelling, which
                        # Auth.mechanism then reports ("SCRAM_SHA_256").
                        method=values.get("mechanism", "").replace("-", "_") or None,
                        ssl_ca_location=values.get("ssl_ca_location") or None,
                        token_endpoint=values.get("token_endpoint") or None,
                    )
                )
            except ConfigurationError as exc:
                raise CredentialFileError(f"{path}, line {line}: {exc}") from exc
        if not creds:
            raise CredentialFileError(f"{path} has a header row but no credential")
        return creds
