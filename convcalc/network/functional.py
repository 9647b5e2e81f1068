"""``F.<name>(x, ...)`` in a recipe: the convcalc layer of that name, built from the call's
arguments (``F.max_pool2d(x, 3, stride=2)`` is ``nn.MaxPool2d(3, stride=2)``)."""

from __future__ import annotations

from typing import Any

from ..errors import ParseError
from ..layers.base import Shape
from ..layers.build import positional_names
from ..registry import layer_classes
from ..spec.nodes import LayerNode, Source, build_at

# Functions whose layer has another name.
_RENAMED = {"interpolate": "upsample"}
# Keywords of the functions that are not the layer's arguments (eval mode; in place, for a layer
# that has no such argument).
_IGNORED = ("inplace", "training", "input")


def functional_node(name: str, args: list[Any], kwargs: dict[str, Any], shape: Shape | None) -> LayerNode:
    """The layer node ``F.<name>`` stands for, built for input ``shape``.

    >>> functional_node("adaptive_avg_pool2d", [1], {}, (1, 8, 7, 7)).layer
    AdaptiveAvgPool2d(output_size=1)
    """
    shown = name
    if name == "pad":
        name, args, kwargs = _pad_layer(args, kwargs)
    elif name.endswith("_") and not name.startswith("_"):  # F.relu_: torch's in-place form
        name, kwargs = name[:-1], {**kwargs, "inplace": True}
    key = _RENAMED.get(name, name.replace("_", "").lower())
    cls = layer_classes().get(key)
    if cls is None:
        raise ParseError(f"F.{shown} is not a function convcalc knows (it needs a layer of that name)")
    positional = [n for n in positional_names(cls)]
    takes = {spec.name for spec in cls.arg_specs()}  # inplace=True where the layer has it: it writes over x
    if shown.endswith("_") and "inplace" not in takes:
        raise ParseError(f"F.{shown} writes over its input, which nn.{cls.__name__} cannot (it has no inplace)")
    given = {k: v for k, v in kwargs.items() if k not in _IGNORED or (k == "inplace" and k in takes)}
    if len(args) > len(positional):
        raise ParseError(f"F.{shown}: give the arguments after {', '.join(positional)} by keyword")
    given.update(zip(positional, args))
    source = Source(1, 1, f"F.{shown}")
    layer = build_at(cls, given, source, shape, f"F.{shown}")
    if layer.num_params() or layer.num_buffers():
        raise ParseError(
            f"F.{shown} takes its weights as tensors, which a recipe does not have; call the module "
            f"(self.<child>) or declare it in __init__ (self.norm = nn.{cls.__name__}(...))"
        )
    return LayerNode(cls, given, source, {}, {}, layer)


_PAD_MODES = {"constant": "constant_pad", "reflect": "reflection_pad", "replicate": "replication_pad",
              "circular": "circular_pad"}


def _pad_layer(args: list[Any], kwargs: dict[str, Any]) -> tuple[str, list[Any], dict[str, Any]]:
    """``F.pad(x, pad, mode="constant", value=None)`` as the padding layer of its mode, whose
    tuple's length (not the class's 1d/2d/3d) says how many trailing dims it pads, as F.pad's
    does: ``(name, args, kwargs)`` for that layer.

    >>> _pad_layer([(1, 1, 2, 2)], {"mode": "reflect"})
    ('reflection_pad2d', [(1, 1, 2, 2)], {})
    """
    named = dict(zip(("pad", "mode", "value"), args), **kwargs)
    unknown = set(named) - {"pad", "mode", "value"}
    if unknown or "pad" not in named:
        raise ParseError(f"F.pad takes (input, pad, mode='constant', value=None), got {', '.join(sorted(unknown)) or 'no pad'}")
    pad, mode, value = named["pad"], named.get("mode", "constant"), named.get("value")
    if mode not in _PAD_MODES:
        raise ParseError(f"F.pad: mode must be one of {', '.join(map(repr, _PAD_MODES))}, got {mode!r}")
    if not isinstance(pad, (tuple, list)) or not pad:
        raise ParseError(f"F.pad: pad must be a tuple of (left, right) pairs, last dim first, got {pad!r}")
    dims = min(3, max(1, len(pad) // 2))
    if mode != "constant":
        if value not in (None, 0, 0.0):
            raise ParseError(f"F.pad: a value is only for mode='constant', got value={value!r} with mode={mode!r}")
        return f"{_PAD_MODES[mode]}{dims}d", [tuple(pad)], {}
    return f"constant_pad{dims}d", [tuple(pad), 0.0 if value is None else value], {}
