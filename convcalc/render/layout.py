"""Which columns of a table fit a terminal's width, in which form; which cells of a grid fit.

Numbers, shapes and names are never wrapped or cut: when a table is wider than the terminal,
it gives up detail in a fixed order instead. Each column may have a compact form (``1×64×56×56``
for ``[1, 64, 56, 56]``, ``4.09 G`` for ``4,089,184,256``) taken at a given step, and may be left
out at a given step; the first step at which the table fits wins. A grid too wide for the
terminal shows its first and last entries around an ellipsis, as many as fit.

One rule picks among forms everywhere (tables, totals, grids): :func:`first_that_fits`, the
first form no wider than the terminal, else the leanest, whose lines then run past the edge
rather than lose characters. :class:`FirstThatFits` applies it to Rich renderables, measured at
ROOMY columns (the widest any output is drawn).

Pure functions of cell widths; Rich is imported only when a FirstThatFits is drawn.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence, TypeVar

from . import ROOMY

Form = TypeVar("Form")


def first_that_fits(forms: Sequence[Form], width_of: Callable[[Form], int], width: int | None) -> Form:
    """The first of ``forms`` (fullest first, leanest last) whose ``width_of`` is within
    ``width`` (None: no limit); the leanest when none is.

    >>> first_that_fits(["wide table", "lean", "x"], len, 5), first_that_fits(["wide table", "lean"], len, 2)
    ('lean', 'lean')
    >>> first_that_fits(["wide table", "lean"], len, None)
    'wide table'
    """
    for form in forms:
        if width is None or width_of(form) <= width:
            return form
    return forms[-1]


class FirstThatFits:
    """A Rich renderable drawing the first of its forms that fits the width it is given
    (:func:`first_that_fits`); where none does, the leanest is drawn whole, its lines running
    past the edge (the console prints with ``crop=False``) rather than cut with an ellipsis.

    >>> import io
    >>> from rich.console import Console
    >>> console = Console(width=12, file=io.StringIO(), record=True)
    >>> console.print(FirstThatFits("a wide form", "lean"), FirstThatFits("much too wide"), crop=False)
    >>> console.export_text()
    'a wide form\\nmuch too wide\\n'
    """

    def __init__(self, *forms: Any, measure: str = "maximum") -> None:
        self.forms = forms
        self.measure = measure  # "minimum" for forms that wrap their words: the narrowest they draw whole

    def _widths(self, console: Any, options: Any, form: Any) -> Any:
        from rich.measure import Measurement

        return Measurement.get(console, options.update(max_width=ROOMY), form)  # unclamped

    def __rich_console__(self, console: Any, options: Any) -> Any:
        chosen = first_that_fits(self.forms, lambda form: getattr(self._widths(console, options, form), self.measure),
                                 options.max_width)
        needed = self._needed(console, options, chosen)
        if needed > options.max_width:
            yield from console.render(chosen, options.update(width=needed))
        else:
            yield chosen

    def _needed(self, console: Any, options: Any, form: Any) -> int:
        """The width ``form`` takes with no cell cut: a table's full width, a paragraph's longest
        word (it wraps), a group's widest part."""
        from rich.console import Group
        from rich.text import Text

        if isinstance(form, Group):
            return max((self._needed(console, options, part) for part in form.renderables), default=0)
        measured = self._widths(console, options, form)
        return measured.minimum if isinstance(form, Text) else getattr(measured, self.measure)

    def __rich_measure__(self, console: Any, options: Any) -> Any:
        from rich.measure import Measurement

        return Measurement(self._needed(console, options, self.forms[-1]),
                           self._widths(console, options, self.forms[0]).maximum)


@functools.lru_cache(maxsize=4096)  # cells repeat ("3×3 (jump 1)"): long tables measure each once
def text_width(text: str) -> int:
    """Terminal cells ``text`` takes (wide East Asian characters take two).

    >>> text_width("1×64×56×56"), text_width("層")
    (10, 2)
    """
    if text.isascii():  # nearly every cell: no per-character look-up (3000-layer tables)
        return len(text)
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def aligned_lines(rows: Sequence[Sequence[str]], right: Sequence[bool] = ()) -> list[str]:
    """Plain-text rows in columns two spaces apart, those marked in ``right`` right-aligned
    (numbers), each line without trailing blanks.

    >>> aligned_lines([["name", "MACs"], ["conv1", "118,013,952"]], right=[False, True])
    ['name          MACs', 'conv1  118,013,952']
    """
    widths = [max(text_width(row[i]) for row in rows) for i in range(len(rows[0]))]

    def padded(cell: str, width: int, to_right: bool) -> str:
        blank = " " * (width - text_width(cell))
        return blank + cell if to_right else cell + blank

    flags = [*right, *[False] * (len(widths) - len(right))]
    return ["  ".join(padded(cell, width, to_right) for cell, width, to_right in zip(row, widths, flags)).rstrip()
            for row in rows]


