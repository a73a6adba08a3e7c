"""``hop journal``: check or salvage a RobustProducer journal.

Mounted in the ``hop`` command table as a forwarding command
(``"journal": "hop.cli._journal:journal_main"``): it keeps its own parser and exit
codes (0 fine, 1 damaged or failed, 2 usage). :func:`salvage_main` is the ``salvage``
subcommand on its own. The work is done by :mod:`hop._robust`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hop._robust.format import load, scan
from hop._robust.salvage import salvage_journal
from hop.errors import HopError, JournalError

__all__ = ["build_parser", "journal_main", "salvage_main"]


def _salvage_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("old", help="the damaged journal (only read)")
    parser.add_argument("new", help="the journal to create (must not exist)")


def salvage_main(argv: Sequence[str] | None = None) -> int:
    """Recover the intact records of a damaged journal into a new journal.

    ``hop journal salvage OLD NEW``. Prints what was kept and where the damage was;
    returns 0 on success and 1 on failure.
    """
    parser = argparse.ArgumentParser(prog="hop journal salvage", description=_SALVAGE_HELP)
    _salvage_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    return _salvage(args)


_SALVAGE_HELP = (
    "Recover the intact records of a damaged RobustProducer journal into a new journal. "
    "The old file is only read; start the publisher on the new one."
)
_CHECK_HELP = "Check a RobustProducer journal: its format, damage, and unsent messages."


def _salvage(args: argparse.Namespace) -> int:
    try:
        report = salvage_journal(args.old, args.new)
    except (HopError, OSError) as exc:
        print(f"hop: error: {exc}", file=sys.stderr)
        return 1
    if report.upstream:
        print(f"{args.old} is an upstream hop-client journal; converting it")
    for damage in report.damaged:
        print(f"damaged at byte offset {damage.offset}: {damage.reason}")
    print(
        f"salvaged {report.kept} unsent message(s) into {args.new} "
        f"({report.finished} already-sent message(s) dropped, "
        f"{len(report.damaged)} damaged region(s) skipped)"
    )
    if report.duplicates:
        print(f"{report.duplicates} message(s) had a repeated sequence number and were kept")
    return 0


def _check(args: argparse.Namespace) -> int:
    path = args.journal
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        print(f"hop: error: {path}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    records, damage = scan(data)
    if damage is not None and not damage.torn_tail:
        print(f"{path}: damaged at byte offset {damage.offset}: {damage.reason}")
        print(f"recover the intact records with `hop journal salvage {path} NEW_JOURNAL`")
        return 1
    try:
        live, _ = load(data, path)
    except JournalError as exc:
        print(f"{path}: {exc}")
        return 1
    note = ""
    if damage is not None:
        note = (f"; ends with an incomplete record at byte offset {damage.offset} "
                "(an interrupted write, cut off when the journal is opened)")
    print(f"{path}: {len(records)} intact records, {len(live)} unsent message(s){note}")
    return 0


def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    """The ``hop journal`` parser (also used to document the command)."""
    parser = argparse.ArgumentParser(
        prog=prog or "hop journal", description="Check or salvage a RobustProducer journal."
    )
    sub = parser.add_subparsers(dest="action", metavar="<action>", required=True)
    check = sub.add_parser("check", help=_CHECK_HELP, description=_CHECK_HELP)
    check.add_argument("journal", help="the journal file")
    check.set_defaults(func=_check)
    salvage_parser = sub.add_parser("salvage", help=_SALVAGE_HELP, description=_SALVAGE_HELP)
    _salvage_arguments(salvage_parser)
    salvage_parser.set_defaults(func=_salvage)
    return parser


def journal_main(argv: Sequence[str] | None = None) -> int:
    """Check or salvage a RobustProducer journal (``hop journal check|salvage``)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 2
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("hop: interrupted", file=sys.stderr)
        return 130
