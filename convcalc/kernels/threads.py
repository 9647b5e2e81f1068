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
import functools
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from ..errors import ConvcalcError

ENVIRONMENT_VARIABLE = "CONVCALC_THREADS"

ChunkT = TypeVar("ChunkT")
ResultT = TypeVar("ResultT")

LEAST_CHUNK_BYTES = 1 << 20
"""The least work (bytes read and written) worth handing to another thread: 1 MiB, 40-250 µs
of one core's work in a streaming kernel (batch norm, activations, pooling, resampling), which
a hand-off costs a fraction of. Measured on the 2-core development VM (KVM) with
``python bench/threads.py --threads 2``: a hand-off costs the caller about 6 µs, the woken
thread 5-10 µs of wake-up when it slept under 0.1 ms (35-40 µs after 10 ms), and each NumPy
call made beside another thread about 10 µs of GIL hand-over. Its kernel table at 2 threads
(ms; inline at 1 thread, then least chunk 4 MiB, 2, 1, 0.5 and 0.25 MiB): bilinear ×2 of
64×56×56 1.32; 1.34, 1.45, 1.13, 0.91, 0.85; 3/2 max pool of 64×112×112 0.99; 0.98, 0.99, 0.83,
0.73, 0.72; batch norm of 64×112×112 0.29; 0.28, 0.25, 0.21, 0.28, 0.21 (4 MiB, the former
figure, split none of them). Calls of 1 and 2 threads interleaved put the gain of 512 KiB and
1 MiB within noise of each other (bilinear 1.15-1.3×, max pool 1.0-1.2×), and a lone batch norm
or ReLU at 0.75-1.0×: on this VM two cores share one core's memory bandwidth (torch's batch
norm gains 1.15× from the second core). The figure is a per-chunk cost, not a count of cores:
more cores cut the same work into more chunks, each at least this size, and on machines whose
bandwidth grows with the cores the streaming kernels gain too.

A timeline of a 2-thread softmax of 12×197×197 (four chunks, each five NumPy passes) on that VM
shows why a chunk must be long there: the woken thread starts its first chunk 20-50 µs after
the call, and a thread whose NumPy call ends while the other holds the GIL sleeps until it is
handed back, each wake-up of an idle vCPU tens of µs; in some calls the caller's one chunk took
970 µs while the pool thread ran the other three at 240 µs each."""

_EXPLICIT: contextvars.ContextVar[int | None] = contextvars.ContextVar("convcalc_threads", default=None)
_LEAST: contextvars.ContextVar[int] = contextvars.ContextVar("convcalc_least_chunk", default=LEAST_CHUNK_BYTES)
# True inside a chunk run by parallel_map: a kernel called from a chunk runs inline, so a pool
# thread never waits on the pool it belongs to.
_IN_REGION: contextvars.ContextVar[bool] = contextvars.ContextVar("convcalc_in_region", default=False)

_POOL_LOCK = threading.Lock()
_IDLE: list[_Worker] = []  # pool threads waiting for a region, the last to finish at the end
_STARTED = 0  # pool threads started in this process

_BLAS_LOCK = threading.Lock()
_REGIONS = 0  # parallel_map calls running now, in any thread: BLAS stays at 1 while any runs
_BLAS_BEFORE: int | None = None  # BLAS's thread count before the regions running now
# True inside a blas_threads block (see _blas_single_threaded).
_BLAS_BLOCK: contextvars.ContextVar[bool] = contextvars.ContextVar("convcalc_blas_block", default=False)
_CPUS: int | None = None  # available_cpus(), read once per process


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
    """The CPUs this process may run on (its affinity mask where the OS has one), read once.

    >>> available_cpus() >= 1
    True
    """
    global _CPUS
    if _CPUS is None:
        try:
            _CPUS = len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            _CPUS = os.cpu_count() or 1
    return _CPUS


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
    return _from_environment(os.environ.get(ENVIRONMENT_VARIABLE, ""))


@functools.lru_cache(maxsize=8)
def _from_environment(text: str) -> int:
    """The thread count ``CONVCALC_THREADS`` holding ``text`` asks for (blank: every CPU)."""
    if not text.strip():
        return available_cpus()
    return parse_threads(text, f"the environment variable {ENVIRONMENT_VARIABLE}")


