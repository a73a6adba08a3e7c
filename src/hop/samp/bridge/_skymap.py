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
import re
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
    header: dict[str, Any]
    """The table header's values by keyword (str, int, float or bool)."""
    object: str
    """The ``OBJECT`` card (the superevent), or empty."""
    cards: list[bytes] = field(default_factory=list)
    """The table header's 80-character cards as read (END excluded)."""
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


def _card_value(card: bytes) -> Any:
    """The value of one header card (str, bool, int or float), or None."""
    if card[8:10] != b"= ":
        return None
    text = card[10:].decode("ascii", "replace").strip()
    if text.startswith("'"):
        body = text[1:].replace("''", "\0")
        return body.split("'", 1)[0].replace("\0", "'").rstrip()
    text = text.split("/", 1)[0].strip()
    if text in ("T", "F"):
        return text == "T"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text.replace("D", "E"))
    except ValueError:
        return text


def _read_header(data: bytes, start: int) -> tuple[list[bytes], int]:
    """The cards of the header at ``start`` (END excluded) and where its data begins."""
    cards = []
    pos = start
    while True:
        card = data[pos : pos + 80]
        if len(card) < 80:
            raise MalformedAlert("sky map FITS header has no END card")
        pos += 80
        if card[:8] == b"END     ":
            break
        cards.append(card)
    return cards, start + -(-(pos - start) // _BLOCK) * _BLOCK


# FITS binary table forms (Standard 4.0, table 18) numpy reads as they are.
_FORMS = {"K": ">i8", "J": ">i4", "I": ">i2", "D": ">f8", "E": ">f4", "B": "u1"}
_FORM = re.compile(r"^(\d*)([A-Z])")


def _fast_table(data: bytes) -> tuple[dict[str, Any], list[bytes], Any] | None:
    """Read the first table with numpy alone; None when it needs astropy's reader."""
    import numpy as np

    _, pos = _read_header(data, 0)
    if pos >= len(data):
        return None  # no extension: astropy's reader says what is wrong
    cards, pos = _read_header(data, pos)
    header = {c[:8].decode("ascii", "replace").strip(): _card_value(c) for c in cards}
    if header.get("XTENSION") != "BINTABLE" or header.get("PCOUNT", 0) != 0:
        return None
    fields: list[Any] = []
    for i in range(1, int(header.get("TFIELDS", 0)) + 1):
        if any(f"{key}{i}" in header for key in ("TSCAL", "TZERO", "TDIM")):
            return None
        match = _FORM.match(str(header.get(f"TFORM{i}", "")).strip())
        if match is None:
            return None
        repeat = int(match.group(1) or 1)
        if match.group(2) == "A":
            fields.append((f"f{i}", f"S{repeat}"))
        elif match.group(2) in _FORMS:
            fields.append((f"f{i}", _FORMS[match.group(2)], (repeat,)) if repeat != 1
                          else (f"f{i}", _FORMS[match.group(2)]))  # fmt: skip
        else:
            return None
    dtype = np.dtype(fields)
    rows = int(header.get("NAXIS2", -1))
    if (
        dtype.itemsize != header.get("NAXIS1")
        or rows < 0
        or pos + rows * dtype.itemsize > len(data)
    ):
        return None
    table = np.frombuffer(data, dtype=dtype, count=rows, offset=pos)
    names = {str(header.get(f"TTYPE{i}", "")).strip().upper(): f"f{i}"
             for i in range(1, len(fields) + 1)}  # fmt: skip
    if "UNIQ" not in names or "PROBDENSITY" not in names:
        raise MalformedAlert(
            f"sky map table has no UNIQ and PROBDENSITY columns ({sorted(n for n in names if n)})"
        )
    if table.dtype[names["UNIQ"]].shape or table.dtype[names["PROBDENSITY"]].shape:
        return None
    return header, cards, (table[names["UNIQ"]], table[names["PROBDENSITY"]])


def _astropy_table(data: bytes) -> tuple[dict[str, Any], list[bytes], Any]:
    from astropy.io import fits

    with fits.open(io.BytesIO(data), memmap=False) as hdus:
        table = next((h for h in hdus[1:] if isinstance(h, fits.BinTableHDU)), None)
        if table is None:
            raise MalformedAlert("sky map FITS file has no binary table")
        names = {n.upper() for n in table.columns.names}
        if not {"UNIQ", "PROBDENSITY"} <= names:
            raise MalformedAlert(
                f"sky map table has no UNIQ and PROBDENSITY columns ({sorted(names)})"
            )
        header = {card.keyword: card.value for card in table.header.cards}
        cards = [card.image.encode("ascii") for card in table.header.cards]
        return header, cards, (table.data["UNIQ"], table.data["PROBDENSITY"])


def read_skymap(data: bytes) -> SkyMap:
    """Read a multi-order sky map from FITS bytes.

    A plain table (the form IGWN maps take) is read with numpy straight from the
    bytes; anything else (scaled columns, compressed or variable-length data, a table
    not in the first extension) goes through astropy.

    Raises
    ------
    MalformedAlert
        When ``data`` is not FITS, or holds no ``UNIQ`` / ``PROBDENSITY`` table.
    """
    import numpy as np

    if not data.startswith(b"SIMPLE  ="):
        raise MalformedAlert(f"sky map is not a FITS file (starts with {data[:16]!r})")
    try:
        found = _fast_table(data)
        if found is None:
            found = _astropy_table(data)
        header, cards, (uniq_column, density_column) = found
        uniq = np.array(uniq_column, dtype=np.uint64)
        density = np.array(density_column, dtype=np.float64)
    except MalformedAlert:
        raise
    except Exception as exc:  # astropy raises OSError, ValueError, TypeError, KeyError...
        raise MalformedAlert(f"sky map FITS file cannot be read: {exc}") from exc
    if uniq.size == 0:
        raise MalformedAlert("sky map has no pixels")
    if (uniq < 4).any() or not np.isfinite(density).all() or (density < 0).any():
        raise MalformedAlert("sky map has invalid UNIQ numbers or probability densities")
    thresholds = np.left_shift(np.uint64(1), np.arange(2, 64, 2, dtype=np.uint64))
    order = np.searchsorted(thresholds, uniq, side="right").astype(np.int64) - 1
    if order.max() > 29:
        raise MalformedAlert(f"sky map has pixels of order {int(order.max())} (29 at most)")
    ipix = (uniq - np.left_shift(np.uint64(4), (2 * order).astype(np.uint64))).astype(np.int64)
    name = str(header.get("OBJECT") or "").strip()
    return SkyMap(uniq, density, order, ipix, header, name, cards)


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


def _event_cards(skymap: SkyMap) -> list[bytes]:
    """The table's cards that describe the event (DATE-OBS, DISTMEAN...), as read.

    A long string's CONTINUE cards go with the card they continue.
    """
    kept: list[bytes] = []
    keep = False
    for card in skymap.cards:
        key = card[:8].decode("ascii", "replace").strip()
        if key == "CONTINUE":
            if keep:
                kept.append(card)
            continue
        keep = bool(key) and key not in _LAYOUT_KEYS and not key.startswith(_LAYOUT_PREFIXES)
        keep = keep and key not in ("HISTORY", "COMMENT", "CREATOR")
        if keep:
            kept.append(card)
    return kept


def flat_fits(skymap: SkyMap, probabilities: Any, order: int) -> bytes:
    """A single-order HEALPix FITS file (``PROB`` column, NESTED) of ``probabilities``.

    ``PROB`` is written as 32-bit floats: seven significant digits are more than a
    display needs, and the file is half the size to write and to load. The header is
    written card by card, with the event's cards copied from the alert's map.
    """
    from hop._skymap import _card, _fits_file

    npix = int(probabilities.size)
    coordsys = str(skymap.header.get("COORDSYS") or "C")
    table = [
        _card("XTENSION", "BINTABLE", "binary table extension"),
        _card("BITPIX", 8, "array data type"),
        _card("NAXIS", 2, "number of array dimensions"),
        _card("NAXIS1", 4, "length of dimension 1"),
        _card("NAXIS2", npix, "length of dimension 2"),
        _card("PCOUNT", 0, "number of group parameters"),
        _card("GCOUNT", 1, "number of groups"),
        _card("TFIELDS", 1, "number of table fields"),
        _card("TTYPE1", "PROB"),
        _card("TFORM1", "E"),
        _card("TUNIT1", "pix-1"),
        _card("PIXTYPE", "HEALPIX", "HEALPIX pixelisation"),
        _card("ORDERING", "NESTED", "Pixel ordering scheme: RING, NESTED, or NUNIQ"),
        _card("COORDSYS", coordsys, "Ecliptic, Galactic or Celestial (equatorial)"),
        _card("NSIDE", 1 << order, "Resolution parameter of HEALPIX"),
        _card("ORDER", order, "HEALPix order (log2 of NSIDE)"),
        _card("INDXSCHM", "IMPLICIT", "Indexing: IMPLICIT or EXPLICIT"),
        _card("FIRSTPIX", 0, "First pixel # (0 based)"),
        _card("LASTPIX", npix - 1, "Last pixel # (0 based)"),
        _card("OBJECT", _fits_text(skymap.object), "Unique identifier for this event"),
        *_event_cards(skymap),
        _card("CREATOR", "skyhop bridge", "flattened from the alert's multi-order map"),
        _card("END"),
    ]
    data = probabilities.astype(">f4").tobytes()
    return _fits_file(table, data)


def _fits_text(text: str) -> str:
    # A FITS string value is printable ASCII, at most 68 characters on one card.
    clean = "".join(c if " " <= c <= "~" else "?" for c in text)
    return clean[:68]


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
