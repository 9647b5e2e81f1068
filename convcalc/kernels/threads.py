"""The threads the kernels use: how many, a persistent pool of them, and BLAS's own threads.

How many (``thread_count``), first match wins: an explicit setting for the current context
(``use_threads``, which ``--threads`` sets), the environment variable ``CONVCALC_THREADS``,
else the CPUs this process may run on. One thread runs every kernel inline, as a plain loop.

Kernels cut their work into independent chunks (batch items, channel groups, row blocks,
planes) and ``parallel_map`` runs them on a pool of worker threads plus the calling thread:
NumPy releases the GIL in its ufuncs, copies and BLAS calls, so the chunks run side by side.

BLAS has threads of its own. While the pool runs chunks, BLAS runs single-threaded (each chunk
is one core's work; N chunks each asking for N BLAS threads would oversubscribe the cores).
Outside the pool, a kernel's lone GEMM uses BLAS's threads, as many as ``thread_count``
(``blas_threads``). Both are set through threadpoolctl, imported on the first call that needs it.

Nothing is started at import: the pool's threads are created on first use and then kept.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import ConvcalcError

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

ENVIRONMENT_VARIABLE = "CONVCALC_THREADS"

ChunkT = TypeVar("ChunkT")
ResultT = TypeVar("ResultT")

_EXPLICIT: contextvars.ContextVar[int | None] = contextvars.ContextVar("convcalc_threads", default=None)
# True inside a chunk run by parallel_map: a kernel called from a chunk runs inline, so a pool
# thread never waits on the pool it belongs to.
_IN_REGION: contextvars.ContextVar[bool] = contextvars.ContextVar("convcalc_in_region", default=False)

_POOL_LOCK = threading.Lock()
_POOL: ThreadPoolExecutor | None = None
_POOL_WORKERS = 0

_BLAS_LOCK = threading.Lock()
_REGIONS = 0  # parallel_map calls running now, in any thread: BLAS stays at 1 while any runs
_BLAS_BEFORE: list[tuple[Any, int]] = []  # BLAS libraries' thread counts before the regions
_BLAS_LIBRARIES: list[Any] | None = None


def parse_threads(value: object, source: str) -> int:
    """``value`` as a thread count: a whole number of at least 1, else a ConvcalcError naming
    ``source``.

    >>> parse_threads("4", "--threads"), parse_threads(2, "--threads")
    (4, 2)
    >>> parse_threads("0", "--threads")
    Traceback (most recent call last):
    ...
    convcalc.errors.ConvcalcError: --threads must be a whole number of at least 1, got '0'; use 1 for a single thread
    """
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) < 1:
        raise ConvcalcError(
            f"{source} must be a whole number of at least 1, got {str(value)!r}; use 1 for a single thread"
        )
    return int(text)


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one).

    >>> available_cpus() >= 1
    True
    """
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def thread_count() -> int:
    """Threads the kernels use now: ``use_threads``'s setting, else ``CONVCALC_THREADS``, else
    ``available_cpus()``. Inside a chunk that ``parallel_map`` runs, 1.

    >>> with use_threads(3):
    ...     thread_count()
    3
    """
    if _IN_REGION.get():
        return 1
    explicit = _EXPLICIT.get()
    if explicit is not None:
        return explicit
    from_environment = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if from_environment:
        return parse_threads(from_environment, f"the environment variable {ENVIRONMENT_VARIABLE}")
    return available_cpus()


@contextlib.contextmanager
def use_threads(threads: int | None) -> Iterator[None]:
    """Within this block (in this context only: other threads and tasks keep theirs), the
    kernels use ``threads`` threads; None keeps the environment's or the default.

    >>> with use_threads(1):
    ...     parallel_map(lambda n: n * n, [1, 2, 3])
    [1, 4, 9]
    """
    checked = None if threads is None else parse_threads(threads, "the thread count")
    token = _EXPLICIT.set(checked)
    try:
        yield
    finally:
        _EXPLICIT.reset(token)


