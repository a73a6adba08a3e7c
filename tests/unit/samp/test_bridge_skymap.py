"""Sky map products, checked against values computed here from UNIQ/PROBDENSITY directly."""

from __future__ import annotations

import base64
import io
import json
import math

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from mocpy import MOC

from _data import IGWN, needs_testdata
from hop.samp.bridge import _skymap
from hop.samp.bridge._alerts import MalformedAlert


def _raw(name: str) -> bytes:
    if name == "project-sample":
        from hop._samples import skymap_fits

        return skymap_fits()
    content = json.loads((IGWN / f"{name}.json").read_text())
    return base64.b64decode(content["event"]["skymap"])


@pytest.fixture(
    scope="module",
    params=[
        "project-sample",
        pytest.param("MS181101ab-preliminary", marks=needs_testdata),
        pytest.param("S230528ay-preliminary", marks=needs_testdata),
    ],
)
def raw(request: pytest.FixtureRequest) -> bytes:
    return _raw(request.param)


def _table(raw: bytes) -> tuple[np.ndarray, np.ndarray, fits.Header]:
    with fits.open(io.BytesIO(raw)) as hdus:
        return (np.array(hdus[1].data["UNIQ"], dtype=np.int64),
                np.array(hdus[1].data["PROBDENSITY"]), hdus[1].header.copy())  # fmt: skip


def _orders(uniq: np.ndarray) -> np.ndarray:
    # order = floor(log2(uniq) / 2) - 1, with integers: the bit length of uniq.
    return np.array([(int(u).bit_length() - 1) // 2 - 1 for u in uniq])


def test_nest_to_lonlat_gives_known_pixel_centres() -> None:
    assert _skymap.nest_to_lonlat(0, 0) == pytest.approx((45.0, math.degrees(math.asin(2 / 3))))
    assert _skymap.nest_to_lonlat(0, 4) == pytest.approx((0.0, 0.0))
    assert _skymap.nest_to_lonlat(0, 11) == pytest.approx((315.0, -math.degrees(math.asin(2 / 3))))
    # Order 1, pixel 0 is the southernmost child of face 0: ring 3 of 7.
    lon, lat = _skymap.nest_to_lonlat(1, 0)
    assert lon == pytest.approx(45.0) and lat == pytest.approx(math.degrees(math.asin(1 / 3)))


@pytest.mark.parametrize("order", [0, 3, 7, 11])
def test_every_pixel_centre_lies_in_its_own_pixel_per_mocpy(order: int) -> None:
    rng = np.random.default_rng(order)
    for ipix in rng.integers(0, 12 * 4**order, size=40):
        lon, lat = _skymap.nest_to_lonlat(order, int(ipix))
        cell = MOC.from_healpix_cells(np.array([ipix], dtype=np.uint64),
                                      np.array([order], dtype=np.uint8), order)  # fmt: skip


        assert cell.contains_lonlat(lon * u.deg, lat * u.deg)[0], (order, ipix)


def test_read_skymap_gives_orders_and_object(raw: bytes) -> None:
    uniq, density, header = _table(raw)
    skymap = _skymap.read_skymap(raw)
    assert (skymap.uniq == uniq).all() and (skymap.density == density).all()
    assert (skymap.order == _orders(uniq)).all()
    assert skymap.object == str(header.get("OBJECT", "")).strip()
    assert skymap.probabilities().sum() == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("order", [4, 6, 8])
def test_flattened_map_keeps_each_pixels_probability(raw: bytes, order: int) -> None:
    uniq, density, _ = _table(raw)
    orders = _orders(uniq)
    ipix = uniq - 4 * 4**orders
    flat = _skymap.flatten(_skymap.read_skymap(raw), order)
    assert flat.size == 12 * 4**order
    assert flat.sum() == pytest.approx(1.0, abs=1e-9)
    # Summing the flat map back over each coarse source pixel gives its probability.
    for i in np.flatnonzero(orders <= order)[:200]:
        span = 4 ** (order - orders[i])
        got = flat[ipix[i] * span : (ipix[i] + 1) * span].sum()
        assert got == pytest.approx(density[i] * 4 * math.pi / (12 * 4.0 ** orders[i]))
    # And each target pixel holds the sum of the finer source pixels inside it.
    fine = np.flatnonzero(orders > order)
    if fine.size:
        parents = ipix[fine] >> (2 * (orders[fine] - order))
        parent = parents[0]
        inside = fine[parents == parent]
        expect = (density[inside] * 4 * math.pi / (12 * 4.0 ** orders[inside])).sum()
        assert flat[parent] == pytest.approx(expect)


def test_numpy_and_astropy_readers_agree(raw: bytes) -> None:
    fast = _skymap._fast_table(raw)
    assert fast is not None  # IGWN maps take the fast path
    slow = _skymap._astropy_table(raw)
    assert (np.asarray(fast[2][0]) == np.asarray(slow[2][0])).all()
    assert (np.asarray(fast[2][1]) == np.asarray(slow[2][1])).all()
    for key in ("OBJECT", "MOCORDER", "DISTMEAN", "DATE-OBS", "ORDERING"):
        assert fast[0].get(key) == slow[0].get(key), key


def test_a_scaled_column_goes_through_astropy() -> None:
    columns = [fits.Column(name="UNIQ", format="K", array=np.arange(4, 16)),
               fits.Column(name="PROBDENSITY", format="J", array=np.full(12, 4))]  # fmt: skip
    table = fits.BinTableHDU.from_columns(columns)
    table.header["TSCAL2"] = 0.5  # stored 4, read 2.0
    out = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(out)
    assert _skymap._fast_table(out.getvalue()) is None
    assert (_skymap.read_skymap(out.getvalue()).density == 2.0).all()


def test_flatten_of_a_map_with_a_gap_leaves_zeros() -> None:
    columns = [fits.Column(name="UNIQ", format="K", array=np.array([4, 5, 6])),
               fits.Column(name="PROBDENSITY", format="D", array=np.array([1.0, 2.0, 3.0]))]
    out = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(columns)]).writeto(out)
    flat = _skymap.flatten(_skymap.read_skymap(out.getvalue()), 1)
    area = 4 * math.pi / 48
    assert list(flat[:12]) == pytest.approx([area] * 4 + [2 * area] * 4 + [3 * area] * 4)
    assert not flat[12:].any()


