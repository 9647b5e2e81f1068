"""The command-line form of one statement: ``conv2d --out 64 -k 7 -s 2 -p 3 --no-bias``.

Options are spelt as the layer commands take them (long and short flags, ``--no-x`` for flags),
and ``name=value`` and positional values are accepted too. A flag may carry a value
(``--bias=false``), as on the layer commands.
"""

from __future__ import annotations

import re
import shlex
from functools import lru_cache
from typing import Any, Mapping

from ..errors import ConvcalcError, ParseError, did_you_mean
from ..layers.base import ArgSpec, Layer
from ..layers.build import positional_names
from ..registry import lookup
from .nodes import BLOCK_KEYWORDS, Node, Source, layer_node


def parse_line(text: str, source: Source, defaults: Mapping[str, Any] | None = None) -> Node:
    """The node of one line-form statement; ``defaults`` fill arguments it does not give."""
    words = _words(text, source)
    first, first_column = words[0]
    try:
        cls = lookup(first)
    except ConvcalcError as exc:
        if first.lower() in BLOCK_KEYWORDS:
            raise ParseError(
                f"{source.where()}: `{first}` opens a block and must be followed by '{{'",
                line=source.line,
                column=source.column,
            ) from None
        raise ParseError(
            f"{source.where()}: {exc}", line=source.line, column=first_column
        ) from None
    options = _option_table(cls)
    specs = {spec.name: spec for spec in cls.arg_specs()}
    forward_specs = {spec.name: spec for spec in cls.forward_arg_specs()}
    kwargs: dict[str, Any] = {}
    forward: dict[str, Any] = {}
    positional = [name for name in positional_names(cls)]
    i = 1
    while i < len(words):
        word, column = words[i]
        i += 1

        def fail(message: str, column: int = column) -> ParseError:
            return ParseError(f"{source.where()}: {message}", line=source.line, column=column)

        value_text: str | None = None
        spec: ArgSpec | None = None
        is_forward = False
        if word.startswith("-") and len(word) > 1 and not _NUMBER.fullmatch(word):
            flag, eq, attached = word.partition("=")
            if flag in options:
                is_forward, spec = options[flag]
                if eq:
                    value_text = attached
            elif (
                flag.startswith("--no-")
                and ("--" + flag[5:]) in options
                and options["--" + flag[5:]][1].is_flag
            ):
                is_forward, spec = options["--" + flag[5:]]
                if eq:
                    raise fail(f"{flag} takes no value")
                value_text = "false"
            elif (
                not flag.startswith("--")
                and flag[:2] in options
                and not options[flag[:2]][1].is_flag
            ):
                is_forward, spec = options[flag[:2]]
                value_text = word[2:]
            else:
                flags = [
                    f for spec in cls.arg_specs() + cls.forward_arg_specs() for f in spec.flags
                ]
                raise fail(f"{cls.cli_name()} has no option {flag}{did_you_mean(flag, flags)}")
            if spec.is_flag and value_text is None:
                value_text = "true"
            if value_text is None:
                if i >= len(words):
                    raise fail(f"{flag} needs a value")
                value_text = words[i][0]
                i += 1
        elif "=" in word and re.match(r"[A-Za-z_][\w-]*=", word):
            key, _, value_text = word.partition("=")
            key = key.replace("-", "_")
            if key in specs:
                spec = specs[key]
            elif key in forward_specs:
                spec, is_forward = forward_specs[key], True
            else:
                raise fail(f"{cls.__name__} has no argument {key}{did_you_mean(key, specs)}")
        else:
            remaining = [name for name in positional if name not in kwargs]
            if not remaining:
                raise fail(
                    f"unexpected value {word!r}: every positional argument of {cls.cli_name()} is given"
                )
            spec = specs[remaining[0]]
            try:
                kwargs[spec.name] = spec.value_from_text(word)
            except ConvcalcError as exc:
                raise fail(
                    f"{word!r} is read as {spec.name}, the next positional argument: {exc}"
                ) from None
            continue
        target = forward if is_forward else kwargs
        if spec.name in target:
            raise fail(f"{spec.name} is given twice")
        try:
            target[spec.name] = spec.value_from_text(value_text)
        except ConvcalcError as exc:
            raise fail(str(exc)) from None
    return layer_node(cls, {**(defaults or {}), **kwargs}, forward, {}, source)


_NUMBER = re.compile(r"-\d+(\.\d*)?([eE][-+]?\d+)?|-\.\d+|-inf", re.IGNORECASE)


def _words(text: str, source: Source) -> list[tuple[str, int]]:
    """Shell-like words with their 1-based columns (quotes allowed)."""
    if "'" not in text and '"' not in text and "\\" not in text:
        return [(m.group(), source.column + m.start()) for m in re.finditer(r"\S+", text)]
    try:
        words = shlex.split(text, posix=True)
    except ValueError as exc:
        raise ParseError(
            f"{source.where()}: {exc}", line=source.line, column=source.column
        ) from None
    located = []
    offset = 0
    for word in words:
        found = text.find(word, offset)
        if found < 0:
            found = offset
        located.append((word, source.column + found))
        offset = found + len(word) if found >= offset else offset
    return located or [(text, source.column)]


@lru_cache(maxsize=None)
def _option_table(cls: type[Layer]) -> dict[str, tuple[bool, ArgSpec]]:
    """Option spelling -> (is a forward argument, spec): kebab-case, snake_case and short flags."""
    table: dict[str, tuple[bool, ArgSpec]] = {}
    for is_forward, specs in ((True, cls.forward_arg_specs()), (False, cls.arg_specs())):
        for spec in specs:
            for flag in spec.flags:
                table[flag] = (is_forward, spec)
            table["--" + spec.name] = (is_forward, spec)
    return table
