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
            tuple[str, bool], tuple[type[Layer], dict[str, Any], dict[str, Any], dict[str, Any], Layer | None, tuple[str, ...]]
        ] = {}

    def leaf(self, text: str, source: Source, printed: bool = False) -> Node:
        """The node of one statement; ``printed``: it is a child line of print(model)'s text,
        where torch leaves some arguments out (``LayerNode.unstated``). Written by the user
        (the line form, JSON, a call), what it leaves out means the default."""
        text = text.strip().rstrip(",").rstrip()
        if not text:
            raise ParseError(
                f"{source.where()}: no layer here", line=source.line, column=source.column
            )
        memo = self._memo.get((text, printed))
        if memo is not None:
            cls, kwargs, forward, extras, layer, unstated = memo
            node = LayerNode(cls, kwargs, source, forward, extras, layer)
        else:
            node = parse_call(text, source, printed=printed) if CALL_START.match(text) else parse_line(text, source)
            if isinstance(node, LayerNode):
                unstated = node.unstated
                self._memo[(text, printed)] = (node.cls, node.kwargs, node.forward_kwargs, node.extras, node.layer, unstated)
        if not printed and not _as_torch_prints(node, text):
            _said_all(node)
        elif isinstance(node, LayerNode):
            node.unstated = unstated
        return node


def _as_torch_prints(node: Node, text: str) -> bool:
    """Whether a statement is exactly what print(model) prints for its layer: pasted on its own,
    torch's print of ``AvgPool2d(..., ceil_mode=True)`` would read the same, so what it leaves
    out is named as for a printed child."""
    return (isinstance(node, LayerNode) and node.layer is not None and CALL_START.match(text) is not None
            and repr(node.layer) == text)


def _said_all(node: Node) -> None:
    """A statement the user wrote: every argument it leaves out is meant to be the default."""
    if isinstance(node, LayerNode):
        node.unstated = ()
    else:
        for _, child in node.children:
            _said_all(child)


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
