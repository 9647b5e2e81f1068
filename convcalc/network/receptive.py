"""Receptive fields: how much of the input one output position sees, axis by axis, and how far
apart neighbouring outputs are in input positions.

A tensor's receptive field is a tuple with one :class:`ReceptiveField` per trailing spatial
axis; ``()`` before any spatial layer (every position sees itself); ``None`` once spatial
structure is gone (flattened, reshaped).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, NamedTuple, Sequence, Union

from ..arith import ConvRule, FixedRule, PadRule, ScaleRule, TransposedRule, UnpoolRule
from ..layers.base import Layer, Shape

Rational = Union[int, Fraction]


class ReceptiveField(NamedTuple):
    """One spatial axis: how many input positions an output position sees (``size``) and how
    far apart, in input positions, neighbouring outputs are (``jump``, the effective stride).

    Both are exact: an int when whole, a :class:`~fractions.Fraction` otherwise; after
    upsampling or a transposed conv the jump is a fraction (1/2: two outputs per input).

    >>> ReceptiveField(7, 2).to_json()
    {'size': 7, 'jump': 2}
    >>> ReceptiveField(Fraction(5, 2), Fraction(1, 2)).to_json()
    {'size': '5/2', 'jump': '1/2'}
    """

    size: Rational
    jump: Rational

    def to_json(self) -> dict[str, int | str]:
        return {"size": rational_json(self.size), "jump": rational_json(self.jump)}

    def __str__(self) -> str:
        return f"{self.size} (jump {self.jump})"


def format_receptive_field(field: Sequence[ReceptiveField] | None) -> str:
    """One cell of text: ``"11×11 (jump 4)"``, per axis where the axes differ, ``"-"`` for none.

    >>> format_receptive_field((ReceptiveField(11, 4), ReceptiveField(11, 4)))
    '11×11 (jump 4)'
    >>> format_receptive_field((ReceptiveField(3, 1), ReceptiveField(Fraction(5, 2), Fraction(1, 2))))
    '3×5/2 (jump 1×1/2)'
    """
    if not field:
        return "-"
    sizes = "×".join(str(axis.size) for axis in field)
    jumps = {axis.jump for axis in field}
    jump = str(field[0].jump) if len(jumps) == 1 else "×".join(str(axis.jump) for axis in field)
    return f"{sizes} (jump {jump})"


def rational_json(value: Rational) -> int | str:
    """An int when whole, else ``"p/q"``.

    >>> rational_json(3), rational_json(Fraction(1, 2))
    (3, '1/2')
    """
    if type(value) is int:
        return value
    return int(value) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _exact(value: Rational) -> Rational:
    """Fractions that are whole become ints (cheaper to compute with, plainer to show)."""
    if type(value) is not int and value.denominator == 1:
        return int(value)
    return value


def _divide(value: Rational, by: Rational) -> Rational:
    return _exact(Fraction(value) / by)


# The receptive field of a tensor (see the module doc).
RF = tuple  # tuple[ReceptiveField, ...]

_ONE = ReceptiveField(1, 1)


def rf_through(
    layer: Layer, rules: list[tuple[str, Any]], rf: RF | None, in_shape: Shape, out_shape: Shape
) -> RF | None:
    """Distill's recurrence (Araujo et al., "Computing Receptive Fields of CNNs", 2019):
    ``r_out = r_in + (k_eff − 1)·j_in`` and ``j_out = j_in·s``; for a transposed conv (stride
    s) the grid is first refined, ``j_out = j_in/s``, then ``r_out = r_in + (k_eff − 1)·j_out``."""
    if rf is None:
        return None
    if not rules:
        if len(in_shape) != len(out_shape):
            return None
        if rf and tuple(in_shape[-len(rf) :]) != tuple(out_shape[-len(rf) :]):
            return None
        return rf
    n = len(rules)
    if len(in_shape) < n or len(out_shape) != len(in_shape):
        return None
    if rf == ():
        rf = (_ONE,) * n
    if len(rf) != n:
        return None
    result = []
    for (_, rule), axis, size_in, size_out in zip(rules, rf, in_shape[-n:], out_shape[-n:]):
        step = _rf_step(layer, rule, axis, size_in, size_out)
        if step is None:
            return None
        result.append(step)
    return tuple(result)


def _rf_step(
    layer: Layer, rule: Any, axis: ReceptiveField, size_in: int, size_out: int
) -> ReceptiveField | None:
    r, j = axis
    if isinstance(rule, ConvRule):
        return ReceptiveField(_exact(r + (rule.effective_kernel - 1) * j), _exact(j * rule.stride))
    if isinstance(rule, TransposedRule):
        jump = _divide(j, rule.stride)
        return ReceptiveField(_exact(r + (rule.dilation * (rule.kernel - 1)) * jump), jump)
    if isinstance(rule, UnpoolRule):
        if rule.stride < 1:  # torch lets a 1-d/2-d unpool have stride 0: every input on one window
            return None
        jump = _divide(j, rule.stride)
        return ReceptiveField(_exact(r + (rule.kernel - 1) * jump), jump)
    if isinstance(rule, ScaleRule):
        scale = Fraction(float(rule.scale)).limit_denominator(1_000_000)
        if scale <= 0:
            return None
        return ReceptiveField(_exact(r + _interpolation_taps(layer) * j), _divide(j, scale))
    if isinstance(rule, FixedRule):
        if size_out < 1:
            return None
        jump = _exact(j * Fraction(size_in, size_out))
        if getattr(layer, "family", "") == "pooling":
            window = _adaptive_window(size_in, size_out)
            return ReceptiveField(_exact(r + (window - 1) * j), jump)
        return ReceptiveField(_exact(r + _interpolation_taps(layer) * j), jump)
    if isinstance(rule, PadRule):
        return axis  # explicit padding moves the grid, it does not widen the field
    return None


def _interpolation_taps(layer: Layer) -> int:
    """Extra input positions (beyond one) an interpolated output reads."""
    mode = str(getattr(layer, "mode", "nearest"))
    if "cubic" in mode:
        return 3
    if "linear" in mode:
        return 1
    return 0


def _adaptive_window(size: int, out: int) -> int:
    """The largest window of adaptive pooling from ``size`` to ``out``."""
    if size % out == 0:
        return size // out
    if out > 4096:
        return -(-size // out) + 1
    return max(-(-((i + 1) * size) // out) - (i * size) // out for i in range(out))


def rf_max(main: RF | None, branch: RF | None) -> RF | None:
    if main is None or branch is None:
        return None
    if main == ():
        main, branch = branch, main
    if branch == ():
        branch = (_ONE,) * len(main)
    if len(main) != len(branch):
        return None
    return tuple(ReceptiveField(max(a.size, b.size), a.jump) for a, b in zip(main, branch))

