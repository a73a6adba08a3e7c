"""Multi-order HEALPix sky maps as FITS binary tables, with the standard library only.

IGWN alerts carry their localisation as a base64-encoded FITS file holding one binary
table: a row per HEALPix pixel in the NUNIQ scheme (``uniq = 4 * 4**order + ipix``,
``ipix`` a NESTED index), its probability density per steradian and three distance
columns. This module writes such a file so that the demo's alert is a real one that
FITS readers (astropy, ligo.skymap) open, without making numpy or astropy a
dependency of the core package; it reads back only the files it writes (for tests).

The FITS layout written here: an empty primary HDU, then one ``BINTABLE`` extension
with big-endian 64-bit columns; headers are 80-character cards, and each part is
padded to a multiple of 2,880 bytes (FITS Standard 4.0, sections 3-4 and 7.3).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

__all__ = ["Pixel", "nuniq", "pixel_area", "read_moc_fits", "uniq_order", "write_moc_fits"]

_BLOCK = 2880
_CARD = 80

# (name, FITS form, struct code, unit) of each column, in file order.
_COLUMNS = (
    ("UNIQ", "K", "q", None),
    ("PROBDENSITY", "D", "d", "sr-1"),
    ("DISTMU", "D", "d", "Mpc"),
    ("DISTSIGMA", "D", "d", "Mpc"),
    ("DISTNORM", "D", "d", "Mpc-2"),
)
_ROW = struct.Struct(">" + "".join(code for _, _, code, _ in _COLUMNS))


@dataclass(frozen=True)
class Pixel:
    """One row of a multi-order sky map."""

    uniq: int
    """The pixel in the NUNIQ scheme, ``4 * 4**order + ipix``."""
    probdensity: float
    """Probability per steradian."""
    distmu: float
    """Location parameter of the distance ansatz, in Mpc."""
    distsigma: float
    """Scale parameter of the distance ansatz, in Mpc."""
    distnorm: float
    """Normalisation of the distance ansatz, in Mpc**-2."""


def nuniq(order: int, ipix: int) -> int:
    """Return the NUNIQ number of NESTED pixel ``ipix`` at ``order``."""
    if order < 0 or not 0 <= ipix < 12 << 2 * order:
        raise ValueError(f"no HEALPix pixel {ipix} at order {order}")
    return (4 << 2 * order) + ipix


def uniq_order(uniq: int) -> int:
    """Return the order of a NUNIQ pixel number."""
    if uniq < 4:
        raise ValueError(f"{uniq} is not a NUNIQ pixel number")
    return (uniq.bit_length() - 1) // 2 - 1


def pixel_area(order: int) -> float:
    """Return the solid angle of one pixel at ``order``, in steradians."""
    return 4 * math.pi / (12 << 2 * order)


def _card(key: str, value: object = None, comment: str = "") -> bytes:
    if value is None:
        text = key.ljust(_CARD)
    else:
        if isinstance(value, bool):
            shown = ("T" if value else "F").rjust(20)
        elif isinstance(value, int):
            shown = str(value).rjust(20)
        elif isinstance(value, float):
            shown = _float(value).rjust(20)
        else:
            # Fixed format: a quote doubled inside, at least 8 characters between quotes.
            shown = "'" + str(value).replace("'", "''").ljust(8) + "'"
            shown = shown.ljust(20)
        text = f"{key:<8}= {shown}"
        if comment:
            text += f" / {comment}"
    if len(text) > _CARD or not text.isascii():
        raise ValueError(f"FITS card too long or not ASCII: {text!r}")
    return text.ljust(_CARD).encode("ascii")


def _float(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"FITS header values must be finite, not {value}")
    text = f"{value:.16G}"
    mantissa, e, exponent = text.partition("E")
    if "." not in mantissa:
        mantissa += ".0"
    return mantissa + e + exponent


def _pad(data: bytes, fill: bytes) -> bytes:
    return data + fill * (-len(data) % _BLOCK)


def _fits_file(table: Sequence[bytes], data: bytes) -> bytes:
    """A FITS file: an empty primary HDU, then one binary table (its cards, its rows).

    Shared by every FITS writer in the package, so that each writes the same primary
    header and pads its blocks the same way.
    """
    primary = [
        _card("SIMPLE", True, "conforms to FITS standard"),
        _card("BITPIX", 8, "array data type"),
        _card("NAXIS", 0, "number of array dimensions"),
        _card("EXTEND", True),
        _card("END"),
    ]
    return b"".join([_pad(b"".join(primary), b" "), _pad(b"".join(table), b" "),
                     _pad(data, b"\0")])  # fmt: skip


def write_moc_fits(
    pixels: Sequence[Pixel], header: Mapping[str, object] | Iterable[tuple[str, object, str]]
) -> bytes:
    """Return a FITS file holding ``pixels`` as a multi-order sky map.

    Parameters
    ----------
    pixels : sequence of Pixel
        The rows, written in the order given.
    header : mapping or iterable of (key, value, comment)
        Extra cards for the table's header after the standard ones (``OBJECT``,
        ``DATE-OBS``...). Values are str, int, float or bool.

    Returns
    -------
    bytes
        The whole file, a multiple of 2,880 bytes long.
    """
    items = [(k, v, "") for k, v in header.items()] if isinstance(header, Mapping) else list(header)
    table = [
        _card("XTENSION", "BINTABLE", "binary table extension"),
        _card("BITPIX", 8, "array data type"),
        _card("NAXIS", 2, "number of array dimensions"),
        _card("NAXIS1", _ROW.size, "length of dimension 1"),
        _card("NAXIS2", len(pixels), "length of dimension 2"),
        _card("PCOUNT", 0, "number of group parameters"),
        _card("GCOUNT", 1, "number of groups"),
        _card("TFIELDS", len(_COLUMNS), "number of table fields"),
    ]
    for i, (name, form, _, unit) in enumerate(_COLUMNS, start=1):
        table.append(_card(f"TTYPE{i}", name))
        table.append(_card(f"TFORM{i}", form))
        if unit:
            table.append(_card(f"TUNIT{i}", unit))
    max_order = max((uniq_order(p.uniq) for p in pixels), default=0)
    table += [
        _card("PIXTYPE", "HEALPIX", "HEALPIX pixelisation"),
        _card("ORDERING", "NUNIQ", "Pixel ordering scheme: RING, NESTED, or NUNIQ"),
        _card("COORDSYS", "C", "Ecliptic, Galactic or Celestial (equatorial)"),
        _card("MOCORDER", max_order, "MOC resolution (best order)"),
        _card("INDXSCHM", "EXPLICIT", "Indexing: IMPLICIT or EXPLICIT"),
    ]
    table += [_card(key, value, comment) for key, value, comment in items]
    table.append(_card("END"))
    rows = b"".join(
        _ROW.pack(p.uniq, p.probdensity, p.distmu, p.distsigma, p.distnorm) for p in pixels
    )
    return _fits_file(table, rows)


def _header(data: bytes, start: int) -> tuple[dict[str, str], int]:
    cards: dict[str, str] = {}
    pos = start
    while True:
        if pos + _CARD > len(data):
            raise ValueError("FITS header has no END card")
        card = data[pos : pos + _CARD].decode("ascii")
        pos += _CARD
        key = card[:8].strip()
        if key == "END":
            break
        if card[8:10] == "= ":
            value = card[10:]
            if value.lstrip().startswith("'"):
                text = value.lstrip()[1:]
                end = text.replace("''", "\0\0").index("'")
                cards[key] = text[:end].replace("''", "'").rstrip()
            else:
                cards[key] = value.split("/", 1)[0].strip()
    return cards, start + (pos - start + _BLOCK - 1) // _BLOCK * _BLOCK


def read_moc_fits(data: bytes) -> tuple[dict[str, str], list[Pixel]]:
    """Read a file written by :func:`write_moc_fits`: its table header and its rows.

    Header values are returned as the text of the card (strings unquoted).

    Raises
    ------
    ValueError
        If ``data`` is not a FITS file with the columns this module writes.
    """
    if not data.startswith(b"SIMPLE  ="):
        raise ValueError("not a FITS file")
    _, pos = _header(data, 0)
    cards, pos = _header(data, pos)
    names = tuple(cards.get(f"TTYPE{i}") for i in range(1, len(_COLUMNS) + 1))
    if cards.get("XTENSION") != "BINTABLE" or names != tuple(c[0] for c in _COLUMNS):
        raise ValueError(f"not a multi-order sky map table (columns {names})")
    count = int(cards["NAXIS2"])
    end = pos + count * _ROW.size
    if end > len(data):
        raise ValueError("FITS table is truncated")
    pixels = [Pixel(*row) for row in _ROW.iter_unpack(data[pos:end])]
    return cards, pixels
