"""Sky positions to ICRS degrees, which ``coord.pointAt.sky`` takes.

ICRS positions pass through untouched (no rounding through a transformation). The
other frames are converted with astropy. For the frames that differ from ICRS by a
fixed rotation (FK5 at a fixed equinox, galactic, supergalactic, the mean ecliptic
of a fixed equinox) astropy is asked once for the rotation and later positions are
rotated with it: the same numbers as a ``SkyCoord`` transformation, at a fraction of
its cost on the alert's path. FK4 is not a pure rotation (its E-terms depend on the
position), so every FK4 position goes through astropy.
"""

from __future__ import annotations

import math
import threading
from typing import Any

from hop.samp.bridge._alerts import SkyPosition

__all__ = ["to_icrs"]

_rotations: dict[tuple[str, str | None], Any] = {}
_lock = threading.Lock()


def _astropy_frame(frame: str, equinox: str | None) -> Any:
    from astropy import coordinates as coord
    from astropy.time import Time

    if frame == "fk5":
        return coord.FK5(equinox=Time(equinox or "J2000", scale="tt"))
    if frame == "fk4":
        return coord.FK4(equinox=Time(equinox or "B1950", scale="tt"),
                         obstime=Time(equinox or "B1950", scale="tt"))  # fmt: skip
    if frame == "galactic":
        return coord.Galactic()
    if frame == "supergalactic":
        return coord.Supergalactic()
    if frame == "ecliptic":
        return coord.BarycentricMeanEcliptic(equinox=Time(equinox or "J2000", scale="tt"))
    raise ValueError(f"no ICRS conversion for frame {frame!r}")


def _through_astropy(position: SkyPosition) -> tuple[float, float]:
    from astropy import units as u
    from astropy.coordinates import ICRS, SkyCoord

    frame = _astropy_frame(position.frame, position.equinox)
    icrs = SkyCoord(position.lon * u.deg, position.lat * u.deg, frame=frame).transform_to(ICRS())
    return float(icrs.ra.deg), float(icrs.dec.deg)


def _rotation(frame: str, equinox: str | None) -> Any:
    """The 3x3 matrix taking unit vectors of ``frame`` to ICRS (from astropy, cached)."""
    key = (frame, equinox)
    with _lock:
        matrix = _rotations.get(key)
    if matrix is not None:
        return matrix
    import numpy as np
    from astropy import units as u
    from astropy.coordinates import ICRS, SkyCoord

    basis = SkyCoord(
        [0.0, 90.0, 0.0] * u.deg, [0.0, 0.0, 90.0] * u.deg, frame=_astropy_frame(frame, equinox)
    ).transform_to(ICRS())
    # Columns: the images of the frame's x, y and z axes.
    matrix = np.array(basis.cartesian.xyz.value, dtype=float)
    with _lock:
        _rotations[key] = matrix
    return matrix


def to_icrs(position: SkyPosition) -> tuple[float, float]:
    """Return ``(ra, dec)`` in ICRS degrees, RA in [0, 360).

    Raises
    ------
    ValueError
        For a frame :data:`hop.samp.bridge._alerts.FRAMES` does not list.
    """
    if position.frame == "icrs":
        return position.lon % 360.0, position.lat
    if position.frame == "fk4":
        ra, dec = _through_astropy(position)
        return ra % 360.0, dec
    matrix = _rotation(position.frame, position.equinox)
    lon, lat = math.radians(position.lon), math.radians(position.lat)
    v = (math.cos(lat) * math.cos(lon), math.cos(lat) * math.sin(lon), math.sin(lat))
    x, y, z = (float(sum(matrix[i][j] * v[j] for j in range(3))) for i in range(3))
    ra = math.degrees(math.atan2(y, x)) % 360.0
    dec = math.degrees(math.atan2(z, math.hypot(x, y)))
    return ra, dec
