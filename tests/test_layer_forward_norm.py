"""Norm layers' forward pass against torch modules in eval mode, with random parameters.

The configurations come from test_oracle_norm's strategies; wherever torch and convcalc
accept one (assert_agrees says so), the values must agree too.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given

import convcalc
from oracle import assert_agrees, assert_forward_agrees, assert_values_close, torch
from strategies import DTYPE_NAMES as DTYPES
from strategies import dtype_names, examples, small_seeds
from test_oracle_norm import channel_norm_configs, group_norm_configs, layer_norm_configs, lrn_configs

pytestmark = [pytest.mark.oracle, pytest.mark.filterwarnings("ignore::UserWarning")]  # num_features unused


CASES = [
    # (class, args, kwargs, input shape)
    # BatchNorm: running statistics, or the batch's own without them (torch's eval behaviour)
    ("BatchNorm1d", (4,), {}, (3, 4)),
    ("BatchNorm1d", (4,), {}, (1, 4)),
    ("BatchNorm1d", (4,), {}, (2, 4, 5)),
    ("BatchNorm1d", (4,), {"track_running_stats": False}, (3, 4)),
    ("BatchNorm1d", (4,), {"track_running_stats": False}, (1, 4, 3)),
    ("BatchNorm1d", (4,), {"affine": False}, (2, 4, 5)),
    ("BatchNorm1d", (4,), {"affine": False, "track_running_stats": False}, (2, 4)),
    ("BatchNorm2d", (3,), {}, (2, 3, 4, 5)),
    ("BatchNorm2d", (3,), {"bias": False}, (2, 3, 4, 5)),
    ("BatchNorm2d", (3,), {"eps": 0.0, "momentum": None}, (1, 3, 1, 1)),
    ("BatchNorm2d", (3,), {"eps": 0.1, "track_running_stats": False}, (2, 3, 2, 3)),
    ("BatchNorm2d", (7,), {"affine": False, "track_running_stats": False}, (2, 3, 2, 3)),  # C unchecked
    ("BatchNorm3d", (2,), {}, (2, 2, 3, 4, 5)),
    ("BatchNorm3d", (2,), {"track_running_stats": False, "bias": False}, (1, 2, 2, 1, 3)),
    # InstanceNorm: per-sample statistics, or running ones when tracked; unbatched inputs too
    ("InstanceNorm1d", (4,), {}, (2, 4, 5)),
    ("InstanceNorm1d", (4,), {}, (4, 5)),
    ("InstanceNorm1d", (4,), {}, (2, 5, 3)),  # channels only checked when a tensor is sized
    ("InstanceNorm1d", (4,), {"affine": True}, (4, 5)),
    ("InstanceNorm1d", (4,), {"affine": True, "bias": False}, (2, 4, 5)),
    ("InstanceNorm1d", (4,), {"track_running_stats": True}, (2, 4, 1)),
    ("InstanceNorm1d", (4,), {"track_running_stats": True}, (4, 3)),
    ("InstanceNorm2d", (3,), {"affine": True, "track_running_stats": True}, (2, 3, 4, 5)),
    ("InstanceNorm2d", (3,), {"affine": True, "track_running_stats": True}, (3, 4, 5)),
    ("InstanceNorm2d", (3,), {"eps": 0.5}, (3, 1, 2)),
    ("InstanceNorm3d", (2,), {}, (2, 2, 3, 4, 5)),
    ("InstanceNorm3d", (2,), {"affine": True}, (2, 3, 1, 2)),
    # GroupNorm: (N, C, *) with any number of trailing dims
    ("GroupNorm", (2, 4), {}, (2, 4)),
    ("GroupNorm", (2, 4), {}, (3, 4, 5)),
    ("GroupNorm", (1, 4), {}, (2, 4, 3, 3)),
    ("GroupNorm", (4, 4), {}, (1, 4, 2, 1, 2)),
    ("GroupNorm", (3, 6), {"bias": False}, (2, 6, 5)),
    ("GroupNorm", (2, 4), {"affine": False}, (2, 6, 3)),  # num_channels only sizes the affine
    ("GroupNorm", (2, 4), {"eps": 0.3}, (1, 4, 2)),
    # LayerNorm: the trailing normalized_shape dims, any leading ones
    ("LayerNorm", (5,), {}, (5,)),
    ("LayerNorm", (5,), {}, (2, 3, 5)),
    ("LayerNorm", ((3, 5),), {}, (2, 3, 5)),
    ("LayerNorm", ([2, 3, 5],), {}, (2, 3, 5)),
    ("LayerNorm", ((3, 5),), {"bias": False}, (4, 3, 5)),
    ("LayerNorm", ((3, 5),), {"elementwise_affine": False}, (3, 5)),
    ("LayerNorm", (5,), {"elementwise_affine": False, "bias": False, "eps": 1e-3}, (1, 1, 1, 5)),
    ("LayerNorm", ((1, 1),), {}, (1, 1)),
    ("LayerNorm", ((1, 1),), {"bias": False}, (3, 1, 1)),
    ("SyncBatchNorm", (3,), {}, (2, 3)),
    ("SyncBatchNorm", (3,), {}, (2, 3, 2, 2, 2, 2)),
    ("RMSNorm", (5,), {}, (2, 3, 5)),
    ("RMSNorm", ((3, 5),), {"eps": 1e-3}, (4, 3, 5)),
    ("RMSNorm", ((3, 5),), {"elementwise_affine": False}, (3, 5)),
    ("RMSNorm", ((1, 1),), {}, (3, 1, 1)),
    ("GroupNorm", (4, 4), {"affine": False}, (2, 4, 1)),  # single-value groups: exactly 0
    # LocalResponseNorm: a channel window that may exceed C, 3-D to 6-D inputs
    ("LocalResponseNorm", (1,), {}, (2, 4, 5)),
    ("LocalResponseNorm", (2,), {}, (2, 4, 5)),
    ("LocalResponseNorm", (3,), {"alpha": 0.5, "beta": 0.3, "k": 2.0}, (2, 5, 3, 3)),
    ("LocalResponseNorm", (4,), {"alpha": 1.0, "beta": 2, "k": 0.5}, (1, 6, 2, 2, 3)),
    ("LocalResponseNorm", (9,), {"alpha": 1.0}, (2, 3, 2, 1, 2, 2)),
    ("LocalResponseNorm", (2,), {"alpha": -1.0, "beta": -2.0, "k": -1.0}, (2, 4, 3)),
]


def single_value_statistics(name: str, args: tuple, shape: tuple) -> bool:
    """Each mean and variance is taken over one value: the exact output is the bias (or 0).

    torch folds the statistics into x·scale + shift, whose two roundings no longer cancel
    there; 1/√ε amplifies them to ~1e-4 in float32, ~1e-13 in float64. Next to an exact 0 no
    relative tolerance holds, so such cases are judged in float64 against the normalised
    scale, 1 (assert_values_close), and float32 must give the exact answer
    (test_single_value_statistics_give_the_bias). GroupNorm and LayerNorm accept them; the
    other norms refuse a single value per statistic.
    """
    if name == "GroupNorm":
        return shape[1] // args[0] * math.prod(shape[2:]) == 1
    if name == "LayerNorm":
        return math.prod(convcalc.LayerNorm(*args).normalized_shape) == 1
    return False


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,args,kwargs,shape", CASES)
def test_case_table(name, args, kwargs, shape, dtype):
    assert assert_agrees(name, args, kwargs, shape)[0] == "ok"
    if single_value_statistics(name, args, shape):
        x = np.random.default_rng(0).standard_normal(shape)
        assert_values_close(name, args, kwargs, x, tolerance=1e-10)
    else:
        got = assert_forward_agrees(name, args, kwargs, shape, dtype=dtype)
        assert got.dtype == np.dtype(dtype)


def test_float32_statistics_of_nearly_equal_values():
    """Two values 5e-3 apart (variance ≈ ε): torch's float32 GroupNorm is off by 3.5e-5 (and
    not even antisymmetric); convcalc stays within float32 rounding of the float64 answer."""
    x = np.array([[[1.9980053901672363, 2.002885580062866]]], dtype=np.float32)
    with torch.no_grad():
        torch32 = torch.nn.GroupNorm(1, 1, affine=False)(torch.from_numpy(x)).numpy()
    got = assert_values_close("GroupNorm", (1, 1), {"affine": False}, x, torch_dtype="float64", tolerance=1e-7)
    assert np.abs(torch32 - got).max() > 3e-5
    assert got[0, 0, 0] == -got[0, 0, 1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_single_value_statistics_give_the_bias(dtype):
    x = np.random.default_rng(4).standard_normal((3, 4, 1)).astype(dtype) * 3
    weight, bias = np.full(4, 2.5, dtype), np.arange(4, dtype=dtype)
    got = convcalc.GroupNorm(4, 4).forward(x, {"weight": weight, "bias": bias})
    np.testing.assert_array_equal(got, np.broadcast_to(bias[:, None], x.shape))
    got = convcalc.LayerNorm((1,), bias=False).forward(x, {"weight": weight[:1]})
    np.testing.assert_array_equal(got, np.zeros_like(x))


@pytest.mark.parametrize("name,args,kwargs,shape", [
    ("BatchNorm1d", (4,), {}, (3, 4)),
    ("BatchNorm2d", (3,), {"track_running_stats": False}, (2, 3, 4, 5)),
    ("InstanceNorm2d", (3,), {"affine": True}, (3, 4, 5)),
    ("GroupNorm", (2, 4), {}, (3, 4, 5)),
    ("LayerNorm", ((3, 5),), {}, (2, 3, 5)),
    ("LocalResponseNorm", (3,), {}, (2, 5, 3, 3)),
])
def test_float_params_follow_the_input_dtype(name, args, kwargs, shape):
    """float64 parameters with a float32 input (or the reverse) give the input's dtype."""
    layer = getattr(convcalc, name)(*args, **kwargs)
    rng = np.random.default_rng(3)
    params = {k: np.abs(rng.standard_normal(v)) + 0.5 for k, v in layer.param_shapes().items()}
    params.update({k: np.abs(rng.standard_normal(v)) + 0.5 for k, v in layer.buffer_shapes().items() if v})
    for dtype, params_dtype in ((np.float32, np.float64), (np.float64, np.float32), (np.float16, np.float32)):
        x = rng.standard_normal(shape).astype(dtype)
        assert layer.forward(x, {k: v.astype(params_dtype) for k, v in params.items()}).dtype == dtype


