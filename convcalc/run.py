"""Running one layer's forward pass on random or file input: the data behind ``--run``.

Pure: it never prints; warnings (converted dtypes, NaN in the input) come back in the result.
NumPy is imported here, so only forward paths import this module.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from .errors import ConvcalcError, ParseError
from .layers.base import Layer, Shape, prod
from .tensors import (
    check_memory,
    estimate_bytes,
    float_dtype,
    load_input,
    load_weights,
    make_params,
    make_rng,
    make_tensor,
)


class RunResult(NamedTuple):
    """The tensors of one forward pass, in the order they are shown, and what to warn about."""

    input: np.ndarray
    params: dict[str, np.ndarray]
    output: Any  # an array, or (values, indices) for max-pool with return_indices
    warnings: list[str]

    def named_tensors(self) -> list[tuple[str, np.ndarray]]:
        outputs = self.output if isinstance(self.output, tuple) else (self.output,)
        names = ("output", "indices")
        return [("input", self.input), *self.params.items(), *zip(names, outputs)]


def run_layer(
    layer: Layer,
    input_shape: Shape | None = None,
    *,
    input_file: str | None = None,
    key: str | None = None,
    gray: bool = False,
    weights: str | None = None,
    fill: str = "normal",
    fill_weights: str = "normal",
    seed: int | None = 0,
    dtype: str = "float32",
    max_memory: int | None = None,
    forward_kwargs: dict[str, Any] | None = None,
) -> RunResult:
    """Make (or read) the input and the parameters, check the memory estimate, run forward.

    >>> from convcalc import Identity
    >>> run_layer(Identity(), (2, 2), fill="arange").output.tolist()
    [[0.0, 1.0], [2.0, 3.0]]
    """
    forward_kwargs = dict(forward_kwargs or {})
    real = float_dtype(dtype)
    warnings: list[str] = []
    rng = make_rng(seed)
    if input_file is None and input_shape is None:
        raise ParseError("--run needs --input SHAPE (random input of that shape) or --input-file FILE")
    if input_file is not None:
        loaded = load_input(input_file, input_shape, key, gray, real)
        x, warnings = loaded.array, [*warnings, *loaded.warnings]
        if layer.integer_input:
            x = _as_indices(x, input_file)
    elif layer.integer_input:
        x = _random_indices(layer, input_shape, rng)
    else:
        x = None
    shape = tuple(x.shape) if x is not None else tuple(input_shape)
    out_shape = layer.output_shape(shape, **forward_kwargs)
    expected = {**layer.param_shapes(), **layer.buffer_shapes()}
    check_memory(estimate_bytes([shape, out_shape, *expected.values()], real), max_memory)
    if x is None:
        x = make_tensor(shape, fill, rng, real)
    if weights is not None:
        loaded_weights = load_weights(weights, real)
        params, warnings = dict(loaded_weights.arrays), [*warnings, *loaded_weights.warnings]
    else:
        params = make_params(expected, fill_weights, rng, real, kinds={"": type(layer).__name__})
    forward_kwargs.update(_extra_inputs(layer, shape, rng, real, forward_kwargs))
    output = layer.forward(x, params, **forward_kwargs)
    return RunResult(x, params, output, warnings)


def _as_indices(x: np.ndarray, where: str) -> np.ndarray:
    if not np.all(np.isfinite(x)) or not np.all(x == np.round(x)):
        raise ConvcalcError(f"{where}: an embedding takes whole-number indices")
    return x.astype(np.int64)


def _random_indices(layer: Layer, shape: Sequence[int], rng: np.random.Generator) -> np.ndarray:
    """Embedding input: random valid row numbers."""
    return rng.integers(0, getattr(layer, "num_embeddings", 1), size=tuple(shape), dtype=np.int64)


def _extra_inputs(
    layer: Layer, shape: Shape, rng: np.random.Generator, real: np.dtype, given: dict[str, Any]
) -> dict[str, Any]:
    """Second tensors some layers' forward takes: Bilinear's input2, MaxUnpool's indices."""
    name = type(layer).__name__
    if name == "Bilinear" and "input2" not in given:
        return {"input2": make_tensor((*shape[:-1], layer.in2_features), "normal", rng, real)}
    if name.startswith("MaxUnpool") and "indices" not in given:
        return {"indices": _unpool_indices(layer, shape, rng, given.get("output_size"))}
    return {}


def _unpool_indices(layer: Any, shape: Shape, rng: np.random.Generator, output_size: Any) -> np.ndarray:
    """Indices as a max-pool would give them: for every input cell, one position inside its
    window of the unpooled plane (flat h·W + w), chosen at random."""
    nd = layer.nd
    out_spatial = layer.output_shape(shape, output_size=output_size)[-nd:]
    flat = np.zeros(shape, dtype=np.int64)
    stride_of_dim = 1
    for axis in reversed(range(nd)):
        size, out = shape[len(shape) - nd + axis], out_spatial[axis]
        start = np.arange(size) * layer.stride[axis] - layer.padding[axis]
        offset = rng.integers(0, layer.kernel_size[axis], size=shape)
        view = [1] * len(shape)
        view[len(shape) - nd + axis] = size
        position = np.clip(start.reshape(view) + offset, 0, out - 1)
        flat += position * stride_of_dim
        stride_of_dim *= out
    return flat
