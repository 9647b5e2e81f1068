"""Rich renderables for ``convcalc explain``: grids of numbers, readable without colour.

Padding cells are written in parentheses (and dimmed), the chosen maximum in square brackets
(and highlighted), so the text alone says what the colours say.
"""

from __future__ import annotations

import functools
import io
import itertools
import math
from typing import Any, NamedTuple, Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..arith import spatial_symbols
from .layout import ROOMY, entries_that_fit, first_that_fits
from ..teach.explain import AxisWindow, Explanation
from ..shapes import compact_shape, format_shape

_DIM_NAMES = {"D": "depth", "H": "row", "W": "column", "L": "position"}

# Longer axes are drawn as their first and last EDGE entries around an ellipsis, as torch prints
# a large tensor; a scatter table shows at most SCATTER_SHOWN rows.
EDGE = 5
SCATTER_SHOWN = 32
DEPTH_EDGE = 2  # a 3-D kernel's depth slices
GRID_CELLS = 1500  # channels are drawn as grids while their cells add up to this; the rest as sums


def shown(count: int, edge: int = EDGE) -> list[int | None]:
    """The indices of an axis to draw, None where the ellipsis goes.

    >>> shown(3), shown(14), shown(7, edge=2)
    ([0, 1, 2], [0, 1, 2, 3, 4, None, 9, 10, 11, 12, 13], [0, 1, None, 5, 6])
    """
    if count <= 2 * edge + 2:
        return list(range(count))
    return [*range(edge), None, *range(count - edge, count)]


CELL_DIGITS, SUM_DIGITS = 4, 6  # 4 significant digits keep three grids side by side at 100 columns


class Shown(NamedTuple):
    """How numbers are written (significant digits in grids and in sums) and the width to fit
    (None: no limit)."""

    cells: int = CELL_DIGITS
    sums: int = SUM_DIGITS
    width: int | None = None

    @classmethod
    def at(cls, precision: int | None, width: int | None) -> "Shown":
        """``--precision N`` writes every number to N digits; without it grids take 4 and sums 6.

        >>> Shown.at(None, 80), Shown.at(3, None)
        (Shown(cells=4, sums=6, width=80), Shown(cells=3, sums=3, width=None))
        """
        return cls(width=width) if precision is None else cls(precision, precision, width)

    def sum(self, value: float | None) -> str:
        return number(value, self.sums)


def number(value: float | None, digits: int = SUM_DIGITS) -> str:
    """Whole numbers without a point (−8 as a hand calculation writes it, not −8.0); others to ``digits`` digits.

    >>> number(-8.0), number(0.1234567891), number(0.1234567891, 3), number(None)
    ('-8', '0.123457', '0.123', '-')
    """
    if value is None:
        return "-"
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.{digits}g}"


def cell(value: float, digits: int = CELL_DIGITS) -> str:
    """A number inside a grid.

    >>> cell(-0.00060123), cell(3.0)
    ('-0.0006012', '3')
    """
    return number(value, digits)


def render_explain(e: Explanation, width: int | None = None, precision: int | None = None) -> Group:
    """The explanation, its grids fitted to ``width`` columns (None: drawn whole): a grid too
    wide shows its first and last columns around ``…``; numbers to ``precision`` digits."""
    shown = Shown.at(precision, width)
    parts: list[Any] = [_header(e, width)]
    if e.group is not None and e.group.groups > 1:
        parts.append(_group_text(e))
    if e.axes:
        parts.append(_window_text(e))
    if e.kind == "conv" and e.matmul is not None:
        parts.append(_matmul(e, shown))
    elif e.kind == "conv":
        parts += _channel_parts(e, shown)
        if e.other_channels is not None:
            parts.append(_others_text(e, shown))
    elif e.kind == "transposed":
        parts.append(_scatter(e, shown))
    else:
        parts.append(_pool(e, shown))
    parts += [Text(note, style="italic") for note in e.notes]
    parts.append(_verdict(e, shown))
    return Group(*parts)


def _measured(renderable: Any) -> int:
    """The columns ``renderable`` takes when given all it wants."""
    from rich.console import Console
    from rich.measure import Measurement

    console = Console(width=ROOMY, file=io.StringIO(), color_system=None)
    return Measurement.get(console, console.options, renderable).maximum


def _whole(grid: Any) -> Any:
    """``grid`` never drawn narrower than it needs: where it is wider than the terminal, its
    lines run past the edge (the CLI's whole output) rather than its numbers lose digits."""
    if isinstance(grid, Table):
        grid.min_width = _measured(grid)
    return grid


