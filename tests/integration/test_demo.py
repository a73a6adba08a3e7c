"""The README's demo command as a user runs it, and its alerts read by real peers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from _peers import run_peer
from hop import _samples

# astropy (the peers' copy) opens the demo's sky map as any IGWN sky map is opened.
_READ_SKYMAP = r"""
import base64, io, json, math, sys, warnings
warnings.simplefilter("error")
from astropy.io import fits
from astropy.table import Table
alert = json.loads(sys.stdin.read())
data = base64.b64decode(alert["event"]["skymap"])
with fits.open(io.BytesIO(data)) as hdus:
    hdus.verify("exception")
    kinds = [type(h).__name__ for h in hdus]
table = Table.read(io.BytesIO(data), format="fits")
order = [(int(u).bit_length() - 1) // 2 - 1 for u in table["UNIQ"]]
area = [4 * math.pi / (12 * 4**o) for o in order]
print(json.dumps({
    "kinds": kinds,
    "columns": table.colnames,
    "units": {c: str(table[c].unit) for c in table.colnames if table[c].unit is not None},
    "meta": {k: table.meta[k] for k in ("PIXTYPE", "ORDERING", "MOCORDER", "OBJECT")},
    "probability": sum(float(p) * a for p, a in zip(table["PROBDENSITY"], area)),
    "sky": sum(area) / (4 * math.pi),
}))
"""


def test_demo_publishes_three_alerts_it_makes_itself_and_reads_them_back(tmp_path: Path):
    # From an empty folder: the demo needs no sample files and no ../shared.
    proc = subprocess.run(
        [sys.executable, "-m", "hop.demo", "--plain"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert "IGWN alert MS240501x (PRELIMINARY)" in out
    assert "multi-order FITS, 30 pixels (orders 0-6), 90% area 215 deg²" in out
    assert "position: RA 51.3281, Dec 4.1837 (deg)" in out
    assert "GCN circular 90001: LIGO/Virgo/KAGRA MS240501x" in out
    assert out.index("IGWN alert") < out.index("VOEvent") < out.index("GCN circular")
    assert "read 3 message(s) back" in proc.stderr


def test_astropy_reads_the_demo_skymap_as_a_multi_order_map(peers_python: Path):
    alert = _samples.igwn_alert().content
    proc = run_peer(peers_python, _READ_SKYMAP, input=json.dumps(alert))
    got = json.loads(proc.stdout)
    assert got["kinds"] == ["PrimaryHDU", "BinTableHDU"]
    assert got["columns"] == ["UNIQ", "PROBDENSITY", "DISTMU", "DISTSIGMA", "DISTNORM"]
    assert got["units"] == {
        "PROBDENSITY": "1 / sr",
        "DISTMU": "Mpc",
        "DISTSIGMA": "Mpc",
        "DISTNORM": "1 / Mpc2",
    }
    assert got["meta"] == {
        "PIXTYPE": "HEALPIX",
        "ORDERING": "NUNIQ",
        "MOCORDER": 6,
        "OBJECT": "MS240501x",
    }
    assert abs(got["probability"] - 1) < 1e-12
    assert abs(got["sky"] - 1) < 1e-12
