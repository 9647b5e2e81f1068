"""Upsample's FLOPs by its documented rule, derived by hand (no torch needed)."""

from __future__ import annotations

import math

import pytest

import convcalc
from convcalc.arith import FixedRule, ScaleRule, adaptive_window
from convcalc.layers.resample import area_window_total


def test_nearest_modes_are_free():
    for mode in ("nearest", "nearest-exact"):
        layer = convcalc.Upsample(scale_factor=2, mode=mode)
        assert layer.flops((1, 3, 16, 16)) == 0
        assert layer.macs((1, 3, 16, 16)) == 0
    assert convcalc.UpsamplingNearest2d(size=9).flops((2, 3, 4, 4)) == 0


def test_linear_is_three_flops_per_output():
    # (2, 4, 7) -> (2, 4, 10): 80 outputs, one a + t·(b − a) each
    assert convcalc.Upsample(scale_factor=1.5, mode="linear").flops((2, 4, 7)) == 80 * 3


def test_bilinear_is_three_interpolations_per_output():
    # (1, 3, 4, 5) -> (1, 3, 8, 10): 240 outputs, 2 interpolations along W and 1 along H
    assert convcalc.Upsample(size=(8, 10), mode="bilinear").flops((1, 3, 4, 5)) == 240 * 9
    # align_corners changes the weights, not the work
    aligned = convcalc.Upsample(size=(8, 10), mode="bilinear", align_corners=True)
    assert aligned.flops((1, 3, 4, 5)) == 2160
    # UpsamplingBilinear2d: (1, 1, 2, 2) -> (1, 1, 4, 4)
    assert convcalc.UpsamplingBilinear2d(scale_factor=2).flops((1, 1, 2, 2)) == 16 * 9


def test_trilinear_is_seven_interpolations_per_output():
    # (1, 2, 2, 2, 2) -> (1, 2, 4, 4, 4): 128 outputs, 4 + 2 + 1 interpolations of 3 FLOPs
    assert convcalc.Upsample(scale_factor=2, mode="trilinear").flops((1, 2, 2, 2, 2)) == 128 * 21


def test_bicubic_is_five_four_tap_sums_per_output():
    # (1, 1, 3, 3) -> (1, 1, 6, 6): 36 outputs; 4 row sums and 1 column sum, 4 mul + 3 add each
    assert convcalc.Upsample(size=6, mode="bicubic").flops((1, 1, 3, 3)) == 36 * 35


def test_area_counts_each_window():
    # L=10 -> 4: windows [0,3) [2,5) [5,8) [7,10), 3 cells each: 2 adds + 1 divide per output
    assert convcalc.Upsample(size=4, mode="area").flops((1, 1, 10)) == 12
    # 2-D windows are products: H 10 -> 4 sums to 12, W 4 -> 8 has 8 windows of 1 cell
    assert convcalc.Upsample(size=(4, 8), mode="area").flops((2, 3, 10, 4)) == 2 * 3 * 12 * 8
    # scale_factor 0.5 on 5 gives 2 outputs: windows [0,3) and [2,5)
    assert convcalc.Upsample(scale_factor=0.5, mode="area").flops((1, 1, 5)) == 6
    # same size: one divide per element
    assert convcalc.Upsample(scale_factor=1, mode="area").flops((1, 2, 3, 4, 5)) == 120


@pytest.mark.parametrize("size", range(1, 25))
def test_area_window_total_matches_the_windows(size):
    for out in range(1, 30):
        windows = [adaptive_window(i, size, out) for i in range(out)]
        assert area_window_total(size, out) == sum(end - start for start, end in windows)


def test_size_rules_without_an_input():
    assert convcalc.Upsample(scale_factor=2).size_rules() == [("L", ScaleRule(2.0))]
    assert convcalc.Upsample(scale_factor=2, mode="bilinear").size_rules() == [
        ("H", ScaleRule(2.0)),
        ("W", ScaleRule(2.0)),
    ]
    assert convcalc.UpsamplingNearest2d(size=(3, 4)).size_rules() == [
        ("H", FixedRule(3)),
        ("W", FixedRule(4)),
    ]
    rules = convcalc.Upsample(scale_factor=(1.5, 2.0, 0.5)).size_rules()
    assert [(symbol, rule.formula(symbol)) for symbol, rule in rules] == [
        ("D", "⌊D·1.5⌋"),
        ("H", "⌊H·2⌋"),
        ("W", "⌊W·0.5⌋"),
    ]
    assert [symbol for symbol, _ in convcalc.Upsample(size=5).size_rules((1, 1, 2, 2, 2))] == [
        "D",
        "H",
        "W",
    ]


def test_no_parameters():
    layer = convcalc.Upsample(scale_factor=2, mode="bicubic")
    assert layer.param_shapes() == {} and layer.num_params() == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"scale_factor": math.nan},
        {"scale_factor": math.inf},
        {"scale_factor": -2.0},
        {"scale_factor": "2"},
        {"scale_factor": [2.0, 2.0]},
        {"size": 2.5},
        {"size": (1, 2, 3, 4)},
        {"mode": "lanczos", "size": 4},
        {"mode": "bilinear", "size": (4, 4, 4)},
        {},
    ],
)
def test_bad_arguments_raise_convcalc_errors(kwargs):
    with pytest.raises(convcalc.ConfigError):
        convcalc.Upsample(**kwargs)


def test_output_overflow_is_a_convcalc_error():
    with pytest.raises(convcalc.ShapeError, match="64 bits"):
        convcalc.Upsample(scale_factor=1e30).output_shape((1, 1, 3))
