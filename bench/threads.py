"""What handing work to convcalc's thread pool costs, and which least chunk size pays.

Usage: python bench/threads.py [--threads N] [--least KIB,KIB,...]

1. Hand-off: ``parallel_map`` over 2, 4 and 8 chunks that do nothing, or one 4 KB ``np.add``
   each, at 1 thread (inline) and at N threads (every chunk handed out: least_chunk_bytes 0).
2. Wake-up: how long a pool-style thread, sleeping on a lock, takes to run after the lock is
   released, by how long it slept before (a CPU idle for long sleeps deeper, in a VM especially).
3. Kernels: batch norm, ReLU, bilinear upsampling, max pooling, the ResNet stem conv and a 3x3
   conv on one 224x224 image's sizes, at 1 thread and at N threads for each least chunk size.
   The figure ``LEAST_CHUNK_BYTES`` documents comes from this table.

Times are medians in a loop, on float32 inputs from one seeded generator. Run it on an idle
machine (other processes' work lands in the timings).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from convcalc.kernels.conv import conv_nd  # noqa: E402
from convcalc.kernels.elementwise import batch_norm, relu  # noqa: E402
from convcalc.kernels.pooling import max_pool_nd  # noqa: E402
from convcalc.kernels.resample import interpolate  # noqa: E402
from convcalc.kernels.threads import parallel_map, use_threads  # noqa: E402


def median_us(function: Callable[[], object], calls: int) -> float:
    for _ in range(max(3, calls // 10)):
        function()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def hand_off(threads: int) -> None:
    data = np.ones(1 << 14, np.float32)

    def add(span: slice) -> None:
        np.add(data[span], 1, out=data[span])

    print(f"hand-off: parallel_map at 1 thread vs {threads} (µs)")
    for chunks in (2, 4, 8):
        spans = [slice(1000 * i, 1000 * (i + 1)) for i in range(chunks)]
        for name, function, items in (("no-op", lambda _: None, list(range(chunks))), ("np.add 4 KB", add, spans)):
            with use_threads(1):
                inline = median_us(lambda: parallel_map(function, items), 2000)
            with use_threads(threads, least_chunk_bytes=0):
                pooled = median_us(lambda: parallel_map(function, items), 2000)
            print(f"  {chunks} chunks {name:12s} inline {inline:6.1f}  pool {pooled:6.1f}  cost {pooled - inline:6.1f}")


def wake_up() -> None:
    wake, woke = threading.Lock(), threading.Lock()
    wake.acquire()
    woke.acquire()
    stamp = [0.0]

    def sleeper() -> None:
        while True:
            wake.acquire()
            stamp[0] = time.perf_counter()
            woke.release()

    threading.Thread(target=sleeper, daemon=True).start()
    print("wake-up of a thread sleeping on a lock (µs)")
    for slept in (20e-6, 100e-6, 1e-3, 10e-3):
        latencies = []
        for _ in range(300 if slept < 5e-3 else 60):
            time.sleep(slept)
            start = time.perf_counter()
            wake.release()
            woke.acquire()
            latencies.append(stamp[0] - start)
        print(f"  after sleeping {slept * 1e6:7.0f} µs: {statistics.median(latencies) * 1e6:6.1f}")


def kernels(threads: int, leasts: list[int]) -> None:
    rng = np.random.default_rng(0)

    def array(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape, dtype=np.float32)

    x, small = array(1, 64, 112, 112), array(1, 64, 56, 56)
    stats = (array(64), np.abs(array(64)) + 0.5, array(64), array(64))
    stem, stem_w = array(1, 3, 224, 224), array(64, 3, 7, 7)
    deep, deep_w = array(1, 256, 14, 14), array(256, 256, 3, 3)
    cases = {
        "batch norm 64x112x112": lambda: batch_norm(x, *stats),
        "relu 64x112x112": lambda: relu(x),
        "bilinear x2 64x56x56": lambda: interpolate(small, (112, 112), "bilinear", scales=(2.0, 2.0)),
        "max pool 3/2 64x112x112": lambda: max_pool_nd(x, 3, 2, 1),
        "stem conv 7x7/2": lambda: conv_nd(stem, stem_w, None, 2, 3),
        "3x3 conv 256x14x14": lambda: conv_nd(deep, deep_w, None, 1, 1),
    }
    print(f"kernels (ms): 1 thread, then {threads} threads with each least chunk size")
    print(f"  {'':24s} {'1 thread':>8s} " + " ".join(f"{least >> 10:>7d}K" for least in leasts))
    for name, function in cases.items():
        with use_threads(1):
            row = [median_us(function, 60) / 1e3]
        for least in leasts:
            with use_threads(threads, least_chunk_bytes=least):
                row.append(median_us(function, 60) / 1e3)
        print(f"  {name:24s} " + " ".join(f"{value:8.3f}" for value in row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--least", default="4096,2048,1024,512,256", help="least chunk sizes in KiB")
    args = parser.parse_args()
    hand_off(args.threads)
    wake_up()
    kernels(args.threads, [int(text) << 10 for text in args.least.split(",")])


if __name__ == "__main__":
    main()
