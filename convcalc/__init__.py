"""convcalc: shapes, parameters, MACs and forward passes of torch.nn layers, without PyTorch.

>>> import convcalc
>>> conv = convcalc.Conv2d(3, 8, kernel_size=5)
>>> conv.output_shape((1, 3, 32, 32)), conv.num_params()
((1, 8, 28, 28), 608)
"""

from __future__ import annotations

from typing import Any

from .errors import ConfigError, ConvcalcError, FileError, ParseError, ShapeError
from .layers.base import Layer
from .registry import layer_classes, lookup

__version__ = "0.1.0"


_NETWORK_NAMES = ("Network", "Summary", "parse_network")


def __getattr__(name: str) -> Any:
    # Imported on first use: the network parser is not needed to answer for one layer, and
    # `import convcalc` is on every command's start-up path.
    if name in _NETWORK_NAMES:
        from . import network

        globals().update({n: getattr(network, n) for n in _NETWORK_NAMES})
        return globals()[name]
    # Layer classes by their torch.nn name (convcalc.Conv2d), found through the registry.
    for cls in layer_classes().values():
        if cls.__name__ == name:
            globals()[name] = cls
            return cls
    raise AttributeError(f"module 'convcalc' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_NETWORK_NAMES, *(cls.__name__ for cls in layer_classes().values())})


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
