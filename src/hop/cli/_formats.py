"""Message formats offered by ``hop publish``, taken from the model registry."""

from __future__ import annotations

from typing import Any

# Formats that read standard input one message per line.
LINE_FORMATS = frozenset({"BLOB", "JSON"})


def formats() -> dict[str, Any]:
    """Return ``{FORMAT NAME: model class}`` for every registered format.

    The names are the members of :class:`hop.io.Deserializer`, so formats added by
    plugins are offered too.
    """
    from hop import io

    return {member.name: member.value for member in io.Deserializer}
