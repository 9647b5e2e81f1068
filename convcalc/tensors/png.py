"""Whether a PNG holds every row it declares: Pillow reads a PNG whose compressed data ends early
(a complete zlib stream of half the rows) without a word, filling the missing rows with zeros.

Pure: nothing here prints or raises; :func:`missing_rows` says what is wrong, or None.
"""

from __future__ import annotations

import struct
import zlib

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

# Colour type -> samples per pixel (grey, RGB, palette, grey+alpha, RGBA).
_SAMPLES = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
# Adam7 passes: (x start, y start, x step, y step).
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
_READ = 1 << 20  # decompressed bytes per step: the check never holds the whole image


def missing_rows(data: bytes) -> str | None:
    """What is missing from the PNG ``data``, or None when its image data is complete (or it is
    not a PNG this can judge: Pillow's own checks stand then).

    >>> import zlib
    >>> rows = b"\\x00\\x01" * 4  # four 1-pixel grey rows, each with its filter byte
    >>> missing_rows(_png(1, 4, zlib.compress(rows))) is None
    True
    >>> missing_rows(_png(1, 4, zlib.compress(rows[:4])))
    'its image data ends after 4 of 8 bytes (about 2 of its 4 rows)'
    """
    if not data.startswith(PNG_MAGIC):
        return None
    header, idat = _chunks(data)
    if header is None or len(header) != 13:
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    if colour not in _SAMPLES or depth not in (1, 2, 4, 8, 16):
        return None
    expected = _expected_bytes(width, height, depth * _SAMPLES[colour], interlace == 1)
    got = _inflated_length(idat, expected)
    if got is None or got >= expected:
        return None
    rows = got * height // expected if expected else 0
    return f"its image data ends after {got} of {expected} bytes (about {rows} of its {height} rows)"


def _chunks(data: bytes) -> tuple[bytes | None, list[memoryview]]:
    """The IHDR payload and the IDAT payloads, read up to IEND or the end of ``data``."""
    view = memoryview(data)
    pos, header, idat = len(PNG_MAGIC), None, []
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        payload = view[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = bytes(payload)
        elif kind == b"IDAT":
            idat.append(payload)
        elif kind == b"IEND":
            break
        pos += 12 + length
    return header, idat


def _expected_bytes(width: int, height: int, bits: int, interlaced: bool) -> int:
    """Bytes of filtered scanlines: one filter byte per row plus its packed pixels."""
    passes = _ADAM7 if interlaced else ((0, 0, 1, 1),)
    total = 0
    for x0, y0, dx, dy in passes:
        columns = max(0, -(-(width - x0) // dx))
        rows = max(0, -(-(height - y0) // dy))
        if columns and rows:
            total += rows * (1 + (columns * bits + 7) // 8)
    return total


def _inflated_length(parts: list[memoryview], wanted: int) -> int | None:
    """How many bytes the concatenated zlib stream inflates to, counting at most ``wanted``;
    None when the stream is corrupt (Pillow reports that itself)."""
    inflater = zlib.decompressobj()
    got = 0
    try:
        for part in parts:
            pending = bytes(part)
            while pending and got < wanted:
                got += len(inflater.decompress(pending, _READ))
                pending = inflater.unconsumed_tail
            if got >= wanted or inflater.eof:
                break
    except zlib.error:
        return None
    return got


def _png(width: int, height: int, idat: bytes) -> bytes:
    """A grey 8-bit PNG around ``idat`` (for the doctests)."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return PNG_MAGIC + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
