"""Kernel calls prepared once for inputs of one shape and dtype: what a network's plan runs.

``conv_nd`` builds its geometry, checks its arguments, picks its method and lays its weight
out for that method on every call; for a small convolution that is a good part of the call. A
prepared convolution does all of it once and then runs only ``conv_nd``'s chunks, so its result
is ``conv_nd``'s, computed the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ._common import DEFAULT_BUFFER_BYTES, float_dtype
from .conv.dispatch import _check_fit, _prepare_weight, _run_chunks, choose_method, chunk_lists
from .conv.geometry import ConvGeometry, pad_pairs, spatial_dims, spatial_tuple
from .conv.padding import PADDING_MODES
from .threads import least_chunk_bytes, thread_count


def prepared_conv(
    x_shape: Sequence[int],
    x_dtype: np.dtype,
    weight: np.ndarray,
    bias: np.ndarray | None,
    stride: int | Sequence[int],
    pads: int | Sequence[int] | Sequence[Sequence[int]],
    dilation: int | Sequence[int],
    groups: int,
    padding_mode: str = "zeros",
) -> Callable[[np.ndarray], np.ndarray]:
    """``lambda x: conv_nd(x, weight, bias, stride, pads, dilation, groups, padding_mode)``
    for batched inputs ``x`` of ``x_shape`` and ``x_dtype``, with everything that does not
    depend on the values of ``x`` done here, once.

    >>> x = np.arange(5.0).reshape(1, 1, 5)
    >>> conv = prepared_conv(x.shape, x.dtype, np.ones((1, 1, 3)), np.array([0.5]), 1, ((1, 1),), 1, 1)
    >>> conv(x).tolist(), conv(2 * x).tolist()
    ([[[1.5, 3.5, 6.5, 9.5, 7.5]]], [[[2.5, 6.5, 12.5, 18.5, 14.5]]])
    """
    probe = np.empty(tuple(x_shape), x_dtype)
    weight = np.asarray(weight)
    nd = spatial_dims(probe, weight, "prepared_conv")
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode={padding_mode!r} is not one of {PADDING_MODES}")
    dtype = float_dtype(probe, weight)
    geo = ConvGeometry(probe.shape, weight.shape, spatial_tuple(stride, nd), pad_pairs(pads, nd),
                       spatial_tuple(dilation, nd), groups)
    _check_fit(geo, weight.shape)
    method = choose_method(geo)
    weight = np.ascontiguousarray(weight, dtype=dtype)
    bias = _prepare_weight(method, weight, None if bias is None else np.asarray(bias, dtype=dtype), geo, padding_mode)
    out_shape = (geo.batch, geo.out_channels, *geo.out_spatial)
    common = np.result_type(x_dtype, weight.dtype)
    result = common if common.kind == "f" and common != dtype else None  # float16 comes back float16
    schedules: dict[tuple[int, int], list] = {}  # (threads, least chunk bytes) -> chunk_lists's

    def conv(x: np.ndarray) -> np.ndarray:
        out = np.empty(out_shape, dtype)
        threads = thread_count()
        key = (threads, least_chunk_bytes())
        lists = schedules.get(key)
        if lists is None:
            lists = schedules[key] = chunk_lists(method, geo, dtype.itemsize, DEFAULT_BUFFER_BYTES, threads)
        _run_chunks(method, np.ascontiguousarray(x, dtype=dtype), weight, bias, geo, padding_mode,
                    DEFAULT_BUFFER_BYTES, out, lists)
        return out if result is None else out.astype(result)

    return conv
