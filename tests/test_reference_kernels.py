"""The fast conv and pooling kernels against the naive reference (tests/reference.py).

Torch-free: these run, and must pass, where torch is not installed. Every formulation of
``conv_nd`` (``method=``) is checked, in float64 (tight tolerance) and float32. A few fixed
examples, worked out by hand below, check the reference and the kernels alike.
test_reference_oracle.py checks the reference itself against torch.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reference as ref
from forward_compare import assert_close, assert_same_indices, read_only, sample
from strategies import (
    examples,
    reference_adaptive,
    reference_convs,
    reference_pools,
    reference_transposed,
)

from convcalc.kernels.conv import METHODS, conv_nd, conv_transpose_nd
from convcalc.kernels.pooling import (
    adaptive_avg_pool_nd,
    adaptive_max_pool_nd,
    avg_pool_nd,
    lp_pool_nd,
    max_pool_nd,
)

# NaN and ±inf inputs go through the pools silently, as in torch
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def methods_for(weight_shape, stride, dilation, groups) -> list[str]:
    """The conv methods that take this configuration ("auto" and each of METHODS that does)."""
    in_per_group, kernel = weight_shape[1], weight_shape[2:]
    unit_stride = all(s == 1 for s in stride)
    takes = {
        "gemm": True,
        "rows": unit_stride,
        "taps": unit_stride,
        "depthwise": in_per_group == 1,
        "winograd": unit_stride and all(k == 3 for k in kernel) and all(d == 1 for d in dilation),
    }
    assert set(takes) == set(METHODS), f"a conv method without a rule here: {set(METHODS) ^ set(takes)}"
    return ["auto", *(method for method in METHODS if takes[method])]


def operands(c: dict, rng_seed: int | None = None):
    rng = np.random.default_rng(c["seed"] if rng_seed is None else rng_seed)
    x = rng.standard_normal(c["shape"]).astype(c["dtype"])
    weight = rng.standard_normal(c["weight_shape"]).astype(c["dtype"])
    out_channels = c["weight_shape"][0] if "output_padding" not in c else c["weight_shape"][1] * c["groups"]
    bias = rng.standard_normal(out_channels).astype(c["dtype"]) if c["bias"] else None
    return read_only(x), read_only(weight), bias


@examples(400)
@given(reference_convs())
def test_conv_every_method_matches_the_reference(c):
    x, weight, bias = operands(c)
    want = ref.conv(x, weight, bias, c["stride"], c["padding"], c["dilation"], c["groups"], c["padding_mode"])
    for method in methods_for(c["weight_shape"], c["stride"], c["dilation"], c["groups"]):
        got = conv_nd(x, weight, bias, c["stride"], c["pads"], c["dilation"], c["groups"], c["padding_mode"],
                      method=method, max_buffer_bytes=c["max_buffer_bytes"])
        assert_close(got, want, f"method={method} {c}")


@examples(250)
@given(reference_transposed())
def test_transposed_conv_matches_the_reference(c):
    x, weight, bias = operands(c)
    args = (c["stride"], c["padding"], c["output_padding"], c["dilation"], c["groups"])
    want = ref.conv_transpose(x, weight, bias, *args)
    assert_close(conv_transpose_nd(x, weight, bias, *args, max_buffer_bytes=c["max_buffer_bytes"]), want, str(c))


def pool_input(c: dict, positive: bool = False) -> np.ndarray:
    x = sample(np.random.default_rng(c["seed"]), c["shape"], c["dtype"], c["kind"])
    if positive:
        x = np.abs(x) + x.dtype.type(0.5)
    return read_only(x)


@examples(250)
@given(reference_pools())
def test_max_pool_matches_the_reference(c):
    x = pool_input(c)
    args = (c["kernel"], c["stride"], c["padding"], c["dilation"], c["ceil_mode"])
    want_values, want_indices = ref.max_pool(x, *args)
    values, indices = max_pool_nd(x, *args, return_indices=True)
    assert_close(values, want_values, f"values {c}", tolerance=0)
    assert_same_indices(indices, want_indices, f"indices {c}")
    assert_close(max_pool_nd(x, *args), want_values, f"values only {c}", tolerance=0)


@examples(250)
@given(reference_pools(dilation=False, average=True), st.booleans(), st.sampled_from([None, None, 1, 2, 5, -3]))
def test_avg_pool_matches_the_reference(c, count_include_pad, divisor_override):
    x = pool_input(c)
    args = (c["kernel"], c["stride"], c["padding"], c["ceil_mode"], count_include_pad, divisor_override)
    assert_close(avg_pool_nd(x, *args), ref.avg_pool(x, *args), f"{c} {args}")


@examples(250)
@given(reference_pools(dilation=False, padding=False, average=True), st.sampled_from([1, 2, 3, 1.5, 0.5, 4, math.inf, -math.inf]))
def test_lp_pool_matches_the_reference(c, norm_type):
    # Σ x^p over a window of mixed signs can cancel to about 0, and the root then blows up the
    # rounding of the sum (each side sums in its own order): positive inputs but for even p.
    x = pool_input(c, positive=norm_type not in (2, 4))
    args = (norm_type, c["kernel"], c["stride"], c["ceil_mode"])
    assert_close(lp_pool_nd(x, *args), ref.lp_pool(x, *args), f"{c} p={norm_type}")


@examples(250)
@given(reference_adaptive())
def test_adaptive_pools_match_the_reference(c):
    x = pool_input(c)
    outs = c["output_size"]
    assert_close(adaptive_avg_pool_nd(x, outs), ref.adaptive_avg_pool(x, outs), f"avg {c}")
    want_values, want_indices = ref.adaptive_max_pool(x, outs)
    values, indices = adaptive_max_pool_nd(x, outs, return_indices=True)
    assert_close(values, want_values, f"max {c}", tolerance=0)
    assert_same_indices(indices, want_indices, f"max indices {c}")
    assert_close(adaptive_max_pool_nd(x, outs), want_values, f"max values only {c}", tolerance=0)


# -- fixed examples, worked out by hand ---------------------------------------------------------


def grid(*rows) -> np.ndarray:
    """One image of one channel (1, 1, *spatial) from nested lists."""
    return np.array(rows, dtype=np.float64)[None, None]


def both_convs(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """The reference's answer, after checking that every conv method gives the same."""
    x, weight = np.asarray(x, dtype=np.float64), np.asarray(weight, dtype=np.float64)
    nd = x.ndim - 2
    want = ref.conv(x, weight, bias, stride, padding, dilation, groups)
    pads = ref.conv_pads(padding, weight.shape[2:], ref.per_dim(dilation, nd))
    for method in methods_for(weight.shape, ref.per_dim(stride, nd), ref.per_dim(dilation, nd), groups):
        assert_close(conv_nd(x, weight, bias, stride, pads, dilation, groups, method=method), want, method)
    return want


