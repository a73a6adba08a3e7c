"""The ``hop`` program: a lazily imported command table and one error funnel.

Every command lives in its own module with ``add_arguments(parser)`` and
``run(args) -> int``; the table below names the module, so only the command being
run is imported. Two commands forward their arguments to another program's
``main(argv)`` untouched.

Errors the user can act on (every :class:`hop.errors.HopError`, and ``OSError`` for
files) end here as one line ``hop: error: <message>`` on standard error with a
non-zero status; ``-d/--debug`` or ``-v/--verbose`` adds the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import sys
import traceback
from dataclasses import dataclass
from typing import Any

import hop
from hop.errors import HopError, NoMatchingCredentialError

__all__ = ["COMMANDS", "parser_for", "run", "top_parser"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


@dataclass(frozen=True)
class _Command:
    target: str
    """``module`` with ``add_arguments``/``run``, or ``module:function`` to forward to (that
    module also has ``build_parser(prog)``, for the documentation)."""
    summary: str
    """One line for ``hop --help``."""

    @property
    def forwards(self) -> bool:
        return ":" in self.target


COMMANDS: dict[str, _Command] = {
    "auth": _Command("hop.cli._auth", "Authentication configuration utilities."),
    "configure": _Command("hop.cli._configure", "Show or change general configuration."),
    "list-topics": _Command("hop.cli._topics", "List available topics."),
    "publish": _Command("hop.cli._publish", "Publish messages."),
    "subscribe": _Command("hop.cli._subscribe", "Subscribe to messages."),
    "version": _Command("hop.cli._version", "List all the dependencies' versions."),
    "dev-broker": _Command(
        "hop.testing.dev_broker:main", "Run a local Kafka broker for development and tests."
    ),
    "samp": _Command("hop.samp.cli:main", "Run a SAMP hub, or talk to one."),
    "journal": _Command(
        "hop.cli._journal:journal_main", "Check or salvage a RobustProducer journal."
    ),
}

_HINT_NO_CREDENTIAL = (
    "hop: hint: store a credential with `hop auth add [CSV_FILE]` "
    "(get one from https://my.hop.scimma.org), or pass --no-auth"
)


_NO_CREDENTIAL_ADVICE = """
No valid credential data found
You can get a credential from https://my.hop.scimma.org
To load your credential, run `hop auth add`
"""


def check_auth_data(prog_name: str = "hop") -> None:
    """After a usage error, advise on getting a credential when none can be loaded.

    hop-client prints this advice on standard output whenever its command line is
    not understood (bare ``hop`` included), and an unusable credential file's error
    on standard error first. (It also prints it after ``--help``; skyhop does not,
    as help is not an error.)
    """
    from hop import auth

    try:
        auth.load_auth()  # a module attribute, so that tests may patch it
    except FileNotFoundError:
        print(_NO_CREDENTIAL_ADVICE)
    except Exception as exc:  # any unusable store gets the advice too
        print(f"{prog_name}: {exc}", file=sys.stderr)
        print(_NO_CREDENTIAL_ADVICE)


def top_parser() -> argparse.ArgumentParser:
    """The ``hop`` program's own parser: options and the command's name."""
    lines = [f"  {name:<12} {cmd.summary}" for name, cmd in COMMANDS.items()]
    parser = argparse.ArgumentParser(
        prog="hop",
        description="Publish and subscribe to astronomical alert streams.",
        epilog="commands:\n" + "\n".join(lines) + "\n\nRun `hop <command> --help` for details.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"hop version {hop.__version__} (skyhop {hop.__skyhop_version__})",
    )
    parser.add_argument(
        "-d", "--debug", action="store_true", help="Show the traceback of an error."
    )
    parser.add_argument(
        "command", metavar="<command>", choices=list(COMMANDS), help="The command to run."
    )
    parser.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return parser


def command_parser(name: str, module: Any) -> argparse.ArgumentParser:
    """Build the parser of one command from its module."""
    doc = (module.__doc__ or COMMANDS[name].summary).strip()
    parser = argparse.ArgumentParser(
        prog=f"hop {name}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-d", "--debug", action="store_true", help="Show the traceback of an error."
    )
    module.add_arguments(parser)
    return parser


def parser_for(name: str) -> argparse.ArgumentParser:
    """The parser of the command ``hop <name>``, whichever way the command is run."""
    command = COMMANDS[name]
    if command.forwards:
        module = importlib.import_module(command.target.split(":")[0])
        parser: argparse.ArgumentParser = module.build_parser(prog=f"hop {name}")
        return parser
    return command_parser(name, importlib.import_module(command.target))


def _join_dash_values(argv: list[str], options: tuple[str, ...]) -> list[str]:
    """Glue a value that starts with '-' to its option (``-s -1h`` -> ``-s=-1h``).

    argparse takes ``-1h`` for an unknown option; these options always take a value,
    so the next word is theirs whatever it looks like.
    """
    out: list[str] = []
    words = iter(argv)
    for word in words:
        if word in options:
            value = next(words, None)
            if value is not None and value.startswith("-"):
                out.append(f"{word}={value}")
                continue
            out.append(word)
            if value is not None:
                out.append(value)
            continue
        out.append(word)
    return out


def _exit_status(exc: SystemExit) -> int:
    if exc.code is None:
        return EXIT_OK
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return EXIT_ERROR


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and not isinstance(exc, HopError) and exc.filename:
        reason = exc.strerror or str(exc)
        return f"{exc.filename}: {reason}"
    text = str(exc).strip()
    return text or type(exc).__name__


def _report(exc: BaseException, debug: bool) -> int:
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    message = _describe(exc)
    lines = message.splitlines() or [""]
    print(f"hop: error: {lines[0]}", file=sys.stderr)
    for line in lines[1:]:
        print(f"  {line}" if line and not line.startswith(" ") else line, file=sys.stderr)
    if isinstance(exc, NoMatchingCredentialError):
        print(_HINT_NO_CREDENTIAL, file=sys.stderr)
    return EXIT_ERROR


def _silence_stdout() -> None:
    # After a broken pipe (`hop subscribe ... | head`), Python would report the
    # failed flush at exit; point stdout at /dev/null so it exits quietly.
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)


def run(argv: list[str] | None = None) -> int:
    """Parse ``argv``, run the command, and turn errors into an exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    top = top_parser()
    try:
        ns = top.parse_args(argv)
    except SystemExit as exc:
        status = _exit_status(exc)
        if status != EXIT_OK:
            check_auth_data(top.prog)
        return status
    command = COMMANDS[ns.command]
    rest: list[str] = ns.args
    debug = bool(ns.debug)
    try:
        if command.forwards:
            module_name, function = command.target.split(":")
            forward = getattr(importlib.import_module(module_name), function)
            kwargs = {}
            if "prog" in inspect.signature(forward).parameters:
                # So the forwarded command's usage lines read `hop samp ...`.
                kwargs["prog"] = f"hop {ns.command}"
            try:
                return int(forward(rest, **kwargs) or 0)
            except SystemExit as exc:  # argparse inside the forwarded command
                return _exit_status(exc)
        module = importlib.import_module(command.target)
        rest = _join_dash_values(rest, getattr(module, "DASH_VALUE_OPTIONS", ()))
        parser = command_parser(ns.command, module)
        try:
            # Files may follow options (`hop publish URL -f JSON a.json b.json`); plain
            # parse_args would take the file list as empty before reaching them.
            if getattr(module, "INTERMIXED_ARGS", False):
                args = parser.parse_intermixed_args(rest)
            else:
                args = parser.parse_args(rest)
        except SystemExit as exc:
            return _exit_status(exc)
        debug = debug or bool(args.debug) or bool(getattr(args, "verbose", False))
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print("hop: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_OK
    except (HopError, OSError) as exc:
        return _report(exc, debug)
