"""Time the NumPy forward kernels against torch at ResNet-like sizes (a development aid).

    python tools/time_forward_kernels.py [--threads 1 2] [--reps 200]

torch and NumPy calls are interleaved, so load on a shared machine hits both alike; each row
reports medians and the ratio NumPy / torch (below 1: NumPy is faster). The first five rows
are the speed bar: median ratio <= 1.5 and none above 3.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from convcalc.kernels import elementwise, pooling, resample


def cases(rng: np.random.Generator):
    def data(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    stem, mid, head = data(1, 64, 112, 112), data(1, 64, 56, 56), data(1, 512, 7, 7)
    wide = data(1, 256, 56, 56)
    c = 64
    mean, var = data(c), np.abs(data(c)) + 0.5
    weight, bias = data(c), data(c)
    t = torch.from_numpy
    yield ("maxpool k3 s2 p1 1×64×112×112", lambda: pooling.max_pool_nd(stem, 3, 2, 1), lambda: F.max_pool2d(t(stem), 3, 2, 1))
    yield ("avgpool k3 s2 p1 1×64×112×112", lambda: pooling.avg_pool_nd(stem, 3, 2, 1), lambda: F.avg_pool2d(t(stem), 3, 2, 1))
    yield ("adaptive avg 1×512×7×7 → 1", lambda: pooling.adaptive_avg_pool_nd(head, 1), lambda: F.adaptive_avg_pool2d(t(head), 1))
    yield (
        "batchnorm2d 1×64×56×56",
        lambda: elementwise.batch_norm(mid, mean, var, weight, bias),
        lambda: F.batch_norm(t(mid), t(mean), t(var), t(weight), t(bias)),
    )
    yield (
        "bilinear ×2 1×64×56×56",
        lambda: resample.interpolate(mid, (112, 112), "bilinear", False, (2.0, 2.0)),
        lambda: F.interpolate(t(mid), scale_factor=2, mode="bilinear"),
    )
    # not part of the bar
    yield ("avgpool k2 s2 1×256×56×56", lambda: pooling.avg_pool_nd(wide, 2, 2), lambda: F.avg_pool2d(t(wide), 2, 2))
    yield (
        "maxpool+indices 1×64×112×112",
        lambda: pooling.max_pool_nd(stem, 3, 2, 1, return_indices=True),
        lambda: F.max_pool2d(t(stem), 3, 2, 1, return_indices=True),
    )
    yield ("adaptive avg 1×64×56×56 → 7", lambda: pooling.adaptive_avg_pool_nd(mid, 7), lambda: F.adaptive_avg_pool2d(t(mid), 7))
    yield ("adaptive max 1×64×56×56 → 7", lambda: pooling.adaptive_max_pool_nd(mid, 7), lambda: F.adaptive_max_pool2d(t(mid), 7))
    yield (
        "nearest ×2 1×64×56×56",
        lambda: resample.interpolate(mid, (112, 112), "nearest", None, (2.0, 2.0)),
        lambda: F.interpolate(t(mid), scale_factor=2, mode="nearest"),
    )
    yield (
        "bicubic ×2 1×64×56×56",
        lambda: resample.interpolate(mid, (112, 112), "bicubic", False, (2.0, 2.0)),
        lambda: F.interpolate(t(mid), scale_factor=2, mode="bicubic"),
    )
    yield ("relu 1×64×112×112", lambda: elementwise.relu(stem), lambda: F.relu(t(stem)))
    yield ("gelu 1×64×56×56", lambda: elementwise.gelu(mid), lambda: F.gelu(t(mid)))
    yield ("softmax 1×256×56×56 dim 1", lambda: elementwise.softmax(wide, 1), lambda: F.softmax(t(wide), 1))


def median_times(ours, theirs, reps: int) -> tuple[float, float]:
    for _ in range(3):
        ours(), theirs()
    ours_t, theirs_t = [], []
    for _ in range(reps):
        start = time.perf_counter()
        ours()
        middle = time.perf_counter()
        theirs()
        theirs_t.append(time.perf_counter() - middle)
        ours_t.append(middle - start)
    return statistics.median(ours_t), statistics.median(theirs_t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--reps", type=int, default=200)
    args = parser.parse_args()
    for threads in args.threads:
        torch.set_num_threads(threads)
        print(f"\ntorch threads: {threads}")
        print(f"{'case':36} {'torch µs':>10} {'numpy µs':>10} {'ratio':>7}")
        bar = []
        with torch.no_grad():
            for index, (name, ours, theirs) in enumerate(cases(np.random.default_rng(0))):
                ours_s, theirs_s = median_times(ours, theirs, args.reps)
                ratio = ours_s / theirs_s
                if index < 5:
                    bar.append(ratio)
                print(f"{name:36} {theirs_s * 1e6:10.1f} {ours_s * 1e6:10.1f} {ratio:7.2f}{'  *' if index < 5 else ''}")
        print(f"speed bar (*): median ratio {statistics.median(bar):.2f}, max {max(bar):.2f}")


if __name__ == "__main__":
    main()
