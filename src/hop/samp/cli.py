"""Command line for SAMP: run a hub, send a message, monitor traffic.

Installed as ``samp-hub`` and mounted by the ``hop`` command as ``hop samp``::

    samp-hub                      # run a hub (same as ``samp-hub hub``)
    samp-hub hub --no-web-profile -v
    samp-hub send table.load.votable url=http://example.org/t.xml --to topcat
    samp-hub send samp.app.ping --to hub --call
    samp-hub monitor
    samp-hub clients
    samp-hub bridge kafka://localhost:9092/igwn.gwalert   # alerts to SAMP tools
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

__all__ = ["add_parser", "build_parser", "main", "run"]

_COMMANDS = ("hub", "send", "monitor", "clients", "bridge")


def _hub_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("-k", "--secret", help="registration secret (random by default)")
    p.add_argument("-p", "--port", type=int, default=0, help="Standard Profile port (0: any)")
    p.add_argument("-f", "--lockfile", help="lockfile path (default: $SAMP_HUB or ~/.samp)")
    p.add_argument("-w", "--no-web-profile", action="store_true", help="no Web Profile")
    p.add_argument("--web-port", type=int, default=21012, help="Web Profile port (21012)")
    p.add_argument("--web-consent", choices=("deny", "allow"), default="deny",
                   help="answer to Web Profile registrations (default deny; allow trusts any "
                        "web page of this machine)")
    p.add_argument("-t", "--timeout", type=float, default=0, help="stop after idle seconds")
    p.add_argument("-c", "--client-timeout", type=float, default=0,
                   help="eject clients idle this many seconds")
    p.add_argument("-l", "--label", default="", help="hub label")
    p.add_argument("--https", action="store_true", help="serve the Standard Profile over TLS")
    p.add_argument("--cert-file", help="TLS certificate (PEM)")
    p.add_argument("--key-file", help="TLS private key (PEM)")
    p.add_argument("-v", "--verbose", action="store_true", help="print hub traffic")


def _build(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="samp_command", metavar="COMMAND")
    _hub_options(sub.add_parser("hub", help="run a SAMP hub until interrupted"))
    send = sub.add_parser("send", help="send an MType to one or all clients")
    send.add_argument("mtype", help="MType, e.g. table.load.votable")
    send.add_argument("params", nargs="*", metavar="NAME=VALUE",
                      help="parameters; a VALUE starting with [ or { is read as JSON")
    send.add_argument("--to", help="recipient public ID or samp.name (default: all)")
    send.add_argument("--call", action="store_true", help="call and wait for the response(s)")
    send.add_argument("--timeout", type=int, default=10, help="seconds to wait for a response")
    monitor = sub.add_parser("monitor", help="print hub events and messages as they arrive")
    monitor.add_argument("--mtype", default="*", help="MType pattern to subscribe to (*)")
    monitor.add_argument("--count", type=int, default=0, help="exit after this many messages")
    sub.add_parser("clients", help="list registered clients")
    from hop.samp.bridge import _cli as bridge_cli

    bridge = sub.add_parser(
        "bridge",
        help="forward alerts from Kafka topics to SAMP tools",
        description=bridge_cli.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bridge_cli.add_arguments(bridge)


def add_parser(subparsers: Any, name: str = "samp") -> argparse.ArgumentParser:
    """Add the ``samp`` command (with hub/send/monitor/clients) to a parent CLI.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From the parent's ``add_subparsers()``.
    name : str
        Command name.

    Returns
    -------
    argparse.ArgumentParser
        The new parser; its ``func`` default is :func:`run`.
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(name, help="SAMP hub and messaging")
    _build(parser)
    parser.set_defaults(func=run)
    return parser


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The ``samp-hub`` parser (``hop samp`` with ``prog="hop samp"``).

    Parameters
    ----------
    prog : str, optional
        The program name in usage lines; ``samp-hub`` by default.

    Returns
    -------
    argparse.ArgumentParser
    """
    parser = argparse.ArgumentParser(prog=prog or "samp-hub", description=__doc__.split("\n")[0])
    _build(parser)
    return parser


def main(argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run the SAMP command line; return the exit status.

    Without a command (or with options only) it runs a hub, like astropy's ``samp_hub``.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    if "bridge" in args_list:
        from hop.cli._main import _join_dash_values
        from hop.samp.bridge._cli import DASH_VALUE_OPTIONS

        args_list = _join_dash_values(args_list, DASH_VALUE_OPTIONS)
    if not args_list or (args_list[0].startswith("-") and args_list[0] not in
                         ("-h", "--help", "--debug")):
        args_list.insert(0, "hub")
    parser = build_parser(prog)
    args = parser.parse_args(args_list)
    if args.samp_command is None:
        args = parser.parse_args([*args_list, "hub"])
    return run(args, prog=parser.prog)


def run(args: argparse.Namespace, prog: str = "samp-hub") -> int:
    """Run a parsed command; library errors become ``<prog>: error: ...`` and status 1."""
    from hop.errors import HopError

    try:
        command = {"hub": _run_hub, "send": _run_send, "monitor": _run_monitor,
                   "clients": _run_clients, "bridge": _run_bridge}[args.samp_command or "hub"]
        return command(args)
    except KeyboardInterrupt:
        return 130
    except (HopError, OSError, ValueError) as exc:
        if getattr(args, "debug", False):
            raise
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1


def _run_bridge(args: argparse.Namespace) -> int:
    from hop.samp.bridge._cli import run as run_bridge

    return run_bridge(args)


def _run_hub(args: argparse.Namespace) -> int:
    from hop.samp import SAMPHubServer

    logging.basicConfig(format="%(asctime)s %(name)s %(message)s", level=logging.WARNING)
    if args.verbose:
        logging.getLogger("hop.samp").setLevel(logging.INFO)
    consent = (lambda info: True) if args.web_consent == "allow" else None
    hub = SAMPHubServer(
        secret=args.secret,
        port=args.port,
        lockfile=args.lockfile,
        timeout=args.timeout,
        client_timeout=args.client_timeout,
        label=args.label,
        web_profile=not args.no_web_profile,
        web_port=args.web_port,
        web_consent=consent,
        https=args.https,
        cert_file=args.cert_file,
        key_file=args.key_file,
    )
    stop = threading.Event()
    interrupted: list[int] = []

    def on_signal(signum: int, frame: Any) -> None:
        interrupted.append(signum)
        stop.set()

    # SIGTERM too: stopping cleanly removes the lockfile (astropy's hub leaves it).
    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        hub.start()
        print(f"SAMP hub running at {hub.params['samp.hub.xmlrpc.url']} "
              f"(lockfile {hub.lockfile}); Ctrl-C to stop", flush=True)
        def stop_with_hub() -> None:
            # The hub may stop itself (idle timeout): end the command too.
            hub._stop_event.wait()
            stop.set()

        watcher = threading.Thread(target=stop_with_hub, daemon=True)
        watcher.start()
        stop.wait()
    finally:
        hub.stop()
        for sig, handler in old.items():
            signal.signal(sig, handler)
    return 130 if signal.SIGINT in interrupted else 0


def _parse_params(items: Sequence[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"parameter {item!r} is not NAME=VALUE")
        params[name] = json.loads(value) if value[:1] in "[{" else value
    return params


def _resolve(client: Any, target: str) -> str:
    ids = client.get_registered_clients()
    if target in ids:
        return str(target)
    named = [c for c in ids if client.get_metadata(c).get("samp.name") == target]
    if len(named) != 1:
        from hop.samp import SAMPClientError

        raise SAMPClientError(
            f"no single client is called {target!r} (registered: {', '.join(ids)})"
        )
    return str(named[0])


def _run_send(args: argparse.Namespace) -> int:
    from hop.samp import SAMPIntegratedClient

    message = {"samp.mtype": args.mtype, "samp.params": _parse_params(args.params)}
    with SAMPIntegratedClient("samp-send", callable=False) as client:
        if args.to:
            target = _resolve(client, args.to)
            if args.call:
                print(json.dumps(client.call_and_wait(target, message, args.timeout)))
            else:
                client.notify(target, message)
                print(json.dumps([target]))
            return 0
        if not args.call:
            print(json.dumps(client.hub.notify_all(client.get_private_key(),
                                                   _to_samp(message))))
            return 0
        recipients = list(client.get_subscribed_clients(args.mtype))
        responses = {}
        for target in recipients:
            try:
                responses[target] = client.call_and_wait(target, message, args.timeout)
            except Exception as exc:
                responses[target] = {"error": str(exc)}
        print(json.dumps(responses))
        return 0


def _to_samp(value: Any) -> Any:
    # JSON values keep their types, as the library's clients send them.
    from hop.samp._xmlrpc import to_xmlrpc

    return to_xmlrpc(value, where="message")


def _run_monitor(args: argparse.Namespace) -> int:
    from hop.samp import SAMPIntegratedClient

    done = threading.Event()
    seen = [0]

    def show(kind: str, sender: str, mtype: str, params: Any, extra: Any) -> None:
        stamp = time.strftime("%H:%M:%S")
        print(f"{stamp} {kind} {sender} {mtype} {json.dumps(params)}", flush=True)
        if not mtype.startswith("samp.hub."):  # --count counts messages, not hub events
            seen[0] += 1
        if args.count and seen[0] >= args.count:
            done.set()
        if mtype == "samp.hub.event.shutdown":
            done.set()

    def on_note(key: str, sender: str, mtype: str, params: Any, extra: Any) -> None:
        show("notify", sender, mtype, params, extra)

    with SAMPIntegratedClient("samp-monitor", "prints SAMP hub traffic") as client:
        client.bind_receive_notification(args.mtype, on_note)
        if args.mtype != "*":
            client.bind_receive_notification("samp.hub.event.*", on_note)
        print(f"monitoring as {client.get_public_id()}; Ctrl-C to stop", flush=True)
        done.wait()
    return 0


def _run_clients(args: argparse.Namespace) -> int:
    from hop.samp import SAMPIntegratedClient

    with SAMPIntegratedClient("samp-clients", callable=False) as client:
        for cid in client.get_registered_clients():
            meta = client.get_metadata(cid)
            print(f"{cid}\t{meta.get('samp.name', '')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
