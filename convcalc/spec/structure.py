"""A text spec's structure: statements one per line or ``;``, the line form's blocks
(``sequential``/``repeat``/``residual``/``shortcut { ... }``), the ``input`` line, and the nesting
``print(model)`` prints (``Name(`` opens a module whose ``(name): Layer(...)`` children follow up
to the matching ``)``; ``(0-2): 3 x Linear(...)`` is expanded; a custom module's ``extra_repr``
lines are kept as its printed arguments).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConvcalcError, ParseError
from ..layers.base import Shape
from ..shapes import parse_shape
from .lexer import CALL_START, OPENER, Lexer, Token
from .limits import MAX_NESTING
from .nodes import NAME_PREFIX, SEQUENTIAL_TYPES, VALID_NAME, ModuleNode, Node, ParsedSpec, Source, check_unique, names_for, repeat_count, split_name
from .statement import StatementParser


_REPEAT_PREFIX = re.compile(r"(?P<count>\d+)\s*x\s+(?=[A-Za-z_])")
_INPUT = re.compile(r"input(?:\s*[:=]\s*|\s+|$)(?P<shape>.*)", re.IGNORECASE | re.DOTALL)
_HEADER = re.compile(
    r"(?P<keyword>sequential|residual|repeat|shortcut)(?:\s+(?P<arg>\S+))?", re.IGNORECASE
)


@dataclass
class _Item:
    """A parsed statement: its node and the names it takes in its container."""

    node: Node | None  # None for an input line
    names: list[str] | None  # explicit names (a range expands to several); None: by position
    count: int
    source: Source
    input_shape: Shape | None = None
    whole_model: bool = False  # a printed module or an nn.Sequential(...) call


@dataclass
class _Frame:
    kind: str  # "root", "paren" (print(model) module), "brace" (line-form block)
    source: Source
    type_name: str = "Sequential"
    keyword: str = ""  # brace frames: sequential, repeat, residual, shortcut
    argument: str | None = None
    name: str | None = None  # the frame's own name in its parent
    count: int = 1
    entries: list[Any] = field(default_factory=list)  # Token (statement) or _Item
    printed_args: list[str] = field(default_factory=list)  # a printed module's extra_repr lines


class TextReader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.statements = StatementParser()
        self.input_shape: Shape | None = None
        self.input_source: Source | None = None
        self.notes: list[str] = []

    def parse(self) -> ParsedSpec:
        tokens = Lexer(self.text).run()
        stack = [_Frame("root", Source(1, 1, ""))]
        i = 0
        while i < len(tokens):
            token = tokens[i]
            i += 1
            frame = stack[-1]
            if token.kind == "stmt":
                header = _HEADER.fullmatch(split_name(token.text, token.line, token.column)[1])
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
                "Sequential", self._children(modules, root_frame.source), Source(1, 1, ""), written=False
            )
        return ParsedSpec(root, self.input_shape, "text", self.notes)

    @staticmethod
    def _check_depth(stack: list[_Frame], token: Token) -> None:
        if len(stack) > MAX_NESTING:
            raise ParseError(
                f"modules nested more than {MAX_NESTING} deep", line=token.line, column=token.column
            )

    @staticmethod
    def _mismatch(token: Token, frame: _Frame) -> ParseError:
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

    def _brace_frame(self, token: Token, header: re.Match[str]) -> _Frame:
        name, rest, column = split_name(token.text, token.line, token.column)
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
            frame.count = repeat_count(argument, source)
        elif keyword == "shortcut":
            if argument is not None and not VALID_NAME.fullmatch(argument):
                raise ParseError(
                    f"{argument!r} is not a module name", line=token.line, column=column
                )
        elif argument is not None:
            raise ParseError(
                f"`{keyword}` takes no argument, got {argument!r}", line=token.line, column=column
            )
        return frame

    def _paren_frame(self, token: Token) -> _Frame:
        match = OPENER.fullmatch(token.text)
        assert match is not None
        source = Source(token.line, token.column, token.text)
        count = repeat_count(match["count"], source) if match["count"] else 1
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
                or (isinstance(entry, Token) and NAME_PREFIX.match(entry.text))
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

    def _statement(self, token: Token, frame: _Frame, printed: bool) -> _Item | None:
        name, rest, column = split_name(token.text, token.line, token.column)
        source = Source(token.line, column, token.text)
        if name is None and printed:
            frame.printed_args.append(token.text.strip().rstrip(","))  # extra_repr: the module's own arguments
            return None
        if name is not None and rest.strip().rstrip(",").strip() == "None":
            return None  # torch prints a submodule attribute set to None so: no child (self.fc is None)
        match = _INPUT.fullmatch(rest) if name is None else None
        if match is not None and match["shape"].strip() and not CALL_START.match(rest):
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
            count = repeat_count(repeat["count"], source)
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
            names = names_for(name, count, Source(token.line, token.column, token.text))
        node = self.statements.leaf(rest, source, printed)
        return _Item(node, names, count, source, whole_model=isinstance(node, ModuleNode))

    def _close(self, frame: _Frame, parent: _Frame) -> None:
        items = [item for item in self._items(frame) if item.node is not None]
        source = frame.source
        names = names_for(frame.name, frame.count, source) if frame.name is not None else None
        if frame.kind == "paren":
            args = ", ".join(frame.printed_args) if frame.printed_args or not items else None
            node: Node = ModuleNode(frame.type_name, self._children(items, source), source, args=args)
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
            names = None if frame.name is None else names_for(frame.name, 1, source)
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
        check_unique(children, source)
        return children


# -- JSON -----------------------------------------------------------------------------------------
