"""``convcalc show``: the frames of a sliding window, as plain data for a renderer to draw.

In the spirit of the conv_arithmetic animations: one channel's input grid with its padding
cells, the kernel's taps for the first few output positions (dilation's holes between them),
and the output grid those positions fill. A transposed conv is drawn as the equivalent direct
convolution over its zero-inserted input (stride−1 zeros between input cells, dilation·(k−1)−p
padding each side, output_padding more on the far side), which is how the animations show it.

Each spatial dim is an :class:`Axis` (cells the window slides over, kernel, dilation, step),
built from the layer's own size rule (``layer.rules()``), so the drawing and the shape agree.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

from ..arith import ConvRule, TransposedRule
from ..errors import ConfigError, ShapeError

MAX_CELLS = 16  # per dim of a drawn grid: two characters a cell keeps two grids within 80 columns
DEFAULT_FRAMES = 3
MAX_FRAMES = 32  # a grid pair per frame: more is a scroll, not a picture

# Cell kinds of the input grid and of the output grid.
INPUT, PAD, ZERO, BEYOND, TAP, TAP_PAD, HOLE = "input", "pad", "zero", "beyond", "tap", "tap_pad", "hole"
TODO, DONE, CURRENT = "todo", "done", "current"


class Cells(Sequence[str]):
    """A dim's grid cells, INPUT, PAD, ZERO or BEYOND, each computed from its index: only the
    drawn ones are ever looked at, so a grid of 10**9 cells costs what one of 9 does (it was
    built as a tuple: 15 GB and minutes).

    >>> cells = Cells([(PAD, 1), (INPUT, 3), (PAD, 1)])
    >>> len(cells), cells[0], cells[2], PAD in cells, ZERO in cells, cells == ("pad", "input", "input", "input", "pad")
    (5, 'pad', 'input', True, False, True)
    """

    def __init__(self, runs: Sequence[tuple[str, int]], stride: int = 1, offset: int = 0) -> None:
        # runs of one kind; an INPUT run with ``stride`` > 1 holds an input cell at every
        # stride-th place (from ``offset``) and inserted zeros between them
        self.runs = [(kind, count) for kind, count in runs if count > 0]
        self.stride, self.offset = stride, offset
        self.length = sum(count for _, count in self.runs)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return tuple(self[i] for i in range(*index.indices(self.length)))
        if index < 0:
            index += self.length
        if not 0 <= index < self.length:
            raise IndexError(index)
        for kind, count in self.runs:
            if index < count:
                if kind == INPUT and (index + self.offset) % self.stride:
                    return ZERO
                return kind
            index -= count
        raise IndexError(index)  # pragma: no cover - the runs add up to the length

    def __contains__(self, kind: object) -> bool:
        return kind in self._kinds()

    def _kinds(self) -> set[str]:
        kinds = set()
        for kind, count in self.runs:
            if kind != INPUT or self.stride == 1:
                kinds.add(kind)
                continue
            # places offset .. offset+count−1 of the zero-inserted row: input cells at multiples of stride
            first, last = self.offset, self.offset + count - 1
            inputs = last // self.stride - (first - 1) // self.stride
            kinds |= ({INPUT} if inputs else set()) | ({ZERO} if inputs < count else set())
        return kinds

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (Cells, tuple, list)):
            return len(other) == self.length and tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))


class Axis(NamedTuple):
    """One spatial dim as the window sees it."""

    cells: Cells  # INPUT, PAD, ZERO or BEYOND per grid cell
    kernel: int
    dilation: int
    step: int  # how far the window moves per output position, in grid cells
    out_size: int

    @property
    def reach(self) -> int:
        return self.dilation * (self.kernel - 1) + 1

    def taps(self, position: int) -> range:
        start = position * self.step
        return range(start, start + self.reach, self.dilation)


class Frame(NamedTuple):
    """One output position: the input grid with its taps, and the output grid so far."""

    position: tuple[int, ...]  # in output coordinates, one per drawn dim
    grid: tuple[tuple[str, ...], ...]  # rows of input-grid cell kinds (cropped)
    output: tuple[tuple[str, ...], ...]  # rows of output cell kinds (cropped)


class Drawing(NamedTuple):
    """Everything ``show`` draws: a title, the frames, and notes (cropping, zero insertion)."""

    title: str
    input_size: tuple[int, ...]
    output_size: tuple[int, ...]
    frames: tuple[Frame, ...]
    grid_origin: tuple[int, int]  # first drawn (row, column) of the padded grid
    output_origin: tuple[int, int]
    notes: tuple[str, ...]


def conv_axis(rule: ConvRule, size: int) -> Axis:
    """A convolution's or pool's dim: padding, the input, padding (and any ceil-mode overhang)."""
    out = rule.out(size)
    # ceil_mode lets the last window hang past the right padding; torch ignores those cells.
    overhang = (out - 1) * rule.stride + rule.effective_kernel - (rule.pad_left + size + rule.pad_right)
    cells = Cells([(PAD, rule.pad_left), (INPUT, size), (PAD, rule.pad_right), (BEYOND, max(0, overhang))])
    return Axis(cells, rule.kernel, rule.dilation, rule.stride, out)


def transposed_axis(rule: TransposedRule, size: int) -> Axis:
    """A transposed conv's dim as a stride-1 conv over the zero-inserted, padded input."""
    inserted = (size - 1) * rule.stride + 1  # an input cell every stride-th place, zeros between
    edge = rule.dilation * (rule.kernel - 1) - rule.padding
    left, right = edge, edge + rule.output_padding
    # Padding beyond the kernel's reach makes the edge negative: the equivalent conv crops.
    kept = max(0, inserted - max(-left, 0) - max(-right, 0))
    cells = Cells([(PAD, max(left, 0)), (INPUT, kept), (PAD, max(right, 0))], rule.stride, max(-left, 0))
    axis = Axis(cells, rule.kernel, rule.dilation, 1, rule.out(size))
    if cells.length - axis.reach + 1 != axis.out_size:  # pragma: no cover - a bug, not bad input
        raise AssertionError(f"zero-inserted grid of {cells.length} cells does not give {axis.out_size}")
    return axis


