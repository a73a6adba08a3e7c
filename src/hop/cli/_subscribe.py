"""Subscribe to messages.

Messages are written to standard output: readable, with a header line per
message, on a terminal; the messages' own bytes separated by the delimiter
otherwise; one JSON object per line (content and metadata) with -j, where
"encoding" says what "content" holds: "json" (the message's JSON, e.g. a JSON
message or a GCN circular), "json-in-string" (a JSON document sent as a JSON string,
as GraceDB sends IGWN alerts; content is the document), "text" (UTF-8 text such as
VOEvent XML) or "base64" (any other bytes).

-s takes EARLIEST, LATEST, a date and time (ISO 8601, UTC unless it names a
zone, e.g. 2024-05-01T12:00) or a time ago (-1h, -30m, -2d, -1h30m).
"""

from __future__ import annotations

import argparse
import base64
import codecs
import json
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from hop.cli import add_client_opts, add_logging_opts, set_up_logger
from hop.errors import ConfigurationError

# -s takes values such as -1h that argparse would otherwise read as an option.
DASH_VALUE_OPTIONS = ("-s", "--start-at")

_AGO = re.compile(r"^-?((?:\d+(?:\.\d+)?[smhdw])+)(?:\s*ago)?$", re.IGNORECASE)
_AGO_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

BACKLOG_SECONDS = 60.0
"""A message older than this is part of a backlog being replayed."""
PROGRESS_INTERVAL = 0.5
"""Least time between two progress updates."""


def parse_start(text: str, now: datetime | None = None) -> Any:
    """Interpret the ``-s/--start-at`` value.

    Parameters
    ----------
    text : str
        ``EARLIEST``, ``LATEST`` (any case), an ISO 8601 date/time (UTC when no zone
        is given), or a time ago such as ``-1h``, ``-30m``, ``-1h30m``, ``2d``.
    now : datetime, optional
        The current time, for relative values; the clock when not given.

    Returns
    -------
    hop.io.StartPosition or datetime.datetime

    Raises
    ------
    ConfigurationError
        The value is none of these.
    """
    from hop.io import StartPosition

    value = text.strip()
    if value.upper() in StartPosition.__members__:
        return StartPosition[value.upper()]
    ago = _AGO.match(value)
    if ago:
        total = sum(
            float(n) * _UNIT_SECONDS[unit.lower()] for n, unit in _AGO_PART.findall(ago.group(1))
        )
        return (now or datetime.now(UTC)) - timedelta(seconds=total)
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ConfigurationError(
            f"cannot understand start position {text!r}: use EARLIEST, LATEST, a date and "
            "time such as 2024-05-01T12:00:00, or a time ago such as -1h or -30m"
        ) from exc
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``hop subscribe`` options."""
    add_client_opts(parser)
    add_logging_opts(parser)
    parser.add_argument(
        "-s",
        "--start-at",
        default="LATEST",
        metavar="{EARLIEST,LATEST,TIME,-AGO}",
        help="Where to start when the group has no position yet. Default: LATEST.",
    )
    parser.add_argument(
        "-e",
        "--until-eos",
        action="store_true",
        help="If set, only subscribe until EOS is received (end of stream). "
        "Otherwise, listen to messages indefinitely.",
    )
    parser.add_argument(
        "-g",
        "--group-id",
        default=None,
        help="Consumer group ID. If unset, a random ID will be generated.",
    )
    parser.add_argument(
        "-j",
        "--json",
        action="store_true",
        help="Print one JSON object per line holding each message's content and metadata.",
    )
    parser.add_argument(
        "-t", "--test", action="store_true", help="Process test messages instead of ignoring them."
    )
    parser.add_argument(
        "-n", "--count", type=_positive_int, default=None, help="Stop after N messages."
    )
    parser.add_argument(
        "-D",
        "--delimiter",
        default="\\n",
        help="Written after each message when output is not a terminal "
        "(escapes such as \\n are decoded). Default: newline.",
    )


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


# ----------------------------------------------------------------------------- output


def _timestamp_text(ms: int) -> str:
    if ms <= 0:
        return "no timestamp"
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds")


def _text_or_base64(data: bytes) -> tuple[Any, str | None]:
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii"), "base64"


def _json_document(text: str) -> Any:
    """The JSON object or array ``text`` holds, or None."""
    stripped = text.lstrip()
    if not stripped.startswith(("{", "[")):
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict | list) else None


def _content(fmt: str, model: Any, payload: bytes) -> tuple[Any, str]:
    """``(content, encoding)`` for one message (see the module docstring)."""
    if fmt == "json":
        value = getattr(model, "content", None)
        if value is None and payload.strip() != b"null":
            value = json.loads(payload)
        if isinstance(value, str):
            document = _json_document(value)
            if document is not None:
                return document, "json-in-string"
        return value, "json"
    text, encoding = _text_or_base64(payload)
    if encoding:
        return text, encoding
    document = _json_document(text)
    if document is not None:
        return document, "json"
    return text, "text"


def json_record(model: Any, meta: Any) -> dict[str, Any]:
    """Describe one message as a JSON-encodable dictionary.

    ``content`` holds the message as JSON and ``encoding`` says how: ``"json"`` for
    JSON messages and other JSON-shaped content (GCN circulars, JSON text in a blob),
    ``"json-in-string"`` for a JSON string holding a JSON object or array (GraceDB's
    IGWN alerts; ``content`` is the object), ``"text"`` for other UTF-8 text and
    ``"base64"`` for bytes. A key that is not UTF-8 is base64 too, with
    ``"key_encoding": "base64"``; header values that are not are listed by name in
    ``"headers_base64"``.
    """
    serialized = model.serialize()
    fmt = serialized["format"]
    payload = serialized["content"]
    record: dict[str, Any] = {
        "topic": meta.topic,
        "partition": meta.partition,
        "offset": meta.offset,
        "timestamp": meta.timestamp,
        "time": _timestamp_text(meta.timestamp),
        "format": fmt,
    }
    key = meta.key
    if isinstance(key, bytes):
        key, key_encoding = _text_or_base64(key)
        if key_encoding:
            record["key_encoding"] = key_encoding
    record["key"] = key
    headers = []
    binary_headers = []
    for name, value in meta.headers or []:
        if name == "_id" and isinstance(value, bytes) and len(value) == 16:
            import uuid

            headers.append([name, str(uuid.UUID(bytes=value))])
            continue
        text, encoding = _text_or_base64(value) if isinstance(value, bytes) else (value, None)
        headers.append([name, text])
        if encoding:
            binary_headers.append(name)
    record["headers"] = headers
    if binary_headers:
        record["headers_base64"] = binary_headers
    record["content"], record["encoding"] = _content(fmt, model, bytes(payload))
    return record


class _RawWriter:
    """The messages' own bytes, each followed by the delimiter (upstream's output)."""

    def __init__(self, out: IO[bytes], delimiter: bytes) -> None:
        self._out = out
        self._delimiter = delimiter

    def write(self, model: Any, meta: Any) -> None:
        data = bytes(model)
        self._out.write(data)
        if self._delimiter and not data.endswith(self._delimiter):
            self._out.write(self._delimiter)
        self._out.flush()


class _JSONWriter:
    def __init__(self, out: IO[str]) -> None:
        self._out = out

    def write(self, model: Any, meta: Any) -> None:
        self._out.write(json.dumps(json_record(model, meta), ensure_ascii=False) + "\n")
        self._out.flush()


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _displayable(data: bytes) -> str | None:
    """The text of ``data`` if it is UTF-8 without control characters, else None."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if _CONTROL.search(text) else text


