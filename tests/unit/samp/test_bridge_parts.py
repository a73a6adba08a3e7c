"""The bridge's small parts: ICRS conversion, forwarded-alert memory, cache, messages."""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from types import SimpleNamespace

import astropy.units as u
import pytest
from astropy.coordinates import FK4, FK5, ICRS, BarycentricMeanEcliptic, Galactic, SkyCoord
from astropy.time import Time

from _alerts import voevent_xml
from _data import needs_testdata
from hop._codec import pack
from hop.errors import BridgeError, MissingDependencyError
from hop.models import JSONBlob, VOEvent
from hop.samp.bridge import BRIDGE_MTYPES, MTYPE_ALERT, MTYPE_POINT
from hop.samp.bridge._alerts import Alert, MalformedAlert, SkyPosition
from hop.samp.bridge._bridge import require_extra
from hop.samp.bridge._cache import SkyMapCache, safe_stem
from hop.samp.bridge._coords import to_icrs
from hop.samp.bridge._memory import ForwardedIds
from hop.samp.bridge._messages import Origin, build_messages
from hop.samp.bridge._pipeline import Filters, Pipeline, decode

# -- ICRS -----------------------------------------------------------------------------


def test_icrs_positions_pass_through_unchanged() -> None:
    assert to_icrs(SkyPosition(51.328123456789, -4.1837, "icrs")) == (51.328123456789, -4.1837)
    assert to_icrs(SkyPosition(-10.0, 5.0, "icrs")) == (350.0, 5.0)


@pytest.mark.parametrize(
    ("frame", "equinox", "astropy_frame"),
    [("fk5", "J2000", FK5(equinox=Time("J2000", scale="tt"))),
     ("fk5", "J1975", FK5(equinox=Time("J1975", scale="tt"))),
     ("galactic", None, Galactic()),
     ("ecliptic", "J2000", BarycentricMeanEcliptic(equinox=Time("J2000", scale="tt"))),
     ("fk4", "B1950", FK4(equinox=Time("B1950", scale="tt"), obstime=Time("B1950", scale="tt")))],
)  # fmt: skip
@pytest.mark.parametrize(("lon", "lat"), [(0.0, 0.0), (51.3281, 4.1837), (266.4, -28.9),
                                          (359.99, 89.5), (120.0, -60.0)])  # fmt: skip
def test_other_frames_match_astropys_transformation(
    frame: str, equinox: str | None, astropy_frame: object, lon: float, lat: float
) -> None:
    expect = SkyCoord(lon * u.deg, lat * u.deg, frame=astropy_frame).transform_to(ICRS())
    ra, dec = to_icrs(SkyPosition(lon, lat, frame, equinox))
    assert abs(dec - expect.dec.deg) < 1e-9
    # RA differences shrink towards the poles: compare them as arcs on the sky.
    assert abs((ra - expect.ra.deg + 180) % 360 - 180) * math.cos(math.radians(dec)) < 1e-9


# -- memory of forwarded alerts -------------------------------------------------------


def test_forwarded_ids_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "mem" / "g.forwarded"
    memory = ForwardedIds(path)
    memory.add("id:00ff")
    memory.add("at:t[0]@5")
    memory.close()
    again = ForwardedIds(path)
    assert "id:00ff" in again and "at:t[0]@5" in again and "id:11" not in again
    again.close()
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_a_torn_or_corrupt_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "g.forwarded"
    memory = ForwardedIds(path)
    memory.add("id:aa")
    memory.close()
    with open(path, "ab") as f:
        f.write(b"id:bb 00000000\n")  # wrong CRC
        f.write(b"id:cc")  # torn by a crash
    again = ForwardedIds(path)
    assert "id:aa" in again and "id:bb" not in again and "id:cc" not in again
    again.close()


def test_memory_keeps_the_newest_keys_and_compacts_its_file(tmp_path: Path) -> None:
    path = tmp_path / "g.forwarded"
    memory = ForwardedIds(path, capacity=5)
    for i in range(23):
        memory.add(f"id:{i:02x}")
    assert len(memory) == 5 and "id:16" in memory and "id:11" not in memory
    assert len(path.read_bytes().splitlines()) <= 1 + 2 * 5
    memory.close()
    again = ForwardedIds(path, capacity=5)
    assert {f"id:{i:02x}" for i in range(18, 23)} == {k for k in again._keys}
    again.close()


def test_a_second_bridge_cannot_share_the_memory_file(tmp_path: Path) -> None:
    path = tmp_path / "g.forwarded"
    first = ForwardedIds(path)
    try:
        with pytest.raises(BridgeError, match="another alert bridge is using"):
            ForwardedIds(path)
    finally:
        first.close()
    ForwardedIds(path).close()  # free again once the first let go


def test_a_file_that_is_not_a_memory_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\n")
    with pytest.raises(BridgeError, match="not a skyhop bridge memory file"):
        ForwardedIds(path)


# -- cache ----------------------------------------------------------------------------


