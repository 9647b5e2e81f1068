"""The PyTorch form of one statement: ``Conv2d(3, 64, kernel_size=7, stride=2, bias=False)``,
with or without ``nn.``/``torch.nn.``, and ``nn.Sequential(...)`` / ``ModuleList`` / ``ModuleDict``
calls. Read with :mod:`ast`: literal values only, never evaluated.
"""

from __future__ import annotations

import ast
import functools
import math
import re
import warnings
from typing import Any, Mapping

from ..errors import ConvcalcError, ParseError
from ..layers.base import PLACEMENT_ARGS, ArgSpec
from ..layers.build import given_twice, positional_names
from ..registry import lookup
from .nodes import SEQUENTIAL_TYPES, ModuleNode, Node, Source, check_unique, layer_node


_EMPTY_VALUE = re.compile(r"(?<=[(,])(\s*[A-Za-z_]\w*)=(?=\s*[,)])")


def with_empty_values(text: str) -> str:
    """``text`` with a keyword printed without a value (an empty string printed bare, as timm's
    ``SelectAdaptivePool2d(pool_type=, ...)``) given the empty string.

    >>> with_empty_values("SelectAdaptivePool2d(pool_type=, flatten=Identity())")
    "SelectAdaptivePool2d(pool_type='', flatten=Identity())"
    """
    return _EMPTY_VALUE.sub(r"\1=''", text)


def parse_call(text: str, source: Source, defaults: Mapping[str, Any] | None = None, printed: bool = False) -> Node:
    """The node of one call-form statement; ``defaults`` fill arguments it does not give.
    ``printed``: a line of print(model)'s text, whose class names are exact (an ``UpSample`` is
    a class of one's own, not nn.Upsample)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "invalid decimal literal" and the like
            try:
                tree = ast.parse(text, mode="eval")
            except SyntaxError:
                filled = with_empty_values(text)
                if filled == text:
                    raise
                tree = ast.parse(filled, mode="eval")
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
    return _call_node(tree.body, source, defaults, printed)


def _call_node(call: ast.Call, source: Source, defaults: Mapping[str, Any] | None = None, printed: bool = False) -> Node:
    name = _dotted(call.func)
    where = _node_source(source, call)
    if name is None:
        raise ParseError(f"{source.where()}: expected a layer name before '('", line=where.line, column=where.column)
    short = name.rsplit(".", 1)[-1]
    if short in SEQUENTIAL_TYPES:
        return _container_call(short, call, where)
    try:
        cls = lookup(name)
    except ConvcalcError as exc:
        if short.lstrip("_")[:1].isupper() and defaults is None:  # _WeightNorm: a private class
            # A class convcalc has no layer for: kept with its printed arguments, for a recipe
            # or the network to say what it is (and an error there if nothing does).
            return _unknown_module(short, call, source, where)
        raise ParseError(
            f"{where.where()}: {exc}", line=where.line, column=where.column
        ) from None
    if printed and (short != cls.__name__ or not (call.args or call.keywords or _prints_empty(cls))):
        # named like the layer, or printing nothing where torch's layer prints its arguments
        # (SAM's LayerNorm2d(), diffusers' RMSNorm(), a LeakyReLU() of one's own): not torch's
        # print, so maybe not torch's class (network.resolve says what it is read as)
        return _unknown_module(short, call, source, where)
    positional = positional_names(cls)
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
        kwargs[arg_name] = _value(specs.get(arg_name), arg, source)
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
                f"{where.where()}: {given_twice(key)}", line=at.line, column=at.column
            )
        if key in PLACEMENT_ARGS:
            continue
        value = _value(specs.get(key), keyword.value, source)
        if key in specs:
            kwargs[key] = value
        else:
            extras[key] = value
    node = layer_node(cls, {**(defaults or {}), **kwargs}, {}, extras, where)
    if defaults is None:  # print(model)'s form, where torch leaves some arguments out
        node.unstated = tuple(name for name in cls.unprinted if name not in kwargs)
    return node


@functools.lru_cache(maxsize=None)
def _prints_empty(cls: type) -> bool:
    """Whether torch's layer prints as ``Name()``: it builds without arguments and prints none
    of its defaults (``ReLU()``, not ``LeakyReLU(negative_slope=0.01)``). One that needs an
    argument (``LayerNorm``, ``Upsample``) always prints it.

    >>> from convcalc.registry import lookup
    >>> [_prints_empty(lookup(name)) for name in ("ReLU", "LeakyReLU", "Upsample")]
    [True, False, False]
    """
    try:
        return not cls().extra_repr()
    except (ConvcalcError, TypeError):
        return False


def _unknown_module(type_name: str, call: ast.Call, source: Source, where: Source) -> ModuleNode:
    """A class convcalc has no layer for, printed on one line. Arguments that are layer calls
    (``flatten=Flatten(start_dim=1, end_dim=-1)``) are its children; the rest is kept as text."""
    printed: list[str] = []
    children: list[tuple[str, Node]] = []
    named = [(str(i), arg) for i, arg in enumerate(call.args)] + [(k.arg or "", k.value) for k in call.keywords]
    for index, (name, value) in enumerate(named):
        if isinstance(value, ast.Call) and _is_layer_call(value):
            children.append((name if index >= len(call.args) else str(len(children)), _call_node(value, source)))
        else:
            printed.append(ast.unparse(value) if index < len(call.args) else f"{name}={ast.unparse(value)}")
    return ModuleNode(type_name, children, where, args=", ".join(printed))


def _is_layer_call(call: ast.Call) -> bool:
    name = _dotted(call.func)
    if name is None:
        return False
    try:
        lookup(name)
    except ConvcalcError:
        return False
    return True


def _container_call(kind: str, call: ast.Call, where: Source) -> ModuleNode:
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
            children.append((key.value, _module_arg(value, where)))
    else:
        if (
            kind == "ModuleList"
            and len(args) == 1
            and isinstance(args[0], (ast.List, ast.Tuple))
        ):
            args = list(args[0].elts)
        children = [(str(i), _module_arg(arg, where)) for i, arg in enumerate(args)]
    check_unique(children, where)
    return ModuleNode(kind, children, where)


def _module_arg(node: ast.expr, where: Source) -> Node:
    if not isinstance(node, ast.Call):
        at = _node_source(where, node)
        raise ParseError(
            f"{where.where()}: a container holds layer calls like nn.ReLU(), not "
            f"{ast.dump(node)[:40]}",
            line=at.line,
            column=at.column,
        )
    return _call_node(node, where)


def _value(spec: ArgSpec | None, node: ast.expr, source: Source) -> Any:
    value = _literal(node, source)
    if spec is not None and isinstance(value, str) and spec.reads_text:
        at = _node_source(source, node)
        try:
            return spec.parse(value)
        except ConvcalcError as exc:
            raise ParseError(
                f"{source.where()}: {spec.name}: {exc}", line=at.line, column=at.column
            ) from None
    return value


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
