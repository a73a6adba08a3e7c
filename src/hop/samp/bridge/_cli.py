"""Forward alerts from Kafka topics to SAMP tools, until interrupted.

-s takes EARLIEST, LATEST, a date and time (UTC unless it names a zone) or a time
ago (-1h, -30m), as for `hop subscribe`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any

__all__ = ["DASH_VALUE_OPTIONS", "add_arguments", "run"]

DASH_VALUE_OPTIONS = ("-s", "--start-at")

_LOG_FORMAT = "%(asctime)s | hop bridge : %(levelname)s : %(message)s"


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a rate in Hz: {text!r}") from exc
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive rate in Hz, not {text}")
    return value


def _megabytes(text: str) -> int:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a size in MB: {text!r}") from exc
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {text}")
    return int(value * 1_000_000)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``bridge`` command's arguments to ``parser``."""
    parser.add_argument("urls", nargs="+", metavar="URL",
                        help="kafka://[user@]host[:port]/topic[,topic...] to read")  # fmt: skip
    parser.add_argument("--no-auth", action="store_true", help="connect without credentials")
    parser.add_argument(
        "-s",
        "--start-at",
        default="LATEST",
        metavar="{EARLIEST,LATEST,TIME,-AGO}",
        help="where to start when the group has no position (default LATEST)",
    )
    parser.add_argument("-g", "--group-id", help="consumer group (default: a new random one)")
    parser.add_argument(
        "-t",
        "--test",
        action="store_true",
        help="forward test and mock alerts too (VOEvent role test, MS...)",
    )
    parser.add_argument(
        "--significant-only",
        action="store_true",
        help="IGWN alerts: only significant ones (retractions always pass)",
    )
    parser.add_argument(
        "--far-max",
        type=_rate,
        metavar="HZ",
        help="IGWN alerts: only those with a false alarm rate at most HZ",
    )
    parser.add_argument(
        "--to", metavar="NAME", help="send only to the SAMP client with this samp.name"
    )
    parser.add_argument(
        "--hub-url",
        metavar="URL",
        help="the hub's lockfile (path or file:/http: URL; default $SAMP_HUB or ~/.samp)",
    )
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="folder for sky map files (default ~/.cache/skyhop/skymaps)",
    )
    parser.add_argument(
        "--cache-size",
        type=_megabytes,
        metavar="MB",
        default=None,
        help="bound on the sky map folder, in MB (default 1000)",
    )
    parser.add_argument(
        "--flatten-order",
        type=int,
        metavar="N",
        default=None,
        help="HEALPix order of the flattened sky map (default 8, NSIDE 256)",
    )
    parser.add_argument(
        "--memory-file",
        metavar="FILE",
        help="file remembering forwarded alerts across restarts (default "
        "~/.cache/skyhop/bridge/<group>.forwarded)",
    )
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    verbosity.add_argument("-v", "--verbose", action="store_true", help="debug output")


def _set_up_logging(args: argparse.Namespace) -> None:
    root = logging.getLogger("hop")
    if not any(getattr(h, "_hop_bridge", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(_LOG_FORMAT))
        handler._hop_bridge = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(logging.DEBUG if args.verbose else logging.WARNING)
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    logging.getLogger("hop.samp.bridge").setLevel(level)


def run(args: argparse.Namespace) -> int:
    """Run the bridge until Ctrl-C (status 130) or SIGTERM (status 0)."""
    import threading

    from hop.cli._subscribe import parse_start
    from hop.samp.bridge import AlertBridge

    _set_up_logging(args)
    options: dict[str, Any] = {}
    if args.cache_size is not None:
        options["cache_bytes"] = args.cache_size
    if args.flatten_order is not None:
        options["flatten_order"] = args.flatten_order
    bridge = AlertBridge(
        args.urls,
        auth=not args.no_auth,
        group_id=args.group_id,
        start_at=parse_start(args.start_at),
        test=args.test,
        significant_only=args.significant_only,
        far_max=args.far_max,
        to=args.to,
        hub_url=args.hub_url,
        cache_dir=args.cache_dir,
        memory_file=args.memory_file,
        **options,
    )
    interrupted: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        interrupted.append(signum)
        threading.Thread(target=bridge.stop, name="hop-bridge-stop", daemon=True).start()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        bridge.start()
        print(f"bridging {', '.join(args.urls)} to SAMP as {bridge.hub.name!r}; Ctrl-C to stop",
              file=sys.stderr, flush=True)  # fmt: skip
        bridge.wait()
    finally:
        bridge.stop()
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return 130 if signal.SIGINT in interrupted else 0
