"""Layer.forward against torch.nn modules for parameter-free layers, whatever they return.

Shared by the test_layer_forward_* modules: ``agree`` compares one configuration's values (and
indices, and the form of the result), ``accepted`` tells whether convcalc takes a
configuration at all.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from forward_compare import assert_close, assert_same_indices, read_only, sample
from oracle import assert_forward_agrees, torch

import convcalc
from convcalc import ConvcalcError


def agree(name, args, kwargs, shape, forward=None, *, dtype="float64", kind="normal", seed=0, x=None,
          scale_floor=1e-30):
    """The layer's forward against torch's on a ``kind`` input (see forward_compare.sample):
    values, indices exactly, and the form: (values, int64 indices) exactly when the layer
    returns indices.

    assert_forward_agrees scales its tolerance by the largest output, which an inf makes
    useless (and NumPy then warns), so it runs only on finite outputs; forward_compare's
    assert_close checks every output (NaN and ±inf in the same cells, finite cells within
    tolerance). The layers tested this way have no parameters, so both compare the same thing.
    """
    if x is None:
        x = sample(np.random.default_rng(seed), shape, np.dtype(dtype), kind)
    layer = getattr(convcalc, name)(*args, **kwargs)
    expected = torch_forward(name, args, kwargs, x.copy(), forward)
    expected_values = expected[0] if isinstance(expected, tuple) else expected
    if np.isfinite(expected_values).all():
        got = assert_forward_agrees(name, args, kwargs, shape, forward, dtype=dtype, x=x, scale_floor=scale_floor)
    else:
        got = layer.forward(read_only(x), **(forward or {}))
    if getattr(layer, "return_indices", False):
        assert isinstance(got, tuple) and len(got) == 2, f"{name}: want (values, indices), got {type(got)}"
        values, indices = got
        assert_same_indices(indices, expected[1], name)
    else:
        assert isinstance(got, np.ndarray), f"{name}: want one array, got {type(got)}"
        values = got
    assert_close(values, expected_values, f"{name}{args}{kwargs} on {shape}")
    return got


def torch_forward(name, args, kwargs, x, forward=None):
    """torch's module output as NumPy arrays (a tuple stays a tuple)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = getattr(torch.nn, name)(*args, **kwargs)
        with torch.no_grad():
            out = module(torch.from_numpy(x), **(forward or {}))
    return tuple(o.numpy() for o in out) if isinstance(out, tuple) else out.numpy()


def accepted(name, args, kwargs, shape, forward=None) -> bool:
    """Whether convcalc accepts the configuration; if not, forward must refuse it too."""
    try:
        layer = getattr(convcalc, name)(*args, **kwargs)
    except ConvcalcError:
        return False
    try:
        layer.output_shape(shape, **(forward or {}))
    except ConvcalcError:
        with pytest.raises(ConvcalcError):
            layer.forward(np.zeros(shape), **(forward or {}))
        return False
    return True
