"""The Standard Profile lockfile: where it is, how to read, write, claim and release it.

A hub announces itself by writing ``~/.samp`` (or the file named by
``SAMP_HUB=std-lockurl:<url>``): ``key=value`` lines holding ``samp.secret``,
``samp.hub.xmlrpc.url`` and ``samp.profile.version``. The file is written to a 0600
temporary file and moved into place, so a reader never sees half a file; a live hub's
lockfile is never overwritten, a dead hub's (stale) one is replaced.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
import tempfile
import urllib.request
import xmlrpc.client
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

from hop.samp._errors import SAMPHubError

__all__ = [
    "claim_lockfile",
    "default_lockfile_path",
    "format_lockfile",
    "hub_is_alive",
    "parse_lockfile",
    "read_lockfile",
    "release_lockfile",
    "resolve_lockfile_location",
]

_KEY = re.compile(r"[a-zA-Z0-9\-_.]+")
_PING_TIMEOUT_S = 2.0


def default_lockfile_path(environ: Mapping[str, str] | None = None) -> Path:
    """Return ``~/.samp`` (``HOME`` is read from ``environ`` when given)."""
    env = os.environ if environ is None else environ
    home = env.get("HOME") or env.get("USERPROFILE") or str(Path.home())
    return Path(home) / ".samp"


def resolve_lockfile_location(environ: Mapping[str, str] | None = None) -> str:
    """Return the lockfile location clients should read: a path or a URL.

    ``SAMP_HUB=std-lockurl:<url>`` wins over ``~/.samp``.

    Raises
    ------
    SAMPHubError
        When ``SAMP_HUB`` names a profile other than the Standard Profile.
    """
    env = os.environ if environ is None else environ
    value = env.get("SAMP_HUB", "").strip()
    if value:
        if not value.startswith("std-lockurl:"):
            raise SAMPHubError(
                f"SAMP_HUB={value!r}: only the 'std-lockurl:<url>' form is supported"
            )
        return value[len("std-lockurl:") :]
    return str(default_lockfile_path(env))


def lockfile_path_for_hub(environ: Mapping[str, str] | None = None) -> Path:
    """Return the file path a hub should write, honouring a ``file:`` ``SAMP_HUB``.

    Raises
    ------
    SAMPHubError
        When ``SAMP_HUB`` points to a non-file URL (a hub can only write local files).
    """
    location = resolve_lockfile_location(environ)
    parts = urlsplit(location)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme in ("", None) or len(parts.scheme) == 1:  # plain path (or C:\...)
        return Path(location)
    raise SAMPHubError(f"SAMP_HUB lockfile URL {location!r} is not a file: URL; cannot write it")


def parse_lockfile(text: str, *, source: str = "<lockfile>") -> dict[str, str]:
    """Parse lockfile text into a dict.

    Comment (``#``) and blank lines are skipped; a value may contain ``=`` (only the
    first one separates), unlike astropy's reader.

    Raises
    ------
    SAMPHubError
        On a line that is not ``key=value``, naming the line number.
    """
    params: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip("\r\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not _KEY.fullmatch(key):
            raise SAMPHubError(f"{source}, line {number}: expected key=value, got {line!r}")
        params[key] = value
    return params


def read_lockfile(location: str | os.PathLike[str]) -> dict[str, str]:
    """Read and parse a lockfile from a path or a ``file:``/``http(s):`` URL.

    Raises
    ------
    SAMPHubError
        When it cannot be read or parsed, or lacks the required keys.
    """
    location = os.fspath(location)
    parts = urlsplit(location)
    try:
        if parts.scheme in ("http", "https"):
            with urllib.request.urlopen(location, timeout=_PING_TIMEOUT_S) as resp:
                text = resp.read().decode("ascii", "replace")
        else:
            path = unquote(parts.path) if parts.scheme == "file" else location
            text = Path(path).read_text(encoding="ascii", errors="replace")
    except OSError as exc:
        raise SAMPHubError(f"cannot read SAMP lockfile {location}: {exc}") from exc
    params = parse_lockfile(text, source=location)
    missing = [k for k in ("samp.secret", "samp.hub.xmlrpc.url") if k not in params]
    if missing:
        raise SAMPHubError(f"SAMP lockfile {location} lacks {', '.join(missing)}")
    return params


def format_lockfile(params: Mapping[str, str]) -> str:
    """Render lockfile text: two comment lines then ``key=value`` lines, no blank line.

    Raises
    ------
    ValueError
        For a key that is not allowed, or a value with a line break or ``=`` (astropy's
        reader rejects values with ``=``).
    """
    stamp = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    lines = [f"# SAMP lockfile written by skyhop on {stamp}", "# Standard Profile required keys"]
    for key, value in params.items():
        if not _KEY.fullmatch(key):
            raise ValueError(f"lockfile key {key!r} is not allowed")
        if any(c in value for c in "\r\n=") or not value.isascii():
            raise ValueError(f"lockfile value for {key!r} must be ASCII without '=' or newlines")
        lines.append(f"{key}={value}")
    return "\n".join(lines) + "\n"


def hub_is_alive(params: Mapping[str, str], *, timeout: float = _PING_TIMEOUT_S) -> bool:
    """Return True if the hub named in lockfile ``params`` answers ``samp.hub.ping``.

    Any XML-RPC answer, even a fault, proves a live server.
    """
    url = params.get("samp.hub.xmlrpc.url", "")
    if not url:
        return False
    from hop.samp._xmlrpc import make_proxy, make_ssl_context

    try:
        ctx = make_ssl_context(server_side=False) if url.startswith("https") else None
        proxy = make_proxy(url, timeout=timeout, ssl_context=ctx)
    except Exception:
        return False
    try:
        proxy.samp.hub.ping()
    except xmlrpc.client.Fault:
        return True
    except Exception:
        return False
    finally:
        proxy("close")()
    return True


def _write_private_temp(path: Path, text: str) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return Path(tmp)


def claim_lockfile(path: str | os.PathLike[str], params: Mapping[str, str]) -> None:
    """Write the lockfile for a starting hub, unless a live hub owns it.

    The file is created mode 0600 via a temporary file. When ``path`` exists and its
    hub answers a ping, nothing is written; when its hub is dead (or the file is
    unreadable) the stale file is replaced.

    Raises
    ------
    SAMPHubError
        When a live hub already owns ``path``, or the file cannot be written.
    """
    path = Path(path)
    text = format_lockfile(params)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _write_private_temp(path, text)
    except OSError as exc:
        raise SAMPHubError(f"cannot write SAMP lockfile {path}: {exc}") from exc
    try:
        try:
            # link() fails if the name exists: the atomic "create only if absent".
            os.link(tmp, path)
            return
        except FileExistsError:
            pass
        except OSError:
            # A filesystem without hard links: fall back to the check below.
            if not path.exists():
                os.replace(tmp, path)
                return
        try:
            existing = read_lockfile(path)
        except SAMPHubError:
            existing = {}
        if existing and hub_is_alive(existing):
            raise SAMPHubError(
                f"another SAMP hub is running at {existing.get('samp.hub.xmlrpc.url')} "
                f"(lockfile {path}); not starting a second one"
            )
        os.replace(tmp, path)
        # Two hubs replacing the same stale file: the one whose secret is not there lost.
        if read_lockfile(path).get("samp.secret") != params.get("samp.secret"):
            raise SAMPHubError(f"another SAMP hub claimed {path} at the same time")
    except OSError as exc:
        raise SAMPHubError(f"cannot write SAMP lockfile {path}: {exc}") from exc
    finally:
        tmp.unlink(missing_ok=True)


def release_lockfile(path: str | os.PathLike[str], secret: str) -> bool:
    """Delete the lockfile if it still holds ``secret``; return whether it was deleted."""
    path = Path(path)
    try:
        if read_lockfile(path).get("samp.secret") != secret:
            return False
        path.unlink()
    except (SAMPHubError, OSError):
        return False
    return True
