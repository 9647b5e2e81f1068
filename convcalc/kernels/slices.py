"""Normalisations and softmaxes over independent slices, in NumPy: instance, group and layer
norm (a sample's channel plane, channel group or trailing dims), softmax and log-softmax (the
values along one dim). Each slice is reduced and rescaled on its own, so ranges of slices run
side by side on the thread pool; a slice's numbers are the same whichever thread computes it.

Statistics accumulate in float64 and the result is cast back to the input's dtype.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from ._common import silent
from .threads import parallel_map, parallel_spans

# Bytes read and written per input byte, the work parallel_spans weighs: a normalisation makes
# about eight passes, half of them over float64 temporaries; a softmax four (max, shift, exp
# and sum, divide), each reading and writing.
_NORMALISE_TRAFFIC = 16
_SOFTMAX_TRAFFIC = 8
# Input bytes normalised at a time on one thread: large float64 temporaries are mmap-ed and
# page-faulted afresh on every call (a 64×112×112 instance norm at one thread: 7.2 ms as one
# block, 2.9 in 256 KiB blocks; an 8×197×768 layer norm 7.2 and 4.7).
_BLOCK_BYTES = 1 << 18


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


def _normalised_slices(slices: np.ndarray, eps: float, affine: Callable[[slice], tuple], shape) -> np.ndarray:
    """Each of ``slices`` (the first dim) normalised over its other dims, then scaled and
    shifted by ``affine(span)``'s (weight, bias) for those slices, reshaped to ``shape``.
    On one thread a few slices at a time (``_BLOCK_BYTES``), so that the float64 temporaries
    come from the heap and stay in cache; on several, ranges of slices side by side on the
    thread pool, each in one go (each NumPy call beside another thread waits for the GIL:
    64 KiB blocks made 2 threads 1.4-1.9× slower than one)."""
    out = np.empty(slices.shape, slices.dtype)
    axes = tuple(range(1, slices.ndim))
    spans = parallel_spans(len(slices), _NORMALISE_TRAFFIC * slices.nbytes)
    step = max(1, _BLOCK_BYTES // max(1, slices[:1].nbytes)) if len(spans) == 1 else len(slices)

    def normalise_span(span: slice) -> None:
        for start in range(span.start, span.stop, step):
            block = slice(start, min(start + step, span.stop))
            out[block] = apply_affine(normalise(slices[block], axes, eps), *affine(block), shape)

    parallel_map(normalise_span, spans)
    return out


def _every_slice(weight, bias) -> Callable[[slice], tuple]:
    return lambda span: (weight, bias)


def _by_slice(weight, bias, period: int) -> Callable[[slice], tuple]:
    """(weight, bias) entries of the slices in a span: slice ``i`` takes entry ``i % period``."""

    def pick(values, span: slice):
        return None if values is None else np.asarray(values)[np.arange(span.start, span.stop) % period]

    return lambda span: (pick(weight, span), pick(bias, span))


def instance_planes(x: np.ndarray, weight=None, bias=None, eps: float = 1e-5) -> np.ndarray:
    """``F.instance_norm`` with the input's statistics: each (sample, channel) plane of an
    (N, C, *spatial) ``x`` normalised over its spatial dims, then scaled and shifted per channel.

    >>> instance_planes(np.array([[[1.0, 3.0], [2.0, 6.0]]]), bias=[0.0, 1.0], eps=0.0)
    array([[[-1.,  1.],
            [ 0.,  2.]]])
    """
    batch, channels = x.shape[:2]
    planes = x.reshape(batch * channels, math.prod(x.shape[2:]))
    out = _normalised_slices(planes, eps, _by_slice(weight, bias, channels), (-1, 1))
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

    affine = _by_slice(by_group(weight), by_group(bias), num_groups)
    return _normalised_slices(groups, eps, affine, (-1, per_group, 1)).reshape(x.shape)


def layer_norm(x: np.ndarray, normalized_shape: int | Sequence[int], weight=None, bias=None, eps: float = 1e-5) -> np.ndarray:
    """``F.layer_norm``: normalise over the trailing ``normalized_shape`` dims.

    >>> layer_norm(np.array([[1.0, 3.0], [2.0, 6.0]]), 2, eps=0.0)
    array([[-1.,  1.],
           [-1.,  1.]])
    """
    count = 1 if isinstance(normalized_shape, (int, np.integer)) else len(normalized_shape)
    trailing = x.shape[x.ndim - count :]
    rows = x.reshape(math.prod(x.shape[: x.ndim - count]), math.prod(trailing))
    return _normalised_slices(rows, eps, _every_slice(weight, bias), (1, -1)).reshape(x.shape)


def _along(x: np.ndarray, dim: int, function: Callable[[np.ndarray, int], np.ndarray]) -> np.ndarray:
    """``function(x, dim)`` (independent along every other dim) on ranges of ``x`` side by
    side: ``x`` seen as (before, along, after) and cut along the longer of before and after."""
    if x.ndim == 0 or x.dtype.kind != "f":
        return function(x, dim)
    dim %= x.ndim
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
