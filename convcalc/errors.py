"""The one exception family convcalc raises for anything a user got wrong.

Every message names what was wrong, the values involved and, where there is one, a fix.
The CLI maps :class:`ConvcalcError` to exit code 2 and prints the message on one line.
"""

from __future__ import annotations

from typing import Iterable


class ConvcalcError(ValueError):
    """Base of every error caused by invalid input.

    >>> isinstance(ConvcalcError("x"), ValueError)
    True
    """


class ConfigError(ConvcalcError):
    """A layer configuration PyTorch would reject (or that convcalc refuses on purpose)."""


class ShapeError(ConvcalcError):
    """An input shape that does not fit a layer."""


class ParseError(ConvcalcError):
    """Text that could not be read: a shape, an option value, a spec line.

    ``line`` and ``column`` (1-based) locate the problem in a multi-line spec when known.
    """

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        self.line = line
        self.column = column
        where = ""
        if line is not None:
            where = f"line {line}" + (f", column {column}" if column is not None else "") + ": "
        super().__init__(where + message)


class FileError(ConvcalcError):
    """A file that is missing, unreadable or not in the expected format."""


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """``"; did you mean X?"`` for the close matches of ``word`` among ``known``, or ``""``.

    >>> did_you_mean("strid", ["stride", "padding"])
    '; did you mean stride?'
    """
    import difflib

    close = difflib.get_close_matches(word, list(known), n=2, cutoff=0.6)
    return "; did you mean " + " or ".join(close) + "?" if close else ""
