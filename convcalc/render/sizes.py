"""``convcalc net --input A --input B``: one network at several input sizes, one column set
(output shape, MACs, memory) per size beside the columns every size shares (name, type,
params), and the totals side by side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Sequence

from ..errors import ConvcalcError
from ..shapes import compact_shape, format_shape
from ..units import cell_bytes, cell_count
from .layout import FirstThatFits, aligned_lines, text_width
from .totals import total_pairs

if TYPE_CHECKING:
    from ..network.summary import Summary

SHARED = ("name", "type", "params")
PER_SIZE = ("output", "MACs", "memory")
# When a layer's parameters depend on the input (input channels or features inferred from it),
# each size gets its own params column.
PER_SIZE_PARAMS = ("params", "output", "MACs", "memory")


class SizesTable(NamedTuple):
    """The cells: ``groups`` labels each column set (``""`` over the shared columns)."""

    groups: list[str]
    titles: list[str]
    numeric: list[bool]
    rows: list[list[str]]


def _checked_rows(summaries: Sequence["Summary"]) -> list[tuple[Any, ...]]:
    """The summaries' rows side by side; refused when the sizes run different steps."""
    keys = [row.key for row in summaries[0].rows]
    for summary in summaries[1:]:
        other = [row.key for row in summary.rows]
        if other != keys:
            raise ConvcalcError(
                f"the network runs different steps at input {format_shape(summaries[0].input_shape)} and "
                f"{format_shape(summary.input_shape)}, so its rows do not line up; ask for each size on its own")
    return list(zip(*(summary.rows for summary in summaries)))


def sizes_table(summaries: Sequence["Summary"], units: str = "both", compact: bool = False) -> SizesTable:
    """The per-layer cells of several input sizes; ``compact`` writes shapes as 1×8×6×6.

    >>> from convcalc.network import parse_network
    >>> net = parse_network("Conv2d(3, 8, 3)")
    >>> table = sizes_table([net.summary((1, 3, 8, 8)), net.summary((1, 3, 16, 16))])
    >>> table.titles, table.rows
    (['name', 'type', 'params', 'output', 'MACs', 'memory', 'output', 'MACs', 'memory'], [['0', 'Conv2d', '224', '[1, 8, 6, 6]', '7,776', '1.1 KiB', '[1, 8, 14, 14]', '42,336', '6.1 KiB']])
    """
    aligned = _checked_rows(summaries)
    shared = all(len({row.params for row in same_rows}) == 1 for same_rows in aligned)
    shared_titles, per_size = (SHARED, PER_SIZE) if shared else (SHARED[:2], PER_SIZE_PARAMS)
    groups = [""] * len(shared_titles) + [
        f"input {(compact_shape if compact else format_shape)(summary.input_shape)}" if i == 0 else ""
        for summary in summaries for i in range(len(per_size))]
    rows = []
    for same_rows in aligned:
        first = same_rows[0]
        cells = ["  " * max(first.depth - 1, 0) + first.key, first.type]
        cells += [cell_count(first.params, units)] if shared else []
        for row in same_rows:
            cells += [] if shared else [cell_count(row.params, units)]
            shape = (compact_shape if compact else format_shape)(row.output_shape)
            cells += [shape, cell_count(row.macs, units), cell_bytes(row.output_bytes, units)]
        rows.append(cells)
    titles = [*shared_titles, *(per_size * len(summaries))]
    numeric = [title in ("params", "MACs", "memory") for title in titles]
    return SizesTable(groups, titles, numeric, rows)


def sizes_totals(summaries: Sequence["Summary"], units: str = "both") -> list[list[str]]:
    """The totals side by side: a label, then one value per size (shapes first).

    >>> from convcalc.network import parse_network
    >>> net = parse_network("Linear(512, 1000)")
    >>> sizes_totals([net.summary((1, 512)), net.summary((8, 512))], "human")[:4]
    [['input', '[1, 512]', '[8, 512]'], ['output', '[1, 1000]', '[8, 1000]'], ['params', '513 k', '513 k'], ['buffers', '0', '0']]
    """
    rows = [["input", *(format_shape(s.input_shape) for s in summaries)],
            ["output", *(format_shape(s.output_shape) for s in summaries)]]
    pairs = [total_pairs(s.totals, s.dtype, units, s.count) for s in summaries]
    for index, (label, _) in enumerate(pairs[0]):
        rows.append([label, *(dict(size_pairs).get(label, "-") for size_pairs in pairs)])
    return rows


