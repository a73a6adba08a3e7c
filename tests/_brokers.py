"""Starting a real broker for a test fixture: one policy for every fixture."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from hop.testing import BrokerError, KafkaBroker


@contextmanager
def running_broker(data_dir: Path) -> Iterator[KafkaBroker]:
    """Start a broker in ``data_dir`` and always stop it.

    Outside CI a broker that cannot start skips the tests that need it; in CI
    (``CI=true``) it fails them, so a broken harness is never mistaken for a pass.
    The data folder is kept, so the broker log of a failed run can still be read.
    """
    broker = KafkaBroker(data_dir)
    try:
        broker.start()
    except BrokerError as exc:
        if os.environ.get("CI", "").lower() == "true":
            raise
        pytest.skip(f"no Kafka broker (set CI=true to make this an error): {exc}")
    try:
        yield broker
    finally:
        broker.close()
