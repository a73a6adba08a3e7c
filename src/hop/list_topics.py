"""hop-client's ``hop.list_topics`` module: ``list_topics`` is :func:`hop.io.list_topics`.

igwn-alert calls the function through this module (``hop.list_topics.list_topics``),
and tests written for it patch ``hop.list_topics``; the module exists so that both
work. The ``hop list-topics`` command itself lives in :mod:`hop.cli`.
"""

from __future__ import annotations

from hop.io import list_topics

__all__ = ["list_topics"]
