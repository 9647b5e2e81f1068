"""Running one layer's forward pass on random or file input: the data behind ``--run``.

Pure: it never prints; warnings (converted dtypes, NaN in the input) come back in the result.
NumPy is imported here, so only forward paths import this module.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from ..errors import ParseError
from ..kernels._common import allocation_limit
from ..layers.base import Layer, Shape
from ..tensors.arrays import check_dims, float_dtype, overflow_notes
from ..tensors.files import as_indices, file_name, finish_input, load_input, load_weights
from ..tensors.fill import Fill, make_params, make_rng, make_tensor, parse_fill
from ..tensors.memory import check_memory, run_bytes
from ..tensors.params import check_params


class RunResult(NamedTuple):
    """The tensors of one forward pass, in the order they are shown, and what to warn about."""

    input: np.ndarray
    params: dict[str, np.ndarray]
    output: Any  # an array, or (values, indices) for max-pool with return_indices
    warnings: list[str]
    extra_inputs: dict[str, np.ndarray]  # made up for the run: Bilinear's input2, MaxUnpool's indices

    def named_tensors(self) -> list[tuple[str, np.ndarray]]:
        outputs = self.output if isinstance(self.output, tuple) else (self.output,)
        names = ("output", "indices")
        return [("input", self.input), *self.extra_inputs.items(), *self.params.items(), *zip(names, outputs)]


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
    preloaded: tuple[np.ndarray, list[str]] | None = None,
    show: str | None = None,
) -> RunResult:
    """Make (or read) the input and the parameters, check the memory estimate, run forward.

    ``preloaded``: ``input_file`` as a caller already read it (array, warnings), so that a
    caller that needed its shape first does not read it twice. ``max_memory`` bounds the file
    reads and the run (:func:`convcalc.tensors.memory.run_bytes`), with what showing the result
    takes (``show``: ``"json"`` or ``"render"``).

    >>> from convcalc import Conv2d
    >>> result = run_layer(Conv2d(1, 1, 3), (1, 1, 3, 3), fill="ones", fill_weights="ones")
    >>> result.output.ravel().tolist()  # ones input: the kernel's sum (9) plus the bias (1)
    [10.0]
    """
    forward_kwargs = dict(forward_kwargs or {})
    real = float_dtype(dtype)
    rng = make_rng(seed)
    source = InputSource(input_shape, input_file, key, gray, fill, max_memory)
    if preloaded is None:
        shape, loaded, warnings = source.shape_and_file(real, layer.integer_input)
    else:
        loaded = as_indices(preloaded[0], input_file or "") if layer.integer_input else preloaded[0]
        shape, warnings = tuple(loaded.shape), list(preloaded[1])
    out_shape = layer.output_shape(shape, **forward_kwargs)
    check_dims(out_shape, "the output")
    expected = {**layer.param_shapes(), **layer.buffer_shapes()}
    check_memory(run_bytes(layer, shape, out_shape, expected.values(), real, show), max_memory)
    x = loaded if loaded is not None else source.random(shape, rng, real, layer)
    params, more = parameters(expected, weights, fill_weights, rng, real, layer.state_roles(), max_memory)
    warnings += more
    if weights is not None:  # name the file in the message, before forward checks them again
        check_params(expected, params, weights)
    made_up = layer.example_inputs(shape, rng, real, **forward_kwargs)
    extra = {name: tensor for name, tensor in made_up.items() if name not in forward_kwargs}
    with allocation_limit(max_memory):  # the kernels' buffers that the estimate cannot see
        output = layer.forward(x, params, **forward_kwargs, **extra)
    warnings += overflow_notes(output, [x, *params.values(), *extra.values()])
    return RunResult(x, params, output, warnings, extra)


class InputSource(NamedTuple):
    """Where the input comes from: a file, or random numbers of ``shape`` made by ``fill``."""

    shape: Shape | None
    file: str | None
    key: str | None
    gray: bool
    fill: str
    max_memory: int | None = None  # bounds the file's read (--max-memory)

    def shape_and_file(self, real: np.dtype, integer: bool | None = False) -> tuple[Shape, Any, list[str]]:
        """The input's shape, the array when it comes from a file (else None), and warnings;
        ``integer``: an embedding's row numbers; None: as stored, for ``finish``."""
        if self.shape is not None:
            check_dims(tuple(self.shape))
        if self.file is None:
            if self.shape is None:
                raise ParseError("--run needs --input SHAPE (random input of that shape) or --input-file FILE")
            return tuple(self.shape), None, []
        loaded = load_input(self.file, self.shape, self.key, self.gray, real, max_bytes=self.max_memory, indices=integer)
        return tuple(loaded.array.shape), loaded.array, list(loaded.warnings)

    def finish(self, array: np.ndarray, real: np.dtype, integer: bool) -> tuple[np.ndarray, list[str]]:
        """An array ``shape_and_file(real, None)`` read as stored, made floats or row numbers."""
        return finish_input(array, file_name(self.file or "the input", self.key), real, integer)

    def random(self, shape: Shape, rng: np.random.Generator, real: np.dtype, layer: Layer | None = None) -> np.ndarray:
        """Random input of ``shape``; for an embedding (``layer``), valid row numbers, or the
        whole numbers ``--fill`` asks for."""
        if layer is not None and layer.integer_input:
            if parse_fill(self.fill, "--fill") == Fill("normal"):  # the default: valid row numbers
                return _random_indices(layer, shape, rng)
            return as_indices(make_tensor(shape, self.fill, rng, np.dtype(np.float64)), f"--fill {self.fill}")
        return make_tensor(shape, self.fill, rng, real)


def parameters(
    expected: dict[str, Any], weights: str | None, fill: str, rng: np.random.Generator, real: np.dtype,
    roles: dict[str, str], max_memory: int | None = None,
) -> tuple[dict[str, np.ndarray], list[str]]:
    """State_dict arrays from a weights file (its read bounded by ``max_memory``), or random
    ones (torch-like for normal/uniform, by ``roles``: state_dict key -> the role its layer
    declares)."""
    if weights is None:
        return make_params(expected, fill, rng, real, roles=roles), []
    loaded = load_weights(weights, real, max_bytes=max_memory)
    return dict(loaded.arrays), list(loaded.warnings)


def _random_indices(layer: Layer, shape: Sequence[int], rng: np.random.Generator) -> np.ndarray:
    """Embedding input: random valid row numbers."""
    return rng.integers(0, getattr(layer, "num_embeddings", 1), size=tuple(shape), dtype=np.int64)


