"""The padded input a chunk of a convolution reads, in any of torch's padding modes.

``padded_slab`` gives the padded input rows that a chunk's output rows read: a view of the
input when no padding is needed, else a copy into the scratch whose zero padding stays in place
from chunk to chunk. ``source_index`` is the rule of the non-zero modes (where a padded
position reads from), shared with the teaching views.
"""

from __future__ import annotations

import numpy as np

from .geometry import ConvGeometry
from .scratch import Scratch

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def source_index(positions: np.ndarray, size: int, mode: str) -> np.ndarray:
    """Where each padded position reads from, for torch's non-zero padding modes.

    >>> source_index(np.arange(-2, 6), 4, "reflect").tolist()
    [2, 1, 0, 1, 2, 3, 2, 1]
    >>> source_index(np.arange(-2, 6), 4, "replicate").tolist()
    [0, 0, 0, 1, 2, 3, 3, 3]
    >>> source_index(np.arange(-2, 6), 4, "circular").tolist()
    [2, 3, 0, 1, 2, 3, 0, 1]
    """
    if mode == "reflect":
        period = 2 * (size - 1)
        if period == 0:
            return np.zeros_like(positions)
        folded = np.mod(positions, period)
        return np.where(folded < size, folded, period - folded)
    if mode == "replicate":
        return np.clip(positions, 0, size - 1)
    return np.mod(positions, size)  # circular


def padded_slab(
    x: np.ndarray,
    geo: ConvGeometry,
    n0: int,
    n1: int,
    channels: slice,
    r0: int,
    r1: int,
    mode: str,
    scratch: Scratch,
    method: str = "gemm",
) -> np.ndarray:
    """The padded input that output rows [r0, r1) of images [n0, n1) read, in ``channels``.

    Its first spatial dim starts at padded row ``r0·stride``; the others at padded index 0.
    Without padding this is a view of ``x``. Winograd tiles read one pixel past an odd output
    size (the padding mode's value there only reaches the dropped output).
    """
    starts = (r0 * geo.stride[0],) + (0,) * (geo.nd - 1)
    extents = (geo.slab_rows(r1 - r0),) + geo.extents[1:]
    if method == "winograd":
        extents = tuple(2 * -(-o // 2) + 2 for o in (r1 - r0, *geo.out_spatial[1:]))
    if not any(left for left, _ in geo.pads) and all(
        start + extent <= size for start, extent, size in zip(starts, extents, geo.spatial)
    ):
        # The tap sums address the slab as one flat run per channel: only whole rows will do.
        flat = method in ("taps", "rows") or (method == "depthwise" and all(s == 1 for s in geo.stride))
        if not flat or all(extent == size for extent, size in zip(extents[1:], geo.spatial[1:])):
            return x[(slice(n0, n1), channels, *(slice(a, a + e) for a, e in zip(starts, extents)))]
    shape = (n1 - n0, geo.in_channels, *extents)
    if mode != "zeros":
        index = [
            source_index(np.arange(start, start + extent) - left, size, mode)
            for start, extent, (left, _), size in zip(starts, extents, geo.pads, geo.spatial)
        ]
        grids = np.ix_(*index)
        slab = scratch.get("slab", shape)
        slab[...] = x[(slice(n0, n1), channels, *grids)]
        scratch.filled.pop("slab", None)
        return slab
    slab = scratch.get("slab", shape)
    src: list[slice] = [slice(n0, n1), channels]
    dst: list[slice] = [slice(None), slice(None)]
    for start, extent, (left, _), size in zip(starts, extents, geo.pads, geo.spatial):
        lo, hi = max(start - left, 0), min(start + extent - left, size)
        if hi <= lo:  # the chunk reads padding only
            scratch.filled.pop("slab", None)
            slab.fill(0)
            return slab
        src.append(slice(lo, hi))
        dst.append(slice(lo + left - start, hi + left - start))
    # The padding stays zero from one chunk to the next when the layout is the same: only the
    # inside is written again (zeroing every chunk's slab costs a pass of its own).
    layout = (shape, tuple(dst))
    if scratch.filled.get("slab") != layout:
        slab.fill(0)
        scratch.filled["slab"] = layout
    slab[tuple(dst)] = x[tuple(src)]
    return slab
