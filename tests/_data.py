"""Where the shared real sample data lives: ``shared/testdata`` beside the checkout."""

from pathlib import Path

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"
HOP_CLIENT = TESTDATA / "hop-client"
"""GCN circulars, a VOEvent, a GCN text notice, JSON, Avro and a blob."""
IGWN = TESTDATA / "igwn"
"""IGWN public alert samples (about 1 MB each) and a retraction."""

# Tests on missing data would pass on nothing; fail at collection instead.
assert HOP_CLIENT.is_dir() and IGWN.is_dir(), f"shared sample data not found at {TESTDATA}"
