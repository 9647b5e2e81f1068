"""Rich renderables for ``convcalc show`` (window frames) and ``convcalc solve`` (solution tables).

Every cell kind has its own character, so the drawings read the same without colour; colour
only adds emphasis.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from ..teach.show import Drawing, Frame
    from ..teach.solve import SolveResult

# kind -> (character, style, legend)
CELLS = {
    "input": ("·", "white", "input"),
    "pad": ("p", "blue", "padding"),
    "zero": ("z", "magenta", "inserted zero"),
    "beyond": ("-", "dim", "ceil-mode overhang"),
    "tap": ("X", "bold black on yellow", "kernel tap"),
    "tap_pad": ("x", "bold blue on yellow", "tap off the input"),
    "hole": ("+", "yellow", "dilation hole"),
    "todo": ("·", "white", "to come"),
    "done": ("o", "green", "done"),
    "current": ("@", "bold black on green", "being computed"),
}


def _grid(rows: tuple[tuple[str, ...], ...]) -> Text:
    text = Text(no_wrap=True)
    for index, row in enumerate(rows):
        if index:
            text.append("\n")
        for j, kind in enumerate(row):
            char, style, _ = CELLS[kind]
            text.append(char, style=style)
            if j < len(row) - 1:
                text.append(" ")
    return text


OUTPUT_KINDS = ("todo", "done", "current")


def _legend(drawing: "Drawing") -> Text:
    """Two lines, input cells then output cells, naming only the kinds drawn."""
    present = {kind for frame in drawing.frames for rows in (frame.grid, frame.output) for row in rows for kind in row}
    text = Text(no_wrap=False)
    for heading, output_side in (("input: ", False), ("\noutput:", True)):
        text.append(heading, style="bold")
        for kind, (char, style, label) in CELLS.items():
            if kind in present and (kind in OUTPUT_KINDS) == output_side:
                text.append("  ")
                text.append(char, style=style)
                text.append(f" {label}")
    return text


def _frame(frame: "Frame", number: int, drawing: "Drawing") -> RenderableType:
    where = ", ".join(map(str, frame.position))
    table = Table.grid(padding=(0, 4))
    table.add_column()
    table.add_column()
    table.add_row(Text(f"input, padded (frame {number})", style="bold"), Text(f"output[{where}]", style="bold"))
    table.add_row(_grid(frame.grid), _grid(frame.output))
    return table


def render_drawing(drawing: "Drawing") -> RenderableType:
    """The title, a legend, one input/output pair per frame, then the notes."""
    parts: list[RenderableType] = [Text(drawing.title, style="bold cyan"), _legend(drawing)]
    for number, frame in enumerate(drawing.frames, 1):
        parts.append(Text(""))
        parts.append(_frame(frame, number, drawing))
    for note in drawing.notes:
        parts.append(Text(f"note: {note}", style="dim"))
    return Group(*parts)


SHOWN_SOLUTIONS = 20


def render_solve(result: "SolveResult") -> RenderableType:
    """One table per distinct spatial dim: the solutions, simplest first, with their arithmetic."""
    from ..teach.solve import rule_for

    parts: list[RenderableType] = []
    dims = result.dims
    groups = [(None, dims[0])] if all(dim == dims[0] for dim in dims) else list(enumerate(dims))
    for axis, dim in groups:
        scope = "" if len(dims) == 1 else (" (every spatial dim)" if axis is None else f" (spatial dim {axis})")
        title = f"{dim.in_size} → {dim.out_size}{scope}: {len(dim.solutions)} solution{'s' if len(dim.solutions) != 1 else ''}"
        if dim.dilation_widened:
            title += " (none with dilation 1, so dilations up to 4 were tried)"
        table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, title=title, title_justify="left")
        columns = ["kernel", "stride", "pad", "dil"]
        if result.mode == "transposed":
            columns.append("out_pad")
        if result.mode == "pool":
            columns.append("ceil")
        for column in columns:
            table.add_column(column, justify="right", min_width=len(column), no_wrap=True)
        table.add_column(f"formula (each = {dim.out_size})", no_wrap=True)
        table.add_column("")
        for solution in dim.solutions[:SHOWN_SOLUTIONS]:
            cells = [str(solution.kernel_size), str(solution.stride), str(solution.padding), str(solution.dilation)]
            if result.mode == "transposed":
                cells.append(str(solution.output_padding))
            if result.mode == "pool":
                cells.append("yes" if solution.ceil_mode else "")
            rule = rule_for(solution, result.mode)
            cells.append(rule.formula(str(dim.in_size)))
            cells.append("same" if solution.same else "")
            table.add_row(*(Text(cell) for cell in cells), style="green" if solution.same else None)
        parts.append(table)
        if len(dim.solutions) > SHOWN_SOLUTIONS:
            parts.append(Text(f"… and {len(dim.solutions) - SHOWN_SOLUTIONS} more (--json lists all)", style="dim"))
        if dim.capped:
            parts.append(Text("(a padding range held more solutions than convcalc lists: the first 64 of each "
                              "kernel, stride and dilation are shown)", style="dim"))
    return Group(*parts)
