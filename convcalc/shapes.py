"""Reading and writing the small integer tuples users type: shapes and tuple arguments.

A shape is written ``1x3x32x32``, ``1,3,32,32``, ``[1, 3, 32, 32]``, ``(1, 3, 32, 32)``, or as
torch prints one, ``torch.Size([1, 3, 32, 32])``.
"""

from __future__ import annotations

import re
from typing import Callable, Sequence

from .errors import ParseError

_SEPARATORS = re.compile(r"\s*[xX×,]\s*|\s+")
INT64_MAX = 2**63 - 1  # PyTorch sizes are int64
TUPLE_EXAMPLE = "3, 3x5 or 3,5"
SHAPE_EXAMPLE = "1x3x32x32, 1,3,32,32, [1, 3, 32, 32] or torch.Size([1, 3, 32, 32])"
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.?\d*(e[+-]?\d+)?|\.\d+(e[+-]?\d+)?|inf|nan)", re.IGNORECASE)


# A call such as torch.Size([1, 3]) (what printing x.shape shows): its name and what is inside.
_CALL = re.compile(r"([A-Za-z_][\w.]*)\s*\((.*)\)", re.DOTALL)
_SIZE_NAMES = ("torch.Size", "Size")


def _unwrapped(text: str, what: str, example: str) -> str:
    """``text`` stripped, and torch's ``torch.Size([...])`` reduced to its list.

    >>> _unwrapped(" torch.Size([1, 3, 32, 32]) ", "input shape", "1x3")
    '[1, 3, 32, 32]'
    """
    stripped = text.strip()
    call = _CALL.fullmatch(stripped)
    if call is None:
        return stripped
    inner = call.group(2).strip()
    if call.group(1) not in _SIZE_NAMES or inner[:1] not in ("[", "("):
        raise ParseError(
            f"{what} {shown(text)} is not a size torch prints; write it like {example}"
        )
    return inner


def _split(text: str, what: str, example: str) -> list[str]:
    stripped = _unwrapped(text, what, example)
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
            raise ParseError(f"{what} {shown(text)}: {shown(part)} is not a whole number; write it like {example}")
        if len(part.lstrip("+-").lstrip("0")) > _INT64_DIGITS:  # before int(), which refuses 4300 digits
            raise ParseError(f"{what} {shown(text)}: {shown(part)} is beyond PyTorch's 64-bit sizes")
        value = int(part)
        if value < 0 and not allow_negative:
            raise ParseError(f"{what} {shown(text)}: {value} is negative; every dim must be at least 1")
        if abs(value) > INT64_MAX:
            raise ParseError(f"{what} {shown(text)}: {part} is beyond PyTorch's 64-bit sizes")
        values.append(value)
    return tuple(values)


_INT64_DIGITS = len(str(INT64_MAX))


def shown(text: str, most: int = 60) -> str:
    """``repr(text)``, cut short when long: a message quotes what it refuses, not all of it.

    >>> shown("1x3"), shown("9" * 5000)
    ("'1x3'", "'99999999999999999999999999999999999999'... (5000 characters)")
    """
    if len(text) <= most:
        return repr(text)
    return f"{text[: most - 22]!r}... ({len(text)} characters)"


def parse_int(text: str, what: str, minimum: int | None = None) -> int:
    """One whole number, e.g. ``--depth 2``; ``minimum`` bounds it.

    >>> parse_int("3", "--depth", minimum=1)
    3
    """
    values = parse_ints(text, what, allow_negative=True, example="3")
    if len(values) != 1:
        raise ParseError(f"{what} {text!r} must be a single whole number")
    if minimum is not None and values[0] < minimum:
        raise ParseError(f"{what} {text!r} must be at least {minimum}")
    return values[0]


