"""Numbers as people say them: counts with a decimal prefix (``4.09 G``, three significant
digits), as papers and model cards quote MACs and parameters."""

from __future__ import annotations

_PREFIXES = ("k", "M", "G", "T", "P", "E")


def human_count(count: int) -> str:
    """``count`` to three significant digits with a decimal prefix; under 1000 it is exact.

    >>> human_count(4_089_184_256), human_count(25_557_032), human_count(470_400), human_count(608)
    ('4.09 G', '25.6 M', '470 k', '608')
    >>> human_count(999_960), human_count(-1_500)
    ('1.00 M', '-1.50 k')
    """
    if abs(count) < 1000:
        return str(count)
    value, power = float(count), 0
    while power < len(_PREFIXES):
        value /= 1000
        power += 1
        decimals = 2 if abs(value) < 10 else 1 if abs(value) < 100 else 0
        shown = f"{value:.{decimals}f}"
        if abs(float(shown)) < 1000 or power == len(_PREFIXES):  # 999.96 k rounds to 1.00 M
            return f"{shown} {_PREFIXES[power - 1]}"
    raise AssertionError("unreachable")
