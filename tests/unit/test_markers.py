"""The ``broker`` marker selects exactly the tests that use a Kafka broker."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _collected(marker: str) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-m", marker, "tests/integration"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return {line for line in proc.stdout.splitlines() if "::" in line}


def test_tests_that_need_no_broker_are_not_marked_broker() -> None:
    unmarked = _collected("not broker")
    assert {t for t in unmarked if t.startswith("tests/integration/samp/")}
    assert (
        "tests/integration/test_io_broker.py::test_unreachable_broker_fails_within_the_timeout"
        in unmarked
    )


def test_tests_that_start_or_use_a_broker_are_marked_broker() -> None:
    marked = _collected("broker")
    assert not {t for t in marked if t.startswith("tests/integration/samp/")}
    assert {t for t in marked if t.startswith("tests/integration/test_broker.py::")}
    assert {t for t in marked if t.startswith("tests/integration/test_robust_faults.py::")}
    assert (
        "tests/integration/test_packaging.py::"
        "test_demo_runs_from_the_installed_wheel_against_a_real_broker" in marked
    )
    assert (
        "tests/integration/test_dev_broker_cli.py::"
        "test_dev_broker_creates_topics_serves_them_and_stops_on_ctrl_c" in marked
    )
