"""Receptive fields: how much of the input one output position sees, axis by axis, and how far
apart neighbouring outputs are in input positions.

A tensor's receptive field is a tuple with one :class:`ReceptiveField` per trailing spatial
axis; ``()`` before any spatial layer (every position sees itself); ``None`` once spatial
structure is gone (flattened, reshaped).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any, NamedTuple, Sequence, Union

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


# The receptive field of a tensor (see the module doc).
RF = tuple  # tuple[ReceptiveField, ...]

_ONE = ReceptiveField(1, 1)


def rf_through(
    layer: Layer, rules: list[tuple[str, Any]], rf: RF | None, in_shape: Shape, out_shape: Shape
) -> RF | None:
    """The receptive field after ``layer``, whose size rules are ``rules``. Each rule carries
    its axis (``receptive_step``): a window of ``k_eff`` taps widens the field by ``k_eff − 1``
    input jumps and multiplies the jump by its stride; a transposed conv first divides the jump
    by its stride, then widens the field by its taps at that finer jump. A layer without rules
    keeps the field where it keeps the trailing dims."""
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
        step = rule.receptive_step(axis.size, axis.jump, size_in, size_out, layer.receptive_taps)
        if step is None:
            return None
        result.append(ReceptiveField(*step))
    return tuple(result)


def rf_max(main: RF | None, branch: RF | None) -> RF | None:
    """The field after adding two tensors: per axis the wider of the two (jumps agree, shapes do)."""
    if main is None or branch is None:
        return None
    if main == ():
        main, branch = branch, main
    if branch == ():
        branch = (_ONE,) * len(main)
    if len(main) != len(branch):
        return None
    return tuple(ReceptiveField(max(a.size, b.size), a.jump) for a, b in zip(main, branch))

