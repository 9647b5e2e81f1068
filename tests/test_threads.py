"""The kernels' thread pool (convcalc.kernels.threads): how many threads, that chunks really run
on several threads, errors, context, BLAS limits. Torch-free."""

from __future__ import annotations

import os
import threading
import time

import pytest

from convcalc.errors import ConvcalcError
from convcalc.kernels import threads as pool
from convcalc.kernels.threads import (
    ENVIRONMENT_VARIABLE,
    available_cpus,
    parallel_map,
    parallel_spans,
    thread_count,
    use_threads,
)


def test_default_is_the_cpus_this_process_may_use(monkeypatch):
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    assert thread_count() == available_cpus() >= 1


def test_environment_variable_then_explicit_setting_win(monkeypatch):
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "3")
    assert thread_count() == 3
    with use_threads(5):
        assert thread_count() == 5
        with use_threads(None):  # None keeps the environment's
            assert thread_count() == 3
    assert thread_count() == 3


@pytest.mark.parametrize("value", ["0", "-1", "x", "1.5"])
def test_bad_environment_variable_is_a_clear_error(monkeypatch, value):
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, value)
    with pytest.raises(ConvcalcError, match=f"{ENVIRONMENT_VARIABLE} must be a whole number of at least 1, got '{value}'"):
        thread_count()


@pytest.mark.parametrize("value", [0, -2, "x", True])
def test_bad_explicit_setting_is_refused(value):
    with pytest.raises(ConvcalcError, match="at least 1"):
        with use_threads(value):
            pass


def test_setting_is_context_local():
    seen = {}

    def other() -> None:
        seen["other"] = thread_count()

    with use_threads(7):
        worker = threading.Thread(target=other)
        worker.start()
        worker.join()
        assert thread_count() == 7
    assert seen["other"] != 7 or available_cpus() == 7


def _slow_identity(chunk: int) -> tuple[int, int]:
    time.sleep(0.02)  # long enough that one thread cannot take every chunk before the others start
    return chunk, threading.get_ident()


def test_chunks_run_on_several_threads_in_order():
    with use_threads(4):
        results = parallel_map(_slow_identity, list(range(8)))
    assert [chunk for chunk, _ in results] == list(range(8))
    assert len({ident for _, ident in results}) > 1
    assert threading.get_ident() in {ident for _, ident in results}  # the caller works too


def test_one_thread_or_one_chunk_runs_inline():
    with use_threads(1):
        results = parallel_map(_slow_identity, [0, 1, 2])
    assert {ident for _, ident in results} == {threading.get_ident()}
    with use_threads(4):
        assert parallel_map(_slow_identity, [0])[0][1] == threading.get_ident()


def test_a_chunk_sees_the_callers_context_and_runs_nested_work_inline():
    from convcalc.kernels._common import _LIMIT, allocation_limit

    def chunk(_: int) -> tuple[int | None, int, set[int]]:
        inner = parallel_map(_slow_identity, [0, 1])
        return _LIMIT.get(), thread_count(), {ident for _, ident in inner}

    with use_threads(3), allocation_limit(1234):
        results = parallel_map(chunk, [0, 1, 2])
    for limit, count, inner_threads in results:
        assert limit == 1234 and count == 1 and len(inner_threads) == 1


class Boom(Exception):
    pass


def test_an_error_in_a_worker_is_raised_again_as_the_same_exception():
    raised = Boom("chunk 5")
    started = []

    def chunk(index: int) -> int:
        started.append(index)
        time.sleep(0.01)
        if index == 5:
            raise raised
        return index

    with use_threads(3), pytest.raises(Boom) as caught:
        parallel_map(chunk, list(range(40)))
    assert caught.value is raised
    assert len(started) < 40  # no new chunk starts after the failure
    with use_threads(3):  # the pool still works afterwards
        assert parallel_map(abs, [-1, -2, -3]) == [1, 2, 3]


def test_parallel_spans_cover_the_range_once():
    with use_threads(3):
        spans = parallel_spans(10, 40 << 20)
    assert [(s.start, s.stop) for s in spans] == [(0, 1), (1, 3), (3, 5), (5, 6), (6, 8), (8, 10)]
    with use_threads(3):
        assert len(parallel_spans(10, 3 * pool.LEAST_CHUNK_BYTES)) == 3  # no piece under least_chunk_bytes
    with use_threads(1):
        assert parallel_spans(10, 10 << 20) == [slice(0, 10)]


