"""Recover what a damaged (or upstream hop-client) journal still holds into a new one.

Reads with :mod:`hop._robust.format` or :mod:`hop._robust.upstream`, writes with
:func:`hop._robust.file.write_journal`; ``hop journal salvage`` (:mod:`hop.cli._journal`)
is its command line.
"""

from __future__ import annotations

import dataclasses
import os

from hop._robust.file import write_journal
from hop._robust.format import MAGIC, SalvageReport, salvage
from hop._robust.upstream import looks_upstream, read_upstream
from hop.errors import JournalError

__all__ = ["salvage_journal"]


def salvage_journal(
    old: str | os.PathLike[str], new: str | os.PathLike[str]
) -> SalvageReport:
    """Copy every intact, unsent message of a damaged journal into a new journal.

    Parameters
    ----------
    old : path
        The damaged journal (only read).
    new : path
        Where to write the new journal; must not exist.

    Returns
    -------
    hop._robust.format.SalvageReport
        How many messages were kept and which byte ranges were damaged.

    Raises
    ------
    hop.errors.JournalError
        If ``new`` is ``old`` or already exists.
    OSError
        If ``old`` cannot be read or ``new`` cannot be written.
    """
    old_path, new_path = os.fspath(old), os.fspath(new)
    if os.path.abspath(old_path) == os.path.abspath(new_path):
        raise JournalError("salvage writes a new journal: give a path other than the old one")
    with open(old_path, "rb") as f:
        data = f.read()
    if not data.startswith(MAGIC) and looks_upstream(data):
        messages, report = read_upstream(data)
        report = dataclasses.replace(report, upstream=True)
    else:
        messages, report = salvage(data)
    try:
        write_journal(new_path, messages)
    except FileExistsError as exc:
        raise JournalError(f"{new_path} already exists; salvage never overwrites a file") from exc
    return report
