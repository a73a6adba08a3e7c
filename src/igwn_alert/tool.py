"""igwn-alert's ``igwn_alert.tool``: the ``igwn-alert`` command's ``main`` and ``parser``.

The command lives in :mod:`igwn_alert.cli`; this module keeps upstream's path for
scripts and entry points that name it.
"""

from __future__ import annotations

from igwn_alert.cli import build_parser as parser
from igwn_alert.cli import main

__all__ = ["main", "parser"]