def even_spans(total: int, pieces: int) -> list[slice]:
    """``range(total)`` cut into ``pieces`` consecutive slices (fewer when ``total`` is smaller)
    whose lengths differ by at most one.

    >>> even_spans(10, 3)
    [slice(0, 3, None), slice(3, 6, None), slice(6, 10, None)]
    """
    pieces = max(1, min(pieces, total))
    return [slice(total * i // pieces, total * (i + 1) // pieces) for i in range(pieces)]


def parallel_spans(total: int, work_bytes: int, least_bytes: int = 1 << 18) -> list[slice]:
    """``range(total)`` cut for ``parallel_map``: one slice per thread, but no slice with less
    than about ``least_bytes`` of the ``work_bytes`` (below that, handing a chunk to another
    thread costs more than it saves). One thread, or little work, gives one slice.

    >>> with use_threads(4):
    ...     parallel_spans(8, 8 << 20), parallel_spans(8, 1000)
    ([slice(0, 2, None), slice(2, 4, None), slice(4, 6, None), slice(6, 8, None)], [slice(0, 8, None)])
    """
    threads = thread_count()
    if threads == 1:
        return [slice(0, total)]
    return even_spans(total, min(threads, max(1, work_bytes // max(1, least_bytes))))


def parallel_map(function: Callable[[ChunkT], ResultT], chunks: Sequence[ChunkT]) -> list[ResultT]:
    """``[function(chunk) for chunk in chunks]``, the chunks run side by side on the pool and
    the calling thread; inline when there is one thread or one chunk. Each chunk runs in a copy
    of the caller's context (``use_threads``, ``allocation_limit``, NumPy's buffer size) with
    BLAS single-threaded. An exception raised by a chunk is raised again here, the same object,
    once the chunks already started have finished; no new chunk starts after it.

    >>> with use_threads(2):
    ...     parallel_map(len, ["a", "bb", "ccc"])
    [1, 2, 3]
    """
    threads = min(thread_count(), len(chunks))
    if threads <= 1:
        return [function(chunk) for chunk in chunks]
    results: list[Any] = [None] * len(chunks)
    failures: list[BaseException] = []
    claim = _Counter()

    def work() -> None:
        _IN_REGION.set(True)
        while not failures:
            index = claim.next()
            if index >= len(chunks):
                return
            try:
                results[index] = function(chunks[index])
            except BaseException as error:  # noqa: BLE001 - raised again by the caller
                failures.append(error)

    pool = _pool(threads - 1)
    with _blas_single_threaded():
        helpers = [pool.submit(contextvars.copy_context().run, work) for _ in range(threads - 1)]
        contextvars.copy_context().run(work)
        for helper in helpers:
            helper.result()
    if failures:
        raise failures[0]
    return results


class _Counter:
    """Hands out 0, 1, 2, ... to threads, each number once."""

    def __init__(self) -> None:
        self._next = 0
        self._lock = threading.Lock()

    def next(self) -> int:
        with self._lock:
            value = self._next
            self._next += 1
            return value


def _pool(workers: int) -> ThreadPoolExecutor:
    """The persistent pool, with at least ``workers`` threads (a larger one replaces it)."""
    global _POOL, _POOL_WORKERS
    from concurrent.futures import ThreadPoolExecutor

    with _POOL_LOCK:
        if _POOL is None or _POOL_WORKERS < workers:
            old = _POOL
            _POOL = ThreadPoolExecutor(workers, "convcalc-kernel", initializer=_start_worker)
            _POOL_WORKERS = workers
            if old is not None:
                old.shutdown(wait=False)
        return _POOL


def _start_worker() -> None:
    """Give a new pool thread one BLAS thread where the limit is per thread (OpenMP BLAS);
    a process-wide limit is set by ``parallel_map`` around each run instead."""
    for library in _blas_libraries():
        if getattr(library, "threading_layer", None) == "openmp":
            library.set_num_threads(1)


def _forget_pool() -> None:
    """In a forked child the pool's threads do not exist: start a new pool when needed."""
    global _POOL, _POOL_WORKERS, _REGIONS
    _POOL, _POOL_WORKERS, _REGIONS = None, 0, 0
    _BLAS_BEFORE.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _blas_libraries() -> list[Any]:
    """threadpoolctl's controllers of the BLAS libraries loaded (NumPy's), found once."""
    global _BLAS_LIBRARIES
    if _BLAS_LIBRARIES is None:
        import numpy  # noqa: F401 - loads the BLAS library the scan must find
        from threadpoolctl import ThreadpoolController

        _BLAS_LIBRARIES = list(ThreadpoolController().select(user_api="blas").lib_controllers)
    return _BLAS_LIBRARIES


def _set_blas(library: Any, threads: int) -> None:
    """Set a library's threads from whichever Python thread asks (threadpoolctl lets only one
    thread change a process-wide limit; callers hold ``_BLAS_LOCK``)."""
    if library.num_threads != threads:
        clear = getattr(library, "clear_controlling_thread", None)
        if clear is not None:
            clear(force=True)
        library.set_num_threads(threads)


@contextlib.contextmanager
def _blas_single_threaded() -> Iterator[None]:
    """BLAS at one thread while any ``parallel_map`` runs, as it was once the last one ends."""
    global _REGIONS
    with _BLAS_LOCK:
        if _REGIONS == 0:
            _BLAS_BEFORE[:] = [(library, library.num_threads) for library in _blas_libraries()]
            for library, _ in _BLAS_BEFORE:
                _set_blas(library, 1)
        _REGIONS += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _REGIONS -= 1
            if _REGIONS == 0:
                for library, threads in _BLAS_BEFORE:
                    _set_blas(library, threads)


@contextlib.contextmanager
def blas_threads() -> Iterator[None]:
    """Within this block BLAS uses ``thread_count()`` threads (at most what it started with),
    then what it used before; inside a ``parallel_map`` chunk, or while one runs, it stays at 1.
    Kernels whose GEMMs may run outside the pool call their work in this block.

    >>> import numpy as np
    >>> with use_threads(1), blas_threads():
    ...     float((np.ones((2, 3)) @ np.ones(3)).sum())
    6.0
    """
    threads = thread_count()
    changed: list[tuple[Any, int]] = []
    with _BLAS_LOCK:
        if _REGIONS == 0:
            for library in _blas_libraries():
                before = library.num_threads
                if before is not None and before != threads:
                    changed.append((library, before))
                    _set_blas(library, threads)
    try:
        yield
    finally:
        if changed:
            with _BLAS_LOCK:
                if _REGIONS == 0:
                    for library, before in changed:
                        _set_blas(library, before)
