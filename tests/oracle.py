"""PyTorch as the oracle: run the same layer configuration through torch and convcalc.

Only the oracle test modules import this; they skip cleanly when torch is absent.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

import convcalc  # noqa: E402


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
        # (pytorch-semantics.md, "Where PyTorch itself is inconsistent").
        assert got[0] == "error", f"{call}: torch gives empty {expected[1]}, convcalc must reject: {got}"
        return got
    if expected[0] == "error" or got[0] == "error":
        assert expected[0] == got[0], f"{call}: torch says {expected}, convcalc says {got}"
        return got
    assert got[1] == expected[1], f"{call}: output shape {got[1]} != torch {expected[1]}"
    assert got[2] == expected[2], f"{call}: params {got[2]} != torch {expected[2]}"
    assert got[3] == expected[3], f"{call}: buffers {got[3]} != torch {expected[3]}"
    return got