def check_drawable(cls: type) -> None:
    """ConfigError unless ``cls`` slides a window (``Layer.window``) over 1 or 2 spatial dims.

    Other layers have size rules too (padding, adaptive pools, unpooling) but no window.
    """
    if not cls.window or cls.nd not in (1, 2):
        raise ConfigError(
            f"show draws 1-d and 2-d convolutions, transposed convolutions and sliding pools "
            f"(max, average, power-average); {cls.__name__} is not one"
        )


def layer_axes(layer: Any, input_shape: Sequence[int]) -> tuple[Axis, ...]:
    """The layer's spatial dims as axes; ConfigError for layers without a sliding window."""
    check_drawable(type(layer))
    rules = layer.rules
    layer.output_shape(input_shape)  # the layer's own checks first: wrong channels, too small, ...
    sizes = tuple(input_shape[-layer.nd:])
    axes = []
    for rule, size in zip(rules(), sizes):
        axes.append(transposed_axis(rule, size) if isinstance(rule, TransposedRule) else conv_axis(rule, size))
    return tuple(axes)


def _flat_row() -> Axis:
    """The row axis of a 1-d layer: one row the window always covers."""
    return Axis(Cells([(INPUT, 1)]), 1, 1, 1, 1)


def _window(total: int, wanted: Sequence[int]) -> int:
    """First index of a MAX_CELLS-long crop of ``total`` cells that shows the ``wanted`` ones."""
    if total <= MAX_CELLS:
        return 0
    start = max(0, min(wanted))
    return min(start, total - MAX_CELLS)


