"""The ``hop`` command line, and helpers for building command-line tools on hop.

``main`` runs the ``hop`` program. The helpers (``add_client_opts``,
``add_logging_opts``, ``get_log_level``, ``set_up_logger``) give other tools the
same options and log format as ``hop``'s own commands.

Importing this package is cheap: each command's module (and confluent-kafka) is
imported only when that command runs.
"""

from __future__ import annotations

import argparse
import logging
import sys

__all__ = [
    "add_client_opts",
    "add_logging_opts",
    "get_log_level",
    "main",
    "set_up_logger",
]

LOG_FORMAT = "%(asctime)s | hop : %(levelname)s : %(message)s"


def add_client_opts(parser: argparse.ArgumentParser) -> None:
    """Add general client options to an argument parser.

    Adds the positional ``URL`` and ``--no-auth``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The parser to add client options to.
    """
    parser.add_argument(
        "url",
        metavar="URL",
        help="Sets the URL (kafka://[username@]host[:port]/topic) to use.",
    )
    parser.add_argument("--no-auth", action="store_true", help="If set, disable authentication.")


def add_logging_opts(parser: argparse.ArgumentParser) -> None:
    """Add logging client options to an argument parser.

    Adds the mutually exclusive ``-q/--quiet`` and ``-v/--verbose``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The parser to add logging options to.
    """
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-q", "--quiet", action="store_true", help="If set, only display warnings and errors."
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="If set, display additional logging messages (and tracebacks of errors).",
    )


def get_log_level(args: argparse.Namespace) -> int:
    """Determine the log level from logging options.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed arguments.

    Returns
    -------
    int
        ``logging.WARNING`` with ``--quiet``, ``logging.DEBUG`` with ``--verbose``,
        else ``logging.INFO``.
    """
    if getattr(args, "quiet", False):
        return logging.WARNING
    if getattr(args, "verbose", False):
        return logging.DEBUG
    return logging.INFO


_HANDLER_MARK = "_hop_cli_handler"


def set_up_logger(args: argparse.Namespace) -> None:
    """Set up common logging settings for CLI usage.

    Logs of the ``hop`` logger go to standard error at the level
    :func:`get_log_level` chooses. Calling it again replaces the handler it added
    rather than adding a second one.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed arguments.
    """
    logger = logging.getLogger("hop")
    for handler in list(logger.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger.addHandler(handler)
    logger.setLevel(get_log_level(args))


def main(argv: list[str] | None = None) -> int:
    """Run the ``hop`` program.

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name; ``sys.argv[1:]`` when not given.

    Returns
    -------
    int
        The exit status: 0 on success, 1 on an error, 2 on a usage error, 130 when
        interrupted.
    """
    from hop.cli._main import run

    return run(argv)
