"""convcalc: shapes, parameters, MACs and forward passes of torch.nn layers, without PyTorch.

>>> import convcalc
>>> conv = convcalc.Conv2d(3, 8, kernel_size=5)
>>> conv.output_shape((1, 3, 32, 32)), conv.num_params()
((1, 8, 28, 28), 608)
"""

from __future__ import annotations

from .errors import ConfigError, ConvcalcError, FileError, ParseError, ShapeError
from .layers.base import Layer
from .network import Network, Summary, parse_network
from .registry import layer_classes, lookup

__version__ = "0.1.0"


def __getattr__(name: str) -> type[Layer]:
    # Layer classes by their torch.nn name (convcalc.Conv2d), found through the registry.
    for cls in layer_classes().values():
        if cls.__name__ == name:
            globals()[name] = cls
            return cls
    raise AttributeError(f"module 'convcalc' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + [cls.__name__ for cls in layer_classes().values()])


__all__ = [
    "ConvcalcError",
    "ConfigError",
    "ShapeError",
    "ParseError",
    "FileError",
    "Layer",
    "layer_classes",
    "lookup",
    "parse_network",
    "Network",
    "Summary",
]
