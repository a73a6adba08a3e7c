"""An IGWN multi-order sky map turned into what desktop tools load.

From the multi-order FITS file of an alert (a ``UNIQ`` / ``PROBDENSITY`` table):

* a single-order HEALPix map (``PROB`` per NESTED pixel, the form Aladin and DS9 load),
  flattened at ``min(the map's finest order, flatten_order)``;
* the 90% credible region as an IVOA MOC, built by mocpy from the pixels' probabilities
  (densest first, the pixels whose cumulative probability stays within 90%);
* the most probable pixel (highest density) and its centre in ICRS degrees.

Needs the bridge's extra (numpy, astropy, mocpy); the bridge checks it at start.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hop.samp.bridge._alerts import MalformedAlert

__all__ = ["CREDIBLE_LEVEL", "SkyMap", "flatten", "nest_to_lonlat", "read_skymap"]

CREDIBLE_LEVEL = 0.9
"""The credible region sent as a MOC."""

_BLOCK = 2880
# Header keys of the multi-order table that describe its layout, not the event.
_LAYOUT_KEYS = frozenset({
    "XTENSION", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "PCOUNT", "GCOUNT", "TFIELDS",
    "PIXTYPE", "ORDERING", "INDXSCHM", "MOCORDER", "NSIDE", "ORDER", "FIRSTPIX", "LASTPIX",
    "OBJECT", "EXTNAME", "COORDSYS",
})  # fmt: skip
_LAYOUT_PREFIXES = ("TTYPE", "TFORM", "TUNIT", "TNULL", "TSCAL", "TZERO", "TDISP", "TDIM")


@dataclass
class SkyMap:
    """A multi-order sky map read from FITS."""

    uniq: Any
    """NUNIQ pixel numbers (numpy uint64)."""
    density: Any
    """Probability per steradian of each pixel (numpy float64)."""
    order: Any
    """HEALPix order of each pixel (numpy int64)."""
    ipix: Any
    """NESTED index of each pixel at its order (numpy int64)."""
    header: Any
    """The table's FITS header (astropy ``Header``)."""
    object: str
    """The ``OBJECT`` card (the superevent), or empty."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds spent per stage."""

    @property
    def max_order(self) -> int:
        """The finest order in the map."""
        return int(self.order.max())

    def probabilities(self) -> Any:
        """Probability of each pixel: density times the pixel's area."""
        import numpy as np

        return self.density * (4.0 * math.pi / (12.0 * np.exp2(2.0 * self.order)))


def read_skymap(data: bytes) -> SkyMap:
    """Read a multi-order sky map from FITS bytes.

    Raises
    ------
    MalformedAlert
        When ``data`` is not FITS, or holds no ``UNIQ`` / ``PROBDENSITY`` table.
    """
    import numpy as np
    from astropy.io import fits

    if not data.startswith(b"SIMPLE  ="):
        raise MalformedAlert(f"sky map is not a FITS file (starts with {data[:16]!r})")
    try:
        with fits.open(io.BytesIO(data), memmap=False) as hdus:
            table = next((h for h in hdus[1:] if isinstance(h, fits.BinTableHDU)), None)
            if table is None:
                raise MalformedAlert("sky map FITS file has no binary table")
            names = {n.upper() for n in table.columns.names}
            if not {"UNIQ", "PROBDENSITY"} <= names:
                raise MalformedAlert(
                    f"sky map table has no UNIQ and PROBDENSITY columns ({sorted(names)})"
                )
            header = table.header.copy()
            uniq = np.array(table.data["UNIQ"], dtype=np.uint64)
            density = np.array(table.data["PROBDENSITY"], dtype=np.float64)
    except MalformedAlert:
        raise
    except Exception as exc:  # astropy raises OSError, ValueError, TypeError, KeyError...
        raise MalformedAlert(f"sky map FITS file cannot be read: {exc}") from None
    if uniq.size == 0:
        raise MalformedAlert("sky map has no pixels")
    if (uniq < 4).any() or not np.isfinite(density).all() or (density < 0).any():
        raise MalformedAlert("sky map has invalid UNIQ numbers or probability densities")
    thresholds = np.left_shift(np.uint64(1), np.arange(2, 64, 2, dtype=np.uint64))
    order = np.searchsorted(thresholds, uniq, side="right").astype(np.int64) - 1
    if order.max() > 29:
        raise MalformedAlert(f"sky map has pixels of order {int(order.max())} (29 at most)")
    ipix = (uniq - np.left_shift(np.uint64(4), (2 * order).astype(np.uint64))).astype(np.int64)
    return SkyMap(uniq, density, order, ipix, header, str(header.get("OBJECT", "")).strip())


