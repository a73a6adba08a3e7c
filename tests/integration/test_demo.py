"""The README's demo command, run as a user runs it."""

import subprocess
import sys


def test_demo_publishes_three_sample_alerts_and_reads_them_back():
    proc = subprocess.run(
        [sys.executable, "-m", "hop.demo", "--plain"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "GCN circular 26936: LIGO/Virgo S200129m" in out
    assert "ivorn: ivo://" in out
    assert "IGWN alert MS181101ab (PRELIMINARY)" in out
    assert "(1,036,800 characters)" in out
    assert "read 3 message(s) back" in proc.stderr
