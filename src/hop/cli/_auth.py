"""Authentication configuration utilities.

Credentials are kept in auth.toml (see `hop auth locate`), readable only by you.
"""

from __future__ import annotations

import argparse
import logging

from hop.cli import add_logging_opts, set_up_logger

logger = logging.getLogger("hop")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``hop auth`` subcommands."""
    add_logging_opts(parser)
    commands = parser.add_subparsers(title="commands", metavar="<command>", dest="action")
    commands.required = True
    commands.add_parser("locate", help="display configuration path")
    commands.add_parser("list", help="Display all stored credentials")
    add = commands.add_parser(
        "add", help="Load a credential, specified either via a CSV file or interactively"
    )
    add.add_argument(
        "cred_file",
        nargs="?",
        metavar="CSV_FILE",
        help="Credential file in CSV format (header row: username,password[,hostname,...]); "
        "every row is imported. Prompts when omitted.",
    )
    add.add_argument(
        "--force", action="store_true", help="Replace a stored credential with the same name."
    )
    remove = commands.add_parser("remove", help="Delete a stored credential")
    remove.add_argument(
        "name", metavar="NAME", help="The username, or <username>@<hostname> if ambiguous."
    )


def run(args: argparse.Namespace) -> int:
    """Run one ``hop auth`` subcommand."""
    from hop import auth
    from hop.configure import get_config_path

    set_up_logger(args)
    if args.action == "locate":
        print(get_config_path("auth"))
    elif args.action == "list":
        auth.list_credentials()
    elif args.action == "add":
        # Nothing on standard output, as hop-client: what was stored is logged.
        auth.add_credential(args)
    elif args.action == "remove":
        removed = auth.delete_credential(args.name)
        logger.info("removed credential %s", removed._describe())
    return 0
