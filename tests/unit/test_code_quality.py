"""The code stays lint-clean and strictly typed (ruff, mypy --strict on src/)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_ruff_finds_nothing_in_src_tests_bench_and_docs():
    proc = _run("ruff", "check", "--no-cache", "src", "tests", "bench", "docs")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_mypy_strict_finds_nothing_in_src(tmp_path):
    proc = _run("mypy", "--cache-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Success" in proc.stdout
