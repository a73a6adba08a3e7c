"""Where an igwn_alert client's credential comes from.

The order is upstream's: an explicit ``auth``, then ``noauth``, then a username and
password, then an ``auth.toml`` path, then the default hop credential store, then
``~/.netrc``. Two upstream defects are fixed here: the netrc entry is looked up by the
broker's host name (upstream used the whole ``kafka://`` URL, so a normal
``machine kafka.scimma.org`` line never matched), and a broken or insecure credential
file is reported instead of silently falling through to an unauthenticated session.
"""

from __future__ import annotations

import logging
import netrc
import os
import stat
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hop import auth as hop_auth
from hop.errors import (
    AmbiguousCredentialError,
    CredentialFileError,
    InsecureFileError,
    NoMatchingCredentialError,
)
from igwn_alert._errors import IncompleteCredentialError

__all__ = ["netrc_credential", "netrc_path", "resolve_auth"]

logger = logging.getLogger("igwn_alert.client")

NO_AUTH_WARNING = "No authentication found. Proceeding with unauthenticated session"


def netrc_path(env: Mapping[str, str] | None = None) -> Path:
    """Return the netrc file to read: ``$NETRC``, else ``~/.netrc``."""
    environ = os.environ if env is None else env
    explicit = environ.get("NETRC")
    if explicit:
        return Path(explicit)
    home = environ.get("HOME") or str(Path.home())
    return Path(home) / ".netrc"


def _check_private(path: Path) -> None:
    st = path.stat()
    # A netrc holds passwords: refuse one that others may read or that someone else owns.
    if st.st_uid != os.getuid():
        raise InsecureFileError(f"{path}: netrc file is not owned by the current user")
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise InsecureFileError(
            f"{path}: netrc file has mode {stat.S_IMODE(st.st_mode):04o}; other users may "
            f"read the passwords in it. Run `chmod 600 {path}`"
        )


def netrc_credential(
    host: str,
    port: int,
    server: str,
    *,
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Any:
    """Look up a broker's credential in a netrc file.

    Entries are tried as ``machine host:port``, ``machine host``, then the whole server
    URL (what upstream igwn-alert wrote into netrc files).

    Parameters
    ----------
    host : str
        The broker's host name.
    port : int
        The broker's port.
    server : str
        The server URL as the user gave it.
    path : path, optional
        The netrc file; :func:`netrc_path` when not given.
    env : mapping, optional
        Environment for :func:`netrc_path`; ``os.environ`` when not given.

    Returns
    -------
    hop.auth.Auth or None
        None when the file does not exist or has no entry for the broker.

    Raises
    ------
    hop.errors.InsecureFileError
        The file is readable by other users or owned by someone else.
    hop.errors.CredentialFileError
        The file cannot be parsed; the message names the file and line.
    """
    file = Path(path) if path is not None else netrc_path(env)
    if not file.exists():
        if path is not None:
            raise FileNotFoundError(2, "netrc file not found", str(file))
        return None
    _check_private(file)
    try:
        parsed = netrc.netrc(str(file))
    except netrc.NetrcParseError as exc:
        raise CredentialFileError(f"{exc.filename}, line {exc.lineno}: {exc.msg}") from exc
    for machine in (f"{host}:{port}", host, server, server.rstrip("/")):
        entry = parsed.authenticators(machine)
        if entry is not None:
            login, _account, password = entry
            if login:
                logger.debug("using the netrc credential for %s from %s", machine, file)
                return hop_auth.Auth(login, password or "")
    return None


def resolve_auth(
    *,
    auth: Any,
    noauth: bool,
    username: str | None,
    password: str | None,
    authfile: str | os.PathLike[str] | None,
    host: str,
    port: int,
    server: str,
    env: Mapping[str, str] | None = None,
) -> Any:
    """Return what the client hands to :class:`hop.io.Stream` as ``auth``.

    Returns
    -------
    hop.auth.Auth, list of hop.auth.Auth, or False
        False means an unauthenticated session.

    Raises
    ------
    IncompleteCredentialError
        Only one of ``username`` and ``password`` was given.
    FileNotFoundError
        ``authfile`` does not exist.
    hop.errors.InsecureFileError, hop.errors.CredentialFileError
        A credential file is readable by others or malformed.
    """
    if auth is not None:
        return auth
    if noauth:
        return False
    if username is not None and password is not None:
        return hop_auth.Auth(username, password)
    if username is not None or password is not None:
        raise IncompleteCredentialError(
            "You must provide both a username and a password for basic authentication."
        )
    if authfile is not None:
        return hop_auth.load_auth(authfile)
    try:
        stored: list[Any] | None = hop_auth.load_auth(env=env)
    except FileNotFoundError:
        stored = None
    if stored:
        try:
            hop_auth.select_matching_auth(stored, f"{host}:{port}")
            return stored
        except NoMatchingCredentialError:
            pass  # netrc may still have one; otherwise opening reports the mismatch
        except AmbiguousCredentialError:
            return stored  # opening a stream explains how to pick one
    from_netrc = netrc_credential(host, port, server, env=env)
    if from_netrc is not None:
        return from_netrc
    if stored:
        return stored
    warnings.warn(NO_AUTH_WARNING, stacklevel=3)
    return False