@dataclass(frozen=True)
class ColumnFit:
    """A column as the layout sees it: its widths (title included) and when it gives way.

    ``compact`` is the width of its compact form, taken from step ``compact_at`` on; the column
    is left out from step ``drop_at`` on. None: never.
    """

    title: str
    full: int
    compact: int | None = None
    compact_at: int | None = None
    drop_at: int | None = None

    @classmethod
    def measured(cls, title: str, full: Iterable[str], compact: Iterable[str] | None = None,
                 compact_at: int | None = None, drop_at: int | None = None) -> "ColumnFit":
        """Widths measured from the cells, the title counted as one more cell.

        >>> ColumnFit.measured("MACs", ["118,013,952", "0"], ["118 M", "0"], compact_at=5).compact
        5
        """
        def widest(cells: Iterable[str]) -> int:
            return max([text_width(title), *(text_width(cell) for cell in cells)])

        return cls(title, widest(full), None if compact is None else widest(compact), compact_at, drop_at)


@dataclass(frozen=True)
class Layout:
    """The columns shown (indices, in order), those in compact form, and the table's width."""

    shown: tuple[int, ...]
    compact: frozenset[int]
    width: int

    def left_out(self, columns: Sequence[ColumnFit]) -> list[str]:
        return [column.title for i, column in enumerate(columns) if i not in self.shown]

    def rounded(self, columns: Sequence[ColumnFit], lossless: Iterable[str] = ()) -> list[str]:
        """Titles of the shown columns in compact form, but for those whose compact form loses nothing."""
        kept = set(lossless)
        return [columns[i].title for i in self.shown if i in self.compact and columns[i].title not in kept]


def choose_layout(columns: Sequence[ColumnFit], width: int | None, gap: int) -> Layout:
    """The fullest layout no wider than ``width`` (None: no limit), columns ``gap`` apart.

    Steps are taken in order, each keeping the ones before; past the last, the leanest layout
    is returned even if it is still too wide.

    >>> cols = [ColumnFit("name", 20), ColumnFit("shape", 17, 11, compact_at=0), ColumnFit("rf", 14, drop_at=1)]
    >>> [choose_layout(cols, width, 2).width for width in (80, 50, 40)]
    [55, 49, 33]
    >>> lean = choose_layout(cols, 30, 2); lean.shown, lean.compact, lean.left_out(cols)
    ((0, 1), frozenset({1}), ['rf'])
    """
    steps = sorted({step for column in columns for step in (column.compact_at, column.drop_at) if step is not None})
    layouts = [_layout_at(columns, step, gap) for step in (None, *steps)]
    return first_that_fits(layouts, lambda layout: layout.width, width)


def _layout_at(columns: Sequence[ColumnFit], step: int | None, gap: int) -> Layout:
    def reached(at: int | None) -> bool:
        return at is not None and step is not None and at <= step

    shown = tuple(i for i, column in enumerate(columns) if not reached(column.drop_at))
    compact = frozenset(i for i in shown if reached(columns[i].compact_at) and columns[i].compact is not None)
    widths = [columns[i].compact if i in compact else columns[i].full for i in shown]
    return Layout(shown, compact, sum(widths) + gap * max(len(widths) - 1, 0))  # type: ignore[arg-type]


def entries_that_fit(count: int, width_of: Callable[[list[int | None]], int], width: int | None,
                     start: list[int | None] | None = None) -> list[int | None]:
    """The entries of an axis to draw (None for the ellipsis between first and last ones):
    ``start`` (every entry by default) when ``width_of`` it is within ``width``, else the most
    first and last entries that fit, at least one of each.

    >>> entries_that_fit(10, lambda shown: 4 * len(shown), 80)
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    >>> entries_that_fit(10, lambda shown: 4 * len(shown), 22)
    [0, 1, None, 8, 9]
    >>> entries_that_fit(10, lambda shown: 4 * len(shown), 3)
    [0, None, 9]
    >>> entries_that_fit(100, lambda shown: 4 * len(shown), 300, start=[0, 1, None, 98, 99])
    [0, 1, None, 98, 99]
    >>> entries_that_fit(100, lambda shown: 4 * len(shown), 20, start=[0, 1, 2, None, 97, 98, 99])
    [0, 1, None, 98, 99]
    """
    shown = list(range(count)) if start is None else start
    if width is None or count <= 2 or width_of(shown) <= width:
        return shown
    most = shown.index(None) if None in shown else (count - 1) // 2  # never more than ``start`` drew
    keep = 1
    while keep < most and width_of(_edges(count, keep + 1)) <= width:
        keep += 1
    return _edges(count, keep)


def _edges(count: int, keep: int) -> list[int | None]:
    return [*range(keep), None, *range(count - keep, count)]