def test_cache_removes_the_oldest_alerts_whole_and_never_the_newest(tmp_path: Path) -> None:
    cache = SkyMapCache(tmp_path / "maps", max_bytes=2500)
    cache.open()
    for i, stem in enumerate(["a", "b", "c"]):
        for suffix in (".multiorder.fits", ".fits", ".moc.fits"):
            path = cache.write(stem, suffix, b"x" * 300)
            os.utime(path, (time.time() - 100 + i, time.time() - 100 + i))
    (tmp_path / "maps" / "notes.txt").write_text("not ours")
    assert cache.trim(keep="c") == ["a"]
    names = sorted(p.name for p in (tmp_path / "maps").iterdir())
    assert names == ["b.fits", "b.moc.fits", "b.multiorder.fits", "c.fits", "c.moc.fits",
                     "c.multiorder.fits", "notes.txt"]  # fmt: skip
    small = SkyMapCache(tmp_path / "maps", max_bytes=10)
    assert small.trim(keep="c") == ["b"]
    assert (tmp_path / "maps" / "c.fits").exists()


def test_cache_makes_its_folder_again_when_it_was_removed(tmp_path: Path) -> None:
    cache = SkyMapCache(tmp_path / "maps")
    cache.open()
    (tmp_path / "maps").rmdir()
    assert cache.write("s", ".fits", b"data").read_bytes() == b"data"


def test_stems_are_safe_file_names() -> None:
    assert safe_stem("ivo://x/y#1", "PRELIMINARY", "0a") == "ivo-x-y-1-PRELIMINARY-0a"


# -- messages -------------------------------------------------------------------------


def test_messages_are_all_strings_with_x_hop_alert_last() -> None:
    alert = Alert("voevent", "ivo://t#1", "VOEvent \u00e9 ivo://t#1", SkyPosition(1.0, 2.0))
    origin = Origin("alerts", 3, 42, 1714564800123, "voevent", "1ea0e5e2-b586-4b07-84f3")
    messages = build_messages(alert, origin, point=(1.0, -2.5), files=None)
    assert [m["samp.mtype"] for m in messages] == [MTYPE_POINT, MTYPE_ALERT]
    assert messages[0]["samp.params"] == {"ra": "1.0", "dec": "-2.5"}
    assert messages[1]["samp.params"] == {
        "topic": "alerts", "partition": "3", "offset": "42",
        "timestamp": "2024-05-01T12:00:00.123Z", "format": "voevent",
        "id": "1ea0e5e2-b586-4b07-84f3", "summary": "VOEvent ? ivo://t#1",
        "kind": "voevent", "event": "ivo://t#1",
    }  # fmt: skip
    assert set(BRIDGE_MTYPES) >= {m["samp.mtype"] for m in messages}


# -- pipeline -------------------------------------------------------------------------


def _meta(headers: list[tuple[str, bytes]], offset: int = 7) -> SimpleNamespace:
    return SimpleNamespace(topic="t", partition=0, offset=offset, timestamp=0, headers=headers)


def _headers(packed: list[tuple[str, str | bytes]]) -> list[tuple[str, bytes]]:
    return [(k, v if isinstance(v, bytes) else v.encode()) for k, v in packed]


def test_a_voevent_that_is_not_xml_is_malformed_not_a_blob() -> None:
    _, headers = pack(VOEvent.deserialize(voevent_xml("ivo://t#1", 1, 2)))
    with pytest.raises(MalformedAlert, match="cannot be decoded as voevent"):
        decode(b"<voe:VOEvent <<<", _headers(headers), "t[0]@7")


@needs_testdata
def test_pipeline_skips_tests_and_filters_igwn_alerts(tmp_path: Path) -> None:
    from _data import IGWN

    cache = SkyMapCache(tmp_path)
    cache.open()
    mock = JSONBlob.load((IGWN / "MS181101ab-preliminary.json").read_text())
    real = JSONBlob.load((IGWN / "S230528ay-preliminary.json").read_text())
    cases = [
        (Filters(), mock, "a test alert"),
        (Filters(test=True, significant_only=True), real, "not significant"),
        (Filters(test=True, far_max=1e-9), real, "above 1e-09 Hz"),
    ]
    for filters, model, reason in cases:
        payload, headers = pack(model)
        prepared, why = Pipeline(cache, filters).prepare(payload, _meta(_headers(headers)))
        assert prepared is None and reason in why
    assert not list(tmp_path.iterdir())  # nothing written for skipped alerts
    payload, headers = pack(real)
    prepared, _ = Pipeline(cache, Filters(far_max=1e-6)).prepare(payload, _meta(_headers(headers)))
    assert prepared is not None and prepared.files is not None
    assert set(prepared.timings) == {"decode", "read", "write", "flatten", "moc"}
    assert prepared.key.startswith("id:") and len(prepared.key) == 3 + 32


def test_a_message_without_id_is_remembered_by_its_position() -> None:
    assert Pipeline.key(_meta([])) == "at:t[0]@7"


def test_the_extra_is_named_when_a_module_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "mocpy", None)  # makes `import mocpy` fail
    with pytest.raises(MissingDependencyError) as info:
        require_extra()
    assert "mocpy" in str(info.value) and "pip install 'skyhop[bridge]'" in str(info.value)
    assert info.value.extra == "bridge" and isinstance(info.value, ImportError)


def test_importing_hop_and_the_bridge_module_loads_no_sky_map_library() -> None:
    import subprocess
    import sys

    code = ("import sys, hop, hop.io, hop.samp, hop.samp.bridge, hop.samp.cli; "
            "print([m for m in ('numpy', 'astropy', 'mocpy') if m in sys.modules])")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
