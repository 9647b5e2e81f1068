"""Pooling shapes, FLOPs and size rules worked out by hand (no torch needed)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import convcalc
from convcalc.arith import ConvRule, FixedRule, UnpoolRule
from convcalc.layers import adaptive, pooling, unpooling
from convcalc.layers.base import ARG_PARSERS


def test_ceil_mode_drops_a_window_starting_in_the_right_padding():
    # ⌈(5 + 2 − 3)/3⌉ + 1 = 3, but window 2 would start at 2·3 − 1 = 5 = L: past the input.
    pool = convcalc.MaxPool1d(3, stride=3, padding=1, ceil_mode=True)
    assert pool.output_shape((1, 1, 5)) == (1, 1, 2)
    assert pool.size_rules() == [("L", ConvRule(3, 3, 1, 1, 1, ceil_mode=True))]
    # windows cover inputs {0, 1} and {2, 3, 4}: 1 + 2 comparisons
    assert pool.flops((1, 1, 5)) == 3


def test_ceil_mode_keeps_a_window_hanging_over_the_end():
    pool = convcalc.MaxPool1d(2, stride=2, ceil_mode=True)
    assert pool.output_shape((2, 5)) == (2, 3)
    # windows {0, 1}, {2, 3}, {4}: 1 + 1 + 0 comparisons per channel, 2 channels
    assert pool.flops((2, 5)) == 4


def test_max_pool_flops():
    pool = convcalc.MaxPool2d(2)
    # 64·56·56 outputs, 3 comparisons each
    assert pool.flops((1, 64, 112, 112)) == 602112
    assert pool.flops((64, 112, 112)) == 602112
    assert pool.macs((1, 64, 112, 112)) == 0
    assert pool.param_shapes() == {} and pool.buffer_shapes() == {} and pool.num_params() == 0


def test_max_pool_counts_only_taps_inside_the_input():
    # L=5, k3, d2, p1, s1: taps {−1,1,3}, {0,2,4}, {1,3,5} cover 2, 3, 2 inputs
    assert convcalc.MaxPool1d(3, stride=1, padding=1, dilation=2).flops((1, 1, 5)) == 1 + 2 + 1
    # taps {−1, 4} on L=4 cover nothing: no comparison, not −1
    pool = convcalc.MaxPool1d(2, padding=1, dilation=5)
    assert pool.output_shape((1, 1, 4)) == (1, 1, 1)
    assert pool.flops((1, 1, 4)) == 0


def test_avg_pool_flops_and_divisor():
    pool = convcalc.AvgPool2d(3, stride=2, padding=1)
    # per dim on 7: windows from −1, 1, 3, 5 cover 2, 3, 3, 2 inputs → 10·10 per channel
    assert pool.output_shape((1, 8, 7, 7)) == (1, 8, 4, 4)
    assert pool.flops((1, 8, 7, 7)) == 800
    assert pool.divisor((0, 0), (7, 7)) == 9  # padding counts by default
    assert pool.divisor((3, 1), (7, 7)) == 9  # window 3 spans 5..7, the right padding included
    exclusive = convcalc.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
    assert exclusive.divisor((0, 0), (7, 7)) == 4
    assert exclusive.divisor((3, 1), (7, 7)) == 6
    override = convcalc.AvgPool2d(3, stride=2, padding=1, divisor_override=5)
    assert override.divisor((0, 0), (7, 7)) == 5
    assert override.flops((1, 8, 7, 7)) == 800


def test_avg_pool_ceil_mode_divisor_stops_at_the_right_padding():
    pool = convcalc.AvgPool1d(3, stride=3, padding=1, ceil_mode=True)
    assert pool.output_shape((1, 1, 6)) == (1, 1, 3)
    # window 2 spans 5..8 but is cut at L + p = 7: one input and one padding cell
    assert [pool.divisor_factor(0, i, 6) for i in range(3)] == [3, 3, 2]
    assert pool.divisor((2,), (6,)) == 2
    exclusive = convcalc.AvgPool1d(3, stride=3, padding=1, ceil_mode=True, count_include_pad=False)
    assert [exclusive.divisor_factor(0, i, 6) for i in range(3)] == [2, 3, 1]
    assert pool.flops((1, 1, 6)) == 2 + 3 + 1


def test_lp_pool_flops():
    # 2×2 windows on 4×4: 4 outputs of 4 elements, 2 FLOPs each, 3 channels
    assert convcalc.LPPool2d(2, 2).flops((1, 3, 4, 4)) == 96
    # L=4, k3, s2, ceil: windows {0,1,2} and {2,3}
    pool = convcalc.LPPool1d(2, 3, stride=2, ceil_mode=True)
    assert pool.output_shape((1, 4)) == (1, 2)
    assert pool.flops((1, 4)) == 2 * 5


def test_max_unpool_counts_and_sizes():
    unpool = convcalc.MaxUnpool2d(2)
    assert unpool.output_shape((1, 64, 14, 14)) == (1, 64, 28, 28)
    assert unpool.flops((1, 64, 14, 14)) == 0
    assert unpool.output_shape((1, 64, 14, 14), output_size=(27, 29)) == (1, 64, 27, 29)
    assert unpool.output_shape((64, 14, 14), output_size=(9, 9, 28, 28)) == (64, 28, 28)
    assert unpool.size_rules() == [("H", UnpoolRule(2, 2, 0)), ("W", UnpoolRule(2, 2, 0))]
    # a CLI-style single number for the one dim of a 1-d unpool
    assert convcalc.MaxUnpool1d(2).output_shape((1, 3, 4), output_size=9) == (1, 3, 9)


def test_adaptive_flops():
    # L=10 → 4: windows [0,3), [2,5), [5,8), [7,10), three elements each
    assert convcalc.AdaptiveAvgPool1d(4).flops((1, 1, 10)) == 12
    assert convcalc.AdaptiveMaxPool1d(4).flops((1, 1, 10)) == 12 - 4
    # L=5 → 7 (more outputs than inputs): windows of 1, 2, 2, 1, 2, 2, 1
    assert convcalc.AdaptiveAvgPool1d(7).flops((1, 5)) == 11
    assert convcalc.AdaptiveMaxPool1d(7).flops((1, 5)) == 11 - 7
    # global average pooling: every input element once
    assert convcalc.AdaptiveAvgPool2d(1).flops((1, 512, 7, 7)) == 512 * 49
    # 5 → 2: [0,3), [2,5); 7 → 3: [0,3), [2,5), [4,7); 6·9 elements in 6 windows
    assert convcalc.AdaptiveMaxPool2d((2, 3)).flops((1, 1, 5, 7)) == 54 - 6


def test_adaptive_zero_and_none():
    pool = convcalc.AdaptiveAvgPool2d((0, None))
    assert pool.output_shape((1, 2, 5, 6)) == (1, 2, 0, 6)
    assert pool.flops((1, 2, 5, 6)) == 0
    assert pool.size_rules() == [("H", FixedRule(0)), ("W", FixedRule(None))]


def test_adaptive_avg_global_mean_accepts_any_rank():
    assert convcalc.AdaptiveAvgPool2d(1).output_shape((2, 3, 4, 5, 6)) == (2, 3, 4, 1, 1)
    assert convcalc.AdaptiveAvgPool2d(1).flops((2, 3, 4, 5, 6)) == 2 * 3 * 4 * 30
    with pytest.raises(convcalc.ShapeError):
        convcalc.AdaptiveMaxPool2d(1).output_shape((2, 3, 4, 5, 6))


def test_padding_message_names_the_bound_and_a_fix():
    with pytest.raises(convcalc.ConfigError) as error:
        convcalc.MaxPool2d(3, padding=2, dilation=2)
    message = str(error.value)
    assert "MaxPool2d" in message and "padding=2" in message
    assert "at most 1" in message and "padding<=1" in message and "dilation" in message


@pytest.mark.parametrize(
    "make",
    [
        lambda: convcalc.AvgPool2d(2, divisor_override=0),
        lambda: convcalc.LPPool2d(0, 2),
        lambda: convcalc.LPPool1d(2, (3,)),
        lambda: convcalc.AdaptiveAvgPool1d(None),
        lambda: convcalc.AdaptiveMaxPool2d((3,)),
        lambda: convcalc.AdaptiveAvgPool3d(-1),
        lambda: convcalc.MaxUnpool2d((2,)),
        lambda: convcalc.MaxUnpool3d(2, stride=0),
        lambda: convcalc.MaxPool1d(3, stride=0),
    ],
)
def test_invalid_configurations_raise_config_error(make):
    with pytest.raises(convcalc.ConfigError):
        make()


def test_forward_options():
    with pytest.raises(convcalc.ConvcalcError, match="no options"):
        convcalc.MaxPool2d(2).output_shape((1, 1, 4, 4), output_size=(2, 2))
    with pytest.raises(convcalc.ConvcalcError, match="indices and output_size"):
        convcalc.MaxUnpool2d(2).output_shape((1, 1, 4, 4), scale=2)
    with pytest.raises(convcalc.ShapeError, match="choose a size from 7 to 9"):
        convcalc.MaxUnpool2d(2).output_shape((1, 1, 4, 4), output_size=(10, 8))
    with pytest.raises(convcalc.ShapeError, match="no size is reachable"):
        convcalc.MaxUnpool2d(2, stride=0).output_shape((1, 1, 4, 4), output_size=(2, 2))


def test_every_class_is_registered_and_described():
    every = pooling.LAYERS + unpooling.LAYERS + adaptive.LAYERS
    for cls in every:
        assert getattr(convcalc, cls.__name__) is cls
        assert convcalc.lookup(cls.__name__.lower()) is cls
        assert cls.family == "pooling" and cls.flops_rule
        for spec in cls.arg_specs():
            assert spec.choices or spec.annotation in ARG_PARSERS, (cls, spec)
    assert len(every) == 18


def test_cli_style_arguments_parse():
    specs = {spec.name: spec for spec in convcalc.AdaptiveAvgPool2d.arg_specs()}
    assert specs["output_size"].parse("none,7") == (None, 7)
    specs = {spec.name: spec for spec in convcalc.LPPool2d.arg_specs()}
    assert specs["norm_type"].parse("2") == 2.0
    assert [spec.name for spec in convcalc.AvgPool1d.arg_specs()] == [
        "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
    ]


def brute_coverage(size, windows, kernel, stride, padding, dilation):
    counts = [pooling._covered(o * stride - padding, kernel, dilation, size) for o in range(windows)]
    return sum(counts), sum(1 for c in counts if c)


@given(
    size=st.integers(1, 60), kernel=st.integers(1, 12), stride=st.integers(1, 6),
    padding=st.integers(0, 8), dilation=st.integers(1, 5), extra=st.integers(-2, 2),
)
def test_coverage_counts_what_the_windows_cover(size, kernel, stride, padding, dilation, extra):
    windows = max(0, (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1 + extra)
    want = brute_coverage(size, windows, kernel, stride, padding, dilation)
    assert pooling._coverage(size, windows, kernel, stride, padding, dilation) == want


@given(size=st.integers(1, 200), windows=st.integers(0, 200))
def test_adaptive_coverage_is_the_floor_sum(size, windows):
    from convcalc.arith import adaptive_window

    lengths = [end - start for start, end in (adaptive_window(o, size, windows) for o in range(windows))]
    assert adaptive._adaptive_coverage(size, windows) == (sum(lengths), sum(1 for n in lengths if n))


def test_huge_pooling_flops_are_a_closed_form(monkeypatch):
    """Counted window by window, a 60M-long output took 40 s and 10**12 windows never ended;
    the floor sums count no window one by one."""
    monkeypatch.setattr(pooling, "_covered", lambda *args: pytest.fail("a window was counted one by one"))
    pool = convcalc.AvgPool1d(3, stride=1, padding=1)
    # 60M windows cover 3 inputs each, but the first and last cover 2
    assert pool.flops((1, 1, 60_000_000)) == 3 * 60_000_000 - 2
    assert convcalc.AdaptiveAvgPool1d(50_000_000).flops((1, 1, 60_000_000)) > 0
    n = 10**12
    big = convcalc.MaxPool1d(n, stride=1, padding=n // 2)
    # window o covers min(o + n/2, 3n/2 − o) inputs, 3n²/4 + n/2 in all; one comparison fewer per window
    assert big.flops((1, 1, n)) == 3 * n * n // 4 + n // 2 - (n + 1)


def test_dilation_over_a_short_input_leaves_windows_empty():
    """Taps 5 apart over 4 inputs: some windows hit nothing, and are not counted as non-empty."""
    for args in [(4, 2, 2, 5, 1, 5), (3, 9, 2, 1, 4, 6), (1, 7, 3, 1, 5, 2)]:
        assert pooling._coverage(*args) == brute_coverage(*args)
