"""Run convcalc in a real pseudo-terminal at a chosen width, and check what a person would see.

``run_in_terminal`` starts ``python -m convcalc ARGS`` under ``script`` (util-linux), so that
stdout is a TTY of ``columns`` x ``lines`` cells, exactly as in a terminal window; the text comes
back with its escape codes removed. ``broken_pieces`` lists what a reader would trip over: lines
wider than the terminal, numbers, shapes and the given names split across lines, or cut with an
ellipsis. ``assert_unbroken`` fails with that list.

    result = run_in_terminal(["net", "spec.txt", "-i", "1x3x32x32"], columns=80)
    assert result.code == 0
    assert_unbroken(result.text, 80, names=["conv1", "MaxPool2d"])
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent

# CSI sequences (colours, cursor moves), OSC sequences (titles, links) and lone two-byte escapes.
_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


@dataclass
class TerminalResult:
    code: int
    text: str  # what the terminal showed, escape codes removed, lines joined with "\n"


def strip_escapes(raw: str) -> str:
    """``raw`` terminal output as the screen shows it, line by line: escape codes removed, a
    carriage return going back to the line's start, an erase-line code clearing it (what a
    progress bar on stderr does before the table is printed).

    >>> strip_escapes("\\x1b[1mMACs\\x1b[0m\\r\\n")
    'MACs\\n'
    >>> strip_escapes("forward 50%\\rforward 100%\\r\\x1b[2Kname\\r\\n")
    'name\\n'
    """
    return "\n".join(_screen_line(line) for line in raw.split("\n"))


_ERASE_LINE = re.compile(r"\x1b\[[02]?K")


def _screen_line(raw: str) -> str:
    cells: list[str] = []
    cursor = 0
    for piece in re.split(r"(\r|\x1b\[[02]?K)", raw):
        if piece == "\r":
            cursor = 0
        elif _ERASE_LINE.fullmatch(piece):
            cells = cells[:cursor] if piece in ("\x1b[K", "\x1b[0K") else []
        else:
            for char in _ESCAPE.sub("", piece):
                if cursor < len(cells):
                    cells[cursor] = char
                else:
                    cells.append(char)
                cursor += 1
    return "".join(cells)


def run_in_terminal(
    args: Sequence[str], columns: int, lines: int = 50,
    env: Mapping[str, str] | None = None, timeout: float = 300,
) -> TerminalResult:
    """``python -m convcalc *args`` on a pseudo-terminal ``columns`` wide, from the repo root.

    Skips the test where ``script`` (util-linux) is missing. Stdin is empty (not a terminal).
    """
    script = shutil.which("script")
    if script is None:
        pytest.skip("needs util-linux `script` for a pseudo-terminal")
    command = shlex.join([sys.executable, "-m", "convcalc", *args])
    environment = {key: value for key, value in os.environ.items() if key not in ("NO_COLOR", "FORCE_COLOR")}
    environment.update({"COLUMNS": str(columns), "LINES": str(lines), "TERM": "xterm-256color", **(env or {})})
    proc = subprocess.run(
        [script, "-qfec", command, "/dev/null"], cwd=REPO_ROOT, env=environment,
        stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
    )
    return TerminalResult(proc.returncode, strip_escapes(proc.stdout.decode("utf-8", "replace")))


def cell_width(text: str) -> int:
    """Terminal cells ``text`` takes: wide (East Asian) characters take two.

    >>> cell_width("1×64×56×56")
    10
    """
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


# A token is a maximal run of characters that are neither blanks nor table rules.
_TOKEN = re.compile(r"[^\s│┃║|─━═┌┐└┘├┤┬┴┼╭╮╰╯]+")
_BAD_GROUPS = re.compile(r"\d,(?:\d{1,2}|\d{4,})(?!\d)|^,\d")  # 117,60 | ,056
_HANGING = re.compile(r"^×\d|\d×$")  # ×56 | 1×64×
_ELLIPSIS_GLUED = re.compile(r"[\w.,×\[\]()#+-]…|…[\w.,×\[\]()#+-]")
_UNIT_ALONE = re.compile(r"(?<!\d )(?<![\w.])(?:KiB|MiB|GiB|TiB)\b")  # 3.1 above MiB


def broken_pieces(text: str, columns: int, names: Iterable[str] = ()) -> list[str]:
    """What is cut or does not fit in ``text`` shown ``columns`` wide, one description each.

    Found: lines wider than ``columns`` (but stderr's one-line messages); an ellipsis glued to a word or number (``-0.…``,
    ``MaxPoo…``); numbers with broken thousands groups (``117,60``), shapes hanging on ``×`` or
    missing a bracket on their line (``[1, 64,``); a unit or ``(jump`` left without its number;
    each of ``names`` (and any other given word, such as a number) absent as a whole token, or
    spread over vertically adjacent tokens (``MaxPoo`` above ``l2d``).

    >>> broken_pieces("MaxPoo  117,60\\nl2d        0", 80, names=["MaxPool2d"])  # doctest: +NORMALIZE_WHITESPACE
    ['line 1: number cut: 117,60', 'MaxPool2d not shown whole', 'MaxPool2d split over lines 1-2']
    >>> broken_pieces("MaxPool2d  1×64×56×56  4.09 G", 80, names=["MaxPool2d"])
    []
    """
    lines = text.split("\n")
    found: list[str] = []
    for number, line in enumerate(lines, 1):
        # stderr's messages are one line each by contract, wrapped by the terminal itself
        if cell_width(line.rstrip()) > columns and not line.startswith(("convcalc: warning: ", "convcalc: error: ")):
            found.append(f"line {number}: {cell_width(line.rstrip())} columns wide, over {columns}")
        for match in _ELLIPSIS_GLUED.finditer(line):
            found.append(f"line {number}: cut with an ellipsis: {match.group()!r}")
        found += [f"line {number}: {problem}" for problem in _token_problems(line)]
    found += _names_problems(lines, list(names))
    return found


def _token_problems(line: str) -> list[str]:
    problems = []
    tokens = _TOKEN.findall(line)
    for token in tokens:
        if _BAD_GROUPS.search(token):
            problems.append(f"number cut: {token}")
        elif _HANGING.search(token):
            problems.append(f"shape or number cut: {token}")
    problems += [f"unit without its number: {match.group()}" for match in _UNIT_ALONE.finditer(line)]
    if line.count("[") != line.count("]") and re.search(r"\[\d|\d\]", line):
        problems.append(f"shape split: {line.strip()!r}")
    if line.count("(jump") != len(re.findall(r"\(jump \d+\)", line)):
        problems.append(f"receptive field split: {line.strip()!r}")
    return problems


def _names_problems(lines: list[str], names: list[str]) -> list[str]:
    """Each name must appear whole somewhere, and never as pieces on adjacent lines."""
    if not names:
        return []
    wanted = set(names)
    per_line = [[(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(line)] for line in lines]
    shown = {token for tokens in per_line for _, _, token in tokens}
    problems = [f"{name} not shown whole" for name in names if name not in shown]
    for start_line, tokens in enumerate(per_line):
        for start, end, token in tokens:
            if token in wanted or not any(token in name for name in wanted):
                continue
            problems += _joined_names(per_line, start_line, start, end, token, wanted)
    return problems


def _joined_names(per_line, line_index, start, end, joined, wanted, depth=1) -> list[str]:
    """Pieces under ``joined`` (overlapping its columns) that spell one of ``wanted`` with it."""
    if depth > 6 or line_index + 1 >= len(per_line):
        return []
    found = []
    for below_start, below_end, token in per_line[line_index + 1]:
        if below_start >= end or below_end <= start:
            continue
        for glue in ("", " "):
            candidate = joined + glue + token
            if candidate in wanted:
                found.append(f"{candidate} split over lines {line_index + 2 - depth}-{line_index + 2}")
            elif any(candidate in name for name in wanted):
                found += _joined_names(per_line, line_index + 1, min(start, below_start), max(end, below_end),
                                       candidate, wanted, depth + 1)
    return found


def assert_unbroken(text: str, columns: int, names: Iterable[str] = ()) -> None:
    """Fail, showing the text, when ``broken_pieces`` finds anything."""
    problems = broken_pieces(text, columns, names)
    assert not problems, "\n".join([*problems[:40], "--- shown:", text])
