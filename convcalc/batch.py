"""``--batch N``: an input shape with its batch dim set, checked against the layer that reads it.

Each layer says where its batch dim is (``Layer.batch_dim``): first, none for an unbatched
input, second for MultiheadAttention's (L, N, E).

>>> from convcalc import BatchNorm1d, Conv2d, Linear, MultiheadAttention
>>> Conv2d(3, 8, 3).batch_dim((2, 3, 8, 8)), Conv2d(3, 8, 3).batch_dim((3, 8, 8)), Linear(4, 2).batch_dim((4,))
(0, None, None)
>>> BatchNorm1d(4).batch_dim((2, 4)), MultiheadAttention(8, 2).batch_dim((5, 3, 8))
(0, 1)
"""

from __future__ import annotations

from typing import Any

from .errors import ParseError, ShapeError
from .shapes import format_shape, parse_int


def parse_batch(text: str) -> int:
    """The ``--batch`` value: a whole number >= 1 (torch's answer for a batch of 0 depends on
    its backend, so convcalc refuses it).

    >>> parse_batch("8")
    8
    >>> parse_batch("0")
    Traceback (most recent call last):
    ...
    convcalc.errors.ParseError: --batch '0' must be at least 1
    """
    return parse_int(text, "--batch", minimum=1)


def with_batch(shape: tuple[int, ...], batch: int, dim: int | None, reader: str) -> tuple[int, ...]:
    """``shape`` with dim ``dim`` set to ``batch``. Refused when the shape has no batch dim
    (``dim`` None), and when it already has another batch than 1 or ``batch``.

    >>> with_batch((1, 3, 224, 224), 8, 0, "Conv2d")
    (8, 3, 224, 224)
    >>> with_batch((4, 3, 224, 224), 8, 0, "Conv2d")
    Traceback (most recent call last):
    ...
    convcalc.errors.ParseError: --batch 8 conflicts with the batch of 4 in the input [4, 3, 224, 224]; give the batch once (--input 1x3x224x224 --batch 8, or --input 8x3x224x224)
    """
    if dim is None:
        example = "x".join(map(str, (batch, *shape)))
        raise ShapeError(f"--batch {batch}: the input {format_shape(shape)} has no batch dim for {reader} "
                         f"(it is read unbatched); give it with one, e.g. --input {example}, or drop --batch")
    if shape[dim] not in (1, batch):
        single = "x".join(map(str, (*shape[:dim], 1, *shape[dim + 1:])))
        given = "x".join(map(str, (*shape[:dim], batch, *shape[dim + 1:])))
        raise ParseError(f"--batch {batch} conflicts with the batch of {shape[dim]} in the input {format_shape(shape)}; "
                         f"give the batch once (--input {single} --batch {batch}, or --input {given})")
    return (*shape[:dim], batch, *shape[dim + 1:])


def trace_batch_dim(trace: Any) -> tuple[int | None, str]:
    """The batch dim of a traced network's input, as the first layer reading the input takes it
    (dim 0 when operations read it first), and that layer's name for messages. An element-wise
    layer has no batch dim of its own: the layer reading its output decides.

    >>> from convcalc import parse_network
    >>> trace_batch_dim(parse_network("Conv2d(3, 8, 3)").trace((3, 8, 8)))
    (None, '0 (Conv2d)')
    >>> trace_batch_dim(parse_network("ReLU()\\nDropout()\\nConv2d(3, 8, 3)").trace((2, 3, 8, 8)))
    (0, '2 (Conv2d)')
    """
    shape = trace.input.shape
    read = {trace.input.id}  # the input, and element-wise layers' outputs of its shape
    for step in trace.steps:
        if any(tensor.id in read for tensor in step.inputs):
            if step.layer is None:
                break
            if step.layer.elementwise and step.output.shape == shape:
                read.add(step.output.id)
                continue
            return step.layer.batch_dim(shape), f"{step.key} ({step.type_name})"
    return (0 if len(shape) >= 2 else None), "the network"
