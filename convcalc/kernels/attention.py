"""Multi-head self-attention: what ``F.multi_head_attention_forward`` computes in eval mode
when query, key and value are the same tensor (``attn(x, x, x, need_weights=False)``).

The layer (:class:`convcalc.layers.attention.MultiheadAttention`) validates and brings the
input to torch's sequence-first layout ``(L, N, E)``; this kernel assumes a valid one.
"""

from __future__ import annotations

import math

import numpy as np

from ._common import DEFAULT_BUFFER_BYTES, float_dtype, in_result_dtype
from .slices import softmax
from .linear import linear
from .threads import on_blas_threads


@on_blas_threads
def self_attention(
    x: np.ndarray,
    num_heads: int,
    in_proj_weight: np.ndarray,
    in_proj_bias: np.ndarray | None,
    out_proj_weight: np.ndarray,
    out_proj_bias: np.ndarray | None,
    *,
    bias_k: np.ndarray | None = None,
    bias_v: np.ndarray | None = None,
    add_zero_attn: bool = False,
    max_buffer_bytes: int | None = None,
) -> np.ndarray:
    """Self-attention of ``x`` (L, N, E), sequence first, with ``num_heads`` heads: (L, N, E).

    q, k, v = x·W_inᵀ + b_in split in three; ``bias_k``/``bias_v`` (1, 1, E) append one key and
    value to every sequence, ``add_zero_attn`` one all-zero key and value per head after them;
    each head takes softmax(q·kᵀ/√head_dim)·v over the keys, on (N, heads, L, head_dim) views;
    the heads are joined and projected by ``out_proj``. Query rows are taken in chunks so the
    scores stay under ``max_buffer_bytes``.

    >>> x = np.ones((2, 1, 2))
    >>> w = np.concatenate([np.eye(2)] * 3)
    >>> self_attention(x, 1, w, None, np.eye(2), None).tolist()
    [[[1.0, 1.0]], [[1.0, 1.0]]]
    """
    x = np.asarray(x)
    dtype = float_dtype(x, in_proj_weight, out_proj_weight)
    length, batch, embed = x.shape
    head_dim = embed // num_heads
    projected = linear(x.astype(dtype, copy=False), in_proj_weight, in_proj_bias)
    q, k, v = np.split(projected.astype(dtype, copy=False), 3, axis=-1)
    if bias_k is not None and bias_v is not None:
        k = np.concatenate([k, np.broadcast_to(np.asarray(bias_k, dtype), (1, batch, embed))])
        v = np.concatenate([v, np.broadcast_to(np.asarray(bias_v, dtype), (1, batch, embed))])

    def heads(t: np.ndarray) -> np.ndarray:  # (S, N, E) -> (N, heads, S, head_dim)
        return t.reshape(t.shape[0], batch, num_heads, head_dim).transpose(1, 2, 0, 3)

    q, k, v = heads(q), heads(k), heads(v)
    if add_zero_attn:
        zeros = np.zeros((batch, num_heads, 1, head_dim), dtype)
        k, v = np.concatenate([k, zeros], axis=2), np.concatenate([v, zeros], axis=2)
    q = q * dtype.type(1 / math.sqrt(head_dim))
    keys_t = k.swapaxes(-1, -2)
    out = np.empty((batch, num_heads, length, head_dim), dtype)
    budget = DEFAULT_BUFFER_BYTES if max_buffer_bytes is None else max_buffer_bytes
    row_bytes = 2 * batch * num_heads * k.shape[2] * dtype.itemsize  # scores and their softmax
    step = max(1, budget // max(1, row_bytes))
    for start in range(0, length, step):
        rows = slice(start, min(length, start + step))
        out[:, :, rows] = np.matmul(softmax(np.matmul(q[:, :, rows], keys_t), -1), v)
    joined = out.transpose(2, 0, 1, 3).reshape(length, batch, embed)
    return in_result_dtype(linear(joined, out_proj_weight, out_proj_bias), x, in_proj_weight)
