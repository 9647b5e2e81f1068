"""Totals as people say them (``4,089,184,256 (4.09 G)``), the totals-only view of ``net
--totals``, and the table of a network at several input sizes (one column set per size).

Plain-text functions return strings (what a pipe gets); ``render_*`` return Rich renderables and
import Rich only when called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from ..shapes import compact_shape, format_shape
from ..units import bytes_text, count_text
from .layout import FirstThatFits

if TYPE_CHECKING:
    from ..network.summary import Summary, Totals


def total_pairs(totals: "Totals", dtype: str, units: str = "both", count: str = "convcalc") -> list[tuple[str, str]]:
    """``(label, value)`` pairs of the totals block, counts and sizes in ``units``; the MACs
    label names a counting convention other than convcalc's own.

    >>> from convcalc.network import parse_network
    >>> pairs = dict(total_pairs(parse_network("Conv2d(3, 64, 7)").summary((1, 3, 224, 224)).totals, "float32"))
    >>> pairs["MACs"], pairs["params"]
    ('447,105,792 (447 M)', '9,472 (9.47 k)')
    """
    untrainable = totals.params - totals.trainable_params
    params = count_text(totals.params, units)
    if untrainable:
        params += f", {count_text(totals.trainable_params, units)} trainable"
    pairs = [
        ("params", params),
        ("buffers", count_text(totals.buffers, units)),
        ("MACs" if count == "convcalc" else f"MACs ({count})", count_text(totals.macs, units)),
        ("FLOPs", count_text(totals.flops, units)),
        (f"input size ({totals.input_dtype or dtype})", bytes_text(totals.input_bytes, units)),
        ("activations", bytes_text(totals.activation_bytes, units)),
        ("params memory", bytes_text(totals.param_bytes, units)),  # as JSON's param_bytes: buffers apart
        ("buffers memory", bytes_text(totals.buffer_bytes, units)),
        ("peak inference memory", bytes_text(totals.peak_memory_bytes, units)),
    ]
    return pairs


def output_label(summary: "Summary", shape_text: Any = format_shape) -> tuple[str, str]:
    """``("output", its shape)``, or ``("outputs", each by name)`` for a forward that returns
    several (a tuple's by position, a dict's by key).

    >>> from convcalc.network import parse_network
    >>> two = "class Net:\\n    def forward(self, x):\\n        y = self.fc(x)\\n        return y, F.softmax(y, dim=1)\\n\\nNet(\\n  (fc): Linear(4, 3)\\n)"
    >>> output_label(parse_network(two).summary((1, 4)))
    ('outputs', '0 [1, 3], 1 [1, 3]')
    """
    if len(summary.outputs) < 2:
        return "output", shape_text(summary.output_shape)
    return "outputs", ", ".join(f"{name} {shape_text(shape)}" for name, shape in summary.outputs.items())


def shapes_line(summary: "Summary") -> str:
    """``input [..] → output [..]`` (or the outputs, see ``output_label``)."""
    label, shapes = output_label(summary)
    return f"input {format_shape(summary.input_shape)} → {label} {shapes}"


def totals_text(summaries: Sequence["Summary"], units: str = "both") -> str:
    """``net --totals`` as plain text: for each input size, its shapes line and its totals.

    >>> from convcalc.network import parse_network
    >>> net = parse_network("Linear(512, 1000)")
    >>> print(totals_text([net.summary((1, 512)), net.summary((8, 512))], "human"), end="")
    input [1, 512] → output [1, 1000]
    params                 513 k
    buffers                0
    MACs                   512 k
    FLOPs                  1.02 M
    input size (float32)   2.0 KiB
    activations            3.9 KiB
    params memory          2.0 MiB
    buffers memory         0 B
    peak inference memory  5.9 KiB
    <BLANKLINE>
    input [8, 512] → output [8, 1000]
    params                 513 k
    buffers                0
    MACs                   4.10 M
    FLOPs                  8.20 M
    input size (float32)   16.0 KiB
    activations            31.2 KiB
    params memory          2.0 MiB
    buffers memory         0 B
    peak inference memory  47.2 KiB
    """
    blocks = []
    for summary in summaries:
        pairs = total_pairs(summary.totals, summary.dtype, units, summary.count)
        width = max(len(label) for label, _ in pairs)
        lines = [shapes_line(summary), *(f"{label.ljust(width)}  {value}" for label, value in pairs)]
        blocks.append("\n".join(lines) + "\n")
    notes = [f"note: {note}" for note in summaries[0].notes] if summaries else []
    return "\n".join(blocks) + "".join(f"{line}\n" for line in notes)


def rounded_units(units: str) -> str:
    """The units of a form short of room: human, but ``--units exact`` never rounds.

    >>> rounded_units("both"), rounded_units("exact")
    ('human', 'exact')
    """
    return "exact" if units == "exact" else "human"


def totals_panel(summary: "Summary", units: str = "both", extra: Sequence[tuple[str, str]] = ()) -> Any:
    """The totals panel of one input size on a terminal (and ``extra`` lines, --train's): exact and
    human side by side where they fit, human alone where not, and unboxed on the narrowest.

    >>> import io
    >>> from rich.console import Console
    >>> from convcalc.network import parse_network
    >>> panel = totals_panel(parse_network("Linear(512, 1000)").summary((1, 512)))
    >>> for width in (80, 40):
    ...     console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    ...     console.print(panel)
    ...     print(console.export_text().splitlines()[3])
    │ params                 513,000 (513 k)       │
    │ params                 513 k   │
    """
    rounded = rounded_units(units)
    return FirstThatFits(_totals_panel(summary, units, extra=extra), _totals_panel(summary, rounded, extra=extra),
                         _totals_panel(summary, rounded, boxed=False, extra=extra))


def render_totals(summaries: Sequence["Summary"], units: str = "both", notes: bool = True) -> Any:
    """``net --totals`` on a terminal: one totals panel per input size (:func:`totals_panel`), and the notes.

    >>> import io
    >>> from rich.console import Console
    >>> from convcalc.network import parse_network
    >>> net = parse_network("Linear(512, 1000)")
    >>> console = Console(width=60, file=io.StringIO(), record=True, color_system=None)
    >>> console.print(render_totals([net.summary((1, 512)), net.summary((8, 512))], "human"))
    >>> [line for line in console.export_text().splitlines() if "MACs" in line]
    ['│ MACs                   512 k   │', '│ MACs                   4.10 M   │']
    """
    from rich.console import Group
    from rich.text import Text

    parts: list[Any] = [totals_panel(summary, units) for summary in summaries]
    if notes and summaries and summaries[0].notes:
        parts.append(Text("\n".join(f"note: {note}" for note in summaries[0].notes), style="italic"))
    return Group(*parts)


def _totals_panel(summary: "Summary", units: str, boxed: bool = True, extra: Sequence[tuple[str, str]] = ()) -> Any:
    """The totals in a panel, or (``boxed`` False, for the narrowest terminals) under a title."""
    from rich.panel import Panel
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_row("input", compact_shape(summary.input_shape))
    grid.add_row(*output_label(summary, compact_shape))
    for label, value in [*total_pairs(summary.totals, summary.dtype, units, summary.count), *extra]:
        grid.add_row(label, value)
    if boxed:
        return Panel(grid, title="totals", title_align="left", expand=False)
    grid.title, grid.title_justify, grid.title_style = "totals", "left", "bold"
    return grid


def totals_json(summary: "Summary") -> dict[str, Any]:
    """``net --totals --json``: the full JSON's keys without its rows (``layers``).

    >>> from convcalc.network import parse_network
    >>> data = totals_json(parse_network("Linear(4, 2)").summary((3, 4)))
    >>> sorted(data), data["totals"]["macs"]
    (['count', 'dtype', 'input_shape', 'output_shape', 'totals'], 24)
    """
    data = summary.to_json()
    return {"input_shape": data["input_shape"], "output_shape": data["output_shape"], "dtype": data["dtype"],
            "totals": data["totals"], "count": data["count"]}
