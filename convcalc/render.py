"""Rich renderables for the CLI. Only the CLI's terminal path imports this module (and rich)."""

from __future__ import annotations

from rich import box
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from .report import LayerReport
from .shapes import format_shape


def human_bytes(count: int) -> str:
    """``25,088 B (24.5 KiB)``: exact bytes, then a binary-prefixed size.

    >>> human_bytes(25088)
    '25,088 B (24.5 KiB)'
    """
    value, unit = float(count), "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            break
        value /= 1024
    return f"{count:,} B" if unit == "B" else f"{count:,} B ({value:.1f} {unit})"


def render_layer(report: LayerReport) -> RenderableType:
    """The single-layer panel: shapes, formulas, parameters and counts."""
    layer = report.layer
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column()
    if report.input_shape is not None:
        grid.add_row("input", format_shape(report.input_shape))
        grid.add_row("output", Text(format_shape(report.output_shape), style="bold green"))
    for line in report.formulas:
        grid.add_row(line.name, line.right_side())
    names = layer.param_dim_names()
    for key, shape in report.param_shapes.items():
        dims = " × ".join(names.get(key, ()))
        grid.add_row(key, Text(format_shape(shape)) + Text(f"  {dims}" if dims else "", style="dim"))
    grid.add_row("params", f"{layer.num_params():,}")
    for key, shape in report.buffer_shapes.items():
        grid.add_row(key, Text(format_shape(shape)) + Text("  buffer", style="dim"))
    if report.buffer_shapes:
        grid.add_row("buffers", f"{layer.num_buffers():,}")
    if report.macs is not None:
        grid.add_row("MACs", f"{report.macs:,}")
        grid.add_row("FLOPs", f"{report.flops:,}")
        grid.add_row("memory", f"{human_bytes(report.output_bytes or 0)} output at {report.dtype}")
    parts: list[RenderableType] = [Text(repr(layer), style="bold"), grid]
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


def render_layer_list(rows: list[tuple[str, str, str, str]]) -> RenderableType:
    """``convcalc layers``: command, torch class, family and summary of every layer."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False)
    for title in ("command", "torch.nn", "family", "what it is"):
        table.add_column(title, no_wrap=title != "what it is")
    for row in rows:
        table.add_row(*row)
    return table
