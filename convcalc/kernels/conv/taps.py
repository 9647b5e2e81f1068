"""Method "taps": stride 1, no column matrix at all; picked for thin groups.

The output is the sum over kernel taps of (C_out×C_in)·(C_in×pixels) GEMMs (per group) reading
shifted runs of the padded input in place. They are computed on the *wide* grid (see ``grid``),
which makes each tap's input one contiguous run of the flattened input.
"""

from __future__ import annotations

import numpy as np

from .geometry import ConvGeometry
from .grid import flat_runs, store, tap_offsets, unwide, wide_length
from .scratch import Scratch


def conv_taps(
    slab: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    geo: ConvGeometry,
    rows: int,
    dest: np.ndarray,
    scratch: Scratch,
) -> None:
    n = slab.shape[0]
    length = wide_length(geo, slab, rows)
    flat = flat_runs(slab)
    per_tap = np.ascontiguousarray(
        weight.reshape(geo.groups, geo.out_per_group, geo.in_per_group, geo.taps).transpose(3, 0, 1, 2)
    )
    grouped = (n, geo.groups, geo.out_per_group, length)
    wide = scratch.get("wide", grouped)
    product_ = scratch.get("product", grouped) if geo.taps > 1 else wide
    for tap, offset in enumerate(tap_offsets(geo, slab)):
        shifted = flat[:, :, offset : offset + length].reshape(n, geo.groups, geo.in_per_group, length)
        if tap == 0:
            np.matmul(per_tap[tap], shifted, out=wide)
        else:
            np.matmul(per_tap[tap], shifted, out=product_)
            np.add(wide, product_, out=wide)
    store(dest, unwide(wide.reshape(n, geo.out_channels, length), geo, slab, rows), bias)
