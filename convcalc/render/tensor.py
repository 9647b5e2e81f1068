"""Rich renderables for tensors: values in grids on a diverging colour scale, or heatmaps.

Only the CLI's forward-pass terminal path imports this module (it imports rich and numpy).
Nothing here prints; :func:`render_tensor` returns a renderable that lays itself out for the
width of whatever Console prints it.

- Values are formatted as torch prints them: one format for the whole tensor (``1.`` for
  whole numbers, fixed with ``precision`` decimals, or scientific when magnitudes differ by
  more than 1000×), right-aligned to a common width.
- Tensors of more than ``max_items`` elements (torch's threshold, 1000) are summarised:
  every dim longer than 2·``edge_items`` shows its first and last ``edge_items`` entries with
  ``…`` (columns), ``⋮`` (rows) or a ``⋮`` line (leading dims) between them. Columns that
  don't fit the width are elided the same way.
- A 2-D tensor is one grid; a 3-D or larger one is a grid per 2-D slice, labelled with its
  leading indices (``[0, 1]`` is ``t[0, 1, :, :]``), one line of grids per leading index
  but the last (per batch element, or per output channel of a weight).
- Colour: values on a diverging scale centred at 0, blue for negative and red for positive,
  intensity ``|v| / max|v|`` over the whole tensor; NaN magenta. Without colour the numbers
  carry everything.
- Heatmap mode draws each 2-D slice as a picture, two pixel rows per terminal row with
  ``▀`` (upper pixel as foreground, lower as background), on the same colour scale, shrunk
  by an integer factor (block mean) to fit the width. Without colour it draws one character
  per pixel from the ramp ``" .:-=+*#%@"`` (min to max of the tensor), NaN as ``?``.
"""

from __future__ import annotations

import itertools
import math
from typing import Any, Iterable, Literal, Sequence

import numpy as np
from rich.console import Console, ConsoleOptions, Group, RenderResult
from rich.measure import Measurement
from rich.style import Style
from rich.text import Text

from ..errors import ParseError
from .layout import entries_that_fit
from ..shapes import format_shape
from ..tensors.arrays import array_stats, tensor_to_json

__all__ = ["render_tensor", "render_tensors", "TensorView", "NumberFormat", "tensor_to_json"]

MAX_ITEMS = 1000  # torch's print threshold
EDGE_ITEMS = 3  # torch's edgeitems
RAMP = " .:-=+*#%@"
NAN_CHAR = "?"
HALF_BLOCK = "▀"

NEGATIVE_RGB = (45, 110, 255)
POSITIVE_RGB = (240, 45, 40)
TEXT_ZERO_RGB = (150, 150, 150)  # zero-valued numbers stay readable on light and dark terminals
PIXEL_ZERO_RGB = (0, 0, 0)
NAN_RGB = (230, 0, 230)

CELL_GAP = 1  # spaces between numbers in a grid
BLOCK_GAP = 3  # spaces between grids side by side

Mode = Literal["grid", "heatmap"]


def render_tensor(
    name: str,
    array: Any,
    precision: int = 4,
    max_items: int = MAX_ITEMS,
    mode: Mode = "grid",
    *,
    color: bool | None = None,
    edge_items: int = EDGE_ITEMS,
    dim_names: Sequence[str] | None = None,
    stats: bool = True,
    sci_mode: bool | None = None,
) -> "TensorView":
    """A renderable showing ``array`` under a title with ``name``, its shape and dtype.

    ``color``: True or False forces colour on or off; None asks the Console at render time
    (no colour when it has no colour system or NO_COLOR is set). ``dim_names`` (e.g.
    ``("out", "in/groups", "kH", "kW")``) are shown beside the shape; ``stats`` adds a line
    with min, max, mean and std. ``sci_mode`` forces scientific notation on or off, as
    ``torch.set_printoptions(sci_mode=...)`` does; None lets the values decide.

    >>> from io import StringIO
    >>> console = Console(file=StringIO(), width=60, color_system=None)
    >>> console.print(render_tensor("bias", np.array([0.5, -1.25]), stats=False))
    >>> print(console.file.getvalue(), end="")
    bias  [2]  float64
     0.5000 -1.2500
    """
    if mode not in ("grid", "heatmap"):
        raise ParseError(f"display mode {mode!r} is not one of: grid, heatmap")
    return TensorView(
        name, np.asarray(array), precision, max_items, edge_items, mode, color, dim_names, stats, sci_mode
    )


