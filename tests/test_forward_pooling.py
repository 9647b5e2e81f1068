"""NumPy pooling kernels against torch.nn.functional: values, and indices exactly (ties, NaN)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from forward_compare import assert_close, assert_same_indices, read_only, sample
from strategies import DTYPES, FILTERED, KINDS, examples, float_dtypes, int_tuple, kinds, seeds

torch = pytest.importorskip("torch")
F = torch.nn.functional
torch.set_num_threads(1)

from convcalc.kernels import _common  # noqa: E402
from convcalc.kernels.pooling import (  # noqa: E402
    adaptive_avg_pool_nd,
    adaptive_max_pool_nd,
    avg_pool_nd,
    lp_pool_nd,
    max_pool_nd,
    max_unpool_nd,
)

# a NumPy warning escaping a kernel (overflow, inf − inf) is a bug: torch is silent
pytestmark = [pytest.mark.oracle, pytest.mark.filterwarnings("error::RuntimeWarning")]

SETTINGS = examples(250, FILTERED)


def torch_call(fn, x: np.ndarray, *args, **kwargs):
    """torch's result as NumPy (a tuple stays a tuple), or None when torch rejects the call."""
    try:
        out = fn(torch.from_numpy(x), *args, **kwargs)
    except (RuntimeError, ValueError):
        return None
    if isinstance(out, tuple):
        return tuple(o.numpy() for o in out)
    return out.numpy()


def fn(name: str, nd: int):
    return getattr(F, f"{name}{nd}d")


# (shape, kernel, stride, padding, dilation, ceil_mode): one row per behaviour worth pinning
MAX_POOL_TABLE = [
    ((1, 64, 112, 112), 3, 2, 1, 1, False),  # ResNet stem
    ((1, 1, 5), 3, 3, 1, 1, True),  # ceil mode drops the window starting in the right padding
    ((2, 3, 7), 2, 2, 0, 1, True),  # ceil mode's last window hangs past the input
    ((1, 2, 9, 10), (3, 2), (2, 1), (1, 0), (2, 3), False),  # dilation with padding
    ((1, 2, 8, 8), 4, 3, 2, 1, True),  # padding k//2 and ceil overhang together
    ((2, 2, 5, 6, 7), 3, 2, 1, 1, True),  # 3-D
    ((1, 1, 4, 4, 4), (1, 2, 3), (1, 1, 2), (0, 1, 1), (1, 2, 1), False),
    ((3, 2, 16), 5, 1, 2, 1, False),  # overlapping windows, stride 1
    ((1, 3, 70), 35, 35, 0, 1, False),  # long tiling windows (reshape path)
]


@pytest.mark.parametrize("shape, kernel, stride, padding, dilation, ceil", MAX_POOL_TABLE)
@pytest.mark.parametrize("kind", KINDS)
def test_max_pool_table(shape, kernel, stride, padding, dilation, ceil, kind):
    nd = len(shape) - 2
    x = sample(np.random.default_rng(1), shape, np.float32, kind)
    args = (kernel, stride, padding, dilation, ceil)
    expected_values, expected_indices = torch_call(fn("max_pool", nd), x, *args, return_indices=True)
    values, indices = max_pool_nd(x, *args, return_indices=True)
    assert_close(values, expected_values, "values with indices")
    assert_same_indices(indices, expected_indices, "indices")
    assert_close(max_pool_nd(x, *args), torch_call(fn("max_pool", nd), x, *args), "values")


def test_max_pool_index_rules():
    """torch's scan: first maximum wins, the last NaN wins, all −inf reports the first input cell."""
    x = np.array([[[[1, 3, 3], [3, 0, 0], [0, 0, 0]]]], dtype=np.float32)
    assert max_pool_nd(x, 3, return_indices=True)[1].item() == 1
    x[0, 0, 1, 2] = x[0, 0, 2, 0] = np.nan
    assert max_pool_nd(x, 3, return_indices=True)[1].item() == 6
    x = np.full((1, 1, 3, 3), -np.inf, dtype=np.float32)
    values, indices = max_pool_nd(x, 3, stride=2, padding=1, return_indices=True)
    np.testing.assert_array_equal(indices[0, 0], [[0, 1], [3, 4]])  # each window's first cell
    _, expected = torch_call(F.max_pool2d, x, 3, 2, 1, return_indices=True)
    assert_same_indices(indices, expected)


