"""One statement, in the line or the call form, to a node: the entry point every reader of
statements uses (the text reader, JSON's string layers, ``explain`` and ``show``).

>>> parse_statement("conv2d --out 8 -k 3").kwargs
{'out_channels': 8, 'kernel_size': 3}
>>> parse_statement("nn.Conv2d(3, 8, 3)").layer
Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1))
"""

from __future__ import annotations

from typing import Any, Mapping

from ..errors import ParseError
from ..layers.base import Layer
from .call_form import parse_call
from .lexer import CALL_START
from .line_form import parse_line
from .nodes import LayerNode, Node, Source


class StatementParser:
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
        if CALL_START.match(text):
            node = parse_call(text, source)
        else:
            node = parse_line(text, source)
        if isinstance(node, LayerNode):
            self._memo[text] = (node.cls, node.kwargs, node.forward_kwargs, node.extras, node.layer)
        return node


def parse_statement(
    text: str, source: Source | None = None, defaults: Mapping[str, Any] | None = None
) -> Node:
    """One statement (``conv2d --out 8 -k 3`` or ``nn.Conv2d(3, 8, 3)``) as a node.

    ``defaults`` fill the arguments the statement does not give (``show`` draws one output
    channel unless told otherwise).
    """
    text = text.strip()
    source = source or Source(1, 1, text)
    if not defaults:
        return StatementParser().leaf(text, source)
    return (parse_call if CALL_START.match(text) else parse_line)(text, source, defaults)
