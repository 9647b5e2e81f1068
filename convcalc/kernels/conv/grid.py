"""How the methods address a padded slab and write their results.

The stride-1 methods ("rows", "taps", and "depthwise" on a stride's phases) read each kernel
tap as one contiguous run of the flattened slab (``flat_runs``, ``tap_offsets``) and so
compute on the *wide* grid: every column of the padded input's rows, the few past the last
valid column dropped at the end (``unwide``).
Every method then writes its chunk of the output with the bias (``store``, ``add_bias``).

Zero padding that keeps every dim but the first ("same") lets "rows" and "depthwise" compute on
the *narrow* grid instead, the input's own, with no padded copy: a tap's shift then makes the
pixels near an edge read the neighbouring row's pixels instead of padding, and the values that
cross an edge are zeroed (``narrow_fits``, ``narrow_taps``).
"""

from __future__ import annotations

import functools
import math
from itertools import product
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from .geometry import ConvGeometry


def tap_offsets(geo: ConvGeometry, slab: np.ndarray) -> list[int]:
    """Element offset of each kernel tap in the flattened slab, taps in weight order."""
    steps = tuple(d * st // slab.itemsize for d, st in zip(geo.dilation, slab.strides[2:]))
    return _offsets(geo.kernel, steps)


@functools.lru_cache(maxsize=64)
def _offsets(kernel: tuple[int, ...], steps: tuple[int, ...]) -> list[int]:
    # Cached: every chunk of a call asks again, and a 3-D kernel has many taps.
    return [sum(t * step for t, step in zip(tap, steps)) for tap in product(*map(range, kernel))]


def wide_length(geo: ConvGeometry, slab: np.ndarray, rows: int) -> int:
    """Length of the wide output: from the first output pixel to the last, in slab strides."""
    sizes = (rows,) + geo.out_spatial[1:]
    return 1 + sum((o - 1) * st // slab.itemsize for o, st in zip(sizes, slab.strides[2:]))


def strided(a: np.ndarray, shape: tuple[int, ...], strides: tuple[int, ...], start: int = 0) -> np.ndarray:
    """``as_strided(a[..., start:], shape, strides)``. For a C-contiguous ``a`` (scratch, most
    inputs) the view is made on its buffer instead, 4× cheaper (3.7 → 0.9 µs: a small conv
    makes several a call), and NumPy checks that it stays inside ``a``.

    >>> strided(np.arange(6.0), (2, 3), (8, 8), 1).tolist()
    [[1.0, 2.0, 3.0], [2.0, 3.0, 4.0]]
    """
    if a.flags.c_contiguous:
        return np.ndarray(shape, a.dtype, buffer=a, offset=start * a.itemsize, strides=strides)
    return as_strided(a[..., start:] if start else a, shape, strides)


def flat_runs(slab: np.ndarray) -> np.ndarray:
    """(n, C, L) view of a slab whose spatial block is C-contiguous (rows may be a slice)."""
    n, channels = slab.shape[:2]
    length = math.prod(slab.shape[2:])
    return strided(slab, (n, channels, length), (slab.strides[0], slab.strides[1], slab.itemsize))


def unwide(wide: np.ndarray, geo: ConvGeometry, slab: np.ndarray, rows: int, start: int = 0) -> np.ndarray:
    """The valid outputs (n, C_out, rows, *out[1:]) as a strided view of the wide output
    ((n, C_out, length), the first output pixel ``start`` elements into each channel's run)."""
    n, channels = wide.shape[0], wide.shape[1]
    item = wide.itemsize
    pixel_strides = tuple(st // slab.itemsize * item for st in slab.strides[2:])
    return strided(wide, (n, channels, rows, *geo.out_spatial[1:]), (wide.strides[0], wide.strides[1], *pixel_strides),
                   start)


def add_bias(dest: np.ndarray, bias: np.ndarray | None) -> None:
    """dest += bias per channel (axis 1), when there is one."""
    if bias is not None:
        np.add(dest, bias.reshape((-1,) + (1,) * (dest.ndim - 2)), out=dest)


def store(dest: np.ndarray, result: np.ndarray, bias: np.ndarray | None) -> None:
    """dest = result (+ bias per channel, in the same pass)."""
    if bias is None:
        np.copyto(dest, result)
    else:
        np.add(result, bias.reshape((-1,) + (1,) * (dest.ndim - 2)), out=dest)


def narrow_fits(geo: ConvGeometry) -> bool:
    """Whether every dim but the first keeps its size and its shifts stay within one slice of
    the first dim (the narrow grid's slack).

    >>> same = ConvGeometry((1, 1, 5, 5), (1, 1, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    >>> valid = ConvGeometry((1, 1, 5, 5), (1, 1, 3, 3), (1, 1), ((0, 0), (0, 0)), (1, 1), 1)
    >>> narrow_fits(same), narrow_fits(valid)
    (True, False)
    """
    other = geo.spatial[1:]
    if geo.out_spatial[1:] != other:
        return False
    reach = sum(max(left, right) * math.prod(other[d + 1 :]) for d, (left, right) in enumerate(geo.pads[1:]))
    return reach <= math.prod(other)


def narrow_shifts(
    kernel: tuple[int, ...], dilation: tuple[int, ...], pads: tuple[tuple[int, int], ...]
) -> tuple[tuple[int, ...], ...]:
    """Per tap of the dims after the first (weight order; their kernel, dilation and pads
    given): how far, along each of those dims, the input it reads lies from the output pixel
    on the narrow grid (negative: before it).

    >>> narrow_shifts((3,), (1,), ((1, 1),))
    ((-1,), (0,), (1,))
    """
    return tuple(
        tuple(t * dil - left for t, dil, (left, _) in zip(taps, dilation, pads))
        for taps in product(*map(range, kernel))
    )


class NarrowTap(NamedTuple):
    """One tap of the dims after the first, on the narrow grid."""

    edges: tuple[tuple[slice, ...], ...]  # index (from the grid's row dim on) of each band to zero
    start: int  # where the tap's term starts on the flat grid


@functools.lru_cache(maxsize=64)
def narrow_taps(
    other: tuple[int, ...], kernel: tuple[int, ...], dilation: tuple[int, ...], pads: tuple[tuple[int, int], ...]
) -> tuple[NarrowTap, ...]:
    """Per tap of the dims after the first (sizes ``other``): the edge bands whose sums would
    cross an edge, and where its term starts. Cached: every chunk of every call of this
    geometry asks again.

    >>> narrow_taps((4,), (3,), (1,), ((1, 1),))[0]
    NarrowTap(edges=((slice(None, None, None), slice(3, 4, None)),), start=3)
    """
    steps = [math.prod(other[d + 1 :]) for d in range(len(other))]
    taps = []
    for shifts in narrow_shifts(kernel, dilation, pads):
        edges = []
        for axis, (shift, size) in enumerate(zip(shifts, other)):
            if shift:
                band = slice(0, min(shift, size)) if shift > 0 else slice(max(size + shift, 0), size)
                edges.append((slice(None),) * (axis + 1) + (band,))
        start = math.prod(other) + sum(shift * step for shift, step in zip(shifts, steps))
        taps.append(NarrowTap(tuple(edges), start))
    return tuple(taps)
