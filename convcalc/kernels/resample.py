"""``F.interpolate`` in NumPy: nearest, nearest-exact, linear/bilinear/trilinear, bicubic, area.

Every mode but area is separable: each spatial dim is resampled in turn, innermost dim first,
which is also the order in which torch nests its per-dim sums, so float32 results round alike.
Source coordinates are computed in the precision torch uses (float32 for float32 tensors, and
always float32 for the nearest modes), so the floor that picks a source cell agrees with torch
even where a coordinate lands next to an integer.

``scales`` carries ``scale_factor`` per dim when torch would pass it down (scale_factor given,
recompute_scale_factor not True): torch then maps coordinates with ``1/scale``, not ``in/out``.
"""

from __future__ import annotations

import functools
import math
from typing import Callable, Sequence

import numpy as np

from ..errors import ConvcalcError
from ._common import as_planes, plane_chunks
from .threads import parallel_map, parallel_spans
from .pooling import adaptive_avg_pool_nd

LINEAR_MODES = ("linear", "bilinear", "trilinear")
MODES = ("nearest", "nearest-exact", *LINEAR_MODES, "bicubic", "area")
CUBIC_A = -0.75


def _scale_value(scale: float | None, size: int, out: int, real: type) -> np.floating:
    """torch's ``compute_scales_value``: ``1/scale`` when a scale is passed, else ``in/out``."""
    if scale is not None and scale > 0:
        return real(1.0 / scale)
    return real(size) / real(out)


def _coordinate_scale(size: int, out: int, align_corners: bool, scale: float | None, real: type) -> np.floating:
    """torch's ``area_pixel_compute_scale``: align_corners maps corner centres onto each other."""
    if align_corners:
        return real(size - 1) / real(out - 1) if out > 1 else real(0)
    return _scale_value(scale, size, out, real)


def _source_coordinates(size, out, align_corners, scale, real, cubic) -> np.ndarray:
    """torch's ``area_pixel_compute_source_index`` for every output cell, in ``real`` arithmetic.

    torch's build contracts ``scale·(i + ½) − ½`` into one fused multiply-add; in float32 that
    single rounding is reproduced by evaluating in float64 (the product is exact there) and
    rounding once. Near the end of a long dim the two roundings of the plain expression move
    the coordinate by an ulp, i.e. by 1e-4 of a cell at 1000 cells.
    """
    ratio = _coordinate_scale(size, out, align_corners, scale, real)
    dst = np.arange(out).astype(real)
    if align_corners:
        return ratio * dst
    centre = dst + real(0.5)
    if real is np.float32:
        src = (np.float64(ratio) * centre.astype(np.float64) - 0.5).astype(np.float32)
    else:
        src = ratio * centre - real(0.5)
    return src if cubic else np.maximum(src, real(0))


def _floorf(values: np.ndarray) -> np.ndarray:
    """C's ``floorf`` as torch calls it: a double argument is first rounded to float."""
    return np.floor(values.astype(np.float32)).astype(np.int64)


def _floor_and_fraction(src: np.ndarray, size: int, real: type) -> tuple[np.ndarray, np.ndarray]:
    """torch's ``guard_index_and_lambda``: the cell left of ``src`` and the distance past it."""
    index = np.minimum(_floorf(src), size - 1)
    fraction = np.clip(src - index.astype(real), real(0), real(1))
    return index, fraction


def _vectorized_nearest(sizes: Sequence[int], outs: Sequence[int], channels: int) -> bool:
    """Whether torch's CPU nearest kernel takes its channels-last path for a contiguous input.

    That path (which computes indices differently, see ``_nearest_index``) runs for 2-d when
    the input counts as channels-last with more than 3 channels, or the output is small
    (height + width <= 128); for 3-d only in the channels-last case. A contiguous NC… tensor
    counts as channels-last when every spatial size is 1.
    """
    channels_last = channels > 3 and all(size == 1 for size in sizes)
    if len(sizes) == 2:
        return channels_last or outs[0] + outs[1] <= 128
    return len(sizes) == 3 and channels_last


