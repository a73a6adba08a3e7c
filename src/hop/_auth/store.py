"""The credential store: ``auth.toml`` reading, writing, import and editing."""

from __future__ import annotations

import logging
import os
import re
import stat
import sys
import tomllib
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any, Protocol

from hop._auth.credential import _PROTOCOLS, Auth
from hop._auth.files import CREDENTIAL_KEYS, read_csv_credentials
from hop._private_files import write_toml
from hop.configure import get_config_path
from hop.errors import (
    AmbiguousCredentialError,
    ConfigurationError,
    CredentialError,
    CredentialFileError,
    InsecureFileError,
    NoMatchingCredentialError,
)

# No __all__ here: the public names are listed once, in hop.auth, which re-exports them.

logger = logging.getLogger("hop")

# A broker as a user may type it: a DNS name or IPv4 address, or an IPv6 literal in
# brackets, with an optional port.
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
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise CredentialFileError(f"{path} is not UTF-8 text: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CredentialFileError(f"{path} is not valid TOML: {exc}") from exc


def _interpret_entry(entry: Any, where: str) -> Auth | None:
    if not isinstance(entry, dict):
        raise CredentialFileError(f"{where}: expected a table, found {type(entry).__name__}")
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
            method=entry.get("mechanism"),
            ssl_ca_location=entry.get("ssl_ca_location"),
            token_endpoint=entry.get("token_endpoint"),
            token_command=entry.get("token_command"),
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


def load_auth(
    config_file: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
) -> list[Auth]:
    """Load the stored credentials.

    Parameters
    ----------
    config_file : str, optional
        The file to read; the default ``auth.toml`` when not given. When the default
        ``auth.toml`` does not exist, credentials left in ``config.toml`` by old
        releases are read instead.
    env : mapping, optional
        The environment used to find the default location; ``os.environ`` if not given.

    Returns
    -------
    list of Auth

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    InsecureFileError
        The file is readable or writable by other users; it is not read.
    CredentialFileError
        The file is not valid TOML, has no ``auth`` section, or holds a bad entry.
    """
    if config_file is None:
        path = get_config_path("auth", env=env)
        if not os.path.exists(path):
            legacy = get_config_path("general", env=env)
            if os.path.exists(legacy):
                # config.toml may legitimately be world-readable when it holds no
                # secrets, so its permissions matter only once it has credentials.
                data = _read_private_toml(legacy, require_private=False)
                if "auth" in data:
                    _check_private(legacy, os.stat(legacy))
                    return _interpret_auth_data(data, legacy)
            raise _missing_store(path)
    else:
        path = os.fspath(config_file)
        if not os.path.exists(path):
            raise _missing_store(path)
    return _interpret_auth_data(_read_private_toml(path), path)


def _missing_store(path: str) -> FileNotFoundError:
    import errno

    return FileNotFoundError(
        errno.ENOENT,
        "No credential file; store one with `hop auth add [CSV_FILE]` (get one from "
        "https://my.hop.scimma.org), or disable authentication (--no-auth, Stream(auth=False))",
        path,
    )


def _load_or_empty(path: str) -> list[Auth]:
    try:
        return load_auth(path)
    except FileNotFoundError:
        return []


def write_auth_data(config_file: str | os.PathLike[str], credentials: Iterable[Auth]) -> None:
    """Write the credential store, replacing the file atomically with mode 0600.

    Containing directories are created as needed (mode 0700).

    Parameters
    ----------
    config_file : str
        The file to write.
    credentials : iterable of Auth
        The complete set of credentials to store.
    """
    write_toml(os.fspath(config_file), {"auth": [c._to_record() for c in credentials]})


def prune_outdated_auth(
    config_file: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
) -> None:
    """Remove credentials from the general configuration file.

    Old releases kept credentials in ``config.toml``. Once they are written to
    ``auth.toml`` the stale copy is removed, so there is one place to look.
    The file is rewritten only when it holds an ``auth`` entry.

    Raises
    ------
    ConfigurationError
        The file is not valid TOML.
    """
    path = (
        os.fspath(config_file) if config_file is not None else get_config_path("general", env=env)
    )
    if not os.path.exists(path):
        return
    with open(path, "rb") as f:
        try:
            data = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{path} is not valid TOML: {exc}") from exc
    if "auth" in data:
        del data["auth"]
        write_toml(path, data)


class _CredentialArgs(Protocol):
    cred_file: str | None
    force: bool


def read_new_credential(
    csv_file: str | os.PathLike[str] | None = None,
    *,
    prompt: Callable[[str], str] | None = None,
    secret_prompt: Callable[[str], str] | None = None,
) -> Auth:
    """Import a credential from a CSV file, or ask the user for one.

    The CSV file has a header row naming its columns: ``username`` and ``password``,
    optionally ``hostname``, ``protocol``, ``mechanism``, ``ssl_ca_location`` and
    ``token_endpoint`` (the file the SCiMMA auth portal hands out has this form).

    Parameters
    ----------
    csv_file : str, optional
        The CSV file; the user is prompted when not given.
    prompt, secret_prompt : callable, optional
        Functions that ask for a line of input (the password with echo off).

    Returns
    -------
    Auth

    Raises
    ------
    FileNotFoundError
        The CSV file does not exist.
    CredentialFileError
        The CSV file lacks a username or password, or holds more than one credential
        (``hop auth add`` imports all of them).
    CredentialError
        An interactively entered username or password is empty.
    """
    if csv_file is not None:
        creds = read_csv_credentials(os.fspath(csv_file), Auth)
        if len(creds) != 1:
            raise CredentialFileError(
                f"{os.fspath(csv_file)} holds {len(creds)} credentials; expected one "
                "(`hop auth add FILE` imports them all)"
            )
        return creds[0]
    if prompt is None:
        prompt = input
    if secret_prompt is None:
        import getpass

        secret_prompt = getpass.getpass
    username = prompt("Username: ").strip()
    if not username:
        raise CredentialError("Username may not be empty")
    password = secret_prompt("Password: ")
    if not password:
        raise CredentialError("Password may not be empty")
    hostname = _validate_hostname(prompt("Hostname (may be empty): "))
    endpoint = prompt("Token endpoint (empty if not applicable): ").strip()
    return Auth(username, password, host=hostname, token_endpoint=endpoint or None)


def _validate_hostname(text: str) -> str:
    """Check a broker given as ``host`` or ``host:port``; a ``kafka://`` prefix is dropped."""
    value = text.strip()
    if value.startswith("kafka://"):
        logger.warning("dropping 'kafka://' from the hostname %r", value)
        value = value[len("kafka://") :].rstrip("/")
    if value and not _BROKER.match(value):
        raise ConfigurationError(
            f"Unable to parse hostname {text!r}; enter either `hostname` or `hostname:port`"
        )
    return value


def _same_slot(a: Auth, b: Auth) -> bool:
    """Whether two credentials would occupy the same place in the store."""
    return a.username == b.username and a.hostname == b.hostname


def add_credential(
    args: _CredentialArgs, *, config_file: str | None = None, **prompts: Any
) -> list[Auth]:
    """Load new credentials and add them to the store.

    Parameters
    ----------
    args : argparse.Namespace
        ``args.cred_file`` is a CSV file to import (every row is imported), or None to
        prompt for one credential; ``args.force`` allows replacing a stored credential
        with the same username and hostname.
    config_file : str, optional
        The store; the default ``auth.toml`` when not given.

    Returns
    -------
    list of Auth
        The credentials added.

    Raises
    ------
    CredentialError
        A credential with the same username and hostname is stored and ``force`` is
        not set; nothing is written.
    """
    path = config_file if config_file is not None else get_config_path("auth")
    if args.cred_file is not None:
        new = read_csv_credentials(os.fspath(args.cred_file), Auth)
    else:
        new = [read_new_credential(None, **prompts)]
    if config_file is None and not os.path.exists(path):
        existing = _load_legacy_or_empty()
    else:
        existing = _load_or_empty(path)
    for cred in new:
        clash = [c for c in existing if _same_slot(c, cred)]
        if clash and not args.force:
            where = f" for {cred.hostname}" if cred.hostname else " with no hostname"
            raise CredentialError(
                f"a credential for {cred.username}{where} is already stored in {path}; "
                "use --force to replace it"
            )
        existing = [c for c in existing if not _same_slot(c, cred)] + [cred]
    write_auth_data(path, existing)
    if config_file is None:
        prune_outdated_auth()
    for cred in new:
        logger.info("stored credential %s in %s", cred._describe(), path)
    return new


def _load_legacy_or_empty() -> list[Auth]:
    try:
        return load_auth()
    except FileNotFoundError:
        return []


def delete_credential(name: str, *, config_file: str | None = None) -> Auth:
    """Remove a stored credential.

    Parameters
    ----------
    name : str
        The username, or ``username@hostname`` when a user has several credentials.
        A username containing ``@`` is matched whole first.
    config_file : str, optional
        The store; the default ``auth.toml`` when not given.

    Returns
    -------
    Auth
        The credential removed.

    Raises
    ------
    NoMatchingCredentialError
        No stored credential has that name.
    AmbiguousCredentialError
        Several do; the message lists them and how to name one.
    """
    path = config_file if config_file is not None else get_config_path("auth")
    creds = load_auth(path)
    username, hostname = name, None
    if "@" in name and not any(c.username == name for c in creds):
        username, hostname = name.rsplit("@", 1)
    matches = [
        c for c in creds if c.username == username and (hostname is None or c.hostname == hostname)
    ]
    host_part = f" with hostname {hostname!r}" if hostname is not None else ""
    if not matches:
        raise NoMatchingCredentialError(
            f"No matching credential found with username {username!r}{host_part} in {path}"
        )
    if len(matches) > 1:
        listing = "".join(f"\n  {c._describe()}" for c in matches)
        raise AmbiguousCredentialError(
            f"Ambiguous credentials found for username {username!r}"
            f"{host_part or ' with no hostname specified'}\nMatched credentials:{listing}\n"
            f"Name one as <username>@<hostname>"
        )
    write_auth_data(path, [c for c in creds if c is not matches[0]])
    return matches[0]


def list_credentials(*, config_file: str | None = None, file: IO[str] | None = None) -> None:
    """Print the stored credentials, one per line (never their passwords).

    Raises
    ------
    FileNotFoundError
        There is no credential store.
    """
    out = file if file is not None else sys.stdout
    creds = load_auth(config_file)
    if not creds:
        print("No credentials configured", file=sys.stderr)
        return
    width = max(len(c.username) for c in creds)
    for cred in creds:
        line = f"{cred.username:<{width}}"
        if cred.hostname:
            line += f" for {cred.hostname}"
        print(f"{line}  ({cred.mechanism}, {cred.protocol})", file=out)
