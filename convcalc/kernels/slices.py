"""Normalisations and softmaxes over independent slices, in NumPy: instance, group, layer and
RMS norm (a sample's channel plane, channel group or trailing dims), softmax and log-softmax (the
values along one dim). Each slice is reduced and rescaled on its own, so ranges of slices run
side by side on the thread pool. A slice norm picks its arithmetic (below) for a block of
slices at a time, so a slice's last bits can depend on the slices it is blocked with.

The slice norms scale and shift in the input's float type (float32 for float16) and add up
their statistics in float64, a run of values at a time (:func:`row_sums`); a slice whose mean
is far from 0 next to its spread is centred first.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from ._common import row_buffering, silent
from .threads import parallel_map, parallel_spans

# Bytes read and written per input byte, the work parallel_spans weighs: a slice norm reads
# twice for its statistics, then scales and shifts (1 to 4 passes, each reading and writing);
# a softmax makes four passes (max, shift, exp and sum, divide), each reading and writing.
_NORMALISE_TRAFFIC = 8
_SOFTMAX_TRAFFIC = 8
# A slice norm's chunk makes a dozen NumPy calls a block, each waiting for the GIL as it
# returns: handed to another thread, it pays its way only from 8 MiB of input (64 times the
# least work). GroupNorm on 1, 4 and 16 images of 256×56², 2 threads against 1 on the 2-core
# development VM: 0.69×, 0.92× and 1.04× the speed in chunks of 0.8, 3.2 and 12.8 MiB.
_NORMALISE_LEAST_TIMES = 64
# Input bytes a thread normalises (or softmaxes) at a time: the block stays in the shared L3
# cache between its passes, and the few dozen small NumPy calls a block makes stay a small
# part of its time. One thread, 2 and 8 MiB blocks, interleaved: a 256×56² group norm with 32
# groups 0.63 and 0.55-0.57 ms, a layer norm over 8×197 rows of 768 1.27-1.30 and 1.07-1.09
# (both one block at 8 MiB); 1 MiB blocks were slower still.
_BLOCK_BYTES = 1 << 23
# Values a single BLAS call adds in the input's float type before float64 takes over: runs of
# 128 to 511 float32 values lose a few roundings (2,047 equal values, 4 rows a call: 0 to
# 1.7e-7 of their sum in runs of 256, 1.4e-6 to 3.5e-6 in one run; whole 316² planes 1e-4).
_RUN = 256
# Blocks whose rows' |mean| is at most this many standard deviations are normalised as x·a + b
# straight from the input (the variance as E[x²] − mean² then keeps a fifth of its sums'
# precision or more, and x·a rounds within a few ε of the result, as in torch); other blocks
# are centred first, two passes more, so that a spread of 0.1 about a mean of 5 stays exact.
_WELL_CENTRED = 2.0
# A softmax block's largest value up to which its rows' exps are taken unshifted, and the least
# sum of a row's exps that keeps the block's shift for the row (see _softmax_rows).
_UNSHIFTED_TOP = 80.0
_SHARED_SHIFT_FLOOR = math.exp(-30.0)
# Values an inner loop of a per-position scale or shift runs over at least (see _Positions).
_JOINED_LENGTH = 6144


@functools.lru_cache(maxsize=256)
def _run_length(length: int) -> int:
    """A run length that divides ``length`` (so that the runs are one reshape), 128 to 511
    values, or ``_RUN`` where none does (the values past the last run are added on their own).

    >>> _run_length(25088), _run_length(768), _run_length(10007)
    (448, 384, 256)
    """
    if length < 2 * _RUN:
        return max(length, 1)
    return next((run for run in range(2 * _RUN - 1, _RUN // 2 - 1, -1) if length % run == 0), _RUN)


@functools.lru_cache(maxsize=64)
def _ones(length: int, dtype: np.dtype) -> np.ndarray:
    """A read-only vector of ``length`` ones (the run sums' other operand, made once)."""
    ones = np.ones(length, dtype)
    ones.flags.writeable = False
    return ones


def row_sums(rows: np.ndarray, *, squared: bool = False, exact: bool = False) -> np.ndarray:
    """Each row's sum (of squares with ``squared``) of a 2-D float ``rows``, in float64: BLAS
    adds a run of values (``_run_length``) at a time in the rows' dtype; ``exact`` squares and
    adds in float64 instead (3× slower).

    >>> row_sums(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32), squared=True)
    array([ 5., 25.])
    """
    count, length = rows.shape
    if exact:
        wide = rows.astype(np.float64)
        return np.vecdot(wide, wide) if squared else wide.sum(axis=1)
    run = _run_length(length)
    whole = length - length % run
    cut = rows[:, :whole].reshape(count, whole // run, run)
    # a BLAS dot product a run: matrix-vector products from two threads at once waited on each
    # other inside OpenBLAS at one BLAS thread (a layer norm at 2 threads: 2.0 ms, 1.06 so)
    partial = np.vecdot(cut, cut if squared else _ones(run, rows.dtype))
    sums = partial.sum(axis=1, dtype=np.float64)
    if whole < length:
        rest = rows[:, whole:]
        sums += np.add.reduce(np.square(rest) if squared else rest, axis=1, dtype=np.float64)
    return sums


def normalise(x: np.ndarray, axes: tuple[int, ...], eps: float) -> np.ndarray:
    """``(x − mean)/√(var + ε)`` over ``axes`` (biased variance), computed in float64 and
    returned in ``x``'s dtype. One float64 buffer holds x − mean and then the result: fewer
    large temporaries to allocate and fault in.

    >>> normalise(np.array([[1.0, 3.0]]), (1,), 0.0)
    array([[-1.,  1.]])
    """
    with silent():
        mean = x.mean(axis=axes, keepdims=True, dtype=np.float64)
        centred = np.subtract(x, mean)
        var = np.mean(np.square(centred), axis=axes, keepdims=True)
        np.divide(centred, np.sqrt(var + eps), out=centred)
    return centred.astype(x.dtype, copy=False)


def apply_affine(y: np.ndarray, weight, bias, shape: Sequence[int]) -> np.ndarray:
    """``y·weight + bias`` in ``y``'s dtype, each reshaped to ``shape`` (None: left out).

    >>> apply_affine(np.array([[1.0, 2.0]]), [2.0, 3.0], None, (1, 2))
    array([[2., 6.]])
    """
    with silent():
        if weight is not None:
            y = y * np.asarray(weight, dtype=y.dtype).reshape(shape)
        if bias is not None:
            y = y + np.asarray(bias, dtype=y.dtype).reshape(shape)
    return y


class _Positions:
    """Values one per position of a slice, the same for every slice (a layer norm's weight or
    bias), in the block's dtype, repeated ``joined`` times once per call: NumPy pays for each
    inner loop, and a 768-long row made 1.7× the time of one ~6,000 long, so short slices are
    joined ``joined`` at a time against the repeated values (those past a multiple go alone).

    >>> block = np.ones((3, 2), np.float32)
    >>> _Positions([2.0, 3.0], 2, np.float32).apply(np.multiply, block)
    >>> block.tolist()
    [[2.0, 3.0], [2.0, 3.0], [2.0, 3.0]]
    """

    def __init__(self, values, length: int, dtype) -> None:
        self.length = length
        self.values = np.asarray(values, dtype).reshape(1, length)
        self.joined = max(1, _JOINED_LENGTH // max(1, length))
        self.repeated = np.tile(self.values.reshape(-1), self.joined)

    def apply(self, operation: np.ufunc, block: np.ndarray) -> None:
        """``operation(block, values)`` in place, the values along each slice of ``block``."""
        rows = block.reshape(len(block), -1)
        joined = min(len(rows), self.joined)
        whole = len(rows) - len(rows) % joined if joined > 1 else 0  # the rows joined into long ones
        if whole:
            long_rows = rows[:whole].reshape(-1, joined * self.length)
            operation(long_rows, self.repeated[: joined * self.length], out=long_rows)
        if whole < len(rows):
            operation(rows[whole:], self.values, out=rows[whole:])


class _Affine(NamedTuple):
    """A slice norm's weight and bias. ``per_slice(span)``: the float64 (weight, bias) of a span
    of slices, shaped to broadcast over them (each None where absent), joined into each slice's
    own scale and shift; ``per_position``: (weight, bias) the same for every slice, one value a
    position, applied after them (prepared once per call as ``_Positions``)."""

    per_slice: Callable[[slice], tuple] = lambda span: (None, None)
    per_position: tuple = (None, None)


def _normalised_slices(slices: np.ndarray, eps: float, affine: _Affine,
                       statistics: Callable[..., tuple] | None = None) -> np.ndarray:
    """Each of ``slices`` (the first dim) normalised over its other dims, then scaled and
    shifted by ``affine``. ``statistics`` (``_statistics``: mean and variance;
    ``_root_mean_square``) gives a block's source and per-slice scale and centre. Ranges of
    slices run side by side on the thread pool, each a block of slices at a time
    (``_BLOCK_BYTES``), so that a large input's block stays in cache through its passes."""
    statistics = statistics or _statistics
    work = np.float64 if slices.dtype == np.float64 else np.float32
    out = np.empty(slices.shape, work)
    length = math.prod(slices.shape[1:])
    rows, out_rows = slices.reshape(len(slices), length), out.reshape(len(slices), length)
    positions = [None if values is None else _Positions(values, length, work) for values in affine.per_position]
    spans = parallel_spans(len(slices), _NORMALISE_TRAFFIC * slices.nbytes, least_times=_NORMALISE_LEAST_TIMES)

    def normalise_span(span: slice) -> None:
        for block in _blocks(span, slices[:1].nbytes):
            source, scaling = statistics(rows[block].astype(work, copy=False), out_rows[block], eps)
            block_out = out[block]
            weight, bias = affine.per_slice(block)
            after = positions
            if block.stop - block.start == 1 and any(p is not None for p in positions):  # a lone slice's positions
                weight, bias = (None if p is None else p.values.astype(np.float64).reshape(block_out.shape)
                                for p in positions)  # join its scale and shift: one pass each
                after = [None, None]
            _scale_and_shift(source.reshape(block_out.shape), block_out, *scaling, weight, bias)
            for operation, values in zip((np.multiply, np.add), after):
                if values is not None:
                    values.apply(operation, block_out)

    with silent():
        # the sums are BLAS dot products of a run (at most 511 values), which BLAS never
        # splits over threads: BLAS's own thread count is left as it is (no gemm=True, whose
        # change of it and back cost a 2-thread softmax 1.07 → 0.88 ms on the development VM)
        parallel_map(normalise_span, spans)
    return out.astype(slices.dtype, copy=False)


def _blocks(span: slice, slice_bytes: int) -> list[slice]:
    """``span`` cut into consecutive blocks of ``_BLOCK_BYTES`` (one slice at least), each
    slice taking ``slice_bytes``.

    >>> _blocks(slice(2, 9), _BLOCK_BYTES // 3)
    [slice(2, 5, None), slice(5, 8, None), slice(8, 9, None)]
    """
    step = max(1, _BLOCK_BYTES // max(1, slice_bytes))
    return [slice(start, min(start + step, span.stop)) for start in range(span.start, span.stop, step)]


def _statistics(rows: np.ndarray, out: np.ndarray, eps: float) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """``(source, (inverse_std, mean))`` for 2-D ``rows``: ``(source − mean)·inverse_std`` is
    each row normalised (biased variance, statistics in float64). Where every row is
    ``_WELL_CENTRED`` the rows are their own source; otherwise each row less its mean is
    written into ``out``, the source, with a mean of 0."""
    length = rows.shape[1]
    mean = row_sums(rows) / length
    variance = row_sums(rows, squared=True) / length - mean * mean
    # NaN fails the first test; an infinite variance passes it and fails the second
    if eps >= 0 and (mean * mean - _WELL_CENTRED**2 * variance).max() <= 0 and variance.max() < np.inf:
        return rows, (1.0 / np.sqrt(variance + eps), mean)
    return out, (_centre_rows(rows, out, eps, mean), np.zeros_like(mean))


def _centre_rows(rows: np.ndarray, out: np.ndarray, eps: float, mean: np.ndarray) -> np.ndarray:
    """Writes each row of ``rows`` less its mean into ``out``; returns 1/√(var + ε) per row.

    ``mean`` (float64, from the rows' run sums) is an estimate, subtracted in ``out``'s dtype;
    what that left (read off the centred values, whose sums are free of the mean's size) is
    subtracted again where it moves a result by more than the dtype's resolution, so that
    values symmetric about the mean come out exactly symmetric, and left out below that (under
    an ulp of a result of 1): each row on its own, so that a NaN in one row leaves the others
    as they would be."""
    length = rows.shape[1]
    with row_buffering(length, rows.size):
        np.subtract(rows, mean.astype(out.dtype)[:, None], out=out)
    rest = row_sums(out) / length
    # var + ε has var's own relative error when ε ≥ 0; a negative ε cancels against var and
    # magnifies it (torch allows eps=-1), so then the squares are added in float64, as they
    # are where float32 squares overflow (values past 1e18)
    squares = _square_sums(out, exact=eps < 0)
    variance = np.maximum(squares / length - rest * rest, 0.0)
    inverse_std = 1.0 / np.sqrt(variance + eps)
    moved = np.abs(rest * inverse_std) > np.finfo(out.dtype).eps  # False for NaN
    if moved.any():
        with row_buffering(length, rows.size):
            np.subtract(out, np.where(moved, rest, 0.0).astype(out.dtype)[:, None], out=out)
    return inverse_std


def _square_sums(rows: np.ndarray, exact: bool = False) -> np.ndarray:
    """Each row's sum of squares (``row_sums``), added in float64 where the float32 squares
    overflow (values past ~1e18)."""
    squares = row_sums(rows, squared=True, exact=exact)
    if not exact and np.isposinf(squares).any():
        squares = row_sums(rows, squared=True, exact=True)
    return squares


def _root_mean_square(rows: np.ndarray, out: np.ndarray, eps: float) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """``(rows, (1/√(mean(x²) + eps), 0))``: RMS norm's scale per row, no centring (see
    ``_statistics`` for the form)."""
    inverse_rms = 1.0 / np.sqrt(_square_sums(rows) / rows.shape[1] + eps)
    return rows, (inverse_rms, np.zeros_like(inverse_rms))


def _scale_and_shift(source: np.ndarray, block: np.ndarray, inverse_std, mean, weight, bias) -> None:
    """``block = (source − mean)·inverse_std·weight + bias``, as ``source·a + b`` with one
    ``a`` and ``b`` per slice (the first dim): ``inverse_std`` and ``mean`` one per slice, the
    float64 ``weight`` and ``bias`` (None: left out) broadcasting against the block."""
    per_slice = (-1,) + (1,) * (block.ndim - 1)
    scale = inverse_std.reshape(per_slice)
    shift = -(mean * inverse_std).reshape(per_slice)
    if weight is not None:
        scale, shift = scale * weight, shift * weight
    if bias is not None:
        shift = shift + bias
    with row_buffering(block.shape[-1], block.size):  # one scale or shift per row of the last dim
        np.multiply(source, scale.astype(block.dtype), out=block)
        if shift.any():
            np.add(block, shift.astype(block.dtype), out=block)


def _every_slice(weight, bias) -> _Affine:
    return _Affine(per_position=(weight, bias))


def _by_slice(weight, bias, period: int, shape: tuple[int, ...]) -> _Affine:
    """(weight, bias) entries of the slices in a span, in float64 reshaped to ``shape``: slice
    ``i`` takes entry ``i % period``."""
    weight, bias = (None if values is None else np.asarray(values, np.float64) for values in (weight, bias))

    def pick(values, span: slice):
        return None if values is None else values[np.arange(span.start, span.stop) % period].reshape(shape)

    return _Affine(per_slice=lambda span: (pick(weight, span), pick(bias, span)))


def instance_planes(x: np.ndarray, weight=None, bias=None, eps: float = 1e-5) -> np.ndarray:
    """``F.instance_norm`` with the input's statistics: each (sample, channel) plane of an
    (N, C, *spatial) ``x`` normalised over its spatial dims, then scaled and shifted per channel.

    >>> instance_planes(np.array([[[1.0, 3.0], [2.0, 6.0]]]), bias=[0.0, 1.0], eps=0.0)
    array([[[-1.,  1.],
            [ 0.,  2.]]])
    """
    batch, channels = x.shape[:2]
    planes = x.reshape(batch * channels, math.prod(x.shape[2:]))
    out = _normalised_slices(planes, eps, _by_slice(weight, bias, channels, (-1, 1)))
    return out.reshape(x.shape)


def group_norm(x: np.ndarray, num_groups: int, weight=None, bias=None, eps: float = 1e-5) -> np.ndarray:
    """``F.group_norm``: channels split into groups, each normalised with its sample's values.

    >>> group_norm(np.array([[1.0, 3.0, 0.0, 2.0]]), 2, eps=0.0)
    array([[-1.,  1., -1.,  1.]])
    """
    batch, channels = x.shape[:2]
    per_group = channels // num_groups
    groups = x.reshape(batch * num_groups, per_group, math.prod(x.shape[2:]))

    def by_group(values):
        return None if values is None else np.asarray(values).reshape(num_groups, per_group)

    affine = _by_slice(by_group(weight), by_group(bias), num_groups, (-1, per_group, 1))
    return _normalised_slices(groups, eps, affine).reshape(x.shape)


def layer_norm(x: np.ndarray, normalized_shape: int | Sequence[int], weight=None, bias=None, eps: float = 1e-5) -> np.ndarray:
    """``F.layer_norm``: normalise over the trailing ``normalized_shape`` dims.

    >>> layer_norm(np.array([[1.0, 3.0], [2.0, 6.0]]), 2, eps=0.0)
    array([[-1.,  1.],
           [-1.,  1.]])
    """
    count = 1 if isinstance(normalized_shape, (int, np.integer)) else len(normalized_shape)
    trailing = x.shape[x.ndim - count :]
    rows = x.reshape(math.prod(x.shape[: x.ndim - count]), math.prod(trailing))
    return _normalised_slices(rows, eps, _every_slice(weight, bias)).reshape(x.shape)


def rms_norm(x: np.ndarray, count: int, weight=None, eps: float | None = None) -> np.ndarray:
    """``F.rms_norm`` over the last ``count`` dims: ``x / √(mean(x²) + eps) · weight``; ``eps``
    None is the machine epsilon of the type it computes in, as in torch (float32's for float16).
    Computed as the slice norms are (the mean square added in float64 by runs), ranges of rows
    side by side.

    >>> rms_norm(np.array([[3.0, -4.0]]), 1, eps=0.0).round(4)
    array([[ 0.8485, -1.1314]])
    """
    work = np.float64 if x.dtype == np.float64 else np.float32
    eps = float(np.finfo(work).eps if eps is None else eps)
    rows = x.reshape(-1, math.prod(x.shape[x.ndim - count :]))
    normalised = _normalised_slices(rows, eps, _every_slice(weight, None), _root_mean_square)
    return normalised.reshape(x.shape)


def _along(x: np.ndarray, dim: int, function: Callable[[np.ndarray, int], np.ndarray]) -> np.ndarray:
    """``function(x, dim)`` (independent along every other dim) on ranges of ``x`` side by
    side: ``x`` seen as (before, along, after) and cut along the longer of before and after.
    A softmax along the last dim of a float32 or float64 ``x`` goes by rows (_softmax_rows)."""
    if x.ndim == 0 or x.dtype.kind != "f":
        return function(x, dim)
    dim %= x.ndim
    if function is _softmax and dim == x.ndim - 1 and x.size and x.dtype in (np.float32, np.float64):
        return _softmax_rows(np.ascontiguousarray(x).reshape(-1, x.shape[-1])).reshape(x.shape)
    before, after = math.prod(x.shape[:dim]), math.prod(x.shape[dim + 1 :])
    spans = parallel_spans(max(before, after), _SOFTMAX_TRAFFIC * x.nbytes)
    if len(spans) == 1:
        return function(x, dim)
    lined = x.reshape(before, x.shape[dim], after)
    out = np.empty_like(lined)
    ahead = (slice(None), slice(None)) if after > before else ()

    def along_span(span: slice) -> None:
        out[ahead + (span,)] = function(lined[ahead + (span,)], 1)

    parallel_map(along_span, spans)
    return out.reshape(x.shape)


def _softmax_rows(rows: np.ndarray) -> np.ndarray:
    """Softmax of each row of a 2-D C-contiguous ``rows``: ranges of rows side by side on the
    thread pool, each ``_BLOCK_BYTES`` of rows at a time.

    A block of rows shares one shift: none where its largest value is at most
    ``_UNSHIFTED_TOP`` (no exp can overflow then, and each is rounded once), else that largest
    value. It serves every row whose exps then add up to ``_SHARED_SHIFT_FLOOR`` or more: the
    row's own largest is at most 30 + ln(row length) below the shift, so the exps near it stay
    normal floats (any that underflow are under 1e-17 of it), rounded within 40·ε/2 when
    shifted. Other rows (those far below, those whose exps add up past the largest float,
    those holding ±inf or NaN) are shifted by their own largest, as torch does. A shift per row
    costs NumPy an inner loop a row: 197-long rows of attention weights spent most of their
    time there (12 heads of 197 tokens, batch 8, one thread: 13.1 → 8.0 ms, 5.8 of it exps)."""
    out = np.empty_like(rows)

    def block_softmax(block: slice) -> None:
        part, top = out[block], rows[block].max()
        if top > _UNSHIFTED_TOP:
            np.subtract(rows[block], top, out=part)
            np.exp(part, out=part)
        else:
            np.exp(rows[block], out=part)
        sums = np.vecdot(part, np.ones(rows.shape[1], rows.dtype))
        own = np.flatnonzero(~((sums >= _SHARED_SHIFT_FLOOR) & (sums < np.inf)))
        if own.size:
            part[own] = _softmax(rows[block][own], 1)
            sums[own] = 1
        np.divide(part, sums[:, None], out=part)

    def span_rows(span: slice) -> None:
        for block in _blocks(span, rows[:1].nbytes):
            block_softmax(block)

    with silent():
        spans = parallel_spans(len(rows), _SOFTMAX_TRAFFIC * rows.nbytes)
        # a dot product a row: BLAS splits one over its threads only past ~10,000 values (then
        # it runs single-threaded in the pool's chunks, as a GEMM's does)
        parallel_map(span_rows, spans, gemm=len(spans) > 1 and rows.shape[1] > 8192)
    return out


def _softmax(x: np.ndarray, dim: int) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        shifted = x - np.max(x, axis=dim, keepdims=True)
        e = np.exp(shifted)
        return e / np.sum(e, axis=dim, keepdims=True)


def _log_softmax(x: np.ndarray, dim: int) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        shifted = x - np.max(x, axis=dim, keepdims=True)
        return shifted - np.log(np.sum(np.exp(shifted), axis=dim, keepdims=True))


def softmax(x: np.ndarray, dim: int) -> np.ndarray:
    """``F.softmax`` along ``dim``, shifted by the maximum so nothing overflows.

    The layers resolve torch's legacy ``dim=None`` before calling
    (:func:`convcalc.layers.softmax.implicit_softmax_dim`).

    >>> softmax(np.array([[0.0, 0.0], [1000.0, 1000.0]]), 1)
    array([[0.5, 0.5],
           [0.5, 0.5]])
    """
    return _along(x, dim, _softmax)


def log_softmax(x: np.ndarray, dim: int) -> np.ndarray:
    """``F.log_softmax`` along ``dim``: the shifted values less the log of their exps' sum.

    >>> log_softmax(np.array([0.0, 0.0]), 0).round(4)
    array([-0.6931, -0.6931])
    """
    return _along(x, dim, _log_softmax)
