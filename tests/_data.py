"""The shared real sample data (``shared/testdata`` beside the checkout), when present.

A clone on its own has no ``../shared``; the tests that compare against that data
carry the ``testdata`` marker (``needs_testdata``). They run whenever the data is
there; without it they are skipped with the reason, except in CI (``CI=true``), where
missing data fails them, so CI can never pass on nothing (the policy the broker
fixture follows for a broker that cannot start). Paths here may not exist: build
parameter lists with :func:`files`, which always gives a test something to report.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"
HOP_CLIENT = TESTDATA / "hop-client"
"""GCN circulars, a VOEvent, a GCN text notice, JSON, Avro and a blob."""
IGWN = TESTDATA / "igwn"
"""IGWN public alert samples (about 1 MB each) and a retraction."""

PRESENT = HOP_CLIENT.is_dir() and IGWN.is_dir()

needs_testdata = pytest.mark.testdata
"""Marks a test that reads the shared sample data (see the module docstring)."""


def files(folder: Path, pattern: str) -> list[Path]:
    """The files in ``folder`` matching ``pattern``, sorted.

    Without the shared data this is the one path ``folder / pattern``, so a
    parametrized test still has one case, which the ``testdata`` marker then skips
    (or fails in CI) instead of pytest silently reporting an empty parameter set.
    """
    if not PRESENT:
        return [folder / pattern]
    return sorted(folder.glob(pattern))


def require() -> None:
    """Skip the running test when the shared data is missing; fail it in CI."""
    if PRESENT:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"shared sample data not found at {TESTDATA} (CI needs it)", pytrace=False)
    pytest.skip(f"shared sample data not found at {TESTDATA} (set CI=true to make this an error)")
