"""Adaptive pools, 1-D to 3-D (``nn.AdaptiveAvgPool*d``, ``nn.AdaptiveMaxPool*d``): the output
size is given and each window is ``[⌊i·in/out⌋, ⌈(i+1)·in/out⌉)``, so windows may differ in
size and overlap.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from ..arith import FixedRule, spatial_symbols, widest_adaptive_window
from .base import Kept, OptionalSizes, Shape
from .pooling import PoolNd, is_sequence, sum_windows


def _adaptive_coverage(size: int, windows: int) -> tuple[int, int]:
    """(Σ window lengths, non-empty windows) of the adaptive windows along one dim.

    Window o spans [⌊o·S/n⌋, ⌈(o+1)·S/n⌉): summing floors and ceilings over o (the classic
    floor sum) gives S + n − gcd(S, n); every window holds at least one element.

    >>> _adaptive_coverage(5, 3), _adaptive_coverage(2, 4), _adaptive_coverage(7, 0)
    ((7, 3), (4, 4), (0, 0))
    """
    return size + windows - math.gcd(size, windows), windows


class _AdaptivePoolNd(PoolNd):
    """Pools that fix the output size and spread the windows over the input to reach it."""

    def __init__(self, output_size: OptionalSizes) -> None:
        self.output_size = self._output_sizes(output_size)
        self._given = output_size

    def _output_sizes(self, output_size: Any) -> tuple[int | None, ...]:
        nd = self.nd
        if output_size is None:
            keep = "(" + ", ".join(["None"] * nd) + ")"
            fix = f"use {keep} to keep every dim, or" if nd > 1 else "use"
            raise self._config_error(
                f"output_size=None: give the output size, {fix} a whole number such as 1"
            )
        if is_sequence(output_size) and len(output_size) != nd:
            raise self._config_error(
                f"output_size needs {nd} entries or one int: got output_size={output_size!r}"
            )
        sizes = tuple(output_size) if is_sequence(output_size) else (output_size,) * nd
        for axis, size in enumerate(sizes):
            if size is None and nd > 1:
                continue
            if size is None:
                raise self._config_error(
                    f"output_size={output_size!r}: None keeps a dim only in 2-d and 3-d adaptive "
                    "pools; give a whole number"
                )
            if not isinstance(size, int) or isinstance(size, bool):
                raise self._config_error(
                    f"output_size must hold whole numbers{' or None' if nd > 1 else ''}: got "
                    f"output_size={output_size!r}"
                )
            if size < 0:
                raise self._config_error(
                    f"output_size {size} in spatial dim {axis} is negative; use 0 or more"
                )
        return sizes

    def extra_repr(self) -> str:
        return f"output_size={self._given}"

    def rules(self) -> tuple[FixedRule, ...]:
        return tuple(FixedRule(size) for size in self.output_size)

    def receptive_taps(self, size_in: int, size_out: int) -> int:
        """An output sees its window: the widest one's cells beyond the first.

        >>> AdaptiveAvgPool1d(4).receptive_taps(10, 4)
        2
        """
        return widest_adaptive_window(size_in, size_out) - 1

    def size_rules(self, input_shape: Shape | None = None, **forward_kwargs: Any) -> list[tuple[str, Any]]:
        return list(zip(spatial_symbols(self.nd), self.rules()))

    def output_shape(self, input_shape: Sequence[int], **forward_kwargs: Any) -> Shape:
        self._no_forward_options(forward_kwargs)
        # An explicit 0 gives an empty output, as in PyTorch: the one empty result convcalc allows.
        shape, spatial = self._spatial(input_shape)
        return self._with_spatial(shape, [rule.out(size) for size, rule in zip(spatial, self.rules())])

    def _window_totals(self, input_shape: Sequence[int]) -> tuple[int, int]:
        out = self.output_shape(input_shape)
        shape = tuple(input_shape)
        elements, nonempty = sum_windows(
            [_adaptive_coverage(size, n) for size, n in zip(shape[-self.nd :], out[-self.nd :])]
        )
        planes = self._planes(shape)
        return planes * elements, planes * nonempty


class _AdaptiveAvgPoolNd(_AdaptivePoolNd):
    flops_rule = (
        "as AvgPool, over each adaptive window: the window's elements (adds and one divide) per "
        "output element"
    )

    def kept_for_backward(self, input_shape: Shape, output_shape: Shape) -> tuple[Kept, ...]:
        """The input, except for an all-ones output, which torch computes as a mean (which
        keeps nothing).

        >>> AdaptiveAvgPool2d(1).kept_for_backward((1, 4, 7, 7), (1, 4, 1, 1))
        ()
        """
        if all(size == 1 for size in output_shape[-self.nd:]):
            return ()
        return super().kept_for_backward(input_shape, output_shape)

    def traced_op(self, input_shape: Shape) -> str | None:
        return f"adaptive_avg_pool{self.nd}d"

    def output_shape(self, input_shape: Sequence[int], **forward_kwargs: Any) -> Shape:
        self._no_forward_options(forward_kwargs)
        shape = self._as_shape(input_shape)
        if self._is_global_mean(shape):
            return self._with_spatial(shape, (1,) * self.nd)
        return super().output_shape(shape)

    def _is_global_mean(self, shape: Shape) -> bool:
        """Whether PyTorch's shortcut for an all-ones output applies (2-d and 3-d only).

        It takes the mean over the last nd dims whatever comes before them, so inputs of any
        rank from nd up (nd+1 when output_size is a tuple, which PyTorch resolves against the
        input first) are accepted.
        """
        least = self.nd if not is_sequence(self._given) else self.nd + 1
        if self.nd == 1 or len(shape) < least:
            return False
        return all(
            (size if wanted is None else wanted) == 1
            for wanted, size in zip(self.output_size, shape[-self.nd :])
        )

    def flops(self, input_shape: Sequence[int], **forward_kwargs: Any) -> int:
        self._no_forward_options(forward_kwargs)
        elements, _ = self._window_totals(input_shape)
        return elements

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        from ..kernels.pooling import adaptive_avg_pool_nd

        if self._is_global_mean(x.shape):
            # Any rank: every leading dim is a plane of the mean, however many there are.
            planes = x.reshape(1, -1, *x.shape[x.ndim - self.nd :])
            return adaptive_avg_pool_nd(planes, 1).reshape(self.output_shape(x.shape))
        return self._on_batch(x, lambda batch: adaptive_avg_pool_nd(batch, self.output_size))


class _AdaptiveMaxPoolNd(_AdaptivePoolNd):
    flops_rule = (
        "as MaxPool, over each adaptive window: one comparison per window element but the "
        "first, per output element"
    )
    saved_for_backward = ("input", "indices")

    def __init__(self, output_size: OptionalSizes, return_indices: bool = False) -> None:
        super().__init__(output_size)
        self.return_indices = bool(return_indices)

    def flops(self, input_shape: Sequence[int], **forward_kwargs: Any) -> int:
        self._no_forward_options(forward_kwargs)
        elements, nonempty = self._window_totals(input_shape)
        return elements - nonempty

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        from ..kernels.pooling import adaptive_max_pool_nd

        return self._on_batch(
            x, lambda batch: adaptive_max_pool_nd(batch, self.output_size, self.return_indices)
        )


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """1-D adaptive average pooling to a fixed output length."""

    nd = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """2-D adaptive average pooling to a fixed output size (None keeps a dim).

    >>> AdaptiveAvgPool2d((None, 7)).output_shape((1, 512, 10, 10))
    (1, 512, 10, 7)
    >>> AdaptiveAvgPool2d(1).flops((1, 512, 7, 7))
    25088
    """

    nd = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    """3-D adaptive average pooling to a fixed output size (None keeps a dim)."""

    nd = 3


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """1-D adaptive max pooling to a fixed output length."""

    nd = 1


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """2-D adaptive max pooling to a fixed output size (None keeps a dim).

    >>> AdaptiveMaxPool2d((2, 3)).output_shape((8, 5, 7))
    (8, 2, 3)
    """

    nd = 2


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """3-D adaptive max pooling to a fixed output size (None keeps a dim)."""

    nd = 3


LAYERS = (
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveAvgPool3d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AdaptiveMaxPool3d,
)
