"""What the CLI writes: JSON and Rich renderables on stdout, warnings and errors on stderr.

Rich is imported only when something is rendered; piped output is plain text at a width that
leaves room for wide tables.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import sys
import unicodedata
from typing import Any

from ..errors import printable
from ..render import ROOMY


def emit_json(data: Any) -> None:
    # Compact separators: a 3000-layer summary is over a megabyte of JSON. JSON escapes the C0
    # controls itself; DEL and the C1 controls (only ever inside strings) are escaped here.
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), check_circular=False)
    sys.stdout.write(_JSON_CONTROL.sub(lambda match: f"\\u{ord(match.group()):04x}", text) + "\n")


_JSON_CONTROL = re.compile(r"[\x7f-\x9f]")


def emit_text(text: str) -> None:
    """Plain text (CSV, Markdown, piped tables) on stdout, control characters escaped."""
    sys.stdout.write(printable(text))


def output_width(fit: bool = False) -> int | None:
    """The columns a renderer may fill on stdout: the terminal's (COLUMNS first); piped,
    COLUMNS or PIPED_WIDTH; None (no limit) for a ``fit`` output piped without COLUMNS."""
    import shutil

    if fit and not sys.stdout.isatty() and "COLUMNS" not in os.environ:
        return None
    return shutil.get_terminal_size((PIPED_WIDTH, 24)).columns


def emit_rich(renderable: Any, fit: bool = False, wide: bool = False, whole: bool = False) -> None:
    """Print on stdout: colour on a terminal; plain text when piped or NO_COLOR is set.

    ``fit``: when piped without COLUMNS, print at the width the output needs rather than at
    PIPED_WIDTH, for tables whose cells must never be cut short (explain's numbers). Layouts
    that spread to the width they are given (tensor grids) keep PIPED_WIDTH. ``wide``: never
    narrower than the output needs, even on a terminal (its lines may run past the edge).
    ``whole``: never narrower than the output's narrowest form, so that a terminal too narrow
    for a table gets lines that run past its edge rather than cells cut short.
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
    piped_fit = fit and output_width(fit) is None
    if wide or whole or piped_fit:
        from rich.measure import Measurement

        shown = console.width
        console.width = PIPED_WIDTH_MAX
        measured = Measurement.get(console, console.options, renderable)
        if piped_fit:
            console.width = max(80, min(measured.maximum, PIPED_WIDTH_MAX))
        else:
            console.width = max(shown, min(measured.maximum if wide else measured.minimum, PIPED_WIDTH_MAX))
    encoding = codecs.lookup(getattr(sys.stdout, "encoding", None) or "utf-8").name
    if not encoding.startswith("utf"):  # respell before Rich lays out, so that columns still align
        renderable = _respelled(renderable, encoding)
    if console.is_terminal:
        console.print(renderable, crop=False)  # a form too wide for any width runs past the edge, whole
        return
    with console.capture() as captured:  # piped: the lines without the padding Rich ends them with
        console.print(renderable, crop=False)
    sys.stdout.write("\n".join(line.rstrip() for line in captured.get().split("\n")))
    sys.stdout.flush()


PIPED_WIDTH = 160
PIPED_WIDTH_MAX = ROOMY  # the one roomy width: renderers measure their forms at it too
NARROWEST = 20


def bound_widths() -> None:
    """``COLUMNS`` and ``TERMINAL_WIDTH`` (Typer's help) kept within NARROWEST..PIPED_WIDTH_MAX,
    and dropped when not a whole number: at COLUMNS=1000000 every help line was a megabyte of
    spaces (18 s), and at 0 the help was empty."""
    for name in ("COLUMNS", "TERMINAL_WIDTH"):
        text = os.environ.get(name)
        if text is None:
            continue
        try:
            width = int(text)
        except ValueError:
            del os.environ[name]
            continue
        os.environ[name] = str(min(max(width, NARROWEST), PIPED_WIDTH_MAX))


def warn(message: str) -> None:
    _to_stderr(f"convcalc: warning: {message}")


def error(message: str) -> None:
    _to_stderr(f"convcalc: error: {message}")


def _to_stderr(line: str) -> None:
    """One line on stderr, its control characters escaped. A closed or full stderr (2>&-,
    2>/dev/full) loses the line but changes nothing else: the exit code still tells."""
    stream = sys.stderr
    if stream is None:
        return
    try:
        stream.write(printable(one_line(line), lines=False) + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass


def one_line(message: str) -> str:
    return " ".join(part.strip() for part in message.strip().splitlines() if part.strip())


# What a stream that cannot encode a character (PYTHONIOENCODING=ascii, a latin-1 locale) writes
# instead: the ASCII spelling of convcalc's symbols, then of any letter, else "?".
_ASCII = {
    "⌊": "floor(", "⌋": ")", "⌈": "ceil(", "⌉": ")", "×": "x", "·": "*", "−": "-", "–": "-", "—": "-",
    "…": "...", "⋮": ":", "→": "->", "←": "<-", "≤": "<=", "≥": ">=", "≠": "!=", "≈": "~", "±": "+/-",
    "√": "sqrt", "Σ": "sum", "∏": "prod", "∞": "inf", "⊙": "*", "½": "1/2", "ᵀ": "^T", "²": "^2",
    "³": "^3", "¹": "^1", "⁶": "^6", "✓": "yes", "✗": "no", "▀": "#", "▄": "#", "█": "#", "░": ".",
    "▒": ":", "▓": "#", "’": "'", "‘": "'", "“": '"', "”": '"',
}


def _ascii_spelling(char: str) -> str:
    if char in _ASCII:
        return _ASCII[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a file name that was not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if 0x2500 <= code <= 0x257F:  # box drawing: rules and corners
        name = unicodedata.name(char, "")
        return "-" if "HORIZONTAL" in name and "VERTICAL" not in name else "|" if "VERTICAL" in name and "HORIZONTAL" not in name else "+"
    name = unicodedata.name(char, "")
    if name.startswith("GREEK "):
        letter = name.rsplit(" ", 1)[-1].lower()
        return letter.capitalize() if "CAPITAL" in name else letter
    if 0x2080 <= code <= 0x2089:  # subscript digits
        return str(code - 0x2080)
    folded = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
    return folded or "?"


def _fall_back_to_ascii(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    return "".join(_ascii_spelling(char) for char in exc.object[exc.start : exc.end]), exc.end


codecs.register_error("convcalc-ascii", _fall_back_to_ascii)


def _respelled(renderable: Any, encoding: str) -> Any:
    """``renderable`` (Rich text, tables, panels, groups; built for this call, so changed in
    place) with each character ``encoding`` cannot hold spelled in ASCII, styles kept."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Span, Text

    if isinstance(renderable, str):
        return _spelled_for(renderable, encoding)
    if isinstance(renderable, Text):
        plain = renderable.plain
        pieces, ends = [], [0]
        for char in plain:
            pieces.append(_spelled_for(char, encoding))
            ends.append(ends[-1] + len(pieces[-1]))
        if ends[-1] == len(plain) and "".join(pieces) == plain:
            return renderable
        spans = [Span(ends[span.start], ends[min(span.end, len(plain))], span.style) for span in renderable.spans]
        renderable.plain = "".join(pieces)
        renderable.spans = spans
    elif isinstance(renderable, Table):
        for column in renderable.columns:
            column.header = _respelled(column.header, encoding)
            column._cells = [_respelled(cell, encoding) for cell in column._cells]
        renderable.title = _respelled(renderable.title, encoding)
        renderable.caption = _respelled(renderable.caption, encoding)
    elif isinstance(renderable, Panel):
        renderable.renderable = _respelled(renderable.renderable, encoding)
        renderable.title = _respelled(renderable.title, encoding)
        renderable.subtitle = _respelled(renderable.subtitle, encoding)
    elif isinstance(renderable, Group):
        renderable._renderables = [_respelled(part, encoding) for part in renderable._renderables]
    return renderable


def _spelled_for(text: str, encoding: str) -> str:
    try:
        text.encode(encoding)
        return text
    except UnicodeEncodeError:
        return text.encode(encoding, errors="convcalc-ascii").decode(encoding)


def plain_streams() -> None:
    """Let stdout and stderr write what their encoding cannot hold in ASCII (⌊ as floor(, × as x)
    instead of failing; a UTF-8 stream never needs it."""
    for stream in (sys.stdout, sys.stderr):
        if stream is not None and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="convcalc-ascii")
            except (OSError, ValueError):
                pass
