"""The ``igwn-alert`` command: listen to, send and list GraceDB alerts.

Global options come before the command, as upstream's::

    igwn-alert -g gracedb-playground listen superevent
    igwn-alert -s kafka://localhost/ -p 9092 --no-auth send superevent alert.json

Errors the user can act on end as one line ``igwn-alert: error: <message>`` on
standard error with exit status 1 (``-d`` adds the traceback); Ctrl-C ends a
listener cleanly with status 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

__all__ = ["build_parser", "main"]

EXIT_OK = 0
EXIT_ERROR = 1

_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")

_N = TypeVar("_N", int, float)


def _non_negative(text: str, convert: Callable[[str], _N], what: str) -> _N:
    """Parse ``text`` with ``convert``; refuse what is not ``what`` or is negative."""
    try:
        value = convert(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from exc
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def _positive_int(text: str) -> int:
    return _non_negative(text, int, "a whole number")


def _port(text: str) -> int:
    value = _positive_int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)")
    return value


def _seconds(text: str) -> float:
    return _non_negative(text, float, "a number of seconds")


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The ``igwn-alert`` parser (also used to document the command)."""
    from hop import __skyhop_version__
    from igwn_alert.client import (
        DEFAULT_GROUP,
        DEFAULT_LISTEN_RETRIES,
        DEFAULT_PORT,
        DEFAULT_RETRY_WAIT,
        DEFAULT_SERVER,
    )
    from igwn_alert.version import __version__

    parser = argparse.ArgumentParser(
        prog=prog or "igwn-alert",
        description="Listen to, send and list IGWN alerts from GraceDB.",
    )
    parser.add_argument(
        "-V",
        "--version",
        action="version",
        version=f"igwn-alert client {__version__} (skyhop {__skyhop_version__})",
    )
    parser.add_argument("-d", "--debug", action="store_true", help="show the traceback of an error")
    parser.add_argument("--no-auth", action="store_true", help="connect without authenticating")
    parser.add_argument(
        "-g", "--group", default=DEFAULT_GROUP,
        help=f"GraceDB group, e.g. gracedb-playground (default: {DEFAULT_GROUP})",
    )
    parser.add_argument(
        "-c", "--consumer-group", default=None,
        help="consumer group ID: listeners sharing one split the alerts between them",
    )
    parser.add_argument(
        "-j", "--jsonpp", action="store_true", help="pretty-print JSON alerts in listen"
    )
    parser.add_argument(
        "--session-timeout", type=float, default=None, metavar="SECONDS",
        help="seconds before a silent listener's partitions go to the rest of its group",
    )
    parser.add_argument(
        "-l", "--log", choices=_LOG_LEVELS, default="error", help="log level (default: error)"
    )
    parser.add_argument(
        "-n", "--netrc", metavar="FILE", default=None,
        help="read the credential for the server's host from this netrc file",
    )
    parser.add_argument(
        "-p", "--port", type=_port, default=DEFAULT_PORT,
        help=f"server port (default: {DEFAULT_PORT})",
    )
    parser.add_argument(
        "-r", "--retry-on-fatal", action="store_true",
        help="reconnect when listening fails with a Kafka error",
    )
    parser.add_argument(
        "-s", "--server", default=DEFAULT_SERVER, help=f"server (default: {DEFAULT_SERVER})"
    )
    parser.add_argument(
        "-t", "--listen-retries", "--listen_retries", dest="listen_retries",
        type=_positive_int, default=DEFAULT_LISTEN_RETRIES,
        help=f"reconnections tried before giving up (default: {DEFAULT_LISTEN_RETRIES})",
    )
    parser.add_argument(
        "-u", "--username", default=None,
        help="use the stored credential (hop auth) with this username",
    )
    parser.add_argument(
        "-w", "--retry-wait", "--retry_wait", dest="retry_wait",
        type=_seconds, default=DEFAULT_RETRY_WAIT,
        help=f"seconds to wait before reconnecting (default: {DEFAULT_RETRY_WAIT})",
    )
    commands = parser.add_subparsers(dest="command", metavar="<command>", required=True)
    listen = commands.add_parser("listen", help="print alerts as they arrive")
    listen.add_argument(
        "topics", nargs="*",
        help="topics (default: the subscriptions, else every topic of the group)",
    )
    listen.add_argument(
        "--deduplicate", action="store_true",
        help="print each alert once, even when it arrives twice (same _id)",
    )
    listen.add_argument(
        "--dedupe-path", metavar="FILE", default=None,
        help="remember printed alerts' ids in FILE, so a restarted listener (or another "
        "of the group on this machine using FILE) skips them too; implies --deduplicate",
    )
    commands.add_parser("topics", help="list the group's topics visible to the credential")
    send = commands.add_parser("send", help="send alerts read from JSON files")
    send.add_argument("topic", help="topic to send to")
    send.add_argument("alertfile", nargs="+", help="JSON alert file(s)")
    commands.add_parser("subscriptions", help="list the topics listen reads by default")
    subscribe = commands.add_parser("subscribe", help="add topics to the subscriptions")
    subscribe.add_argument("topics", nargs="+")
    unsubscribe = commands.add_parser("unsubscribe", help="remove topics from the subscriptions")
    unsubscribe.add_argument("topics", nargs="+")
    delete = commands.add_parser("delete", help="delete a topic (needs the permission)")
    delete.add_argument("topic")
    return parser