def test_integer_input_is_read_as_float32():
    got = convcalc.LayerNorm(3).forward(np.array([[1, 2, 3]]), {"weight": np.ones(3), "bias": np.zeros(3)})
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, [[-1.2247, 0.0, 1.2247]], atol=1e-4)


def test_running_statistics_are_used_in_eval():
    layer = convcalc.BatchNorm1d(2, eps=0.0)
    params = {"weight": np.array([2.0, 1.0]), "bias": np.array([0.0, 1.0]),
              "running_mean": np.array([1.0, -1.0]), "running_var": np.array([4.0, 1.0])}
    out = layer.forward(np.array([[3.0, 0.0], [1.0, -1.0]]), params)
    np.testing.assert_array_equal(out, [[2.0, 2.0], [0.0, 1.0]])


def test_parameters_are_checked():
    layer = convcalc.BatchNorm2d(3)
    x = np.zeros((1, 3, 2, 2))
    with pytest.raises(convcalc.ConvcalcError, match="running_var"):
        layer.forward(x, {"weight": np.ones(3), "bias": np.zeros(3), "running_mean": np.zeros(3)})
    with pytest.raises(convcalc.ConvcalcError, match="weight"):
        layer.forward(x, {"weight": np.ones(4), "bias": np.zeros(3), "running_mean": np.zeros(3),
                          "running_var": np.ones(3)})


