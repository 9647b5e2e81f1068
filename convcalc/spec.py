"""Network specs: text in any of four forms, read into a tree of modules.

The forms, which may be mixed line by line:

- the command-line form, one layer per statement: ``conv2d --out 64 -k 7 -s 2 -p 3 --no-bias``
  (options as the single-layer commands take them, ``name=value`` and positional values too;
  channel and feature counts are inferred from the incoming shape);
- the PyTorch form: ``Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)``, with or
  without ``nn.``/``torch.nn.``; read with :mod:`ast`, literal values only, never evaluated;
- the text ``print(model)`` prints: ``Name(`` opens a module whose children follow as
  ``(name): Layer(...)`` lines up to the matching ``)``; ``(0-2): 3 x Linear(...)`` (torch's way
  of printing repeated modules) is expanded; lines of a custom module's ``extra_repr`` are
  skipped with a note; keywords torch prints that are not constructor arguments
  (``UpsamplingNearest2d(..., mode='nearest')``) are accepted (a value other than the printed
  one is ignored with a note), and any other unknown keyword is an error, as in torch;
- JSON (see :func:`parse_json_spec` for the schema).

Statements are separated by newlines or ``;``. ``#`` starts a comment. ``input 1x3x224x224``
sets the input shape. Any statement may be named with a ``(name):`` prefix, as print(model)
names them; unnamed ones are numbered by position, as in ``nn.Sequential``.

Blocks, for the command-line form::

    sequential { ... }                  # a nested nn.Sequential
    repeat 3 { ... }                    # nn.Sequential of 3 copies of the body
    residual { ... }                    # x + body(x)
    residual { ... } shortcut { ... }   # body(x) + shortcut(x)
    residual { ... } shortcut downsample { ... }   # the same, its branch named "downsample"

The result is a tree of :class:`ModuleNode` (containers) and :class:`LayerNode` (layers, their
arguments parsed and, when nothing needs inferring, the layer already built); how a container
runs (sequentially, as a residual block) is decided by :mod:`convcalc.network.model`.

Every problem is a :class:`~convcalc.errors.ConvcalcError`, located by line and column. Sizes
and depths are bounded (``MAX_*`` below) so that no input can exhaust memory, the stack or time.
"""

from __future__ import annotations

import ast
import bisect
import difflib
import json
import json.decoder
import json.scanner
import math
import re
import shlex
import warnings
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Union

from .errors import ConvcalcError, ParseError
from .layers.base import ARG_PARSERS, INFERABLE, ArgSpec, Layer, Shape
from .registry import aliases, layer_classes, lookup, suggestion
from .shapes import parse_shape

MAX_SPEC_CHARS = 10_000_000
MAX_STATEMENT_CHARS = 100_000
MAX_BRACKET_DEPTH = 32  # brackets inside one statement, and JSON nesting below
MAX_JSON_DEPTH = 64
MAX_NESTING = 64  # modules inside modules
MAX_REPEAT = 10_000
MAX_LAYERS = 200_000  # leaf layers once repeats are expanded

# Containers torch runs (or whose parent runs them) child after child.
SEQUENTIAL_TYPES = frozenset({"Sequential", "ModuleList", "ModuleDict"})

BLOCK_KEYWORDS = ("sequential", "repeat", "residual", "shortcut")


@dataclass(frozen=True)
class Source:
    """Where a statement is in the spec: 1-based line and column, and its text."""

    line: int
    column: int
    text: str

    def where(self) -> str:
        """The statement quoted for a message: on one line, shortened past 80 characters."""
        text = " ".join(self.text.split())
        text = text if len(text) <= 80 else text[:77] + "..."
        return f"`{text}`"


@dataclass(eq=False)
class LayerNode:
    """One layer: its class, the constructor arguments given, and where it was written.

    ``layer`` is the built layer when every required argument was given; otherwise the network
    builds it once the input shape supplies the rest (``Layer.infer_args``).
    """

    cls: type[Layer]
    kwargs: dict[str, Any]
    source: Source
    forward_kwargs: dict[str, Any] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)  # printed by torch, not arguments
    layer: Layer | None = None


@dataclass(eq=False)
class ModuleNode:
    """A container: ``children`` are ``(name, node)`` in print (registration) order.

    ``residual`` marks an explicit residual block of the line form or JSON; its branch, when it
    has one, is the child named ``shortcut_name``.
    """

    type_name: str
    children: list[tuple[str, "Node"]]
    source: Source
    residual: bool = False
    shortcut_name: str | None = None
    notes: list[str] = field(default_factory=list)


Node = Union[LayerNode, ModuleNode]


@dataclass
class ParsedSpec:
    """A spec read from text: the module tree, the input shape if given, and notes."""

    root: ModuleNode
    input_shape: Shape | None
    form: str  # "text" or "json"
    notes: list[str] = field(default_factory=list)


def parse_spec(text: str | bytes) -> ParsedSpec:
    """Read a network spec in any of the forms; raise ParseError (with line/column) otherwise.

    >>> spec = parse_spec("input 1x3x32x32\\nconv2d --out 8 -k 3\\nnn.Identity()")
    >>> spec.input_shape, [name for name, _ in spec.root.children]
    ((1, 3, 32, 32), ['0', '1'])
    """
    text = _as_text(text)
    start = _first_content(text)
    if start is None:
        raise ParseError(
            "the spec is empty: write one layer per line, e.g. `conv2d --out 16 -k 3`, "
            "`Conv2d(3, 16, 3)` or the text print(model) prints"
        )
    if text[start] in "[{":
        spec = parse_json_spec(text)
    else:
        spec = _Parser(text).parse()
    _check_size(spec.root)
    return spec


# -- text checks ----------------------------------------------------------------------------------


def _as_text(text: str | bytes) -> str:
    if isinstance(text, (bytes, bytearray)):
        if len(text) > MAX_SPEC_CHARS:
            raise _too_big(len(text))
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise ParseError(
                f"the spec is not UTF-8 text (byte 0x{text[exc.start]:02x} at offset {exc.start}); "
                "is it a binary file?"
            ) from None
    if not isinstance(text, str):
        raise ParseError(f"a spec is text, got {type(text).__name__}")
    if len(text) > MAX_SPEC_CHARS:
        raise _too_big(len(text))
    text = text.removeprefix("\ufeff")
    _reject_binary(text)
    return text