def test_blas_runs_single_threaded_in_chunks_and_with_the_thread_count_outside():
    np = pytest.importorskip("numpy")
    pool._Blas.now()
    libraries = pool._Blas.libraries
    if not libraries:
        pytest.skip("no BLAS library that threadpoolctl can control")
    before = [library.num_threads for library in libraries]

    def chunk(_: int) -> list[int]:
        float(np.ones((4, 4)).dot(np.ones(4)).sum())
        return [library.num_threads for library in libraries]

    with use_threads(2):
        inside = parallel_map(chunk, [0, 1], gemm=True)
    assert all(count == [1] * len(libraries) for count in inside)
    assert [library.num_threads for library in libraries] == before
    with use_threads(1), pool.blas_threads():
        assert [library.num_threads for library in libraries] == [1] * len(libraries)
    assert [library.num_threads for library in libraries] == before


def test_an_interruption_in_the_caller_stops_the_region_and_the_pool_recovers():
    started = []

    def chunk(index: int) -> int:
        started.append(index)
        time.sleep(0.01)
        if threading.current_thread() is threading.main_thread() and index > 0:
            raise KeyboardInterrupt  # as Ctrl-C would, in the calling thread
        return index

    with use_threads(2), pytest.raises(KeyboardInterrupt):
        parallel_map(chunk, list(range(40)))
    assert len(started) < 40
    with use_threads(2):
        assert parallel_map(abs, [-1, -2, -3, -4]) == [1, 2, 3, 4]


def test_every_chunk_starts_from_the_callers_context():
    import contextvars

    mark: contextvars.ContextVar[int | None] = contextvars.ContextVar("mark", default=None)

    def chunk(index: int) -> int | None:
        seen = mark.get()
        mark.set(index)  # must not leak into the next chunk run by the same thread
        time.sleep(0.002)
        return seen

    token = mark.set(-1)
    try:
        with use_threads(2):
            assert parallel_map(chunk, list(range(12))) == [-1] * 12
        assert mark.get() == -1
    finally:
        mark.reset(token)


def _kernel_threads() -> set[int]:
    return {t.ident for t in threading.enumerate() if t.name == "convcalc-kernel"}


def test_the_pool_keeps_its_threads_between_calls():
    with use_threads(3):
        parallel_map(_slow_identity, list(range(6)))
        before = _kernel_threads()
        for _ in range(50):
            parallel_map(abs, [-1, -2, -3])
        seen = {ident for _, ident in parallel_map(_slow_identity, list(range(6)))}
    assert len(before) >= 2 and _kernel_threads() == before
    assert seen - {threading.get_ident()} <= before


def test_a_worker_is_idle_again_before_its_last_chunk_is_reported_finished(monkeypatch):
    """A kernel's next region often follows at once: the worker must be back on the idle list
    before the caller, waiting for the worker's last chunk, is woken (else the caller may find
    it still busy and run the next region alone). Here the worker's chunk ends last, the caller
    waiting for it; when the worker goes idle the region must not yet be reported finished."""
    regions: list = []
    ran: set[int] = set()  # the workers that ran a chunk of the region now running
    checks: list[bool] = []

    class Recorded(pool._Region):
        def __init__(self, *args) -> None:
            super().__init__(*args)
            regions.append(self)

    class CheckedIdle(list):
        def append(self, worker) -> None:
            if worker.thread.ident in ran:
                checks.append(regions[-1].all_finished.locked())  # the waiting caller not yet released
            super().append(worker)

    monkeypatch.setattr(pool, "_Region", Recorded)
    monkeypatch.setattr(pool, "_IDLE", CheckedIdle(pool._IDLE))
    caller = threading.get_ident()

    def chunk(_: int) -> None:
        if threading.get_ident() == caller:  # holds its chunk until the worker has taken the other
            assert started.wait(10)
        else:
            ran.add(threading.get_ident())
            started.set()
            time.sleep(0.02)  # ends last

    with use_threads(2):
        for _ in range(10):
            started = threading.Event()
            ran.clear()
            parallel_map(chunk, [0, 1])
    assert len(checks) == 10 and all(checks), checks


def test_calls_from_several_threads_at_once_each_get_their_results():
    answers: dict[int, list[int]] = {}

    def caller(offset: int) -> None:
        with use_threads(2):
            answers[offset] = parallel_map(lambda n: (time.sleep(0.001), n + offset)[1], list(range(20)))

    callers = [threading.Thread(target=caller, args=(100 * k,)) for k in range(4)]
    for thread in callers:
        thread.start()
    for thread in callers:
        thread.join()
    assert answers == {100 * k: [n + 100 * k for n in range(20)] for k in range(4)}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork on this platform")
def test_a_forked_child_gets_a_pool_of_its_own():
    with use_threads(2):
        parallel_map(_slow_identity, list(range(4)))  # the parent's pool threads exist
    pid = os.fork()
    if pid == 0:  # the child: its pool must start afresh and split the work again
        try:
            with use_threads(2):
                results = parallel_map(_slow_identity, list(range(8)))
            good = [c for c, _ in results] == list(range(8)) and len({i for _, i in results}) > 1
        except BaseException:  # noqa: BLE001 - any failure is the child's exit status
            good = False
        os._exit(0 if good else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
