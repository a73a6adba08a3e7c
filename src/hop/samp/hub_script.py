"""The ``samp_hub`` command: astropy's hub script, with the same options.

``samp_hub`` (and :func:`hub_script`) take astropy's flags with the same meaning::

    samp_hub -w -t 600 -l "my hub"        # no Web Profile, stop after 10 idle minutes
    samp_hub -m                           # another hub: lockfile under ~/.samp-1

``-k/--secret``, ``-d/--addr``, ``-p/--port``, ``-f/--lockfile``,
``-w/--no-web-profile``, ``-P/--pool-size``, ``-t/--timeout``, ``-c/--client-timeout``,
``-L/--log-level``, ``-O/--log-output``, ``-l/--label``, ``-m/--multi``.

The hub runs until interrupted (Ctrl-C or SIGTERM), until its inactivity timeout, or
for ``timeout`` seconds when :func:`hub_script` is given one; it then tells its
clients and removes its lockfile. Errors are one line on stderr and exit status 1.
Web Profile registrations are refused (no one is there to ask); ``samp-hub hub
--web-consent allow`` is the skyhop command that grants them.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

__all__ = ["hub_script"]

_PROG = "samp_hub"


def _parser() -> argparse.ArgumentParser:
    from importlib.metadata import PackageNotFoundError, version

    try:
        prog = f"{_PROG} {version('skyhop')}"
    except PackageNotFoundError:  # running from a source tree
        prog = _PROG
    p = argparse.ArgumentParser(prog=prog, description="Run a SAMP hub (astropy's options).")
    p.add_argument("-k", "--secret", dest="secret", metavar="CODE", help="custom secret code.")
    p.add_argument("-d", "--addr", dest="addr", metavar="ADDR",
                   help="listening address (loopback only).")
    p.add_argument("-p", "--port", dest="port", metavar="PORT", type=int, default=0,
                   help="listening port number.")
    p.add_argument("-f", "--lockfile", dest="lockfile", metavar="FILE", help="custom lockfile.")
    p.add_argument("-w", "--no-web-profile", dest="web_profile", action="store_false",
                   default=True, help="run the Hub disabling the Web Profile.")
    p.add_argument("-P", "--pool-size", dest="pool_size", metavar="SIZE", type=int, default=20,
                   help="the socket connections pool size.")
    timeouts = p.add_argument_group("Timeout group", "Hub and client inactivity timeouts.")
    timeouts.add_argument("-t", "--timeout", dest="timeout", metavar="SECONDS", type=int,
                          default=0, help="stop the Hub after SECONDS without activity "
                          "(0: never).")
    timeouts.add_argument("-c", "--client-timeout", dest="client_timeout", metavar="SECONDS",
                          type=int, default=0, help="unregister clients inactive for SECONDS, "
                          "telling them with samp.hub.disconnect (0: never).")
    logs = p.add_argument_group("Logging options")
    by_name = logging.getLevelNamesMapping()
    levels = sorted(by_name, key=lambda name: by_name[name], reverse=True)
    logs.add_argument("-L", "--log-level", dest="loglevel", metavar="LEVEL", choices=levels,
                      default="INFO", help=f"set the Hub log level ({', '.join(levels)}).")
    logs.add_argument("-O", "--log-output", dest="logout", metavar="FILE", default="",
                      help="write log messages to FILE.")
    adv = p.add_argument_group("Advanced group")
    adv.add_argument("-l", "--label", dest="label", metavar="LABEL", default="",
                     help="assign a LABEL to the Hub.")
    adv.add_argument("-m", "--multi", dest="mode", action="store_const", const="multiple",
                     default="single", help="run the Hub in multi-instance mode, with a "
                     "lockfile of its own under ~/.samp-1.")
    return p


def hub_script(timeout: float = 0) -> None:
    """Run the ``samp_hub`` command line (``sys.argv``) until the hub stops.

    Parameters
    ----------
    timeout : float
        Stop the hub after this many seconds (0: run until interrupted or idle).

    Raises
    ------
    SystemExit
        Status 1 after printing one line for an error (port busy, a hub already
        running, a bad option).
    """
    sys.exit(_run(sys.argv[1:], timeout))


def _run(argv: Sequence[str], timeout: float = 0) -> int:
    options = _parser().parse_args(argv)
    handler: logging.Handler = (
        logging.FileHandler(options.logout) if options.logout else logging.StreamHandler()
    )
    handler.setFormatter(logging.Formatter("%(levelname)s: %(message)s [%(name)s]"))
    log = logging.getLogger("hop.samp")
    log.addHandler(handler)
    log.setLevel(options.loglevel)
    try:
        return _serve(options, timeout)
    finally:
        log.removeHandler(handler)
        handler.close()


def _serve(options: argparse.Namespace, timeout: float) -> int:
    from hop.errors import HopError
    from hop.samp._hub import SAMPHubServer

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    try:
        hub = SAMPHubServer(
            secret=options.secret,
            addr=options.addr,
            port=options.port,
            lockfile=options.lockfile,
            timeout=options.timeout,
            client_timeout=options.client_timeout,
            mode=options.mode,
            label=options.label,
            web_profile=options.web_profile,
            pool_size=options.pool_size,
        )
        old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            hub.start()
            print(f"SAMP hub running at {hub.params['samp.hub.xmlrpc.url']} "
                  f"(lockfile {hub.lockfile})", flush=True)
            # Ends on a signal, on the hub's own idle timeout, or after ``timeout``.
            def stop_with_hub() -> None:
                hub._stop_event.wait()
                stop.set()

            watcher = threading.Thread(target=stop_with_hub, name="samp_hub-watch", daemon=True)
            watcher.start()
            stop.wait(timeout or None)
        finally:
            hub.stop()
            for sig, previous in old.items():
                signal.signal(sig, previous)
    except (HopError, OSError, ValueError) as exc:
        print(f"{_PROG}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    hub_script()
