"""The network summary as rows of text cells: one definition of the columns for every output.

The Rich table, the plain-text table, CSV and Markdown all take their columns from here.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Callable, Mapping, NamedTuple, Sequence

from ..network.receptive import format_receptive_field
from ..network.summary import Row, Summary
from ..shapes import compact_shape, format_bytes, format_shape
from ..units import cell_bytes, cell_count, count_text
from .layout import ColumnFit, Layout, aligned_lines, choose_layout, text_width
from .totals import shapes_line, total_pairs


def _weight_shape(row: Row) -> tuple[int, ...] | None:
    if row.kind == "container":  # a folded module has many weights: its params column says it
        return None
    shape = row.param_shapes.get("weight")
    if shape is None and row.param_shapes:
        shape = next(iter(row.param_shapes.values()))
    return shape


def _weight(row: Row) -> str:
    shape = _weight_shape(row)
    return format_shape(shape) if shape is not None else ""


def _compact_weight(row: Row) -> str:
    shape = _weight_shape(row)
    return compact_shape(shape) if shape is not None else ""


class Column(NamedTuple):
    """A column of the summary: its cell, and on a narrow terminal its compact cell (from
    layout step ``compact_at`` on) and the step from which it is left out (render.layout)."""

    title: str
    cell: Callable[[Row], str]
    numeric: bool = False
    exact: Callable[[Row], Any] | None = None  # CSV's value, where it differs from the cell
    compact: Callable[[Row], str] | None = None
    compact_at: int | None = None
    drop_at: int | None = None


class Extras(NamedTuple):
    """Columns and totals lines an option adds to the summary (``net --train``'s kept memory)."""

    columns: Sequence[Column] = ()
    totals: Sequence[tuple[str, str]] = ()


NO_EXTRAS = Extras()


# The order in which a table too wide for the terminal gives up detail (render.layout).
(SHAPES_COMPACT, RECEPTIVE_OUT, WEIGHT_OUT, MEMORY_OUT, MIN_MAX_OUT, COUNTS_COMPACT, INPUT_OUT, STD_OUT,
 TYPE_OUT, KEPT_OUT) = range(10)
LOSSLESS = ("input", "output", "weight")  # their compact form (1×64×56×56) says all the full one does

COLUMNS = (
    Column("name", lambda row: row.key),  # a module's second call reads name#2
    Column("type", lambda row: row.type, drop_at=TYPE_OUT),
    Column("input", lambda row: format_shape(row.input_shape), compact=lambda row: compact_shape(row.input_shape),
           compact_at=SHAPES_COMPACT, drop_at=INPUT_OUT),
    Column("output", lambda row: format_shape(row.output_shape),
           compact=lambda row: compact_shape(row.output_shape), compact_at=SHAPES_COMPACT),
    Column("weight", _weight, compact=_compact_weight, compact_at=SHAPES_COMPACT, drop_at=WEIGHT_OUT),
    Column("params", lambda row: count_text(row.params, "exact"), numeric=True,
           compact=lambda row: count_text(row.params, "human"), compact_at=COUNTS_COMPACT),
    Column("MACs", lambda row: count_text(row.macs, "exact"), numeric=True,
           compact=lambda row: count_text(row.macs, "human"), compact_at=COUNTS_COMPACT),
    Column("memory", lambda row: format_bytes(row.output_bytes), numeric=True, drop_at=MEMORY_OUT),
    Column("receptive field", lambda row: format_receptive_field(row.receptive_field), drop_at=RECEPTIVE_OUT),
)


STAT_TITLES = ("min", "max", "mean", "std")
_STAT_DROP = {"min": MIN_MAX_OUT, "max": MIN_MAX_OUT, "std": STD_OUT}
_UNIT_FIELDS = {"params": ("params", cell_count), "MACs": ("macs", cell_count), "memory": ("output_bytes", cell_bytes)}


def _in_units(column: Column, units: str) -> Column:
    """``column`` with its counts and sizes in ``units`` (``--units human``: 118 k, 18.4 KiB);
    ``exact`` never rounds, not even on a narrow terminal (other columns give way first, then
    lines run long)."""
    field = _UNIT_FIELDS.get(column.title)
    if field is None or units == "both":
        return column
    attribute, form = field
    rounds = {} if units != "exact" else {"compact": None, "compact_at": None}
    return column._replace(cell=lambda row: form(getattr(row, attribute), units), **rounds)


def columns(stats: Mapping[str, Any] | None, extras: Extras = NO_EXTRAS, units: str = "both") -> list[Column]:
    """The summary's columns (counts and sizes in ``units``), plus ``extras``' and activation
    statistics after a run.

    >>> [column.title for column in columns(None)][:4], [column.title for column in columns({"0": None})][-4:]
    (['name', 'type', 'input', 'output'], ['min', 'max', 'mean', 'std'])
    """
    shown = [_in_units(column, units) for column in COLUMNS]
    if not stats:
        return [*shown, *extras.columns]
    def stat(index: int) -> Callable[[Row], str]:
        def cell(row: Row) -> str:
            found = stats.get(row.key)
            value = None if found is None else found[index]
            return "-" if value is None else f"{value:.4g}"
        return cell
    return [*shown, *extras.columns, *(Column(title, stat(i), numeric=True, drop_at=_STAT_DROP.get(title))
                                       for i, title in enumerate(STAT_TITLES))]


def summary_cells(summary: Summary, stats: Mapping[str, Any] | None = None, extras: Extras = NO_EXTRAS,
                  units: str = "both") -> list[list[str]]:
    """One list of cells per row, in ``columns(stats, extras, units)`` order; names indented by module depth.

    >>> from convcalc.network import parse_network
    >>> summary_cells(parse_network("input 1x3x8x8\\nconv2d --out 4 -k 3").summary(), units="human")[0][:7]
    ['0', 'Conv2d', '[1, 3, 8, 8]', '[1, 4, 6, 6]', '[4, 3, 3, 3]', '112', '3.89 k']
    """
    rows = []
    chosen = columns(stats, extras, units)
    for row in summary.rows:
        cells = [column.cell(row) for column in chosen]
        cells[0] = _indent(row) + cells[0]
        rows.append(cells)
    return rows


def _indent(row: Row) -> str:
    return "  " * max(row.depth - 1, 0)


class FittedTable(NamedTuple):
    """The summary's table as it fits a width: its columns, cells, and a note on what it left out."""

    columns: list[Column]
    rows: list[list[str]]
    note: str | None
    width: int  # the table's, gaps included: over the width asked for when even the leanest layout is wider


def fitted_table(summary: Summary, stats: Mapping[str, Any] | None, width: int | None, gap: int,
                 extras: Extras = NO_EXTRAS, units: str = "both") -> FittedTable:
    """The columns and cells that fit ``width`` (None: all, in full), ``gap`` apart: shapes
    compact first, then optional columns left out, then counts rounded (render.layout).
    ``extras``' columns give way as they declare.

    >>> from convcalc.network import parse_network
    >>> fitted = fitted_table(parse_network("input 1x3x224x224\\nconv2d --out 64 -k 7").summary(), None, 60, 2)
    >>> [column.title for column in fitted.columns], fitted.rows[0][2]
    (['name', 'type', 'input', 'output', 'params', 'MACs'], '1×3×224×224')
    >>> fitted.note
    '3 columns left out to fit 60 columns: see --wide'
    """
    chosen = columns(stats, extras, units)
    full = summary_cells(summary, stats, extras, units)
    compact = [[(column.compact or column.cell)(row) for column in chosen] for row in summary.rows]
    for cells, row in zip(compact, summary.rows):
        cells[0] = _indent(row) + cells[0]
    fits = [ColumnFit.measured(column.title, [cells[i] for cells in full],
                               [cells[i] for cells in compact] if column.compact else None,
                               column.compact_at, column.drop_at) for i, column in enumerate(chosen)]
    layout = choose_layout(fits, width, gap)
    rows = [[(compact_cells if i in layout.compact else full_cells)[i] for i in layout.shown]
            for full_cells, compact_cells in zip(full, compact)]
    return FittedTable([chosen[i] for i in layout.shown], rows, _fit_note(layout, fits, width), layout.width)


def _fit_note(layout: Layout, fits: list[ColumnFit], width: int | None) -> str | None:
    """One line on what was left out or rounded and how to see it: the most said that fits ``width``."""
    left_out, rounded = layout.left_out(fits), layout.rounded(fits, LOSSLESS)
    if width is None or not (left_out or rounded):
        return None
    rounding = [" and ".join(rounded) + " rounded"] if rounded else []
    named = ", ".join([*([f"{', '.join(left_out)} left out"] if left_out else []), *rounding])
    counted = ", ".join([*([f"{len(left_out)} column{'s' * (len(left_out) > 1)} left out"] if left_out else []),
                         *rounding])
    notes = [f"{named} to fit {width} columns: --wide shows all, as do a pipe and --json",
             f"{named} to fit {width} columns: see --wide", f"{counted} to fit {width} columns: see --wide"]
    return next((note for note in notes if len(note) + len("note: ") <= width), notes[-1])


def plain_text(summary: Summary, stats: Mapping[str, Any] | None = None, extras: Extras = NO_EXTRAS,
               units: str = "both") -> str:
    """A fixed-width text table, totals and notes: what a pipe gets (fast for huge specs).

    >>> from convcalc.network import parse_network
    >>> print(plain_text(parse_network("input 1x3x8x8\\nconv2d --out 4 -k 3").summary()).splitlines()[2])
    0     Conv2d  [1, 3, 8, 8]  [1, 4, 6, 6]  [4, 3, 3, 3]     112  3,888   576 B  3×3 (jump 1)
    """
    chosen = columns(stats, extras, units)
    titles = [column.title for column in chosen]
    rows = summary_cells(summary, stats, extras, units)
    widths = [max([text_width(t), *(text_width(r[i]) for r in rows)]) for i, t in enumerate(titles)]
    dashes = ["-" * width for width in widths]
    out = [*aligned_lines([titles, dashes, *rows], [column.numeric for column in chosen]), ""]
    out.append(shapes_line(summary))
    lines = [*total_pairs(summary.totals, summary.dtype, units, summary.count), *extras.totals]
    label_width = max(len(label) for label, _ in lines)
    out += [f"{label.ljust(label_width)}  {value}" for label, value in lines]
    out += [f"note: {note}" for note in summary.notes]
    return "\n".join(out) + "\n"


def csv_text(summary: Summary, stats: Mapping[str, Any] | None = None, extras: Extras = NO_EXTRAS) -> str:
    """CSV with exact numbers (no thousands separators), for spreadsheets and papers; after a
    run, each layer's activation statistics too.

    >>> from convcalc.network import parse_network
    >>> print(csv_text(parse_network("input 1x3x8x8\\nconv2d --out 4 -k 3").summary()).splitlines()[1])
    0,Conv2d,"[1, 3, 8, 8]","[1, 4, 6, 6]","[4, 3, 3, 3]",112,3888,7920,576,3×3 (jump 1)
    """
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


def markdown_text(summary: Summary, stats: Mapping[str, Any] | None = None, extras: Extras = NO_EXTRAS,
                  units: str = "both") -> str:
    """A GitHub-flavoured Markdown table plus the totals, for issues and papers.

    >>> from convcalc.network import parse_network
    >>> print(markdown_text(parse_network("input 1x3x8x8\\nconv2d --out 4 -k 3").summary()).splitlines()[2])
    | `0` | Conv2d | [1, 3, 8, 8] | [1, 4, 6, 6] | [4, 3, 3, 3] | 112 | 3,888 | 576 B | 3×3 (jump 1) |
    """
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    chosen = columns(stats, extras, units)
    out = [line([c.title for c in chosen]),
           "|" + "|".join("---:" if c.numeric else "---" for c in chosen) + "|"]
    out += [line([f"`{cells[0].strip()}`", *cells[1:]]) for cells in summary_cells(summary, stats, extras, units)]
    out += ["", f"{shapes_line(summary).capitalize()}.", ""]
    totals = [*total_pairs(summary.totals, summary.dtype, units, summary.count), *extras.totals]
    out += [f"- {label}: {value}" for label, value in totals]
    return "\n".join(out) + "\n"
