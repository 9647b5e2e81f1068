"""Hand-derived FLOP, MAC and parameter counts of activations and dropouts (no torch needed)."""

from __future__ import annotations

import pytest

from convcalc import (
    CELU,
    ELU,
    GELU,
    GLU,
    PReLU,
    RReLU,
    SELU,
    AlphaDropout,
    Dropout,
    Dropout1d,
    Dropout2d,
    Dropout3d,
    FeatureAlphaDropout,
    Hardshrink,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Mish,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Softmax2d,
    Softmin,
    Softplus,
    Softshrink,
    Softsign,
    Tanh,
    Tanhshrink,
    Threshold,
)
from convcalc.layers import activation, dropout, softmax

COUNTS = [
    # (layer, input shape, FLOPs): output elements × operations of the formula per element
    (ReLU(), (1, 64, 56, 56), 200704),  # 64·56·56 = 200704 elements × max(0, x)
    (ReLU(), (), 1),  # a scalar is one element
    (ReLU6(), (3, 5), 30),  # 15 × (max, min)
    (Hardtanh(-2.0, 2.0), (3, 5), 30),  # 15 × two comparisons
    (LeakyReLU(0.1), (3, 4), 24),  # 12 × (compare, multiply)
    (PReLU(3), (2, 3, 4, 4), 192),  # 96 × (compare, multiply)
    (RReLU(), (2, 3), 12),  # 6 × (compare, multiply by (lower+upper)/2)
    (Threshold(0.1, 20.0), (4, 10), 40),  # 40 × one comparison
    (ELU(), (2, 8), 64),  # 16 × (compare, exp, subtract, multiply)
    (CELU(), (2, 8), 80),  # 16 × (compare, divide, exp, subtract, multiply)
    (SELU(), (10,), 50),  # 10 × (compare, exp, subtract, multiply, scale)
    (GELU(), (2, 3, 5), 150),  # 30 × (divide, erf, add, multiply, multiply)
    (GELU("tanh"), (2, 3, 5), 240),  # 30 × (x³, ·c, +x, ·√(2/π), tanh, +1, ·0.5, ·x)
    (GELU("tanh"), (), 8),
    (Sigmoid(), (1, 10), 40),  # 10 × (negate, exp, add, divide)
    (LogSigmoid(), (2, 3), 30),  # 6 × (negate, exp, add, log, negate)
    (Hardsigmoid(), (2, 3), 24),  # 6 × (two comparisons, divide, add)
    (Tanh(), (4, 4), 16),  # 16 × tanh
    (SiLU(), (2, 4), 40),  # 8 × (sigmoid's 4, multiply)
    (Mish(), (3,), 15),  # 3 × (exp, add, log, tanh, multiply)
    (Hardswish(), (2, 3), 30),  # 6 × (two comparisons, add, multiply, divide)
    (Softplus(), (2, 3), 36),  # 6 × (β·x, compare, exp, add, log, divide)
    (Softsign(), (5, 2), 30),  # 10 × (abs, add, divide)
    (Hardshrink(), (2, 3), 12),  # 6 × two comparisons
    (Softshrink(), (2, 2), 12),  # 4 × (two comparisons, one add)
    (Tanhshrink(), (7,), 14),  # 7 × (tanh, subtract)
    (GLU(), (4, 10), 100),  # output (4, 5): 20 × (sigmoid's 4, multiply)
    (GLU(dim=0), (4, 10), 100),  # output (2, 10): 20 × 5
    (GLU(), (6,), 15),  # output (3,): 3 × 5
    (Softmax(dim=1), (2, 10), 60),  # 20 × (exp, add, divide)
    (Softmax(), (2, 3, 4), 72),  # implicit dim 0; 24 × 3
    (Softmin(dim=0), (5,), 20),  # 5 × (negate, exp, add, divide)
    (LogSoftmax(dim=-1), (2, 10), 80),  # 20 × (exp, add, divide, log)
    (Softmax2d(), (1, 3, 8, 8), 576),  # 192 × 3
    (Dropout(), (8, 100), 0),  # identity in inference
    (Dropout1d(), (4, 16, 32), 0),
    (Dropout2d(), (4, 16, 8, 8), 0),
    (Dropout3d(), (2, 4, 3, 8, 8), 0),
    (AlphaDropout(), (3, 7), 0),
    (FeatureAlphaDropout(), (3, 7), 0),
]


@pytest.mark.parametrize("layer,shape,flops", COUNTS, ids=str)
def test_flops(layer, shape, flops):
    assert layer.flops(shape) == flops
    assert layer.macs(shape) == 0


def test_every_class_has_a_hand_count():
    assert {type(layer) for layer, _, _ in COUNTS} == set(activation.LAYERS + softmax.LAYERS + dropout.LAYERS)


@pytest.mark.parametrize("cls", activation.LAYERS + softmax.LAYERS + dropout.LAYERS, ids=lambda cls: cls.__name__)
def test_flops_rule_states_the_per_element_count(cls):
    assert cls.flops_rule.startswith(f"{cls.flops_per_element} per")
    if cls is GELU:
        assert f"; {GELU.flops_per_element_tanh} for 'tanh'" in cls.flops_rule


def test_parameters():
    assert PReLU().param_shapes() == {"weight": (1,)}
    assert PReLU(64).num_params() == 64
    for cls in activation.LAYERS + softmax.LAYERS + dropout.LAYERS:
        if cls not in (PReLU, Threshold):
            layer = cls()
            assert (layer.num_params(), layer.num_buffers()) == (0, 0), cls
    assert Threshold(0.0, 0.0).num_params() == 0


def test_shapes_pass_through_except_glu():
    assert GLU(dim=1).output_shape((2, 8, 3)) == (2, 4, 3)
    assert GLU(dim=-3).output_shape((2, 8, 3)) == (1, 8, 3)
    for cls in activation.LAYERS + softmax.LAYERS + dropout.LAYERS:
        if cls not in (GLU, Threshold):
            assert cls().output_shape((2, 3, 4)) == (2, 3, 4), cls
