"""``convcalc diff``: the rows that change and the totals' deltas, as plain text (a pipe) or a
Rich renderable (a terminal), from the same cells."""

from __future__ import annotations

from typing import Any

from ..network.diff import ROW_FIELDS, TOTAL_FIELDS, NetworkDiff, RowDiff, TotalDiff
from ..shapes import compact_shape, format_bytes, format_shape
from ..units import count_text
from .layout import aligned_lines

MARKS = {"changed": "~", "only_a": "-", "only_b": "+"}
_BYTES = ("output_bytes", "activation_bytes", "param_bytes", "buffer_bytes", "peak_memory_bytes")
_SHAPES = ("input_shape", "output_shape")


def value_text(field: str, value: Any, compact: bool = False) -> str:
    """A row's or total's value as the summary shows it (``compact``: shapes as ``1×6×28×28``,
    which a terminal never breaks).

    >>> value_text("macs", 117600), value_text("output_shape", (1, 6, 28, 28)), value_text("output_bytes", 2048)
    ('117,600', '[1, 6, 28, 28]', '2.0 KiB')
    """
    if value is None:
        return "-"
    if field in _SHAPES:
        return compact_shape(value) if compact else format_shape(value)
    if field in _BYTES:
        return format_bytes(value)
    return count_text(value, "exact") if isinstance(value, int) else str(value)


def change_text(total: TotalDiff) -> str:
    """``+12,345 (+3.0 %)``: the change, absolute and relative to A.

    >>> change_text(TotalDiff("macs", 200, 250)), change_text(TotalDiff("params", 0, 5)), change_text(TotalDiff("buffers", 3, 3))
    ('+50 (+25.0 %)', '+5', '0')
    """
    delta = total.delta
    if delta is None:
        return "-"
    if delta == 0:
        return "0"
    shown = f"{delta:+,}" if total.name not in _BYTES else ("+" if delta >= 0 else "-") + format_bytes(abs(delta))
    return shown if total.relative is None else f"{shown} ({total.relative * 100:+.1f} %)"


def row_cells(row: RowDiff, compact: bool = False) -> list[str]:
    """Mark (``~`` changed, ``-`` only in A, ``+`` only in B), name, type and what changed: its
    parts joined by ``; ``, or one a line when ``compact`` (a terminal's narrow column).

    >>> from convcalc import parse_network
    >>> from convcalc.network.diff import diff_summaries
    >>> net = parse_network("conv2d --in 3 --out 8 -k 3")
    >>> diff = diff_summaries(net.summary((1, 3, 8, 8)), net.summary((2, 3, 8, 8)))
    >>> row_cells(diff.rows[0], compact=True)
    ['~', '0', 'Conv2d', 'input 1×3×8×8 → 2×3×8×8\\noutput 1×8×6×6 → 2×8×6×6\\nMACs 7,776 → 15,552\\nmemory 1.1 KiB → 2.2 KiB']
    """
    if row.status == "changed":
        assert row.a is not None and row.b is not None
        parts = [f"{ROW_FIELDS[field]} {value_text(field, getattr(row.a, field), compact)} → "
                 f"{value_text(field, getattr(row.b, field), compact)}" for field in row.changes if field != "layer"]
        if "layer" in row.changes:
            parts += [row.a.layer, f"→ {row.b.layer}"] if compact else [f"{row.a.layer} → {row.b.layer}"]
        return [MARKS[row.status], row.name, row.b.type, ("\n" if compact else "; ").join(parts)]
    only = row.a if row.a is not None else row.b
    assert only is not None
    side = "a" if row.status == "only_a" else "b"
    what = (f"only in {side}: output {value_text('output_shape', only.output_shape, compact)}, "
            f"{only.params:,} params, {value_text('macs', only.macs)} MACs")
    return [MARKS[row.status], row.name, only.type, what]


