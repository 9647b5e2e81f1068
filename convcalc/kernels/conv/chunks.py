"""How a ``conv_nd`` call is cut into chunks whose scratch fits a bound.

Work is chunked over the batch, then over groups, then over output rows, so the scratch
buffers (padded input slab, column matrix, accumulators) stay under the bound
(``DEFAULT_BUFFER_BYTES`` unless the caller gives one); peak memory is then the output plus that
bound. ``chunk_bytes`` holds each method's scratch formula: a method that changes its buffers
changes it there.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from .geometry import ConvGeometry

CACHE_BYTES = {"taps": 2**21, "rows": 2**23}
"""Chunk size for the methods made of many whole-array passes (per method, in bytes), measured
best on a core with 1 MiB of L2 and a shared 32 MiB L3: "taps" chunks stay in L2 between
passes; "rows" makes few passes, and smaller chunks lost more to per-chunk overhead than they
won in cache. ("depthwise" keeps its own passes in cache by blocks of channels within a
chunk: ``depthwise.BLOCK_BYTES``.)"""


def chunk_bytes(geo: ConvGeometry, method: str, images: int, groups: int, rows: int, itemsize: int) -> int:
    """Scratch memory of a chunk of ``images`` images × ``groups`` groups × ``rows`` output rows."""
    in_channels, out_channels = groups * geo.in_per_group, groups * geo.out_per_group
    # The narrow grid reads the input itself: no padded slab.
    slab = 0 if geo.narrow else in_channels * geo.slab_rows(rows) * geo.slab_row_pixels()
    wide_out = out_channels * rows * geo.slab_row_pixels()
    compact_out = out_channels * rows * geo.row_pixels()
    if method == "gemm":
        work = in_channels * geo.taps * rows * geo.row_pixels() + compact_out
    elif method == "taps":
        work = 2 * wide_out
    elif method == "rows":  # the row copies (+ a row of ones), the GEMM's rows, the tap sum
        first, rest = geo.kernel[0], geo.taps // geo.kernel[0]
        run = (geo.slab_rows(rows) + 2) * geo.slab_row_pixels()  # an upper bound on their length
        work = (groups * (geo.in_per_group * first + 1) + out_channels * (rest + 1)) * run
    elif method == "winograd":  # 4^nd transformed values per tile of 2^nd outputs, in and out
        tiles = math.prod(-(-o // 2) for o in (rows, *geo.out_spatial[1:]))
        values = 4**geo.nd * tiles
        work = 2 * in_channels * values + out_channels * (values + 2**geo.nd * tiles)
    else:  # depthwise: its input split into stride phases (stride 1: copied between zeros), and
        # one block of channels' column matrix and products at a time (depthwise.BLOCK_BYTES more)
        phase_pixels = math.prod(-(-e // s) for e, s in zip((geo.slab_rows(rows),) + geo.extents[1:], geo.stride))
        read = math.prod(min(s, k) for s, k in zip(geo.stride, geo.kernel))  # at most this many phases
        work = in_channels * read * phase_pixels
    return images * (slab + work) * itemsize


def conv_chunks(
    geo: ConvGeometry, method: str, itemsize: int, bound: int
) -> Iterator[tuple[int, int, int, int, int, int]]:
    """(n0, n1, g0, g1, r0, r1): image, group and output-row ranges whose scratch fits.

    Whole images when they fit, else whole groups of one image, else bands of output rows of
    one group. Methods made of many passes aim at ``CACHE_BYTES`` when that is smaller.
    """
    if method == "rows" or (method == "taps" and geo.groups > 1):
        bound = min(bound, CACHE_BYTES[method])
    rows, groups = geo.out_spatial[0], geo.groups
    per_image = chunk_bytes(geo, method, 1, groups, rows, itemsize)
    if per_image <= bound:
        for n0, n1 in _even_steps(geo.batch, bound // per_image):
            yield n0, n1, 0, groups, 0, rows
        return
    per_group = chunk_bytes(geo, method, 1, 1, rows, itemsize)
    if per_group <= bound:
        for n in range(geo.batch):
            for g0, g1 in _even_steps(groups, bound // per_group):
                yield n, n + 1, g0, g1, 0, rows
        return
    # One group of one image is too big: bands of output rows (scratch is affine in rows).
    fixed = chunk_bytes(geo, method, 1, 1, 1, itemsize)
    per_row = chunk_bytes(geo, method, 1, 1, 2, itemsize) - fixed
    band = max(1, 1 + (bound - fixed) // max(per_row, 1))
    if method == "winograd":  # whole tiles: bands of an even number of rows
        band = max(2, band - band % 2)
    for n in range(geo.batch):
        for g in range(groups):
            for r0 in range(0, rows, band):
                yield n, n + 1, g, g + 1, r0, min(rows, r0 + band)


def _even_steps(total: int, most: int) -> list[tuple[int, int]]:
    """[start, end) ranges covering ``range(total)`` in as few steps of at most ``most`` items
    as possible, of sizes differing by at most one: a short last step would pay a whole step's
    overhead for little work.

    >>> _even_steps(144, 67)
    [(0, 48), (48, 96), (96, 144)]
    """
    count = -(-total // max(1, most))
    return [(total * i // count, total * (i + 1) // count) for i in range(count)]