def _fitted_columns(count: int, draw: Any, width: int | None) -> list[int | None]:
    """The kernel columns to draw so that ``draw(columns)`` fits ``width``."""
    return entries_that_fit(count, lambda columns: _measured(draw(columns)), width, start=shown(count))


def _header(e: Explanation, width: int | None) -> Text:
    """The layer, its shapes (compact, 1×2×16×16, where the full ones would wrap), the output picked."""
    text = Text()
    text.append(e.layer, style="bold")
    shapes = first_that_fits([f"input {form(e.input_shape)} → output {form(e.output_shape)}"
                              for form in (format_shape, compact_shape)], len, width)
    text.append(f"\n{shapes}\n")
    what = "output" if e.kind in ("conv", "transposed") else "pooled"
    text.append(f"{what}[{', '.join(map(str, e.at))}]", style="bold cyan")
    where = f"batch {e.batch}, " if e.batch is not None else ""
    text.append(f"  ({where}channel {e.channel}, position {tuple(e.spatial)})")
    return text


def _group_text(e: Explanation) -> Text:
    g = e.group
    assert g is not None
    kind = "depthwise: " if g.depthwise else ""
    return Text(
        f"{kind}output channel {e.channel} is in group {g.group} of {g.groups}, which reads input "
        f"channel{'s' if len(g.in_channels) > 1 else ''} {_span(g.in_channels)} and writes output "
        f"channels {_span(g.out_channels)}"
    )


def _span(values: Sequence[int]) -> str:
    return str(values[0]) if len(values) == 1 else f"{values[0]}–{values[-1]}"


def _window_text(e: Explanation) -> Text:
    text = Text("window: ")
    symbols = spatial_symbols(len(e.axes))
    lines = []
    for symbol, axis in zip(symbols, e.axes):
        noun = _DIM_NAMES.get(symbol, "position")
        cells = ", ".join("…" if t is None else _coordinate(axis, t) for t in shown(len(axis.positions)))
        line = f"{noun}s {cells} of 0..{axis.size - 1}"
        if axis.holes:
            more = "…" if axis.holes_total > len(axis.holes) else ""
            line += f" (dilation skips {', '.join(map(str, axis.holes))}{more}"
            line += f"; {axis.holes_total:,} in all)" if more else ")"
        lines.append(line)
    text.append("; ".join(lines))
    if any(kind != "input" for axis in e.axes for kind in axis.kinds):
        text.append("   (n) = outside the input", style="dim")
    return text


def _coordinate(axis: AxisWindow, t: int) -> str:
    p = axis.positions[t]
    if axis.kinds[t] == "input":
        return str(p)
    read = f"→{axis.source[t]}" if axis.source[t] is not None else ""
    return f"({p}{read})"


def _tap_kinds(e: Explanation) -> list[bool]:
    """For each tap in C order: whether it lies outside the input."""
    return [
        any(axis.kinds[t] != "input" for axis, t in zip(e.axes, taps))
        for taps in itertools.product(*(range(len(a.positions)) for a in e.axes))
    ]


def _grid(values: Sequence[float], shape: Sequence[int], outside: Sequence[bool] = (), chosen: int | None = None,
          columns: list[int | None] | None = None, digits: int = CELL_DIGITS) -> Any:
    """Numbers laid out as the kernel: one row for 1-D, rows × columns for 2-D, slices for 3-D;
    long axes cut to their edges around an ellipsis (``columns``: those of the last axis drawn)."""
    rows, cols = (shape[-2] if len(shape) > 1 else 1), shape[-1]
    per_slice = rows * cols
    slices = []
    depths = len(values) // per_slice if per_slice else 0
    for depth in shown(depths, edge=DEPTH_EDGE):
        if depth is None:
            slices.append(Text("⋮", style="dim"))
            continue
        start = depth * per_slice
        table = Table(show_header=False, box=None, padding=(0, 1), pad_edge=False)
        picked_cols = shown(cols) if columns is None else columns
        for _ in picked_cols:
            table.add_column(justify="right", no_wrap=True)
        for r in shown(rows):
            if r is None:
                table.add_row(*(Text("⋮", style="dim") for _ in picked_cols))
                continue
            table.add_row(*(_cell(values, start + r * cols + c, outside, chosen, digits) if c is not None
                            else Text("…", style="dim") for c in picked_cols))
        slices.append(Group(Text(f"depth slice {depth}:", style="dim"), table) if depths > 1 else table)
    return slices[0] if len(slices) == 1 else Group(*slices)


