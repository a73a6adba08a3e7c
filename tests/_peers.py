"""The upstream peers (hop-client, igwn-alert, astropy, pyvo) in their own virtualenv.

Interoperability tests prove that skyhop talks to the real upstream clients. Those
clients must never be imported into the test process (they would shadow our ``hop``
package), so they live in a separate virtualenv under
``${XDG_CACHE_HOME:-~/.cache}/skyhop/peers-venv`` and are driven in subprocesses.

The virtualenv is built on first use and reused afterwards. A stamp file records the
requirement list it was built from, so editing :data:`PEER_REQUIREMENTS` rebuilds it,
and an interrupted build (no stamp) is redone. A file lock keeps parallel test
sessions from building it twice.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

__all__ = [
    "PEER_REQUIREMENTS",
    "PeerError",
    "ensure_peers_python",
    "peer_environment",
    "peers_venv_dir",
    "run_peer",
]

#: Exactly what the peers' virtualenv holds; the versions the project is compared with.
PEER_REQUIREMENTS: tuple[str, ...] = (
    "hop-client==0.13.0",
    "igwn-alert==0.7.0",
    "astropy==8.0.2",
    "pyvo==1.9.1",
    # hop-client 0.13.0's vendored bson imports six without declaring it.
    "six==1.17.0",
)

# Variables that would make the peers' interpreter see our sources or our virtualenv.
_LEAKY_ENV = (
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONUSERBASE",
    "VIRTUAL_ENV",
    "__PYVENV_LAUNCHER__",
)

_BUILD_TIMEOUT_S = 900.0
_LOCK_TIMEOUT_S = _BUILD_TIMEOUT_S + 60.0


class PeerError(RuntimeError):
    """The peers' virtualenv could not be built, or a peer script failed."""


def peers_venv_dir(environ: dict[str, str] | None = None) -> Path:
    """Return where the peers' virtualenv lives (it may not exist yet).

    Parameters
    ----------
    environ : dict, optional
        The environment to read ``XDG_CACHE_HOME`` from; defaults to ``os.environ``.
    """
    env = os.environ if environ is None else environ
    cache = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "skyhop" / "peers-venv"


def _stamp_text() -> str:
    # The interpreter's version is part of the stamp: a venv is tied to its base python.
    version = ".".join(map(str, sys.version_info[:3]))
    return "\n".join([f"python {version}", *PEER_REQUIREMENTS]) + "\n"


def _lock(path: Path, timeout: float) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() > deadline:
                os.close(fd)
                raise PeerError(
                    f"timed out after {timeout:.0f} s waiting for {path}: another process "
                    "is still building the peers' virtualenv"
                ) from None
            # flock has no timed wait; poll, bounded by the deadline above.
            time.sleep(0.5)


def _run_build_step(cmd: list[str], deadline: float) -> None:
    remaining = max(1.0, deadline - time.monotonic())
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=remaining, env=_clean_env(), check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise PeerError(f"building the peers' virtualenv timed out: {' '.join(cmd)}") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise PeerError(
            f"building the peers' virtualenv failed (exit {proc.returncode}): "
            f"{' '.join(cmd)}\n{tail}"
        )


def ensure_peers_python(*, timeout: float = _BUILD_TIMEOUT_S) -> Path:
    """Build the peers' virtualenv if needed and return its python.

    Parameters
    ----------
    timeout : float
        Upper bound in seconds for building the virtualenv.

    Returns
    -------
    pathlib.Path
        The ``bin/python`` of the peers' virtualenv.

    Raises
    ------
    PeerError
        When pip fails (its output tail is in the message) or the build times out.
    """
    venv = peers_venv_dir()
    python = venv / "bin" / "python"
    stamp = venv / ".skyhop-peers-stamp"
    want = _stamp_text()
    venv.parent.mkdir(parents=True, exist_ok=True)
    fd = _lock(venv.parent / "peers-venv.lock", timeout + 60.0)
    try:
        if python.exists() and stamp.exists() and stamp.read_text() == want:
            return python
        shutil.rmtree(venv, ignore_errors=True)
        deadline = time.monotonic() + timeout
        _run_build_step([sys.executable, "-m", "venv", str(venv)], deadline)
        _run_build_step(
            [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
             *PEER_REQUIREMENTS],
            deadline,
        )
        # Written last: a build interrupted before this point is redone next time.
        stamp.write_text(want)
        return python
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _LEAKY_ENV}
    env["PYTHONNOUSERSITE"] = "1"
    if extra:
        env.update(extra)
    return env


def peer_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The clean environment :func:`run_peer` uses, for a peer run with ``Popen``.

    Run the peers' python with ``-P`` as well, so the working folder is not on its path.
    """
    return _clean_env(extra)


def _text(data: str | bytes | None) -> str:
    # TimeoutExpired may carry bytes even when the process ran in text mode.
    if isinstance(data, bytes):
        return data.decode(errors="replace")
    return data or ""


def run_peer(
    python: str | os.PathLike[str],
    script: str,
    *args: str,
    timeout: float = 120.0,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a Python snippet with the peers' interpreter and return the finished process.

    The snippet runs with ``python -c`` in a clean environment: no ``PYTHONPATH`` or
    virtualenv variables from the test process, and the current directory not on
    ``sys.path``, so only the upstream packages are importable as ``hop``.

    Parameters
    ----------
    python : path
        The peers' python, from :func:`ensure_peers_python` (the ``peers_python`` fixture).
    script : str
        Python source to run; ``sys.argv[1:]`` are ``args``.
    *args : str
        Arguments for the snippet.
    timeout : float
        Seconds before the process is killed and :class:`PeerError` raised.
    env : dict, optional
        Variables added to (or overriding) the clean environment.
    cwd : path, optional
        Working directory for the process.
    input : str, optional
        Text sent to the process's standard input.

    Raises
    ------
    PeerError
        On a non-zero exit or a timeout, with the process's stdout and stderr.
    """
    # -c keeps '' (the cwd) on sys.path; -P drops it (3.11+) without ignoring PYTHON* vars
    # the caller may pass on purpose.
    cmd = [os.fspath(python), "-P", "-c", script, *args]
    try:
        proc = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_clean_env(env),
            cwd=cwd,
            input=input,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise PeerError(
            f"peer script timed out after {timeout} s\n--- stdout ---\n{_text(exc.stdout)}"
            f"\n--- stderr ---\n{_text(exc.stderr)}"
        ) from exc
    if proc.returncode != 0:
        raise PeerError(
            f"peer script exited with {proc.returncode}\n--- stdout ---\n{proc.stdout}"
            f"\n--- stderr ---\n{proc.stderr}"
        )
    return proc