def in_region() -> bool:
    """True inside a chunk that ``parallel_map`` runs on the pool (other threads may be running
    chunks beside it: a kernel then prefers few long NumPy calls, as each call's release and
    retaking of the GIL waits for the other threads' calls to let it go).

    >>> with use_threads(2):
    ...     in_region(), parallel_map(lambda _: in_region(), [0, 1])
    (False, [True, True])
    """
    return _IN_REGION.get()


def least_chunk_bytes() -> int:
    """The least work, in bytes, that a kernel hands to a thread of its own (see ``use_threads``).

    >>> least_chunk_bytes() == LEAST_CHUNK_BYTES
    True
    """
    return _LEAST.get()


@contextlib.contextmanager
def use_threads(threads: int | None, *, least_chunk_bytes: int | None = None) -> Iterator[None]:
    """Within this block (in this context only: other threads and tasks keep theirs), the
    kernels use ``threads`` threads; None keeps the environment's or the default.
    ``least_chunk_bytes`` changes the least work worth a thread of its own (0: split even
    tiny inputs, as the tests do to run every kernel's threaded path).

    >>> with use_threads(1):
    ...     parallel_map(lambda n: n * n, [1, 2, 3])
    [1, 4, 9]
    """
    checked = None if threads is None else parse_threads(threads, "the thread count")
    if checked is None and not _IN_REGION.get():  # the environment's, refused now if invalid,
        _from_environment(os.environ.get(ENVIRONMENT_VARIABLE, ""))  # not by whichever kernel splits first
    token = _EXPLICIT.set(checked)
    least = _LEAST.set(LEAST_CHUNK_BYTES if least_chunk_bytes is None else max(0, least_chunk_bytes))
    try:
        yield
    finally:
        _LEAST.reset(least)
        _EXPLICIT.reset(token)


