"""Memory for the forward pass: sizes such as ``4GiB`` (``--max-memory``), estimates of the
bytes a run allocates, and the check that refuses a run over the limit before it allocates.

What ``--max-memory`` bounds: everything a run allocates for its data, as an upper bound known
before anything is allocated: a file's load (:mod:`convcalc.tensors.headers`), the input,
parameters and made-up inputs, the layer's output and its scratch (:func:`run_bytes`), and what
showing them takes (:func:`json_bytes`, :func:`render_bytes`). The interpreter and its
libraries (some 50-100 MB) are not counted.

Pure: nothing here prints; a run over the limit raises :class:`MemoryLimitError`.
"""

from __future__ import annotations

import math
import re
from typing import Any, Iterable, Sequence

from ..errors import ConvcalcError, ParseError
from ..shapes import format_bytes, shown
from .arrays import float_dtype


class MemoryLimitError(ConvcalcError):
    """A run whose memory estimate exceeds the limit (``--max-memory``)."""


_MEMORY = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)(i?)(b?)", re.IGNORECASE)
_POWERS = {"": 0, "k": 1, "m": 2, "g": 3, "t": 4}


def parse_memory(text: str) -> int | None:
    """Bytes in ``4GiB``, ``512 MiB``, ``4G`` (binary), ``4GB`` (decimal), ``1000``;
    ``none``/``unlimited`` give None, meaning no limit.

    >>> parse_memory("4GiB"), parse_memory("4G"), parse_memory("1.5 GB"), parse_memory("none")
    (4294967296, 4294967296, 1500000000, None)
    """
    cleaned = text.strip()
    if cleaned.lower() in ("none", "unlimited", "off", "inf"):
        return None
    match = _MEMORY.fullmatch(cleaned)
    if not match or (match.group(3) and not match.group(2)):
        raise ParseError(
            f"memory size {text!r} is not understood; write it like 4GiB, 512MiB, 2G or 'none'"
        )
    number, prefix, binary, byte = match.groups()
    power = _POWERS[prefix.lower()]
    base = 1024 if binary or not byte or not prefix else 1000
    value = float(number) * base**power
    if not math.isfinite(value) or value > 2**63:  # 5000 digits read as a float are inf
        raise ParseError(f"memory size {shown(text)} is beyond any memory; write it like 4GiB, or 'none'")
    size = int(value)
    if size <= 0:
        raise ParseError(f"memory size {text!r} must be positive, or 'none' for no limit")
    return size


def estimate_bytes(shapes: Iterable[Sequence[int]], dtype: Any = "float32") -> int:
    """Bytes to hold one tensor of each shape at ``dtype``.

    >>> estimate_bytes([(1, 3, 224, 224), (64, 3, 7, 7)])
    639744
    """
    itemsize = float_dtype(dtype).itemsize
    return sum(math.prod(int(n) for n in shape) for shape in shapes) * itemsize


# Scratch of a layer's forward pass per byte of its input and output, by family: the most any
# layer of the family allocates beyond its output (measured with tracemalloc over every layer at
# two sizes in float32 and float64, tests/test_hostile_memory.py), with room to spare.
WORK_PER_BYTE = {
    "activation": 2, "dropout": 1, "norm": 3, "pooling": 5, "conv": 5, "linear": 3, "reshape": 2,
    "resample": 2,
}
DEFAULT_WORK_PER_BYTE = 5
# The convolutions (and Bilinear) compute in chunks whose buffers reach 16 MiB, and a thread
# keeps as much between calls; a chunk's column matrix holds up to a kernel's taps per input
# value, so a small layer needs far less.
CHUNKED_FAMILIES = ("conv", "linear")
CHUNK_SCRATCH = 48 * 2**20
# Random fills draw float64 numbers a chunk at a time (up to three arrays of 2**18).
FILL_BYTES_PER_ELEMENT, FILL_CHUNK = 24, 1 << 18
# Made-up inputs (MaxUnpool's indices): int64 arrays of the input's shape while they are drawn.
EXTRA_BYTES_PER_ELEMENT = 32
# ``--json`` holds each number as a Python float (24 B) in a list (8 B), the float32 values'
# shortest decimals while they are found (an array of strings: up to 64 B), and the text (up to
# 25 B, twice while control characters are escaped).
JSON_BYTES_PER_ELEMENT = 160
# Rendering reads each tensor's statistics a chunk of 2**20 at a time (a float64 copy, a mask and
# the finite values: 17 B each) and draws only the edge items.
RENDER_BYTES_PER_ELEMENT, RENDER_CHUNK = 24, 1 << 20