def test_conv_by_hand():
    # padded [0, 1, 2, 3, 4, 5, 0]; windows at 0, 2, 4 of weight (1, 0, −1): 0−2, 2−4, 4−0
    x = grid([1, 2, 3, 4, 5])[0]
    np.testing.assert_array_equal(both_convs(x, [[[1, 0, -1]]], None, 2, 1), [[[-2, -2, 4]]])
    np.testing.assert_array_equal(both_convs(x, [[[1, 0, -1]]], np.array([10.0]), 2, 1), [[[8, 8, 14]]])
    # dilation 2: x[i] − x[i + 4] for the only window
    np.testing.assert_array_equal(both_convs(x, [[[1, 0, -1]]], None, 1, 0, 2), [[[-4]]])
    # 'same' with a 2×2 kernel pads (0, 1) per dim: the last row and column see zeros below and right
    x = grid([1, 2, 3], [4, 5, 6], [7, 8, 9])
    diagonal = [[[[1, 0], [0, 1]]]]
    np.testing.assert_array_equal(both_convs(x, diagonal, None, 1, "valid"), [[[[6, 8], [12, 14]]]])
    np.testing.assert_array_equal(both_convs(x, diagonal, None, 1, "same"), [[[[6, 8, 3], [12, 14, 6], [7, 8, 9]]]])
    # groups 2, 1×1 kernels: channel 0 kept, channel 1 negated
    two_channels = np.array([[[1.0, 2.0], [3.0, 4.0]]])
    np.testing.assert_array_equal(both_convs(two_channels, [[[1]], [[-1]]], None, groups=2), [[[1, 2], [-3, -4]]])
    # 3-D: a 2×2×2 kernel of ones over a 2×2×2 cube of ones
    np.testing.assert_array_equal(both_convs(np.ones((1, 1, 2, 2, 2)), np.ones((1, 1, 2, 2, 2))), [[[[[8]]]]])


