"""Reading TOML the way hop-client does: one lenient parser for every file skyhop reads.

hop-client parses ``auth.toml`` and ``config.toml`` with the ``toml`` package, which
accepts more than TOML 1.0 (Python's :mod:`tomllib`): most usefully, inline tables
spread over several lines, which people write by hand for ``auth = [{...}]``. tomli
(2.4 and later) reads TOML 1.1, which allows exactly that (plus trailing commas in
inline tables, ``\\e`` and ``\\xHH`` escapes and times without seconds), and is the
parser :mod:`tomllib` was made from. A UTF-8 byte order mark, which ``toml`` also
tolerates and Windows editors write, is dropped before parsing.

What ``toml`` accepts and TOML 1.1 still refuses (raw control characters in strings
and comments, non-ASCII bare keys, a table defined twice) stays an error naming the
file and the position: accepting it would mean guessing what was meant.

Files are written by :func:`hop._private_files.write_toml` (tomli-w), whose output
``toml`` reads back.
"""

from __future__ import annotations

from typing import Any

import tomli

__all__ = ["TOMLDecodeError", "loads"]

TOMLDecodeError = tomli.TOMLDecodeError

_BOM = "\ufeff"


def loads(data: str | bytes) -> dict[str, Any]:
    """Parse TOML 1.1 text (or UTF-8 bytes), ignoring a leading byte order mark.

    Raises
    ------
    UnicodeDecodeError
        ``data`` is bytes that are not UTF-8.
    TOMLDecodeError
        The text is not valid TOML 1.1; the message has the line and column.
    """
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    if text.startswith(_BOM):
        text = text[len(_BOM) :]
    return tomli.loads(text)
