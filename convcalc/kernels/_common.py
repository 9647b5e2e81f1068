"""Helpers the NumPy kernels share: per-dim arguments, plane chunking, ufunc buffering."""

from __future__ import annotations

import contextlib
import math
from typing import Iterator, Sequence

import numpy as np

from ..errors import ConvcalcError

# Planes processed together: chunks bound memory for large batches and keep a chunk's padded
# copy and intermediates near the cache between passes. Measured at ResNet sizes: smaller
# chunks lose to per-call overhead, larger ones (beyond the L2/L3 sweet spot) to memory traffic.
CHUNK_BYTES = 1 << 21


def per_dim(value: int | Sequence[int], nd: int, name: str) -> tuple[int, ...]:
    """``value`` as one int per spatial dim (an int or a 1-tuple is repeated, as torch does).

    >>> per_dim(3, 2, "kernel"), per_dim((2,), 3, "stride"), per_dim((1, 2), 2, "padding")
    ((3, 3), (2, 2, 2), (1, 2))
    """
    if isinstance(value, (int, np.integer)):
        return (int(value),) * nd
    values = tuple(int(v) for v in value)
    if len(values) == 1:
        return values * nd
    if len(values) != nd:
        raise ConvcalcError(f"{name} needs 1 or {nd} entries for {nd} spatial dims, got {values}")
    return values


def as_planes(x: np.ndarray, nd: int) -> np.ndarray:
    """``x`` viewed as ``(planes, *spatial)``: every leading dim (batch, channels) flattened."""
    return x.reshape((-1, *x.shape[x.ndim - nd :]))


def plane_chunks(planes: int, bytes_per_plane: int, budget: int | None = None) -> Iterator[slice]:
    """Consecutive slices of planes, each about ``budget`` bytes (at least one plane).

    >>> list(plane_chunks(5, 100, budget=200))
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    budget = CHUNK_BYTES if budget is None else budget
    step = max(1, budget // max(1, bytes_per_plane))
    for start in range(0, planes, step):
        yield slice(start, min(planes, start + step))


@contextlib.contextmanager
def row_buffering(row: int) -> Iterator[None]:
    """Tune NumPy's ufunc buffer size for broadcasting a per-row operand over rows of ``row``.

    NumPy's iterator runs ``(rows, n) * (rows, 1)`` up to twice slower than a scalar multiply
    when ``n`` sits just below its buffer size (8192 elements); a buffer no longer than a row
    restores the fast loop. Short rows are better off with the default. ``setbufsize`` is
    context-local in NumPy 2, so this is safe in threads.
    """
    if row < 256:
        yield
        return
    size = min(8192, 1 << int(math.log2(row)))
    old = np.setbufsize(size)
    try:
        yield
    finally:
        np.setbufsize(old)
