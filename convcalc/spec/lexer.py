"""Splitting a text spec into statements, braces and ``print(model)`` openers and closers,
each with its line and column; comments and quoted text are respected.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ParseError
from ..registry import aliases, layer_classes
from .limits import MAX_BRACKET_DEPTH, MAX_STATEMENT_CHARS
from .nodes import NAME_PREFIX


def first_content(text: str) -> int | None:
    """Offset of the first character that is neither whitespace nor in a comment."""
    offset = 0
    for line in text.split("\n"):
        content = strip_comment(line)
        stripped = content.lstrip()
        if stripped.strip():
            return offset + len(content) - len(stripped)
        offset += len(line) + 1
    return None


@dataclass(frozen=True)
class Token:
    kind: str  # "stmt", "{", "}", "open", "close"
    text: str
    line: int
    column: int


# "(name): 2 x Type(" at the end of a line opens a module printed by print(model).
OPENER = re.compile(
    r"(?:\((?P<name>[^()]*)\)\s*:\s*)?(?:(?P<count>\d+)\s*x\s+)?(?P<type>[A-Za-z_][\w.]*)\s*\($"
)
_QUOTES_OR_SEPARATORS = re.compile(r"[;{}'\"]")


def _balanced(line: str) -> bool:
    """A quick check that lets most lines skip the character scan."""
    opens = line.count("(")
    brackets = line.count("[")
    if opens + brackets > MAX_BRACKET_DEPTH:
        return False
    if opens != line.count(")") or brackets != line.count("]"):
        return False
    return opens == 0 or line.index("(") < line.index(")")


def strip_comment(line: str) -> str:
    if "#" not in line:
        return line
    if "'" not in line and '"' not in line:
        return line[: line.index("#")]
    quote = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            return line[:i]
    return line


class Lexer:
    """Split the text into statements, braces and print(model) openers/closers, with positions."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[Token] = []
        # A statement continued over lines while brackets are open.
        self.pending: list[str] = []
        self.pending_start: tuple[int, int] | None = None
        self.pending_size = 0
        self.opened: list[tuple[int, int, str]] = []  # open brackets: line, column, char

    def run(self) -> list[Token]:
        lines = self.text.split("\n")
        for number, raw in enumerate(lines, 1):
            if len(raw) > MAX_STATEMENT_CHARS:
                raise ParseError(
                    f"line is {len(raw)} characters long; the limit is {MAX_STATEMENT_CHARS}",
                    line=number,
                )
            line = strip_comment(raw.rstrip("\r"))
            if self.pending_start is None:
                stripped = line.strip()
                if not stripped:
                    continue
                column = len(line) - len(line.lstrip()) + 1
                if stripped[0] == ")" and stripped[1:].strip() in ("", ","):
                    self.tokens.append(Token("close", ")", number, column))
                    continue
                if stripped.endswith("(") and self._is_opener(stripped, lambda: _names_a_child(lines, number, column)):
                    self.tokens.append(Token("open", stripped, number, column))
                    continue
                if not _QUOTES_OR_SEPARATORS.search(line) and _balanced(line):
                    self.tokens.append(Token("stmt", stripped, number, column))
                    continue
            self._scan(line, number)
        if self.pending_start is not None:
            line, column, char = self.opened[-1] if self.opened else (*self.pending_start, "(")
            raise ParseError(
                f"unterminated {char!r}: the bracket opened here is never closed "
                f"(statement starting at line {self.pending_start[0]})",
                line=line,
                column=column,
            )
        return self.tokens

    @staticmethod
    def _is_opener(stripped: str, names_a_child: Callable[[], bool]) -> bool:
        match = OPENER.fullmatch(stripped)
        if match is None:
            return False
        # A layer's own call continued on the next lines is a statement, not a module, unless
        # the layer prints child modules (nn.MultiheadAttention shows its out_proj) or a named
        # child follows: a class of one's own named like a layer (monai's UpSample).
        return not _is_layer_name(match["type"]) or _prints_children(match["type"]) or names_a_child()

    def _scan(self, line: str, number: int) -> None:
        """Character scan for lines with quotes, brackets, ``;`` or braces."""
        quote = None
        start = 0 if self.pending_start is not None else None
        i = 0
        n = len(line)
        while i < n:
            ch = line[i]
            if quote:
                if ch == "\\":
                    i += 1
                elif ch == quote:
                    quote = None
            elif ch in "'\"":
                quote = ch
                if start is None:
                    start = i
            elif ch in "([)]":
                self._bracket(ch, number, i + 1)
                if start is None:
                    start = i
            elif not self.opened and ch in ";{}":
                if start is not None:
                    self._flush(line[start:i], number, start)
                    start = None
                if ch != ";":
                    self.tokens.append(Token(ch, ch, number, i + 1))
            elif start is None and not ch.isspace():
                start = i
            i += 1
        if quote:
            raise ParseError(
                f"unterminated string: the {quote} is never closed on this line",
                line=number,
                column=line.rfind(quote) + 1,
            )
        if start is None:
            return
        if self.opened:
            self._carry(line[start:], number, start)
            return
        self._flush(line[start:], number, start)

    def _bracket(self, ch: str, number: int, column: int) -> None:
        """Open or close a bracket, checking depth and that it closes what is open."""
        if ch in "([":
            self.opened.append((number, column, ch))
            if len(self.opened) > MAX_BRACKET_DEPTH:
                raise ParseError(f"brackets nested more than {MAX_BRACKET_DEPTH} deep", line=number, column=column)
            return
        if not self.opened:
            raise ParseError(f"unmatched {ch!r}: no bracket is open here", line=number, column=column)
        _, _, opener = self.opened.pop()
        if (opener, ch) not in (("(", ")"), ("[", "]")):
            raise ParseError(f"{ch!r} closes {opener!r}", line=number, column=column)

    def _carry(self, piece: str, number: int, start: int) -> None:
        """Keep a line's open statement for the next line, within the statement size limit."""
        if self.pending_start is None:
            self.pending_start = (number, start + 1)
        self.pending.append(piece)
        self.pending_size += len(piece)
        if self.pending_size > MAX_STATEMENT_CHARS:
            raise ParseError(
                f"statement longer than {MAX_STATEMENT_CHARS} characters (is a bracket left open?)",
                line=self.pending_start[0],
                column=self.pending_start[1],
            )

    def _flush(self, piece: str, number: int, start: int) -> None:
        if self.pending_start is not None:
            self.pending.append(piece)
            text = "\n".join(self.pending).strip()
            line, column = self.pending_start
            self.pending, self.pending_start, self.pending_size = [], None, 0
        else:
            text = piece.strip()
            line, column = number, start + 1
        if text:
            self.tokens.append(Token("stmt", text, line, column))


