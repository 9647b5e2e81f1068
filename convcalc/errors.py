"""The one exception family convcalc raises for anything a user got wrong.

Every message names what was wrong, the values involved and, where there is one, a fix.
The CLI maps :class:`ConvcalcError` to exit code 2 and prints the message on one line.
"""

from __future__ import annotations

import re
from typing import Any, Iterable

# C0 controls (but tab and newline, which one_line folds), DEL and the C1 controls: a terminal
# acts on them (ESC ] ... BEL retitles the window, CSI moves the cursor), so data holding them
# is shown escaped, never raw.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_OR_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str, lines: bool = True) -> str:
    """``text`` with its control characters written as ``\\xNN`` escapes, so that data echoed in
    a message or a table cannot drive the terminal; ``lines=False`` escapes tab and newline too.

    >>> printable("conv\\x1b]0;owned\\x07"), printable("a\\tb", lines=False)
    ('conv\\\\x1b]0;owned\\\\x07', 'a\\\\x09b')
    """
    pattern = _CONTROL if lines else _CONTROL_OR_LINE
    if pattern.search(text) is None:  # the common case: one scan, no copy
        return text
    return pattern.sub(lambda match: f"\\x{ord(match.group()):02x}", text)


class ConvcalcError(ValueError):
    """Base of every error caused by invalid input. The message is kept printable: control
    characters from the data it quotes are escaped (:func:`printable`).

    >>> isinstance(ConvcalcError("x"), ValueError)
    True
    >>> str(ConvcalcError("unknown layer \\x1b[2J"))
    'unknown layer \\\\x1b[2J'
    """

    def __init__(self, message: Any = "", *args: Any) -> None:
        super().__init__(printable(message) if isinstance(message, str) else message, *args)


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
