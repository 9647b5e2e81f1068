"""Networks read from a spec: the trace of their forward pass, its summary and its execution.

>>> from convcalc.network import parse_network
>>> parse_network("conv2d --in 1 --out 2 -k 3").summary((1, 1, 5, 5)).output_shape
(1, 2, 3, 3)
"""

from __future__ import annotations

from typing import Any

__all__ = ["Network", "Summary", "parse_network"]


def __getattr__(name: str) -> Any:
    # Loaded on first use: a single-layer command reads light modules of this package (the
    # counting conventions' names) and must not pay for the tracer and interpreter on start-up.
    if name in __all__:
        from . import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