@functools.lru_cache(maxsize=256)
def _nearest_index(size: int, out: int, scale: float | None, exact: bool, dtype: np.dtype, vectorized: bool) -> np.ndarray:
    """Source cell of every output cell, by whichever of torch's two index rules applies.

    The generic kernel maps in the dtype's precision, without special cases; the channels-last
    kernel maps in float32 and short-cuts ``out == in`` (a copy, even for a scale factor like
    1.2) and ``out == 2·in`` (``i >> 1``).
    """
    dst = np.arange(out)
    if vectorized:
        if not exact and out == size:
            return dst
        if not exact and out == 2 * size:
            return dst >> 1
        ratio = _scale_value(scale, size, out, np.float32)
        if exact:  # (i + 0.5) · scale is a double product
            return np.minimum(_floorf((dst + 0.5) * np.float64(ratio)), size - 1)
        return np.minimum(_floorf(dst.astype(np.float32) * ratio), size - 1)
    real = dtype.type
    if exact:
        src = _source_coordinates(size, out, False, scale, real, cubic=False)
        return np.minimum(_floorf(src.astype(np.float64) + 0.5), size - 1)
    ratio = _scale_value(scale, size, out, real)
    return np.minimum(_floorf(dst.astype(real) * ratio), size - 1)


@functools.lru_cache(maxsize=256)
def _linear_taps(size, out, align_corners, scale, dtype) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Two source cells and weights per output cell (torch's ``compute_source_index_and_lambda``)."""
    real = dtype.type
    if out == size:  # torch copies, weights (1, 0), even when a scale factor was given
        same = np.arange(out)
        return (same, same), (np.ones(out, dtype), np.zeros(out, dtype))
    src = _source_coordinates(size, out, align_corners, scale, real, cubic=False)
    left, right_weight = _floor_and_fraction(src, size, real)
    right = left + (left < size - 1)
    return (left, right), (real(1) - right_weight, right_weight)


def _cubic_near(x, a):
    return ((a + _real_like(x, 2)) * x - (a + _real_like(x, 3))) * x * x + _real_like(x, 1)


def _cubic_far(x, a):
    return ((a * x - _real_like(x, 5) * a) * x + _real_like(x, 8) * a) * x - _real_like(x, 4) * a


def _real_like(x: np.ndarray, value: float) -> np.floating:
    return x.dtype.type(value)


@functools.lru_cache(maxsize=256)
def _cubic_taps(size, out, align_corners, scale, dtype) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Four clamped source cells and Keys-cubic weights (A = −0.75) per output cell, as torch."""
    real = dtype.type
    src = _source_coordinates(size, out, align_corners, scale, real, cubic=True)
    base, t = _floor_and_fraction(src, size, real)
    a = real(CUBIC_A)
    one = real(1)
    weights = (_cubic_far(t + one, a), _cubic_near(t, a), _cubic_near(one - t, a), _cubic_far((one - t) + one, a))
    taps = tuple(np.clip(base + offset, 0, size - 1) for offset in (-1, 0, 1, 2))
    return taps, tuple(w.astype(dtype, copy=False) for w in weights)


# Weight vectors are expanded to a whole (small) output plane: multiplying by a per-row vector
# makes NumPy call its inner loop once per row, several times slower than one plane-long loop.
_PLANE_WEIGHTS_MAX = 1 << 16


def _plane_weights(weights, plane: tuple[int, ...], dim: int) -> tuple[np.ndarray, ...]:
    """Per-cell weights along spatial ``dim``, shaped to broadcast over one output plane."""
    shape = [1] * len(plane)
    shape[dim] = plane[dim]
    shaped = [w.reshape(shape) for w in weights]
    if math.prod(plane) > _PLANE_WEIGHTS_MAX:
        return tuple(shaped)
    return tuple(np.ascontiguousarray(np.broadcast_to(w, plane)) for w in shaped)


def _weighted_taps(a: np.ndarray, axis: int, taps, weights, out=None) -> np.ndarray:
    """Σ_j weights[j] · a[taps[j]] along ``axis``, accumulated in torch's order."""
    # mode="clip" skips the bounds check of the default mode; the indices are in range
    result = np.take(a, taps[0], axis=axis, out=out, mode="clip")
    result *= weights[0]
    for index, weight in zip(taps[1:], weights[1:]):
        term = np.take(a, index, axis=axis, mode="clip")
        term *= weight
        result += term
    return result


def _gathered(a: np.ndarray, axis: int, index: np.ndarray, out=None) -> np.ndarray:
    """``a`` indexed by ``index`` along ``axis`` (unchanged when ``index`` is the identity).

    A gather beats broadcasting tricks for whole-number upscales: a broadcast copy along the
    innermost dim runs NumPy's inner loop over r cells at a time.
    """
    if len(index) == a.shape[axis] and np.array_equal(index, np.arange(len(index))):
        if out is None:
            return a
        out[...] = a
        return out
    # mode="clip" skips the bounds check of the default mode; the indices are in range
    return np.take(a, index, axis=axis, out=out, mode="clip")


def _per_dim(values, nd: int, name: str) -> tuple:
    if values is None or isinstance(values, (int, float, np.integer, np.floating)):
        return (values,) * nd
    values = tuple(values)
    if len(values) == 1:
        return values * nd
    if len(values) != nd:
        raise ConvcalcError(f"interpolate: {name} needs 1 or {nd} entries for {nd} spatial dims, got {values}")
    return values


def interpolate(
    x: np.ndarray,
    out_spatial: Sequence[int],
    mode: str = "nearest",
    align_corners: bool | None = None,
    scales: Sequence[float | None] | float | None = None,
) -> np.ndarray:
    """``F.interpolate(x, size=out_spatial, mode=..., align_corners=...)`` on ``(N, C, *spatial)``.

    ``scales``: the scale factor per dim when torch uses it for the coordinate mapping
    (``scale_factor`` given and ``recompute_scale_factor`` not True); None maps by in/out.

    >>> x = np.array([[[0.0, 1.0, 2.0]]], dtype=np.float32)
    >>> interpolate(x, (6,), "nearest")
    array([[[0., 0., 1., 1., 2., 2.]]], dtype=float32)
    >>> interpolate(x, (5,), "linear", align_corners=True)
    array([[[0. , 0.5, 1. , 1.5, 2. ]]], dtype=float32)
    """
    nd = x.ndim - 2
    out_spatial = tuple(int(n) for n in _per_dim(out_spatial, nd, "size"))
    scales = tuple(None if s is None else float(s) for s in _per_dim(scales, nd, "scale_factor"))
    if mode == "area":
        return adaptive_avg_pool_nd(x, out_spatial)
    sizes = x.shape[2:]
    steps: list[Callable] = []
    if mode in ("nearest", "nearest-exact"):
        vectorized = _vectorized_nearest(sizes, out_spatial, x.shape[1])
        for size, out, scale in zip(sizes, out_spatial, scales):
            index = _nearest_index(size, out, scale, mode == "nearest-exact", x.dtype, vectorized)
            steps.append(functools.partial(_gathered, index=index))
    elif mode in LINEAR_MODES or mode == "bicubic":
        taps_of = _cubic_taps if mode == "bicubic" else _linear_taps
        for dim, (size, out, scale) in enumerate(zip(sizes, out_spatial, scales)):
            taps, weights = taps_of(size, out, bool(align_corners), scale, x.dtype)
            plane = sizes[:dim] + out_spatial[dim:]  # dims after ``dim`` are already resampled
            weights = _plane_weights(weights, plane, dim)
            steps.append(functools.partial(_weighted_taps, taps=taps, weights=weights))
    else:
        raise ConvcalcError(f"interpolate: unknown mode {mode!r}; use one of {', '.join(MODES)}")

    planes = as_planes(x, nd)
    result = np.empty((len(planes), *out_spatial), dtype=x.dtype)
    largest = max(math.prod(out_spatial[:d] + sizes[d:]) for d in range(nd + 1))

    def resample_planes(span: slice) -> None:
        with np.errstate(invalid="ignore", over="ignore"):  # inf·0 and inf − inf give NaN, as in torch
            for chunk in plane_chunks(span.stop - span.start, largest * x.itemsize * 2):
                block = planes[span][chunk]
                for dim in reversed(range(nd)):
                    block = steps[dim](block, dim + 1, out=result[span][chunk] if dim == 0 else None)

    parallel_map(resample_planes, parallel_spans(len(planes), planes.nbytes + result.nbytes))
    return result.reshape(x.shape[:2] + out_spatial)