def render_tensors(named: Iterable[tuple[str, Any]], **options: Any) -> Group:
    """Several tensors one below the other with a blank line between (input, weight, bias, output)."""
    views: list[Any] = []
    for name, array in named:
        if views:
            views.append(Text(""))
        views.append(render_tensor(name, array, **options))
    return Group(*views)


class NumberFormat:
    """One format for all the values shown, chosen as torch's printer chooses it.

    >>> NumberFormat(np.array([1.0, -2.0]), 4)(3.0), NumberFormat(np.array([0.5, 2.0]), 4)(1 / 3)
    ('3.', '0.3333')
    >>> NumberFormat(np.array([1e-5, 2.0]), 4)(2.0)
    '2.0000e+00'
    """

    def __init__(self, values: np.ndarray, precision: int, sci_mode: bool | None = None):
        self.precision = precision
        kind = values.dtype.kind
        if kind == "b":
            self.mode = "bool"
        elif kind in "iu":
            self.mode = "int"
        else:
            flat = values.astype(np.float64, copy=False).ravel()
            finite = flat[np.isfinite(flat)]
            magnitudes = np.abs(finite[finite != 0])
            whole = bool(np.all(finite == np.round(finite)))
            if magnitudes.size == 0:
                self.mode = "whole"
            else:
                low, high = float(magnitudes.min()), float(magnitudes.max())
                spread = high / low > 1000 or high > 1e8
                if whole:
                    self.mode = "sci" if spread else "whole"
                else:
                    self.mode = "sci" if spread or low < 1e-4 else "fixed"
            if sci_mode is not None:
                self.mode = "sci" if sci_mode else ("whole" if whole else "fixed")
        self.width = max((len(self(v)) for v in values.ravel()), default=1)

    def __call__(self, value: Any) -> str:
        if self.mode == "bool":
            return str(bool(value))
        if self.mode == "int":
            return str(int(value))
        number = float(value)
        if math.isnan(number):
            return "nan"
        if math.isinf(number):
            return "inf" if number > 0 else "-inf"
        if self.mode == "whole":
            return f"{number:.0f}."
        if self.mode == "sci":
            return f"{number:.{self.precision}e}"
        return f"{number:.{self.precision}f}"


def _edges(size: int, edge: int) -> list[int | None]:
    """Indices shown along a dim of ``size``: all, or the first and last ``edge`` with a gap (None)."""
    if size <= 2 * edge:
        return list(range(size))
    return [*range(edge), None, *range(size - edge, size)]


