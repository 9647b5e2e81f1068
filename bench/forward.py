"""Time convcalc's NumPy forward kernels against torch, layer by layer, and compare peak memory.

Usage: python bench/forward.py [--quick] [--threads N] [--only TEXT] [--part all|layers|networks]

Threads. Both engines get the same number of threads, N (default: the CPUs this process may run
on, which is what OpenBLAS uses by default). Before numpy or torch is imported the script sets
CONVCALC_THREADS (convcalc's kernels: their thread pool and BLAS's threads), OPENBLAS_NUM_THREADS,
OMP_NUM_THREADS and MKL_NUM_THREADS to N and re-executes itself if they were not already so
(BLAS libraries read them once, at load time); it then calls ``torch.set_num_threads(N)`` and,
when threadpoolctl is installed, also limits every BLAS thread pool to N with it and prints what
the pools report, and the thread count convcalc's kernels use.

Allocation. Before re-executing, the script also sets glibc's ``MALLOC_MMAP_THRESHOLD_`` and
``MALLOC_TRIM_THRESHOLD_`` high, so that a buffer freed by one call is reused by the next instead
of being handed back to the kernel and faulted in again page by page. Without that, whether an
engine pays those page faults depends on glibc's history in the process: torch's depthwise conv
was seen at 0.2 ms in one process and 2.3 ms in another (1291 minor faults per call, each
about 1.8 µs on this VM). Steady state, as in any loop over batches, is the fair comparison.

Timing. Everything runs in this one process, on float32 inputs built from one seeded generator
(torch sees the same arrays through ``torch.from_numpy``; torch runs under
``torch.inference_mode()``). For each layer, both engines run in alternating blocks: a pause
(so the other library's idle worker threads stop spinning and do not steal a core), a wait of
up to 10 s until other processes leave the CPUs idle, one warm-up call, then timed calls; a block
during which other processes kept more than 10% of the CPUs busy is thrown away and run again
(up to 3 attempts; the report counts them). With as many threads as cores, one foreign busy
process slows a parallel region far more than proportionally, and such a timing says nothing
about either engine. Each layer gets 5 rounds (3 with --quick) of one block per engine, back to
back; the times shown are the medians of all timed calls, and the layer's ratio is the median
over rounds of convcalc's block median / torch's block median (the two blocks of a round saw the
same machine, which drifts over minutes on a shared host); "rounds" shows the smallest and
largest round ratio. Each convcalc output is also checked against torch's (max error <= 1e-5 ·
max |output|).

Peak memory, of a batch-32 3×3 conv (64→64 channels, 56×56, padding 1, bias). Measured once per
engine in a fresh child process (same thread settings) with glibc's ``MALLOC_MMAP_THRESHOLD_``
fixed at 64 KiB, so every large buffer of either library is mmap'd on allocation and unmapped on
free and the resident set size tracks live buffers exactly. The child builds the input and the
weights, runs the layer once (warm-up: code pages, oneDNN primitives; convcalc then frees the
scratch buffers it keeps between calls, so that its peak counts them), resets the kernel's
high-water mark (``echo 5 > /proc/self/clear_refs``), reads VmRSS, runs the layer again and
reads VmHWM: peak = VmHWM − VmRSS before the call, the memory the call itself needed, output
included. (tracemalloc cannot be used for the comparison: it sees NumPy's buffers but not
torch's; for convcalc its peak is printed as a cross-check.) Without /proc (not Linux) memory is
reported as unmeasured and does not count.

Whole networks (bench/networks.py), after the layers: each network built in torch and read by
convcalc from its print(model) text with the same weights, run through ``Network.forward``'s
prepared plan (prepared by a first call, outside the timing), checked and timed as the layers
are. ``--part layers`` or ``--part networks`` runs one of the two tables.

Exit status: 0 when the median ratio is <= 1.5, no ratio is above 3, convcalc's peak memory is
at most 2× torch's, the networks' median ratio is <= 1.3 and none above 2.0 at one thread (1.5
and 2.5 with more threads), and every output matches; 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MEDIAN_BAR, MAX_BAR, MEMORY_BAR = 1.5, 3.0, 2.0
THREAD_VARIABLES = ("CONVCALC_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
# glibc keeps freed buffers for reuse instead of returning them to the kernel (see the docstring).
STEADY_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(2**30), "MALLOC_TRIM_THRESHOLD_": str(2**31)}
MEMORY_SHAPE = (32, 64, 56, 56)


def thread_count_argument(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds and calls")
    parser.add_argument("--threads", type=thread_count_argument, default=len(os.sched_getaffinity(0)),
                        help="threads of both engines (default: the CPUs this process may run on)")
    parser.add_argument(
        "--only", metavar="TEXT",
        help="time only the layers and networks whose name contains TEXT (case-insensitive; a "
        "table it picks none from is skipped); the median and memory bars are then not judged",
    )
    parser.add_argument(
        "--part", choices=("all", "layers", "networks"), default="all",
        help="the per-layer table, the whole-network table (bench/networks.py), or both (default)",
    )
    parser.add_argument("--memory-child", choices=("convcalc", "torch"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def pin_threads(threads: int) -> None:
    """Re-execute with the thread and malloc variables set, unless they already are."""
    wanted = {name: str(threads) for name in THREAD_VARIABLES}
    if "--memory-child" not in sys.argv:  # the memory child overrides the mmap threshold
        wanted.update(STEADY_MALLOC)
    if all(os.environ.get(name) == value for name, value in wanted.items()):
        return
    os.environ.update(wanted)
    os.execv(sys.executable, [sys.executable, *sys.argv])


args = parse_args(sys.argv[1:])
pin_threads(args.threads)
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from convcalc.kernels.conv import conv_nd, conv_transpose_nd, release_scratch  # noqa: E402
from convcalc.kernels.elementwise import batch_norm  # noqa: E402
from convcalc.kernels.linear import linear  # noqa: E402
from convcalc.kernels.pooling import adaptive_avg_pool_nd, avg_pool_nd, max_pool_nd  # noqa: E402
from convcalc.kernels.resample import interpolate  # noqa: E402
from convcalc.kernels.slices import group_norm, layer_norm, softmax  # noqa: E402
from convcalc.kernels.threads import thread_count  # noqa: E402
from networks import network_table  # noqa: E402

torch.set_num_threads(args.threads)


def blas_threads_report(threads: int) -> str:
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return f"BLAS threads {threads} (from {', '.join(THREAD_VARIABLES)}; threadpoolctl absent)"
    threadpool_limits(threads)
    pools = ", ".join(f"{p['internal_api']}={p['num_threads']}" for p in threadpool_info())
    return f"BLAS threads {threads} (threadpoolctl: {pools})"


@dataclass
class Case:
    name: str
    shape: tuple[int, ...]
    run_torch: Callable[[], Any]
    run_convcalc: Callable[[], Any]


def build_cases() -> list[Case]:
    rng = np.random.default_rng(0)

    def array(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape, dtype=np.float32)

    tensors: dict[int, torch.Tensor] = {}

    def t(a: np.ndarray) -> torch.Tensor:
        """The array as a tensor sharing its memory, made once (not inside the timed calls)."""
        if id(a) not in tensors:
            tensors[id(a)] = torch.from_numpy(a)
        return tensors[id(a)]

    cases: list[Case] = []

    def conv(name, shape, cout, k, stride=1, padding=0, dilation=1, groups=1):
        nd = len(shape) - 2
        x, w, b = array(*shape), array(cout, shape[1] // groups, *(k,) * nd), array(cout)
        fn = getattr(F, f"conv{nd}d")
        pads = ((padding, padding),) * nd
        cases.append(Case(
            name, shape,
            lambda: fn(t(x), t(w), t(b), stride, padding, dilation, groups),
            lambda: conv_nd(x, w, b, stride, pads, dilation, groups),
        ))

    def transposed(name, shape, cout, k, stride, padding):
        x, w, b = array(*shape), array(shape[1], cout, k, k), array(cout)
        cases.append(Case(
            name, shape,
            lambda: F.conv_transpose2d(t(x), t(w), t(b), stride, padding),
            lambda: conv_transpose_nd(x, w, b, stride, padding),
        ))

    conv("ResNet-18 stem 7x7/2 3->64", (1, 3, 224, 224), 64, 7, stride=2, padding=3)
    conv("3x3 conv 64->64 @56", (1, 64, 56, 56), 64, 3, padding=1)
    conv("3x3 conv 128->128 @28", (1, 128, 28, 28), 128, 3, padding=1)
    conv("3x3 conv 256->256 @14", (1, 256, 14, 14), 256, 3, padding=1)
    conv("3x3 conv 512->512 @7", (1, 512, 7, 7), 512, 3, padding=1)
    conv("1x1/2 conv 64->128 @56", (1, 64, 56, 56), 128, 1, stride=2)
    conv("3x3 conv batch 8 @56", (8, 64, 56, 56), 64, 3, padding=1)
    conv("depthwise 3x3 144 ch @56", (1, 144, 56, 56), 144, 3, padding=1, groups=144)
    conv("3x3 groups=32 128 ch @56", (1, 128, 56, 56), 128, 3, padding=1, groups=32)
    conv("3x3 dilation 2 64 ch @56", (1, 64, 56, 56), 64, 3, padding=2, dilation=2)
    transposed("transposed 4x4/2 64->32 @28", (1, 64, 28, 28), 32, 4, 2, 1)
    transposed("transposed 2x2/2 256->128 @14", (1, 256, 14, 14), 128, 2, 2, 0)
    conv("Conv1d 300->300 k3", (8, 300, 120), 300, 3, padding=1)
    conv("Conv3d 32->64 k3", (1, 32, 8, 28, 28), 64, 3, padding=1)

    x = array(1, 64, 112, 112)
    cases.append(Case(
        "MaxPool2d 3/2 pad 1", x.shape, lambda: F.max_pool2d(t(x), 3, 2, 1), lambda: max_pool_nd(x, 3, 2, 1),
    ))
    x2 = array(1, 128, 56, 56)
    cases.append(Case("AvgPool2d 2/2", x2.shape, lambda: F.avg_pool2d(t(x2), 2, 2), lambda: avg_pool_nd(x2, 2, 2)))
    x3 = array(8, 512, 7, 7)
    cases.append(Case(
        "AdaptiveAvgPool2d 1", x3.shape, lambda: F.adaptive_avg_pool2d(t(x3), 1), lambda: adaptive_avg_pool_nd(x3, 1),
    ))
    x4 = array(1, 64, 112, 112)
    mean, var = array(64), np.abs(array(64)) + 0.5
    scale, shift = array(64), array(64)
    cases.append(Case(
        "BatchNorm2d 64 (eval)", x4.shape,
        lambda: F.batch_norm(t(x4), t(mean), t(var), t(scale), t(shift), False, 0.1, 1e-5),
        lambda: batch_norm(x4, mean, var, scale, shift, eps=1e-5),
    ))
    x7, scale7, shift7 = array(1, 256, 56, 56), array(256), array(256)
    cases.append(Case(
        "GroupNorm 32 groups 256 ch @56", x7.shape,
        lambda: F.group_norm(t(x7), 32, t(scale7), t(shift7)), lambda: group_norm(x7, 32, scale7, shift7),
    ))
    x8, scale8, shift8 = array(8, 197, 768), array(768), array(768)
    cases.append(Case(
        "LayerNorm 768 (ViT tokens)", x8.shape,
        lambda: F.layer_norm(t(x8), (768,), t(scale8), t(shift8)), lambda: layer_norm(x8, 768, scale8, shift8),
    ))
    x9 = array(1, 12, 197, 197)
    cases.append(Case(
        "Softmax (ViT-B attention)", x9.shape, lambda: torch.softmax(t(x9), -1), lambda: softmax(x9, -1),
    ))
    x5, w5, b5 = array(16, 4096), array(4096, 4096), array(4096)
    cases.append(Case("Linear 4096->4096", x5.shape, lambda: F.linear(t(x5), t(w5), t(b5)), lambda: linear(x5, w5, b5)))
    x6 = array(1, 64, 56, 56)
    cases.append(Case(
        "bilinear upsample x2", x6.shape,
        lambda: F.interpolate(t(x6), scale_factor=2.0, mode="bilinear", align_corners=False),
        lambda: interpolate(x6, (112, 112), "bilinear", align_corners=False, scales=(2.0, 2.0)),
    ))
    return cases


def cpu_sample() -> tuple[int, int, int] | None:
    """(busy jiffies of all CPUs, all jiffies, this process's jiffies), or None without /proc."""
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        with open("/proc/self/stat") as f:
            own = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields), int(own[11]) + int(own[12])  # utime + stime