def run_bytes(layer: Any, input_shape: Sequence[int], output_shape: Sequence[int],
              state_shapes: Iterable[Sequence[int]], dtype: Any = "float32", show: str | None = None) -> int:
    """Upper bound of what one layer's run allocates: its input, parameters and buffers, any
    made-up input, the output, the forward pass's scratch, the checks on the output, and
    showing the tensors (``show``: ``"json"`` or ``"render"``).

    >>> from convcalc import ReLU
    >>> run_bytes(ReLU(), (1000,), (1000,), [])  # in, out, 2·(in+out) scratch, fill, a mask
    49000
    """
    item = float_dtype(dtype).itemsize
    n_in, n_out = math.prod(input_shape), math.prod(output_shape)
    states = [math.prod(shape) for shape in state_shapes]
    tensors = (n_in + n_out + sum(states)) * item
    touched = (n_in + n_out) * item
    work = WORK_PER_BYTE.get(getattr(layer, "family", ""), DEFAULT_WORK_PER_BYTE) * touched
    if getattr(layer, "family", "") in CHUNKED_FAMILIES:
        taps = math.prod(getattr(layer, "kernel_size", None) or (1,))
        work += min(CHUNK_SCRATCH, (taps + 2) * touched)
    work += _padded_plane(layer, input_shape, output_shape) * item
    fill = FILL_BYTES_PER_ELEMENT * min(max([n_in, *states]), FILL_CHUNK)
    extra = 0
    if type(layer).example_inputs is not _base_example_inputs():
        extra = EXTRA_BYTES_PER_ELEMENT * n_in
        second = getattr(layer, "in2_features", 0)  # Bilinear's second input
        extra += math.prod(input_shape[:-1]) * second * item if second else 0
    shown = 0
    if show == "json":
        shown = json_bytes(n_in + n_out + sum(states) + extra // item)
    elif show == "render":
        shown = RENDER_BYTES_PER_ELEMENT * min(max(n_in, n_out, *states), RENDER_CHUNK)
    return tensors + work + fill + extra + n_out + shown


def _padded_plane(layer: Any, input_shape: Sequence[int], output_shape: Sequence[int]) -> int:
    """Cells of one padded plane of a sliding-window pool (its kernel pads a chunk of planes at a
    time, at least one): the padding and the windows' reach, which the output need not show
    (maxpool2d -k 1000000000 -p 500000000 on a 4×4 input has one output and 10**18 padded cells)."""
    if getattr(layer, "family", "") != "pooling" or not hasattr(layer, "padding") or not hasattr(layer, "stride"):
        return 0
    nd = len(layer.kernel_size)
    cells = 1
    for size, out, k, s, p, d in zip(input_shape[-nd:], output_shape[-nd:], layer.kernel_size, layer.stride,
                                     layer.padding, getattr(layer, "dilation", (1,) * nd)):
        cells *= max(size + 2 * p, (out - 1) * s + (k - 1) * d + 1)
    return max(cells, 1 << 18)


def _base_example_inputs() -> Any:
    from ..layers.base import Layer

    return Layer.example_inputs


def json_bytes(elements: int) -> int:
    """Upper bound of what writing ``elements`` numbers as JSON allocates (at most the numbers
    ``--json`` writes in full, :data:`convcalc.tensors.arrays.JSON_ELEMENTS`)."""
    from .arrays import JSON_ELEMENTS

    return JSON_BYTES_PER_ELEMENT * min(elements, JSON_ELEMENTS)


def check_memory(nbytes: int, limit: int | None, what: str = "this run") -> None:
    """Refuse, before anything is allocated, a run estimated to need more than ``limit`` bytes.

    >>> check_memory(10 * 2**30, 4 * 2**30)
    Traceback (most recent call last):
    ...
    convcalc.tensors.memory.MemoryLimitError: this run needs about 10.0 GiB, more than --max-memory 4.0 GiB; ...
    """
    if limit is not None and nbytes > limit:
        raise MemoryLimitError(
            f"{what} needs about {format_bytes(nbytes)}, more than --max-memory {format_bytes(limit)}; "
            "use a smaller input (batch or spatial size) or raise --max-memory"
        )
