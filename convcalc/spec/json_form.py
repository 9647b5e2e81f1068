"""The JSON form of a spec (see :func:`parse_json_spec` for the schema), every value
located by line and column for messages.
"""

from __future__ import annotations

import bisect
import json
import json.decoder
import json.scanner
import re
from typing import Any

from ..errors import ConvcalcError, ParseError
from ..layers.base import ArgSpec, Shape
from ..layers.build import given_twice, no_argument, positional_names
from ..registry import lookup
from ..shapes import parse_shape
from .limits import MAX_JSON_DEPTH
from .nodes import VALID_NAME, LayerNode, ModuleNode, Node, ParsedSpec, Source, check_unique, layer_node, names_for, repeat_count, split_name
from .statement import StatementParser


_JSON_LAYER_KEYS = ("type", "name", "args", "forward")


class _PosDict(dict):
    pos: int = 0


class _PosStr(str):
    pos: int = 0


def _position_decoder() -> json.JSONDecoder:
    """A JSONDecoder whose objects and strings remember their offset in the text. It refuses
    what the text forms cannot hold either: a key given twice in one object (JSON would keep
    the last), control characters written as escapes (``"\\u001b"``), which the text's own check
    cannot see, and integers too long for Python to read."""
    decoder = json.JSONDecoder()

    def parse_object(s_and_end: tuple[str, int], strict: bool, scan_once: Any, object_hook: Any,
                     object_pairs_hook: Any, memo: Any = None) -> tuple[dict, int]:
        start = s_and_end[1] - 1
        pairs, end = json.decoder.JSONObject(s_and_end, strict, scan_once, object_hook, list, memo)
        positioned = _PosDict()
        for key, value in pairs:
            if key in positioned:
                raise _error_at(s_and_end[0], start, f"the key {key!r} appears twice in one object; keep one")
            _refuse_controls(key, s_and_end[0], start)
            positioned[key] = value
        positioned.pos = start
        return positioned, end

    def parse_string(s: str, end: int, strict: bool) -> tuple[str, int]:
        value, new_end = json.decoder.scanstring(s, end, strict)
        _refuse_controls(value, s, end - 1)
        positioned = _PosStr(value)
        positioned.pos = end - 1
        return positioned, new_end

    decoder.parse_object = parse_object  # type: ignore[assignment]
    decoder.parse_string = parse_string  # type: ignore[assignment]
    decoder.parse_int = _parse_int  # type: ignore[assignment]
    decoder.scan_once = json.scanner.py_make_scanner(decoder)  # type: ignore[assignment]
    return decoder


# The text form's rule (limits._CONTROL), C1 controls included: a name or value holding ESC ] ...
# BEL would retitle, or worse, the terminal that shows it.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")
_MAX_INT_DIGITS = 1000  # far past any 64-bit size; Python itself reads at most 4300 digits


def _refuse_controls(value: str, text: str, pos: int) -> None:
    bad = _CONTROL.search(value)
    if bad is not None:
        raise _error_at(text, pos, f"control character {bad.group()!r} in the string {value!r}; a spec holds printable text")


def _parse_int(digits: str) -> int:
    if len(digits) > _MAX_INT_DIGITS:
        raise ParseError(
            f"the integer {digits[:20]}... has {len(digits.lstrip('-'))} digits; "
            "sizes must fit in 64 bits (at most 9223372036854775807)"
        )
    return int(digits)


def _error_at(text: str, pos: int, message: str) -> ParseError:
    line = text.count("\n", 0, pos) + 1
    return ParseError(message, line=line, column=pos - (text.rfind("\n", 0, pos) + 1) + 1)


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
        self.statements = StatementParser()

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
        root = ModuleNode("Sequential", children, root_source, written=False)
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
                if not VALID_NAME.fullmatch(key):
                    raise self.fail(f"{path}: {key!r} is not a module name", key, parent)
                children.append((key, self.node(value, parent, f"{path}.{key}")[1]))
        elif isinstance(layers, list):
            for index, value in enumerate(layers):
                name, node = self.node(value, parent, f"{path}[{index}]")
                children.append((name if name is not None else str(len(children)), node))
        else:
            raise self.fail(f"{path} must be a list or an object of layers", layers, parent)
        check_unique(children, parent)
        return children

    def node(self, value: Any, parent: Source, path: str) -> tuple[str | None, Node]:
        if isinstance(value, str):
            source = self.source(value, parent)
            name, rest, column = split_name(value, source.line, source.column + 1)
            node = self.statements.leaf(rest, Source(source.line, column, value))
            if name is not None:
                names_for(name, 1, source)
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
        if name is not None and (not isinstance(name, str) or not VALID_NAME.fullmatch(name)):
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
            count = repeat_count(str(times), source)
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
        positional = positional_names(cls)
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
                    f"{path}: {no_argument(cls, key)}",
                    key,
                    source,
                )
            if key in kwargs:
                raise self.fail(f"{path}: {given_twice(key)} (in args and by name)", key, source)
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
        return layer_node(cls, kwargs, forward, {}, source)

    def value(self, spec: ArgSpec, raw: Any, path: str, holder: Any, source: Source) -> Any:
        if isinstance(raw, str):
            try:
                return spec.value_from_text(raw)
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