def others_busy(before: tuple[int, int, int] | None, after: tuple[int, int, int] | None) -> float:
    """Share of all CPUs that other processes kept busy between two samples (0 if unknown).

    This process's own time is left out: its libraries' idle worker threads may still be
    spinning from the last block.
    """
    if before is None or after is None:
        return 0.0
    busy = (after[0] - before[0]) - (after[2] - before[2])
    return max(0, busy) / max(after[1] - before[1], 1)


LOAD_THRESHOLD = 0.1
LOAD_LOG: dict[str, int] = {"blocks": 0, "retried": 0, "kept_loaded": 0}


def wait_until_idle(limit: float = 10.0) -> None:
    """Sleep until the other processes leave the CPUs idle (at most ``limit`` seconds).

    Two threads sharing two cores with another busy process lose far more than half their
    speed (each parallel region waits for its slowest, descheduled thread), so a timing taken
    then says nothing about either engine. This also lets the other library's idle worker
    threads stop spinning.
    """
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = cpu_sample()
        time.sleep(0.1)
        if others_busy(before, cpu_sample()) <= LOAD_THRESHOLD:
            return


def timed_calls(fn: Callable[[], Any], calls: int, attempts: int = 3) -> list[float]:
    """One block: a warm-up call, then ``calls`` timed calls; repeated (up to ``attempts``
    times) when other processes kept more than LOAD_THRESHOLD of the CPUs busy meanwhile."""
    LOAD_LOG["blocks"] += 1
    for attempt in range(attempts):
        time.sleep(0.1)
        wait_until_idle()
        before = cpu_sample()
        fn()
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        if others_busy(before, cpu_sample()) <= LOAD_THRESHOLD:
            return times
        LOAD_LOG["retried"] += attempt == 0
    LOAD_LOG["kept_loaded"] += 1
    return times


