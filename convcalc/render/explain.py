"""Rich renderables for ``convcalc explain``: grids of numbers, readable without colour.

Padding cells are written in parentheses (and dimmed), the chosen maximum in square brackets
(and highlighted), so the text alone says what the colours say.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Sequence

from rich.console import Group
from rich.table import Table
from rich.text import Text

from ..arith import spatial_symbols
from ..teach.explain import AxisWindow, Explanation
from ..shapes import format_shape

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


def number(value: float | None, digits: int = 6) -> str:
    """Whole numbers without a point (−8 as a hand calculation writes it, not −8.0); others to ``digits`` digits."""
    if value is None:
        return "-"
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.{digits}g}"


def cell(value: float) -> str:
    """A number inside a grid: 4 significant digits keep three grids side by side at 100 columns."""
    return number(value, 4)


def render_explain(e: Explanation) -> Group:
    parts: list[Any] = [_header(e)]
    if e.group is not None and e.group.groups > 1:
        parts.append(_group_text(e))
    if e.axes:
        parts.append(_window_text(e))
    if e.kind == "conv" and e.matmul is not None:
        parts.append(_matmul(e))
    elif e.kind == "conv":
        parts += _channel_parts(e)
        if e.other_channels is not None:
            parts.append(_others_text(e))
    elif e.kind == "transposed":
        parts.append(_scatter(e))
    else:
        parts.append(_pool(e))
    parts += [Text(note, style="italic") for note in e.notes]
    parts.append(_verdict(e))
    return Group(*parts)


def _header(e: Explanation) -> Text:
    text = Text()
    text.append(e.layer, style="bold")
    text.append(f"\ninput {format_shape(e.input_shape)} → output {format_shape(e.output_shape)}\n")
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


def _grid(values: Sequence[float], shape: Sequence[int], outside: Sequence[bool] = (), chosen: int | None = None) -> Any:
    """Numbers laid out as the kernel: one row for 1-D, rows × columns for 2-D, slices for 3-D;
    long axes cut to their edges around an ellipsis."""
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
        picked_cols = shown(cols)
        for _ in picked_cols:
            table.add_column(justify="right")
        for r in shown(rows):
            if r is None:
                table.add_row(*(Text("⋮", style="dim") for _ in picked_cols))
                continue
            table.add_row(*(_cell(values, start + r * cols + c, outside, chosen) if c is not None
                            else Text("…", style="dim") for c in picked_cols))
        slices.append(Group(Text(f"depth slice {depth}:", style="dim"), table) if depths > 1 else table)
    return slices[0] if len(slices) == 1 else Group(*slices)


def _cell(values: Sequence[float], i: int, outside: Sequence[bool], chosen: int | None) -> Text:
    text = cell(values[i])
    style = ""
    if outside and outside[i]:
        text, style = f"({text})", "dim"
    if chosen is not None and i == chosen:
        text, style = f"[{text}]", "bold reverse"
    return Text(text, style=style)


def _channel_parts(e: Explanation) -> list[Any]:
    """A grid table per listed channel while their cells stay within GRID_CELLS; then one line
    per channel with its sum (a wide kernel over many channels drew tens of thousands of cells)."""
    edges = [DEPTH_EDGE] * (len(e.kernel_size) - 2) + [EDGE] * min(2, len(e.kernel_size))
    per_channel = 3 * math.prod(len(shown(k, edge)) for k, edge in zip(e.kernel_size, edges))
    drawn = max(1, GRID_CELLS // max(per_channel, 1))
    parts: list[Any] = [_channel_grids(e, term) for term in e.terms[:drawn]]
    rest = e.terms[drawn:]
    if rest:
        parts.append(Text("\n".join(f"input channel {t.channel}: sum {number(t.sum)} (--json lists its taps)"
                                     for t in rest), style="italic"))
    return parts


def _channel_grids(e: Explanation, term: Any) -> Table:
    outside = _tap_kinds(e)
    table = Table(title=f"input channel {term.channel}", title_justify="left", show_edge=False)
    for name in ("input window", "kernel", "products"):
        table.add_column(name, justify="center")
    table.add_column("sum", justify="right")
    table.add_row(
        _grid(term.values, e.kernel_size, outside), _grid(term.weights, e.kernel_size),
        _grid(term.products, e.kernel_size, outside), Text(number(term.sum), style="bold"),
    )
    return table


def _others_text(e: Explanation) -> Text:
    other = e.other_channels
    assert other is not None
    return Text(f"input channels {other.first}–{other.last} ({other.count:,} more, not listed): "
                f"their sums add up to {number(other.sum)}", style="italic")


def _total_text(e: Explanation, sums: Sequence[float]) -> Text:
    parts = [number(s) for s in sums]
    if e.other_channels is not None:
        parts.append(f"{number(e.other_channels.sum)} (channels {e.other_channels.first}–{e.other_channels.last})")
    if e.bias is not None:
        parts.append(f"bias {number(e.bias)}")
    text = Text("total = ")
    text.append(" + ".join(parts) if parts else "0")
    text.append(" = ")
    text.append(number(e.total), style="bold")
    return text


def _matmul(e: Explanation) -> Group:
    assert e.matmul is not None
    ins = e.group.in_channels if e.group else []
    table = Table(title=f"per kernel tap: weight[{_span(e.matmul_channels)}, {_span(ins)}, tap] @ pixel",
                  title_justify="left", show_edge=False)
    for name in ("tap", "at", "weight [c_out/g, c_in/g]", "pixel [c_in/g]", "product [c_out/g]"):
        table.add_column(name)
    for term in e.matmul:
        position = ", ".join(map(str, term.position))
        table.add_row(
            ", ".join(map(str, term.tap)), f"({position})" if term.padding else position,
            "\n".join(" ".join(cell(v) for v in row) for row in term.weight),
            " ".join(cell(v) for v in term.pixel), " ".join(cell(v) for v in term.product),
        )
    bias = "" if e.bias is None else " + bias"
    lines = Text(f"sum over taps{bias}, output channels {_span(e.matmul_channels)}: ")
    lines.append(" ".join(number(v) for v in e.matmul_total), style="bold")
    lines.append(f"\nforward pass:                 {' '.join(number(v) for v in e.matmul_forward)}")
    chosen = e.matmul_channels.index(e.channel)
    lines.append(f"\noutput channel {e.channel} is entry {chosen}: {number(e.matmul_total[chosen])}")
    return Group(table, lines)


def _scatter(e: Explanation) -> Group:
    table = Table(title=f"input cells that scatter into output position {tuple(e.spatial)}",
                  title_justify="left", show_edge=False)
    for name in ("in channel", "input position", "kernel tap", "value", "weight", "product"):
        table.add_column(name, justify="right")
    for s in e.scatter[:SCATTER_SHOWN]:
        table.add_row(str(s.channel), str(tuple(s.position)), str(tuple(s.tap)), number(s.value),
                      number(s.weight), number(s.product))
    parts: list[Any] = [table]
    hidden = len(e.scatter) - SCATTER_SHOWN + (e.other_channels.scatter if e.other_channels else 0)
    if hidden > 0:
        parts.append(Text(f"… and {hidden:,} more (input cell, tap) pairs", style="dim"))
    sums = Text("per input channel: " + ", ".join(f"{t.channel}: {number(t.sum)}" for t in e.terms))
    if e.other_channels is not None:
        parts.append(_others_text(e))
    return Group(*parts, sums, _total_text(e, [t.sum for t in e.terms]))


def _pool(e: Explanation) -> Group:
    pool = e.pool
    assert pool is not None
    outside = _tap_kinds(e)
    grid = _grid(pool.values, e.kernel_size, outside, pool.chosen)
    lines = Text()
    if pool.kind == "max":
        if pool.chosen is None:
            lines.append("every cell is outside the input: −inf")
        else:
            lines.append(f"max = {number(pool.values[pool.chosen])} [in brackets], tap {pool.chosen} of the window, ")
            lines.append(f"flat index {pool.flat_index} in the plane (the forward pass's index: {pool.forward_index})")
        return Group(Text("window (cells outside the input read −inf and are never chosen):"), grid, lines)
    lines.append(f"sum = {number(pool.sum)}\n")
    lines.append("divisor: " + "\n         ".join(pool.divisor_reason) + "\n")
    lines.append(f"average = {number(pool.sum)} / {pool.divisor} = ")
    lines.append(number(e.total), style="bold")
    return Group(Text("window (padding reads 0):"), grid, lines)


def _verdict(e: Explanation) -> Text:
    if e.kind == "conv" and e.matmul is None:
        text = _total_text(e, [t.sum for t in e.terms])
        text.append("\n")
    else:
        text = Text()
    if e.agrees:
        text.append(f"✓ the forward pass gives {number(e.forward)} at {list(e.at)}", style="green")
    else:
        text.append(f"✗ the forward pass gives {number(e.forward)} at {list(e.at)}: they differ", style="bold red")
    return text
