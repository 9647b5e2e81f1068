"""Pooling kernels: max, average, power-average, max-unpool and adaptive pooling, any spatial nd.

Inputs are batched ``(N, C, *spatial)`` arrays (any leading dims work: they are flattened into
planes, processed a cache-sized chunk at a time). Outputs keep the input's float dtype.

Every window reduction here is separable: the max (or sum) over a box is the max (or sum) over
one dim of the maxima (sums) over the others. Each dim is reduced in turn by a loop over its
kernel taps, each tap a strided view of the (padded) input, so a k×k window costs 2k vectorised
passes instead of k², and nothing loops over pixels or channels. Max-pool indices follow
torch's scan exactly (see ``_argmax_along``).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..arith import ConvRule, adaptive_window, avg_pool_cells
from ..errors import ConvcalcError
from ._common import as_planes, check_allocation, per_dim, plane_chunks
from .threads import on_blas_threads, parallel_map, parallel_spans

# Windows that tile a dim without overlap and are at least this long are reduced with one
# reshape + ufunc.reduce rather than a Python loop over their taps.
_RESHAPE_MIN_TAPS = 32


@dataclass(frozen=True)
class _Windows:
    """The pooling windows along one dim of an array padded for them.

    Regular windows: tap ``t`` of window ``o`` sits at position ``o·stride + t·dilation`` of the
    padded array, whose first ``pad_left`` cells are padding. Uneven (adaptive) windows list
    their positions: ``positions[t, o]``, a shorter window repeating its last position, with
    ``beyond[t, o]`` marking those repeats.
    """

    size: int
    count: int
    taps: int
    stride: int = 1
    dilation: int = 1
    pad_left: int = 0
    positions: np.ndarray | None = None
    beyond: np.ndarray | None = None

    @property
    def tiles(self) -> bool:
        """Windows are back to back without gaps or overlap (a reshape splits them out)."""
        return self.positions is None and self.dilation == 1 and self.stride == self.taps

    def tap(self, a: np.ndarray, axis: int, t: int) -> np.ndarray:
        if self.positions is not None:
            return np.take(a, self.positions[t], axis=axis, mode="clip")
        return a[self.tap_index(a.ndim, axis, t)]

    def tap_index(self, ndim: int, axis: int, t: int) -> tuple[slice, ...]:
        """The index of tap ``t`` of regular windows along ``axis`` of an ``ndim``-dim array."""
        start = t * self.dilation
        index = [slice(None)] * ndim
        index[axis] = slice(start, start + (self.count - 1) * self.stride + 1, self.stride)
        return tuple(index)

    def plain_taps(self, ndim: int, axis: int) -> list[tuple[slice, ...]] | None:
        """Every tap's index when ``_taps`` gives them as plain strided views (regular windows
        that need no regrouping), else None: a prepared pool works them out once."""
        if self.positions is not None or (axis == ndim - 1 and 1 < self.stride < self.taps):
            return None
        return [self.tap_index(ndim, axis, t) for t in range(self.taps)]

    def first_valid(self) -> np.ndarray:
        """Coordinate of each window's first tap inside the input: torch's initial max index."""
        if self.positions is not None:
            return self.positions[0]
        start = np.arange(self.count) * self.stride - self.pad_left
        skipped = np.where(start < 0, -(start // self.dilation), 0)  # ⌈−start/d⌉ taps of padding
        return start + skipped * self.dilation


def _taps(a: np.ndarray, axis: int, win: _Windows):
    """Every tap of the windows along ``axis``, in order.

    Along the innermost axis, a stride makes each tap a strided view, which NumPy walks about
    4× slower than a contiguous one. When windows overlap (more taps than the stride), the
    axis is first regrouped by position modulo the stride, one pass, after which each tap is
    a contiguous slice of one group.
    """
    s = win.stride
    if win.positions is not None or axis != a.ndim - 1 or s == 1 or win.taps <= s:
        for t in range(win.taps):
            yield win.tap(a, axis, t)
        return
    length = a.shape[axis]
    groups = np.empty(a.shape[:-1] + (s, -(-length // s)), dtype=a.dtype)
    for phase in range(s):  # the tail of a short group is never read: taps stay below length
        cells = a[..., phase::s]
        groups[..., phase, : cells.shape[-1]] = cells
    for t in range(win.taps):
        offset = t * win.dilation
        yield groups[..., offset % s, offset // s : offset // s + win.count]


def _pool_windows(sizes: Sequence[int], rules: Sequence[ConvRule]) -> list[_Windows]:
    return [
        _Windows(size, rule.out(size), rule.kernel, rule.stride, rule.dilation, rule.pad_left)
        for size, rule in zip(sizes, rules)
    ]


@functools.lru_cache(maxsize=256)
def _adaptive_windows(size: int, count: int) -> _Windows:
    if size % count == 0:
        return _Windows(size, count, size // count, stride=size // count)
    bounds = np.array([adaptive_window(i, size, count) for i in range(count)]).T
    starts, lengths = bounds[0], bounds[1] - bounds[0]
    taps = np.arange(int(lengths.max()))[:, None]
    positions = starts + np.minimum(taps, lengths - 1)
    beyond = taps >= lengths
    positions.flags.writeable = beyond.flags.writeable = False
    return _Windows(size, count, len(taps), positions=positions, beyond=beyond)


def _padded_extent(win: _Windows) -> tuple[int, int]:
    """Cells of padding the windows reach before and after the input along their dim."""
    if win.positions is not None:
        return 0, 0
    reach = (win.count - 1) * win.stride + (win.taps - 1) * win.dilation + 1
    return win.pad_left, max(0, reach - win.pad_left - win.size)


class _PaddedBlocks:
    """Chunks of planes copied into a buffer whose border holds ``fill``: the windows' padding.

    The buffer is filled once and only its interior is overwritten per chunk.
    """

    def __init__(self, planes: np.ndarray, windows: Sequence[_Windows], fill: float):
        self.planes = planes
        extents = [_padded_extent(win) for win in windows]
        self.needed = any(before or after for before, after in extents)
        padded = tuple(before + win.size + after for (before, after), win in zip(extents, windows))
        self.chunks = list(plane_chunks(len(planes), math.prod(padded) * planes.itemsize))
        self.buffer = None
        if self.needed:
            rows = self.chunks[0].stop - self.chunks[0].start
            check_allocation(rows * math.prod(padded) * planes.itemsize, "the pool's padded planes")
            self.buffer = np.full((rows, *padded), fill, dtype=planes.dtype)
            self.interior = tuple(slice(before, before + win.size) for (before, _), win in zip(extents, windows))

    def __iter__(self):
        for chunk in self.chunks:
            block = self.planes[chunk]
            if self.buffer is not None:
                padded = self.buffer[: len(block)]
                padded[(slice(None), *self.interior)] = block
                block = padded
            yield chunk, block


def _reduce_along(
    a: np.ndarray, axis: int, win: _Windows, ufunc: np.ufunc, out: np.ndarray | None = None,
    index: list[tuple[slice, ...]] | None = None,
) -> np.ndarray:
    """``ufunc``-reduce every window of ``win`` along ``axis`` (``index``: the taps'
    ``plain_taps``, when worked out already)."""
    if win.tiles and win.taps >= _RESHAPE_MIN_TAPS:
        index = [slice(None)] * a.ndim
        index[axis] = slice(0, win.count * win.taps)
        split = a[tuple(index)].reshape(a.shape[:axis] + (win.count, win.taps) + a.shape[axis + 1 :])
        return ufunc.reduce(split, axis=axis + 1, out=out)
    masked = ufunc is np.add and win.beyond is not None
    taps = _taps(a, axis, win) if index is None else (a[tap] for tap in index)
    result = next(taps)
    if win.taps == 1:
        if out is None:
            return result.copy()
        out[...] = result
        return out
    for t, tap in enumerate(taps, start=1):
        if masked and win.beyond[t].any():
            # a repeated position stands in for a tap past a short window's end: add 0 there
            shape = [1] * a.ndim
            shape[axis] = win.count
            tap = np.where(win.beyond[t].reshape(shape), 0, tap)
        result = ufunc(result, tap, out=out if t == 1 else result)
    return result


class _WindowReduction:
    """Every window of ``(planes, *spatial)`` arrays of one shape reduced with ``ufunc``, the
    padding holding ``fill``; returns ``(planes, *out)``. What does not depend on the values
    is worked out once, so that a prepared pool (a network's plan) pays only the passes.
    Ranges of planes run side by side on the thread pool when there is enough work."""

    def __init__(self, planes: int, windows: Sequence[_Windows], ufunc: np.ufunc, fill: float, itemsize: int):
        self.planes, self.windows, self.ufunc, self.fill = planes, list(windows), ufunc, fill
        self.out_tail = tuple(win.count for win in windows)
        cells = math.prod(win.size for win in windows)
        self.work = planes * (cells + math.prod(self.out_tail)) * itemsize
        self.padded = any(before or after for before, after in map(_padded_extent, windows))
        # Unpadded planes that make one chunk are reduced as they are: no blocks to cut.
        self.whole = not self.padded and len(list(plane_chunks(planes, cells * itemsize))) == 1
        self.taps = [win.plain_taps(len(self.windows) + 1, dim + 1) for dim, win in enumerate(self.windows)]

    def __call__(self, planes: np.ndarray) -> np.ndarray:
        out = np.empty((len(planes), *self.out_tail), dtype=planes.dtype)
        spans = parallel_spans(len(planes), self.work)
        if len(spans) == 1:
            self.reduce(planes, out)
        else:
            parallel_map(lambda span: self.reduce(planes[span], out[span]), spans)
        return out

    def reduce(self, planes: np.ndarray, out: np.ndarray) -> None:
        """``out`` = the reduction of ``planes``, one block of planes at a time."""
        # Outer dims first: their taps are whole rows, so only the smallest intermediate pays
        # for strided access along the innermost dim.
        whole = self.whole and len(planes) == self.planes
        blocks = [(slice(None), planes)] if whole else _PaddedBlocks(planes, self.windows, self.fill)
        last = len(self.windows) - 1
        with np.errstate(invalid="ignore", over="ignore"):  # inf − inf and overflow: as torch, silently
            for chunk, block in blocks:
                for dim, (win, taps) in enumerate(zip(self.windows, self.taps)):
                    block = _reduce_along(block, dim + 1, win, self.ufunc, out[chunk] if dim == last else None, taps)


def _reduce_windows(planes: np.ndarray, windows: Sequence[_Windows], ufunc: np.ufunc, fill: float) -> np.ndarray:
    """Reduce every window of every plane; padding holds ``fill``. Returns ``(planes, *out)``."""
    return _WindowReduction(len(planes), windows, ufunc, fill, planes.itemsize)(planes)


def _argmax_along(values: np.ndarray, index: np.ndarray | None, axis: int, win: _Windows, plane_stride: int, nan: bool):
    """Max of every window along ``axis`` and the flat input index torch reports for it.

    torch scans a window in order keeping ``if (v > best || isnan(v))``, starting from −inf
    at the window's first in-bounds position: the first maximum wins, the last NaN wins, and
    an all −inf window reports its first in-bounds position. Applying that scan dim by dim,
    innermost dim first, reproduces the full scan's choice. ``index`` holds the flat index
    already chosen along the inner dims (None before the first dim is reduced); ``nan`` says
    whether NaN can occur at all (if not, its test is skipped).

    The scan records only the winning tap number (one byte per output); positions and flat
    indices are worked out once at the end.
    """
    shape = [1] * values.ndim
    shape[axis] = win.count
    best_shape = values.shape[:axis] + (win.count,) + values.shape[axis + 1 :]
    best = np.full(best_shape, -np.inf, dtype=values.dtype)
    if win.positions is None:
        window_start = np.arange(win.count) * win.stride - win.pad_left
        first_tap = (win.first_valid() - window_start) // win.dilation
    else:
        first_tap = np.zeros(win.count, dtype=np.int64)
    tap_type = np.uint8 if win.taps <= 256 else np.int64
    best_tap = np.broadcast_to(first_tap.astype(tap_type).reshape(shape), best_shape).copy()
    better = np.empty(best_shape, dtype=bool)
    is_nan = np.empty(best_shape, dtype=bool) if nan else None
    stamp = np.empty(best_shape, dtype=tap_type)
    for t, tap in enumerate(_taps(values, axis, win)):
        np.greater(tap, best, out=better)
        if nan:
            better |= np.isnan(tap, out=is_nan)
        # where better, tap > best or tap is NaN: the NaN-propagating maximum is the new best
        np.maximum(best, tap, out=best)
        # taps only ever win after the first in-bounds one, so the latest winner is the
        # largest tap number marked: a max of t·better replaces a masked copy
        np.multiply(better, tap_type(t), out=stamp)
        np.maximum(best_tap, stamp, out=best_tap)
    if win.positions is None:
        position = (np.arange(win.count) * win.stride).reshape(shape) + best_tap.astype(np.int64) * win.dilation
    else:
        position = win.positions[best_tap, np.arange(win.count).reshape(shape)]
    flat = (position - win.pad_left) * plane_stride
    if index is not None:
        flat += np.take_along_axis(index, position, axis=axis)
    return best, flat


def _argmax_windows(planes: np.ndarray, windows: Sequence[_Windows]) -> tuple[np.ndarray, np.ndarray]:
    out_shape = (len(planes), *(win.count for win in windows))
    values = np.empty(out_shape, dtype=planes.dtype)
    indices = np.empty(out_shape, dtype=np.int64)
    sizes = [win.size for win in windows]

    def argmax_planes(span: slice) -> None:
        for chunk, block in _PaddedBlocks(planes[span], windows, -np.inf):
            nan = bool(np.isnan(planes[span][chunk]).any())
            index = None
            for dim in reversed(range(len(windows))):
                block, index = _argmax_along(block, index, dim + 1, windows[dim], math.prod(sizes[dim + 1 :]), nan)
            values[span][chunk], indices[span][chunk] = block, index

    parallel_map(argmax_planes, parallel_spans(len(planes), planes.nbytes + values.nbytes + indices.nbytes))
    return values, indices


def _pool_rules(nd, kernel, stride, padding, dilation, ceil_mode) -> list[ConvRule]:
    kernel = per_dim(kernel, nd, "kernel_size")
    no_stride = stride is None or (not isinstance(stride, (int, np.integer)) and len(stride) == 0)
    stride = kernel if no_stride else per_dim(stride, nd, "stride")  # torch: None or [] means kernel
    padding = per_dim(padding, nd, "padding")
    dilation = per_dim(dilation, nd, "dilation")
    return [
        ConvRule(kernel=k, stride=s, pad_left=p, pad_right=p, dilation=d, ceil_mode=bool(ceil_mode))
        for k, s, p, d in zip(kernel, stride, padding, dilation)
    ]


def _finish(x: np.ndarray, nd: int, planes_out: np.ndarray) -> np.ndarray:
    return planes_out.reshape(x.shape[: x.ndim - nd] + planes_out.shape[1:])


def max_pool_nd(
    x: np.ndarray,
    kernel: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """``F.max_pool{1,2,3}d``: padding is −inf; indices are flat per plane of the unpadded input.

    >>> x = np.arange(16.0).reshape(1, 1, 4, 4)
    >>> max_pool_nd(x, 2)[0, 0]
    array([[ 5.,  7.],
           [13., 15.]])
    >>> max_pool_nd(x, 3, stride=2, padding=1, return_indices=True)[1][0, 0]
    array([[ 5,  7],
           [13, 15]])
    """
    nd = x.ndim - 2
    rules = _pool_rules(nd, kernel, stride, padding, dilation, ceil_mode)
    windows = _pool_windows(x.shape[2:], rules)
    planes = as_planes(x, nd)
    if return_indices:
        values, indices = _argmax_windows(planes, windows)
        return _finish(x, nd, values), _finish(x, nd, indices)
    return _finish(x, nd, _reduce_windows(planes, windows, np.maximum, -np.inf))


def prepared_max_pool(
    shape: Sequence[int],
    dtype: np.dtype,
    kernel: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    ceil_mode: bool = False,
) -> Callable[[np.ndarray], np.ndarray]:
    """``lambda x: max_pool_nd(x, kernel, stride, padding, dilation, ceil_mode)`` for batched
    inputs of ``shape`` and ``dtype``, its windows worked out once (a network's plan calls it).

    >>> pool = prepared_max_pool((1, 1, 4, 4), np.dtype(np.float64), 2)
    >>> pool(np.arange(16.0).reshape(1, 1, 4, 4))[0, 0].tolist()
    [[5.0, 7.0], [13.0, 15.0]]
    """
    nd = len(shape) - 2
    windows = _pool_windows(tuple(shape[2:]), _pool_rules(nd, kernel, stride, padding, dilation, ceil_mode))
    planes_shape = (math.prod(shape[:2]), *shape[2:])
    reduction = _WindowReduction(planes_shape[0], windows, np.maximum, -np.inf, np.dtype(dtype).itemsize)
    out_shape = (*shape[:2], *reduction.out_tail)
    return lambda x: reduction(x.reshape(planes_shape)).reshape(out_shape)


def _avg_divisor(windows: Sequence[_Windows], rules: Sequence[ConvRule], count_include_pad: bool, dtype):
    """Per-output divisor of avg_pool: window cells inside input + padding, or inside input only.

    A ceil-mode window hanging past the right padding counts only up to the padding's end.
    """
    factors = [
        avg_pool_cells(np.arange(win.count) * win.stride - rule.pad_left, win.taps, win.size, rule.pad_right,
                       count_include_pad, np.minimum, np.maximum)
        for win, rule in zip(windows, rules)
    ]
    if all(np.all(f == f[0]) for f in factors):
        return dtype.type(math.prod(int(f[0]) for f in factors))
    divisor = functools.reduce(np.multiply.outer, factors)
    return np.maximum(divisor, 1).astype(dtype)


def avg_pool_nd(
    x: np.ndarray,
    kernel: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    padding: int | Sequence[int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> np.ndarray:
    """``F.avg_pool{1,2,3}d``: window sums (zero padding) over torch's divisor.

    >>> avg_pool_nd(np.arange(4.0).reshape(1, 1, 4), 2, padding=1, count_include_pad=False)
    array([[[0. , 1.5, 3. ]]])
    """
    nd = x.ndim - 2
    rules = _pool_rules(nd, kernel, stride, padding, 1, ceil_mode)
    windows = _pool_windows(x.shape[2:], rules)
    sums = _reduce_windows(as_planes(x, nd), windows, np.add, 0)
    if divisor_override:
        divisor = x.dtype.type(divisor_override)
    else:
        divisor = _avg_divisor(windows, rules, count_include_pad, x.dtype)
    np.divide(sums, divisor, out=sums)
    return _finish(x, nd, sums)


def lp_pool_nd(
    x: np.ndarray,
    norm_type: float,
    kernel: int | Sequence[int],
    stride: int | Sequence[int] | None = None,
    ceil_mode: bool = False,
) -> np.ndarray:
    """``F.lp_pool{1,2,3}d``, computed as torch does it: ``(avg_pool(x^p)·∏k)^(1/p)``.

    Like torch, a ceil-mode window cut short by the input's end is rescaled to the full kernel
    (its average times ∏k), and a negative sum keeps its sign before the root (NaN for even
    roots). ``norm_type`` ±inf is the max (min) of ``|x|``.

    >>> lp_pool_nd(np.array([[[3.0, 4.0]]]), 2, 2)
    array([[[5.]]])
    """
    nd = x.ndim - 2
    if norm_type == math.inf:
        return max_pool_nd(np.abs(x), kernel, stride, 0, 1, ceil_mode)
    if norm_type == -math.inf:
        return -max_pool_nd(-np.abs(x), kernel, stride, 0, 1, ceil_mode)
    kernel_cells = math.prod(per_dim(kernel, nd, "kernel_size"))
    power = float(norm_type)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        mean = avg_pool_nd(np.power(x, power), kernel, stride, 0, ceil_mode)
        total = np.sign(mean) * np.maximum(np.abs(mean), 0) * x.dtype.type(kernel_cells)
        return np.power(total, 1.0 / power)


def max_unpool_nd(x: np.ndarray, indices: np.ndarray, output_spatial: Sequence[int]) -> np.ndarray:
    """``F.max_unpool{1,2,3}d``: zeros with each value written at its flat per-plane index.

    Where indices repeat within a plane, the value written last in the input's order wins,
    as in torch's sequential scatter.

    >>> max_unpool_nd(np.array([[[5.0, 7.0]]]), np.array([[[1, 1]]]), (3,))
    array([[[0., 7., 0.]]])
    """
    output_spatial = tuple(int(n) for n in output_spatial)
    nd = len(output_spatial)
    plane_size = math.prod(output_spatial)
    lead = x.shape[: x.ndim - nd]
    values = x.reshape(math.prod(lead), -1)
    flat = np.asarray(indices).reshape(values.shape).astype(np.int64, copy=False)
    if flat.size and (flat.min() < 0 or flat.max() >= plane_size):
        bad = flat[(flat < 0) | (flat >= plane_size)].ravel()[0]
        raise ConvcalcError(
            f"max_unpool: index {bad} is outside the output plane of {plane_size} cells "
            f"{output_spatial}; indices must come from the matching max_pool with return_indices=True"
        )
    out = np.zeros((len(values), plane_size), dtype=x.dtype)
    for chunk in plane_chunks(len(values), plane_size * 8):
        rows = chunk.stop - chunk.start
        keys = (flat[chunk] + (np.arange(rows) * plane_size)[:, None]).ravel()
        # ufunc.at applies every update in turn (a fancy-index scatter promises no order), so
        # the largest input position per cell, the last writer, is recorded reliably
        writer = np.full(rows * plane_size, -1, dtype=np.intp)
        np.maximum.at(writer, keys, np.arange(keys.size))
        cells = np.flatnonzero(writer >= 0)
        out[chunk].reshape(-1)[cells] = values[chunk].reshape(-1)[writer[cells]]
    return out.reshape(lead + output_spatial)


def _adaptive_sizes(x: np.ndarray, output_size) -> tuple[int, ...]:
    nd = x.ndim - 2
    if isinstance(output_size, (int, np.integer)) or output_size is None:
        output_size = (output_size,) * nd
    if len(output_size) == 1:
        output_size = tuple(output_size) * nd
    return tuple(size if out is None else int(out) for size, out in zip(x.shape[2:], output_size))


@functools.lru_cache(maxsize=64)
def _ones(cells: int, dtype: np.dtype) -> np.ndarray:
    ones = np.ones(cells, dtype=dtype)
    ones.flags.writeable = False
    return ones


@on_blas_threads
def _plane_sums(planes: np.ndarray) -> np.ndarray:
    """Each row's sum of a (planes, cells) array, as one matrix-vector product with ones (an
    inf or NaN spreads exactly as in a plain sum) on BLAS's threads, which split its rows.
    Not on the pool: at 2 threads a 32×2048×7×7 global average took 0.25 ms this way, 0.56
    split over the pool (BLAS single-threaded in each range) and 0.52 on one thread."""
    with np.errstate(invalid="ignore", over="ignore"):
        return planes @ _ones(planes.shape[1], planes.dtype)


def adaptive_avg_pool_nd(x: np.ndarray, output_size) -> np.ndarray:
    """``F.adaptive_avg_pool{1,2,3}d``: means over windows ``⌊i·L/O⌋ .. ⌈(i+1)·L/O⌉``.

    ``output_size`` is an int or one entry per dim; None keeps that dim's size.

    >>> adaptive_avg_pool_nd(np.arange(5.0).reshape(1, 1, 5), 2)
    array([[[1., 3.]]])
    """
    nd = x.ndim - 2
    outs = _adaptive_sizes(x, output_size)
    lead = x.shape[:2]
    if 0 in outs:
        return np.zeros(lead + outs, dtype=x.dtype)
    planes = as_planes(x, nd)
    if all(out == 1 for out in outs):
        # global average: the sums as one BLAS matrix-vector product with ones (an inf or NaN
        # spreads exactly as in a plain sum), then one divide as torch does; weights of 1/cells
        # would round every product, leaving e.g. 5.6e-17 where torch's mean is exactly 0
        cells = math.prod(x.shape[2:])
        sums = _plane_sums(planes.reshape(len(planes), cells))
        np.divide(sums, x.dtype.type(cells), out=sums)
        return sums.reshape(lead + outs)
    windows = [_adaptive_windows(size, out) for size, out in zip(x.shape[2:], outs)]
    sums = _reduce_windows(planes, windows, np.add, 0)
    lengths = []
    for win in windows:
        if win.positions is None:
            lengths.append(np.full(win.count, win.taps))
        else:
            lengths.append((~win.beyond).sum(axis=0))
    np.divide(sums, functools.reduce(np.multiply.outer, lengths).astype(x.dtype), out=sums)
    return sums.reshape(lead + outs)


def adaptive_max_pool_nd(x: np.ndarray, output_size, return_indices: bool = False):
    """``F.adaptive_max_pool{1,2,3}d``, indices as max_pool's (flat per plane, torch's ties).

    >>> adaptive_max_pool_nd(np.array([[[1.0, 3.0, 3.0, 0.0, 2.0]]]), 2, return_indices=True)
    (array([[[3., 3.]]]), array([[[1, 2]]]))
    """
    nd = x.ndim - 2
    outs = _adaptive_sizes(x, output_size)
    lead = x.shape[:2]
    if 0 in outs:
        values = np.zeros(lead + outs, dtype=x.dtype)
        return (values, np.zeros(values.shape, dtype=np.int64)) if return_indices else values
    windows = [_adaptive_windows(size, out) for size, out in zip(x.shape[2:], outs)]
    planes = as_planes(x, nd)
    if return_indices:
        values, indices = _argmax_windows(planes, windows)
        return values.reshape(lead + outs), indices.reshape(lead + outs)
    return _reduce_windows(planes, windows, np.maximum, -np.inf).reshape(lead + outs)
