"""The hub's icon (``SAMP_ICON``): a small PNG drawn here, so no data file is shipped."""

from __future__ import annotations

import functools
import struct
import zlib

__all__ = ["samp_icon"]

_SIZE = 32


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


@functools.cache
def samp_icon() -> bytes:
    """Return the PNG bytes of the icon: a white ring on a dark blue disc, 32 x 32 RGBA."""
    rows = []
    centre = (_SIZE - 1) / 2
    for y in range(_SIZE):
        row = bytearray([0])  # filter type: none
        for x in range(_SIZE):
            r = ((x - centre) ** 2 + (y - centre) ** 2) ** 0.5
            if r > 15.5:
                row += bytes((0, 0, 0, 0))
            elif 9.0 <= r <= 12.0:
                row += bytes((255, 255, 255, 255))
            else:
                row += bytes((20, 40, 110, 255))
        rows.append(bytes(row))
    header = struct.pack(">IIBBBBB", _SIZE, _SIZE, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
        + _chunk(b"IEND", b"")
    )