def _auth(args: argparse.Namespace) -> Any:
    """The credential the options name, or None to let the client look for one."""
    if args.no_auth:
        return False
    from igwn_alert._client import client

    host, _, _ = client._parse_server(args.server)
    if args.username is not None:
        from hop import auth as hop_auth

        return hop_auth.select_matching_auth(
            hop_auth.load_auth(), f"{host}:{args.port}", args.username
        )
    if args.netrc is not None:
        from hop.errors import NoMatchingCredentialError
        from igwn_alert._credentials import netrc_credential

        found = netrc_credential(host, args.port, args.server, path=args.netrc)
        if found is None:
            raise NoMatchingCredentialError(
                f"{args.netrc} has no entry for machine {host} (or {host}:{args.port})"
            )
        return found
    return None


def _read_alert(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        json.loads(text)
    except ValueError as exc:
        from hop.errors import SerializationError

        raise SerializationError(f"{path}: not a JSON alert: {exc}", source=path) from exc
    return text


def _run(args: argparse.Namespace) -> int:
    from igwn_alert.client import client

    alert_client = client(
        auth=_auth(args),
        group=args.group,
        consumer_group=args.consumer_group,
        server=args.server,
        port=args.port,
        retry_on_fatal=args.retry_on_fatal,
        listen_retries=args.listen_retries,
        retry_wait=args.retry_wait,
        jsonpp_on=args.jsonpp,
        session_timeout=args.session_timeout,
        # This command keeps subscriptions (upstream's raised DeprecationWarning).
        keep_subscriptions=True,
    )
    if args.command == "listen":
        # A service manager's SIGTERM ends the listener as cleanly as Ctrl-C does.
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: alert_client.stop())
        try:
            alert_client.listen(callback=None, topic=args.topics or None,
                                deduplicate=args.deduplicate, dedupe_path=args.dedupe_path)
        finally:
            signal.signal(signal.SIGTERM, previous)
    elif args.command == "topics":
        names = alert_client.get_topics()
        print(f"Topics for group {args.group} associated with the current credential:")
        for name in names:
            print(name)
    elif args.command == "send":
        # GraceDB sends each alert as a JSON document in a str; so does this command
        # (upstream's encoded the text once more, so listeners got a quoted string).
        alerts = [_read_alert(path) for path in args.alertfile]
        alert_client.connect(args.topic)
        try:
            for text in alerts:
                alert_client.publish_to_topic(args.topic, text)
        finally:
            alert_client.disconnect()
    elif args.command == "subscriptions":
        for name in alert_client.get_subscriptions() or []:
            print(name)
    elif args.command == "subscribe":
        alert_client.subscribe(*args.topics)
    elif args.command == "unsubscribe":
        alert_client.unsubscribe(*args.topics)
    elif args.command == "delete":
        alert_client.delete(args.topic)
    return EXIT_OK


def _report(exc: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    if isinstance(exc, OSError) and exc.filename and not hasattr(exc, "error"):
        message = f"{exc.filename}: {exc.strerror or exc}"
    else:
        message = str(exc).strip() or type(exc).__name__
    lines = message.splitlines()
    print(f"igwn-alert: error: {lines[0]}", file=sys.stderr)
    for line in lines[1:]:
        print(f"  {line}", file=sys.stderr)
    return EXIT_ERROR


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``igwn-alert`` with ``argv`` (default: the command line); return the exit status."""
    from hop.errors import HopError

    args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    logging.basicConfig(level=args.log.upper())
    try:
        return _run(args)
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:
        return EXIT_OK
    except (HopError, OSError) as exc:
        return _report(exc, args.debug)


if __name__ == "__main__":
    sys.exit(main())
