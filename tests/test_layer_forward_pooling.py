"""Pooling layers' forward pass against torch.nn modules: values, and max-pool indices exactly.

The tables pin one configuration per behaviour; the Hypothesis tests reuse the configuration
strategies of test_oracle_pooling.py (valid and invalid, batched and unbatched) and compare
values wherever convcalc accepts the configuration, which the oracle tests prove is exactly
where torch does, bar the empty outputs convcalc refuses on purpose.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

from forward_compare import sample
from layer_oracle import accepted, agree, torch_forward
from oracle import torch
from strategies import DTYPE_NAMES as DTYPES
from strategies import dtype_names, examples, finite_kinds, seeds
from test_oracle_pooling import (
    adaptive_configs,
    avg_pool_configs,
    lp_pool_configs,
    max_pool_configs,
    max_unpool_configs,
)

import convcalc
from convcalc import ConvcalcError

# a NumPy warning escaping a layer (overflow, inf − inf) is a bug: torch is silent
pytestmark = [pytest.mark.oracle, pytest.mark.filterwarnings("error::RuntimeWarning")]

INF = float("inf")


# -- tables: one row per behaviour -------------------------------------------------------------

TABLE = [
    # (class, args, kwargs, input shape, input kind)
    ("MaxPool1d", (3,), {"stride": 2, "padding": 1}, (2, 3, 9), "normal"),
    ("MaxPool1d", (3,), {"stride": 3, "padding": 1, "ceil_mode": True}, (4, 5), "ties"),  # unbatched
    ("MaxPool1d", (2,), {"dilation": 5, "padding": 1}, (1, 1, 4), "normal"),  # a padding-only window
    ("MaxPool2d", (3,), {"stride": 2, "padding": 1}, (2, 4, 11, 12), "normal"),
    ("MaxPool2d", (3,), {"stride": 2, "padding": 1, "return_indices": True}, (2, 4, 11, 12), "ties"),
    ("MaxPool2d", ((3, 2),), {"stride": (2, 1), "dilation": (2, 3), "padding": (1, 0),
                              "return_indices": True}, (3, 10, 11), "ties"),  # unbatched indices
    ("MaxPool2d", (2,), {"stride": (), "ceil_mode": True, "return_indices": True}, (1, 2, 5, 7), "ties"),
    ("MaxPool3d", (3,), {"stride": 2, "padding": 1, "ceil_mode": True, "return_indices": True},
     (1, 2, 5, 6, 7), "ties"),
    ("MaxPool3d", ((1, 2, 3),), {"dilation": (1, 2, 1)}, (2, 4, 5, 6), "normal"),  # unbatched
    ("AvgPool1d", (3,), {"stride": 2, "padding": 1, "count_include_pad": False}, (2, 3, 9), "normal"),
    ("AvgPool1d", (3,), {"stride": 3, "padding": 1, "ceil_mode": True}, (3, 7), "normal"),  # unbatched
    ("AvgPool2d", (3,), {"stride": 2, "padding": 1}, (2, 4, 11, 12), "normal"),
    ("AvgPool2d", (3,), {"stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False},
     (2, 7, 8), "ties"),
    ("AvgPool2d", (3,), {"padding": 1, "divisor_override": -2}, (1, 2, 7, 7), "normal"),
    ("AvgPool3d", ((2, 3, 3),), {"stride": (2, 1, 2), "padding": (1, 1, 0), "ceil_mode": True,
                                 "count_include_pad": False}, (1, 2, 6, 5, 7), "normal"),
    ("AvgPool3d", (2,), {"divisor_override": 5}, (2, 4, 4, 5), "normal"),  # unbatched
    ("LPPool1d", (2, 3), {"stride": 2}, (2, 3, 9), "normal"),
    ("LPPool1d", (1, 2), {"stride": 2, "ceil_mode": True}, (3, 7), "ties"),  # short window rescaled
    ("LPPool2d", (2, (3, 2)), {"stride": 1}, (2, 3, 7, 8), "normal"),
    ("LPPool2d", (3.5, 2), {}, (3, 6, 6), "normal"),  # negative window sums: NaN as torch
    ("LPPool2d", (INF, 3), {"stride": 2}, (1, 2, 7, 7), "normal"),
    ("LPPool2d", (-INF, 2), {}, (1, 2, 6, 6), "normal"),
    ("LPPool3d", (2, 2), {"stride": (1, 2, 2)}, (1, 2, 4, 5, 6), "normal"),
    ("LPPool3d", (1, 3), {"ceil_mode": True, "stride": 2}, (2, 5, 5, 6), "normal"),  # unbatched
    ("AdaptiveAvgPool1d", (4,), {}, (2, 3, 10), "normal"),
    ("AdaptiveAvgPool1d", (7,), {}, (3, 5), "normal"),  # unbatched, larger than the input
    ("AdaptiveAvgPool1d", (0,), {}, (1, 2, 5), "normal"),  # an explicit 0: empty, as torch
    ("AdaptiveAvgPool2d", ((None, 3),), {}, (2, 3, 5, 7), "normal"),
    ("AdaptiveAvgPool2d", ((4, 5),), {}, (3, 9, 13), "ties"),  # unbatched
    ("AdaptiveAvgPool2d", (1,), {}, (2, 3, 5, 6), "normal"),
    ("AdaptiveAvgPool2d", (1,), {}, (5, 6), "normal"),  # the global mean takes any rank >= nd
    ("AdaptiveAvgPool2d", (1,), {}, (1, 2, 2, 5, 6), "normal"),
    ("AdaptiveAvgPool2d", ((1, None),), {}, (1, 1, 2, 5, 1), "normal"),
    ("AdaptiveAvgPool3d", ((None, 3, 2),), {}, (2, 5, 6, 7), "normal"),
    ("AdaptiveAvgPool3d", ((1, 1, 1),), {}, (1, 1, 2, 3, 4, 5), "normal"),
    ("AdaptiveMaxPool1d", (3, True), {}, (2, 3, 10), "ties"),
    ("AdaptiveMaxPool1d", (4,), {}, (3, 7), "normal"),
    ("AdaptiveMaxPool2d", ((None, 3), True), {}, (2, 5, 7), "ties"),  # unbatched indices
    ("AdaptiveMaxPool2d", ((3, 4),), {}, (2, 2, 7, 9), "normal"),
    ("AdaptiveMaxPool3d", ((2, None, 3), True), {}, (1, 2, 5, 4, 7), "ties"),
    ("AdaptiveMaxPool3d", (2,), {}, (2, 3, 4, 5), "normal"),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,args,kwargs,shape,kind", TABLE)
def test_table(name, args, kwargs, shape, kind, dtype):
    agree(name, args, kwargs, shape, dtype=dtype, kind=kind)


# (nd, pool args, pool kwargs, pool input shape, unpool output_size or None)
UNPOOL_TABLE = [
    (1, (2,), {}, (2, 3, 8), None),
    (1, (3,), {"stride": 2, "padding": 1}, (2, 9), None),  # unbatched; overlapping windows
    (1, (3,), {"stride": 2}, (1, 2, 10), (10,)),  # the size the default misses
    (2, (2,), {}, (2, 3, 8, 9), (1, 1, 8, 9)),  # nd+2 entries: the leading two are ignored
    (2, (3,), {"stride": 2, "padding": 1}, (1, 2, 7, 8), (7, 8)),  # width 8 needs output_size
    (2, (2,), {"stride": 1}, (3, 6, 5), None),  # unbatched; a shared max is written twice
    (3, (2,), {}, (1, 2, 5, 6, 7), (5, 6, 7)),
    (3, ((1, 3, 2),), {"stride": (1, 2, 2), "padding": (0, 1, 1)}, (2, 4, 5, 6), None),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nd,args,kwargs,shape,output_size", UNPOOL_TABLE)
def test_max_unpool_table(nd, args, kwargs, shape, output_size, dtype):
    x = sample(np.random.default_rng(5), shape, np.dtype(dtype), "ties")
    values, indices = torch_forward(f"MaxPool{nd}d", args, {**kwargs, "return_indices": True}, x)
    forward = {"indices": torch.from_numpy(indices)}
    if output_size is not None:
        forward["output_size"] = output_size
    agree(f"MaxUnpool{nd}d", args, kwargs, values.shape, forward, dtype=dtype, x=values)


def test_max_unpool_needs_integer_indices_of_the_input_shape():
    unpool = convcalc.MaxUnpool2d(2)
    values = np.ones((1, 1, 2, 2))
    with pytest.raises(ConvcalcError, match="forward needs indices=.*MaxPool2d"):
        unpool.forward(values)
    with pytest.raises(ConvcalcError, match="indices must be whole numbers"):
        unpool.forward(values, indices=np.zeros((1, 1, 2, 2)))
    with pytest.raises(ConvcalcError, match="must match the input's"):
        unpool.forward(values, indices=np.zeros((1, 1, 2, 3), dtype=np.int64))
    with pytest.raises(ConvcalcError, match="must match the input's"):
        unpool.forward(values, indices=[[[0, 1]]])  # a list is checked once it is an array
    with pytest.raises(ConvcalcError, match="outside the output plane"):
        unpool.forward(values, indices=np.full((1, 1, 2, 2), 16))
    # any integer dtype will do (torch insists on int64)
    got = unpool.forward(values, indices=np.array([[[[0, 3], [9, 15]]]], dtype=np.int32))
    assert got.shape == (1, 1, 4, 4) and got.sum() == 4 and got[0, 0, 3, 3] == 1


def test_max_pool_then_unpool_round_trip():
    x = np.abs(sample(np.random.default_rng(6), (2, 3, 8, 8), np.dtype("float32"), "normal")) + 1
    values, indices = convcalc.MaxPool2d(2, return_indices=True).forward(x)
    restored = convcalc.MaxUnpool2d(2).forward(values, indices=indices)
    assert restored.dtype == np.float32
    np.testing.assert_array_equal(restored.reshape(2, 3, 4, 2, 4, 2).max(axis=(3, 5)), values)
    np.testing.assert_array_equal(np.where(restored != 0, x, 0), restored)


SPECIAL = [
    ("MaxPool2d", (3,), {"stride": 2, "padding": 1, "return_indices": True}, (2, 3, 9, 10)),
    ("MaxPool1d", (4,), {"ceil_mode": True, "stride": 3}, (3, 11)),
    ("AvgPool2d", (3,), {"stride": 2, "padding": 1, "count_include_pad": False}, (2, 3, 9, 10)),
    ("LPPool2d", (2, 3), {"stride": 2}, (2, 3, 9, 10)),
    ("LPPool1d", (INF, 3), {}, (2, 9)),
    ("AdaptiveMaxPool2d", ((4, 3), True), {}, (3, 9, 10)),
    ("AdaptiveAvgPool2d", (1,), {}, (2, 3, 9, 10)),
    ("AdaptiveAvgPool3d", ((2, 3, 4),), {}, (2, 5, 6, 7)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,args,kwargs,shape", SPECIAL)
def test_nan_and_inf_land_where_torch_puts_them(name, args, kwargs, shape, dtype):
    agree(name, args, kwargs, shape, dtype=dtype, kind="special", seed=7)


# -- Hypothesis: the oracle's configurations, values wherever they are accepted -----------------



def check_config(name, args, kwargs, shape, dtype, kind, seed, scale_floor=1e-30):
    if accepted(name, args, kwargs, shape):
        agree(name, args, kwargs, shape, dtype=dtype, kind=kind, seed=seed, scale_floor=scale_floor)


# An average of mixed signs can cancel far below its inputs (unit normal, or small integers) while
# its rounding stays that of their size: AdaptiveAvgPool3d(1) of 700 values gave -3.4e-4, 4e-9
# from torch's own float32 sum. The bar is then relative to 1e-2, not to the cancelled average.
AVERAGE_FLOOR = 1e-2


@examples(400)
@given(max_pool_configs(), dtype_names, finite_kinds, seeds)
def test_max_pool_hypothesis(config, dtype, kind, seed):
    check_config(*config, dtype, kind, seed)


@examples(400)
@given(avg_pool_configs(), dtype_names, finite_kinds, seeds)
def test_avg_pool_hypothesis(config, dtype, kind, seed):
    check_config(*config, dtype, kind, seed, AVERAGE_FLOOR)


@examples(250)
@given(lp_pool_configs(), dtype_names, finite_kinds, seeds)
def test_lp_pool_hypothesis(config, dtype, kind, seed):
    name, (norm_type, _), kwargs, shape = config
    if not accepted(*config):
        return
    x = sample(np.random.default_rng(seed), shape, np.dtype(dtype), kind)
    if norm_type < 0 or (float(norm_type).is_integer() and norm_type % 2 == 1):
        # Σ x^p over a window of mixed signs (p odd, or p < 0) can cancel to about 0, and its
        # root blows the rounding of the sum up without bound: torch sums each window in scan
        # order, the kernel dim by dim, so e.g. (−1, −1/3, 1, 1/3) with p = −1 gives −3.4e7
        # in torch and +inf here, and p = 1 over a float32 window of size-1 values summing to
        # 3e-4 differs in the third digit. Positive inputs keep the comparison well-conditioned;
        # the sign kept before the root is tested on fixed examples.
        x = np.abs(x) + x.dtype.type(0.5)
    agree(*config, dtype=dtype, x=x)


@examples(200)
@given(adaptive_configs("Avg"), dtype_names, finite_kinds, seeds)
def test_adaptive_avg_pool_hypothesis(config, dtype, kind, seed):
    name, args, shape = config
    check_config(name, args, {}, shape, dtype, kind, seed, AVERAGE_FLOOR)


@examples(200)
@given(adaptive_configs("Max"), dtype_names, finite_kinds, seeds)
def test_adaptive_max_pool_hypothesis(config, dtype, kind, seed):
    name, args, shape = config
    check_config(name, args, {}, shape, dtype, kind, seed)


def _pool_indices(nd, kernel, kwargs, shape, out_spatial, kind, rng):
    """torch's own max-pool indices for an unpool input of ``shape`` into ``out_spatial``.

    MaxPool with the unpool's window, from an input of the unpool's output size, where some
    ceil mode gives exactly ``shape``; otherwise an adaptive max pool, whose windows reach
    any shape (and overlap, so a maximum can be reported twice).
    """
    source = sample(rng, (*shape[:-nd], *out_spatial), np.dtype("float64"), kind)
    window = {"stride": kwargs["stride"], "padding": kwargs["padding"], "return_indices": True}
    for ceil_mode in (False, True):
        try:
            _, indices = torch_forward(f"MaxPool{nd}d", (kernel,), {**window, "ceil_mode": ceil_mode}, source)
        except (RuntimeError, ValueError, TypeError):
            break
        if indices.shape == shape:
            return indices
    return torch_forward(f"AdaptiveMaxPool{nd}d", (shape[-nd:], True), {}, source)[1]


@examples(400)
@given(max_unpool_configs(), dtype_names, finite_kinds, seeds)
def test_max_unpool_hypothesis(config, dtype, kind, seed):
    name, args, kwargs, shape, forward = config
    if not accepted(name, args, kwargs, shape, forward):
        return
    out = getattr(convcalc, name)(*args, **kwargs).output_shape(shape, **forward)
    nd = int(name[-2])
    rng = np.random.default_rng(seed)
    indices = _pool_indices(nd, args[0], kwargs, shape, out[-nd:], kind, rng)
    x = sample(rng, shape, np.dtype(dtype), "normal")
    agree(name, args, kwargs, shape, {**forward, "indices": torch.from_numpy(indices)}, dtype=dtype, x=x)


def test_an_average_that_cancels_is_judged_by_its_inputs_size():
    """Hypothesis's find: AdaptiveAvgPool3d(1) of 700 float32 values averaging -3.4e-4, 4e-9 from
    torch, over a bar of 1e-5 of that average; 1e-5 of 1e-2 holds, and an error of the inputs'
    size would not."""
    check_config("AdaptiveAvgPool3d", (1,), {}, (1, 1, 7, 10, 10), "float32", "normal", 148, AVERAGE_FLOOR)
