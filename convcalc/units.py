"""Numbers as people say them: exact counts with thousands separators, counts with a decimal
prefix (``4.09 G``, three significant digits), and bytes with a binary one (``24.5 KiB``).

``--units`` picks the form: ``both`` (the default: ``4,089,184,256 (4.09 G)``), ``exact`` or
``human``. Counts take decimal prefixes (k, M, G, T, P, E) as papers and model cards quote MACs and
parameters; bytes always take binary ones (KiB, MiB, GiB, TiB), as memory is sized.
"""

from __future__ import annotations

from .shapes import format_bytes, prefixed

UNITS = ("both", "exact", "human")
UNITS_HELP = "Numbers as exact, human (4.09 G, 24.5 KiB) or both side by side"

_PREFIXES = ("k", "M", "G", "T", "P", "E")


def human_count(count: int) -> str:
    """``count`` to three significant digits with a decimal prefix; under 1000 it is exact.

    >>> human_count(4_089_184_256), human_count(25_557_032), human_count(470_400), human_count(608)
    ('4.09 G', '25.6 M', '470 k', '608')
    >>> human_count(999_960), human_count(-1_500)
    ('1.00 M', '-1.50 k')
    >>> human_count(9_996), human_count(99_960), human_count(9_999_999)   # rounded, then prefixed
    ('10.0 k', '100 k', '10.0 M')
    """
    value, prefix = prefixed(count, 1000, ("", *_PREFIXES), lambda scaled: float(f"{scaled:.3g}"))
    if not prefix:
        return str(count)
    digits = 2 if abs(value) < 10 else 1 if abs(value) < 100 else 0
    return f"{value:.{digits}f} {prefix}"


def count_text(count: int | None, units: str = "both") -> str:
    """A count in the chosen form; ``-`` when unknown. Both forms read ``exact (human)``, and a
    count under 1000 is written once.

    >>> count_text(4_089_184_256), count_text(4_089_184_256, "human"), count_text(608), count_text(None)
    ('4,089,184,256 (4.09 G)', '4.09 G', '608', '-')
    """
    if count is None:
        return "-"
    exact, human = f"{count:,}", human_count(count)
    if units == "exact" or human == str(count):
        return exact
    return human if units == "human" else f"{exact} ({human})"


def bytes_text(count: int | None, units: str = "both") -> str:
    """A size in bytes in the chosen form; ``-`` when unknown.

    >>> bytes_text(25088), bytes_text(25088, "exact"), bytes_text(25088, "human"), bytes_text(512)
    ('25,088 B (24.5 KiB)', '25,088 B', '24.5 KiB', '512 B')
    """
    if count is None:
        return "-"
    exact, human = f"{count:,} B", format_bytes(count)
    if units == "exact" or human.endswith(" B"):
        return exact
    return human if units == "human" else f"{exact} ({human})"


def cell_count(count: int | None, units: str = "both") -> str:
    """A count in a table cell, where both forms side by side would be too wide: human only for
    ``human``, else exact.

    >>> cell_count(117_600), cell_count(117_600, "human"), cell_count(None)
    ('117,600', '118 k', '-')
    """
    return count_text(count, "human" if units == "human" else "exact")


def cell_bytes(count: int | None, units: str = "both") -> str:
    """A size in a table cell: exact bytes for ``exact``, else binary-prefixed.

    >>> cell_bytes(18_816), cell_bytes(18_816, "exact")
    ('18.4 KiB', '18,816 B')
    """
    return bytes_text(count, "exact" if units == "exact" else "human")
