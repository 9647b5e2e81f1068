"""Method "fma": depthwise convs (one input channel per group), any stride.

A loop over kernel taps of multiply-adds on the shifted slabs, no GEMM: on the *wide* grid
(see ``grid``) with stride 1, on strided views otherwise, in chunks of channels small enough to
stay in cache.
"""

from __future__ import annotations

from itertools import product

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .geometry import ConvGeometry
from .grid import flat_runs, store, tap_offsets, unwide, wide_length
from .scratch import Scratch


def conv_fma(
    slab: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    geo: ConvGeometry,
    rows: int,
    dest: np.ndarray,
    scratch: Scratch,
) -> None:
    """Depthwise: out[c·m + j] = Σ_taps w[c·m + j, tap] · shifted x[c], m = channel multiplier."""
    n = slab.shape[0]
    multiplier = geo.out_per_group
    per_tap = weight.reshape(geo.groups, multiplier, geo.taps)
    unit_stride = all(s == 1 for s in geo.stride)
    if unit_stride:
        length = wide_length(geo, slab, rows)
        flat = flat_runs(slab)
        pixel_shape: tuple[int, ...] = (length,)
        views = (
            flat[:, :, None, offset : offset + length] for offset in tap_offsets(geo, slab)
        )
    else:
        pixel_shape = (rows,) + geo.out_spatial[1:]
        strides = slab.strides[2:]
        views = (
            as_strided(
                slab[(slice(None), slice(None), *(slice(t * d, None) for t, d in zip(tap, geo.dilation)))],
                (n, geo.groups, 1, *pixel_shape),
                (slab.strides[0], slab.strides[1], 0, *(s * st for s, st in zip(geo.stride, strides))),
            )
            for tap in product(*map(range, geo.kernel))
        )
    acc_shape = (n, geo.groups, multiplier, *pixel_shape)
    acc = scratch.get("wide", acc_shape)
    product_ = scratch.get("product", acc_shape)
    weight_shape = (geo.groups, multiplier) + (1,) * len(pixel_shape)
    for tap, view in enumerate(views):
        w_tap = per_tap[:, :, tap].reshape(weight_shape)
        if tap == 0:
            np.multiply(view, w_tap, out=acc)
        else:
            np.multiply(view, w_tap, out=product_)
            np.add(acc, product_, out=acc)
    if unit_stride:
        store(dest, unwide(acc.reshape(n, geo.out_channels, pixel_shape[0]), geo, slab, rows), bias)
    else:
        store(dest, acc.reshape(dest.shape), bias)