def flatten(skymap: SkyMap, order: int) -> Any:
    """Return the map at one HEALPix ``order``: probability per NESTED pixel (numpy).

    Coarser pixels spread their probability over their children; finer pixels add
    theirs to their parent. A map whose pixels tile the sphere (every IGWN map) takes
    one ``numpy.repeat``; any other goes through an index per pixel.
    """
    import numpy as np

    npix = 12 << (2 * order)
    pixel_area = 4.0 * math.pi / npix
    coarse = skymap.order <= order
    shift = 2 * (order - skymap.order[coarse])
    starts = skymap.ipix[coarse] << shift
    counts = np.left_shift(np.int64(1), shift)
    values = skymap.density[coarse] * pixel_area
    fine = ~coarse
    if fine.any():
        # Finer pixels: sum their probabilities per parent at ``order``.
        parents = skymap.ipix[fine] >> (2 * (skymap.order[fine] - order))
        probs = skymap.probabilities()[fine]
        unique, inverse = np.unique(parents, return_inverse=True)
        starts = np.concatenate([starts, unique])
        counts = np.concatenate([counts, np.ones(unique.size, dtype=np.int64)])
        values = np.concatenate([values, np.bincount(inverse, weights=probs)])
    by_start = np.argsort(starts, kind="stable")
    starts, counts, values = starts[by_start], counts[by_start], values[by_start]
    offsets = np.cumsum(counts) - counts
    if counts.sum() == npix and (starts == offsets).all():
        return np.repeat(values, counts)
    out = np.zeros(npix)
    index = np.arange(int(counts.sum()), dtype=np.int64) + np.repeat(starts - offsets, counts)
    inside = index < npix
    np.add.at(out, index[inside], np.repeat(values, counts)[inside])
    return out


