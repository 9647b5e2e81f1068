"""Helpers the NumPy kernels share: per-dim arguments, the dtypes to compute in and to return,
the scratch bound of the GEMM kernels, plane chunking, ufunc buffering."""

from __future__ import annotations

import contextlib
import contextvars
import math
from typing import Iterator, Sequence

import numpy as np

from ..errors import ConvcalcError

# Planes processed together: chunks bound memory for large batches and keep a chunk's padded
# copy and intermediates near the cache between passes. Measured at ResNet sizes: smaller
# chunks lose to per-call overhead, larger ones (beyond the L2/L3 sweet spot) to memory traffic.
CHUNK_BYTES = 1 << 21

DEFAULT_BUFFER_BYTES = 16 * 2**20
"""Upper bound on one chunk's scratch memory (all temporaries together), in bytes, for the
convolutions and ``bilinear``. Also the fastest chunk size measured: a chunk's im2col matrix
and GEMM output then share the L3 cache (16 MiB beat 32 MiB by 5-15% on batched 3×3 convs)."""


def silent() -> np.errstate:
    """inf − inf, 0·inf and overflow give NaN/inf silently in torch; NumPy would warn.

    >>> with silent():
    ...     float(np.float64(np.inf) - np.inf)
    nan
    """
    return np.errstate(invalid="ignore", over="ignore", divide="ignore")


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


def float_dtype(*operands: np.ndarray | np.dtype) -> np.dtype:
    """The dtype to compute in, for operands given as arrays or dtypes: float32 stays float32,
    float64 stays float64; float16 computes in float32 (BLAS has no half precision) and
    integers in float64.

    >>> float_dtype(np.zeros(1, np.float16)), float_dtype(np.dtype(np.int64))
    (dtype('float32'), dtype('float64'))
    """
    return np.result_type(*_dtypes(operands), np.float32)


def result_dtype(*operands: np.ndarray | np.dtype) -> np.dtype | None:
    """The dtype torch returns for these operands (arrays or dtypes): their common float type,
    so float16 comes back float16; None for integers (which torch refuses): the computing
    dtype stays.

    >>> result_dtype(np.dtype(np.float16), np.zeros(1, np.float16)), result_dtype(np.dtype(np.int64))
    (dtype('float16'), None)
    """
    common = np.result_type(*_dtypes(operands))
    return common if common.kind == "f" else None


def in_result_dtype(result: np.ndarray, *operands: np.ndarray | np.dtype) -> np.ndarray:
    """``result`` in ``result_dtype(*operands)`` (no copy when it is in it already)."""
    common = result_dtype(*operands)
    return result if common is None else result.astype(common, copy=False)


def _dtypes(operands: tuple[np.ndarray | np.dtype, ...]) -> list[np.dtype]:
    return [np.dtype(getattr(operand, "dtype", operand)) for operand in operands]


def as_planes(x: np.ndarray, nd: int) -> np.ndarray:
    """``x`` viewed as ``(planes, *spatial)``: every leading dim (batch, channels) flattened."""
    return x.reshape((-1, *x.shape[x.ndim - nd :]))


# The most a run may allocate, set for its length from --max-memory (allocation_limit): a kernel
# checks a buffer whose size does not follow from its input and output (a pool's padded planes:
# maxpool2d -k 1000000000 -p 500000000 on a 4×4 input pads to 10**18 cells) before allocating it.
_LIMIT: contextvars.ContextVar[int | None] = contextvars.ContextVar("convcalc_allocation_limit", default=None)


@contextlib.contextmanager
def allocation_limit(limit: int | None) -> Iterator[None]:
    """Within this block, :func:`check_allocation` refuses buffers over ``limit`` bytes."""
    token = _LIMIT.set(limit)
    try:
        yield
    finally:
        _LIMIT.reset(token)


def check_allocation(nbytes: int, what: str) -> None:
    """ConvcalcError when ``nbytes`` for ``what`` exceed the run's --max-memory (if one is set).

    >>> with allocation_limit(1000):
    ...     check_allocation(4000, "the padded planes")
    Traceback (most recent call last):
    ...
    convcalc.errors.ConvcalcError: the padded planes need about 3.9 KiB, more than --max-memory 1000 B; use less padding or a smaller kernel, or raise --max-memory
    """
    limit = _LIMIT.get()
    if limit is not None and nbytes > limit:
        from ..shapes import format_bytes

        raise ConvcalcError(
            f"{what} need about {format_bytes(nbytes)}, more than --max-memory {format_bytes(limit)}; "
            "use less padding or a smaller kernel, or raise --max-memory"
        )


def plane_chunks(planes: int, bytes_per_plane: int, budget: int | None = None) -> Iterator[slice]:
    """Consecutive slices of planes, each about ``budget`` bytes (at least one plane).

    >>> list(plane_chunks(5, 100, budget=200))
    [slice(0, 2, None), slice(2, 4, None), slice(4, 5, None)]
    """
    budget = CHUNK_BYTES if budget is None else budget
    step = max(1, budget // max(1, bytes_per_plane))
    for start in range(0, planes, step):
        yield slice(start, min(planes, start + step))


_DEFAULT_BUFFER_CELLS = 8192  # NumPy's default ufunc buffer size, in elements


@contextlib.contextmanager
def row_buffering(row: int, cells: int | None = None) -> Iterator[None]:
    """Tune NumPy's ufunc buffer size for broadcasting a per-row operand over rows of ``row``
    (``cells``: the most elements one operation covers, when known).

    NumPy's iterator runs ``(rows, n) * (rows, 1)`` up to twice slower than a scalar multiply
    when ``n`` sits just below its buffer size (8192 elements); a buffer no longer than a row
    restores the fast loop. Short rows are better off with the default, and so are operations
    that fit in one default buffer (a small conv's output: a 512-element buffer over its
    784-element rows cost LeNet-5's first conv 15 µs). ``setbufsize`` is context-local in
    NumPy 2, so this is safe in threads.
    """
    if row < 256 or (cells is not None and cells <= _DEFAULT_BUFFER_CELLS):
        yield
        return
    size = min(8192, 1 << int(math.log2(row)))
    old = np.setbufsize(size)
    try:
        yield
    finally:
        np.setbufsize(old)