def even_spans(total: int, pieces: int) -> list[slice]:
    """``range(total)`` cut into ``pieces`` consecutive slices (fewer when ``total`` is smaller)
    whose lengths differ by at most one.

    >>> even_spans(10, 3)
    [slice(0, 3, None), slice(3, 6, None), slice(6, 10, None)]
    """
    pieces = max(1, min(pieces, total))
    return [slice(total * i // pieces, total * (i + 1) // pieces) for i in range(pieces)]


def parallel_spans(total: int, work_bytes: int, *, least_times: int = 1) -> list[slice]:
    """``range(total)`` (planes, rows, elements) cut for ``parallel_map``: two slices per thread
    (a thread held up by another process leaves its second one to the others), but none with
    less than ``least_times`` × ``least_chunk_bytes()`` of the ``work_bytes`` (below that,
    handing a chunk to another thread costs more than it saves; a kernel whose chunks make many
    NumPy calls, each waiting for the GIL as it returns, needs more). One thread, or little
    work, gives the whole range as one slice.

    >>> with use_threads(2):
    ...     parallel_spans(8, 32 << 20), parallel_spans(8, 1000), parallel_spans(8, 32 << 20, least_times=16)
    ([slice(0, 2, None), slice(2, 4, None), slice(4, 6, None), slice(6, 8, None)], [slice(0, 8, None)], [slice(0, 4, None), slice(4, 8, None)])
    """
    threads = thread_count()
    if threads == 1:
        return [slice(0, total)]
    least = max(1, least_times * least_chunk_bytes())
    return even_spans(total, min(2 * threads, max(1, work_bytes // least)))


def parallel_map(
    function: Callable[[ChunkT], ResultT], chunks: Sequence[ChunkT], *, gemm: bool = False
) -> list[ResultT]:
    """``[function(chunk) for chunk in chunks]``, the chunks run side by side on the pool and
    the calling thread; inline when there is one thread or one chunk. Each chunk runs in a copy
    of the caller's context (``use_threads``, ``allocation_limit``, NumPy's buffer size and
    error state); when they multiply matrices (``gemm``), BLAS runs single-threaded in them,
    so that the pool's threads and BLAS's do not compete for the cores. An exception raised by
    a chunk is raised again here, the same object, once the chunks already started have
    finished; no new chunk starts after it (nor after Ctrl-C in the caller).

    >>> with use_threads(2):
    ...     parallel_map(len, ["a", "bb", "ccc"])
    [1, 2, 3]
    """
    threads = min(thread_count(), len(chunks))
    if threads <= 1:
        return [function(chunk) for chunk in chunks]
    region = _Region(function, chunks, gemm)
    with _blas_single_threaded(gemm):
        for worker in _recruit(threads - 1):
            worker.start(region)
        try:
            region.work()
            region.wait()
        except BaseException as error:  # Ctrl-C while waiting: the pool threads start no more chunks
            region.fail(error)
            raise
    if region.failures:
        raise region.failures[0]
    return region.results


class _Region:
    """One ``parallel_map`` call: threads claim its chunks one at a time until none is left
    (or one failed); the caller then waits only for the chunks claimed, not for pool threads
    that woke too late to get one."""

    def __init__(self, function: Callable[[Any], Any], chunks: Sequence[Any], gemm: bool) -> None:
        self.function, self.chunks, self.gemm = function, chunks, gemm
        self.results: list[Any] = [None] * len(chunks)
        self.failures: list[BaseException] = []
        self.claimed = self.finished = 0
        self.waiting = False
        self.lock = threading.Lock()
        self.all_finished = threading.Lock()  # held until the last claimed chunk finishes
        self.all_finished.acquire()
        # The context every chunk starts from, a fresh copy each: the caller's, inside a region.
        self.context = contextvars.copy_context()
        self.context.run(_IN_REGION.set, True)

    def work(self, worker: _Worker | None = None) -> None:
        """Claim and run chunks until none is left or one failed (any thread, the caller too).
        A pool ``worker`` goes back on the idle list as soon as it has no chunk left, before
        the region's last chunk is reported finished: a caller whose next region follows at
        once finds it idle (back to back, the caller was found running every chunk alone)."""
        if self.gemm:
            _one_blas_thread_here()
        index = self._next(worker)
        while index is not None:
            try:
                self.results[index] = self.context.copy().run(self.function, self.chunks[index])
            except BaseException as error:  # noqa: BLE001 - raised again by the caller
                self.fail(error)
            index = self._next(worker, finished=True)

    def _next(self, worker: _Worker | None, finished: bool = False) -> int | None:
        """The next chunk to run, None when none is left (a ``worker`` then goes idle), after
        counting the chunk this thread ``finished``."""
        with self.lock:
            self.finished += finished
            index = None
            if not self.failures and self.claimed < len(self.chunks):
                index = self.claimed
                self.claimed += 1
            elif worker is not None:
                with _POOL_LOCK:
                    _IDLE.append(worker)
            if finished and self.waiting and self.finished == self.claimed:
                self.all_finished.release()
            return index

    def fail(self, error: BaseException) -> None:
        """Record ``error``: no chunk is claimed after it."""
        with self.lock:
            self.failures.append(error)

    def wait(self) -> None:
        """Until every claimed chunk has finished (called once the caller's own claims ran out,
        when no chunk can be claimed any more)."""
        with self.lock:
            if self.finished == self.claimed:
                return
            self.waiting = True
        self.all_finished.acquire()


class _Worker:
    """A pool thread. It sleeps on a lock of its own, released by the caller that hands it a
    region: one futex wake, no queue, future or condition (``ThreadPoolExecutor.submit`` cost
    about 15 µs of the caller's time a chunk on the 2-core development VM; this, under 1 µs).
    No spinning before sleeping: a Python loop holds the GIL, which the caller's chunks need."""

    def __init__(self) -> None:
        self.region: _Region | None = None
        self.wake = threading.Lock()
        self.wake.acquire()
        self.thread = threading.Thread(target=self.serve, name="convcalc-kernel", daemon=True)
        self.thread.start()

    def start(self, region: _Region) -> None:
        """Run ``region``'s chunks (the worker is idle: off the idle list, waiting on ``wake``)."""
        self.region = region
        self.wake.release()

    def serve(self) -> None:
        while True:
            self.wake.acquire()
            region, self.region = self.region, None
            if region is not None:
                region.work(self)  # back on the idle list when it has no chunk left
            del region  # the chunks' arrays are not kept alive while the worker sleeps


def _recruit(workers: int) -> list[_Worker]:
    """Up to ``workers`` idle pool threads, taken off the idle list; threads are started until
    the pool has ``workers`` of them. Fewer when other calls (other threads, or chunks still
    running after an interruption) hold the rest: the caller then runs more chunks itself."""
    global _STARTED
    with _POOL_LOCK:
        taken = _IDLE[len(_IDLE) - min(workers, len(_IDLE)) :]
        del _IDLE[len(_IDLE) - len(taken) :]
        while len(taken) < workers and _STARTED < workers:
            taken.append(_Worker())
            _STARTED += 1
        return taken


_PER_THREAD = threading.local()


def _forget_pool() -> None:
    """In a forked child the pool's threads do not exist, and a lock another thread held at the
    fork stays held: new locks, and a new pool when needed."""
    global _POOL_LOCK, _BLAS_LOCK, _IDLE, _STARTED, _REGIONS, _CPUS
    _POOL_LOCK, _BLAS_LOCK = threading.Lock(), threading.Lock()
    _IDLE, _STARTED, _REGIONS, _CPUS = [], 0, 0, None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


class _Blas:
    """The BLAS libraries loaded (threadpoolctl's controllers, found on first use) and the
    thread count they were last given. Changing it costs microseconds through threadpoolctl
    and up to tens of µs in OpenBLAS (it waits for its threads), so it is changed only when it
    differs from the count recorded; callers hold ``_BLAS_LOCK``."""

    libraries: list[Any] | None = None
    threads: int | None = None  # what they use now, as far as convcalc knows

    @classmethod
    def now(cls) -> int | None:
        if cls.libraries is None:
            import numpy  # noqa: F401 - loads the BLAS library the scan must find
            from threadpoolctl import ThreadpoolController

            cls.libraries = list(ThreadpoolController().select(user_api="blas").lib_controllers)
            counts = [library.num_threads for library in cls.libraries]
            cls.threads = max(counts) if counts else None
        return cls.threads

    @classmethod
    def use(cls, threads: int | None) -> None:
        if threads is None or cls.now() == threads:
            return
        for library in cls.libraries or ():
            # threadpoolctl lets only one Python thread change a process-wide limit: any may.
            clear = getattr(library, "clear_controlling_thread", None)
            if clear is not None:
                clear(force=True)
            library.set_num_threads(threads)
        cls.threads = threads


def _one_blas_thread_here() -> None:
    """Give this pool thread one BLAS thread where the limit is per thread (OpenMP BLAS), once;
    a process-wide limit is set by ``parallel_map`` around the region instead."""
    if getattr(_PER_THREAD, "blas_limited", False):
        return
    for library in _Blas.libraries or ():
        if getattr(library, "threading_layer", None) == "openmp":
            library.set_num_threads(1)
    _PER_THREAD.blas_limited = True


@contextlib.contextmanager
def _blas_single_threaded(gemm: bool) -> Iterator[None]:
    """BLAS at one thread while a ``parallel_map`` whose chunks multiply (``gemm``) runs.

    Within a ``blas_threads`` block the limit is left at 1 for the next region (that block's
    end puts back what was there); outside one, the last region to end puts it back.
    """
    global _REGIONS, _BLAS_BEFORE
    if not gemm:
        yield
        return
    with _BLAS_LOCK:
        if _REGIONS == 0 and not _BLAS_BLOCK.get():
            _BLAS_BEFORE = _Blas.now()
        _Blas.use(1)
        _REGIONS += 1
    try:
        yield
    finally:
        with _BLAS_LOCK:
            _REGIONS -= 1
            if _REGIONS == 0 and not _BLAS_BLOCK.get():
                _Blas.use(_BLAS_BEFORE)


class blas_threads:
    """Within this block a lone BLAS call uses ``thread_count()`` threads (at most what BLAS
    allows), and ``parallel_map`` regions one each; the outermost block's end puts back what
    BLAS had before it. Kernels whose GEMMs may run outside the pool run in this block (or
    are decorated with ``on_blas_threads``); a caller running many kernels may wrap them all
    in one.

    >>> import numpy as np
    >>> with use_threads(1), blas_threads():
    ...     float((np.ones((2, 3)) @ np.ones(3)).sum())
    6.0
    """

    def __enter__(self) -> None:
        threads = thread_count()
        before = _Blas.now()
        if before != threads:  # else nothing to change: no lock (the common case, every call)
            with _BLAS_LOCK:
                if _REGIONS == 0:
                    _Blas.use(threads)
        self._restore = None if _BLAS_BLOCK.get() else before
        self._token = _BLAS_BLOCK.set(True)

    def __exit__(self, *exc: object) -> None:
        _BLAS_BLOCK.reset(self._token)
        if self._restore is not None and self._restore != _Blas.threads:
            with _BLAS_LOCK:
                if _REGIONS == 0:
                    _Blas.use(self._restore)


def on_blas_threads(function: Callable[..., ResultT]) -> Callable[..., ResultT]:
    """``function`` run inside a ``blas_threads`` block (a kernel made of lone GEMMs).

    >>> on_blas_threads(abs)(-2)
    2
    """

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> ResultT:
        with blas_threads():
            return function(*args, **kwargs)

    return run
