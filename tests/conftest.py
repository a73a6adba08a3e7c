"""Configuration shared by every test.

Nothing heavy happens here: unit tests never start a broker or build a virtualenv.
The ``peers_python`` fixture builds the upstream peers' virtualenv only when a test
asks for it (see ``tests/_peers.py``); such tests get the ``peers`` marker. Tests
marked ``testdata`` need the shared sample data (see ``tests/_data.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import _data
from _peers import ensure_peers_python


@pytest.fixture(scope="session")
def peers_python() -> Path:
    """Path of the python in the upstream peers' virtualenv (built on first use)."""
    return ensure_peers_python()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "peers_python" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.peers)


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("testdata") is not None:
        _data.require()
