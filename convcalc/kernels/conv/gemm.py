"""Method "gemm": im2col then one GEMM per image and group. Any stride and dilation.

The column matrix is copied out of a strided sliding-window view of the padded input (through
the input's stride phases when strided, so that the copies read whole rows); the bias rides
along in the GEMM as an extra row of ones. A 1×1 conv with stride 1 multiplies the input itself.
"""

from __future__ import annotations

import math
from itertools import product

import numpy as np

from .geometry import ConvGeometry
from .grid import add_bias, strided
from .scratch import Scratch


def gemm_weight(weight: np.ndarray, bias: np.ndarray, geo: ConvGeometry) -> np.ndarray:
    """(groups, C_out/groups, C_in/groups·taps + 1): the weight with the bias as its last
    column, which the column matrix's row of ones multiplies. Made once per call (a prepared
    conv: once) into ``geo.prepared_weight`` where every chunk runs im2col (a copy of the
    weight per chunk was 0.5 ms for a 512→512 3×3 conv).

    >>> geo = ConvGeometry((1, 1, 4), (2, 1, 2), (1,), ((0, 0),), (1,), 1)
    >>> gemm_weight(np.ones((2, 1, 2)), np.array([5.0, 6.0]), geo).tolist()
    [[[1.0, 1.0, 5.0], [1.0, 1.0, 6.0]]]
    """
    weights = weight.reshape(geo.groups, geo.out_per_group, geo.in_per_group * geo.taps)
    return np.concatenate((weights, bias.reshape(geo.groups, geo.out_per_group, 1)), axis=2)


def conv_gemm(
    slab: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    geo: ConvGeometry,
    rows: int,
    dest: np.ndarray,
    scratch: Scratch,
) -> None:
    n = slab.shape[0]
    sizes = (rows,) + geo.out_spatial[1:]
    pixels = math.prod(sizes)
    weights = weight.reshape(geo.groups, geo.out_per_group, geo.in_per_group * geo.taps)
    if geo.taps == 1 and all(s == 1 for s in geo.stride) and slab.flags.c_contiguous:
        cols = slab.reshape(n, geo.groups, geo.in_per_group, pixels)  # 1×1 conv: x is im2col
    else:
        # The bias rides along in the GEMM: a row of ones in the columns, a column in the weights.
        depth = geo.in_per_group * geo.taps + (bias is not None)
        cols = scratch.get("cols", (n, geo.groups, depth, pixels))
        # Views only (a reshape that merged the group and channel axes would copy).
        taps_part = cols[:, :, : geo.in_per_group * geo.taps].reshape(
            n, geo.groups, geo.in_per_group, *geo.kernel, *sizes
        )
        grouped_slab = slab.reshape(n, geo.groups, geo.in_per_group, *slab.shape[2:])
        _im2col(grouped_slab, geo, sizes, taps_part, scratch)
        if bias is not None:
            cols[:, :, -1] = 1
            weights = geo.prepared_weight
            if weights is None:
                weights = gemm_weight(weight, bias, geo)
            bias = None
    grouped = (n, geo.groups, geo.out_per_group, pixels)
    if dest.flags.c_contiguous:
        np.matmul(weights, cols, out=dest.reshape(grouped))
    else:
        result = np.matmul(weights, cols, out=scratch.get("result", grouped))
        np.copyto(dest, result.reshape(dest.shape))
    add_bias(dest, bias)


def _im2col(slab: np.ndarray, geo: ConvGeometry, sizes: tuple[int, ...], cols: np.ndarray, scratch: Scratch) -> None:
    """cols[..., tap..., pixel...] = slab[..., stride·pixel + dilation·tap], leading axes as is.

    With a stride, the slab is first split into its stride phases (one copy of the input), so
    that each tap's copy reads whole contiguous rows instead of every s-th element.
    """
    nd = geo.nd
    lead = slab.shape[:-nd]
    everything = (slice(None),) * len(lead)
    strides = slab.strides[-nd:]
    if all(s == 1 for s in geo.stride) or geo.taps == 1:  # phases pay off when taps share them
        window = strided(
            slab,
            (*lead, *geo.kernel, *sizes),
            (
                *slab.strides[:-nd],
                *(d * st for d, st in zip(geo.dilation, strides)),
                *(s * st for s, st in zip(geo.stride, strides)),
            ),
        )
        np.copyto(cols, window)
        return
    extents = [-(-e // s) for e, s in zip(slab.shape[-nd:], geo.stride)]
    phases = scratch.get("phases", (math.prod(geo.stride), *lead, *extents))
    phase_index = {phase: i for i, phase in enumerate(product(*map(range, geo.stride)))}
    filled = set()
    for tap in product(*map(range, geo.kernel)):
        reach = [t * d for t, d in zip(tap, geo.dilation)]
        phase = tuple(r % s for r, s in zip(reach, geo.stride))
        plane = phases[phase_index[phase]]
        if phase not in filled:
            part = slab[(*everything, *(slice(p, None, s) for p, s in zip(phase, geo.stride)))]
            np.copyto(plane[(*everything, *(slice(0, e) for e in part.shape[-nd:]))], part)
            filled.add(phase)
        start = [r // s for r, s in zip(reach, geo.stride)]
        np.copyto(
            cols[(*everything, *tap)],
            plane[(*everything, *(slice(a, a + o) for a, o in zip(start, sizes)))],
        )
