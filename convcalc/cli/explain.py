"""``convcalc explain LAYER [layer options]``: one output element taken apart.

:mod:`convcalc.cli.app` registers :func:`explain_command` with ``context_settings=PASS_THROUGH``:
the layer's own options pass through Click untouched and are read by the network spec's
statement parser, so they are spelt exactly as in a ``convcalc net`` spec.
"""

from __future__ import annotations

import shlex
from typing import Annotated, Any, Optional

import typer

from .options import (Fill, FloatDtype, FillWeights, InputFile, Key, MaxMemory, Seed, Threads, Weights, check_passed_options,
                      choices_completer, layer_completer, run_settings)
from ..errors import ConvcalcError, ParseError


def _explainable(cls: type) -> bool:
    from ..teach.explain import explainable

    return explainable(cls)


MOST_DIGITS = 17  # a float64 is written exactly in 17 significant digits
Precision = Annotated[Optional[str], typer.Option(
    "--precision", metavar="N",
    help=f"Significant digits of every number, 1 to {MOST_DIGITS} (without it: 4 in grids, 6 in sums).")]


def explain_command(
    ctx: typer.Context,
    layer: Annotated[str, typer.Argument(metavar="LAYER", autocompletion=layer_completer(_explainable),
                                         help="A conv or pool layer, e.g. conv2d; its options follow.")],
    input_shape: Annotated[Optional[str], typer.Option("--input", "-i", metavar="SHAPE",
                                                       help="Input shape for random input, e.g. 1x2x4x4.")] = None,
    input_file: InputFile = None,
    key: Key = None,
    weights: Weights = None,
    fill: Fill = None,
    fill_weights: FillWeights = None,
    seed: Seed = None,
    max_memory: MaxMemory = None,
    threads: Threads = None,
    at: Annotated[Optional[str], typer.Option("--at", metavar="INDEX",
                                              help="The output element, one index per output dim: 0,1,2,3  [default: the first]")] = None,
    view: Annotated[str, typer.Option("--view", metavar="sum|matmul", autocompletion=choices_completer(("sum", "matmul")),
                                      help="sum: per input channel; matmul: per kernel tap, weight slice @ pixel vector.")] = "sum",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    dtype: FloatDtype = "float32",
    precision: Precision = None,
) -> None:
    """Take one output element apart: windows, kernel slices, products, sums, bias, total.

    The layer's own options follow its name, as in `convcalc LAYER --help`
    (in_channels is inferred from the input). Example: convcalc explain conv2d --out 4 -k 2 -s 2 --no-bias -i 1x2x4x4 --fill randint:-1,0 --at 0,0,0,0
    """
    from ..kernels._common import allocation_limit
    from ..kernels.threads import use_threads
    from ..teach.explain import check_explainable, check_window, explain, parse_at
    from ..single.run import InputSource, run_layer
    from ..shapes import parse_shape
    from ..tensors.arrays import float_dtype

    if view not in ("sum", "matmul"):
        raise ConvcalcError(f"--view {view!r} is not one of: sum, matmul")
    digits = None if precision is None else parse_precision(precision)
    shape = parse_shape(input_shape) if input_shape is not None else None
    settings = run_settings(locals())
    source = InputSource(shape, input_file, key, False, settings.fill, settings.max_memory)
    if input_file is None and shape is None:
        raise ParseError("explain needs --input SHAPE (random input of that shape) or --input-file FILE")
    real = float_dtype(dtype)
    known_shape, array, read_warnings = source.shape_and_file(real)
    built, forward_kwargs = build_layer_line(layer, ctx, known_shape)
    check_explainable(built), check_window(built, view)  # a window too large is refused before any run
    with use_threads(settings.threads):
        result = run_layer(
            built, known_shape if input_file is None else shape, input_file=input_file, key=key,
            weights=weights, fill=settings.fill, fill_weights=settings.fill_weights, seed=settings.seed,
            dtype=dtype, max_memory=settings.max_memory, forward_kwargs=forward_kwargs, preloaded=None if array is None else (array, read_warnings),
        )
    from .output import warn

    for message in result.warnings:
        warn(message)
    index = parse_at(at, tuple((result.output[0] if isinstance(result.output, tuple) else result.output).shape))
    with allocation_limit(settings.max_memory), use_threads(settings.threads):
        explanation = explain(built, result.input, result.params, index, view=view, **forward_kwargs)
    _emit_explanation(explanation, as_json, digits)


def _emit_explanation(explanation: Any, as_json: bool, digits: int | None) -> None:
    """The explanation on stdout, as JSON or drawn with Rich to the width it has (numbers to
    ``digits`` significant digits)."""
    from .output import emit_json, emit_rich, output_width

    if as_json:
        emit_json(explanation.to_json())
        return
    from ..render.explain import render_explain

    # whole: a grid too wide even stacked and elided runs past the edge rather than lose digits
    emit_rich(render_explain(explanation, output_width(fit=True), digits), fit=True, whole=True)


def parse_precision(text: str) -> int:
    """``--precision``'s value: a whole number of digits from 1 to MOST_DIGITS.

    >>> parse_precision("3")
    3
    >>> parse_precision("0")
    Traceback (most recent call last):
    ...
    convcalc.errors.ParseError: --precision 0: give a whole number of significant digits from 1 to 17
    """
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= MOST_DIGITS):
        raise ParseError(f"--precision {text}: give a whole number of significant digits from 1 to {MOST_DIGITS}")
    return int(text)


def build_layer_line(name: str, ctx: Any, input_shape: Any) -> tuple[Any, dict[str, Any]]:
    """The layer a command line describes (``conv2d --out 4 -k 2``, its options passed through in
    ``ctx.args``), with in_channels and the like inferred from the input shape; and its forward
    options (a transposed conv's output_size)."""
    from ..spec import LayerNode, parse_statement
    from ..spec.nodes import build_at

    check_passed_options(ctx, name)
    node = parse_statement(shlex.join([name, *ctx.args]))
    if not isinstance(node, LayerNode):
        raise ParseError(f"explain takes one layer, got `{node.source.text}`")
    layer = node.layer or build_at(node.cls, node.kwargs, node.source, input_shape)
    return layer, dict(node.forward_kwargs)