def check(case: Case) -> str:
    """"" when convcalc's output matches torch's; otherwise what went wrong."""
    got = np.asarray(case.run_convcalc())
    with torch.inference_mode():
        want = case.run_torch().numpy()
    if got.shape != want.shape:
        return f"shape {got.shape} != torch's {want.shape}"
    err = float(np.abs(got - want).max())
    scale = float(np.abs(want).max())
    return "" if err <= 1e-5 * max(scale, 1e-30) else f"max error {err:.3g} vs max |out| {scale:.3g}"


def measure(case: Case, rounds: int, budget: float) -> tuple[float, float, list[float]]:
    """Median time of torch, of convcalc (all timed calls), and each round's ratio.

    A round is one block of each engine, back to back; its ratio compares the two blocks'
    medians, which saw the same machine. The layer's ratio is the median of the rounds'.
    """
    with torch.inference_mode():
        start = time.perf_counter()
        case.run_torch()
        once = time.perf_counter() - start
    calls = max(3, min(50, int(budget / max(once, 1e-6))))
    torch_times: list[float] = []
    convcalc_times: list[float] = []
    round_ratios: list[float] = []
    for round_ in range(rounds):
        blocks = {}
        # Alternate who goes first, so a slow drift of the machine's load hurts both alike.
        for engine in (("torch", "convcalc") if round_ % 2 == 0 else ("convcalc", "torch")):
            if engine == "torch":
                with torch.inference_mode():
                    blocks[engine] = timed_calls(case.run_torch, calls)
            else:
                blocks[engine] = timed_calls(case.run_convcalc, calls)
        torch_times += blocks["torch"]
        convcalc_times += blocks["convcalc"]
        round_ratios.append(statistics.median(blocks["convcalc"]) / statistics.median(blocks["torch"]))
    return statistics.median(torch_times), statistics.median(convcalc_times), round_ratios


