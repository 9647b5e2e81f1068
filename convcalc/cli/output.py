"""What the CLI writes: JSON and Rich renderables on stdout, warnings and errors on stderr.

Rich is imported only when something is rendered; piped output is plain text at a width that
leaves room for wide tables.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any


def emit_json(data: Any) -> None:
    # Compact separators: a 3000-layer summary is over a megabyte of JSON.
    sys.stdout.write(json.dumps(data, ensure_ascii=False, separators=(",", ":"), check_circular=False) + "\n")


def emit_rich(renderable: Any, fit: bool = False) -> None:
    """Print on stdout: colour on a terminal; plain text when piped or NO_COLOR is set.

    ``fit``: when piped without COLUMNS, print at the width the output needs rather than at
    PIPED_WIDTH, for tables whose cells must never be cut short (explain's numbers). Layouts
    that spread to the width they are given (tensor grids) keep PIPED_WIDTH.
    """
    import shutil

    from rich.console import Console

    # Piped output goes to a file or another program, not a screen: give it room (COLUMNS still
    # rules), so that wide tables and numbers are not wrapped or cut to fit 80 columns.
    width = shutil.get_terminal_size((PIPED_WIDTH, 24)).columns
    if os.environ.get("NO_COLOR"):  # no escape codes at all, not only no colour
        console = Console(force_terminal=False, width=width, highlight=False)
    else:
        console = Console(highlight=False, soft_wrap=False, width=None if sys.stdout.isatty() else width)
    if fit and not sys.stdout.isatty() and "COLUMNS" not in os.environ:
        from rich.measure import Measurement

        console.width = PIPED_WIDTH_MAX
        console.width = max(80, min(Measurement.get(console, console.options, renderable).maximum, PIPED_WIDTH_MAX))
    console.print(renderable)


PIPED_WIDTH = 160
PIPED_WIDTH_MAX = 4000


def warn(message: str) -> None:
    sys.stderr.write(f"convcalc: warning: {message}\n")


def error(message: str) -> None:
    sys.stderr.write(f"convcalc: error: {message}\n")


def one_line(message: str) -> str:
    return " ".join(part.strip() for part in message.strip().splitlines() if part.strip())