def test_transposed_conv_by_hand():
    x, weight = grid([1, 2, 3])[0], np.ones((1, 1, 2))
    # each x[i] lands on positions 2i, 2i + 1; output_padding adds a zero at the end
    want = [[[1, 1, 2, 2, 3, 3, 0]]]
    np.testing.assert_array_equal(ref.conv_transpose(x, weight, None, 2, 0, 1), want)
    np.testing.assert_array_equal(conv_transpose_nd(x, weight, None, 2, 0, 1), want)
    # padding 1 crops one position at each end
    np.testing.assert_array_equal(ref.conv_transpose(x, weight, None, 2, 1, 1), [[[1, 2, 2, 3, 3]]])
    np.testing.assert_array_equal(conv_transpose_nd(x, weight, None, 2, 1, 1), [[[1, 2, 2, 3, 3]]])
    # dilation 2, stride 1: x[i] · (1, 10) at positions i, i + 2
    x, weight = grid([1, 2])[0], np.array([[[1.0, 10.0]]])
    np.testing.assert_array_equal(ref.conv_transpose(x, weight, None, 1, 0, 0, 2), [[[1, 2, 10, 20]]])
    np.testing.assert_array_equal(conv_transpose_nd(x, weight, None, 1, 0, 0, 2), [[[1, 2, 10, 20]]])
    # 2-D, stride 2 with bias: a 2×2 kernel stamped at (0, 0) and (0, 2)
    x, weight = grid([1, 2]), np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    want = [[[[1.5, 2.5, 2.5, 4.5], [3.5, 4.5, 6.5, 8.5]]]]
    np.testing.assert_array_equal(ref.conv_transpose(x, weight, np.array([0.5]), 2), want)
    np.testing.assert_array_equal(conv_transpose_nd(x, weight, np.array([0.5]), 2), want)


def both_max_pools(x, *args):
    values, indices = ref.max_pool(x, *args)
    got_values, got_indices = max_pool_nd(x, *args, return_indices=True)
    np.testing.assert_array_equal(got_values, values)
    np.testing.assert_array_equal(got_indices, indices)
    return values[0, 0].tolist(), indices[0, 0].tolist()


def test_max_pool_by_hand():
    # k3 s3 p1 ceil on 5 cells: a third window would start at 5, in the right padding: dropped
    assert both_max_pools(grid([5, 1, 4, 2, 3])[0], 3, 3, 1, 1, True) == ([5, 4], [0, 2])
    # dilation 2: windows (0, 2), (1, 3), (2, 4), (3, 5)
    assert both_max_pools(grid([0, 9, 1, 8, 2, 7])[0], 2, 1, 0, 2) == ([1, 9, 2, 8], [2, 1, 4, 3])
    # ties: the first maximum in row-major order; NaN: the last NaN
    assert both_max_pools(grid([1, 3], [3, 0]), 2) == ([[3]], [[1]])
    values, indices = both_max_pools(grid([np.nan, 1], [np.nan, 0]), 2)
    assert np.isnan(values[0][0]) and indices == [[2]]
    # all −inf: each window reports its first cell inside the input
    assert both_max_pools(np.full((1, 1, 3, 3), -np.inf), 3, 2, 1) == ([[-np.inf] * 2] * 2, [[0, 1], [3, 4]])
    # k2 d2 p1 over one cell: the taps −1 and 1 both miss it; torch reports −inf at the first
    # tap at or past 0, index 1, outside the plane
    assert both_max_pools(grid([5])[0], 2, 1, 1, 2) == ([-np.inf], [1])