def memory_child(engine: str) -> None:
    """Print the peak memory (bytes) of one batch-32 3×3 conv in this fresh process."""
    import gc
    import tracemalloc

    def status(key: str) -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        raise KeyError(key)

    rng = np.random.default_rng(0)
    x = rng.standard_normal(MEMORY_SHAPE, dtype=np.float32)
    w = rng.standard_normal((64, 64, 3, 3), dtype=np.float32)
    b = rng.standard_normal(64, dtype=np.float32)
    if engine == "torch":
        tx, tw, tb = torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b)

        def run() -> Any:
            with torch.inference_mode():
                return F.conv2d(tx, tw, tb, 1, 1)
    else:
        def run() -> Any:
            return conv_nd(x, w, b, 1, 1)

    del_me = run()
    del del_me
    release_scratch()  # count the scratch convcalc keeps between calls, as a first call makes it
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status("VmRSS")
    tracemalloc.start()
    result = run()
    traced = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    peak = status("VmHWM") - before
    del result
    print(peak, traced if engine == "convcalc" else -1)


def measure_memory(threads: int) -> tuple[int, int, int] | None:
    """(torch peak, convcalc peak, convcalc tracemalloc peak) in bytes, or None without /proc."""
    if not os.path.exists("/proc/self/clear_refs"):
        return None
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    results = {}
    for engine in ("torch", "convcalc"):
        done = subprocess.run(
            [sys.executable, __file__, "--threads", str(threads), "--memory-child", engine],
            env=env, capture_output=True, text=True, check=False,
        )
        if done.returncode != 0:
            print(f"memory child for {engine} failed:\n{done.stderr}", file=sys.stderr)
            return None
        results[engine] = tuple(int(v) for v in done.stdout.split())
    return results["torch"][0], results["convcalc"][0], results["convcalc"][1]


