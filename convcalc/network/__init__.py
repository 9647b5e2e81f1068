"""Networks read from a spec: the trace of their forward pass, its summary and its execution.

>>> from convcalc.network import parse_network
>>> parse_network("conv2d --in 1 --out 2 -k 3").summary((1, 1, 5, 5)).output_shape
(1, 2, 3, 3)
"""

from .model import Network, Summary, parse_network

__all__ = ["Network", "Summary", "parse_network"]
