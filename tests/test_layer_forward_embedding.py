"""Embedding's forward pass against torch's module: lookups, max_norm, index checks.

torch's forward with max_norm rescales the looked-up rows of its weight in place; convcalc
returns the same output without touching the caller's array.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import convcalc
from oracle import assert_forward_agrees, convcalc_outcome, torch
from strategies import DTYPE_NAMES as DTYPES
from strategies import dtype_names, examples, small_seeds
from test_oracle_linear import assert_embedding_agrees, embedding_configs

pytestmark = pytest.mark.oracle


CASES = [
    # (args, kwargs, index shape)
    ((10, 3), {}, (2, 5)),
    ((10, 3), {}, ()),  # a single index gives one row
    ((10, 3), {}, (7,)),
    ((10, 3), {}, (2, 3, 4, 5)),
    ((1, 1), {}, (3,)),
    ((10, 3), {"padding_idx": 0}, (4, 6)),  # padding_idx only matters in training
    ((10, 3), {"padding_idx": -1}, (4, 6)),
    ((10, 3), {"max_norm": 1.0}, (4, 6)),
    ((10, 3), {"max_norm": 0.5, "norm_type": 1}, (4, 6)),
    ((10, 3), {"max_norm": 2, "norm_type": math.inf}, (4, 6)),
    ((10, 3), {"max_norm": 1.0, "norm_type": 0.5}, (4, 6)),
    ((10, 3), {"max_norm": 1.0, "norm_type": 0}, (4, 6)),  # norm counts non-zeros
    ((10, 3), {"max_norm": -1.0}, (4, 6)),  # unchecked by torch: every row flips sign
    ((10, 3), {"max_norm": 0.0}, (3,)),
    ((10, 3), {"max_norm": 1.0}, ()),
    ((10, 3), {"max_norm": 1.0, "padding_idx": 2}, (5, 5)),  # the padding row is rescaled too
    ((10, 3), {"scale_grad_by_freq": True, "sparse": True, "_freeze": True}, (2, 5)),
]


def indices(rng: np.random.Generator, count: int, shape: tuple, dtype=np.int64) -> np.ndarray:
    return np.array(rng.integers(0, count, shape), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("args,kwargs,shape", CASES)
def test_case_table(args, kwargs, shape, dtype):
    assert_embedding_agrees(args, kwargs, shape)
    x = indices(np.random.default_rng(len(shape)), args[0], shape)
    got = assert_forward_agrees("Embedding", args, kwargs, shape, dtype=dtype, x=x)
    assert got.shape == (*shape, args[1]) and got.dtype == np.dtype(dtype)


@pytest.mark.parametrize("index_dtype", [np.int64, np.int32, np.int16, np.uint8, np.uint64])
def test_any_integer_dtype(index_dtype):
    """torch takes int64 and int32 indices only; convcalc reads any NumPy integer array."""
    rng = np.random.default_rng(0)
    x = indices(rng, 10, (3, 4), index_dtype)
    weight = rng.standard_normal((10, 3))
    module = torch.nn.Embedding(10, 3, max_norm=1.0).double()
    with torch.no_grad():
        module.weight[:] = torch.from_numpy(weight)
        expected = module(torch.from_numpy(x.astype(np.int64))).numpy()
    got = convcalc.Embedding(10, 3, max_norm=1.0).forward(x, {"weight": weight})
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    if index_dtype in (np.int64, np.int32):
        assert_forward_agrees("Embedding", (10, 3), {}, x.shape, x=x)


def test_weight_is_not_modified():
    """torch renormalises its table in place (and, with norm_type=0, again on every call)."""
    weight = np.random.default_rng(1).standard_normal((6, 4)) * 3
    module = torch.nn.Embedding(6, 4, max_norm=1.0, norm_type=0).double()
    module.weight.data[:] = torch.from_numpy(weight)
    x = np.array([[0, 1, 1], [5, 0, 2]])
    with torch.no_grad():
        first = module(torch.from_numpy(x)).numpy()
        second = module(torch.from_numpy(x)).numpy()
    assert not np.allclose(first, second)  # torch's answer depends on its history
    frozen = weight.copy()
    frozen.flags.writeable = False
    layer = convcalc.Embedding(6, 4, max_norm=1.0, norm_type=0)
    for _ in range(2):
        np.testing.assert_allclose(layer.forward(x, {"weight": frozen}), first, rtol=1e-12)
    np.testing.assert_array_equal(frozen, weight)


def test_output_is_a_copy():
    weight = np.arange(6.0).reshape(3, 2)
    out = convcalc.Embedding(3, 2).forward(np.array(1), {"weight": weight})
    out[:] = -1
    assert weight[1].tolist() == [2.0, 3.0]


@pytest.mark.parametrize(
    "x,words",
    [
        (np.array([0, 10]), ["index 10", "num_embeddings=10", "from 0 to 9"]),
        (np.array([[3, -1]]), ["index -1", "do not count from the end", "from 0 to 9"]),
        (np.array(12, dtype=np.uint8), ["index 12"]),
        (np.array([1.0, 2.0]), ["integers", "float64", "astype"]),
        (np.array([True]), ["integers", "bool"]),
    ],
)
def test_bad_indices_are_refused_like_torch(x, words):
    with pytest.raises(convcalc.ConvcalcError) as info:
        convcalc.Embedding(10, 3).forward(x, {"weight": np.zeros((10, 3))})
    message = str(info.value)
    assert message.startswith("Embedding: input ")
    for word in words:
        assert word in message, message
    with pytest.raises((IndexError, RuntimeError)):
        torch.nn.Embedding(10, 3)(torch.from_numpy(x))


def test_weight_is_required():
    with pytest.raises(convcalc.ConvcalcError, match="weight"):
        convcalc.Embedding(10, 3).forward(np.array([1]))
    with pytest.raises(convcalc.ConvcalcError, match="weight"):
        convcalc.Embedding(10, 3).forward(np.array([1]), {"weight": np.zeros((3, 10))})


# -- Hypothesis: test_oracle_linear's configurations, with valid and invalid indices ------------


@examples(250)
@given(embedding_configs(), dtype_names, small_seeds, st.integers(0, 6))
def test_embedding_hypothesis(config, dtype, seed, stray):
    args, kwargs, shape = config
    if convcalc_outcome("Embedding", args, kwargs, shape)[0] != "ok":
        return  # test_oracle_linear checks that torch refuses these too
    rng = np.random.default_rng(seed)
    x = indices(rng, args[0], shape)
    if stray == 0 and x.size:
        # one index outside the table: both refuse
        x.reshape(-1)[rng.integers(x.size)] = rng.choice([-1, args[0], args[0] + 5])
        with pytest.raises(convcalc.ConvcalcError, match="outside the table"):
            convcalc.Embedding(*args, **kwargs).forward(x, {"weight": np.zeros(args)})
        with pytest.raises(IndexError), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.nn.Embedding(*args, **kwargs)(torch.from_numpy(x))
        return
    assert_forward_agrees("Embedding", args, kwargs, shape, dtype=dtype, x=x, seed=seed)