def main() -> int:
    if args.memory_child:
        memory_child(args.memory_child)
        return 0
    rounds, budget = (3, 0.05) if args.quick else (5, 0.15)
    print(f"numpy {np.__version__}, torch {torch.__version__}; torch threads {torch.get_num_threads()}, "
          f"convcalc threads {thread_count()} (CONVCALC_THREADS), {blas_threads_report(args.threads)}")
    if args.part == "networks":
        failures = network_table(measure, check, rounds, budget, args.threads, args.only)
        print(load_line())
        return report(failures)
    header = f"{'layer':32} {'input':>18} {'torch ms':>9} {'convcalc ms':>11} {'ratio':>6} {'rounds':>11}"
    print(header)
    print("-" * len(header))
    ratios: list[float] = []
    failures: list[str] = []
    cases = [case for case in build_cases() if not args.only or args.only.lower() in case.name.lower()]
    if not cases and args.part == "layers":
        print(f"no layer's name contains {args.only!r}", file=sys.stderr)
        return 2
    if not cases:  # --only picks networks alone: theirs is the table that must match
        print(f"no layer's name contains {args.only!r}: no layer timed")
        return report(network_table(measure, check, rounds, budget, args.threads, args.only))
    for case in cases:
        shape = "x".join(map(str, case.shape))
        problem = check(case)
        torch_time, convcalc_time, round_ratios = measure(case, rounds, budget)
        ratio = statistics.median(round_ratios)
        ratios.append(ratio)
        note = f"  MISMATCH: {problem}" if problem else ""
        if problem:
            failures.append(f"{case.name}: {problem}")
        spread = f"{min(round_ratios):.2f}-{max(round_ratios):.2f}"
        print(f"{case.name:32} {shape:>18} {torch_time * 1e3:9.3f} {convcalc_time * 1e3:11.3f} {ratio:6.2f} "
              f"{spread:>11}{note}", flush=True)
    median, worst = statistics.median(ratios), max(ratios)
    print("-" * len(header))
    print(f"median ratio {median:.2f} (bar {MEDIAN_BAR}), max ratio {worst:.2f} (bar {MAX_BAR}), "
          f"{len(ratios)} layers timed")
    print(load_line())
    if median > MEDIAN_BAR and not args.only:
        failures.append(f"median ratio {median:.2f} > {MEDIAN_BAR}")
    if worst > MAX_BAR:
        failures.append(f"max ratio {worst:.2f} > {MAX_BAR}")

    memory = None if args.only else measure_memory(args.threads)
    if args.only:
        print("peak memory: not measured with --only")
    elif memory is None:
        print("peak memory: unmeasured (needs Linux /proc)")
    else:
        torch_peak, convcalc_peak, traced = memory
        ratio = convcalc_peak / torch_peak
        print(f"peak memory, 3x3 conv {'x'.join(map(str, MEMORY_SHAPE))}: torch {torch_peak / 2**20:.1f} MiB, "
              f"convcalc {convcalc_peak / 2**20:.1f} MiB (tracemalloc {traced / 2**20:.1f} MiB), "
              f"ratio {ratio:.2f} (bar {MEMORY_BAR})")
        if ratio > MEMORY_BAR:
            failures.append(f"peak memory ratio {ratio:.2f} > {MEMORY_BAR}")
    if args.part == "all":  # with --only, a table it picks nothing from is skipped
        failures += network_table(measure, check, rounds, budget, args.threads, args.only, required=not args.only)
    return report(failures)


def load_line() -> str:
    return (f"timed blocks: {LOAD_LOG['blocks']}; {LOAD_LOG['retried']} repeated because other processes "
            f"used over {LOAD_THRESHOLD:.0%} of the CPUs meanwhile, {LOAD_LOG['kept_loaded']} still loaded "
            "after 3 attempts (kept)")


def report(failures: list[str]) -> int:
    for failure in failures:
        print(f"FAIL: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
