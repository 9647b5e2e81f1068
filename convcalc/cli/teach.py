"""The teaching commands ``convcalc solve`` and ``convcalc show``, as Typer command functions.

:mod:`convcalc.cli.app` loads this module only when one of them is invoked (its
``_LAZY_COMMANDS``), registering ``show`` with ``PASS_THROUGH``.

``show`` passes the layer's own options through untouched (``PASS_THROUGH``) and reads them with
the network spec's line-form parser, so they are spelt exactly as in a ``convcalc net`` spec.
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

import typer

from .options import check_passed_options, layer_completer
from ..errors import ConvcalcError


def _drawable(cls: type) -> bool:
    from ..teach.show import check_drawable

    try:
        check_drawable(cls)
    except ConvcalcError:
        return False
    return True


def _ints(text: str | None, flag: str) -> tuple[int, ...] | None:
    from ..shapes import parse_ints

    return None if text is None else parse_ints(text, flag, example="3 or 3x5")


def solve_command(
    in_size: Annotated[Optional[str], typer.Option("--in-size", metavar="N[xN]", help="Input size per spatial dim.")] = None,
    out_size: Annotated[Optional[str], typer.Option("--out-size", metavar="M[xM]", help="Wanted output size per spatial dim.")] = None,
    kernel_size: Annotated[Optional[str], typer.Option("--kernel-size", "-k", metavar="K[xK]", help="Fix the kernel size.")] = None,
    stride: Annotated[Optional[str], typer.Option("--stride", "-s", metavar="S[xS]", help="Fix the stride.")] = None,
    padding: Annotated[Optional[str], typer.Option("--padding", "-p", metavar="P[xP]", help="Fix the padding.")] = None,
    dilation: Annotated[Optional[str], typer.Option("--dilation", "-d", metavar="D[xD]", help="Fix the dilation.")] = None,
    transposed: Annotated[bool, typer.Option("--transposed", help="Solve for a transposed conv (with output_padding).")] = False,
    pool: Annotated[bool, typer.Option("--pool", help="Solve for a pooling layer (padding <= kernel/2, ceil_mode).")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Find kernel, stride, padding and dilation that map --in-size to --out-size.

    Searches kernel 1..11, stride 1..8, padding up to dilation·(kernel−1), dilation 1 (up to 4 when 1 has no answer).
    Past 48, only the paddings that give the size are tried (the first 64 per kernel, stride and
    dilation are listed); --json lists the first 1000 whole-layer combinations.

    -k/-s/-p/-d fix a value (N or HxW). Solutions come simplest first; 'same' ones are marked.
    """
    from ..teach.solve import combinations, combined_json, no_solution_message, solve

    if in_size is None or out_size is None:
        raise ConvcalcError("solve needs --in-size and --out-size, e.g. --in-size 32 --out-size 16")
    if transposed and pool:
        raise ConvcalcError("--transposed and --pool contradict each other; choose one")
    mode = "transposed" if transposed else "pool" if pool else "conv"
    result = solve(
        _ints(in_size, "--in-size"), _ints(out_size, "--out-size"),  # type: ignore[arg-type]
        kernel_size=_ints(kernel_size, "-k"), stride=_ints(stride, "-s"),
        padding=_ints(padding, "-p"), dilation=_ints(dilation, "-d"), mode=mode,
    )
    if not result.solved:
        raise ConvcalcError(no_solution_message(result))
    from .output import emit_json, emit_rich

    if as_json:
        emit_json({
            "mode": mode,
            "in_size": [dim.in_size for dim in result.dims],
            "out_size": [dim.out_size for dim in result.dims],
            "solutions": combined_json(result),
            "combinations": combinations(result),
            "dims": [{"in_size": dim.in_size, "out_size": dim.out_size, "capped": dim.capped,
                      "solutions": [s.to_json(mode) for s in dim.solutions]} for dim in result.dims],
        })
        return
    from ..render.show import render_solve

    emit_rich(render_solve(result))


def show_command(
    ctx: typer.Context,
    layer: Annotated[str, typer.Argument(metavar="LAYER", autocompletion=layer_completer(_drawable),
                                         help="A sliding-window layer: conv2d, convtranspose2d, maxpool2d, ...")],
    input_shape: Annotated[Optional[str], typer.Option("--input", "-i", metavar="SHAPE",
                                                       help="Input shape, e.g. 5x5 (one channel) or 1x1x5x5.")] = None,
    at: Annotated[Optional[str], typer.Option("--at", metavar="I[xJ]", help="First output position to draw (default: the first, 0x0).")] = None,
    frames: Annotated[int, typer.Option("--frames", metavar="N", help="How many output positions to draw.")] = 3,
) -> None:
    """Draw a layer's sliding window: padded input, kernel taps, dilation holes, output grid.

    Layer options follow the layer name as in a network spec: convcalc show conv2d -k 3 -s 2 -p 1 --input 5x5
    """
    from ..teach.show import draw

    if input_shape is None:
        raise ConvcalcError("show needs --input SHAPE, e.g. --input 5x5")
    check_passed_options(ctx, layer)
    built, shape = build_shown_layer(layer, list(ctx.args), input_shape)
    drawing = draw(built, shape, _ints(at, "--at"), frames)
    from .output import emit_rich
    from ..render.show import render_drawing

    emit_rich(render_drawing(drawing))


def build_shown_layer(name: str, words: list[str], input_text: str) -> tuple[Any, tuple[int, ...]]:
    """The layer from its option words (the line form of a network spec) and the input shape.

    A shape of only the spatial sizes gets the layer's input channels (one when not given);
    missing in/out channels default to the input's and to 1, since show draws one channel.

    >>> build_shown_layer("conv2d", ["-k", "3", "-s", "2"], "5x5")
    (Conv2d(1, 1, kernel_size=(3, 3), stride=(2, 2)), (1, 5, 5))
    """
    import shlex

    from ..registry import lookup
    from ..shapes import parse_shape
    from ..spec import LayerNode, parse_statement
    from ..spec.nodes import build_at
    from ..teach.show import check_drawable

    cls = lookup(name)
    check_drawable(cls)
    one_channel = {"out_channels": 1} if any(spec.name == "out_channels" for spec in cls.arg_specs()) else {}
    node = parse_statement(shlex.join([name, *words]), defaults=one_channel)
    if not isinstance(node, LayerNode):
        raise ConvcalcError(f"show draws one layer, not a container: {node.source.text}")
    if node.forward_kwargs:
        raise ConvcalcError(f"show does not take forward options ({', '.join(node.forward_kwargs)})")
    shape = parse_shape(input_text)
    nd = node.cls.nd
    if nd and len(shape) == nd:  # the spatial sizes only: the channels the layer takes, or one
        channels = node.kwargs.get("in_channels", node.kwargs.get("num_features", 1))
        shape = (channels if isinstance(channels, int) else 1, *shape)
    return node.layer or build_at(node.cls, node.kwargs, node.source, shape), shape
