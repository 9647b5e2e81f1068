"""The scratch buffers of the convolutions, and the ones each thread keeps between calls.

Every chunk of a call reuses the same flat buffers (``Scratch.get``), and a thread keeps them
for its next calls while they total at most ``KEEP_BYTES`` per dtype (``Scratch.kept``);
``release_scratch`` frees them.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Sequence

import numpy as np

from .._common import DEFAULT_BUFFER_BYTES

KEEP_BYTES = DEFAULT_BUFFER_BYTES
"""Scratch a thread keeps between calls, per dtype (see ``Scratch.kept``). The buffers grow as
calls of other shapes and methods use them; a call that ends with more than this in them frees
them all."""

_KEPT = threading.local()


class _Shelf:
    """One thread's kept scratch, by dtype (held weakly by ``_SHELVES``)."""

    __slots__ = ("by_dtype", "__weakref__")

    def __init__(self) -> None:
        self.by_dtype: dict[np.dtype, Scratch] = {}


# Every living thread's shelf, so that release_scratch can free the pool threads' scratch too.
_SHELVES: weakref.WeakSet[_Shelf] = weakref.WeakSet()
_SHELVES_LOCK = threading.Lock()


class Scratch:
    """Grow-only flat buffers, reused by every chunk of a call and, up to ``KEEP_BYTES``, by the
    thread's next calls (``kept``)."""

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype
        self.buffers: dict[str, np.ndarray] = {}
        # buffer name -> the layout its constant parts (zero padding, a row of ones) were written
        # for: chunks of the same layout leave them in place.
        self.filled: dict[str, object] = {}

    def get(self, name: str, shape: Sequence[int], zero: bool = False) -> np.ndarray:
        size = math.prod(shape)
        flat = self.buffers.get(name)
        if flat is None or flat.size < size:
            flat = np.empty(size, self.dtype)
            self.buffers[name] = flat
            self.filled.pop(name, None)
        array = flat[:size].reshape(shape)
        if zero:
            array.fill(0)
        return array

    @staticmethod
    def kept(dtype: np.dtype) -> _Kept:
        """This thread's scratch for ``dtype``, as its last call left it (``with Scratch.kept(dtype)
        as scratch``): the buffers and the constant parts written into them (zero padding, a row
        of ones) survive from call to call, as oneDNN keeps its scratchpad. A layer run on a batch
        of small inputs otherwise pays for allocating and filling them on every call (a depthwise
        3×3 conv at 56²: 8%).

        The scratch is taken off the thread's shelf for the call and put back after it, unless
        the call failed or its buffers outgrew ``KEEP_BYTES``: a call that starts while another
        runs on the same thread (from a signal handler) gets buffers of its own.
        """
        return _Kept(dtype)


class _Kept:
    """``Scratch.kept``'s block (a class, not a generator: a small conv enters one per call)."""

    __slots__ = ("dtype", "scratch", "shelf")

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype

    def __enter__(self) -> Scratch:
        shelf = getattr(_KEPT, "shelf", None)
        if shelf is None:
            shelf = _KEPT.shelf = _Shelf()
            with _SHELVES_LOCK:
                _SHELVES.add(shelf)
        self.shelf = shelf.by_dtype
        self.scratch = self.shelf.pop(self.dtype, None) or Scratch(self.dtype)
        return self.scratch

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None and sum(flat.nbytes for flat in self.scratch.buffers.values()) <= KEEP_BYTES:
            self.shelf[self.dtype] = self.scratch


def release_scratch() -> None:
    """Free the scratch buffers that threads keep between calls (each thread, the kernels' pool
    threads included, keeps its own, up to ``KEEP_BYTES`` per dtype); buffers in use by a call
    running now are kept by it until it ends.

    >>> release_scratch()
    """
    with _SHELVES_LOCK:
        shelves = list(_SHELVES)
    for shelf in shelves:
        shelf.by_dtype.clear()
