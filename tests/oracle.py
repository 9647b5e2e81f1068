"""PyTorch as the oracle: run the same layer configuration through torch and convcalc.

Only the oracle test modules import this; they skip cleanly when torch is absent.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

import convcalc  # noqa: E402
from forward_compare import assert_close, gelu_reference  # noqa: E402


def torch_outcome(name: str, args: tuple, kwargs: dict, input_shape: tuple, forward: dict | None = None):
    """("ok", output shape, param shapes, buffer shapes) or ("error", message) from torch."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = getattr(torch.nn, name)(*args, **kwargs).eval()
            with torch.no_grad():
                out = module(torch.zeros(input_shape), **(forward or {}))
    except Exception as exc:  # torch raises RuntimeError, ValueError, TypeError, IndexError...
        return ("error", f"{type(exc).__name__}: {exc}".splitlines()[0])
    if isinstance(out, tuple):
        out = out[0]
    params = {k: tuple(v.shape) for k, v in module.named_parameters()}
    buffers = {k: tuple(v.shape) for k, v in module.named_buffers()}
    return ("ok", tuple(out.shape), params, buffers)


def convcalc_outcome(name: str, args: tuple, kwargs: dict, input_shape: tuple, forward: dict | None = None):
    """The same tuple from convcalc; any exception but ConvcalcError propagates (a bug)."""
    try:
        layer = getattr(convcalc, name)(*args, **kwargs)
        out = layer.output_shape(input_shape, **(forward or {}))
    except convcalc.ConvcalcError as exc:
        return ("error", str(exc))
    return ("ok", tuple(out), layer.param_shapes(), layer.buffer_shapes())


def assert_agrees(name: str, args: tuple = (), kwargs: dict | None = None,
                  input_shape: tuple = (), forward: dict | None = None, *, allow_empty: bool = False) -> Any:
    """Assert torch and convcalc accept/reject alike and agree on every shape.

    ``allow_empty``: the layer legitimately produces zero-size dims (adaptive pooling's
    explicit 0), so an empty torch result must be matched rather than rejected.
    """
    kwargs = kwargs or {}
    expected = torch_outcome(name, args, kwargs, input_shape, forward)
    got = convcalc_outcome(name, args, kwargs, input_shape, forward)
    call = f"{name}(*{args}, **{kwargs}) on {input_shape} forward={forward}"
    if expected[0] == "ok" and 0 in expected[1] and not allow_empty:
        # An empty result is backend-dependent in torch; convcalc rejects it on purpose
        # (torch's own answer there differs between its backends).
        assert got[0] == "error", f"{call}: torch gives empty {expected[1]}, convcalc must reject: {got}"
        return got
    if expected[0] == "error" or got[0] == "error":
        assert expected[0] == got[0], f"{call}: torch says {expected}, convcalc says {got}"
        return got
    assert got[1] == expected[1], f"{call}: output shape {got[1]} != torch {expected[1]}"
    assert got[2] == expected[2], f"{call}: params {got[2]} != torch {expected[2]}"
    assert got[3] == expected[3], f"{call}: buffers {got[3]} != torch {expected[3]}"
    return got


def _random_state(module, rng):
    """Random values for every parameter and buffer (running_var kept positive)."""
    state = {}
    for key, value in module.state_dict().items():
        if value.dtype.is_floating_point:
            data = rng.standard_normal(tuple(value.shape))
            if key.endswith("running_var"):
                data = np.abs(data) + 0.5
            state[key] = torch.from_numpy(data.astype(np.float64))
        else:
            state[key] = value
    return state


