"""``convcalc diff A B``: two network specs, or one spec at two input sizes, compared row by row."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Annotated, Optional

import typer

from ..errors import ConvcalcError
from .net import Recipes, Strict, load_network, shapes_only, warn_assumptions
from .options import MemoryDtype
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
    dtype: MemoryDtype = "float32",
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    exit_code: Annotated[bool, typer.Option(
        "--exit-code", help="Exit 1 when the two differ, 0 when they are the same (as git diff --exit-code).")] = False,
    recipes: Recipes = None,
    strict: Strict = False,
) -> int:
    """Compare two networks row by row: what changes in shapes, parameters, MACs, memory, totals.

    The rows whose shapes, parameters, MACs or memory change, the rows only in A or only in B,
    and the totals' changes, absolute and relative to A. Rows are matched by name (the module path, as state_dict keys; name#2 for a second call).
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
    names = [f"A ({_label(files[0])})", f"B ({_label(files[-1])})"]
    if len(files) == 1:
        names = [f"{_label(files[0])} at --input {shape}" for shape in shapes]
    networks = []
    for index, path in enumerate(files):  # one spec at two sizes is read once
        with _about(names[index] if len(files) == 2 else _label(path)):
            networks.append(load_network(path, recipes, strict, None))
    sides = [(networks[0], shape) for shape in shapes] if len(files) == 1 else [
        (network, shapes[0] if shapes else None) for network in networks]
    summaries = []
    for name, (network, shape) in zip(names, sides):
        with _about(name):
            summaries.append(shapes_only(network.summary(shape, dtype, levels)))
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


@contextlib.contextmanager
def _about(side: str) -> Iterator[None]:
    """An error raised within names the side it is about (A and B may fail alike)."""
    try:
        yield
    except ConvcalcError as exc:
        exc.args = (f"{side}: {exc.args[0]}", *exc.args[1:])
        raise


def _label(path: str) -> str:
    return "standard input" if path == "-" else path