class _RichWriter:
    """A header line per message and its content, laid out for a terminal."""

    def __init__(self, out: IO[str]) -> None:
        from rich.console import Console

        self._console = Console(file=out, highlight=False, soft_wrap=True)

    def write(self, model: Any, meta: Any) -> None:
        from rich.json import JSON
        from rich.rule import Rule
        from rich.text import Text

        serialized = model.serialize()
        fmt = serialized["format"]
        title = (
            f"{meta.topic}[{meta.partition}]@{meta.offset}  {_timestamp_text(meta.timestamp)}"
            f"  {fmt}"
        )
        self._console.print(Rule(Text(title, style="bold cyan"), align="left"))
        data = bytes(model)
        if fmt == "json":
            content, encoding = _content(fmt, model, serialized["content"])
            # A JSON document sent as a string (IGWN alerts) is shown as the document.
            document = json.dumps(content) if encoding == "json-in-string" else data.decode()
            self._console.print(JSON(document))
            return
        text = _displayable(data)
        if text is None:
            preview = data[:64].hex(" ")
            more = " ..." if len(data) > 64 else ""
            self._console.print(Text(f"<{len(data)} bytes of binary data> {preview}{more}"))
            return
        self._console.print(Text(text.rstrip("\n")))


class Progress:
    """A status line on a terminal while old messages are being replayed.

    Shown only when the messages read are older than :data:`BACKLOG_SECONDS`;
    cleared once reading catches up (or at the end).
    """

    def __init__(
        self,
        out: IO[str],
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._out = out
        self._clock = clock
        self._now = now
        self._count = 0
        self._last_shown = -float("inf")
        self._visible = False

    def update(self, meta: Any) -> None:
        """Account for one message, and redraw the line when it is due."""
        self._count += 1
        behind = self._now() - meta.timestamp / 1000 if meta.timestamp > 0 else 0.0
        if behind < BACKLOG_SECONDS:
            self.clear()
            return
        tick = self._clock()
        if tick - self._last_shown < PROGRESS_INTERVAL:
            return
        self._last_shown = tick
        line = (
            f"replaying backlog: {self._count:,} messages read, at "
            f"{_timestamp_text(meta.timestamp)} ({_duration(behind)} behind)"
        )
        self._out.write("\r\x1b[K" + line)
        self._out.flush()
        self._visible = True

    def clear(self) -> None:
        """Remove the status line if it is shown."""
        if self._visible:
            self._out.write("\r\x1b[K")
            self._out.flush()
            self._visible = False


def _duration(seconds: float) -> str:
    """``3d 4h``, ``2h 5m``, ``7m 30s`` or ``42s``."""
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def _writer(args: argparse.Namespace) -> Any:
    if args.json:
        return _JSONWriter(sys.stdout)
    if sys.stdout.isatty():
        return _RichWriter(sys.stdout)
    delimiter = codecs.decode(args.delimiter, "unicode_escape").encode("utf-8")
    return _RawWriter(sys.stdout.buffer, delimiter)


def run(args: argparse.Namespace) -> int:
    """Read messages and write them to standard output."""
    from hop.io import Stream

    set_up_logger(args)
    start = parse_start(args.start_at)
    writer = _writer(args)
    # The status line would garble messages printed to the same terminal.
    progress = Progress(sys.stderr) if sys.stderr.isatty() and not sys.stdout.isatty() else None
    stream = Stream(auth=not args.no_auth, start_at=start, until_eos=args.until_eos)
    count = 0
    try:
        opened = stream.open(args.url, "r", group_id=args.group_id, ignoretest=not args.test)
        with opened as consumer:
            for model, meta in consumer.read(metadata=True):
                writer.write(model, meta)
                count += 1
                if progress is not None:
                    progress.update(meta)
                if args.count is not None and count >= args.count:
                    break
    finally:
        if progress is not None:
            progress.clear()
    return 0
