"""The sizes of one convolution (``ConvGeometry``) and the normalisation of its per-dim arguments.

A geometry is made once per ``conv_nd`` call; every method reads its chunk's sizes from it (a
chunk of groups gets a ``subset``), and the methods that multiply a rearranged weight keep it
there, made once per call.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import numpy as np

from ...arith import ConvRule


def spatial_dims(x_shape: Sequence[int], weight_shape: Sequence[int], caller: str) -> int:
    """The number of spatial dims of an input of ``x_shape`` (N, C, *spatial), checked against
    the weight's kernel dims (C, C, *kernel).

    >>> spatial_dims((1, 3, 8, 8), (4, 3, 3, 3), "conv_nd")
    2
    """
    nd = len(x_shape) - 2
    if nd < 1 or len(weight_shape) != nd + 2:
        raise ValueError(f"{caller} needs x (N, C, *spatial) and a weight with {nd} kernel dims")
    return nd


def spatial_tuple(value: int | Sequence[int], nd: int) -> tuple[int, ...]:
    """``value`` as one int per spatial dim (an int or a 1-tuple is repeated; not validated).

    >>> spatial_tuple(2, 3), spatial_tuple((1,), 2), spatial_tuple((1, 2), 2)
    ((2, 2, 2), (1, 1), (1, 2))
    """
    if isinstance(value, (int, np.integer)):
        return (int(value),) * nd
    values = tuple(int(v) for v in value)
    return values * nd if len(values) == 1 else values


def pad_pairs(pads: int | Sequence[int] | Sequence[Sequence[int]], nd: int) -> tuple[tuple[int, int], ...]:
    """``pads`` as one (left, right) pair per spatial dim; ints mean symmetric padding.

    >>> pad_pairs(1, 2), pad_pairs((1, (0, 2)), 2)
    (((1, 1), (1, 1)), ((1, 1), (0, 2)))
    """
    if isinstance(pads, (int, np.integer)):
        return ((int(pads), int(pads)),) * nd
    pairs = []
    for pad in pads:
        if isinstance(pad, (int, np.integer)):
            pairs.append((int(pad), int(pad)))
        else:
            left, right = pad
            pairs.append((int(left), int(right)))
    if len(pairs) == 1:
        pairs *= nd
    return tuple(pairs)


class ConvGeometry:
    """Sizes of one convolution, and how a chunk of it maps onto the padded input."""

    def __init__(
        self,
        in_shape: Sequence[int],
        weight_shape: Sequence[int],
        stride: tuple[int, ...],
        pads: tuple[tuple[int, int], ...],
        dilation: tuple[int, ...],
        groups: int,
    ) -> None:
        self.batch, self.in_channels, *spatial = in_shape
        self.spatial = tuple(spatial)
        self.out_channels, self.in_per_group, *kernel = weight_shape
        self.kernel = tuple(kernel)
        self.nd = len(self.kernel)
        # A stride past the last window start, or the dilation of a 1-tap kernel, changes no
        # output: clamp them, so that -s 2**62 cannot overflow the byte strides of a view.
        dilation = tuple(1 if k == 1 else d for k, d in zip(self.kernel, dilation))
        stride = tuple(
            min(s, max(size + left + right - d * (k - 1) - 1, 0) + 1)
            for s, size, (left, right), d, k in zip(stride, self.spatial, pads, dilation, self.kernel)
        )
        self.stride, self.pads, self.dilation, self.groups = stride, pads, dilation, groups
        self.out_per_group = self.out_channels // groups
        self.rules = tuple(
            ConvRule(k, s, left, right, d)
            for k, s, (left, right), d in zip(self.kernel, stride, pads, dilation)
        )
        self.out_spatial = tuple(rule.out(size) for rule, size in zip(self.rules, self.spatial))
        # Padded extent actually read: trailing padding a stride never reaches is not materialised.
        self.extents = tuple(
            (o - 1) * s + rule.effective_kernel
            for o, s, rule in zip(self.out_spatial, stride, self.rules)
        )
        self.taps = math.prod(self.kernel)

    def subset(self, groups: int) -> ConvGeometry:
        """The same convolution restricted to ``groups`` of its groups (a chunk of channels)."""
        part = copy.copy(self)
        part.groups = groups
        part.in_channels = groups * self.in_per_group
        part.out_channels = groups * self.out_per_group
        return part

    narrow: bool = False
    """Whether the chunks read the input itself, with no padded slab (see
    ``dispatch.NARROW_KERNELS``)."""

    prepared_weight: np.ndarray | None = None
    """The weight as the "rows", "winograd", "depthwise" and (with a bias) "gemm" methods
    multiply it, groups first: made once per call (``dispatch._prepare_weight``), not once per
    chunk."""

    def slab_rows(self, rows: int) -> int:
        """Padded input rows (first spatial dim) that ``rows`` output rows read."""
        return (rows - 1) * self.stride[0] + self.rules[0].effective_kernel

    def row_pixels(self) -> int:
        """Output pixels in one output row (all spatial dims but the first)."""
        return math.prod(self.out_spatial[1:])

    def slab_row_pixels(self) -> int:
        return math.prod(self.extents[1:])