def test_inputs_and_parameters_are_not_written():
    rng = np.random.default_rng(5)
    for name, args, kwargs, shape in CASES:
        layer = getattr(convcalc, name)(*args, **kwargs)
        shapes = {**layer.param_shapes(), **{k: v for k, v in layer.buffer_shapes().items() if v}}
        params = {k: np.abs(rng.standard_normal(v)) + 0.5 for k, v in shapes.items()}
        x = rng.standard_normal(shape)
        for array in (x, *params.values()):
            array.flags.writeable = False
        layer.forward(x, params)


# -- Hypothesis: the configurations of test_oracle_norm, values wherever both accept ------------

SETTINGS = examples(200)


def check(config, dtype, seed):
    """float64 against torch's float64; float32 against torch's float64 on the same values.

    The strategies' tiny inputs give statistics of two or three values, which torch's float32
    arithmetic gets wrong by up to ~3e-5 when they nearly coincide (variance near ε) while
    convcalc, accumulating in float64, stays within float32 rounding of the exact answer.
    Well-conditioned float32 cases are compared with torch's float32 in test_case_table.
    """
    if assert_agrees(*config)[0] != "ok":
        return
    name, args, kwargs, shape = config
    x = np.random.default_rng(seed).standard_normal(shape)
    if single_value_statistics(name, args, shape):
        assert_values_close(name, args, kwargs, x, seed=seed, tolerance=1e-10)
    elif dtype == "float64":
        assert_forward_agrees(*config, dtype=dtype, seed=seed)
    else:
        assert_values_close(name, args, kwargs, x.astype(dtype), seed=seed, torch_dtype="float64")