def test_flat_fits_opens_with_astropy_as_a_nested_healpix_map(raw: bytes) -> None:
    skymap = _skymap.read_skymap(raw)
    flat = _skymap.flatten(skymap, 6)
    with fits.open(io.BytesIO(_skymap.flat_fits(skymap, flat, 6))) as hdus:
        header = hdus[1].header
        assert (header["PIXTYPE"], header["ORDERING"], header["NSIDE"]) == ("HEALPIX", "NESTED", 64)
        assert header["OBJECT"] == skymap.object
        assert hdus[1].columns.names == ["PROB"]
        assert np.array_equal(hdus[1].data["PROB"], flat.astype(np.float32))
        if "DISTMEAN" in skymap.header:
            assert header["DISTMEAN"] == skymap.header["DISTMEAN"]


def test_moc_area_is_the_90_percent_area_from_uniq_and_probdensity(raw: bytes) -> None:
    uniq, density, _ = _table(raw)
    orders = _orders(uniq)
    area = 4 * math.pi / (12 * 4.0**orders)
    by_density = np.argsort(-density, kind="stable")
    cumulative = np.cumsum((density * area)[by_density])
    inside = by_density[cumulative <= 0.9]
    crossing = by_density[np.searchsorted(cumulative, 0.9)]
    expect = area[inside].sum()
    moc = _skymap.credible_moc(_skymap.read_skymap(raw))
    got = moc.sky_fraction * 4 * math.pi
    # Within the MOC's resolution: at most the pixel on the 90% boundary.
    assert abs(got - expect) <= area[crossing] + 1e-12
    assert moc.max_order == orders.max()


def test_peak_is_the_centre_of_the_densest_pixel(raw: bytes) -> None:
    uniq, density, _ = _table(raw)
    best = int(np.argmax(density))
    order = _orders(uniq[best : best + 1])[0]
    ra, dec = _skymap.peak(_skymap.read_skymap(raw))
    cell = MOC.from_healpix_cells(np.array([uniq[best] - 4 * 4**order], dtype=np.uint64),
                                  np.array([order], dtype=np.uint8), order)  # fmt: skip


    assert cell.contains_lonlat(ra * u.deg, dec * u.deg)[0]


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"hello, not a sky map", "not a FITS file"),
     (b"SIMPLE  =                    T" + b" " * 50 + b"END" + b" " * 2797, "no binary table")],
)  # fmt: skip
def test_read_skymap_rejects_what_is_not_a_sky_map(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedAlert, match=reason):
        _skymap.read_skymap(data)


def test_read_skymap_rejects_a_table_without_the_columns() -> None:
    columns = [fits.Column(name="FOO", format="K", array=np.array([4]))]
    out = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns(columns)]).writeto(out)
    with pytest.raises(MalformedAlert, match="UNIQ and PROBDENSITY"):
        _skymap.read_skymap(out.getvalue())


def test_warm_up_runs_every_step() -> None:
    _skymap.warm_up()  # raises if a step fails
