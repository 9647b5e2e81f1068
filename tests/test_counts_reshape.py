"""Counts and size rules of the reshape family, derived by hand (no torch needed)."""

from __future__ import annotations

import pytest

import convcalc


def test_fold_adds_every_input_element():
    # (1, 3·2·2, 12) -> (1, 3, 4, 5): each of the 144 block values is summed into the output
    fold = convcalc.Fold(output_size=(4, 5), kernel_size=2)
    assert fold.output_shape((1, 12, 12)) == (1, 3, 4, 5)
    assert fold.flops((1, 12, 12)) == 144
    assert fold.flops((12, 12)) == 144
    assert fold.macs((1, 12, 12)) == 0
    # stride 2: blocks do not overlap, still one add each (into a zeroed output)
    assert convcalc.Fold(4, 2, stride=2).flops((2, 4, 4)) == 32


@pytest.mark.parametrize(
    "layer,shape",
    [
        (convcalc.Flatten(), (2, 3, 4, 5)),
        (convcalc.Unflatten(1, (2, 3)), (4, 6)),
        (convcalc.PixelShuffle(2), (1, 8, 4, 6)),
        (convcalc.PixelUnshuffle(2), (1, 2, 8, 12)),
        (convcalc.ZeroPad2d(1), (1, 3, 5, 5)),
        (convcalc.ConstantPad1d(2, 1.5), (1, 3, 5)),
        (convcalc.ReflectionPad3d(1), (1, 1, 2, 2, 2)),
        (convcalc.ReplicationPad1d((1, 2)), (2, 5)),
        (convcalc.CircularPad2d(1), (1, 1, 3, 3)),
        (convcalc.Unfold(2), (1, 3, 4, 4)),
    ],
)
def test_data_movement_is_free(layer, shape):
    assert layer.macs(shape) == 0
    assert layer.flops(shape) == 0
    assert layer.num_params() == 0


def test_unfold_block_count():
    # H: ⌊(9 + 2 − 2·2 − 1)/2⌋ + 1 = 4, W: ⌊(7 + 2 − 4 − 1)/2⌋ + 1 = 3
    unfold = convcalc.Unfold(3, dilation=2, padding=1, stride=2)
    assert unfold.output_shape((1, 3, 9, 7)) == (1, 27, 12)
    assert unfold.output_shape((3, 9, 7)) == (27, 12)


def test_pad_formulas():
    rules = convcalc.ZeroPad2d((1, 2, 3, -4)).size_rules()
    assert [(s, r.formula(s), r.simplified(s)) for s, r in rules] == [
        ("H", "H + 3 − 4", "H − 1"),
        ("W", "W + 1 + 2", "W + 3"),
    ]
    # a tuple longer than the class's dims pads more dims, as in torch
    assert [s for s, _ in convcalc.ConstantPad1d((1,) * 6, 0.0).size_rules()] == ["D", "H", "W"]


def test_pixel_shuffle_formulas():
    (symbol, rule), _ = convcalc.PixelShuffle(3).size_rules()
    assert (symbol, rule.simplified(symbol), rule.out(5)) == ("H", "3·H", 15)
    (symbol, rule), _ = convcalc.PixelUnshuffle(2).size_rules()
    assert rule.out(8) == 4


def test_fold_formula_is_the_fixed_output_size():
    rules = convcalc.Fold((6, 7), 3).size_rules()
    assert [(s, r.formula(s)) for s, r in rules] == [("H", "6"), ("W", "7")]


def test_reprs():
    assert repr(convcalc.ConstantPad2d(1, 2)) == "ConstantPad2d(padding=(1, 1, 1, 1), value=2)"
    assert repr(convcalc.ZeroPad1d(1)) == "ZeroPad1d((1, 1))"
    assert repr(convcalc.Fold(4, (2, 3))) == (
        "Fold(output_size=4, kernel_size=(2, 3), dilation=1, padding=0, stride=1)"
    )


@pytest.mark.parametrize(
    "make",
    [
        lambda: convcalc.Flatten(1.5),
        lambda: convcalc.Unflatten(1, 6),
        lambda: convcalc.Unflatten(1, (2, "3")),
        lambda: convcalc.ZeroPad2d("1"),
        lambda: convcalc.ZeroPad2d((1, 2, 3)),
        lambda: convcalc.ReflectionPad2d(()),
        lambda: convcalc.ConstantPad1d(1, "x"),
        lambda: convcalc.PixelShuffle(0),
        lambda: convcalc.Fold(4, (2,)),
        lambda: convcalc.Fold(1, 3),
        lambda: convcalc.Unfold(2, padding=-1),
    ],
)
def test_bad_arguments_raise_config_errors(make):
    with pytest.raises(convcalc.ConfigError):
        make()