@st.composite
def pool_configs(draw, *, dilation: bool = True, padding: bool = True):
    nd = draw(st.integers(1, 3))
    kernel = int_tuple(draw, nd, 1, 4)
    stride = draw(st.none() | st.tuples(*[st.integers(1, 3)] * nd))
    pads = int_tuple(draw, nd, 0, [k // 2 for k in kernel]) if padding else (0,) * nd
    dilations = int_tuple(draw, nd, 1, 2) if dilation else (1,) * nd
    spatial = []
    for k, p, d in zip(kernel, pads, dilations):
        reach = d * (k - 1) + 1
        spatial.append(draw(st.integers(max(1, reach - 2 * p), reach + 7)))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *spatial)
    return dict(
        shape=shape, kernel=kernel, stride=stride, padding=pads, dilation=dilations,
        ceil=draw(st.booleans()), dtype=draw(float_dtypes),
        kind=draw(kinds), seed=draw(seeds),
    )


@SETTINGS
@given(pool_configs())
def test_max_pool_hypothesis(c):
    nd = len(c["shape"]) - 2
    x = sample(np.random.default_rng(c["seed"]), c["shape"], c["dtype"], c["kind"])
    args = (c["kernel"], c["stride"], c["padding"], c["dilation"], c["ceil"])
    expected = torch_call(fn("max_pool", nd), x, *args, return_indices=True)
    assume(expected is not None and 0 not in expected[0].shape)
    values, indices = max_pool_nd(x, *args, return_indices=True)
    assert_close(values, expected[0], f"values {c}")
    assert_same_indices(indices, expected[1], f"indices {c}")
    assert_close(max_pool_nd(x, *args), torch_call(fn("max_pool", nd), x, *args), f"values only {c}")


@SETTINGS
@given(pool_configs(dilation=False), st.booleans(), st.sampled_from([None, None, 1, 2, 5, -3]))
def test_avg_pool_hypothesis(c, count_include_pad, divisor_override):
    nd = len(c["shape"]) - 2
    x = sample(np.random.default_rng(c["seed"]), c["shape"], c["dtype"], c["kind"])
    args = (c["kernel"], c["stride"], c["padding"], c["ceil"], count_include_pad)
    torch_args = args + ((divisor_override,) if nd > 1 else ())
    expected = torch_call(fn("avg_pool", nd), x, *torch_args)
    assume(expected is not None and 0 not in expected.shape)
    got = avg_pool_nd(x, *args, divisor_override=divisor_override if nd > 1 else None)
    assert_close(got, expected, f"{c} count_include_pad={count_include_pad} divisor={divisor_override}")


AVG_POOL_TABLE = [
    ((1, 64, 112, 112), 3, 2, 1, False, True, None),
    ((1, 64, 56, 56), 2, 2, 0, False, True, None),
    ((1, 2, 7, 7), 3, 2, 1, True, True, None),  # ceil overhang: padding counted, overhang not
    ((1, 2, 7, 7), 3, 2, 1, True, False, None),
    ((1, 2, 6, 5, 7), (2, 3, 3), (2, 1, 2), (1, 1, 0), True, False, None),
    ((1, 2, 6, 6), 3, 1, 1, False, False, 7),
    ((2, 3, 99), 33, 33, 0, False, True, None),  # long tiling windows (reshape path)
]


@pytest.mark.parametrize("shape, kernel, stride, padding, ceil, include_pad, divisor", AVG_POOL_TABLE)
def test_avg_pool_table(shape, kernel, stride, padding, ceil, include_pad, divisor):
    nd = len(shape) - 2
    x = sample(np.random.default_rng(2), shape, np.float32, "normal")
    extra = (divisor,) if nd > 1 else ()
    expected = torch_call(fn("avg_pool", nd), x, kernel, stride, padding, ceil, include_pad, *extra)
    assert_close(avg_pool_nd(x, kernel, stride, padding, ceil, include_pad, divisor), expected)


@SETTINGS
@given(pool_configs(dilation=False, padding=False), st.sampled_from([1, 2, 3, 1.5, 0.5, math.inf, -math.inf]))
def test_lp_pool_hypothesis(c, norm_type):
    nd = len(c["shape"]) - 2
    x = sample(np.random.default_rng(c["seed"]), c["shape"], c["dtype"], c["kind"])
    kernel = c["kernel"][0] if nd == 1 else c["kernel"]
    expected = torch_call(fn("lp_pool", nd), x, norm_type, kernel, c["stride"], c["ceil"])
    assume(expected is not None and 0 not in expected.shape)
    got = lp_pool_nd(x, norm_type, c["kernel"], c["stride"], c["ceil"])
    assert_close(got, expected, f"{c} p={norm_type}")


def test_lp_pool_ceil_rescales_short_windows():
    """torch multiplies a clipped window's average by the full kernel, not by its length."""
    x = np.array([[[1.0, 2.0, 3.0]]])
    got = lp_pool_nd(x, 1, 2, 2, ceil_mode=True)
    np.testing.assert_allclose(got, [[[3.0, 6.0]]])
    assert_close(got, torch_call(F.lp_pool1d, x, 1, 2, 2, True))


@SETTINGS
@given(pool_configs(dilation=False), st.booleans(), st.integers(0, 3))
def test_max_unpool_hypothesis(c, random_indices, grow):
    nd = len(c["shape"]) - 2
    rng = np.random.default_rng(c["seed"])
    x = sample(rng, c["shape"], c["dtype"], "ties")
    stride = c["stride"] or c["kernel"]
    pooled = torch_call(fn("max_pool", nd), x, c["kernel"], stride, c["padding"], return_indices=True)
    assume(pooled is not None and 0 not in pooled[0].shape)
    values, indices = pooled
    default = [(n - 1) * s - 2 * p + k for n, s, p, k in zip(values.shape[2:], stride, c["padding"], c["kernel"])]
    output_spatial = tuple(d + min(grow, s - 1) for d, s in zip(default, stride))
    assume(min(output_spatial) >= 1)
    if random_indices:  # many repeats within a plane: the last write must win
        indices = rng.integers(0, math.prod(output_spatial), size=values.shape).astype(np.int64)
    expected = torch_call(
        fn("max_unpool", nd), values, torch.from_numpy(indices), c["kernel"], stride, c["padding"], output_spatial
    )
    assume(expected is not None)
    assert_close(max_unpool_nd(values, indices, output_spatial), expected, f"{c} out={output_spatial}")


def test_max_unpool_last_write_wins_and_bad_index():
    from convcalc import ConvcalcError

    values = np.array([[[1.0, 2.0, 3.0, 4.0]]], dtype=np.float32)
    indices = np.array([[[2, 0, 2, 0]]])
    got = max_unpool_nd(values, indices, (4,))
    np.testing.assert_array_equal(got, [[[4.0, 0.0, 3.0, 0.0]]])
    assert_close(got, torch_call(F.max_unpool1d, values, torch.from_numpy(indices), 1, 1, 0, (4,)))
    with pytest.raises(ConvcalcError, match="outside the output plane"):
        max_unpool_nd(values, np.array([[[0, 1, 4, 2]]]), (4,))


@st.composite
def adaptive_configs(draw):
    nd = draw(st.integers(1, 3))
    spatial = int_tuple(draw, nd, 1, 12)
    # torch's 1-d functions take neither None nor a tuple with it
    outs = tuple(draw((st.integers(0, 15) if nd == 1 else st.none() | st.integers(1, 15))) for _ in range(nd))
    return dict(
        shape=(draw(st.integers(1, 2)), draw(st.integers(1, 3)), *spatial), outs=outs,
        dtype=draw(float_dtypes), kind=draw(kinds), seed=draw(seeds),
    )


@SETTINGS
@given(adaptive_configs())
def test_adaptive_pool_hypothesis(c):
    nd = len(c["shape"]) - 2
    x = sample(np.random.default_rng(c["seed"]), c["shape"], c["dtype"], c["kind"])
    outs = c["outs"][0] if nd == 1 else c["outs"]
    expected = torch_call(fn("adaptive_avg_pool", nd), x, outs)
    assume(expected is not None)
    assert_close(adaptive_avg_pool_nd(x, c["outs"]), expected, f"avg {c}")
    values, indices = torch_call(fn("adaptive_max_pool", nd), x, outs, True)
    got_values, got_indices = adaptive_max_pool_nd(x, c["outs"], return_indices=True)
    assert_close(got_values, values, f"max {c}")
    assert_same_indices(got_indices, indices, f"max indices {c}")
    assert_close(adaptive_max_pool_nd(x, c["outs"]), values, f"max values only {c}")


@pytest.mark.parametrize(
    "shape, outs",
    [((1, 512, 7, 7), 1), ((2, 8, 14, 14), 7), ((1, 4, 10, 13), (3, None)), ((1, 2, 50), 3), ((1, 2, 3), 8),
     ((1, 2, 5, 6, 7), (2, 3, 4)), ((1, 3, 64, 64), (1, 1)), ((1, 2, 6, 64), (3, 2))],
)
def test_adaptive_pool_table(shape, outs):
    nd = len(shape) - 2
    x = sample(np.random.default_rng(3), shape, np.float32, "ties")
    assert_close(adaptive_avg_pool_nd(x, outs), torch_call(fn("adaptive_avg_pool", nd), x, outs))
    values, indices = torch_call(fn("adaptive_max_pool", nd), x, outs, True)
    got_values, got_indices = adaptive_max_pool_nd(x, outs, return_indices=True)
    assert_close(got_values, values)
    assert_same_indices(got_indices, indices)


def test_chunking_and_layouts(monkeypatch):
    """Small chunks (with a short last one) and non-contiguous inputs give the same results."""
    monkeypatch.setattr(_common, "CHUNK_BYTES", 3000)
    x = sample(np.random.default_rng(4), (3, 5, 12, 11), np.float32, "special").transpose(0, 1, 3, 2)
    values, indices = torch_call(F.max_pool2d, x.copy(), 3, 2, 1, 1, True, True)
    got = max_pool_nd(x, 3, 2, 1, 1, True, return_indices=True)
    assert_close(got[0], values)
    assert_same_indices(got[1], indices)
    assert_close(max_pool_nd(x, 3, 2, 1, 1, True), values)
    assert_close(avg_pool_nd(x, 3, 2, 1, True, False), torch_call(F.avg_pool2d, x.copy(), 3, 2, 1, True, False))
    assert_close(adaptive_avg_pool_nd(x, (5, 4)), torch_call(F.adaptive_avg_pool2d, x.copy(), (5, 4)))
    v, i = torch_call(F.adaptive_max_pool2d, x.copy(), (5, 4), True)
    assert_same_indices(adaptive_max_pool_nd(x, (5, 4), True)[1], i)
    unpooled = torch_call(F.max_unpool2d, values, torch.from_numpy(indices), 3, 2, 1, (11, 12))
    assert_close(max_unpool_nd(values, indices, (11, 12)), unpooled)


@pytest.mark.parametrize("padding", [0, 1])
def test_inputs_are_never_written(padding):
    x = read_only(sample(np.random.default_rng(12), (2, 3, 8, 9), np.float32, "special"))
    for kernel, stride in ((3, 2), (2, 2), (1, 1), (4, [])):
        pad = min(padding, kernel // 2)
        max_pool_nd(x, kernel, stride, pad)
        values, indices = max_pool_nd(x, kernel, stride, pad, return_indices=True)
        avg_pool_nd(x, kernel, stride, pad)
        lp_pool_nd(x, 2, kernel, stride)
        max_unpool_nd(read_only(values), read_only(indices), (8, 9))
    for outs in ((1, 1), (3, 4), (8, 9), (11, 2)):
        adaptive_avg_pool_nd(x, outs)
        adaptive_max_pool_nd(x, outs, return_indices=True)
    assert_close(max_pool_nd(x, 2, []), torch_call(F.max_pool2d, x.copy(), 2, []))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 3, 5), (2, 3, 4, 5), (1, 2, 3, 4, 5), (4, 64, 7, 7)])
def test_global_average_of_whole_numbers_is_exact(shape, dtype):
    """Sum, then one divide, as torch: whole-number planes give exactly torch's means (a zero
    sum exactly 0), where multiplying each cell by 1/cells first would leave rounding dust."""
    nd = len(shape) - 2
    x = sample(np.random.default_rng(13), shape, dtype, "ties")
    x[0, 0] = np.arange(math.prod(shape[2:])).reshape(shape[2:]) % 5 - 2  # sums to 0 or near it
    got = adaptive_avg_pool_nd(x, 1)
    np.testing.assert_array_equal(got, torch_call(fn("adaptive_avg_pool", nd), x, 1))
    np.testing.assert_array_equal(got.ravel(), x.reshape(len(got.ravel()), -1).sum(axis=1) / dtype(math.prod(shape[2:])))
