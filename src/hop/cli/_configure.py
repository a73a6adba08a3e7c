"""Show or change general configuration (config.toml and HOP_* variables)."""

from __future__ import annotations

import argparse
import logging

from hop.cli import add_logging_opts, set_up_logger
from hop.configure import Config

logger = logging.getLogger("hop")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``hop configure`` subcommands."""
    add_logging_opts(parser)
    commands = parser.add_subparsers(title="commands", metavar="<command>", dest="action")
    commands.required = True
    locate = commands.add_parser("locate", help="display configuration path")
    locate.add_argument(
        "-t",
        "--type",
        choices=["general", "auth"],
        default="general",
        help="Which configuration file to locate. Default: general.",
    )
    commands.add_parser("show", help="display the settings in effect")
    set_ = commands.add_parser("set", help="store a setting in the configuration file")
    set_.add_argument("name", choices=Config.names(), help="The setting.")
    set_.add_argument("value", help="true/false, yes/no, on/off or 1/0.")


def run(args: argparse.Namespace) -> int:
    """Run one ``hop configure`` subcommand."""
    from hop.configure import get_config_path, load_config, write_config_value

    set_up_logger(args)
    if args.action == "locate":
        print(get_config_path(args.type))
    elif args.action == "show":
        for name, value in load_config().asdict().items():
            print(f"{name}: {value}")
    elif args.action == "set":
        # Nothing on standard output, as hop-client: the change is logged.
        stored = write_config_value(args.name, args.value)
        logger.info("wrote %s = %s to %s", args.name, getattr(stored, args.name),
                    get_config_path("general"))
    return 0
