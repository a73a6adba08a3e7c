"""The demo's alerts read by real peers.

The demo itself runs from the installed wheel, as ``./run demo`` runs it from the
checkout, in tests/integration/test_packaging.py.
"""

from __future__ import annotations

import json
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
