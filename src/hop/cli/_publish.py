"""Publish messages.

Each MESSAGE file is one message, read in the chosen format. With no files,
standard input is read: one message per line for BLOB and JSON, otherwise the whole
input is one message. Files are all read before anything is sent, so a malformed
file publishes nothing.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import IO, Any

from hop._config import DEFAULT_PRODUCE_TIMEOUT
from hop.cli import add_client_opts, add_logging_opts, set_up_logger
from hop.errors import SerializationError

logger = logging.getLogger("hop")

DEFAULT_FORMAT = "BLOB"

# MESSAGE files may come before or after the options.
INTERMIXED_ARGS = True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``hop publish`` options."""
    from hop.cli._formats import formats

    add_client_opts(parser)
    parser.add_argument(
        "message",
        nargs="*",
        metavar="MESSAGE",
        help="File of messages to publish. (standard input is used if omitted)",
    )
    add_logging_opts(parser)
    parser.add_argument(
        "-f",
        "--format",
        type=str.upper,
        choices=sorted(formats()),
        default=DEFAULT_FORMAT,
        help=f"Specify the message format. Default: {DEFAULT_FORMAT}.",
    )
    parser.add_argument(
        "-t",
        "--test",
        action="store_true",
        help="Mark messages as test messages by adding a header with key '_test'.",
    )
    default_timeout = DEFAULT_PRODUCE_TIMEOUT.total_seconds()
    parser.add_argument(
        "--timeout",
        type=_timeout,
        default=None,
        metavar="SECONDS",
        help=f"Give up on delivering a message after this long and exit with an error "
        f"(default: {default_timeout:g}; 0 waits without limit).",
    )


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from exc
    if not value >= 0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {text}")
    return value


def _load_file(model: Any, fmt: str, path: str) -> Any:
    try:
        return model.load_file(path)
    except OSError:
        raise
    except SerializationError as exc:
        if exc.source:
            raise
        raise SerializationError(f"{path}: {exc}", raw=exc.raw, source=path) from exc
    except Exception as exc:
        raise SerializationError(
            f"{path} is not a valid {fmt} message: {type(exc).__name__}: {exc}", source=path
        ) from exc


def _lines(model: Any, fmt: str, stream: IO[bytes]) -> Iterator[Any]:
    for number, line in enumerate(stream, start=1):
        line = line.rstrip(b"\r\n")
        if not line.strip():
            continue
        try:
            if fmt == "JSON":
                yield model.load(line.decode("utf-8"))
            else:
                yield model.load(line)
        except (SerializationError, UnicodeDecodeError, ValueError) as exc:
            raise SerializationError(
                f"<stdin> line {number} is not a valid {fmt} message: {exc}",
                raw=line,
                source=f"<stdin> line {number}",
            ) from exc


def _whole_input(model: Any, fmt: str, stream: IO[bytes]) -> Any:
    # Loaders take a path; a private temporary file gives stdin one.
    data = stream.read()
    fd, path = tempfile.mkstemp(prefix="hop-stdin-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        return _load_file(model, fmt, path)
    finally:
        os.unlink(path)


def run(args: argparse.Namespace) -> int:
    """Load the messages and write them to the stream."""
    from hop.cli._formats import LINE_FORMATS, formats
    from hop.io import Stream

    set_up_logger(args)
    fmt = args.format
    model = formats()[fmt]
    messages: Any
    if args.message:
        messages = [_load_file(model, fmt, path) for path in args.message]
    elif fmt in LINE_FORMATS:
        messages = _lines(model, fmt, sys.stdin.buffer)
    else:
        messages = [_whole_input(model, fmt, sys.stdin.buffer)]
    options: dict[str, Any] = {}
    if args.timeout is not None:
        options["produce_timeout"] = args.timeout
    stream = Stream(auth=not args.no_auth)
    sent = 0
    with stream.open(args.url, "w", **options) as producer:
        try:
            for message in messages:
                producer.write(message, test=args.test)
                sent += 1
        except SerializationError as exc:
            if sent:
                exc.args = (f"{exc} ({sent} earlier messages were published)",)
            raise
    logger.info("published %d message%s", sent, "" if sent == 1 else "s")
    return 0
