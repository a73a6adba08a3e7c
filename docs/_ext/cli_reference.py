"""The ``cli-reference`` directive: a program's reference, generated from its argparse parsers.

``.. cli-reference:: hop`` (or ``igwn-alert``, ``samp-hub``) writes one section per
command and sub-command, each with the command's description and its ``--help`` text
exactly as a user sees it, so the page can never disagree with the program.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Iterator
from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

# Help text wrapped at a fixed width, whatever the terminal building the docs is.
_WIDTH = 88


def _programs() -> dict[str, list[tuple[str, argparse.ArgumentParser]]]:
    from hop.cli import _main

    def hop() -> list[tuple[str, argparse.ArgumentParser]]:
        found = [("hop", _main.top_parser())]
        found += [(f"hop {name}", _main.parser_for(name)) for name in _main.COMMANDS]
        return found

    def single(module: str, prog: str) -> list[tuple[str, argparse.ArgumentParser]]:
        return [(prog, importlib.import_module(module).build_parser(prog=prog))]

    return {
        "hop": hop(),
        "igwn-alert": single("igwn_alert.cli", "igwn-alert"),
        "samp-hub": single("hop.samp.cli", "samp-hub"),
        "samp_hub": [("samp_hub", importlib.import_module("hop.samp.hub_script")._parser())],
    }


def _with_subcommands(
    title: str, parser: argparse.ArgumentParser
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield title, parser
    for action in parser._actions:  # argparse keeps sub-parsers only here
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _with_subcommands(f"{title} {name}", sub)


def _help(parser: argparse.ArgumentParser) -> str:
    formatter_class: Any = parser.formatter_class
    parser.formatter_class = lambda prog: formatter_class(prog, width=_WIDTH)
    try:
        return parser.format_help()
    finally:
        parser.formatter_class = formatter_class


class CLIReference(SphinxDirective):
    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        program = self.arguments[0]
        programs = _programs()
        if program not in programs:
            raise self.error(f"unknown program {program!r}; known: {', '.join(programs)}")
        lines: list[str] = []
        for top_title, top_parser in programs[program]:
            for title, parser in _with_subcommands(top_title, top_parser):
                underline = "-" if title == program else "~"
                if title == program:
                    continue  # the page's own heading names the program
                lines += [f"``{title}``", underline * (len(title) + 4), ""]
                lines += [".. code-block:: text", ""]
                lines += [f"   {line}".rstrip() for line in _help(parser).splitlines()]
                lines.append("")
        head = programs[program][0][1]
        intro = [".. code-block:: text", ""]
        intro += [f"   {line}".rstrip() for line in _help(head).splitlines()]
        container = nodes.section()
        nested_parse_with_titles(
            self.state, StringList([*intro, "", *lines], source=f"<cli-reference {program}>"),
            container,
        )
        return list(container.children)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("cli-reference", CLIReference)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