# most BatchNorm configurations drawn are invalid (ranks, channels, eps): twice the examples
@examples(400)
@given(channel_norm_configs("BatchNorm"), dtype_names, small_seeds)
def test_batchnorm_hypothesis(config, dtype, seed):
    check(config, dtype, seed)


@SETTINGS
@given(channel_norm_configs("InstanceNorm"), dtype_names, small_seeds)
def test_instancenorm_hypothesis(config, dtype, seed):
    check(config, dtype, seed)


@SETTINGS
@given(group_norm_configs(), dtype_names, small_seeds)
def test_groupnorm_hypothesis(config, dtype, seed):
    check(config, dtype, seed)


@SETTINGS
@given(layer_norm_configs(), dtype_names, small_seeds)
def test_layernorm_hypothesis(config, dtype, seed):
    check(config, dtype, seed)


@SETTINGS
@given(lrn_configs(), dtype_names, small_seeds)
def test_lrn_hypothesis(config, dtype, seed):
    check(config, dtype, seed)


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64"])
@pytest.mark.parametrize("eps", [None, 0.0, 1e-3])
def test_rmsnorm_takes_the_epsilon_of_the_type_it_computes_in(dtype, eps):
    """Reproducer: float16 took float16's epsilon (9.8e-4) where torch takes float32's: values of
    0.01 came out 0.305, not 1."""
    torch = pytest.importorskip("torch")
    x = np.full((2, 4), 0.01, dtype=dtype)
    x[1] = [3.0, -4.0, 0.5, 0.25]
    weight = np.array([1.0, 2.0, -1.0, 0.5], dtype=dtype)
    got = convcalc.RMSNorm(4, eps=eps).forward(x, {"weight": weight})
    want = torch.nn.functional.rms_norm(torch.from_numpy(x), (4,), torch.from_numpy(weight), eps).numpy()
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=2e-3 if dtype == "float16" else 1e-6)
