"""The option words every convcalc command reads the same way before Click parses them.

- torch's snake_case spelling of an option (``--input_file``, ``--in_channels``) is its
  kebab-case option;
- a flag takes ``--flag=true|false`` (``yes``/``no``, ``1``/``0``, ``on``/``off``), as a spec
  line and a layer option (``--bias=false``) do: false is the flag's negation, or the flag left
  out where it has none;
- a flag followed by a separate ``true`` or ``false`` is refused in one line: a flag takes no
  separate value, and reading the word as the next argument would hide the mistake.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, NamedTuple

from ..errors import ParseError
from ..layers.argument_help import BOOLEAN_WORDS, flag_takes_no_value


class Spelling(NamedTuple):
    """What one spelling of an option is: the option's own spelling, and for a flag the spelling
    that turns it on and the one that turns it off (None: leave the flag out)."""

    option: str
    takes_value: bool
    on: str | None = None
    off: str | None = None


def spellings(params: Iterable[Any]) -> dict[str, Spelling]:
    """Every spelling of the options among Click ``params``.

    >>> from types import SimpleNamespace as Option
    >>> table = spellings([Option(param_type_name="option", opts=["--bias"], secondary_opts=["--no-bias"], is_flag=True)])
    >>> table["--no-bias"]
    Spelling(option='--no-bias', takes_value=False, on='--no-bias', off='--bias')
    """
    table: dict[str, Spelling] = {}
    for param in params:
        opts, negations = list(getattr(param, "opts", ())), list(getattr(param, "secondary_opts", ()))
        if getattr(param, "param_type_name", "") != "option":
            continue
        if getattr(param, "is_flag", False):
            on, off = opts[0], (negations[0] if negations else None)
            table.update({spelling: Spelling(spelling, False, on, off) for spelling in opts})
            table.update({spelling: Spelling(spelling, False, off, on) for spelling in negations})
        else:
            table.update({spelling: Spelling(spelling, True) for spelling in opts})
    return table


def flag_spelling(on: str, off: str | None) -> dict[str, Spelling]:
    """The spellings of a flag ``on`` with its negation ``off``, for words Click does not parse.

    >>> flag_spelling("--bias", "--no-bias")["--no-bias"].on
    '--no-bias'
    """
    return {on: Spelling(on, False, on, off), **({off: Spelling(off, False, off, on)} if off else {})}


def read_words(args: Iterable[str], table: Mapping[str, Spelling]) -> list[str]:
    """``args`` with every option in the spelling Click knows (see the module docstring).

    >>> table = {**flag_spelling("--json", None), "--input-file": Spelling("--input-file", True)}
    >>> read_words(["--input_file", "--json", "--json=false", "--json=yes"], table)
    ['--input-file', '--json', '--json']
    >>> read_words(["--json", "true"], table)
    Traceback (most recent call last):
    ...
    convcalc.errors.ParseError: --json is a flag and takes no value (got '--json true'); write --json alone, or --json=true / --json=false
    """
    words: list[str] = []
    value_next = False
    listed = list(args)
    for index, word in enumerate(listed):
        if value_next or word == "--" or not word.startswith("--"):
            if word == "--":
                return words + listed[index:]
            words.append(word)
            value_next = False
            continue
        flag, eq, value = word.partition("=")
        spelling = table.get(flag) or table.get(flag.replace("_", "-"))
        if spelling is None:  # not this command's: a layer's option for explain, or a mistake Click reports
            words.append(word)
            continue
        if spelling.takes_value:
            words.append(spelling.option + eq + value)
            value_next = not eq
            continue
        following = listed[index + 1] if index + 1 < len(listed) else ""
        if not eq and following.lower() in BOOLEAN_WORDS:
            raise ParseError(flag_takes_no_value(spelling.option, f"{flag} {following}"))
        chosen = spelling.on if not eq or _truth(value, flag) else spelling.off
        if chosen is not None:
            words.append(chosen)
    return words


def _truth(text: str, flag: str) -> bool:
    from ..layers.base import ARG_PARSERS

    return bool(ARG_PARSERS[bool](text, flag))
