"""The network summary as rows of text cells: one definition of the columns for every output.

The Rich table, the plain-text table, CSV and Markdown all take their columns from here.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Callable, Mapping, NamedTuple, Sequence

from ..network.receptive import format_receptive_field
from ..network.summary import Row, Summary, Totals
from ..shapes import format_bytes, format_shape


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def _weight(row: Row) -> str:
    if row.kind == "container":  # a folded module has many weights: its params column says it
        return ""
    shape = row.param_shapes.get("weight")
    if shape is None and row.param_shapes:
        shape = next(iter(row.param_shapes.values()))
    return format_shape(shape) if shape is not None else ""


class Column(NamedTuple):
    title: str
    cell: Callable[[Row], str]
    numeric: bool = False
    exact: Callable[[Row], Any] | None = None  # CSV's value, where it differs from the cell


class Extras(NamedTuple):
    """Columns and totals lines an option adds to the summary (``net --train``'s kept memory)."""

    columns: Sequence[Column] = ()
    totals: Sequence[tuple[str, str]] = ()


NO_EXTRAS = Extras()


COLUMNS = (
    Column("name", lambda row: row.key),  # a module's second call reads name#2
    Column("type", lambda row: row.type),
    Column("input", lambda row: format_shape(row.input_shape)),
    Column("output", lambda row: format_shape(row.output_shape)),
    Column("weight", _weight),
    Column("params", lambda row: _count(row.params), numeric=True),
    Column("MACs", lambda row: _count(row.macs), numeric=True),
    Column("memory", lambda row: format_bytes(row.output_bytes), numeric=True),
    Column("receptive field", lambda row: format_receptive_field(row.receptive_field)),
)


STAT_TITLES = ("min", "max", "mean", "std")


def columns(stats: Mapping[str, Any] | None, extras: Extras = NO_EXTRAS) -> list[Column]:
    """The summary's columns, plus ``extras``' and activation statistics after a run."""
    if not stats:
        return [*COLUMNS, *extras.columns]
    def stat(index: int) -> Callable[[Row], str]:
        def cell(row: Row) -> str:
            found = stats.get(row.key)
            value = None if found is None else found[index]
            return "-" if value is None else f"{value:.4g}"
        return cell
    return [*COLUMNS, *extras.columns, *(Column(title, stat(i), numeric=True) for i, title in enumerate(STAT_TITLES))]


def summary_cells(summary: Summary, stats: Mapping[str, Any] | None = None, extras: Extras = NO_EXTRAS) -> list[list[str]]:
    """One list of cells per row, in ``columns(stats, extras)`` order; names indented by module depth."""
    rows = []
    chosen = columns(stats, extras)
    for row in summary.rows:
        cells = [column.cell(row) for column in chosen]
        cells[0] = "  " * max(row.depth - 1, 0) + cells[0]
        rows.append(cells)
    return rows


def totals_lines(totals: Totals, dtype: str) -> list[tuple[str, str]]:
    """``(label, value)`` pairs for the totals block."""
    untrainable = totals.params - totals.trainable_params
    return [
        ("params", f"{totals.params:,}" + (f" ({totals.trainable_params:,} trainable)" if untrainable else "")),
        ("buffers", f"{totals.buffers:,}"),
        ("MACs", _count(totals.macs)),
        ("FLOPs", _count(totals.flops)),
        (f"input size ({dtype})", format_bytes(totals.input_bytes)),
        ("activations", format_bytes(totals.activation_bytes)),
        ("params memory", format_bytes(totals.param_bytes)),  # as JSON's param_bytes: buffers apart
        ("buffers memory", format_bytes(totals.buffer_bytes)),
        ("peak inference memory", format_bytes(totals.peak_memory_bytes)),
    ]


def plain_text(summary: Summary, stats: Mapping[str, Any] | None = None, extras: Extras = NO_EXTRAS) -> str:
    """A fixed-width text table, totals and notes: what a pipe gets (fast for huge specs)."""
    chosen = columns(stats, extras)
    titles = [column.title for column in chosen]
    rows = summary_cells(summary, stats, extras)
    widths = [max([len(t), *(len(r[i]) for r in rows)]) for i, t in enumerate(titles)]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(width) if column.numeric else cell.ljust(width)
            for cell, width, column in zip(cells, widths, chosen)
        ).rstrip()

    out = [line(titles), "  ".join("-" * w for w in widths), *(line(r) for r in rows), ""]
    out.append(f"input {format_shape(summary.input_shape)} → output {format_shape(summary.output_shape)}")
    lines = [*totals_lines(summary.totals, summary.dtype), *extras.totals]
    label_width = max(len(label) for label, _ in lines)
    out += [f"{label.ljust(label_width)}  {value}" for label, value in lines]
    out += [f"note: {note}" for note in summary.notes]
    return "\n".join(out) + "\n"


def csv_text(summary: Summary, stats: Mapping[str, Any] | None = None, extras: Extras = NO_EXTRAS) -> str:
    """CSV with exact numbers (no thousands separators), for spreadsheets and papers; after a
    run, each layer's activation statistics too."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    stat_titles = list(STAT_TITLES) if stats else []
    extra_titles = [column.title.replace(" ", "_") for column in extras.columns]
    writer.writerow(["name", "type", "input_shape", "output_shape", "weight_shape", "params", "macs",
                     "flops", "output_bytes", "receptive_field", *extra_titles, *stat_titles])
    for row in summary.rows:
        found = stats.get(row.key) if stats else None
        row_stats = [] if not stats else ["" if found is None else repr(found[i]) for i in range(len(STAT_TITLES))]
        writer.writerow([row.key, row.type, format_shape(row.input_shape), format_shape(row.output_shape),
                         _weight(row), row.params, _blank(row.macs), _blank(row.flops),
                         _blank(row.output_bytes), format_receptive_field(row.receptive_field),
                         *(_blank((column.exact or column.cell)(row)) for column in extras.columns), *row_stats])
    totals = summary.totals
    writer.writerow(["total", "", format_shape(summary.input_shape), format_shape(summary.output_shape), "",
                     totals.params, _blank(totals.macs), _blank(totals.flops), _blank(totals.activation_bytes), "",
                     *([""] * (len(extra_titles) + len(stat_titles)))])
    return buffer.getvalue()


def _blank(value: int | None) -> str | int:
    return "" if value is None else value


def markdown_text(summary: Summary, stats: Mapping[str, Any] | None = None, extras: Extras = NO_EXTRAS) -> str:
    """A GitHub-flavoured Markdown table plus the totals, for issues and papers."""
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    chosen = columns(stats, extras)
    out = [line([c.title for c in chosen]),
           "|" + "|".join("---:" if c.numeric else "---" for c in chosen) + "|"]
    out += [line([f"`{cells[0].strip()}`", *cells[1:]]) for cells in summary_cells(summary, stats, extras)]
    out += ["", f"Input {format_shape(summary.input_shape)} → output {format_shape(summary.output_shape)}.", ""]
    out += [f"- {label}: {value}" for label, value in [*totals_lines(summary.totals, summary.dtype), *extras.totals]]
    return "\n".join(out) + "\n"
