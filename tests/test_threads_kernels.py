"""Every kernel family at 1 thread and at 4 (even on a 2-core machine), with chunks as small as
they go: the same output both ways, the work really split into several chunks, and (where
torch is installed) torch's output."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from convcalc.kernels import threads
from convcalc.kernels.conv import conv_nd, conv_transpose_nd
from convcalc.kernels.elementwise import batch_norm, gelu, hardswish, leaky_relu, relu, sigmoid
from convcalc.kernels.linear import linear
from convcalc.kernels.pooling import (
    adaptive_avg_pool_nd,
    adaptive_max_pool_nd,
    avg_pool_nd,
    max_pool_nd,
)
from convcalc.kernels.resample import interpolate
from convcalc.kernels.slices import group_norm, layer_norm, log_softmax, softmax
from convcalc.kernels.elementwise import instance_norm

RNG = np.random.default_rng(12)


def _array(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


X = _array(2, 8, 13, 11)
W_DENSE, W_GROUPED, W_DEPTHWISE = _array(6, 8, 3, 3), _array(8, 2, 3, 3), _array(16, 1, 3, 3)
W_T, W_T_GROUPED, B = _array(8, 5, 4, 4), _array(8, 3, 3, 3), _array(16)
X3, W3 = _array(2, 4, 6, 7, 5), _array(3, 4, 3, 3, 3)
STATS = (_array(8), np.abs(_array(8)) + 0.5, _array(8), _array(8))
LIN_X, LIN_W, LIN_B = _array(3, 5, 64), _array(32, 64), _array(32)
NORM_W, NORM_B = _array(13, 11), _array(13, 11)

# name -> (convcalc, the same in torch: F is torch.nn.functional, t() makes a tensor)
CASES: dict[str, tuple[Callable[[], np.ndarray], Callable]] = {
    "conv gemm strided": (
        lambda: conv_nd(X, W_DENSE, B[:6], 2, 1),
        lambda F, t: F.conv2d(t(X), t(W_DENSE), t(B[:6]), 2, 1),
    ),
    "conv rows": (
        lambda: conv_nd(X, W_DENSE, B[:6], 1, 1, method="rows"),
        lambda F, t: F.conv2d(t(X), t(W_DENSE), t(B[:6]), 1, 1),
    ),
    "conv rows valid": (
        lambda: conv_nd(X, W_DENSE, B[:6], 1, 0, dilation=2),
        lambda F, t: F.conv2d(t(X), t(W_DENSE), t(B[:6]), 1, 0, 2),
    ),
    "conv grouped taps": (
        lambda: conv_nd(X, W_GROUPED, B[:8], 1, 1, groups=4, method="taps"),
        lambda F, t: F.conv2d(t(X), t(W_GROUPED), t(B[:8]), 1, 1, 1, 4),
    ),
    "conv depthwise": (
        lambda: conv_nd(X, W_DEPTHWISE, B, 1, 1, groups=8),
        lambda F, t: F.conv2d(t(X), t(W_DEPTHWISE), t(B), 1, 1, 1, 8),
    ),
    "conv depthwise strided": (
        lambda: conv_nd(X, W_DEPTHWISE, B, 2, 1, groups=8, method="depthwise"),
        lambda F, t: F.conv2d(t(X), t(W_DEPTHWISE), t(B), 2, 1, 1, 8),
    ),
    "conv winograd": (
        lambda: conv_nd(X, W_DENSE, None, 1, 1, method="winograd"),
        lambda F, t: F.conv2d(t(X), t(W_DENSE), None, 1, 1),
    ),
    "conv 3d reflect": (
        lambda: conv_nd(X3, W3, None, 1, 1, padding_mode="reflect"),
        lambda F, t: F.conv3d(F.pad(t(X3), (1,) * 6, mode="reflect"), t(W3)),
    ),
    "transposed": (
        lambda: conv_transpose_nd(X[:1], W_T, B[:5], 2, 1),
        lambda F, t: F.conv_transpose2d(t(X[:1]), t(W_T), t(B[:5]), 2, 1),
    ),
    "transposed grouped batch": (
        lambda: conv_transpose_nd(X, W_T_GROUPED, B[:6], 2, 1, 1, groups=2),
        lambda F, t: F.conv_transpose2d(t(X), t(W_T_GROUPED), t(B[:6]), 2, 1, 1, 2),
    ),
    "batch norm eval": (
        lambda: batch_norm(X, *STATS),
        lambda F, t: F.batch_norm(t(X), *map(t, STATS), False, 0.1, 1e-5),
    ),
    "relu": (lambda: relu(X), lambda F, t: F.relu(t(X))),
    "leaky relu": (lambda: leaky_relu(X, 0.2), lambda F, t: F.leaky_relu(t(X), 0.2)),
    "sigmoid": (lambda: sigmoid(X), lambda F, t: F.sigmoid(t(X))),
    "hardswish": (lambda: hardswish(X), lambda F, t: F.hardswish(t(X))),
    "gelu": (lambda: gelu(X), lambda F, t: F.gelu(t(X))),
    "max pool": (lambda: max_pool_nd(X, 3, 2, 1), lambda F, t: F.max_pool2d(t(X), 3, 2, 1)),
    "max pool indices": (
        lambda: max_pool_nd(X, 2, return_indices=True)[1].astype(np.float32),
        lambda F, t: F.max_pool2d(t(X), 2, return_indices=True)[1].float(),
    ),
    "avg pool": (
        lambda: avg_pool_nd(X, 3, 2, 1, count_include_pad=False),
        lambda F, t: F.avg_pool2d(t(X), 3, 2, 1, count_include_pad=False),
    ),
    "adaptive avg pool": (lambda: adaptive_avg_pool_nd(X, (4, 3)), lambda F, t: F.adaptive_avg_pool2d(t(X), (4, 3))),
    "adaptive max pool": (lambda: adaptive_max_pool_nd(X, (5, 2)), lambda F, t: F.adaptive_max_pool2d(t(X), (5, 2))),
    "bilinear": (
        lambda: interpolate(X, (26, 22), "bilinear", align_corners=False, scales=(2.0, 2.0)),
        lambda F, t: F.interpolate(t(X), scale_factor=2.0, mode="bilinear", align_corners=False),
    ),
    "bicubic": (
        lambda: interpolate(X, (20, 17), "bicubic", align_corners=True),
        lambda F, t: F.interpolate(t(X), size=(20, 17), mode="bicubic", align_corners=True),
    ),
    "nearest": (lambda: interpolate(X, (30, 5), "nearest"), lambda F, t: F.interpolate(t(X), size=(30, 5))),
    "linear": (lambda: linear(LIN_X, LIN_W, LIN_B), lambda F, t: F.linear(t(LIN_X), t(LIN_W), t(LIN_B))),
    "relu in place": (lambda: (lambda y: relu(y, out=y))(X.copy()), lambda F, t: F.relu(t(X))),
}
# The kernels over independent slices (planes, groups, rows), also checked at 2 threads.
SLICE_CASES: dict[str, tuple[Callable[[], np.ndarray], Callable]] = {
    "instance norm": (
        lambda: instance_norm(X, weight=STATS[2], bias=STATS[3]),
        lambda F, t: F.instance_norm(t(X), weight=t(STATS[2]), bias=t(STATS[3])),
    ),
    "group norm": (
        lambda: group_norm(X, 4, STATS[2], STATS[3]),
        lambda F, t: F.group_norm(t(X), 4, t(STATS[2]), t(STATS[3])),
    ),
    "layer norm": (
        lambda: layer_norm(X, (13, 11), NORM_W, NORM_B),
        lambda F, t: F.layer_norm(t(X), (13, 11), t(NORM_W), t(NORM_B)),
    ),
    "softmax last dim": (lambda: softmax(X, -1), lambda F, t: F.softmax(t(X), -1)),
    "softmax channels": (lambda: softmax(X, 1), lambda F, t: F.softmax(t(X), 1)),  # cut after the dim
    "softmax first dim": (lambda: softmax(X, 0), lambda F, t: F.softmax(t(X), 0)),
    "log softmax": (lambda: log_softmax(X, -1), lambda F, t: F.log_softmax(t(X), -1)),
    "log softmax channels": (lambda: log_softmax(X, 1), lambda F, t: F.log_softmax(t(X), 1)),
}
CASES.update(SLICE_CASES)
CASES["global average"] = (lambda: adaptive_avg_pool_nd(X, 1), lambda F, t: F.adaptive_avg_pool2d(t(X), 1))
# Kernels whose work is one GEMM or GEMV (BLAS's own threads), not split over the pool.
UNSPLIT = {"linear", "global average"}


@pytest.fixture
def regions(monkeypatch):
    """The chunk counts of the parallel regions run during the test."""
    seen: list[int] = []
    wait = threads._Region.wait

    def recorded(region) -> None:
        seen.append(len(region.chunks))
        wait(region)

    monkeypatch.setattr(threads._Region, "wait", recorded)
    return seen


def _close(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    scale = max(float(np.abs(want).max()), 1e-30)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("name", sorted(CASES))
def test_one_and_four_threads_agree_and_split_the_work(name, regions):
    run, _ = CASES[name]
    with threads.use_threads(1):
        one = run()
    assert regions == []
    with threads.use_threads(4, least_chunk_bytes=0):
        four = run()
    _close(four, one)
    if name in UNSPLIT:
        assert regions == []
    else:
        assert regions and max(regions) > 1, regions


@pytest.mark.oracle
@pytest.mark.parametrize("name", sorted(CASES))
def test_one_and_four_threads_match_torch(name):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    run, in_torch = CASES[name]
    with torch.inference_mode():
        want = in_torch(F, torch.from_numpy).numpy()
    for count, least in ((1, None), (4, 0)):
        with threads.use_threads(count, least_chunk_bytes=least):
            _close(run(), want)


@pytest.mark.oracle
@pytest.mark.parametrize("name", sorted(SLICE_CASES))
def test_slices_at_one_and_two_threads_match_torch_and_split(name, regions):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    run, in_torch = SLICE_CASES[name]
    with torch.inference_mode():
        want = in_torch(F, torch.from_numpy).numpy()
    with threads.use_threads(1):
        _close(run(), want)
    assert regions == []  # one thread never reaches the pool
    with threads.use_threads(2, least_chunk_bytes=0):
        _close(run(), want)
    assert regions and max(regions) > 1, regions


@pytest.mark.oracle
@pytest.mark.parametrize("name", sorted(name for name in SLICE_CASES if "norm" in name))
def test_normalisations_a_few_slices_at_a_time_match_torch(name, monkeypatch):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    from convcalc.kernels import slices

    monkeypatch.setattr(slices, "_BLOCK_BYTES", X.itemsize * 11)  # one slice a block
    run, in_torch = SLICE_CASES[name]
    with torch.inference_mode():
        want = in_torch(F, torch.from_numpy).numpy()
    with threads.use_threads(1):
        _close(run(), want)
