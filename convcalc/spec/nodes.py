"""The tree a spec is read into, and the names and errors every input form shares.

:class:`ModuleNode` (containers) and :class:`LayerNode` (layers, their arguments parsed and,
when nothing needs inferring, the layer already built) make the tree; :class:`Source` locates
each statement for messages. Which container runs how (sequentially, as a residual block) is
decided by :mod:`convcalc.network`, not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Union

from ..errors import ConvcalcError, ParseError
from ..layers.base import INFERABLE, Layer, Shape
from ..layers.build import build_layer, missing_args, missing_message
from ..recipes.notation import Recipe
from .limits import MAX_LAYERS, MAX_REPEAT


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
    unstated: tuple[str, ...] = ()  # of the class's ``unprinted`` arguments, those the text left out


@dataclass(eq=False)
class ModuleNode:
    """A container: ``children`` are ``(name, node)`` in print (registration) order.

    ``residual`` marks an explicit residual block of the line form or JSON; its branch, when it
    has one, is the child named ``shortcut_name``. A printed module of a class that is not a
    torch.nn layer is a ModuleNode too, its printed arguments kept in ``args`` (which module it
    stands for, and what its forward does, is the network's question: see ``network.resolve``).
    """

    type_name: str
    children: list[tuple[str, "Node"]]
    source: Source
    residual: bool = False
    shortcut_name: str | None = None
    notes: list[str] = field(default_factory=list)
    args: str | None = None  # what it prints besides its children (a class convcalc has no layer for)
    written: bool = True  # False for the top level of the line form and JSON, a container no text wrote


Node = Union[LayerNode, ModuleNode]


@dataclass
class ParsedSpec:
    """A spec read from text: the module tree, the input shape if given, and notes."""

    root: ModuleNode
    input_shape: Shape | None
    form: str  # "text" or "json"
    notes: list[str] = field(default_factory=list)
    recipes: dict[str, Recipe] = field(default_factory=dict)  # recipe classes written in the spec, by name


NAME_PREFIX = re.compile(r"\((?P<name>[^()]*)\)\s*:\s*")
VALID_NAME = re.compile(r"[^.\s()]+")


def split_name(text: str, line: int, column: int) -> tuple[str | None, str, int]:
    """``(name): rest`` -> (name, rest, column of rest)."""
    match = NAME_PREFIX.match(text)
    if match is None:
        return None, text, column
    return match["name"].strip(), text[match.end() :], column + match.end()


def names_for(name: str, count: int, source: Source) -> list[str]:
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
    if not VALID_NAME.fullmatch(name):
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


def repeat_count(text: str, source: Source) -> int:
    count = int(text)
    if not 1 <= count <= MAX_REPEAT:
        raise ParseError(
            f"a repeat count must be 1 to {MAX_REPEAT}, got {count}",
            line=source.line,
            column=source.column,
        )
    return count


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


def check_unique(children: list[tuple[str, Node]], where: Source) -> None:
    seen: set[str] = set()
    for name, _ in children:
        if name in seen:
            raise ParseError(
                f"the name {name!r} is used twice in the module {where.where()}",
                line=where.line,
                column=where.column,
            )
        seen.add(name)


def count_layers(node: Node, memo: dict[int, int] | None = None) -> int:
    """Leaf layers under ``node``, repeats expanded (shared subtrees counted once each)."""
    memo = {} if memo is None else memo
    if isinstance(node, LayerNode):
        return 1
    key = id(node)
    if key not in memo:
        memo[key] = sum(count_layers(child, memo) for _, child in node.children)
    return memo[key]


def check_size(root: ModuleNode) -> None:
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


def layer_node(
    cls: type[Layer],
    kwargs: dict[str, Any],
    forward: dict[str, Any],
    extras: dict[str, Any],
    source: Source,
) -> LayerNode:
    """A layer statement's node, its layer built now when nothing is left to infer.

    Arguments an input shape gives (``in_channels``, ...) may be missing: the network builds
    the layer once the shape reaching it is known (:func:`build_at`). Any other missing one is
    an error here, naming the unknown keywords that were probably meant.
    """
    missing = missing_args(cls, kwargs)
    needed = [spec for spec in missing if spec.name not in INFERABLE]
    if needed:
        raise ParseError(
            f"{source.where()}: {missing_message(cls, needed, True, list(extras))}",
            line=source.line,
            column=source.column,
        )
    node = LayerNode(cls, kwargs, source, forward, extras)
    if not missing:
        node.layer = build_at(cls, kwargs, source)
    return node


def build_at(
    cls: type[Layer],
    kwargs: dict[str, Any],
    source: Source,
    input_shape: Shape | None = None,
    name: str | None = None,
) -> Layer:
    """:func:`~convcalc.layers.build.build_layer`, its error located at the statement."""
    try:
        return build_layer(cls, kwargs, input_shape)
    except ConvcalcError as exc:
        raise locate(exc, source, name, cls.__name__) from None