def header_lines(diff: NetworkDiff, labels: tuple[str, str], compact: bool = False) -> list[str]:
    """The two sides, as ``diff -u`` heads them, and how the rows were matched.

    >>> from convcalc import parse_network
    >>> from convcalc.network.diff import diff_summaries
    >>> net = parse_network("conv2d --in 3 --out 8 -k 3")
    >>> diff = diff_summaries(net.summary((1, 3, 8, 8)), net.summary((2, 3, 8, 8)))
    >>> header_lines(diff, ("1x3x8x8", "2x3x8x8"), compact=True)[1]
    '+++ b: 2x3x8x8, input 2×3×8×8 → output 2×8×6×6'
    """
    counts = {status: sum(row.status == status for row in diff.rows) for status in MARKS}
    shape = compact_shape if compact else format_shape
    return [
        *(f"{mark} {name}: {label}, input {shape(side.input_shape)} → output {shape(side.output_shape)}"
          for mark, name, label, side in (("---", "a", labels[0], diff.a), ("+++", "b", labels[1], diff.b))),
        f"rows matched by name: {diff.unchanged} unchanged, {counts['changed']} changed, "
        f"{counts['only_a']} only in a, {counts['only_b']} only in b",
    ]


def total_cells(diff: NetworkDiff) -> list[list[str]]:
    """Per total: its label, A's and B's values and the change.

    >>> from convcalc import parse_network
    >>> from convcalc.network.diff import diff_summaries
    >>> net = parse_network("conv2d --in 3 --out 8 -k 3")
    >>> diff = diff_summaries(net.summary((1, 3, 8, 8)), net.summary((2, 3, 8, 8)))
    >>> total_cells(diff)[3]
    ['MACs', '7,776', '15,552', '+7,776 (+100.0 %)']
    """
    return [[TOTAL_FIELDS[t.name], value_text(t.name, t.a), value_text(t.name, t.b), change_text(t)]
            for t in diff.totals]


def diff_text(diff: NetworkDiff, labels: tuple[str, str]) -> str:
    """The whole comparison as plain text: heads, the rows that differ, the totals.

    >>> from convcalc import parse_network
    >>> from convcalc.network.diff import diff_summaries
    >>> net = parse_network("conv2d --in 3 --out 8 -k 3")
    >>> text = diff_text(diff_summaries(net.summary((1, 3, 8, 8)), net.summary((2, 3, 8, 8))), ("1x3x8x8", "2x3x8x8"))
    >>> print(text.splitlines()[0])
    --- a: 1x3x8x8, input [1, 3, 8, 8] → output [1, 8, 6, 6]
    >>> print(text.splitlines()[5])
    ~  0     Conv2d  input [1, 3, 8, 8] → [2, 3, 8, 8]; output [1, 8, 6, 6] → [2, 8, 6, 6]; MACs 7,776 → 15,552; memory 1.1 KiB → 2.2 KiB
    """
    out = header_lines(diff, labels) + [""]
    if diff.rows:
        out += aligned_lines([["", "name", "type", "change"], *(row_cells(row) for row in diff.rows)])
        out.append("")
    out += aligned_lines([["total", "a", "b", "change"], *total_cells(diff)], right=(False, True, True, True))
    return "\n".join(out) + "\n"


def render_diff(diff: NetworkDiff, labels: tuple[str, str]) -> Any:
    """The comparison for a terminal: the heads, a table of the rows that differ, the totals.

    >>> import io
    >>> from rich.console import Console
    >>> from convcalc import parse_network
    >>> from convcalc.network.diff import diff_summaries
    >>> net = parse_network("conv2d --in 3 --out 8 -k 3")
    >>> diff = diff_summaries(net.summary((1, 3, 8, 8)), net.summary((2, 3, 8, 8)))
    >>> console = Console(width=60, file=io.StringIO(), record=True, color_system=None)
    >>> console.print(render_diff(diff, ("1x3x8x8", "2x3x8x8")))
    >>> console.export_text().splitlines()[6].split()[:3]
    ['~', '0', 'Conv2d']
    """
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    parts: list[Any] = [Text("\n".join(header_lines(diff, labels, compact=True)))]
    styles = {"~": "yellow", "-": "red", "+": "green"}
    if diff.rows:
        rows = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for title in ("", "name", "type", "change"):
            rows.add_column(title, no_wrap=title != "change", style="cyan" if title == "name" else None)
        for row in diff.rows:
            cells = row_cells(row, compact=True)
            rows.add_row(Text(cells[0], style=styles[cells[0]]), *(Text(cell) for cell in cells[1:]))
        parts.append(rows)
    totals = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for title in ("total", "a", "b", "change"):  # a narrow terminal puts the relative change under the absolute
        totals.add_column(title, justify="left" if title == "total" else "right", no_wrap=title != "change")
    for cells in total_cells(diff):
        totals.add_row(*cells)
    parts.append(totals)
    return Group(*parts)