# -- parsing statements ---------------------------------------------------------------------------


CALL_START = re.compile(r"(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*\s*\(")


_LOOK_AHEAD = 64  # lines a layer-named opener is searched for a named child (its own arguments above it)


def _names_a_child(lines: list[str], number: int, column: int) -> bool:
    """Whether a ``(name): ...`` line, indented past the opener at ``column``, follows line
    ``number`` (1-based) before any line at or left of it (the opener's own closing bracket,
    or its next sibling), within ``_LOOK_AHEAD`` lines."""
    for index in range(number, min(len(lines), number + _LOOK_AHEAD)):
        line = lines[index]
        stripped = line.strip()
        if not stripped:
            continue
        if len(line) - len(line.lstrip()) + 1 <= column:
            return False
        if NAME_PREFIX.match(stripped):
            return True
    return False


def _prints_children(name: str) -> bool:
    key = name.strip().lower().removeprefix("torch.").removeprefix("nn.")
    cls = layer_classes().get(aliases().get(key, key))
    return bool(getattr(cls, "prints_children", False))


def _is_layer_name(name: str) -> bool:
    """Whether ``lookup`` would find ``name`` (without building its error message)."""
    key = name.strip().lower().removeprefix("torch.").removeprefix("nn.")
    return key in layer_classes() or key in aliases()
