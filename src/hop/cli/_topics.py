"""List available topics.

Only topics you may read or write are listed; others may exist.
"""

from __future__ import annotations

import argparse

from hop.cli import add_client_opts, add_logging_opts, set_up_logger

DEFAULT_TIMEOUT = 10.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``hop list-topics`` options."""
    add_client_opts(parser)
    add_logging_opts(parser)
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"Give up if the broker does not answer in time. Default: {DEFAULT_TIMEOUT:g}.",
    )


def run(args: argparse.Namespace) -> int:
    """List the topics and print them, one per line, sorted."""
    from hop.io import list_topics

    set_up_logger(args)
    topics = list_topics(args.url, auth=not args.no_auth, timeout=args.timeout)
    if not topics:
        print("No accessible topics")
        return 0
    print("Accessible topics:")
    for name in sorted(topics):
        print(f" {name}")
    return 0
