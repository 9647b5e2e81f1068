"""``nn.ChannelShuffle``: ShuffleNet's regrouping of channels, a layer of the reshape family (in a
module of its own, beside the family's long one)."""

from __future__ import annotations

from typing import Any, Sequence

from .base import Shape
from .reshape import _ReshapeBase


class ChannelShuffle(_ReshapeBase):
    """Regroup the channels of (N, C, *): seen as (groups, C/groups), read as (C/groups, groups).

    >>> ChannelShuffle(2).output_shape((1, 4, 3, 3))
    (1, 4, 3, 3)
    >>> import numpy as np
    >>> ChannelShuffle(2).forward(np.arange(4.0).reshape(1, 4, 1))[0, :, 0].tolist()
    [0.0, 2.0, 1.0, 3.0]
    """

    fresh_output = True

    def __init__(self, groups: int) -> None:
        # torch builds any groups and refuses one below 1 on the first call: refused here
        self.groups = self._positive_int("groups", groups)

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {"groups": "the channel groups interleaved (C must be divisible by it)"}

    def extra_repr(self) -> str:
        return f"groups={self.groups}"

    def output_shape(self, input_shape: Sequence[int], **forward_kwargs: Any) -> Shape:
        self._no_forward_options(forward_kwargs)
        shape = self._as_shape(input_shape)
        if len(shape) < 3:
            raise self._shape_error(shape, f"expected more than 2 dims (N, C, *), got {len(shape)}-D; add a spatial dim of 1")
        if shape[1] % self.groups:
            raise self._shape_error(shape, f"channels {shape[1]} (dim 1) must be divisible by groups={self.groups}")
        return shape

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        n, channels = x.shape[:2]
        grouped = x.reshape((n, self.groups, channels // self.groups) + x.shape[2:])
        return grouped.swapaxes(1, 2).copy().reshape(x.shape)  # a copy even where the order is kept


LAYERS = (ChannelShuffle,)
