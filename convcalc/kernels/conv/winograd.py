"""Method "winograd" (on request only; see ``dispatch.choose_method``): kernels of size 3 in
every dim, stride 1, no dilation.

Winograd's minimal filtering F(2, 3) per dim (Lavin & Gray, 2016): tiles of 4 input pixels per
dim make 2 output pixels per dim with 4/9 (2-D) or 8/27 (3-D) of the multiplications, all in one
GEMM per tile value; the input and output transforms are whole-array additions, one dim at a
time. ``winograd_weight`` transforms the weight once per call.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .geometry import ConvGeometry
from .grid import add_bias
from .scratch import Scratch

# Winograd F(2, 3): Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A per dim; the transforms' entries are 0, ±1, ±½,
# so they add no rounding of their own beyond the sums.
_WINOGRAD_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
_WINOGRAD_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
_WINOGRAD_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)


def winograd_fits(geo: ConvGeometry) -> bool:
    return all(k == 3 for k in geo.kernel) and all(s == 1 for s in geo.stride) and all(
        d == 1 for d in geo.dilation
    )


def _transform_axis(matrix: np.ndarray, source: np.ndarray, out: np.ndarray) -> None:
    """``out[i] = Σ_j matrix[i, j] · source[j]`` along axis 0, for entries 0 and ±1 (Bᵀ, Aᵀ)."""
    for i, row in enumerate(matrix):
        plus = [source[j] for j in np.flatnonzero(row > 0)]
        minus = [source[j] for j in np.flatnonzero(row < 0)]
        target = out[i]
        first = plus.pop(0)  # every row of Bᵀ and Aᵀ has a positive entry
        if plus:
            np.add(first, plus.pop(0), out=target)
        elif minus:
            np.subtract(first, minus.pop(0), out=target)
        else:
            np.copyto(target, first)
        for term in plus:
            np.add(target, term, out=target)
        for term in minus:
            np.subtract(target, term, out=target)


def winograd_weight(weight: np.ndarray, geo: ConvGeometry) -> np.ndarray:
    """(G, 4^nd, C_out/g, C_in/g): every weight slice transformed to the tile domain (G g Gᵀ)."""
    transform = _WINOGRAD_G
    for _ in range(geo.nd - 1):
        transform = np.kron(transform, _WINOGRAD_G)
    # Taps first (one transposing copy), then one GEMM: BLAS is slow on the transposed view.
    taps_first = np.ascontiguousarray(weight.reshape(geo.out_channels * geo.in_per_group, geo.taps).T)
    product_ = transform.astype(weight.dtype) @ taps_first
    # Groups first, as every prepared weight is, so that conv_nd slices a chunk's groups alike;
    # conv_winograd swaps the axes back (a view) for its per-tile-value GEMMs.
    return product_.reshape(4**geo.nd, geo.groups, geo.out_per_group, geo.in_per_group).swapaxes(0, 1)


def _tile_view(a: np.ndarray, axis: int) -> np.ndarray:
    """``a`` with dim ``axis`` (size 2·T + 2) cut into T overlapping tiles of 4: a new axis 0 of
    size 4 for the position in the tile, and dim ``axis`` (shifted by one) counting tiles."""
    tiles = (a.shape[axis] - 2) // 2
    shape = (4,) + a.shape[:axis] + (tiles,) + a.shape[axis + 1 :]
    strides = (a.strides[axis],) + a.strides[:axis] + (2 * a.strides[axis],) + a.strides[axis + 1 :]
    return as_strided(a, shape, strides)


def conv_winograd(
    slab: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    geo: ConvGeometry,
    rows: int,
    dest: np.ndarray,
    scratch: Scratch,
) -> None:
    n, nd = slab.shape[0], geo.nd
    sizes = (rows,) + geo.out_spatial[1:]
    tiles = tuple(-(-o // 2) for o in sizes)
    count, values = math.prod(tiles), 4**nd
    # Input transform Bᵀ d B, one spatial dim at a time: (C, n, E₀, …) becomes
    # (4, …, 4, C, n, T₀, …). Dims not yet transformed stay whole rows, so the passes stream
    # through contiguous memory; images sit next to the tiles so that one GEMM per tile value
    # covers the whole chunk.
    current = slab.swapaxes(0, 1)
    for axis in range(nd):
        tiled = _tile_view(current, 2 * axis + 2)  # axes: e_axis, e₀…, C, n, T₀…T_axis, E_axis+1…
        result = scratch.get(f"in{axis % 2}", (4,) * (axis + 1) + tiled.shape[axis + 1 :])
        _transform_axis(_WINOGRAD_BT, tiled, np.moveaxis(result, axis, 0))
        current = result
    columns = current.reshape(values, geo.groups, geo.in_per_group, n * count)
    products = scratch.get("product", (values, geo.groups, geo.out_per_group, n * count))
    np.matmul(geo.prepared_weight.swapaxes(0, 1), columns, out=products)
    # Output transform Aᵀ m A, last dim first: each pass writes its two outputs per tile
    # interleaved (output η of tile t at 2t + η), the final pass straight into the destination.
    current = products.reshape((4,) * nd + (geo.out_channels, n) + tiles)
    for axis in reversed(range(nd)):
        moved = np.moveaxis(current, axis, 0)  # (4, ξ₀…, C, n, T₀…T_axis, 2T_axis+1…)
        spot = 2 * axis + 2  # where T_axis sits in moved[j]
        if axis == 0:
            target = dest.swapaxes(0, 1)  # (C, n, O₀, O₁, …)
            moved = moved[(Ellipsis, *(slice(0, o) for o in sizes[1:]))]
        else:
            rest = moved.shape[1:]
            target = scratch.get(f"out{axis % 2}", rest[:spot] + (2 * tiles[axis],) + rest[spot + 1 :])
        for parity in range(2):
            outputs = target[(slice(None),) * spot + (slice(parity, None, 2),)]
            used = moved[(slice(None),) * (spot + 1) + (slice(0, outputs.shape[spot]),)]
            _transform_axis(_WINOGRAD_AT[parity : parity + 1], used, outputs[None])
        current = target
    add_bias(dest, bias)