def parse_choice(text: str, option: str, choices: Sequence[str]) -> str:
    """``text`` as one of ``choices`` (lower-case words), in any case: ``ADAM`` is ``adam``.

    >>> parse_choice("FVCore", "--count", ("convcalc", "torchinfo", "fvcore"))
    'fvcore'
    >>> parse_choice("si", "--units", ("both", "exact", "human"))
    Traceback (most recent call last):
    ...
    convcalc.errors.ParseError: --units 'si' is not one of: both, exact, human
    """
    lowered = text.strip().lower()
    if lowered not in choices:
        raise ParseError(f"{option} {shown(text)} is not one of: {', '.join(choices)}")
    return lowered


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

    >>> parse_shape("1x3x32x32"), parse_shape("torch.Size([1, 3, 32, 32])")
    ((1, 3, 32, 32), (1, 3, 32, 32))
    """
    shape = parse_ints(text, "input shape", example=SHAPE_EXAMPLE)
    zero = [i for i, n in enumerate(shape) if n == 0]
    if zero:
        raise ParseError(
            f"input shape {shown(text)} has a zero-size dim at position {zero[0]}; "
            "every dim must be at least 1"
        )
    if too_many_elements(shape):
        raise ParseError(
            f"input shape {shown(text)} holds more than {INT64_MAX} elements, beyond PyTorch's 64-bit "
            "sizes; use smaller dims"
        )
    return shape


def as_shape(value: object, what: str = "input shape") -> tuple[int, ...]:
    """A shape given in Python: text as on the command line, one whole number (a 1-D shape, as
    torch.zeros(3) reads it) or a sequence of them (NumPy's integers too); ParseError otherwise.

    >>> as_shape("1x3x8x8"), as_shape(3), as_shape([2, 5])
    ((1, 3, 8, 8), (3,), (2, 5))
    """
    import numbers

    if isinstance(value, str):
        return parse_shape(value)
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    try:
        dims = tuple(value)  # type: ignore[call-overload]
    except TypeError:
        raise ParseError(
            f"{what} {shown(repr(value))} is not a shape; give whole numbers such as (1, 3, 32, 32) "
            "or text such as '1x3x32x32'"
        ) from None
    if not dims or not all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and n >= 1 for n in dims):
        raise ParseError(f"{what} {shown(repr(value))}: every dim must be a whole number >= 1")
    shape = tuple(int(n) for n in dims)
    if too_many_elements(shape):
        raise ParseError(f"{what} {shown(repr(value))} holds more than {INT64_MAX} elements, beyond PyTorch's 64-bit sizes")
    return shape


def too_many_elements(shape: tuple[int, ...]) -> bool:
    """Whether a tensor of ``shape`` would hold more elements than a 64-bit count can (torch
    refuses to make one), found without building the whole product.

    >>> too_many_elements((2**31, 2**31)), too_many_elements((2**32, 2**31))
    (False, True)
    """
    count = 1
    for n in shape:
        count *= n
        if count > INT64_MAX:
            return True
    return False


def counted(count: int, noun: str) -> str:
    """A count and its noun, singular or plural.

    >>> counted(1, "channel"), counted(3, "channel")
    ('1 channel', '3 channels')
    """
    return f"{count} {noun}" + ("" if count == 1 else "s")


def format_shape(shape: tuple[int, ...] | None) -> str:
    """Write a shape the way torch prints ``tensor.shape`` lists.

    >>> format_shape((1, 8, 28, 28))
    '[1, 8, 28, 28]'
    """
    if shape is None:
        return "-"
    return "[" + ", ".join(str(n) for n in shape) + "]"


def compact_shape(shape: tuple[int, ...] | None) -> str:
    """A shape in the fewest columns, for a narrow terminal; a scalar's stays ``[]``.

    >>> compact_shape((1, 64, 56, 56)), compact_shape((10,)), compact_shape(())
    ('1×64×56×56', '10', '[]')
    """
    if shape is None:
        return "-"
    return "×".join(str(n) for n in shape) if shape else "[]"


def format_bytes(count: int | None) -> str:
    """``24.5 KiB``: a binary-prefixed size to one decimal; ``-`` when unknown.

    >>> format_bytes(25088), format_bytes(512), format_bytes(6_657_199_309), format_bytes(None)
    ('24.5 KiB', '512 B', '6.2 GiB', '-')
    >>> format_bytes(1_048_575)   # 1023.999 KiB rounds to 1024.0: a MiB
    '1.0 MiB'
    """
    if count is None:
        return "-"
    value, unit = prefixed(count, 1024, ("B", "KiB", "MiB", "GiB", "TiB"), lambda scaled: round(scaled, 1))
    return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"


def prefixed(count: float, base: int, units: Sequence[str], rounded: Callable[[float], float]) -> tuple[float, str]:
    """``count`` divided by ``base`` until, once ``rounded``, it is under ``base`` (or the last
    of ``units`` is reached): the rounded value and its unit. Rounding comes first, so that a
    value that rounds up to ``base`` takes the next unit.

    >>> prefixed(999_960, 1000, ("", "k", "M"), lambda value: float(f"{value:.3g}"))
    (1.0, 'M')
    """
    value = float(count)
    for unit in units:
        value_rounded = rounded(value)
        if abs(value_rounded) < base or unit == units[-1]:
            return value_rounded, unit
        value /= base
    raise ValueError("prefixed needs at least one unit")
