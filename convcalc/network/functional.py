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
_RENAMED = {"interpolate": "upsample", "hardtanh_": "hardtanh"}
# Keywords of the functions that are not the layer's arguments (eval mode, in place or not).
_IGNORED = ("inplace", "training", "input")


def functional_node(name: str, args: list[Any], kwargs: dict[str, Any], shape: Shape | None) -> LayerNode:
    """The layer node ``F.<name>`` stands for, built for input ``shape``.

    >>> functional_node("adaptive_avg_pool2d", [1], {}, (1, 8, 7, 7)).layer
    AdaptiveAvgPool2d(output_size=1)
    """
    key = _RENAMED.get(name, name.replace("_", "").lower())
    cls = layer_classes().get(key)
    if cls is None:
        raise ParseError(f"F.{name} is not a function convcalc knows (it needs a layer of that name)")
    positional = [n for n in positional_names(cls)]
    given = {k: v for k, v in kwargs.items() if k not in _IGNORED}
    if len(args) > len(positional):
        raise ParseError(f"F.{name}: give the arguments after {', '.join(positional)} by keyword")
    given.update(zip(positional, args))
    source = Source(1, 1, f"F.{name}")
    layer = build_at(cls, given, source, shape, f"F.{name}")
    if layer.num_params() or layer.num_buffers():
        raise ParseError(
            f"F.{name} takes its weights as tensors, which a recipe does not have; call the module "
            f"(self.<child>) or declare it in __init__ (self.norm = nn.{cls.__name__}(...))"
        )
    return LayerNode(cls, given, source, {}, {}, layer)
