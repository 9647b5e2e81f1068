"""Fully connected forward passes: ``F.linear`` and ``F.bilinear``.

Their GEMMs run on BLAS's own threads, as many as the kernels' thread count (``blas_threads``).

Both take inputs of any leading shape (..., features), as torch does, and return the inputs'
float type (float16 is computed in float32).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ._common import DEFAULT_BUFFER_BYTES, float_dtype, in_result_dtype, result_dtype
from .threads import on_blas_threads


@on_blas_threads
def linear(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None = None) -> np.ndarray:
    """``x @ weight.T + bias`` over the last dim: (..., in) → (..., out).

    >>> linear(np.array([1.0, 2.0]), np.array([[1.0, 1.0], [0.0, 3.0]]), np.array([0.5, 0.0])).tolist()
    [3.5, 6.0]
    """
    x_given = np.asarray(x)
    return prepared_linear(x_given.shape, x_given.dtype, weight, bias, threads=False)(x_given)


def prepared_linear(
    x_shape: tuple[int, ...], x_dtype: np.dtype, weight: np.ndarray, bias: np.ndarray | None = None,
    *, threads: bool = True,
) -> Callable[[np.ndarray], np.ndarray]:
    """``lambda x: linear(x, weight, bias)`` for inputs of ``x_shape`` and ``x_dtype``, the
    weight and bias cast and the GEMM's form chosen once (a network's plan calls it);
    ``threads=False`` leaves BLAS's threads to the caller (``linear`` sets them).

    >>> fc = prepared_linear((1, 2), np.dtype(np.float64), np.array([[1.0, 1.0], [0.0, 3.0]]), np.array([0.5, 0.0]))
    >>> fc(np.array([[1.0, 2.0]])).tolist()
    [[3.5, 6.0]]
    """
    weight_given = np.asarray(weight)
    weight = weight_given.astype(float_dtype(x_dtype, weight_given), copy=False)
    if bias is not None:
        bias = np.asarray(bias, dtype=weight.dtype)
    result = result_dtype(x_dtype, weight_given)  # float16 comes back float16
    rows = math.prod(x_shape[:-1])
    # Few rows against a big weight: the GEMM streams the weight, and OpenBLAS does that faster
    # as W·xᵀ than as x·Wᵀ (1.7× at 16 rows of 4096 → 4096); one small transpose back.
    streamed = len(x_shape) > 1 and rows < 128 and weight.size >= 2**18
    out_shape = (*x_shape[:-1], weight.shape[0])

    def run(x: np.ndarray) -> np.ndarray:
        x = x.astype(weight.dtype, copy=False)
        if streamed:
            out = np.ascontiguousarray((weight @ x.reshape(rows, x.shape[-1]).T).T).reshape(out_shape)
        else:
            out = np.matmul(x, weight.T)  # BLAS reads the transposed view: no copy of the weight
        if bias is not None:
            np.add(out, bias, out=out)
        return out if result is None else out.astype(result, copy=False)

    return on_blas_threads(run) if threads else run


@on_blas_threads
def bilinear(
    x1: np.ndarray,
    x2: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    *,
    max_buffer_bytes: int | None = None,
) -> np.ndarray:
    """``y[..., k] = x1[..., :] · weight[k] · x2[..., :] + bias[k]``: (..., in1), (..., in2) → (..., out).

    One GEMM contracts the smaller-intermediate side first ((rows, out, in) scratch), then a
    batched matrix-vector product contracts the other; rows are chunked so the scratch stays
    under ``max_buffer_bytes``.

    >>> w = np.arange(8.0).reshape(2, 2, 2)
    >>> bilinear(np.array([[1.0, 2.0]]), np.array([[3.0, 1.0]]), w).tolist()
    [[19.0, 67.0]]
    """
    x1, x2, weight = np.asarray(x1), np.asarray(x2), np.asarray(weight)
    dtype = float_dtype(x1, x2, weight)
    out_features, in1, in2 = weight.shape
    lead = x1.shape[:-1]
    if x2.shape[:-1] != lead:
        raise ValueError(f"bilinear inputs need the same leading dims: {x1.shape} vs {x2.shape}")
    rows = int(np.prod(lead, dtype=np.int64))
    a = x1.reshape(rows, in1).astype(dtype, copy=False)
    b = x2.reshape(rows, in2).astype(dtype, copy=False)
    w = weight.astype(dtype, copy=False)
    if in2 > in1:  # contract the bigger side in the GEMM so the scratch is (rows, out, smaller)
        a, b = b, a
        w = w.transpose(0, 2, 1)
    inner, other = a.shape[1], b.shape[1]
    # (inner, out·other): column (k, j) holds w[k, :, j].
    w_flat = np.ascontiguousarray(w.transpose(1, 0, 2)).reshape(inner, out_features * other)
    out = np.empty((rows, out_features), dtype)
    bound = DEFAULT_BUFFER_BYTES if max_buffer_bytes is None else max_buffer_bytes
    chunk = max(1, bound // max(1, out_features * other * dtype.itemsize))
    for r0 in range(0, rows, chunk):
        r1 = min(rows, r0 + chunk)
        partial = (a[r0:r1] @ w_flat).reshape(r1 - r0, out_features, other)
        np.matmul(partial, b[r0:r1, :, None], out=out[r0:r1, :, None])
    if bias is not None:
        np.add(out, np.asarray(bias, dtype=dtype), out=out)
    return in_result_dtype(out.reshape(*lead, out_features), x1, x2, weight)
