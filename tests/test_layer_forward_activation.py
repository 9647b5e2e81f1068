"""Activation and dropout layers' forward pass against torch modules in eval mode.

Every class with its default and non-default arguments on every rank torch takes (0-D
included), then test_oracle_activation's strategies: wherever torch and convcalc accept a
configuration, the values must agree, on ordinary, wide and special (NaN, ±inf, ±0) inputs.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import convcalc
from convcalc.layers import activation, dropout, softmax
from forward_compare import sample
from oracle import assert_agrees, assert_forward_agrees, assert_values_close
from strategies import DTYPE_NAMES as DTYPES
from strategies import dtype_names, examples, small_seeds
from test_oracle_activation import (
    CASES,
    SHAPES,
    dropout_configs,
    glu_configs,
    plain_configs,
    prelu_configs,
    scalar_activation_configs,
    softmax_configs,
)

pytestmark = [
    pytest.mark.oracle,
    pytest.mark.filterwarnings("ignore::UserWarning"),  # torch: implicit softmax dim
    # assert_forward_agrees on outputs holding inf (such cases are rechecked by assert_values_close)
    pytest.mark.filterwarnings("ignore:One of rtol or atol is not valid:RuntimeWarning"),
]

NAN, INF = math.nan, math.inf

# Beyond test_oracle_activation's CASES: per-channel PReLU, explicit softmax dims, special scalars.
MORE_CASES = [
    ("PReLU", (3,), {}),
    ("PReLU", (3, -0.5), {}),
    ("Softmax", (0,), {}),
    ("Softmax", (-1,), {}),
    ("LogSoftmax", (1,), {}),
    ("Softmin", (-2,), {}),
    ("GLU", (0,), {}),
    ("GLU", (-2,), {}),
    ("LeakyReLU", (INF,), {}),
    ("LeakyReLU", (NAN,), {}),
    ("ELU", (INF,), {}),
    ("ELU", (-INF,), {}),
    ("CELU", (1e-310,), {}),  # 1/alpha is inf
    ("CELU", (INF,), {}),
    ("CELU", (-2.5,), {}),
    ("Softplus", (1.0, NAN), {}),
    ("Softplus", (0.0,), {}),
    ("Softplus", (-INF, -INF), {}),
    ("Softplus", (3, 0), {}),
    ("Hardshrink", (NAN,), {}),
    ("Hardshrink", (INF,), {}),
    ("Hardshrink", (-0.3,), {}),
    ("Softshrink", (0.0,), {}),
    ("Hardtanh", (NAN, 1.0), {}),
    ("Hardtanh", (-INF, INF), {}),
    ("Threshold", (INF, NAN), {}),
    ("Threshold", (NAN, 1.0), {}),
    ("RReLU", (0.1, INF, True), {}),  # in-place skips the finiteness check: slope inf
    ("RReLU", (-1e39, 1e39), {}),  # slope 0
    # torch adds whole-number bounds as 64-bit ints (wrapping) and compares them as doubles
    ("RReLU", (-(2**63), 2**63 - 1), {}),
    ("RReLU", (2**63 - 1, 2**63 - 1), {}),
    ("RReLU", (2**62, 2**62), {}),
    ("RReLU", (2**53 + 1, 2**53), {}),
    ("RReLU", (2**53 + 1, 2.0**53), {}),
]
# x − tanh(x) cancels for small x, where torch's and NumPy's tanh differ by an ulp of x: that is
# judged against max(1, |output|) (assert_values_close), not the tiny output itself.
CANCELLING = {"Tanhshrink"}
ALL_CASES = CASES + MORE_CASES
# (3, 4, 6) is read by Softmax2d as unbatched (C, H, W); (2, 3, 4, 6) batched
RANKS = SHAPES + [(1, 3, 1)]


def test_cases_cover_every_class():
    assert {name for name, _, _ in ALL_CASES} == {cls.__name__ for cls in activation.LAYERS + softmax.LAYERS + dropout.LAYERS}


def special_input(rng: np.random.Generator, shape: tuple, dtype: str, kind: str) -> np.ndarray:
    """'normal', 'wide' (×10: exp tails, thresholds) or 'special' (ties, NaN, ±inf, ±0, tiny)."""
    if kind == "wide":
        return np.array(rng.standard_normal(shape) * 10, dtype=dtype)
    x = np.array(sample(rng, shape, dtype, kind), dtype=dtype)
    if kind == "special" and x.size >= 4:
        x.reshape(-1)[:4] = [0.0, -0.0, 1e-30, -1e-30]
    return x


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,args,kwargs", ALL_CASES)
def test_every_case_on_every_rank(name, args, kwargs, dtype):
    rng = np.random.default_rng(zlib.crc32(repr((name, args, kwargs)).encode()))
    accepted = 0
    for shape in RANKS:
        if assert_agrees(name, args, kwargs, shape)[0] != "ok":
            continue
        accepted += 1
        kinds = ["wide", "special"]
        if name in CANCELLING:
            kinds.append("normal")
        else:
            got = assert_forward_agrees(name, args, kwargs, shape, dtype=dtype)
            assert isinstance(got, np.ndarray) and got.dtype == np.dtype(dtype)
            if not np.isfinite(got).all():  # its tolerance, relative to max|output|, is then inf
                kinds.append("normal")
        for kind in kinds:
            assert_values_close(name, args, kwargs, special_input(rng, shape, dtype, kind))
    assert accepted >= 2


def test_dropout_is_the_identity():
    x = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(np.float32)
    for cls in dropout.LAYERS:
        assert cls(p=1.0).forward(x) is x  # as torch's eval-mode dropout returns its input


def test_0d_results_are_arrays():
    for cls in (convcalc.ReLU, convcalc.Sigmoid, convcalc.Softmax, convcalc.LeakyReLU):
        got = cls().forward(np.float32(-2.0))
        assert isinstance(got, np.ndarray) and got.shape == () and got.dtype == np.float32


def test_prelu_slopes_per_channel():
    x = np.array([[-1.0, -1.0, 2.0], [-2.0, 1.0, -4.0]])
    got = convcalc.PReLU(3).forward(x, {"weight": np.array([0.5, 0.0, -1.0])})
    np.testing.assert_array_equal(got, [[-0.5, -0.0, 2.0], [-1.0, 1.0, 4.0]])


def test_implicit_softmax_dim_by_rank():
    rng = np.random.default_rng(2)
    for rank in range(6):
        shape = tuple(range(2, 2 + rank))
        for name in ("Softmax", "Softmin", "LogSoftmax"):
            assert_forward_agrees(name, (), {}, shape, x=rng.standard_normal(shape))


def test_integer_input_is_read_as_float32():
    got = convcalc.ReLU().forward(np.array([-1, 2]))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, [0.0, 2.0])


# -- Hypothesis: test_oracle_activation's configurations, values wherever both accept ----------

SETTINGS = examples(120)
INPUTS = (dtype_names, st.sampled_from(["normal", "wide", "special"]), small_seeds)


def check(config, dtype, kind, seed):
    if assert_agrees(*config)[0] != "ok":
        return
    name, args, kwargs, shape = config
    if kind == "normal" and name not in CANCELLING:
        got = assert_forward_agrees(*config, dtype=dtype, seed=seed)
        if np.isfinite(got).all():
            return  # else its tolerance, relative to max|output|, was inf: check cell by cell
    x = special_input(np.random.default_rng(seed), shape, dtype, kind)
    assert_values_close(name, args, kwargs, x, seed=seed)


@SETTINGS
@given(softmax_configs(), *INPUTS)
def test_softmax_hypothesis(config, dtype, kind, seed):
    check(config, dtype, kind, seed)


@examples(300)  # mostly odd sizes
@given(glu_configs(), *INPUTS)
def test_glu_hypothesis(config, dtype, kind, seed):
    check(config, dtype, kind, seed)


@SETTINGS
@given(prelu_configs(), *INPUTS)
def test_prelu_hypothesis(config, dtype, kind, seed):
    check(config, dtype, kind, seed)


@SETTINGS
@given(dropout_configs(), *INPUTS)
def test_dropout_hypothesis(config, dtype, kind, seed):
    check(config, dtype, kind, seed)


@examples(300)
@given(scalar_activation_configs(), *INPUTS)
def test_scalar_arguments_hypothesis(config, dtype, kind, seed):
    check(config, dtype, kind, seed)


@SETTINGS
@given(plain_configs(), *INPUTS)
def test_plain_activations_hypothesis(config, dtype, kind, seed):
    check(config, dtype, kind, seed)


@pytest.mark.parametrize("name, kwargs", [("ELU", {"alpha": 1e30}), ("CELU", {"alpha": 1e-30}), ("SELU", {})])
def test_overflow_is_silent_and_as_in_torch(name, kwargs):
    """Huge inputs or coefficients overflow to ±inf without NumPy's RuntimeWarning, as in torch."""
    import warnings

    torch = pytest.importorskip("torch")
    x = np.array([-3e38, -1.0, 0.0, 2.0, 3e38], dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = getattr(convcalc, name)(**kwargs).forward(x)
    want = getattr(torch.nn, name)(**kwargs)(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(got, want)
