"""``convcalc diff A B``: two network specs, or one spec at two input sizes, compared row by row."""

from __future__ import annotations

import sys
from typing import Annotated, Any, Optional

import typer

from ..errors import ConvcalcError
from .net import Recipes, Strict, load_network, warn_assumptions
from .output import emit_json, emit_rich, emit_text

USAGE = ("compare two specs (convcalc diff A B [--input SHAPE]) or one spec at two input sizes "
         "(convcalc diff A --input SHAPE --input SHAPE)")


def diff_command(
    specs: Annotated[Optional[list[str]], typer.Argument(
        metavar="SPEC", help="Two network specs ('-' reads one of them from standard input), or one spec "
        "given two --input sizes.")] = None,
    input_shapes: Annotated[Optional[list[str]], typer.Option(
        "--input", "-i", metavar="SHAPE",
        help="The input shape of both specs (overrides their input lines); twice with one spec: its two sizes.")] = None,
    depth: Annotated[Optional[str], typer.Option(
        "--depth", metavar="N", help="Fold modules deeper than N into one row on both sides.")] = None,
    dtype: Annotated[str, typer.Option("--dtype", metavar="DTYPE", help="Element type for memory figures.")] = "float32",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    exit_code: Annotated[bool, typer.Option(
        "--exit-code", help="Exit 1 when the two differ, 0 when they are the same (as git diff --exit-code).")] = False,
    recipes: Recipes = None,
    strict: Strict = False,
) -> int:
    """Compare two networks row by row: the rows whose shapes, parameters, MACs or memory change,
    the rows only in A or only in B, and the totals' changes, absolute and relative to A.

    Rows are matched by name (the module path, as state_dict keys; name#2 for a second call).
    Exit 0 whether or not they differ, unless --exit-code; 2 for bad input.
    """
    from ..network.diff import diff_summaries
    from ..shapes import parse_int

    files, shapes = list(specs or []), list(input_shapes or [])
    if not (len(files) == 2 and len(shapes) <= 1) and not (len(files) == 1 and len(shapes) == 2):
        raise ConvcalcError(f"{USAGE}; got {len(files)} spec(s) and {len(shapes)} --input")
    if files.count("-") > 1:
        raise ConvcalcError("only one of A and B can be read from standard input ('-')")
    levels = None if depth is None else parse_int(depth, "--depth", minimum=1)
    sides = _sides(files, shapes, recipes, strict)
    summaries = [network.summary(shape, dtype, levels) for network, shape in sides]
    diff = diff_summaries(*summaries)
    warn_assumptions(list(dict.fromkeys([*summaries[0].assumptions, *summaries[1].assumptions])))
    labels = (_label(files[0]), _label(files[-1]))
    if as_json:
        data = diff.to_json()
        data["a"]["spec"], data["b"]["spec"] = files[0], files[-1]
        emit_json(data)
    elif sys.stdout.isatty():
        from ..render.diff import render_diff

        emit_rich(render_diff(diff, labels))
    else:
        from ..render.diff import diff_text

        emit_text(diff_text(diff, labels))
    return 1 if exit_code and not diff.same else 0


def _sides(files: list[str], shapes: list[str], recipes: str | None, strict: bool) -> list[tuple[Any, Any]]:
    """``(network, input shape)`` for A and B; one spec at two sizes is read once."""
    if len(files) == 1:
        network = load_network(files[0], recipes, strict, None)
        return [(network, shapes[0]), (network, shapes[1])]
    shape = shapes[0] if shapes else None
    return [(load_network(path, recipes, strict, None), shape) for path in files]


def _label(path: str) -> str:
    return "standard input" if path == "-" else path
