"""What the demos print besides the alerts: progress lines and the error funnel.

Shared by ``python -m hop.demo`` and ``python -m hop.demo bridge``, so that both say
the same things the same way and exit with the same statuses.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

__all__ = ["run_demo", "say"]


def say(text: str) -> None:
    """Print one line of progress on stderr (stdout holds what the demo shows)."""
    print(f"demo: {text}", file=sys.stderr, flush=True)


def run_demo(demo: Callable[[], int]) -> int:
    """Run one demo; a library error or Ctrl-C becomes one line and an exit status."""
    from hop.errors import HopError

    try:
        return demo()
    except HopError as exc:
        print(f"hop demo: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("hop demo: interrupted", file=sys.stderr)
        return 130
