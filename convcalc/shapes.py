"""Reading and writing the small integer tuples users type: shapes and tuple arguments.

A shape is written ``1x3x32x32``, ``1,3,32,32``, ``[1, 3, 32, 32]`` or ``(1, 3, 32, 32)``.
"""

from __future__ import annotations

import re

from .errors import ParseError

_SEPARATORS = re.compile(r"\s*[xX×,]\s*|\s+")
INT64_MAX = 2**63 - 1  # PyTorch sizes are int64
TUPLE_EXAMPLE = "3, 3x5 or 3,5"
SHAPE_EXAMPLE = "1x3x32x32, 1,3,32,32 or [1, 3, 32, 32]"
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*(e[+-]?\d+)?|\.\d+(e[+-]?\d+)?|inf|nan)", re.IGNORECASE)


def _split(text: str, what: str, example: str) -> list[str]:
    stripped = text.strip()
    opening, closing = stripped[:1] in "[(", stripped[-1:] in "])"
    if opening != closing:
        raise ParseError(f"{what} {text!r} has an unclosed bracket; write it like {example}")
    if opening:
        stripped = stripped[1:-1].strip()
    if not stripped:
        raise ParseError(f"{what} is empty; write it like {example}")
    parts = _SEPARATORS.split(stripped)
    if len(parts) > 1 and parts[-1] == "" and stripped.endswith(","):
        parts.pop()  # a trailing comma, as in Python's "(3,)"
    if "" in parts:
        raise ParseError(f"{what} {text!r} has an empty entry; write it like {example}")
    return parts


def parse_ints(
    text: str, what: str = "value", *, allow_negative: bool = False, example: str = TUPLE_EXAMPLE
) -> tuple[int, ...]:
    """Parse ``3``, ``3x5``, ``3,5`` or ``(3, 5)`` into a tuple of ints.

    >>> parse_ints("3x5")
    (3, 5)
    >>> parse_ints("[1, 3, 32, 32]")
    (1, 3, 32, 32)
    """
    values = []
    for part in _split(text, what, example):
        if not _INT.fullmatch(part):
            raise ParseError(f"{what} {text!r}: {part!r} is not a whole number; write it like {example}")
        value = int(part)
        if value < 0 and not allow_negative:
            raise ParseError(f"{what} {text!r}: {value} is negative; every dim must be at least 1")
        if abs(value) > INT64_MAX:
            raise ParseError(f"{what} {text!r}: {part} is beyond PyTorch's 64-bit sizes")
        values.append(value)
    return tuple(values)


def parse_floats(text: str, what: str = "value") -> tuple[float, ...]:
    """Parse ``2``, ``2.5x1.5`` or ``(2.0, 2.0)`` into a tuple of floats.

    >>> parse_floats("2x1.5")
    (2.0, 1.5)
    """
    values = []
    for part in _split(text, what, "2 or 2.5x1.5"):
        if not _FLOAT.fullmatch(part):
            raise ParseError(f"{what} {text!r}: {part!r} is not a number")
        values.append(float(part))
    return tuple(values)


def parse_shape(text: str) -> tuple[int, ...]:
    """Parse an input shape; every dim must be a positive whole number.

    >>> parse_shape("1x3x32x32")
    (1, 3, 32, 32)
    """
    shape = parse_ints(text, "input shape", example=SHAPE_EXAMPLE)
    zero = [i for i, n in enumerate(shape) if n == 0]
    if zero:
        raise ParseError(
            f"input shape {text!r} has a zero-size dim at position {zero[0]}; "
            "every dim must be at least 1"
        )
    return shape


def format_shape(shape: tuple[int, ...] | None) -> str:
    """Write a shape the way torch prints ``tensor.shape`` lists.

    >>> format_shape((1, 8, 28, 28))
    '[1, 8, 28, 28]'
    """
    if shape is None:
        return "-"
    return "[" + ", ".join(str(n) for n in shape) + "]"
