"""The command-line form of one statement: ``conv2d --out 64 -k 7 -s 2 -p 3 --no-bias``.

Options are spelt as the layer commands take them (long and short flags, ``--no-x`` for flags),
and ``name=value`` and positional values are accepted too. A flag may carry a value
(``--bias=false``), as on the layer commands.
"""

from __future__ import annotations

import re
import shlex
from typing import Any, Mapping

from ..errors import ConvcalcError, ParseError
from ..layers.argument_help import BOOLEAN_WORDS, flag_takes_no_value
from ..layers.base import ArgSpec, Layer
from ..layers.build import NEGATIVE_NUMBER, given_twice, no_argument, no_option, option_word, positional_names
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
    reader = _LineReader(cls, source, words)
    reader.read()
    return layer_node(cls, {**(defaults or {}), **reader.kwargs}, reader.forward, {}, source)


class _LineReader:
    """The words after a layer's name, read one at a time into its arguments."""

    def __init__(self, cls: type[Layer], source: Source, words: list[tuple[str, int]]) -> None:
        self.cls = cls
        self.source = source
        self.words = words
        self.next = 1
        self.specs = {spec.name: spec for spec in cls.arg_specs()}
        self.forward_specs = {spec.name: spec for spec in cls.forward_arg_specs()}
        self.kwargs: dict[str, Any] = {}
        self.forward: dict[str, Any] = {}

    def read(self) -> None:
        while self.next < len(self.words):
            word, column = self.words[self.next]
            self.next += 1
            if word.startswith("-") and len(word) > 1 and not NEGATIVE_NUMBER.fullmatch(word):
                self._option(word, column)
            elif "=" in word and re.match(r"[A-Za-z_][\w-]*=", word):
                self._keyword(word, column)
            else:
                self._positional(word, column)

    def fail(self, message: str, column: int) -> ParseError:
        return ParseError(f"{self.source.where()}: {message}", line=self.source.line, column=column)

    def _option(self, word: str, column: int) -> None:
        """``--kernel-size 3``, ``--kernel-size=3``, ``-k3``, ``--no-bias`` or ``--bias=false``."""
        try:
            found = option_word(self.cls, word)
        except ConvcalcError as exc:
            raise self.fail(str(exc), column) from None
        flag = word.partition("=")[0]
        if found is None:
            flags = [f for spec in self.cls.arg_specs() + self.cls.forward_arg_specs() for f in spec.flags]
            raise self.fail(no_option(self.cls, flag, flags), column)
        spec, is_forward, value_text = found
        following = self.words[self.next][0] if self.next < len(self.words) else ""
        if spec.is_flag and "=" not in word and following.lower() in BOOLEAN_WORDS:
            raise self.fail(flag_takes_no_value(flag, f"{flag} {following}"), column)
        if spec.is_flag and value_text is None:
            value_text = "true"
        if value_text is None:
            if self.next >= len(self.words):
                raise self.fail(f"{flag} needs a value", column)
            value_text = self.words[self.next][0]
            self.next += 1
        self._store(spec, is_forward, value_text, column)

    def _keyword(self, word: str, column: int) -> None:
        """``kernel_size=3`` (or ``kernel-size=3``), torch's argument name."""
        key, _, value_text = word.partition("=")
        key = key.replace("-", "_")
        if key in self.specs:
            self._store(self.specs[key], False, value_text, column)
        elif key in self.forward_specs:
            self._store(self.forward_specs[key], True, value_text, column)
        else:
            raise self.fail(no_argument(self.cls, key), column)

    def _positional(self, word: str, column: int) -> None:
        """A bare value: the next constructor argument torch's signature takes by position."""
        remaining = [name for name in positional_names(self.cls) if name not in self.kwargs]
        if not remaining:
            raise self.fail(
                f"unexpected value {word!r}: every positional argument of {self.cls.cli_name()} is given", column
            )
        spec = self.specs[remaining[0]]
        try:
            self.kwargs[spec.name] = spec.value_from_text(word)
        except ConvcalcError as exc:
            raise self.fail(f"{word!r} is read as {spec.name}, the next positional argument: {exc}", column) from None

    def _store(self, spec: ArgSpec, is_forward: bool, value_text: str, column: int) -> None:
        target = self.forward if is_forward else self.kwargs
        if spec.name in target:
            raise self.fail(given_twice(spec.name), column)
        try:
            target[spec.name] = spec.value_from_text(value_text)
        except ConvcalcError as exc:
            raise self.fail(str(exc), column) from None


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