def _text_lines(rows: list[list[str]], numeric: list[bool], groups: list[str] | None = None) -> list[str]:
    """Aligned lines; ``groups`` labels go above their column set, starting at its first
    column, without widening it."""
    widths = [max(text_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = aligned_lines(rows, numeric)
    if groups is None:
        return lines
    line, offset = "", 0
    for label, width in zip(groups, widths):
        if label:
            line = line.ljust(max(offset, len(line) + 2 if line else offset)) + label
        offset += width + 2
    return [line, *lines]


def sizes_text(summaries: Sequence["Summary"], units: str = "both", totals_only: bool = False) -> str:
    """Plain text for a pipe: the table (unless ``totals_only``), the totals side by side, notes.

    >>> from convcalc.network import parse_network
    >>> net = parse_network("Conv2d(3, 8, 3)")
    >>> print(sizes_text([net.summary((1, 3, 8, 8)), net.summary((1, 3, 16, 16))], "human").splitlines()[3])
    0     Conv2d     224  [1, 8, 6, 6]  7.78 k  1.1 KiB  [1, 8, 14, 14]  42.3 k  6.1 KiB
    """
    out: list[str] = []
    if not totals_only:
        table = sizes_table(summaries, units)
        dashes = ["-" * max(text_width(t), *(text_width(r[i]) for r in table.rows)) for i, t in enumerate(table.titles)]
        lines = _text_lines([table.titles, dashes, *table.rows], [False, *table.numeric[1:]], table.groups)
        out += [*lines, ""]
    totals = sizes_totals(summaries, units)
    out += _text_lines(totals, [False] * len(totals[0]))
    out += [f"note: {note}" for note in summaries[0].notes]
    return "\n".join(out) + "\n"


def _rich_table(summaries: Sequence["Summary"], units: str, compact: bool, memory: bool = True) -> Any:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    data = sizes_table(summaries, units, compact)
    kept = [i for i, title in enumerate(data.titles) if memory or title != "memory"]
    alone = len(summaries) == 1  # one size: its input is the table's title
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 1), collapse_padding=True,
                  title=next(group for group in data.groups if group) if alone else None, title_justify="left")
    for i in kept:
        header = data.titles[i] if alone else f"{data.groups[i]}\n{data.titles[i]}"
        table.add_column(header, justify="right" if data.numeric[i] else "left", no_wrap=True)
    for cells in data.rows:
        table.add_row(*(Text(cells[i]) for i in kept))
    return table


def _rich_totals(summaries: Sequence["Summary"], units: str) -> Any:
    from rich.panel import Panel
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True)
    for _ in summaries:
        grid.add_column(no_wrap=True)
    for row in sizes_totals(summaries, units):
        grid.add_row(*row)
    return Panel(grid, title="totals", title_align="left", expand=False)


def render_sizes(summaries: Sequence["Summary"], units: str = "both", totals_only: bool = False) -> Any:
    """The same on a terminal, as Rich renderables: where the sizes side by side do not fit,
    counts go human and shapes compact, and then each size gets a table of its own.

    >>> import io
    >>> from rich.console import Console
    >>> from convcalc.network import parse_network
    >>> net = parse_network("Conv2d(3, 8, 3)")
    >>> console = Console(width=100, file=io.StringIO(), record=True, color_system=None)
    >>> console.print(render_sizes([net.summary((1, 3, 8, 8)), net.summary((1, 3, 16, 16))]))
    >>> console.export_text().splitlines()[3].split()
    ['0', 'Conv2d', '224', '[1,', '8,', '6,', '6]', '7,776', '1.1', 'KiB', '[1,', '8,', '14,', '14]', '42,336', '6.1', 'KiB']
    """
    from rich.console import Group
    from rich.text import Text

    from .totals import render_totals, rounded_units

    rounded = rounded_units(units)
    parts: list[Any] = []
    if not totals_only:
        without_memory = Text("the memory column is left out for width: widen the terminal or pipe the output",
                              style="italic")
        parts.append(FirstThatFits(
            _rich_table(summaries, units, False), _rich_table(summaries, rounded, True),
            Group(*(_rich_table([summary], rounded, True) for summary in summaries)),
            Group(*(_rich_table([summary], rounded, True, memory=False) for summary in summaries), without_memory)))
    parts.append(FirstThatFits(_rich_totals(summaries, units), _rich_totals(summaries, rounded),
                               render_totals(summaries, units, notes=False)))
    if summaries[0].notes:
        parts.append(Text("\n".join(f"note: {note}" for note in summaries[0].notes), style="italic"))
    return Group(*parts)
