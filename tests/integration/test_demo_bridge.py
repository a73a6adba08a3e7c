"""``./run demo bridge``: the sample alerts reach a printing SAMP client through the bridge."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.broker  # the demo starts a broker of its own


def test_demo_bridge_prints_what_the_desktop_client_receives(tmp_path: Path) -> None:
    # A HOME of its own: the demo must not need (or touch) ~/.samp or ../shared.
    env = dict(os.environ, HOME=str(tmp_path), XDG_CACHE_HOME=os.environ.get(
        "XDG_CACHE_HOME", str(Path.home() / ".cache")))  # fmt: skip
    env.pop("SAMP_HUB", None)
    proc = subprocess.run(
        [sys.executable, "-m", "hop.demo", "bridge"],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for mtype in ("image.load.fits", "coverage.load.moc.fits", "coord.pointAt.sky"):
        assert f"desktop client received {mtype}" in out
    assert out.count("desktop client received x-hop.alert") == 3
    assert "MS240501x PRELIMINARY" in out and "GCN Circular 90001" in out
    assert "received all 3 alerts" in proc.stderr
    assert not (tmp_path / ".samp").exists()
