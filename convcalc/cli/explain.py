"""``convcalc explain LAYER [layer options]``: one output element taken apart.

cli.py registers :func:`explain_command` with ``context_settings=PASS_THROUGH``: the layer's own
options pass through Click untouched and are read by the network spec's line-form parser.
"""

from __future__ import annotations

import shlex
from typing import Annotated, Any, Optional

import typer

from .app import complete_fill, layer_completer
from ..errors import ConvcalcError, ParseError


def _explainable(cls: type) -> bool:
    from ..teach.explain import EXPLAINABLE

    return cls.__name__ in EXPLAINABLE


def explain_command(
    ctx: typer.Context,
    layer: Annotated[str, typer.Argument(metavar="LAYER", autocompletion=layer_completer(_explainable),
                                         help="A conv or pool layer, e.g. conv2d; its options follow.")],
    input_shape: Annotated[Optional[str], typer.Option("--input", "-i", metavar="SHAPE",
                                                       help="Input shape for random input, e.g. 1x2x4x4.")] = None,
    input_file: Annotated[Optional[str], typer.Option("--input-file", metavar="FILE",
                                                      help="Input tensor: .npy, .npz, .csv/.txt or an image.")] = None,
    key: Annotated[Optional[str], typer.Option("--key", metavar="NAME", help="The array to read from an .npz input.")] = None,
    weights: Annotated[Optional[str], typer.Option("--weights", metavar="FILE",
                                                   help="Parameters from an .npz with keys weight, bias.")] = None,
    fill: Annotated[Optional[str], typer.Option("--fill", metavar="SPEC", autocompletion=complete_fill,
                                                help="Random input: normal, uniform, ones, arange, randint:-1,0, ...  [default: normal]")] = None,
    fill_weights: Annotated[Optional[str], typer.Option("--fill-weights", metavar="SPEC", autocompletion=complete_fill,
                                                        help="Random parameters, same choices  [default: normal]")] = None,
    seed: Annotated[Optional[str], typer.Option("--seed", metavar="INT", help="Seed of the random tensors  [default: 0]")] = None,
    at: Annotated[Optional[str], typer.Option("--at", metavar="INDEX",
                                              help="The output element, one index per output dim: 0,1,2,3  [default: the first]")] = None,
    view: Annotated[str, typer.Option("--view", metavar="sum|matmul",
                                      help="sum: per input channel; matmul: per kernel tap, weight slice @ pixel vector.")] = "sum",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    dtype: Annotated[str, typer.Option("--dtype", metavar="DTYPE", help="Element type of the tensors.")] = "float32",
) -> None:
    """Take one output element apart: windows, kernel slices, products, sums, bias, total.

    The layer's own options follow its name, as in `convcalc LAYER --help`
    (in_channels is inferred from the input). Example: convcalc explain conv2d --out 4 -k 2 -s 2 --no-bias -i 1x2x4x4 --fill randint:-1,0 --at 0,0,0,0
    """
    from ..teach.explain import check_explainable, explain, parse_at
    from ..single.run import InputSource, run_layer
    from ..shapes import parse_ints, parse_shape
    from ..tensors import float_dtype

    if view not in ("sum", "matmul"):
        raise ConvcalcError(f"--view {view!r} is not one of: sum, matmul")
    shape = parse_shape(input_shape) if input_shape is not None else None
    seed_value = 0 if seed is None else parse_ints(seed, "--seed", example="0")[0]
    source = InputSource(shape, input_file, key, False, fill or "normal")
    if input_file is None and shape is None:
        raise ParseError("explain needs --input SHAPE (random input of that shape) or --input-file FILE")
    real = float_dtype(dtype)
    known_shape, array, read_warnings = source.shape_and_file(real)
    built, forward_kwargs = build_layer_line(layer, list(ctx.args), known_shape)
    check_explainable(built)
    result = run_layer(
        built, known_shape if input_file is None else shape, input_file=input_file, key=key,
        weights=weights, fill=fill or "normal", fill_weights=fill_weights or "normal", seed=seed_value,
        dtype=dtype, forward_kwargs=forward_kwargs, preloaded=None if array is None else (array, read_warnings),
    )
    from .app import emit_json, emit_rich, warn

    for message in result.warnings:
        warn(message)
    output = result.output[0] if isinstance(result.output, tuple) else result.output
    index = parse_at(at, tuple(output.shape))
    explanation = explain(built, result.input, result.params, index, view=view, **forward_kwargs)
    if as_json:
        emit_json(explanation.to_json())
        return
    from ..render.explain import render_explain

    emit_rich(render_explain(explanation), fit=True)


def build_layer_line(name: str, options: list[str], input_shape: Any) -> tuple[Any, dict[str, Any]]:
    """The layer a command line describes (``conv2d --out 4 -k 2``), with in_channels and the like
    inferred from the input shape; and its forward options (a transposed conv's output_size)."""
    from ..spec import LayerNode, build_layer, parse_spec

    line = " ".join([name, *(shlex.quote(word) for word in options)])
    spec = parse_spec(line)
    children = spec.root.children
    if len(children) != 1 or not isinstance(children[0][1], LayerNode):
        raise ParseError(f"explain takes one layer, got `{line}`")
    node = children[0][1]
    if node.layer is not None:
        return node.layer, dict(node.forward_kwargs)
    inferred = node.cls.infer_args(tuple(input_shape))
    missing = [s.name for s in node.cls.arg_specs() if s.required and s.name not in node.kwargs and s.name not in inferred]
    if missing:
        raise ParseError(f"{node.cls.__name__} needs {', '.join(missing)}")
    return build_layer(node.cls, {**inferred, **node.kwargs}, node.source), dict(node.forward_kwargs)

