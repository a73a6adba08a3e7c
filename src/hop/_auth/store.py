"""The credential store's file handling: reading ``auth.toml`` safely, and its entries.

The public functions built on these (``load_auth``, ``add_credential``...) live in
:mod:`hop.auth`, where hop-client defines them.
"""

from __future__ import annotations

import logging
import os
import re
import stat
from collections.abc import Mapping
from typing import Any

from hop import _toml
from hop._auth.credential import _PROTOCOLS, Auth, _canonical_mechanism
from hop._auth.files import CREDENTIAL_KEYS
from hop.errors import (
    ConfigFileError,
    ConfigurationError,
    CredentialError,
    CredentialFileError,
    InsecureFileError,
)

# No __all__: everything here is private to hop.auth.

logger = logging.getLogger("hop")


_BROKER = re.compile(r"^(?:[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")


def _check_private(path: str, st: os.stat_result) -> None:
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise InsecureFileError(
            f"{path} holds passwords but other users may access it (mode {mode:04o}); "
            f"it was not read. Fix it with: chmod 600 {path}"
        )


def _read_private_toml(path: str, *, require_private: bool = True) -> dict[str, Any]:
    """Read a TOML file that holds secrets, refusing one that others can access."""
    # Check the permissions of the file actually opened, not of whatever the path
    # pointed at a moment earlier.
    with open(path, "rb") as f:
        if require_private:
            _check_private(path, os.fstat(f.fileno()))
        data = f.read()
    try:
        return _toml.loads(data)
    except UnicodeDecodeError as exc:
        raise CredentialFileError(f"{path} is not UTF-8 text: {exc}") from exc
    except _toml.TOMLDecodeError as exc:
        raise CredentialFileError(f"{path} is not valid TOML: {exc}") from exc


def _interpret_entry(entry: Any, where: str) -> Auth | None:
    if not isinstance(entry, dict):
        raise CredentialFileError(f"{where}: expected a table, found {type(entry).__name__}")
    if "token_command" in entry:
        # hop-client 0.13 runs a shell command for tokens; skyhop only uses librdkafka's
        # built-in OIDC, so such entries are skipped rather than failing the whole store.
        logger.warning("%s: token_command credentials are not supported; skipped", where)
        return None
    unknown = sorted(set(entry) - CREDENTIAL_KEYS)
    if unknown:
        known = ", ".join(sorted(CREDENTIAL_KEYS))
        raise CredentialFileError(f"{where}: unknown key {unknown[0]!r} (known keys: {known})")
    for key in ("username", "password"):
        if key not in entry:
            raise CredentialFileError(f"{where}: missing auth property {key!r}")
    for key, value in entry.items():
        if not isinstance(value, str):
            raise CredentialFileError(
                f"{where}: {key!r} must be a string, not {type(value).__name__}"
            )
    protocol = entry.get("protocol", "SASL_SSL").upper()
    if protocol not in _PROTOCOLS:
        raise CredentialFileError(
            f"{where}: protocol {entry['protocol']!r} is not one of {', '.join(_PROTOCOLS)}"
        )
    try:
        return Auth(
            entry["username"],
            entry["password"],
            host=entry.get("hostname", ""),
            ssl=protocol == "SASL_SSL",
            # hop-client looks the stored name up in SASLMethod, so a loaded
            # credential reports the canonical name whichever spelling the file has.
            method=_canonical_mechanism(entry["mechanism"]) if "mechanism" in entry else None,
            ssl_ca_location=entry.get("ssl_ca_location"),
            token_endpoint=entry.get("token_endpoint"),
        )
    except ConfigurationError as exc:
        raise CredentialFileError(f"{where}: {exc}") from exc


def _interpret_auth_data(data: Mapping[str, Any], path: str) -> list[Auth]:
    if "auth" not in data:
        raise CredentialFileError(f"{path} has no auth section ([[auth]] entries)")
    entries = data["auth"]
    if isinstance(entries, dict):  # the legacy single [auth] table
        entries = [entries]
    if not isinstance(entries, list):
        raise CredentialFileError(f"{path}: 'auth' must be a table or an array of tables")
    creds = []
    for index, entry in enumerate(entries, start=1):
        name = entry.get("username") if isinstance(entry, dict) else None
        where = f"{path}, auth entry {index}" + (f" ({name})" if name else "")
        cred = _interpret_entry(entry, where)
        if cred is not None:
            creds.append(cred)
    return creds


def _missing_store(path: str) -> FileNotFoundError:
    import errno

    return FileNotFoundError(
        errno.ENOENT,
        "No credential file; store one with `hop auth add [CSV_FILE]` (get one from "
        "https://my.hop.scimma.org), or disable authentication (--no-auth, Stream(auth=False))",
        path,
    )


def _validate_hostname(text: str) -> str:
    """Check a broker given as ``host`` or ``host:port``; a ``kafka://`` prefix is dropped."""
    value = text.strip()
    if value.startswith("kafka://"):
        logger.warning("dropping 'kafka://' from the hostname %r", value)
        value = value[len("kafka://") :].rstrip("/")
    if value and not _BROKER.match(value):
        # A RuntimeError, as upstream's prompt raises.
        raise CredentialError(
            f"Unable to parse hostname {text!r}; enter either `hostname` or `hostname:port`"
        )
    return value


def _same_slot(a: Auth, b: Auth) -> bool:
    """Whether two credentials would occupy the same place in the store."""
    return a.username == b.username and a.hostname == b.hostname


def _read_toml_or_fail(path: str) -> dict[str, Any]:
    """Read a general configuration file; a malformed one is a ``RuntimeError``, as upstream."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        return _toml.loads(raw)
    except (UnicodeDecodeError, _toml.TOMLDecodeError) as exc:
        raise ConfigFileError(f"configuration file {path} is malformed: {exc}") from exc
