"""Naive references for the convolution and pooling kernels: one output position at a time.

Each function restates a torch rule in its docstring and computes it in the plainest way: a
Python loop over output positions (and over window cells for the max scans), vectorised at
most over the batch and channels. Clarity over speed: these are for small test shapes only.
Nothing here imports convcalc, so a mistake shared with the fast kernels cannot hide in it.
Sums run in float64 whatever the input dtype; results come back in the input's dtype.
All of them take batched arrays (N, C, *spatial) with any number of spatial dims.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

NP_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}
"""torch's padding_mode -> np.pad's mode. For the sizes torch accepts (reflect: pad < size,
circular: pad <= size) the two pad alike."""


def per_dim(value, nd: int) -> tuple[int, ...]:
    """An int, or a sequence of 1 or ``nd`` ints, as ``nd`` ints."""
    if isinstance(value, (int, np.integer)):
        return (int(value),) * nd
    values = tuple(int(v) for v in value)
    if len(values) == 1:
        values *= nd
    assert len(values) == nd, f"{value!r} has neither 1 nor {nd} entries"
    return values


def conv_pads(padding, kernel, dilation) -> tuple[tuple[int, int], ...]:
    """A conv's padding as (left, right) per dim.

    'valid' pads nothing; 'same' pads d·(k−1) in all, left = total // 2, the odd one out on the
    right; an int or one int per dim pads both sides alike; (left, right) pairs stay.
    """
    nd = len(kernel)
    if padding == "valid":
        return ((0, 0),) * nd
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    if isinstance(padding, (int, np.integer)):
        return ((int(padding), int(padding)),) * nd
    pairs = [(int(p), int(p)) if isinstance(p, (int, np.integer)) else (int(p[0]), int(p[1])) for p in padding]
    if len(pairs) == 1:
        pairs *= nd
    return tuple(pairs)


def _channels(group: int, per_group: int) -> slice:
    return slice(group * per_group, (group + 1) * per_group)


def _result_dtype(*arrays: np.ndarray) -> np.dtype:
    return np.result_type(*(a.dtype for a in arrays))


def conv(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros") -> np.ndarray:
    """``F.conv{1,2,3}d`` after ``F.pad``: cross-correlation with weight (C_out, C_in/g, *k).

    The input is padded (zeros, or reflect / replicate / circular), then output position ``o``
    of output channel ``c`` is the sum, over the input channels of c's group and every kernel
    tap ``t``, of ``padded[o·s + t·d] · weight[c, ·, t]``, plus ``bias[c]``.
    """
    x, weight = np.asarray(x), np.asarray(weight)
    nd = x.ndim - 2
    kernel = weight.shape[2:]
    stride, dilation = per_dim(stride, nd), per_dim(dilation, nd)
    pads = conv_pads(padding, kernel, dilation)
    batch, in_channels = x.shape[:2]
    out_channels, in_per_group = weight.shape[:2]
    assert in_channels == in_per_group * groups and out_channels % groups == 0
    out_per_group = out_channels // groups
    padded = np.pad(x.astype(np.float64), ((0, 0), (0, 0), *pads), mode=NP_PAD_MODES[padding_mode])
    reach = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]  # cells one window spans
    out_spatial = [(size - r) // s + 1 for size, r, s in zip(padded.shape[2:], reach, stride)]
    w = weight.astype(np.float64)
    out = np.zeros((batch, out_channels, *out_spatial))
    tap_axes = list(range(1, nd + 2))  # (channel, *kernel) of both the window and the weight
    for g in range(groups):
        ins, outs = _channels(g, in_per_group), _channels(g, out_per_group)
        for position in np.ndindex(*out_spatial):
            window = tuple(slice(o * s, o * s + r, d) for o, s, r, d in zip(position, stride, reach, dilation))
            cells = padded[(slice(None), ins, *window)]  # (N, C_in/g, *k)
            out[(slice(None), outs, *position)] = np.tensordot(cells, w[outs], axes=(tap_axes, tap_axes))
    if bias is not None:
        out += np.asarray(bias, dtype=np.float64).reshape((out_channels,) + (1,) * nd)
    return out.astype(_result_dtype(x, weight))


def conv_transpose(x, weight, bias=None, stride=1, padding=0, output_padding=0, dilation=1, groups=1) -> np.ndarray:
    """``F.conv_transpose{1,2,3}d`` with weight (C_in, C_out/g, *k): a scatter-add.

    Every input element ``x[n, i, p]`` adds ``x[n, i, p] · weight[i, j, t]`` to output channel j
    of i's group at full position ``p·s + t·d``, for every kernel tap ``t``. The output is the
    full positions ``padding .. padding + out − 1``, out = (L−1)·s − 2·padding + d·(k−1) +
    output_padding + 1 (output_padding reaches past the scatter: zeros there), plus the bias.
    """
    x, weight = np.asarray(x), np.asarray(weight)
    nd = x.ndim - 2
    kernel = weight.shape[2:]
    stride, padding = per_dim(stride, nd), per_dim(padding, nd)
    output_padding, dilation = per_dim(output_padding, nd), per_dim(dilation, nd)
    batch, in_channels, *spatial = x.shape
    assert weight.shape[0] == in_channels and in_channels % groups == 0
    in_per_group, out_per_group = in_channels // groups, weight.shape[1]
    out_channels = out_per_group * groups
    reach = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    out_spatial = [
        (size - 1) * s - 2 * p + r + op
        for size, s, p, r, op in zip(spatial, stride, padding, reach, output_padding)
    ]
    scattered = [(size - 1) * s + r for size, s, r in zip(spatial, stride, reach)]
    canvas = np.zeros((batch, out_channels, *(max(f, p + o) for f, p, o in zip(scattered, padding, out_spatial))))
    xs, w = x.astype(np.float64), weight.astype(np.float64)
    for g in range(groups):
        ins, outs = _channels(g, in_per_group), _channels(g, out_per_group)
        for position in np.ndindex(*spatial):
            window = tuple(slice(i * s, i * s + r, d) for i, s, r, d in zip(position, stride, reach, dilation))
            elements = xs[(slice(None), ins, *position)]  # (N, C_in/g)
            canvas[(slice(None), outs, *window)] += np.tensordot(elements, w[ins], axes=(1, 0))  # (N, C_out/g, *k)
    out = canvas[(slice(None), slice(None), *(slice(p, p + o) for p, o in zip(padding, out_spatial)))]
    if bias is not None:
        out = out + np.asarray(bias, dtype=np.float64).reshape((out_channels,) + (1,) * nd)
    return out.astype(_result_dtype(x, weight))


# ---------------------------------------------------------------------------------------------
# Pooling


def pool_out_size(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil_mode: bool) -> int:
    """⌊(L + 2p − d·(k−1) − 1)/s⌋ + 1, or ⌈⌉ in ceil mode; there a last window that would start
    at or past L + p (in the right padding) is dropped: it must start inside the input or the
    left padding."""
    span = size + 2 * pad - dilation * (kernel - 1) - 1
    out = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1
    return out


def _pool_args(nd, kernel, stride, padding, dilation):
    kernel = per_dim(kernel, nd)
    no_stride = stride is None or (not isinstance(stride, (int, np.integer)) and len(stride) == 0)
    stride = kernel if no_stride else per_dim(stride, nd)  # torch: no stride means the kernel
    return kernel, stride, per_dim(padding, nd), per_dim(dilation, nd)


def _planes(x: np.ndarray, nd: int) -> np.ndarray:
    """(planes, *spatial): every (n, c) plane in a row."""
    return x.reshape((-1, *x.shape[x.ndim - nd :]))


def _flat(cell, spatial) -> int:
    """The flat per-plane index of ``cell`` (h·W + w, ...), computed even for a cell outside."""
    return sum(c * math.prod(spatial[i + 1 :]) for i, c in enumerate(cell))


def _scan_max(planes: np.ndarray, cells, start) -> tuple[np.ndarray, np.ndarray]:
    """torch's max scan over one window of every plane: the best starts at −inf with the index
    of the cell ``start``, then each of ``cells`` (the window's cells inside the input, in
    row-major order) takes over when ``value > best`` or the value is NaN. So the first
    maximum wins, the last NaN wins and an all −inf window reports ``start``."""
    spatial = planes.shape[1:]
    best = np.full(len(planes), -np.inf, dtype=planes.dtype)
    best_index = np.full(len(planes), _flat(start, spatial), dtype=np.int64)
    for cell in cells:
        value = planes[(slice(None), *cell)]
        better = (value > best) | np.isnan(value)
        best = np.where(better, value, best)
        best_index = np.where(better, _flat(cell, spatial), best_index)
    return best, best_index


def max_pool(x, kernel, stride=None, padding=0, dilation=1, ceil_mode=False) -> tuple[np.ndarray, np.ndarray]:
    """``F.max_pool{1,2,3}d(..., return_indices=True)``: (values, int64 flat per-plane indices).

    Window ``o`` holds the cells ``o·s − p + t·d`` (t < k) per dim; padding counts as −inf, so
    only the cells inside the input are scanned (see ``_scan_max``), from the window's first
    tap at or past 0 in every dim. Where a dilated window skips over a small input that tap
    lies past the input's end: torch then reports −inf at that index, outside the plane.
    """
    x = np.asarray(x)
    nd = x.ndim - 2
    kernel, stride, padding, dilation = _pool_args(nd, kernel, stride, padding, dilation)
    spatial = x.shape[2:]
    outs = tuple(
        pool_out_size(n, k, s, p, d, ceil_mode) for n, k, s, p, d in zip(spatial, kernel, stride, padding, dilation)
    )
    planes = _planes(x, nd)
    values = np.empty((len(planes), *outs), dtype=x.dtype)
    indices = np.empty((len(planes), *outs), dtype=np.int64)
    for position in np.ndindex(*outs):
        taps = [
            [o * s - p + t * d for t in range(k) if o * s - p + t * d >= 0]
            for o, s, p, d, k in zip(position, stride, padding, dilation, kernel)
        ]
        start = tuple(dim_taps[0] for dim_taps in taps)
        cells = list(itertools.product(*([c for c in dim_taps if c < n] for dim_taps, n in zip(taps, spatial))))
        values[(slice(None), *position)], indices[(slice(None), *position)] = _scan_max(planes, cells, start)
    lead = x.shape[:2]
    return values.reshape(lead + outs), indices.reshape(lead + outs)


def avg_pool(x, kernel, stride=None, padding=0, ceil_mode=False, count_include_pad=True, divisor_override=None) -> np.ndarray:
    """``F.avg_pool{1,2,3}d``: the sum of the window's input cells over torch's divisor.

    Per dim the window is ``start = o·s − p`` to ``end = min(start + k, L + p)`` (a ceil-mode
    window hanging past the right padding is cut at its end). The divisor is
    ``divisor_override`` if given, else the product of ``end − start`` (padding counted) with
    ``count_include_pad``, else the number of input cells in the window.
    """
    x = np.asarray(x)
    nd = x.ndim - 2
    kernel, stride, padding, _ = _pool_args(nd, kernel, stride, padding, 1)
    spatial = x.shape[2:]
    outs = tuple(pool_out_size(n, k, s, p, 1, ceil_mode) for n, k, s, p in zip(spatial, kernel, stride, padding))
    planes = _planes(x, nd).astype(np.float64)
    out = np.empty((len(planes), *outs))
    for position in np.ndindex(*outs):
        window, with_padding, inside = [], 1, 1
        for o, s, p, k, n in zip(position, stride, padding, kernel, spatial):
            start = o * s - p
            end = min(start + k, n + p)
            first, stop = max(start, 0), min(end, n)
            window.append(slice(first, stop))
            with_padding *= end - start
            inside *= stop - first
        total = planes[(slice(None), *window)].reshape(len(planes), -1).sum(axis=1)
        if divisor_override:
            divisor = divisor_override
        else:
            divisor = with_padding if count_include_pad else inside
        out[(slice(None), *position)] = total / divisor
    return out.reshape(x.shape[:2] + outs).astype(x.dtype)


def lp_pool(x, norm_type, kernel, stride=None, ceil_mode=False) -> np.ndarray:
    """``F.lp_pool{1,2,3}d``, torch's formula: (mean of x^p over the window's cells · ∏k)^(1/p).

    Unpadded windows as avg_pool's; for a full window that is (Σ x^p)^(1/p), and a ceil-mode
    window cut short by the input's end is scaled up to the full kernel, as torch does. A
    negative total has no real root for most p: NaN. p = +inf is the window's max |x|,
    p = −inf its min |x|.
    """
    x = np.asarray(x)
    nd = x.ndim - 2
    kernel, stride, _, _ = _pool_args(nd, kernel, stride, 0, 1)
    spatial = x.shape[2:]
    outs = tuple(pool_out_size(n, k, s, 0, 1, ceil_mode) for n, k, s in zip(spatial, kernel, stride))
    planes = _planes(x, nd).astype(np.float64)
    out = np.empty((len(planes), *outs))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        for position in np.ndindex(*outs):
            window = tuple(slice(o * s, min(o * s + k, n)) for o, s, k, n in zip(position, stride, kernel, spatial))
            cells = planes[(slice(None), *window)].reshape(len(planes), -1)
            if norm_type == math.inf:
                value = np.abs(cells).max(axis=1)
            elif norm_type == -math.inf:
                value = np.abs(cells).min(axis=1)
            else:
                mean = np.power(cells, norm_type).mean(axis=1)
                value = np.power(mean * math.prod(kernel), 1.0 / norm_type)
            out[(slice(None), *position)] = value
    return out.reshape(x.shape[:2] + outs).astype(x.dtype)


def adaptive_window(index: int, size: int, count: int) -> tuple[int, int]:
    """Adaptive pooling's window ``index`` of ``count`` over ``size`` cells:
    start = ⌊index·size/count⌋, end = ⌈(index+1)·size/count⌉ (exclusive)."""
    return (index * size) // count, -(-((index + 1) * size) // count)


def _adaptive_outs(x: np.ndarray, output_size) -> tuple[int, ...]:
    nd = x.ndim - 2
    if output_size is None or isinstance(output_size, (int, np.integer)):
        output_size = (output_size,) * nd
    if len(output_size) == 1:
        output_size = tuple(output_size) * nd
    return tuple(size if out is None else int(out) for size, out in zip(x.shape[2:], output_size))


def _adaptive_windows(x: np.ndarray, outs, position) -> list[range]:
    return [range(*adaptive_window(i, n, o)) for i, n, o in zip(position, x.shape[2:], outs)]


def adaptive_avg_pool(x, output_size) -> np.ndarray:
    """``F.adaptive_avg_pool{1,2,3}d``: the mean over each window (see ``adaptive_window``).
    ``output_size``: an int or one entry per dim, None keeping that dim's size."""
    x = np.asarray(x)
    nd = x.ndim - 2
    outs = _adaptive_outs(x, output_size)
    planes = _planes(x, nd).astype(np.float64)
    out = np.empty((len(planes), *outs))
    for position in np.ndindex(*outs):
        window = tuple(slice(r.start, r.stop) for r in _adaptive_windows(x, outs, position))
        out[(slice(None), *position)] = planes[(slice(None), *window)].reshape(len(planes), -1).mean(axis=1)
    return out.reshape(x.shape[:2] + outs).astype(x.dtype)


def adaptive_max_pool(x, output_size) -> tuple[np.ndarray, np.ndarray]:
    """``F.adaptive_max_pool{1,2,3}d(..., return_indices=True)``: max_pool's scan over each
    adaptive window; (values, int64 flat per-plane indices)."""
    x = np.asarray(x)
    nd = x.ndim - 2
    outs = _adaptive_outs(x, output_size)
    planes = _planes(x, nd)
    values = np.empty((len(planes), *outs), dtype=x.dtype)
    indices = np.empty((len(planes), *outs), dtype=np.int64)
    for position in np.ndindex(*outs):
        cells = list(itertools.product(*_adaptive_windows(x, outs, position)))
        values[(slice(None), *position)], indices[(slice(None), *position)] = _scan_max(planes, cells, cells[0])
    lead = x.shape[:2]
    return values.reshape(lead + outs), indices.reshape(lead + outs)
