"""Rich renderables for the CLI. Only the CLI's terminal path imports this module (and rich)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from ..single.report import LayerReport
from .layout import FirstThatFits
from ..units import bytes_text, count_text

if TYPE_CHECKING:
    from ..network.summary import Summary
from ..shapes import format_shape


def render_layer(report: LayerReport, units: str = "both", count: str = "convcalc") -> RenderableType:
    """The single-layer panel: shapes, formulas, parameters and counts (in ``units``; MACs in
    the ``count`` convention)."""
    layer = report.layer
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column()
    if report.input_shape is not None:
        unbatched = Text(f"  unbatched {report.input_layout}", style="italic") if report.unbatched else ""
        grid.add_row("input", Text(format_shape(report.input_shape)) + unbatched)
        grid.add_row("output", Text(format_shape(report.output_shape), style="bold green"))
    for line in report.formulas:
        grid.add_row(line.name, line.right_side())
    names = layer.param_dim_names()
    for key, shape in report.param_shapes.items():
        dims = " × ".join(names.get(key, ()))
        grid.add_row(key, Text(format_shape(shape)) + Text(f"  {dims}" if dims else "", style="dim"))
    grid.add_row("params", count_text(layer.num_params(), units))
    for key, shape in report.buffer_shapes.items():
        grid.add_row(key, Text(format_shape(shape)) + Text("  buffer", style="dim"))
    if report.buffer_shapes:
        grid.add_row("buffers", count_text(layer.num_buffers(), units))
    if report.macs is not None:
        grid.add_row("MACs" if count == "convcalc" else f"MACs ({count})", count_text(report.macs, units))
        grid.add_row("FLOPs", count_text(report.flops, units))
        grid.add_row("memory", f"{bytes_text(report.output_bytes or 0, units)} output at {report.dtype}")
    # the layer's repr on one line, else one argument a line: never wrapped inside stride=(2, 2)
    heading = FirstThatFits(Text(repr(layer), style="bold"), Text(_one_argument_a_line(repr(layer)), style="bold"))
    parts: list[RenderableType] = [heading, grid]
    notes = layer.notes()
    if report.input_shape is None:
        notes = [*notes, "give --input SHAPE for the output shape, MACs and FLOPs"]
    if notes:
        parts.append(Text("\n".join(notes), style="italic"))
    return Panel(
        Group(*parts),
        title=type(layer).__name__,
        title_align="left",
        box=box.ROUNDED,
        expand=False,
    )


def _one_argument_a_line(call: str) -> str:
    """``Conv2d(3, 8, stride=(2, 2))`` with each top-level argument on a line of its own.

    >>> print(_one_argument_a_line("Conv2d(3, 8, kernel_size=(3, 3), stride=(2, 2))"))
    Conv2d(3,
      8,
      kernel_size=(3, 3),
      stride=(2, 2))
    """
    pieces, depth, start = [], 0, 0
    for at, char in enumerate(call):
        depth += (char in "([{") - (char in ")]}")
        if char == "," and depth == 1:
            pieces.append(call[start:at + 1])
            start = at + 2  # past ", "
    return "\n  ".join([*pieces, call[start:]])


def render_layer_list(rows: list[tuple[str, ...]]) -> RenderableType:
    """``convcalc layers``: per family (rows are command, aliases, torch class, family title,
    summary), each command with its torch class and what it is, aliases after it. Names never
    wrap; a description wraps as whole words in the width left, or, where that is narrower
    than its longest word, goes on the lines under its command."""
    from itertools import groupby

    parts: list[RenderableType] = []
    for family, members in groupby(rows, key=lambda row: row[3]):
        listed = list(members)
        title = Text(family, style="bold")
        # measured by its narrowest (every word whole), as a table whose description wraps
        parts += [FirstThatFits(_layer_table(title, listed), _layer_lines(title, listed), measure="minimum"), Text()]
    return Group(*parts[:-1])


def _described(summary: str, aliases: str) -> Text:
    also = Text(f" (also {aliases})", style="dim") if aliases else Text()
    return Text(summary) + also  # Text: summaries hold brackets, not markup


DESCRIPTION_WIDTH = 24  # narrower, a description reads a word or two a line: it goes under its command


def _layer_table(title: Text, members: list[tuple[str, ...]]) -> Table:
    table = Table(box=None, show_header=False, expand=True, pad_edge=False, padding=(0, 1),
                  title=title, title_justify="left")
    table.add_column(no_wrap=True, style="cyan")
    table.add_column(no_wrap=True)
    table.add_column(ratio=1, min_width=DESCRIPTION_WIDTH)
    for name, aliases, torch_class, _, summary in members:
        table.add_row(name, torch_class, _described(summary, aliases))
    return table


def _layer_lines(title: Text, members: list[tuple[str, ...]]) -> Group:
    """A narrow terminal's form: the command and its torch class, the description indented below."""
    from rich.padding import Padding

    lines: list[RenderableType] = [title]
    for name, aliases, torch_class, _, summary in members:
        lines += [Text(name, style="cyan") + Text(f"  {torch_class}"), Padding(_described(summary, aliases), (0, 0, 0, 4))]
    return Group(*lines)


# Columns of the network table are this far apart: one space of padding and the rule's blank.
NETWORK_GAP = 2


def render_network(summary: "Summary", stats: Any = None, extras: Any = None, width: int | None = None,
                   units: str = "both") -> RenderableType:
    """``convcalc net`` on a terminal: the per-layer table (with activation statistics after
    a run, and the columns and totals of ``extras``, a tables.Extras), the totals (counts and
    sizes in ``units``) and the notes.
    The table fits ``width`` columns (None: every column in full) by the layout of
    render.tables.fitted_table; no cell is ever wrapped or cut."""
    from .tables import NO_EXTRAS, fitted_table
    from .totals import totals_panel

    extras = extras or NO_EXTRAS
    fitted = fitted_table(summary, stats, width, NETWORK_GAP, extras, units)
    # min_width: a terminal narrower than the leanest layout widens to it (emit_rich's whole) rather than cut cells
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1, 0, 0), min_width=fitted.width)
    for column in fitted.columns:
        table.add_column(column.title, justify="right" if column.numeric else "left", no_wrap=True,
                         style="cyan" if column.title == "name" else None)
    for row, cells in zip(summary.rows, fitted.rows):
        style = "dim" if row.kind not in ("layer", "container") else None  # operations: add, cat, mean, ...
        table.add_row(*(Text(cell) for cell in cells), style=style)

    parts: list[RenderableType] = [table, totals_panel(summary, units, extras.totals)]
    notes = [*([fitted.note] if fitted.note else []), *summary.notes]
    if notes:
        parts.append(Text("\n".join(f"note: {note}" for note in notes), style="italic"))
    return Group(*parts)