def _too_big(size: int) -> ParseError:
    return ParseError(
        f"the spec is {size / 1e6:.1f} MB; specs are limited to {MAX_SPEC_CHARS / 1e6:.0f} MB "
        "(a network spec is text, one layer per line)"
    )


_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")


def _reject_binary(text: str) -> None:
    bad = _CONTROL.search(text)
    if bad is None:
        return
    line = text.count("\n", 0, bad.start()) + 1
    column = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
    raise ParseError(
        f"control character {bad.group()!r} in the spec; is it a binary file?",
        line=line,
        column=column,
    )


def _first_content(text: str) -> int | None:
    """Offset of the first character that is neither whitespace nor in a comment."""
    offset = 0
    for line in text.split("\n"):
        content = _strip_comment(line)
        stripped = content.lstrip()
        if stripped.strip():
            return offset + len(content) - len(stripped)
        offset += len(line) + 1
    return None


# -- lexing ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # "stmt", "{", "}", "open", "close"
    text: str
    line: int
    column: int


# "(name): 2 x Type(" at the end of a line opens a module printed by print(model).
_OPENER = re.compile(
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


def _strip_comment(line: str) -> str:
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


class _Lexer:
    """Split the text into statements, braces and print(model) openers/closers, with positions."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[_Token] = []
        # A statement continued over lines while brackets are open.
        self.pending: list[str] = []
        self.pending_start: tuple[int, int] | None = None
        self.pending_size = 0
        self.opened: list[tuple[int, int, str]] = []  # open brackets: line, column, char

    def run(self) -> list[_Token]:
        for number, raw in enumerate(self.text.split("\n"), 1):
            if len(raw) > MAX_STATEMENT_CHARS:
                raise ParseError(
                    f"line is {len(raw)} characters long; the limit is {MAX_STATEMENT_CHARS}",
                    line=number,
                )
            line = _strip_comment(raw.rstrip("\r"))
            if self.pending_start is None:
                stripped = line.strip()
                if not stripped:
                    continue
                column = len(line) - len(line.lstrip()) + 1
                if stripped[0] == ")" and stripped[1:].strip() in ("", ","):
                    self.tokens.append(_Token("close", ")", number, column))
                    continue
                if stripped.endswith("(") and self._is_opener(stripped):
                    self.tokens.append(_Token("open", stripped, number, column))
                    continue
                if not _QUOTES_OR_SEPARATORS.search(line) and _balanced(line):
                    self.tokens.append(_Token("stmt", stripped, number, column))
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
    def _is_opener(stripped: str) -> bool:
        match = _OPENER.fullmatch(stripped)
        if match is None:
            return False
        # A layer's own call continued on the next lines is a statement, not a module.
        return not _is_layer_name(match["type"])

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
            elif ch in "([":
                if start is None:
                    start = i
                self.opened.append((number, i + 1, ch))
                if len(self.opened) > MAX_BRACKET_DEPTH:
                    raise ParseError(
                        f"brackets nested more than {MAX_BRACKET_DEPTH} deep",
                        line=number,
                        column=i + 1,
                    )
            elif ch in ")]":
                if not self.opened:
                    raise ParseError(
                        f"unmatched {ch!r}: no bracket is open here", line=number, column=i + 1
                    )
                _, _, opener = self.opened.pop()
                if (opener, ch) not in (("(", ")"), ("[", "]")):
                    raise ParseError(f"{ch!r} closes {opener!r}", line=number, column=i + 1)
                if start is None:
                    start = i
            elif not self.opened and ch in ";{}":
                if start is not None:
                    self._flush(line[start:i], number, start)
                    start = None
                if ch != ";":
                    self.tokens.append(_Token(ch, ch, number, i + 1))
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
            if self.pending_start is None:
                self.pending_start = (number, start + 1)
            self.pending.append(line[start:])
            self.pending_size += len(line) - start
            if self.pending_size > MAX_STATEMENT_CHARS:
                raise ParseError(
                    f"statement longer than {MAX_STATEMENT_CHARS} characters "
                    "(is a bracket left open?)",
                    line=self.pending_start[0],
                    column=self.pending_start[1],
                )
            return
        self._flush(line[start:], number, start)

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
            self.tokens.append(_Token("stmt", text, line, column))


# -- parsing statements ---------------------------------------------------------------------------

_NAME_PREFIX = re.compile(r"\((?P<name>[^()]*)\)\s*:\s*")
_REPEAT_PREFIX = re.compile(r"(?P<count>\d+)\s*x\s+(?=[A-Za-z_])")
_CALL_START = re.compile(r"(?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*\s*\(")
_INPUT = re.compile(r"input(?:\s*[:=]\s*|\s+|$)(?P<shape>.*)", re.IGNORECASE | re.DOTALL)
_HEADER = re.compile(
    r"(?P<keyword>sequential|residual|repeat|shortcut)(?:\s+(?P<arg>\S+))?", re.IGNORECASE
)
_VALID_NAME = re.compile(r"[^.\s()]+")


@dataclass
class _Item:
    """A parsed statement: its node and the names it takes in its container."""

    node: Node | None  # None for an input line
    names: list[str] | None  # explicit names (a range expands to several); None: by position
    count: int
    source: Source
    input_shape: Shape | None = None
    whole_model: bool = False  # a printed module or an nn.Sequential(...) call


def _split_name(text: str, line: int, column: int) -> tuple[str | None, str, int]:
    """``(name): rest`` -> (name, rest, column of rest)."""
    match = _NAME_PREFIX.match(text)
    if match is None:
        return None, text, column
    return match["name"].strip(), text[match.end() :], column + match.end()


def _names_for(name: str, count: int, source: Source) -> list[str]:
    """``"0-2"`` with count 3 -> ``["0", "1", "2"]``; a plain name must stand alone."""
    range_match = re.fullmatch(r"(\d+)-(\d+)", name)
    if range_match:
        first, last = int(range_match[1]), int(range_match[2])
        if last - first + 1 != count:
            raise ParseError(
                f"({name}) names {last - first + 1} modules but the line says {count} x",
                line=source.line,
                column=source.column,
            )
        return [str(i) for i in range(first, last + 1)]
    if not _VALID_NAME.fullmatch(name):
        raise ParseError(
            f"{name!r} is not a module name: a name has no dots, spaces or brackets",
            line=source.line,
            column=source.column,
        )
    if count != 1:
        raise ParseError(
            f"({name}): {count} x ... needs a range of names such as (0-{count - 1})",
            line=source.line,
            column=source.column,
        )
    return [name]


def _count(text: str, source: Source) -> int:
    count = int(text)
    if not 1 <= count <= MAX_REPEAT:
        raise ParseError(
            f"a repeat count must be 1 to {MAX_REPEAT}, got {count}",
            line=source.line,
            column=source.column,
        )
    return count


class _StatementParser:
    """Turns one statement (without its name prefix) into a node. Shared by text and JSON."""

    def __init__(self) -> None:
        # Statements repeat a lot (3000-layer specs are mostly copies): parse each text once.
        self._memo: dict[
            str, tuple[type[Layer], dict[str, Any], dict[str, Any], dict[str, Any], Layer | None]
        ] = {}

    def leaf(self, text: str, source: Source) -> Node:
        text = text.strip().rstrip(",").rstrip()
        if not text:
            raise ParseError(
                f"{source.where()}: no layer here", line=source.line, column=source.column
            )
        memo = self._memo.get(text)
        if memo is not None:
            cls, kwargs, forward, extras, layer = memo
            return LayerNode(cls, kwargs, source, forward, extras, layer)
        if _CALL_START.match(text):
            node = self._call(text, source)
        else:
            node = self._line_form(text, source)
        if isinstance(node, LayerNode):
            self._memo[text] = (node.cls, node.kwargs, node.forward_kwargs, node.extras, node.layer)
        return node

    # -- the PyTorch form --

    def _call(self, text: str, source: Source) -> Node:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "invalid decimal literal" and the like
                tree = ast.parse(text, mode="eval")
        except SyntaxError as exc:
            line, column = _ast_position(source, exc.lineno, exc.offset)
            raise ParseError(
                f"{source.where()} is not a valid call: {exc.msg}", line=line, column=column
            ) from None
        except (ValueError, MemoryError, RecursionError, OverflowError) as exc:
            raise ParseError(
                f"{source.where()} cannot be read: {exc}", line=source.line, column=source.column
            ) from None
        if not isinstance(tree.body, ast.Call):
            raise ParseError(
                f"{source.where()} is not a single layer call like Conv2d(3, 8, 3)",
                line=source.line,
                column=source.column,
            )
        return self._call_node(tree.body, source)

    def _call_node(self, call: ast.Call, source: Source) -> Node:
        name = _dotted(call.func)
        where = _node_source(source, call)
        if name is None:
            raise ParseError(
                f"{source.where()}: expected a layer name before '('",
                line=where.line,
                column=where.column,
            )
        short = name.rsplit(".", 1)[-1]
        if short in SEQUENTIAL_TYPES:
            return self._container_call(short, call, where)
        try:
            cls = lookup(name)
        except ConvcalcError as exc:
            raise ParseError(
                f"{where.where()}: {exc}", line=where.line, column=where.column
            ) from None
        positional = _positional_names(cls)
        specs = {spec.name: spec for spec in cls.arg_specs()}
        kwargs: dict[str, Any] = {}
        extras: dict[str, Any] = {}
        if len(call.args) > len(positional):
            raise ParseError(
                f"{where.where()}: {cls.__name__} takes at most {len(positional)} positional "
                f"arguments ({', '.join(positional)}), got {len(call.args)}",
                line=where.line,
                column=where.column,
            )
        for arg_name, arg in zip(positional, call.args):
            kwargs[arg_name] = self._value(specs.get(arg_name), arg, source)
        for keyword in call.keywords:
            key = keyword.arg
            at = _node_source(source, keyword)
            if key is None:
                raise ParseError(
                    f"{at.where()}: **kwargs cannot be read; write the arguments out",
                    line=at.line,
                    column=at.column,
                )
            if key in kwargs:
                raise ParseError(
                    f"{where.where()}: {key} is given twice", line=at.line, column=at.column
                )
            if key in ("device", "dtype"):
                continue
            value = self._value(specs.get(key), keyword.value, source)
            if key in specs:
                kwargs[key] = value
            else:
                extras[key] = value
        return self._layer_node(cls, kwargs, {}, extras, where)

    def _container_call(self, kind: str, call: ast.Call, where: Source) -> ModuleNode:
        children: list[tuple[str, Node]] = []
        if call.keywords:
            raise ParseError(
                f"{where.where()}: {kind} takes no keyword arguments here",
                line=where.line,
                column=where.column,
            )
        args = list(call.args)
        if kind == "ModuleDict":
            if len(args) > 1 or (args and not isinstance(args[0], ast.Dict)):
                raise ParseError(
                    f"{where.where()}: write ModuleDict({{'name': Layer(...), ...}})",
                    line=where.line,
                    column=where.column,
                )
            pairs = list(zip(args[0].keys, args[0].values)) if args else []
            for key, value in pairs:
                if not (isinstance(key, ast.Constant) and isinstance(key.value, str)):
                    raise ParseError(
                        f"{where.where()}: ModuleDict keys are strings",
                        line=where.line,
                        column=where.column,
                    )
                children.append((key.value, self._module_arg(value, where)))
        else:
            if (
                kind == "ModuleList"
                and len(args) == 1
                and isinstance(args[0], (ast.List, ast.Tuple))
            ):
                args = list(args[0].elts)
            children = [(str(i), self._module_arg(arg, where)) for i, arg in enumerate(args)]
        _check_unique(children, where)
        return ModuleNode(kind, children, where)

    def _module_arg(self, node: ast.expr, where: Source) -> Node:
        if not isinstance(node, ast.Call):
            at = _node_source(where, node)
            raise ParseError(
                f"{where.where()}: a container holds layer calls like nn.ReLU(), not "
                f"{ast.dump(node)[:40]}",
                line=at.line,
                column=at.column,
            )
        return self._call_node(node, where)

    def _value(self, spec: ArgSpec | None, node: ast.expr, source: Source) -> Any:
        value = _literal(node, source)
        if spec is not None and isinstance(value, str) and _parses_text(spec):
            at = _node_source(source, node)
            try:
                return spec.parse(value)
            except ConvcalcError as exc:
                raise ParseError(
                    f"{source.where()}: {spec.name}: {exc}", line=at.line, column=at.column
                ) from None
        return value

    # -- the command-line form --

    def _line_form(self, text: str, source: Source) -> Node:
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
        positional = [name for name in _positional_names(cls)]
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
                    kwargs[spec.name] = _parse_value(spec, word)
                except ConvcalcError as exc:
                    raise fail(
                        f"{word!r} is read as {spec.name}, the next positional argument: {exc}"
                    ) from None
                continue
            target = forward if is_forward else kwargs
            if spec.name in target:
                raise fail(f"{spec.name} is given twice")
            try:
                target[spec.name] = _parse_value(spec, value_text)
            except ConvcalcError as exc:
                raise fail(str(exc)) from None
        return self._layer_node(cls, kwargs, forward, {}, source)

    @staticmethod
    def _layer_node(
        cls: type[Layer],
        kwargs: dict[str, Any],
        forward: dict[str, Any],
        extras: dict[str, Any],
        source: Source,
    ) -> LayerNode:
        specs = cls.arg_specs()
        missing = [spec for spec in specs if spec.required and spec.name not in kwargs]
        not_inferable = [spec for spec in missing if spec.name not in INFERABLE]
        if not_inferable:
            wanted = ", ".join(f"{spec.name} ({'/'.join(spec.flags)})" for spec in not_inferable)
            names = [spec.name for spec in specs]
            misspelt = "".join(
                f"; {extra} is not an argument of {cls.__name__}{did_you_mean(extra, names)}"
                for extra in extras
            )
            raise ParseError(
                f"{source.where()}: {cls.__name__} needs {wanted}{misspelt}",
                line=source.line,
                column=source.column,
            )
        node = LayerNode(cls, kwargs, source, forward, extras)
        if not missing:
            node.layer = build_layer(cls, kwargs, source)
        return node


def _parses_text(spec: ArgSpec) -> bool:
    """Whether a text value for ``spec`` is read the command-line way (``"3x3"``, ``"same"``)."""
    return bool(spec.choices) or (spec.annotation is not str and spec.annotation in ARG_PARSERS)


def _parse_value(spec: ArgSpec, text: str) -> Any:
    if not (spec.choices or spec.annotation in ARG_PARSERS):
        return text  # an argument with no text parser takes the text as it is
    return spec.parse(text)


def build_layer(
    cls: type[Layer], kwargs: dict[str, Any], source: Source, name: str | None = None
) -> Layer:
    """Construct a layer; any failure becomes a ConvcalcError naming the spec line."""
    try:
        return cls(**kwargs)
    except ConvcalcError as exc:
        raise locate(exc, source, name, cls.__name__) from None
    except (TypeError, ValueError, ArithmeticError, IndexError, KeyError, AttributeError) as exc:
        # A value of a type the layer does not check (a string for a count, ...).
        raise locate(
            ParseError(f"{cls.__name__}: invalid arguments {kwargs}: {exc}"),
            source,
            name,
            cls.__name__,
        ) from None


def locate(
    exc: ConvcalcError, source: Source | None, name: str | None = None, type_name: str | None = None
) -> ConvcalcError:
    """The same error, its message prefixed with where in the spec (and which layer) it arose."""
    if source is None:
        return exc
    who = ""
    if name:
        who = f"layer {name}" + (f" ({type_name})" if type_name else "") + " "
    message = f"{who}{source.where()}: {_bare_message(exc)}"
    if isinstance(exc, ParseError):
        return ParseError(message, line=source.line, column=source.column)
    located = type(exc)(f"line {source.line}, column {source.column}: {message}")
    located.line = source.line  # type: ignore[attr-defined]
    located.column = source.column  # type: ignore[attr-defined]
    return located


def _bare_message(exc: ConvcalcError) -> str:
    message = str(exc)
    if isinstance(exc, ParseError) and exc.line is not None:
        message = re.sub(r"^line \d+(, column \d+)?: ", "", message)
    return message


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


@lru_cache(maxsize=None)
def _positional_names(cls: type[Layer]) -> tuple[str, ...]:
    import inspect

    names = []
    for param in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if param.kind is not param.POSITIONAL_OR_KEYWORD or param.name in ("device", "dtype"):
            break
        names.append(param.name)
    return tuple(names)


def _is_layer_name(name: str) -> bool:
    """Whether ``lookup`` would find ``name`` (without building its error message)."""
    key = name.strip().lower().removeprefix("torch.").removeprefix("nn.")
    return key in layer_classes() or key in aliases()


def did_you_mean(word: str, known: Any) -> str:
    """"; did you mean X?" for the close matches of ``word`` among ``known``, or "".

    >>> did_you_mean("strid", ["stride", "padding"])
    '; did you mean stride?'
    """
    close = difflib.get_close_matches(word, list(known), n=2, cutoff=0.6)
    return "; did you mean " + " or ".join(close) + "?" if close else ""


def _dotted(node: ast.expr) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _ast_position(source: Source, lineno: int | None, offset: int | None) -> tuple[int, int]:
    lineno = lineno or 1
    offset = offset or 1
    if lineno == 1:
        return source.line, source.column + offset - 1
    return source.line + lineno - 1, offset


def _node_source(source: Source, node: ast.AST) -> Source:
    line, column = _ast_position(
        source, getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1
    )
    return Source(line, column, source.text)


_NAMED_CONSTANTS = {"inf": math.inf, "nan": math.nan, "true": True, "false": False, "none": None}


def _literal(node: ast.expr, source: Source) -> Any:
    """A literal value: numbers, strings, True/False/None, tuples and lists (as tuples), and the
    bare words torch prints unquoted (``padding=same``, ``padding_mode=circular``)."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, (bool, int, float, str)) or node.value is None:
            if (
                isinstance(node.value, int)
                and not isinstance(node.value, bool)
                and abs(node.value) > 2**62
            ):
                at = _node_source(source, node)
                raise ParseError(
                    f"{source.where()}: {node.value} is too large", line=at.line, column=at.column
                )
            return node.value
    elif isinstance(node, (ast.Tuple, ast.List)):
        return tuple(_literal(element, source) for element in node.elts)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _literal(node.operand, source)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return -value if isinstance(node.op, ast.USub) else value
    elif isinstance(node, ast.Name):
        return _NAMED_CONSTANTS.get(node.id.lower(), node.id)
    elif isinstance(node, ast.Attribute):
        return _dotted(node)  # torch.float32 and the like: kept as text
    at = _node_source(source, node)
    raise ParseError(
        f"{source.where()}: only literal values (numbers, strings, tuples, True/False/None) can "
        "be read here; expressions and calls are never evaluated",
        line=at.line,
        column=at.column,
    )


def _check_unique(children: list[tuple[str, Node]], where: Source) -> None:
    seen: set[str] = set()
    for name, _ in children:
        if name in seen:
            raise ParseError(
                f"the name {name!r} is used twice in the module {where.where()}",
                line=where.line,
                column=where.column,
            )
        seen.add(name)


# -- the text forms -------------------------------------------------------------------------------


@dataclass
class _Frame:
    kind: str  # "root", "paren" (print(model) module), "brace" (line-form block)
    source: Source
    type_name: str = "Sequential"
    keyword: str = ""  # brace frames: sequential, repeat, residual, shortcut
    argument: str | None = None
    name: str | None = None  # the frame's own name in its parent
    count: int = 1
    entries: list[Any] = field(default_factory=list)  # _Token (statement) or _Item


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.statements = _StatementParser()
        self.input_shape: Shape | None = None
        self.input_source: Source | None = None
        self.notes: list[str] = []

    def parse(self) -> ParsedSpec:
        tokens = _Lexer(self.text).run()
        stack = [_Frame("root", Source(1, 1, ""))]
        i = 0
        while i < len(tokens):
            token = tokens[i]
            i += 1
            frame = stack[-1]
            if token.kind == "stmt":
                header = _HEADER.fullmatch(_split_name(token.text, token.line, token.column)[1])
                if header and i < len(tokens) and tokens[i].kind == "{":
                    stack.append(self._brace_frame(token, header))
                    i += 1
                    self._check_depth(stack, token)
                else:
                    frame.entries.append(token)
            elif token.kind == "{":
                raise ParseError(
                    "'{' must follow `sequential`, `repeat N`, `residual` or `shortcut`",
                    line=token.line,
                    column=token.column,
                )
            elif token.kind == "open":
                stack.append(self._paren_frame(token))
                self._check_depth(stack, token)
            else:  # "}" or "close"
                wanted = "brace" if token.kind == "}" else "paren"
                if frame.kind != wanted:
                    raise self._mismatch(token, frame)
                stack.pop()
                self._close(frame, stack[-1])
        if len(stack) > 1:
            frame = stack[-1]
            closer = "}" if frame.kind == "brace" else ")"
            raise ParseError(
                f"{frame.source.where()} is never closed: a {closer!r} is missing",
                line=frame.source.line,
                column=frame.source.column,
            )
        root_frame = stack[0]
        items = self._items(root_frame)
        modules = [item for item in items if item.node is not None]
        if not modules:
            raise ParseError(
                "the spec has no layers" + (" (only an input line)" if self.input_shape else ""),
                line=self.input_source.line if self.input_source else None,
            )
        # A single printed model is the root itself: its children are the top-level names.
        only = modules[0]
        if len(modules) == 1 and only.whole_model and only.names is None and only.count == 1:
            assert isinstance(only.node, ModuleNode)
            root = only.node
        else:
            root = ModuleNode(
                "Sequential", self._children(modules, root_frame.source), Source(1, 1, "")
            )
        return ParsedSpec(root, self.input_shape, "text", self.notes)

    @staticmethod
    def _check_depth(stack: list[_Frame], token: _Token) -> None:
        if len(stack) > MAX_NESTING:
            raise ParseError(
                f"modules nested more than {MAX_NESTING} deep", line=token.line, column=token.column
            )

    @staticmethod
    def _mismatch(token: _Token, frame: _Frame) -> ParseError:
        if frame.kind == "root":
            what = "'}' closes no block" if token.kind == "}" else "')' closes no module"
            return ParseError(what, line=token.line, column=token.column)
        wanted = "}" if frame.kind == "brace" else ")"
        return ParseError(
            f"expected {wanted!r} to close {frame.source.where()} (line {frame.source.line}) "
            f"before {token.text!r}",
            line=token.line,
            column=token.column,
        )

    def _brace_frame(self, token: _Token, header: re.Match[str]) -> _Frame:
        name, rest, column = _split_name(token.text, token.line, token.column)
        source = Source(token.line, token.column, token.text + " {")
        keyword = header["keyword"].lower()
        argument = header["arg"]
        frame = _Frame("brace", source, keyword=keyword, argument=argument, name=name)
        if keyword == "repeat":
            if argument is None or not argument.isdigit():
                at = column + (rest.find(argument) if argument else len(rest))
                raise ParseError(
                    f"write `repeat N {{`, N a whole number; got {rest!r}",
                    line=token.line,
                    column=at,
                )
            frame.count = _count(argument, source)
        elif keyword == "shortcut":
            if argument is not None and not _VALID_NAME.fullmatch(argument):
                raise ParseError(
                    f"{argument!r} is not a module name", line=token.line, column=column
                )
        elif argument is not None:
            raise ParseError(
                f"`{keyword}` takes no argument, got {argument!r}", line=token.line, column=column
            )
        return frame

    def _paren_frame(self, token: _Token) -> _Frame:
        match = _OPENER.fullmatch(token.text)
        assert match is not None
        source = Source(token.line, token.column, token.text)
        count = _count(match["count"], source) if match["count"] else 1
        type_name = match["type"].rsplit(".", 1)[-1]
        return _Frame("paren", source, type_name=type_name, name=match["name"], count=count)

    def _items(self, frame: _Frame) -> list[_Item]:
        """Parse a closed frame's statements. In a printed module, unnamed lines are extra_repr."""
        # Only nn.Sequential(...) written as Python lists its children unnamed; in any other
        # printed module, lines without a "(name):" are its extra_repr.
        printed = frame.kind == "paren" and (
            frame.type_name not in SEQUENTIAL_TYPES
            or any(
                (isinstance(entry, _Item) and entry.names is not None)
                or (isinstance(entry, _Token) and _NAME_PREFIX.match(entry.text))
                for entry in frame.entries
            )
        )
        items = []
        for entry in frame.entries:
            if isinstance(entry, _Item):
                items.append(entry)
                continue
            item = self._statement(entry, frame, printed)
            if item is not None:
                items.append(item)
        return items

    def _statement(self, token: _Token, frame: _Frame, printed: bool) -> _Item | None:
        name, rest, column = _split_name(token.text, token.line, token.column)
        source = Source(token.line, column, token.text)
        if name is None and printed:
            frame_note = f"{frame.source.where()}: skipped {token.text!r} (not a child module; extra_repr text)"
            self.notes.append(f"line {token.line}: {frame_note}")
            return None
        match = _INPUT.fullmatch(rest) if name is None else None
        if match is not None and match["shape"].strip() and not _CALL_START.match(rest):
            if frame.kind != "root":
                raise ParseError(
                    "an input line belongs at the top level, not inside a block",
                    line=token.line,
                    column=token.column,
                )
            if self.input_shape is not None:
                raise ParseError(
                    f"a second input line (the first is line {self.input_source.line})",  # type: ignore[union-attr]
                    line=token.line,
                    column=token.column,
                )
            try:
                self.input_shape = parse_shape(match["shape"])
            except ConvcalcError as exc:
                raise ParseError(
                    f"{source.where()}: {exc}", line=token.line, column=token.column
                ) from None
            self.input_source = source
            return _Item(None, None, 1, source, self.input_shape)
        count = 1
        repeat = _REPEAT_PREFIX.match(rest)
        if repeat:
            count = _count(repeat["count"], source)
            column += repeat.end()
            rest = rest[repeat.end() :]
            source = Source(token.line, column, token.text)
        if match is not None and not rest.strip()[5:].strip():
            raise ParseError(
                "an input line needs a shape: input 1x3x224x224",
                line=token.line,
                column=token.column,
            )
        names = None
        if name is not None:
            names = _names_for(name, count, Source(token.line, token.column, token.text))
        node = self.statements.leaf(rest, source)
        return _Item(node, names, count, source, whole_model=isinstance(node, ModuleNode))

    def _close(self, frame: _Frame, parent: _Frame) -> None:
        items = [item for item in self._items(frame) if item.node is not None]
        source = frame.source
        names = _names_for(frame.name, frame.count, source) if frame.name is not None else None
        if frame.kind == "paren":
            if not items and frame.type_name not in SEQUENTIAL_TYPES:
                raise ParseError(
                    f"{source.where()}: unknown module {frame.type_name!r}: it has no child modules "
                    f"convcalc could run instead{suggestion(frame.type_name)}",
                    line=source.line,
                    column=source.column,
                )
            node: Node = ModuleNode(frame.type_name, self._children(items, source), source)
            parent.entries.append(_Item(node, names, frame.count, source, whole_model=True))
            return
        keyword = frame.keyword
        if not items:
            raise ParseError(f"{source.where()} is empty", line=source.line, column=source.column)
        children = self._children(items, source)
        if keyword == "sequential":
            node = ModuleNode("Sequential", children, source)
        elif keyword == "repeat":
            body = (
                children[0][1] if len(children) == 1 else ModuleNode("Sequential", children, source)
            )
            node = ModuleNode("Sequential", [(str(i), body) for i in range(frame.count)], source)
            names = None if frame.name is None else _names_for(frame.name, 1, source)
        elif keyword == "residual":
            node = ModuleNode("Residual", children, source, residual=True)
        else:  # shortcut: attach to the residual block just closed
            previous = parent.entries[-1] if parent.entries else None
            if not (
                isinstance(previous, _Item)
                and isinstance(previous.node, ModuleNode)
                and previous.node.residual
                and previous.node.shortcut_name is None
            ):
                raise ParseError(
                    "`shortcut { ... }` must directly follow a `residual { ... }` block "
                    "(as `} shortcut {`)",
                    line=source.line,
                    column=source.column,
                )
            branch_name = frame.argument or "shortcut"
            residual = previous.node
            if any(child_name == branch_name for child_name, _ in residual.children):
                raise ParseError(
                    f"the residual block already has a child named {branch_name!r}",
                    line=source.line,
                    column=source.column,
                )
            residual.children.append((branch_name, ModuleNode("Sequential", children, source)))
            residual.shortcut_name = branch_name
            return
        parent.entries.append(_Item(node, names, 1, source))

    @staticmethod
    def _children(items: list[_Item], source: Source) -> list[tuple[str, Node]]:
        children: list[tuple[str, Node]] = []
        for item in items:
            assert item.node is not None
            if item.names is not None:
                children.extend((name, item.node) for name in item.names)
            else:
                children.extend((str(len(children)), item.node) for _ in range(item.count))
        _check_unique(children, source)
        return children


# -- JSON -----------------------------------------------------------------------------------------

_JSON_LAYER_KEYS = ("type", "name", "args", "forward")


class _PosDict(dict):
    pos: int = 0


class _PosStr(str):
    pos: int = 0


def _position_decoder() -> json.JSONDecoder:
    """A JSONDecoder whose objects and strings remember their offset in the text."""
    decoder = json.JSONDecoder()

    def parse_object(s_and_end: tuple[str, int], *args: Any, **kwargs: Any) -> tuple[dict, int]:
        obj, end = json.decoder.JSONObject(s_and_end, *args, **kwargs)
        positioned = _PosDict(obj)
        positioned.pos = s_and_end[1] - 1
        return positioned, end

    def parse_string(s: str, end: int, strict: bool) -> tuple[str, int]:
        value, new_end = json.decoder.scanstring(s, end, strict)
        positioned = _PosStr(value)
        positioned.pos = end - 1
        return positioned, new_end

    decoder.parse_object = parse_object  # type: ignore[assignment]
    decoder.parse_string = parse_string  # type: ignore[assignment]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[assignment]
    return decoder


def parse_json_spec(text: str) -> ParsedSpec:
    """Read the JSON form.

    The document is a list of layers, or an object ``{"input": [1, 3, 224, 224], "layers":
    [...]}`` (``input`` may also be the text ``"1x3x224x224"``). A layer is either

    - a string holding one statement of the text forms: ``"conv2d --out 64 -k 3"``,
      ``"Conv2d(3, 64, 3)"``, ``"(conv1): Conv2d(3, 64, 3)"``; or
    - an object ``{"type": "Conv2d", "name": "conv1", "args": [3, 64], "kernel_size": 3,
      "forward": {"output_size": [8, 8]}}``: ``type`` is any layer name or alias, the other
      keys are the torch constructor arguments (JSON lists for tuples, strings such as ``"3x3"``
      or ``"same"`` read as on the command line), ``args`` the positional ones, ``forward``
      the extra forward arguments, ``name`` the module name (default: its position).

    Containers are objects with ``layers`` (a list, or an object of name -> layer):
    ``{"type": "sequential", "layers": [...]}``; ``{"type": "repeat", "times": 3, "layers":
    [...]}``; ``{"type": "residual", "layers": [...], "shortcut": [...]}`` (``shortcut`` a list,
    or a layer or container whose ``name`` names the branch, default ``shortcut``; without it
    the block adds its input); and any other ``type`` with ``layers``, a custom module as
    print(model) would show it (``{"type": "BasicBlock", "layers": {"conv1": ..., ...}}``).

    >>> spec = parse_json_spec('{"input": "1x3x8x8", "layers": ["conv2d --out 4 -k 3", {"type": "identity"}]}')
    >>> spec.input_shape, len(spec.root.children)
    ((1, 3, 8, 8), 2)
    """
    _check_json_depth(text)
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    try:
        document = _position_decoder().decode(text)
    except json.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON: {exc.msg}", line=exc.lineno, column=exc.colno) from None
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise ParseError(f"JSON nested more than {MAX_JSON_DEPTH} deep") from None
    return _JsonReader(text, line_starts).read(document)


def _check_json_depth(text: str) -> None:
    without_strings = re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', text)
    depth = 0
    for match in re.finditer(r"[\[\]{}]", without_strings):
        depth += 1 if match.group() in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            line = without_strings.count("\n", 0, match.start()) + 1
            raise ParseError(f"JSON nested more than {MAX_JSON_DEPTH} deep", line=line)


class _JsonReader:
    def __init__(self, text: str, line_starts: list[int]) -> None:
        self.text = text
        self.line_starts = line_starts
        self.statements = _StatementParser()

    def source(self, value: Any, fallback: Source | None = None) -> Source:
        pos = getattr(value, "pos", None)
        if pos is None:
            return fallback or Source(1, 1, "")
        index = bisect.bisect_right(self.line_starts, pos) - 1
        start = self.line_starts[index]
        if isinstance(value, str):
            text = str(value)
        else:
            text = json.dumps(value, ensure_ascii=False)
        return Source(index + 1, pos - start + 1, text)

    def fail(self, message: str, value: Any, fallback: Source | None = None) -> ParseError:
        where = self.source(value, fallback)
        return ParseError(message, line=where.line if where.line else None, column=where.column)

    def read(self, document: Any) -> ParsedSpec:
        input_shape = None
        if isinstance(document, dict):
            unknown = set(document) - {"input", "layers"}
            if unknown:
                raise self.fail(
                    f"unknown top-level key {sorted(unknown)[0]!r}; use input and layers", document
                )
            if "layers" not in document:
                raise self.fail('a JSON spec needs "layers": [...]', document)
            if document.get("input") is not None:
                input_shape = self.shape(document["input"], document)
            layers = document["layers"]
        else:
            layers = document
        if not isinstance(layers, list):
            raise self.fail('"layers" must be a list of layers', document)
        root_source = self.source(document)
        children = self.children(layers, root_source, "layers")
        if not children:
            raise self.fail("the spec has no layers", document)
        root = ModuleNode("Sequential", children, root_source)
        return ParsedSpec(root, input_shape, "json")

    def shape(self, value: Any, holder: Any) -> Shape:
        try:
            if isinstance(value, str):
                return parse_shape(value)
            if isinstance(value, list) and all(
                isinstance(n, int) and not isinstance(n, bool) for n in value
            ):
                return parse_shape(",".join(str(n) for n in value))
        except ConvcalcError as exc:
            raise self.fail(f"input: {exc}", holder) from None
        raise self.fail(
            f"input must be a list of whole numbers or text like 1x3x32x32, got {value!r}", holder
        )

    def children(self, layers: Any, parent: Source, path: str) -> list[tuple[str, Node]]:
        children: list[tuple[str, Node]] = []
        if isinstance(layers, dict):
            for key, value in layers.items():
                if not _VALID_NAME.fullmatch(key):
                    raise self.fail(f"{path}: {key!r} is not a module name", key, parent)
                children.append((key, self.node(value, parent, f"{path}.{key}")[1]))
        elif isinstance(layers, list):
            for index, value in enumerate(layers):
                name, node = self.node(value, parent, f"{path}[{index}]")
                children.append((name if name is not None else str(len(children)), node))
        else:
            raise self.fail(f"{path} must be a list or an object of layers", layers, parent)
        _check_unique(children, parent)
        return children

    def node(self, value: Any, parent: Source, path: str) -> tuple[str | None, Node]:
        if isinstance(value, str):
            source = self.source(value, parent)
            name, rest, column = _split_name(value, source.line, source.column + 1)
            node = self.statements.leaf(rest, Source(source.line, column, value))
            if name is not None:
                _names_for(name, 1, source)
            return name, node
        if not isinstance(value, dict):
            raise self.fail(
                f"{path}: a layer is a string or an object, got {json.dumps(value)[:40]}",
                value,
                parent,
            )
        source = self.source(value, parent)
        kind = value.get("type")
        if not isinstance(kind, str):
            raise self.fail(
                f'{path}: a layer object needs "type", e.g. {{"type": "conv2d", ...}}',
                value,
                parent,
            )
        name = value.get("name")
        if name is not None and (not isinstance(name, str) or not _VALID_NAME.fullmatch(name)):
            raise self.fail(
                f"{path}: name must be a module name without dots, got {name!r}", value, parent
            )
        lowered = kind.lower()
        if lowered in ("sequential", "repeat", "residual") or "layers" in value:
            return name, self.container(value, lowered, path, source)
        return name, self.layer(value, kind, path, source)

    def container(self, value: dict, kind: str, path: str, source: Source) -> ModuleNode:
        allowed = (
            {"type", "name", "layers"}
            | ({"times"} if kind == "repeat" else set())
            | ({"shortcut"} if kind == "residual" else set())
        )
        extra = set(value) - allowed
        if extra:
            raise self.fail(
                f"{path}: unknown key {sorted(extra)[0]!r} for a {value['type']} block (keys: {', '.join(sorted(allowed))})",
                value,
                source,
            )
        if "layers" not in value:
            raise self.fail(f'{path}: a {value["type"]} block needs "layers"', value, source)
        children = self.children(value["layers"], source, f"{path}.layers")
        if kind != "residual" and not children:
            raise self.fail(
                f"{path}: a {value['type']} block needs at least one layer", value, source
            )
        if kind == "repeat":
            times = value.get("times")
            if not isinstance(times, int) or isinstance(times, bool):
                raise self.fail(f'{path}: a repeat block needs "times": N', value, source)
            count = _count(str(times), source)
            body = (
                children[0][1] if len(children) == 1 else ModuleNode("Sequential", children, source)
            )
            return ModuleNode("Sequential", [(str(i), body) for i in range(count)], source)
        if kind == "sequential":
            return ModuleNode("Sequential", children, source)
        if kind == "residual":
            node = ModuleNode("Residual", children, source, residual=True)
            if value.get("shortcut") is not None:
                branch = value["shortcut"]
                if isinstance(branch, list):
                    branch_name, branch_node = (
                        "shortcut",
                        ModuleNode(
                            "Sequential", self.children(branch, source, f"{path}.shortcut"), source
                        ),
                    )
                else:
                    given, branch_node = self.node(branch, source, f"{path}.shortcut")
                    branch_name = given or "shortcut"
                if any(child == branch_name for child, _ in children):
                    raise self.fail(
                        f"{path}: the shortcut's name {branch_name!r} is taken by a layer",
                        value,
                        source,
                    )
                node.children.append((branch_name, branch_node))
                node.shortcut_name = branch_name
            return node
        return ModuleNode(value["type"].rsplit(".", 1)[-1], children, source)

    def layer(self, value: dict, kind: str, path: str, source: Source) -> LayerNode:
        try:
            cls = lookup(kind)
        except ConvcalcError as exc:
            raise self.fail(f"{path}: {exc}", value.get("type"), source) from None
        specs = {spec.name: spec for spec in cls.arg_specs()}
        forward_specs = {spec.name: spec for spec in cls.forward_arg_specs()}
        positional = _positional_names(cls)
        kwargs: dict[str, Any] = {}
        args = value.get("args", [])
        if not isinstance(args, list):
            raise self.fail(f'{path}: "args" must be a list', value, source)
        if len(args) > len(positional):
            raise self.fail(
                f"{path}: {cls.__name__} takes at most {len(positional)} positional arguments ({', '.join(positional)})",
                value,
                source,
            )
        for arg_name, arg in zip(positional, args):
            kwargs[arg_name] = self.value(specs[arg_name], arg, path, value, source)
        for key, raw in value.items():
            if key in _JSON_LAYER_KEYS:
                continue
            if key not in specs:
                raise self.fail(
                    f"{path}: {cls.__name__} has no argument {key!r}{did_you_mean(key, specs)}",
                    key,
                    source,
                )
            if key in kwargs:
                raise self.fail(f"{path}: {key} is given twice (in args and by name)", key, source)
            kwargs[key] = self.value(specs[key], raw, path, value, source)
        forward: dict[str, Any] = {}
        raw_forward = value.get("forward", {})
        if not isinstance(raw_forward, dict):
            raise self.fail(f'{path}: "forward" must be an object', value, source)
        for key, raw in raw_forward.items():
            if key not in forward_specs:
                raise self.fail(
                    f"{path}: {cls.__name__}'s forward takes no argument {key!r}", key, source
                )
            forward[key] = self.value(forward_specs[key], raw, path, value, source)
        return _StatementParser._layer_node(cls, kwargs, forward, {}, source)

    def value(self, spec: ArgSpec, raw: Any, path: str, holder: Any, source: Source) -> Any:
        if isinstance(raw, str):
            try:
                return _parse_value(spec, raw)
            except ConvcalcError as exc:
                raise self.fail(f"{path}: {spec.name}: {exc}", raw, source) from None
        if isinstance(raw, list):
            return _tupled(raw)
        if isinstance(raw, dict):
            raise self.fail(f"{path}: {spec.name} cannot be an object", holder, source)
        return raw


def _tupled(value: Any) -> Any:
    return tuple(_tupled(v) for v in value) if isinstance(value, list) else value


# -- bounds ---------------------------------------------------------------------------------------


def count_layers(node: Node, memo: dict[int, int] | None = None) -> int:
    """Leaf layers under ``node``, repeats expanded (shared subtrees counted once each)."""
    memo = {} if memo is None else memo
    if isinstance(node, LayerNode):
        return 1
    key = id(node)
    if key not in memo:
        memo[key] = sum(count_layers(child, memo) for _, child in node.children)
    return memo[key]


def _check_size(root: ModuleNode) -> None:
    memo: dict[int, int] = {}
    total = count_layers(root, memo)
    if total <= MAX_LAYERS:
        return
    # Point at the innermost block that is too big by itself (a repeat inside a repeat).
    node = root
    while True:
        bigger = [
            child
            for _, child in node.children
            if isinstance(child, ModuleNode) and count_layers(child, memo) > MAX_LAYERS
        ]
        if not bigger:
            break
        node = bigger[0]
    raise ParseError(
        f"the network has {total} layers once repeats are expanded; the limit is {MAX_LAYERS} "
        f"(this block alone has {count_layers(node, memo)})",
        line=node.source.line,
        column=node.source.column,
    )