def both_avg_pools(x, *args):
    want = ref.avg_pool(x, *args)
    np.testing.assert_array_equal(avg_pool_nd(x, *args), want)
    return want[0, 0].tolist()


def test_avg_pool_by_hand():
    x = grid([1, 2, 3, 4, 5])[0]
    # ceil mode: the last window holds only 5, and counts only it (no padding to count)
    assert both_avg_pools(x, 2, 2, 0, True) == [1.5, 3.5, 5]
    assert both_avg_pools(x, 2, 2, 0, True, True, 2) == [1.5, 3.5, 2.5]
    # padding 1: windows (pad, 1), (2, 3), (4, 5); the padding counted or not
    assert both_avg_pools(x, 2, 2, 1, False, True) == [0.5, 2.5, 4.5]
    assert both_avg_pools(x, 2, 2, 1, False, False) == [1, 2.5, 4.5]
    # k3 s2 p1 ceil on 6 cells: windows start at −1, 1, 3, 5; the last is (6, pad, past the
    # padding): its divisor is 2 with the padding, 1 without
    x = grid([1, 2, 3, 4, 5, 6])[0]
    assert both_avg_pools(x, 3, 2, 1, True, True) == [1, 3, 5, 3]
    assert both_avg_pools(x, 3, 2, 1, True, False) == [1.5, 3, 5, 6]


def test_lp_pool_by_hand():
    x = grid([3, 4, 0, 5])[0]
    for p, want in ((2, [5, 5]), (1, [7, 5]), (math.inf, [4, 5]), (-math.inf, [3, 0])):
        np.testing.assert_allclose(ref.lp_pool(x, p, 2)[0, 0], want, rtol=1e-15)
        np.testing.assert_allclose(lp_pool_nd(x, p, 2)[0, 0], want, rtol=1e-15)
    # ceil mode: the short window (12) has mean 144 of x², scaled to the kernel's 2 cells
    x = grid([3, 4, 12])[0]
    for got in (ref.lp_pool(x, 2, 2, 2, True), lp_pool_nd(x, 2, 2, 2, True)):
        np.testing.assert_allclose(got[0, 0], [5, 12 * math.sqrt(2)], rtol=1e-15)


def test_adaptive_pools_by_hand():
    # 5 cells into 3: windows [0, 2), [1, 4), [3, 5)
    assert [ref.adaptive_window(i, 5, 3) for i in range(3)] == [(0, 2), (1, 4), (3, 5)]
    x = grid([1, 2, 3, 4, 6])[0]
    for avg in (ref.adaptive_avg_pool(x, 3), adaptive_avg_pool_nd(x, 3)):
        np.testing.assert_array_equal(avg, [[[1.5, 3, 5]]])
    for values, indices in (ref.adaptive_max_pool(x, 3), adaptive_max_pool_nd(x, 3, True)):
        np.testing.assert_array_equal(values, [[[2, 4, 6]]])
        np.testing.assert_array_equal(indices, [[[1, 3, 4]]])
    # 2 cells into 3: windows [0, 1), [0, 2), [1, 2) overlap
    x = grid([2, 4])[0]
    for avg in (ref.adaptive_avg_pool(x, 3), adaptive_avg_pool_nd(x, 3)):
        np.testing.assert_array_equal(avg, [[[2, 3, 4]]])
    for values, indices in (ref.adaptive_max_pool(x, 3), adaptive_max_pool_nd(x, 3, True)):
        np.testing.assert_array_equal(values, [[[2, 4, 4]]])
        np.testing.assert_array_equal(indices, [[[0, 1, 1]]])