def _cell(values: Sequence[float], i: int, outside: Sequence[bool], chosen: int | None, digits: int) -> Text:
    text = cell(values[i], digits)
    style = ""
    if outside and outside[i]:
        text, style = f"({text})", "dim"
    if chosen is not None and i == chosen:
        text, style = f"[{text}]", "bold reverse"
    return Text(text, style=style)


def _channel_parts(e: Explanation, shown_as: Shown) -> list[Any]:
    """A grid table per listed channel while their cells stay within GRID_CELLS; then one line
    per channel with its sum (a wide kernel over many channels drew tens of thousands of cells)."""
    edges = [DEPTH_EDGE] * (len(e.kernel_size) - 2) + [EDGE] * min(2, len(e.kernel_size))
    per_channel = 3 * math.prod(len(shown(k, edge)) for k, edge in zip(e.kernel_size, edges))
    drawn = max(1, GRID_CELLS // max(per_channel, 1))
    parts: list[Any] = [_channel_grids(e, term, shown_as) for term in e.terms[:drawn]]
    rest = e.terms[drawn:]
    if rest:
        parts.append(Text("\n".join(f"input channel {t.channel}: sum {shown_as.sum(t.sum)} (--json lists its taps)"
                                     for t in rest), style="italic"))
    return parts


def _channel_grids(e: Explanation, term: Any, shown_as: Shown) -> Table:
    """Input window, kernel and products side by side, and their sum; as many of the kernel's
    columns as fit the width, the same ones in each grid. Grids stand one above the other
    when that draws more of them than side by side would."""
    outside = _tap_kinds(e)
    digits = shown_as.cells

    def grids(columns: list[int | None]) -> list[tuple[str, Any]]:
        return [("input window", _grid(term.values, e.kernel_size, outside, columns=columns, digits=digits)),
                ("kernel", _grid(term.weights, e.kernel_size, columns=columns, digits=digits)),
                ("products", _grid(term.products, e.kernel_size, outside, columns=columns, digits=digits)),
                ("sum", Text(shown_as.sum(term.sum), style="bold"))]

    def side_by_side(columns: list[int | None]) -> Table:
        table = Table(title=f"input channel {term.channel}", title_justify="left", show_edge=False)
        for name, _ in grids(columns):
            table.add_column(name, justify="right" if name == "sum" else "center", no_wrap=True)
        table.add_row(*(grid for _, grid in grids(columns)))
        return table

    def stacked(columns: list[int | None]) -> Table:
        table = Table(title=f"input channel {term.channel}", title_justify="left", show_edge=False,
                      show_header=False, show_lines=True)
        table.add_column(no_wrap=True)
        table.add_column(no_wrap=True)
        for name, grid in grids(columns):
            table.add_row(name, grid)
        return table

    count, width = e.kernel_size[-1], shown_as.width
    every = shown(count)
    recipes = ((side_by_side, every), (stacked, every), (side_by_side, None), (stacked, None))

    @functools.cache
    def drawn(index: int) -> Table:
        draw, columns = recipes[index]
        return draw(columns or _fitted_columns(count, draw, width))

    return _whole(drawn(first_that_fits(range(len(recipes)), lambda index: _measured(drawn(index)), width)))


def _others_text(e: Explanation, shown_as: Shown) -> Text:
    other = e.other_channels
    assert other is not None
    return Text(f"input channels {other.first}–{other.last} ({other.count:,} more, not listed): "
                f"their sums add up to {shown_as.sum(other.sum)}", style="italic")


def _total_text(e: Explanation, sums: Sequence[float], shown_as: Shown) -> Text:
    parts = [shown_as.sum(s) for s in sums]
    if e.other_channels is not None:
        parts.append(f"{shown_as.sum(e.other_channels.sum)} (channels {e.other_channels.first}–{e.other_channels.last})")
    if e.bias is not None:
        parts.append(f"bias {shown_as.sum(e.bias)}")
    text = Text("total = ")
    text.append(" + ".join(parts) if parts else "0")
    text.append(" = ")
    text.append(shown_as.sum(e.total), style="bold")
    return text


def _matmul(e: Explanation, shown_as: Shown) -> Group:
    """Per kernel tap, the weight slice as a matrix times the pixel column: as many of the
    matrix's columns as fit the width."""
    assert e.matmul is not None
    ins = e.group.in_channels if e.group else []
    digits = shown_as.cells

    def draw(columns: list[int | None]) -> Table:
        table = Table(title=f"per kernel tap: weight[{_span(e.matmul_channels)}, {_span(ins)}, tap] (c_out/g × c_in/g)"
                            " @ pixel (c_in/g) = product (c_out/g)", title_justify="left", show_edge=False, show_lines=True)
        for name in ("tap", "at", "weight", "pixel", "product"):
            table.add_column(name, no_wrap=True)
        for term in e.matmul:
            position = ", ".join(map(str, term.position))
            rows, cols = len(term.weight), len(term.weight[0]) if term.weight else 0
            table.add_row(
                ", ".join(map(str, term.tap)), f"({position})" if term.padding else position,
                _grid([v for row in term.weight for v in row], (rows, cols), columns=columns, digits=digits),
                _grid(term.pixel, (len(term.pixel), 1), digits=digits),
                _grid(term.product, (len(term.product), 1), digits=digits),
            )
        return table

    count = len(e.matmul[0].weight[0]) if e.matmul and e.matmul[0].weight else 0
    table = _whole(draw(_fitted_columns(count, draw, shown_as.width)))
    bias = "" if e.bias is None else " + bias"
    lines = Text(f"sum over taps{bias}, output channels {_span(e.matmul_channels)}: ")
    lines.append(" ".join(shown_as.sum(v) for v in e.matmul_total), style="bold")
    lines.append(f"\nforward pass:                 {' '.join(shown_as.sum(v) for v in e.matmul_forward)}")
    chosen = e.matmul_channels.index(e.channel)
    lines.append(f"\noutput channel {e.channel} is entry {chosen}: {shown_as.sum(e.matmul_total[chosen])}")
    return Group(table, lines)


def _scatter(e: Explanation, shown_as: Shown) -> Group:
    table = Table(title=f"input cells that scatter into output position {tuple(e.spatial)}",
                  title_justify="left", show_edge=False)
    for name in ("in channel", "input position", "kernel tap", "value", "weight", "product"):
        table.add_column(name, justify="right")
    for s in e.scatter[:SCATTER_SHOWN]:
        table.add_row(str(s.channel), str(tuple(s.position)), str(tuple(s.tap)), shown_as.sum(s.value),
                      shown_as.sum(s.weight), shown_as.sum(s.product))
    parts: list[Any] = [table]
    hidden = len(e.scatter) - SCATTER_SHOWN + (e.other_channels.scatter if e.other_channels else 0)
    if hidden > 0:
        parts.append(Text(f"… and {hidden:,} more (input cell, tap) pairs", style="dim"))
    sums = Text("per input channel: " + ", ".join(f"{t.channel}: {shown_as.sum(t.sum)}" for t in e.terms))
    if e.other_channels is not None:
        parts.append(_others_text(e, shown_as))
    return Group(*parts, sums, _total_text(e, [t.sum for t in e.terms], shown_as))


def _pool(e: Explanation, shown_as: Shown) -> Group:
    pool = e.pool
    assert pool is not None
    outside = _tap_kinds(e)

    def draw(columns: list[int | None]) -> Any:
        return _grid(pool.values, e.kernel_size, outside, pool.chosen, columns, shown_as.cells)

    grid = _whole(draw(_fitted_columns(e.kernel_size[-1], draw, shown_as.width)))
    lines = Text()
    if pool.kind == "max":
        if pool.chosen is None:
            lines.append("every cell is outside the input: −inf")
        else:
            lines.append(f"max = {shown_as.sum(pool.values[pool.chosen])} [in brackets], tap {pool.chosen} of the window, ")
            lines.append(f"flat index {pool.flat_index} in the plane (the forward pass's index: {pool.forward_index})")
        return Group(Text("window (cells outside the input read −inf and are never chosen):"), grid, lines)
    lines.append(f"sum = {shown_as.sum(pool.sum)}\n")
    lines.append("divisor: " + "\n         ".join(pool.divisor_reason) + "\n")
    lines.append(f"average = {shown_as.sum(pool.sum)} / {pool.divisor} = ")
    lines.append(shown_as.sum(e.total), style="bold")
    return Group(Text("window (padding reads 0):"), grid, lines)


def _verdict(e: Explanation, shown_as: Shown) -> Text:
    if e.kind == "conv" and e.matmul is None:
        text = _total_text(e, [t.sum for t in e.terms], shown_as)
        text.append("\n")
    else:
        text = Text()
    said = "✓ the forward pass gives {} at{}{}" if e.agrees else "✗ the forward pass gives {} at{}{}: they differ"
    # the index on a line of its own where the sentence would wrap inside it
    line = first_that_fits([said.format(shown_as.sum(e.forward), gap, list(e.at)) for gap in (" ", "\n")],
                           len, shown_as.width)
    text.append(line, style="green" if e.agrees else "bold red")
    return text