def assert_forward_agrees(name: str, args: tuple = (), kwargs: dict | None = None, input_shape: tuple = (),
                          forward: dict | None = None, *, seed: int = 0, dtype: str = "float64",
                          x=None, rtol: float | None = None, scale_floor: float = 1e-30):
    """Run torch and convcalc forward on the same random input and parameters; compare values.

    float64 by default: the comparison is then exact up to summation order (tolerance 1e-9
    relative to the largest output); float32 uses 1e-5. Compared by
    forward_compare.assert_close with the scale not floored at 1 (``scale_floor``: where an
    output can cancel far below its inputs, such as an average of mixed signs, whose rounding
    follows the inputs' size).
    """
    kwargs = kwargs or {}
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = getattr(torch.nn, name)(*args, **kwargs).eval()
    # in the compared dtype before loading: a float32 module would round float64 values
    module = module.to(getattr(torch, dtype))
    state = _random_state(module, rng)
    module = module.to(getattr(torch, dtype))  # before loading, so float64 weights stay float64
    module.load_state_dict(state)
    if x is None:
        x = rng.standard_normal(input_shape).astype(dtype)
    with torch.no_grad():
        expected = module(torch.from_numpy(np.array(x)), **(forward or {}))
    layer = getattr(convcalc, name)(*args, **kwargs)
    params = {k: v.numpy().astype(dtype) if v.dtype.is_floating_point else v.numpy() for k, v in state.items()}
    got = layer.forward(np.array(x), params, **(forward or {}))
    expected_list = expected if isinstance(expected, tuple) else (expected,)
    got_list = got if isinstance(got, tuple) else (got,)
    assert len(got_list) == len(expected_list), f"{name}: {len(got_list)} outputs, torch gives {len(expected_list)}"
    tol = rtol if rtol is not None else (1e-9 if dtype == "float64" else 1e-5)
    for e, g in zip(expected_list, got_list):
        # relative to the output's own largest finite value, however small (no floor at 1)
        assert_close(g, e.numpy(), f"{name}(*{args}, **{kwargs}) on {input_shape} forward={forward}", tol,
                     scale_floor=scale_floor)
    return got


def assert_values_close(name: str, args: tuple = (), kwargs: dict | None = None, x=None, *,
                        seed: int = 0, tolerance: float | None = None, torch_dtype: str | None = None):
    """Module and layer on the given float array ``x``, compared by forward_compare.assert_close.

    For inputs with NaN/±inf (assert_forward_agrees's tolerance, relative to max|output|,
    becomes infinite with one inf in the output) and outputs whose natural scale is not their
    own maximum (a normalisation of single values gives its bias plus torch's rounding noise):
    NaN and inf must match cell by cell, finite cells within tolerance·max(1, max|finite|).
    ``torch_dtype="float64"`` runs torch in float64 on the same (float32) values, the fair
    reference where torch's float32 arithmetic itself drifts (statistics of nearly equal values).
    The caller's ``x`` is made read-only: in-place modules must not carry over.
    """
    kwargs = kwargs or {}
    x = np.asarray(x)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = getattr(torch.nn, name)(*args, **kwargs).eval()
    module = module.to(getattr(torch, torch_dtype) if torch_dtype else torch.from_numpy(x).dtype)
    state = _random_state(module, np.random.default_rng(seed))
    params = {k: v.numpy().astype(x.dtype) if v.dtype.is_floating_point else v.numpy() for k, v in state.items()}
    module.load_state_dict({k: torch.from_numpy(v) for k, v in params.items()})  # x's precision
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # a copy, in the module's dtype: an in-place module writes its input
        expected = module(torch.from_numpy(x.astype(torch_dtype or x.dtype))).numpy().astype(x.dtype)
    x.flags.writeable = False
    if name == "GELU":
        expected = gelu_reference(x, expected)
    got = getattr(convcalc, name)(*args, **kwargs).forward(x, params)
    assert isinstance(got, np.ndarray), f"{name}: forward gave {type(got).__name__}, not an array"
    assert_close(got, expected, f"{name}(*{args}, **{kwargs}) on {x.shape}", tolerance)
    return got


def assert_same_repr(name: str, args: tuple, kwargs: dict) -> None:
    """Where both build the layer, convcalc prints what torch prints."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = repr(getattr(torch.nn, name)(*args, **kwargs))
        got = repr(getattr(convcalc, name)(*args, **kwargs))
    except Exception:
        return
    assert got == expected
