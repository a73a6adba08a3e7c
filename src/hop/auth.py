"""Credentials: the :class:`Auth` value type, the credential store, and selection.

A credential is a SASL username and password (or an OIDC client id and secret),
optionally tied to one broker host. Credentials are stored in ``auth.toml``
(:func:`hop.configure.get_config_path` ``("auth")``) as an array of tables::

    [[auth]]
    username = "alice"
    password = "secret"
    hostname = "kafka.example.org:9092"   # optional
    protocol = "SASL_SSL"                 # or "SASL_PLAINTEXT"
    mechanism = "SCRAM-SHA-512"           # PLAIN, SCRAM-SHA-256, OAUTHBEARER

The legacy single ``[auth]`` table, and credentials kept in ``config.toml`` by old
releases, are still read. The store is written atomically with mode 0600, and a
store that other users can read is refused rather than used.

The translation into librdkafka settings lives with the rest of the Kafka
configuration in ``hop._config``. The store's functions are defined here, where
hop-client defines them, and call each other (and ``hop.configure.get_config_path``)
as module attributes, so a test that patches ``hop.auth.load_auth`` changes what
``add_credential`` and the others use, as with hop-client.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any, Protocol

from hop import configure
from hop._auth.credential import Auth, SASLMethod, select_matching_auth
from hop._auth.files import read_csv_credentials
from hop._auth.store import (
    _check_private,
    _interpret_auth_data,
    _missing_store,
    _read_private_toml,
    _read_toml_or_fail,
    _same_slot,
    _validate_hostname,
)
from hop._private_files import write_toml
from hop.errors import (
    AmbiguousCredentialError,
    CredentialError,
    CredentialFileError,
    NoMatchingCredentialError,
)

__all__ = [
    "AmbiguousCredentialError",
    "Auth",
    "SASLMethod",
    "add_credential",
    "delete_credential",
    "list_credentials",
    "load_auth",
    "prune_outdated_auth",
    "read_new_credential",
    "select_matching_auth",
    "write_auth_data",
]

logger = logging.getLogger("hop")

# Documented (and pickled) under their public home.
Auth.__module__ = __name__
SASLMethod.__module__ = __name__
select_matching_auth.__module__ = __name__


def _config_path(type: str, *, env: Mapping[str, str] | None = None) -> str:
    # Through the module attribute, so that patching hop.configure.get_config_path
    # works; a replacement written for upstream's signature takes no env.
    if env is None:
        return configure.get_config_path(type)
    return configure.get_config_path(type, env=env)


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
        path = _config_path("auth", env=env)
        if not os.path.exists(path):
            legacy = _config_path("general", env=env)
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


def _load_or_empty(path: str) -> list[Auth]:
    try:
        return list(load_auth(path))
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
    RuntimeError
        (:class:`hop.errors.ConfigFileError`) The file is not valid TOML.
    """
    path = (
        os.fspath(config_file) if config_file is not None else _config_path("general", env=env)
    )
    if not os.path.exists(path):
        return
    data = _read_toml_or_fail(path)
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
        The credentials added: none when one of them is already stored (same username
        and hostname) and ``force`` is not set. Then, as with hop-client, the error
        "Credential already exists; overwrite with --force" is logged, nothing is
        written, and nothing is raised (``hop auth add`` exits with status 0).
    """
    path = config_file if config_file is not None else _config_path("auth")
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
            logger.error(
                "Credential already exists; overwrite with --force (%s%s, in %s)",
                cred.username, where, path,
            )
            return []
        existing = [c for c in existing if not _same_slot(c, cred)] + [cred]
    write_auth_data(path, existing)
    if config_file is None:
        prune_outdated_auth()
    for cred in new:
        logger.info("stored credential %s in %s", cred._describe(), path)
    return new


def _load_legacy_or_empty() -> list[Auth]:
    try:
        return list(load_auth())
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
        No stored credential has that name, or there is no credential store (a
        ``RuntimeError``, as upstream).
    AmbiguousCredentialError
        Several do; the message lists them and how to name one.
    """
    if config_file is None:
        # As hop-client: the default store, or credentials left in config.toml by old
        # releases (rewritten to auth.toml, and pruned from config.toml, below).
        path = _config_path("auth")
        creds = _load_legacy_or_empty()
    else:
        path = config_file
        creds = _load_or_empty(path)
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
    if config_file is None:
        prune_outdated_auth()
    return matches[0]


def list_credentials(*, config_file: str | None = None, file: IO[str] | None = None) -> None:
    """Print the stored credentials, one per line (never their passwords).

    Each line is the username, followed by ``for <hostname>`` when the credential has
    one (hop-client's format). With no credentials, "No credentials configured" is
    printed on standard output when it is a terminal, and on standard error
    otherwise, so that a script reading the list gets nothing, as with hop-client.

    Raises
    ------
    FileNotFoundError
        There is no credential store.
    """
    out = file if file is not None else sys.stdout
    creds = load_auth(config_file) if config_file is not None else load_auth()
    if not creds:
        interactive = out.isatty() if hasattr(out, "isatty") else False
        print("No credentials configured", file=out if interactive else sys.stderr)
        return
    width = max(len(c.username) for c in creds)
    for cred in creds:
        if cred.hostname:
            print(f"{cred.username:<{width}} for {cred.hostname}", file=out)
        else:
            print(cred.username, file=out)