def _rgb_blend(zero: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    end = POSITIVE_RGB if t > 0 else NEGATIVE_RGB
    a = min(abs(t), 1.0)
    return tuple(round(z + (e - z) * a) for z, e in zip(zero, end))  # type: ignore[return-value]


class _Styles:
    """Rich styles by colour, cached: a heatmap reuses few of them many times."""

    def __init__(self) -> None:
        self._cache: dict[tuple, Style] = {}

    def get(self, fg: tuple[int, int, int] | None, bg: tuple[int, int, int] | None = None) -> Style:
        key = (fg, bg)
        style = self._cache.get(key)
        if style is None:
            style = Style(
                color=f"rgb({fg[0]},{fg[1]},{fg[2]})" if fg else None,
                bgcolor=f"rgb({bg[0]},{bg[1]},{bg[2]})" if bg else None,
            )
            self._cache[key] = style
        return style


class TensorView:
    """A tensor laid out for the width it is rendered at (see the module docstring)."""

    def __init__(
        self,
        name: str,
        array: np.ndarray,
        precision: int,
        max_items: int,
        edge_items: int,
        mode: Mode,
        color: bool | None,
        dim_names: Sequence[str] | None,
        stats: bool,
        sci_mode: bool | None = None,
    ):
        self.name = name
        self.array = array
        self.precision = max(0, int(precision))
        self.mode = mode
        self.color = color
        self.dim_names = tuple(dim_names) if dim_names else ()
        self.show_stats = stats
        self.edge_items = max(1, int(edge_items))
        self.summarised = array.size > max_items
        self.shown = [
            _edges(n, self.edge_items) if self.summarised else list(range(n)) for n in array.shape
        ]
        shown_index = np.ix_(*[[i for i in idx if i is not None] for idx in self.shown])
        shown_values = array[shown_index] if array.ndim else array
        self.format = NumberFormat(shown_values, self.precision, sci_mode)
        finite = array_stats(array)
        self.stats = finite
        self.max_abs = max(abs(finite.min or 0.0), abs(finite.max or 0.0)) if array.dtype.kind != "b" else 1.0
        self.styles = _Styles()

    # -- rich protocol ----------------------------------------------------------------------

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from self.lines(options.max_width, self._use_colour(console))

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        width = max(line.cell_len for line in self.lines(options.max_width, self._use_colour(console)))
        return Measurement(min(width, 20), width)

    def _use_colour(self, console: Console) -> bool:
        if self.color is not None:
            return self.color
        return console.color_system is not None and not console.no_color

    # -- layout -------------------------------------------------------------------------

    def lines(self, width: int, colour: bool) -> list[Text]:
        """Every line of the rendering at ``width`` columns."""
        width = max(int(width), 8)
        out = [self._title()]
        if self.show_stats:
            out.append(self._stats_line())
        if self.mode == "heatmap" and self.array.ndim >= 1 and self.array.dtype.kind != "b":
            out += self._heatmap_body(width, colour)
        else:
            out += self._grid_body(width, colour)
        for line in out:
            line.no_wrap = True
            line.overflow = "crop"
        return out

    def _title(self) -> Text:
        title = Text.assemble((self.name, "bold"), "  ", format_shape(self.array.shape))
        if self.dim_names and len(self.dim_names) == self.array.ndim:
            title.append("  " + " × ".join(self.dim_names), style="dim")
        title.append(f"  {self.array.dtype}", style="dim")
        return title

    def _stats_line(self) -> Text:
        s = self.stats
        p = max(self.precision, 1)
        parts = []
        if s.min is not None:
            parts += [f"{label} {value:.{p}g}" for label, value in zip(("min", "max", "mean", "std"), s[:4])]
        if s.nan:
            parts.append(f"NaN {s.nan}")
        if s.inf:
            parts.append(f"Inf {s.inf}")
        return Text("  ".join(parts), style="dim")

    def _slices(self) -> tuple[list[tuple[int, ...] | None], list[int | None]]:
        """Leading-index groups (one line of blocks each; None for a gap) and the last leading dim."""
        leading = self.shown[:-2]
        if not leading:
            return [()], []
        outer = [tuple(c) if None not in c else None for c in _product_with_gaps(leading[:-1])]
        return outer, leading[-1]

    def _grid_body(self, width: int, colour: bool) -> list[Text]:
        a = self.array
        if a.ndim == 0:
            return [self._cells([a[()]], colour)]
        if a.ndim == 1:
            return self._wrapped_vector(width, colour)
        groups, inner = self._slices()
        rows_shown = self.shown[-2]
        cols_shown = self._fit_columns(self.shown[-1], a.shape[-1], width)

        def block(prefix: tuple[int, ...]) -> list[Text]:
            plane = a[prefix]
            return [self._grid_row(plane, r, cols_shown, colour) for r in rows_shown]

        return self._arrange(groups, inner, block, width)

    def _arrange(self, groups: list, inner: list, block: Any, width: int) -> list[Text]:
        """Lay out one line of blocks per group (wrapping at ``width``), labels above blocks."""
        if self.array.ndim <= 2:
            return block(())
        out: list[Text] = []
        for group in groups:
            if out:
                out.append(Text(""))
            if group is None:
                out.append(Text("⋮", style="dim"))
                continue
            blocks: list[list[Text] | None] = []
            for index in inner:
                if index is None:
                    blocks.append(None)
                    continue
                prefix = group + (index,)
                blocks.append([Text(format_shape(prefix), style="dim"), *block(prefix)])
            out += _flow(blocks, width)
        return out

    def _fit_columns(self, shown: list[int | None], size: int, width: int) -> list[int | None]:
        """Elide middle columns too when the grid would be wider than ``width`` (render.layout)."""
        def grid_width(columns: list[int | None]) -> int:
            cells = sum(1 if column is None else self.format.width for column in columns)
            return cells + CELL_GAP * (len(columns) - 1)

        return entries_that_fit(size, grid_width, width, start=shown)

    def _wrapped_vector(self, width: int, colour: bool) -> list[Text]:
        cell = self.format.width + CELL_GAP
        per_line = max(1, (width + CELL_GAP) // cell)
        shown = self.shown[0]
        return [
            self._grid_row(self.array[None, :], 0, shown[start : start + per_line], colour)
            for start in range(0, len(shown), per_line)
        ]

    def _grid_row(self, plane: np.ndarray, row: int | None, cols: list[int | None], colour: bool) -> Text:
        width = self.format.width
        line = Text()
        for n, col in enumerate(cols):
            if n:
                line.append(" " * CELL_GAP)
            if row is None:
                line.append(("" if col is None else "⋮").rjust(1 if col is None else width), style="dim")
            elif col is None:
                line.append("…", style="dim")
            else:
                value = plane[row, col]
                style = self._value_style(value) if colour else None
                line.append(self.format(value).rjust(width), style=style)
        return line

    def _cells(self, values: Sequence[Any], colour: bool) -> Text:
        line = Text()
        for n, value in enumerate(values):
            if n:
                line.append(" " * CELL_GAP)
            style = self._value_style(value) if colour else None
            line.append(self.format(value).rjust(self.format.width), style=style)
        return line

    def _value_style(self, value: Any) -> Style:
        number = float(value)
        if math.isnan(number):
            return self.styles.get(NAN_RGB)
        if not math.isfinite(number):
            t = math.copysign(1, number)
        else:
            t = number / self.max_abs if self.max_abs else 0.0
        return self.styles.get(_rgb_blend(TEXT_ZERO_RGB, t))

    # -- heatmap ------------------------------------------------------------------------

    def _heatmap_body(self, width: int, colour: bool) -> list[Text]:
        a = self.array
        if a.ndim == 1:
            a = a[None, :]
        groups, inner = self._slices()
        breadth = a.shape[-1]
        factor = max(1, math.ceil(breadth / width))
        # A tall plane is shrunk more along its height: at most HEATMAP_ROWS rows of pixels.
        vertical = max(factor, math.ceil(a.shape[-2] / HEATMAP_ROWS))

        def block(prefix: tuple[int, ...]) -> list[Text]:
            return self._picture(_shrink(a[prefix], factor, vertical), colour)

        out = self._arrange(groups, inner, block, width)
        if vertical > 1:
            size = f"1/{factor}" if vertical == factor else f"1/{vertical} × 1/{factor}"
            out.append(Text(f"shown at {size} size (mean of {vertical}×{factor} blocks)", style="dim"))
        out.append(self._legend(colour))
        return out

    def _picture(self, plane: np.ndarray, colour: bool) -> list[Text]:
        if not colour:
            return [Text("".join(self._ramp_char(v) for v in row)) for row in plane]
        pixels = self._pixel_rgb(plane)
        lines = []
        for top in range(0, plane.shape[0], 2):
            upper = [tuple(p) for p in pixels[top].tolist()]
            lower = [tuple(p) for p in pixels[top + 1].tolist()] if top + 1 < plane.shape[0] else None
            line = Text(HALF_BLOCK * plane.shape[1])
            start = 0
            # One span per run of equal colours: far fewer than one per character.
            for x in range(1, plane.shape[1] + 1):
                same = x < plane.shape[1] and upper[x] == upper[start]
                if same and (lower is None or lower[x] == lower[start]):
                    continue
                line.stylize(self.styles.get(upper[start], lower[start] if lower else None), start, x)
                start = x
            lines.append(line)
        return lines

    def _pixel_rgb(self, plane: np.ndarray) -> np.ndarray:
        """H×W×3 ints on the diverging scale from black at 0."""
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.clip(plane / self.max_abs, -1.0, 1.0) if self.max_abs else np.sign(plane)
        nan = np.isnan(t)
        t = np.where(nan, 0.0, t)
        zero = np.array(PIXEL_ZERO_RGB, dtype=np.float64)
        ends = np.where((t > 0)[..., None], np.array(POSITIVE_RGB), np.array(NEGATIVE_RGB))
        pixels = np.rint(zero + (ends - zero) * np.abs(t)[..., None]).astype(int)
        pixels[nan] = NAN_RGB
        return pixels

    def _ramp_char(self, value: float) -> str:
        if math.isnan(value):
            return NAN_CHAR
        low, high = self.stats.min, self.stats.max
        if low is None or high is None:
            return RAMP[-1] if value > 0 else RAMP[0]
        if high == low:
            t = 0.5
        else:
            t = min(max((value - low) / (high - low), 0.0), 1.0)
        return RAMP[round(t * (len(RAMP) - 1))]

    def _legend(self, colour: bool) -> Text:
        p = max(self.precision, 1)
        if not colour:
            low = self.stats.min if self.stats.min is not None else 0.0
            high = self.stats.max if self.stats.max is not None else 0.0
            return Text(f"scale {RAMP!r} from {low:.{p}g} to {high:.{p}g}", style="dim")
        m = self.max_abs
        legend = Text(f"scale {-m:.{p}g} ", style="dim")
        steps = 21
        for i in range(steps):
            t = -1 + 2 * i / (steps - 1)
            legend.append("█", style=self.styles.get(_rgb_blend(PIXEL_ZERO_RGB, t)))
        legend.append(f" {m:.{p}g}", style="dim")
        return legend


def _product_with_gaps(dims: list[list[int | None]]) -> list[tuple[int | None, ...]]:
    """Index tuples over leading dims in order; a gap (None) in any dim yields one gap entry."""
    result: list[tuple[int | None, ...]] = []
    for combo in itertools.product(*dims):
        if None in combo:
            if not result or None not in result[-1]:
                result.append(combo)
        else:
            result.append(combo)
    return result


HEATMAP_ROWS = 256


def _shrink(plane: np.ndarray, factor: int, vertical: int | None = None) -> np.ndarray:
    """Float64 block means over vertical×factor cells (fewer rows if the plane is shorter); the
    ragged edge is dropped. The means are summed in float64 as they are read: no float64 copy
    of the whole plane (an 8000×8000 one took 512 MB)."""
    vertical = factor if vertical is None else vertical
    if factor == 1 and vertical == 1:
        return np.asarray(plane, dtype=np.float64)
    rows = min(vertical, plane.shape[0])
    height, breadth = plane.shape[0] // rows, plane.shape[1] // factor
    cropped = plane[: height * rows, : breadth * factor]
    with np.errstate(invalid="ignore", over="ignore"):
        return cropped.reshape(height, rows, breadth, factor).mean(axis=(1, 3), dtype=np.float64)


def _flow(blocks: list[list[Text] | None], width: int) -> list[Text]:
    """Place blocks side by side, top-aligned, starting a new row of blocks when one won't fit.

    A gap (None, elided slices) is a ``…`` beside its neighbours when the next block fits on
    the same row after it, else a ``⋮`` line of its own.
    """
    gap_block = [Text(""), Text("…", style="dim")]
    out: list[Text] = []
    row: list[list[Text]] = []
    used = 0

    def flush() -> None:
        nonlocal row, used
        if row:
            out.extend(_join(row))
            out.append(Text(""))
        row, used = [], 0

    for n, lines in enumerate(blocks):
        if lines is None:
            following = blocks[n + 1] if n + 1 < len(blocks) else None
            after = _block_width(following) + BLOCK_GAP if following else 0
            if row and used + 2 * BLOCK_GAP + 1 + after <= width:
                used += BLOCK_GAP + 1
                row.append(gap_block)
            else:
                flush()
                out += [Text("⋮", style="dim"), Text("")]
            continue
        block_width = _block_width(lines)
        if row and used + BLOCK_GAP + block_width > width:
            flush()
        used += (BLOCK_GAP if row else 0) + block_width
        row.append(lines)
    flush()
    if out and not out[-1].plain:
        out.pop()
    return out


def _block_width(lines: list[Text]) -> int:
    return max((line.cell_len for line in lines), default=0)


def _join(blocks: list[list[Text]]) -> list[Text]:
    widths = [_block_width(lines) for lines in blocks]
    height = max(len(lines) for lines in blocks)
    joined = []
    for y in range(height):
        line = Text()
        for n, (lines, block_width) in enumerate(zip(blocks, widths)):
            if n:
                line.append(" " * BLOCK_GAP)
            piece = lines[y] if y < len(lines) else Text("")
            line.append_text(piece)
            if n < len(blocks) - 1:
                line.append(" " * (block_width - piece.cell_len))
        line.rstrip()
        joined.append(line)
    return joined
