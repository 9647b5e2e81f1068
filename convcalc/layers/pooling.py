"""Sliding-window pooling, 1-D to 3-D: max, average and power-average (``nn.MaxPool*d``,
``nn.AvgPool*d``, ``nn.LPPool*d``), and :class:`PoolNd`, the base of every pooling family
(max-unpooling and the adaptive pools have modules of their own).

None of the pooling layers has parameters or MACs; their FLOPs follow each family's ``flops_rule``.
Windows are counted by the input elements they cover (never padding), so a padded or ceil-mode
window that hangs over the edge costs what PyTorch's kernel actually reads.
"""

from __future__ import annotations

import math
from typing import Any, Callable, ClassVar, Optional, Sequence

from ..arith import ConvRule, avg_pool_cells, floor_sum, spatial_symbols
from ..errors import ConvcalcError
from .base import Layer, OptionalSize, Shape, Size, prod

_DIMS_HINT = " (unbatched C×spatial or batched N×C×spatial)"


def _covered(start: Any, kernel: int, dilation: int, size: int, minimum: Callable = min, maximum: Callable = max) -> Any:
    """Input elements of ``[0, size)`` hit by the taps ``start + t·dilation``, ``0 <= t < kernel``.

    For one start (ints, builtin min/max) or an array of them (``np.minimum``/``np.maximum``).

    >>> _covered(-1, 3, 1, 5), _covered(3, 3, 1, 5), _covered(-1, 2, 5, 4)
    (2, 2, 0)
    """
    first = maximum(0, -(start // dilation))  # smallest t with start + t·d >= 0
    last = minimum(kernel - 1, (size - 1 - start) // dilation)
    return maximum(0, last - first + 1)


def sum_windows(per_dim: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """(elements summed over all windows, windows covering any element) of one plane.

    ``per_dim`` holds, per spatial dim, (elements covered summed over that dim's windows,
    non-empty windows): a window is the product of its per-dim ranges, so both sums factor.

    >>> sum_windows([(5, 2), (3, 2)])
    (15, 4)
    """
    return prod(elements for elements, _ in per_dim), prod(nonempty for _, nonempty in per_dim)


def _coverage(size: int, windows: int, kernel: int, stride: int, padding: int, dilation: int) -> tuple[int, int]:
    """(Σ over windows of the input elements each covers, windows covering any) along one dim,
    in closed form (floor sums), so it costs the same for ten outputs or 10**12.

    Window o's taps are ``o·s − p + t·d``; those inside ``[0, size)`` run from
    ``max(0, ⌈(p − o·s)/d⌉)`` to ``min(k − 1, ⌊(size − 1 + p − o·s)/d⌋)``. Windows ``lo..hi``
    reach the input at all; between them the two clamps switch at ``A`` and ``B``, and each
    piece is a floor sum over an arithmetic progression.

    >>> _coverage(5, 5, 3, 1, 1, 1)  # windows cover 2, 3, 3, 3, 2
    (13, 5)
    >>> _coverage(4, 2, 2, 5, 1, 5)  # taps at -1, 4 and 4, 9: nothing inside
    (0, 0)
    """
    n, k, s, p, d = size, kernel, stride, padding, dilation
    lo = max(0, -(((k - 1) * d - p) // s))  # first window whose last tap is at >= 0
    hi = min(windows - 1, (n - 1 + p) // s)  # last window whose first tap is at <= n − 1
    if lo > hi:
        return 0, 0
    first_free = -(-p // s)  # windows from here on start inside: first tap 0
    last_free = (n - 1 + p - (k - 1) * d) // s  # windows up to here end inside: last tap k − 1

    def floors(a: int, b: int, alpha: int, beta: int) -> int:  # Σ_{o=a}^{b} ⌊(alpha·o + beta)/d⌋
        return floor_sum(b - a + 1, alpha, alpha * a + beta, d) if a <= b else 0

    whole_end = min(hi, last_free)
    last_taps = (k - 1) * max(0, whole_end - lo + 1) + floors(max(lo, last_free + 1), hi, -s, n - 1 + p)
    first_taps = -floors(lo, min(hi, first_free - 1), s, -p)  # ⌈(p − o·s)/d⌉ = −⌊(o·s − p)/d⌋
    count = hi - lo + 1
    elements = last_taps - first_taps + count
    # Only a window hanging past both edges can miss every element (dilation stepping over a
    # short input); there each count is 0 or 1 when d > size − 1.
    both_lo, both_hi = max(lo, last_free + 1), min(hi, first_free - 1)
    nonempty = count
    if n - 1 < d and both_lo <= both_hi:
        inside = floors(both_lo, both_hi, -s, n - 1 + p) + floors(both_lo, both_hi, s, -p) + (both_hi - both_lo + 1)
        nonempty -= (both_hi - both_lo + 1) - inside
    return elements, nonempty


def is_sequence(value: Any) -> bool:
    return isinstance(value, (tuple, list))


def _single_or_given(value: Any, nd: int) -> Any:
    """What torch's ``_single``/``_pair``/``_triple`` store: an int repeated, a sequence as is."""
    return value if is_sequence(value) else (value,) * nd


class PoolNd(Layer):
    """What every pool shares: (C, *spatial) or (N, C, *spatial) input, no parameters."""

    family = "pooling"
    flops_rule: ClassVar[str] = ""
    batch_optional = True

    def _spatial(self, input_shape: Sequence[int]) -> tuple[Shape, Shape]:
        shape = self._as_shape(input_shape)
        self._check_dims(shape, (self.nd + 1, self.nd + 2), _DIMS_HINT)
        return shape, shape[-self.nd :]

    def _with_spatial(self, shape: Shape, spatial: Sequence[int]) -> Shape:
        return (*shape[: -self.nd], *spatial)

    def _planes(self, shape: Shape) -> int:
        """Independent (n, c) planes the pool runs over."""
        return prod(shape[: -self.nd])

    def _size_arg(
        self, name: str, value: Any, *, minimum: int | None = None, exact: bool = False
    ) -> tuple[int, ...]:
        """An int or a tuple; ``exact``: torch takes nd entries only, not a 1-tuple to expand."""
        if is_sequence(value) and len(value) != self.nd and (exact or len(value) != 1):
            entries = "1 value" if self.nd == 1 else f"{self.nd} values"
            expanded = "" if exact or self.nd == 1 else " (or a 1-tuple)"
            raise self._config_error(
                f"{name} needs one int or {entries}{expanded}: got {name}={value!r}"
            )
        return self._tuple(name, value, self.nd, minimum=minimum)


class _SlidingPoolNd(PoolNd):
    """Pools whose windows slide by a stride: max, average and power-average."""

    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    ceil_mode: bool

    def _input_must_cover_kernel(self) -> bool:
        """Whether every input dim must be at least the kernel, padding or not (3-D averages)."""
        return False

    def _pads_allowed(self) -> bool:
        """Whether the layer takes a padding argument (LPPool does not)."""
        return True

    def _set_window(
        self,
        kernel_size: Any,
        stride: Any,
        padding: Any,
        dilation: Any,
        ceil_mode: Any,
        *,
        exact_kernel: bool = False,
    ) -> None:
        self.kernel_size = self._size_arg("kernel_size", kernel_size, minimum=1, exact=exact_kernel)
        # An empty stride means "default" to PyTorch's pooling functions, like None.
        if stride is None or (is_sequence(stride) and len(stride) == 0):
            self.stride = self.kernel_size
        else:
            self.stride = self._size_arg("stride", stride, minimum=1)
        self.padding = self._size_arg("padding", padding, minimum=0)
        self.dilation = self._size_arg("dilation", dilation, minimum=1)
        self.ceil_mode = bool(ceil_mode)
        for axis, (pad, kernel, dil) in enumerate(zip(self.padding, self.kernel_size, self.dilation)):
            if pad > kernel // 2:
                unrelaxed = "; dilation does not widen this bound" if dil > 1 else ""
                raise self._config_error(
                    f"padding must be at most half the kernel size (kernel_size={kernel}, so at "
                    f"most {kernel // 2}{unrelaxed}): got padding={pad} in spatial dim {axis}; "
                    f"use padding<={kernel // 2} or kernel_size>={2 * pad}"
                )

    def rules(self) -> tuple[ConvRule, ...]:
        return tuple(
            ConvRule(k, s, p, p, d, self.ceil_mode)
            for k, s, p, d in zip(self.kernel_size, self.stride, self.padding, self.dilation)
        )

    def size_rules(self, input_shape: Shape | None = None, **forward_kwargs: Any) -> list[tuple[str, Any]]:
        return list(zip(spatial_symbols(self.nd), self.rules()))

    def output_shape(self, input_shape: Sequence[int], **forward_kwargs: Any) -> Shape:
        self._no_forward_options(forward_kwargs)
        shape, spatial = self._spatial(input_shape)
        if self._input_must_cover_kernel():
            for axis, (size, kernel) in enumerate(zip(spatial, self.kernel_size)):
                if size < kernel:
                    raise self._shape_error(
                        shape,
                        f"spatial dim {axis} has size {size}, smaller than kernel_size={kernel} "
                        "(PyTorch's 3-D average pool requires this whatever the padding); use "
                        f"kernel_size<={size} there or an input of at least {kernel}",
                    )
        out = []
        for axis, (size, rule) in enumerate(zip(spatial, self.rules())):
            value = rule.out(size)
            if value < 1:
                raise self._shape_error(shape, self._no_window_message(axis, size, rule))
            out.append(value)
        return self._with_spatial(shape, out)

    def _no_window_message(self, axis: int, size: int, rule: ConvRule) -> str:
        if rule.dilation > 1:
            window = f"the window's reach {rule.effective_kernel} (dilation·(kernel−1)+1)"
            fixes = ["a smaller kernel or dilation"]
        else:
            window, fixes = f"kernel_size={rule.kernel}", ["a smaller kernel"]
        most = rule.kernel // 2
        most_padded = ConvRule(rule.kernel, rule.stride, most, most, rule.dilation, rule.ceil_mode)
        if self._pads_allowed() and rule.pad_left < most and most_padded.out(size) >= 1:
            fixes.append(f"padding up to {most}")
        ceiled = ConvRule(rule.kernel, rule.stride, rule.pad_left, rule.pad_right, rule.dilation, True)
        if not rule.ceil_mode and ceiled.out(size) >= 1:
            fixes.append("ceil_mode=True")
        return (
            f"no window fits in spatial dim {axis}: {window} exceeds the padded input "
            f"{size + rule.pad_left + rule.pad_right} ({rule.formula(str(size))} = {rule.out(size)}); "
            f"use {', '.join(fixes)} or a larger input"
        )

    def _window_totals(self, input_shape: Sequence[int]) -> tuple[int, int]:
        """(covered elements summed over every window, non-empty windows) over all planes."""
        out = self.output_shape(input_shape)
        shape = tuple(input_shape)
        elements, nonempty = sum_windows([
            _coverage(size, n, k, s, p, d)
            for size, n, k, s, p, d in zip(
                shape[-self.nd :], out[-self.nd :], self.kernel_size, self.stride, self.padding, self.dilation
            )
        ])
        planes = self._planes(shape)
        return planes * elements, planes * nonempty


class _MaxPoolNd(_SlidingPoolNd):
    window = "max"
    saved_for_backward = ("input", "indices")
    flops_rule = (
        "one comparison per input element a window covers but the first, per output element "
        "(padding is not read)"
    )

    def __init__(
        self,
        kernel_size: Size,
        stride: OptionalSize = None,
        padding: Size = 0,
        dilation: Size = 1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ) -> None:
        self._set_window(kernel_size, stride, padding, dilation, ceil_mode)
        self.return_indices = bool(return_indices)
        stride_given = kernel_size if stride is None else stride
        self._given = (kernel_size, stride_given, padding, dilation, ceil_mode)

    def extra_repr(self) -> str:
        kernel, stride, padding, dilation, ceil_mode = self._given
        return (
            f"kernel_size={kernel}, stride={stride}, padding={padding}, dilation={dilation}, "
            f"ceil_mode={ceil_mode}"
        )

    def flops(self, input_shape: Sequence[int], **forward_kwargs: Any) -> int:
        self._no_forward_options(forward_kwargs)
        # A window over padding alone (possible with dilation) does no comparison, not −1.
        elements, nonempty = self._window_totals(input_shape)
        return elements - nonempty

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        from ..kernels.pooling import max_pool_nd

        return self._on_batch(
            x,
            lambda batch: max_pool_nd(
                batch, self.kernel_size, self.stride, self.padding, self.dilation,
                self.ceil_mode, self.return_indices,
            ),
        )

    def _prepared(self, x: Any, params: dict[str, Any], forward_kwargs: dict[str, Any], cast: Any,
                  in_place: bool = False) -> Callable[[Any], Any]:
        if self.return_indices:
            return super()._prepared(x, params, forward_kwargs, cast)
        from ..kernels.pooling import prepared_max_pool

        return self._prepared_on_batch(x, cast, lambda shape, dtype: prepared_max_pool(
            shape, dtype, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode))


class _AvgPoolNd(_SlidingPoolNd):
    window = "avg"
    flops_rule = (
        "one add per input element a window covers but the first, plus one divide: the covered "
        "elements, per output element"
    )
    unprinted = ("ceil_mode", "count_include_pad", "divisor_override")

    def unstated(self, names: tuple[str, ...], input_shape: Shape) -> list[tuple[str, bool]]:
        """ceil_mode where ceil_mode=True would add outputs; count_include_pad where there is
        padding for it to count; divisor_override always (any divisor changes every average).

        >>> AvgPool2d(3, 2, 1).unstated(("ceil_mode", "count_include_pad"), (1, 1, 7, 7))[0][0][:44]
        "AvgPool2d's print does not show count_includ"
        """
        said = []
        _, spatial = self._spatial(input_shape)
        floor = [rule.out(size) for rule, size in zip(self.rules(), spatial)]
        ceiled = [rule._replace(ceil_mode=True).out(size) for rule, size in zip(self.rules(), spatial)]
        name = type(self).__name__
        if "ceil_mode" in names and not self.ceil_mode and ceiled != floor:
            said.append((f"{name}'s print does not show ceil_mode: assumed False, which gives {floor} where "
                         f"ceil_mode=True gives {ceiled}", True))
        if "count_include_pad" in names and self.count_include_pad and any(self.padding):
            said.append((f"{name}'s print does not show count_include_pad: assumed True, the padded zeros counted "
                         "in the averages at the edges (False divides by the input cells alone)", False))
        if "divisor_override" in names and self.divisor_override is None:
            said.append((f"{name}'s print does not show divisor_override: assumed None, each sum divided by the "
                         "cells its window counts (a divisor_override divides every sum by that number)", False))
        return said

    def unstated_rescue(self, names: tuple[str, ...], input_shape: Shape) -> str | None:
        """ceil_mode=True, which print(model) does not show, where it gives every dim a window.

        >>> AvgPool2d(4, 4).unstated_rescue(("ceil_mode",), (1, 8, 2, 2))[:60]
        "AvgPool2d's print does not show ceil_mode: with ceil_mode=Tr"
        """
        if "ceil_mode" not in names or self.ceil_mode:
            return None
        try:
            _, spatial = self._spatial(input_shape)
            ceiled = [rule._replace(ceil_mode=True).out(size) for rule, size in zip(self.rules(), spatial)]
        except ConvcalcError:
            return None
        if min(ceiled, default=0) < 1:
            return None
        return (f"{type(self).__name__}'s print does not show ceil_mode: with ceil_mode=True, which the model may "
                f"have, it gives {ceiled}; if so, write the line with ceil_mode=True")

    def _set_average(
        self,
        kernel_size: Any,
        stride: Any,
        padding: Any,
        ceil_mode: Any,
        count_include_pad: Any,
        divisor_override: Any,
    ) -> None:
        self._set_window(kernel_size, stride, padding, 1, ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        if divisor_override is not None:
            if not isinstance(divisor_override, int) or isinstance(divisor_override, bool):
                raise self._config_error(
                    f"divisor_override must be a whole number or None: got {divisor_override!r}"
                )
            if divisor_override == 0:
                raise self._config_error(
                    "divisor_override=0 would divide every window by zero; use None (divide by "
                    "the window's own size) or a non-zero number"
                )
        self.divisor_override: int | None = divisor_override

    def extra_repr(self) -> str:
        kernel, stride, padding = self._given
        return f"kernel_size={kernel}, stride={stride}, padding={padding}"

    def divisor_factor(self, axis: int, index: int, size: int) -> int:
        """What spatial dim ``axis`` contributes to the divisor of output ``index`` (input ``size``).

        The window spans ``[index·s − p, index·s − p + k)`` cut at the right padding's end; with
        ``count_include_pad`` the padding counts, otherwise only the input cells do. A window's
        divisor is the product over dims (see ``divisor``).

        >>> pool = AvgPool1d(3, stride=3, padding=1, ceil_mode=True)
        >>> [pool.divisor_factor(0, i, 6) for i in range(3)]  # last window: 1 input, 1 padding
        [3, 3, 2]
        >>> AvgPool1d(3, 3, 1, count_include_pad=False).divisor_factor(0, 0, 6)
        2
        """
        kernel, stride, pad = self.kernel_size[axis], self.stride[axis], self.padding[axis]
        return avg_pool_cells(index * stride - pad, kernel, size, pad, self.count_include_pad)

    def divisor(self, index: Sequence[int], spatial: Sequence[int]) -> int:
        """The number a window's sum is divided by, for output position ``index``.

        >>> AvgPool2d(3, stride=2, padding=1, count_include_pad=False).divisor((0, 1), (6, 6))
        6
        """
        if self.divisor_override is not None:
            return self.divisor_override
        return prod(
            self.divisor_factor(axis, i, size) for axis, (i, size) in enumerate(zip(index, spatial))
        )

    def flops(self, input_shape: Sequence[int], **forward_kwargs: Any) -> int:
        self._no_forward_options(forward_kwargs)
        elements, _ = self._window_totals(input_shape)
        return elements

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        from ..kernels.pooling import avg_pool_nd

        return self._on_batch(
            x,
            lambda batch: avg_pool_nd(
                batch, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                self.count_include_pad, self.divisor_override,
            ),
        )


class _AvgPoolNd23(_AvgPoolNd):
    """AvgPool2d and AvgPool3d: torch's signature adds divisor_override."""

    def __init__(
        self,
        kernel_size: Size,
        stride: OptionalSize = None,
        padding: Size = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override: Optional[int] = None,
    ) -> None:
        self._set_average(kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
        self._given = (kernel_size, kernel_size if stride is None else stride, padding)


class _LPPoolNd(_SlidingPoolNd):
    window = "lp"
    # torch builds it from pow, avg_pool, sign, relu, mul and pow, which keep their operands
    saved_for_backward = ("input", "input_copy", *("output_copy",) * 4)
    flops_rule = (
        "two per input element a window covers, per output element: a power and an add each "
        "(the last add standing for the root)"
    )

    def __init__(
        self,
        norm_type: float,
        kernel_size: Size,
        stride: OptionalSize = None,
        ceil_mode: bool = False,
    ) -> None:
        norm = self._number("norm_type", norm_type)
        if norm == 0:
            raise self._config_error(
                "norm_type=0 has no root to take ((Σ x^p)^(1/p) divides by p); use a non-zero "
                "p, e.g. norm_type=2, or norm_type=inf for max pooling of |x|"
            )
        self.norm_type = norm_type
        # PyTorch runs p = ±inf as a max pool over |x|; any other p as an average pool of x^p
        # rescaled by the kernel's size, which it reads as one int (1-d) or exactly nd ints.
        self.is_max = math.isinf(norm)
        if self.nd == 1 and not self.is_max and is_sequence(kernel_size):
            raise self._config_error(
                f"kernel_size must be a single int for a finite norm_type (PyTorch multiplies "
                f"the average by it): got kernel_size={kernel_size!r}; use kernel_size="
                f"{kernel_size[0] if len(kernel_size) == 1 else '<int>'}"
            )
        self._set_window(kernel_size, stride, 0, 1, ceil_mode, exact_kernel=True)
        self._given = (norm_type, kernel_size, stride, ceil_mode)

    def _input_must_cover_kernel(self) -> bool:
        return self.nd == 3 and not self.is_max

    def _pads_allowed(self) -> bool:
        return False

    def extra_repr(self) -> str:
        norm_type, kernel, stride, ceil_mode = self._given
        return f"norm_type={norm_type}, kernel_size={kernel}, stride={stride}, ceil_mode={ceil_mode}"

    def flops(self, input_shape: Sequence[int], **forward_kwargs: Any) -> int:
        self._no_forward_options(forward_kwargs)
        elements, _ = self._window_totals(input_shape)
        return 2 * elements

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        from ..kernels.pooling import lp_pool_nd

        return self._on_batch(
            x,
            lambda batch: lp_pool_nd(
                batch, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode
            ),
        )


class MaxPool1d(_MaxPoolNd):
    """1-D max pooling over (N, C, L).

    >>> MaxPool1d(3, stride=3, padding=1, ceil_mode=True).output_shape((1, 4, 5))
    (1, 4, 2)
    """

    nd = 1


class MaxPool2d(_MaxPoolNd):
    """2-D max pooling over (N, C, H, W).

    >>> pool = MaxPool2d(2)
    >>> pool
    MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    >>> pool.output_shape((1, 64, 112, 112)), pool.flops((1, 64, 112, 112))
    ((1, 64, 56, 56), 602112)
    """

    nd = 2


class MaxPool3d(_MaxPoolNd):
    """3-D max pooling over (N, C, D, H, W)."""

    nd = 3


class AvgPool1d(_AvgPoolNd):
    """1-D average pooling over (N, C, L).

    >>> AvgPool1d(3)
    AvgPool1d(kernel_size=(3,), stride=(3,), padding=(0,))
    """

    nd = 1
    unprinted = ("ceil_mode", "count_include_pad")  # torch's AvgPool1d takes no divisor_override

    def __init__(
        self,
        kernel_size: Size,
        stride: OptionalSize = None,
        padding: Size = 0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        self._set_average(kernel_size, stride, padding, ceil_mode, count_include_pad, None)
        self._given = (
            _single_or_given(kernel_size, 1),
            _single_or_given(kernel_size if stride is None else stride, 1),
            _single_or_given(padding, 1),
        )


class AvgPool2d(_AvgPoolNd23):
    """2-D average pooling over (N, C, H, W).

    >>> pool = AvgPool2d(3, stride=2, padding=1)
    >>> pool.output_shape((1, 8, 7, 7)), pool.flops((1, 8, 7, 7))
    ((1, 8, 4, 4), 800)
    """

    nd = 2


class AvgPool3d(_AvgPoolNd23):
    """3-D average pooling over (N, C, D, H, W); every input dim must be at least the kernel."""

    nd = 3

    def _input_must_cover_kernel(self) -> bool:
        return True


class LPPool1d(_LPPoolNd):
    """1-D power-average pooling, (Σ x^p)^(1/p) per window, over (N, C, L)."""

    nd = 1


class LPPool2d(_LPPoolNd):
    """2-D power-average pooling, (Σ x^p)^(1/p) per window, over (N, C, H, W).

    >>> LPPool2d(2, 3, stride=2).output_shape((1, 16, 9, 9))
    (1, 16, 4, 4)
    """

    nd = 2


class LPPool3d(_LPPoolNd):
    """3-D power-average pooling, (Σ x^p)^(1/p) per window, over (N, C, D, H, W)."""

    nd = 3


LAYERS = (
    MaxPool1d,
    MaxPool2d,
    MaxPool3d,
    AvgPool1d,
    AvgPool2d,
    AvgPool3d,
    LPPool1d,
    LPPool2d,
    LPPool3d,
)