def draw(
    layer: Any, input_shape: Sequence[int], at: Sequence[int] | None = None, frames: int = DEFAULT_FRAMES
) -> Drawing:
    """The frames for output positions ``at``, ``at``+1, ... (row-major) of one channel.

    >>> from convcalc import Conv2d
    >>> drawing = draw(Conv2d(1, 1, 3, stride=2, padding=1), (1, 5, 5))
    >>> drawing.output_size, len(drawing.frames), drawing.frames[0].grid[0][:3]
    ((3, 3), 3, ('tap_pad', 'tap_pad', 'tap_pad'))
    """
    axes = layer_axes(layer, input_shape)
    if len(axes) == 1:
        axes = (_flat_row(), axes[0])
    rows, cols = axes
    sizes = tuple(input_shape[-layer.nd:])
    out_sizes = tuple(axis.out_size for axis in axes[-layer.nd:])
    if not 1 <= frames <= MAX_FRAMES:
        raise ConfigError(f"--frames must be 1 to {MAX_FRAMES}, got {frames}")
    start = _start_position(at, out_sizes, layer.nd)
    first = start[0] * cols.out_size + start[1]
    positions = [divmod(index, cols.out_size) for index in range(first, min(first + frames, rows.out_size * cols.out_size))]

    row_taps = [rows.taps(r) for r, _ in positions]
    col_taps = [cols.taps(c) for _, c in positions]
    grid_origin = (_window(rows.cells.length, [taps[0] for taps in row_taps]),
                   _window(cols.cells.length, [taps[0] for taps in col_taps]))
    output_origin = (_window(rows.out_size, [r for r, _ in positions]), _window(cols.out_size, [c for _, c in positions]))
    shown_rows = range(grid_origin[0], min(rows.cells.length, grid_origin[0] + MAX_CELLS))
    shown_cols = range(grid_origin[1], min(cols.cells.length, grid_origin[1] + MAX_CELLS))
    out_rows = range(output_origin[0], min(rows.out_size, output_origin[0] + MAX_CELLS))
    out_cols = range(output_origin[1], min(cols.out_size, output_origin[1] + MAX_CELLS))

    drawn = [
        Frame((r, c)[-layer.nd:], _input_frame(rows, cols, taps_r, taps_c, shown_rows, shown_cols),
              _output_frame(r * cols.out_size + c, cols.out_size, out_rows, out_cols))
        for (r, c), taps_r, taps_c in zip(positions, row_taps, col_taps)
    ]
    notes = []
    if any(ZERO in axis.cells for axis in axes):
        notes.append("transposed conv drawn as a stride-1 conv over the zero-inserted input "
                     "(z: inserted zeros between input cells, p: dilation·(k−1)−padding cells each side)")
    if len(shown_rows) < rows.cells.length or len(shown_cols) < cols.cells.length:
        notes.append(_crop_note("input grid (with padding)", (rows.cells.length, cols.cells.length),
                                shown_rows, shown_cols, layer.nd))
    if len(out_rows) < rows.out_size or len(out_cols) < cols.out_size:
        notes.append(_crop_note("output", (rows.out_size, cols.out_size), out_rows, out_cols, layer.nd))
    title = f"{layer!r}\ninput {'×'.join(map(str, sizes))} → output {'×'.join(map(str, out_sizes))}, one channel shown"
    return Drawing(title, sizes, out_sizes, tuple(drawn), grid_origin, output_origin, tuple(notes))


def _input_frame(
    rows: Any, cols: Any, taps_r: Sequence[int], taps_c: Sequence[int], shown_rows: range, shown_cols: range
) -> tuple[tuple[str, ...], ...]:
    """The shown input cells for one output position: its taps, the holes between them, the rest."""
    span_r = range(taps_r[0], taps_r[-1] + 1)
    span_c = range(taps_c[0], taps_c[-1] + 1)
    grid = []
    for i in shown_rows:
        line = []
        for j in shown_cols:
            base = _base_kind(rows.cells[i], cols.cells[j])
            if i in taps_r and j in taps_c:
                line.append(TAP if base == INPUT else TAP_PAD)
            elif i in span_r and j in span_c:
                line.append(HOLE)
            else:
                line.append(base)
        grid.append(tuple(line))
    return tuple(grid)


def _output_frame(index: int, width: int, out_rows: range, out_cols: range) -> tuple[tuple[str, ...], ...]:
    """The shown output cells: the one being computed (row-major ``index``), those done, the rest."""
    return tuple(
        tuple(CURRENT if i * width + j == index else DONE if i * width + j < index else TODO for j in out_cols)
        for i in out_rows
    )


def _base_kind(row_kind: str, col_kind: str) -> str:
    for kind in (BEYOND, PAD):
        if kind in (row_kind, col_kind):
            return kind
    if ZERO in (row_kind, col_kind):
        return ZERO
    return INPUT


def _start_position(at: Sequence[int] | None, out_sizes: tuple[int, ...], nd: int) -> tuple[int, int]:
    if at is None:
        return (0, 0)
    at = tuple(at)
    if len(at) != nd:
        raise ShapeError(f"--at needs {nd} value{'s' if nd > 1 else ''} (an output position), got {len(at)}")
    for axis, (value, size) in enumerate(zip(at, out_sizes)):
        if not 0 <= value < size:
            raise ShapeError(
                f"--at {'x'.join(map(str, at))} is outside the output {'×'.join(map(str, out_sizes))} "
                f"in spatial dim {axis}; use 0..{size - 1}"
            )
    return (0, at[0]) if nd == 1 else (at[0], at[1])


def _crop_note(what: str, total: tuple[int, int], rows: range, cols: range, nd: int) -> str:
    if nd == 1:
        return f"{what} cropped: cells {cols.start}–{cols.stop - 1} of {total[1]} shown"
    return (f"{what} cropped: rows {rows.start}–{rows.stop - 1} and columns {cols.start}–{cols.stop - 1} "
            f"of {total[0]}×{total[1]} shown")