def nest_to_lonlat(order: int, ipix: int) -> tuple[float, float]:
    """Centre of NESTED HEALPix pixel ``ipix`` at ``order``, as (lon, lat) in degrees.

    The pixel's face and in-face coordinates give its ring and position in the ring
    (Gorski et al. 2005, ApJ 622, 759, section 4).
    """
    nside = 1 << order
    if not 0 <= ipix < 12 * nside * nside:
        raise ValueError(f"no HEALPix pixel {ipix} at order {order}")
    face, in_face = divmod(ipix, nside * nside)
    ix = iy = 0
    for bit in range(order):  # de-interleave: x in the even bits, y in the odd ones
        ix |= ((in_face >> (2 * bit)) & 1) << bit
        iy |= ((in_face >> (2 * bit + 1)) & 1) << bit
    ring = (2 + face // 4) * nside - ix - iy - 1  # 1 .. 4*nside-1, from the north pole
    if ring < nside:
        nr, z, kshift = ring, 1.0 - ring * ring / (3.0 * nside * nside), 0
    elif ring > 3 * nside:
        nr = 4 * nside - ring
        z, kshift = nr * nr / (3.0 * nside * nside) - 1.0, 0
    else:
        nr, z, kshift = nside, (2 * nside - ring) * 2.0 / (3.0 * nside), (ring - nside) & 1
    face_phi = (1, 3, 5, 7, 0, 2, 4, 6, 1, 3, 5, 7)[face]
    jp = (face_phi * nr + ix - iy + 1 + kshift) // 2
    if jp > 4 * nside:
        jp -= 4 * nside
    if jp < 1:
        jp += 4 * nside
    lon = (jp - (kshift + 1) * 0.5) * (90.0 / nr)
    lat = math.degrees(math.asin(max(-1.0, min(1.0, z))))
    return lon % 360.0, lat


def peak(skymap: SkyMap) -> tuple[float, float]:
    """Centre of the most probable pixel (highest density), (ra, dec) degrees."""
    best = int(skymap.density.argmax())
    return nest_to_lonlat(int(skymap.order[best]), int(skymap.ipix[best]))


def credible_moc(skymap: SkyMap, level: float = CREDIBLE_LEVEL) -> Any:
    """The ``level`` credible region as a mocpy ``MOC`` at the map's finest order."""
    from mocpy import MOC

    return MOC.from_valued_healpix_cells(
        skymap.uniq, skymap.probabilities(), max_depth=skymap.max_order, cumul_to=level
    )


def _event_cards(skymap: SkyMap) -> list[tuple[str, Any, str]]:
    """The header cards that describe the event (OBJECT, DATE-OBS, DISTMEAN...)."""
    cards = []
    for card in skymap.header.cards:
        key = card.keyword
        if not key or key in _LAYOUT_KEYS or key.startswith(_LAYOUT_PREFIXES):
            continue
        if key in ("HISTORY", "COMMENT"):
            continue
        cards.append((key, card.value, card.comment))
    return cards


def flat_fits(skymap: SkyMap, probabilities: Any, order: int) -> bytes:
    """A single-order HEALPix FITS file (``PROB`` column, NESTED) of ``probabilities``.

    The header is built by astropy; the 8-byte big-endian column is written as one
    block, which is the whole of a one-column table's data.
    """
    from astropy.io import fits

    npix = int(probabilities.size)
    header = fits.Header()
    header["XTENSION"] = ("BINTABLE", "binary table extension")
    header["BITPIX"] = (8, "array data type")
    header["NAXIS"] = (2, "number of array dimensions")
    header["NAXIS1"] = (8, "length of dimension 1")
    header["NAXIS2"] = (npix, "length of dimension 2")
    header["PCOUNT"] = (0, "number of group parameters")
    header["GCOUNT"] = (1, "number of groups")
    header["TFIELDS"] = (1, "number of table fields")
    header["TTYPE1"] = "PROB"
    header["TFORM1"] = "D"
    header["TUNIT1"] = "pix-1"
    header["PIXTYPE"] = ("HEALPIX", "HEALPIX pixelisation")
    header["ORDERING"] = ("NESTED", "Pixel ordering scheme: RING, NESTED, or NUNIQ")
    header["COORDSYS"] = (skymap.header.get("COORDSYS", "C"), "Ecliptic, Galactic or Celestial")
    header["NSIDE"] = (1 << order, "Resolution parameter of HEALPIX")
    header["ORDER"] = (order, "HEALPix order (log2 NSIDE)")
    header["INDXSCHM"] = ("IMPLICIT", "Indexing: IMPLICIT or EXPLICIT")
    header["FIRSTPIX"] = (0, "First pixel # (0 based)")
    header["LASTPIX"] = (npix - 1, "Last pixel # (0 based)")
    header["OBJECT"] = (skymap.object, "Unique identifier for this event")
    for key, value, comment in _event_cards(skymap):
        if key not in header:
            header[key] = (value, comment)
    header["CREATOR"] = ("skyhop bridge", "flattened from the alert's multi-order map")
    primary = fits.PrimaryHDU().header.tostring().encode("ascii")
    table = header.tostring().encode("ascii")
    data = probabilities.astype(">f8", copy=False).tobytes()
    pad = b"\0" * (-len(data) % _BLOCK)
    return b"".join([primary, table, data, pad])


def timed(timings: dict[str, float], stage: str, func: Callable[..., Any], *args: Any) -> Any:
    """Run ``func(*args)`` and add its duration to ``timings[stage]``."""
    started = time.perf_counter()
    try:
        return func(*args)
    finally:
        timings[stage] = timings.get(stage, 0.0) + time.perf_counter() - started


def warm_up() -> None:
    """Run every step once on a 12-pixel map, so the first alert does not pay for it.

    astropy and mocpy load much of their machinery on first use (hundreds of ms).
    """
    import numpy as np
    from astropy.io import fits

    columns = [
        fits.Column(name="UNIQ", format="K", array=np.arange(4, 16, dtype=np.int64)),
        fits.Column(name="PROBDENSITY", format="D", array=np.full(12, 1 / (4 * math.pi))),
    ]
    table = fits.BinTableHDU.from_columns(columns)
    table.header["OBJECT"] = "warm-up"
    out = io.BytesIO()
    fits.HDUList([fits.PrimaryHDU(), table]).writeto(out)
    skymap = read_skymap(out.getvalue())
    flat_fits(skymap, flatten(skymap, 1), 1)
    moc = credible_moc(skymap)
    moc.serialize(format="fits", optional_kw_dict={"OBJECT": "warm-up"}, v1_compatible=True)
    peak(skymap)
