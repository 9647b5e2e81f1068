"""Normalisation layers: ``nn.BatchNorm*d``, ``nn.SyncBatchNorm``, ``nn.InstanceNorm*d``, ``nn.GroupNorm``,
``nn.LayerNorm``, ``nn.RMSNorm`` and ``nn.LocalResponseNorm``, in inference mode (``module.eval()``).

None of them changes the shape; what they check is how the input's dims and channels fit the
configuration. Counting uses two costs per element (see each class's ``flops_rule``):

- statistics computed from the input: 5 (mean 1 add; variance as E[x²] − mean², 1 square and
  1 add; normalise 1 subtract and 1 multiply), plus 1 for the affine scale and 1 for its shift;
- running statistics (eval-mode BatchNorm, InstanceNorm with ``track_running_stats``): the
  statistics and the affine parameters fold into one per-channel ``x·a + b``, 2 per element.
  Folding the per-channel constants (C square roots and divides) is not counted.
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional, Sequence

from ..shapes import counted, format_shape
from .base import Kept, Layer, Shape, Size, divisors_text, prod

STATISTICS_FLOPS = 5  # per element: mean 1, variance 2, normalise 2
FOLDED_FLOPS = 2  # per element: one multiply-add with per-channel constants


def _normalise_flops(elements: int, *, running_stats: bool, scale: bool, shift: bool) -> int:
    if running_stats:
        return FOLDED_FLOPS * elements
    return (STATISTICS_FLOPS + int(scale) + int(shift)) * elements


def _size_arg(layer: Layer, name: str, value: Any, *, sizes_tensors: bool) -> int:
    """A channel count; torch only validates it when it sizes a parameter or buffer."""
    if sizes_tensors:
        # 0 would make every such tensor empty, so that only empty inputs would fit.
        return layer._positive_int(name, value)
    if not isinstance(value, int) or isinstance(value, bool):
        raise layer._config_error(f"{name} must be a whole number: got {name}={value!r}")
    return value


def _with_statistics(layer: Layer, input_shape: Shape, output_shape: Shape, groups: int) -> tuple[Kept, ...]:
    """What a normalisation keeps for the backward pass: its input, and the mean and inverse
    standard deviation of each of its ``groups`` (float32, as torch keeps them for float inputs)."""
    return (*Layer.kept_for_backward(layer, input_shape, output_shape), Kept("own", 2 * groups, 4))


_NORM_HELP = {
    "eps": "added to the variance for numerical stability",
    "bias": "learnable shift (only with the affine scale)",
}


class _ChannelNorm(Layer):
    """BatchNorm and InstanceNorm: per-channel statistics, optional affine and running stats.

    torch only reads ``num_features`` to size the affine parameters and the running-statistic
    buffers; a layer with neither ignores it (any value, any channel count).
    """

    family = "norm"
    param_roles = {
        "weight": "ones",
        "bias": "zeros",
        "running_mean": "zeros",
        "running_var": "variance",
        "num_batches_tracked": "count",
    }

    def traced_op(self, input_shape: Shape) -> str | None:
        return "batch_norm" if isinstance(self, _BatchNormNd) else "instance_norm"

    def _setup(
        self,
        num_features: Any,
        eps: Any,
        momentum: Any,
        affine: Any,
        track_running_stats: Any,
        bias: Any,
    ) -> None:
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        self.uses_num_features = self.affine or self.track_running_stats
        self.num_features = _size_arg(
            self, "num_features", num_features, sizes_tensors=self.uses_num_features
        )
        self._number("eps", eps)
        if momentum is not None:
            self._number("momentum", momentum)
        # Kept as given so the repr prints them as torch does (eps=0, momentum=None).
        self.eps = eps
        self.momentum = momentum
        self.bias = self.affine and bool(bias)

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return _NORM_HELP

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias}, "
            f"track_running_stats={self.track_running_stats}"
        )

    def param_shapes(self) -> dict[str, Shape]:
        shapes: dict[str, Shape] = {}
        if self.affine:
            shapes["weight"] = (self.num_features,)
            if self.bias:
                shapes["bias"] = (self.num_features,)
        return shapes

    def buffer_shapes(self) -> dict[str, Shape]:
        if not self.track_running_stats:
            return {}
        return {
            "running_mean": (self.num_features,),
            "running_var": (self.num_features,),
            "num_batches_tracked": (),
        }

    def _check_channels(self, shape: Shape, channel_dim: int) -> None:
        channels = shape[channel_dim]
        if self.uses_num_features and channels != self.num_features:
            held = "affine parameters" if self.affine else "running statistics"
            raise self._shape_error(
                shape,
                f"has {counted(channels, 'channel')} at dim {channel_dim} but num_features="
                f"{self.num_features} sizes the {held}; set num_features={channels} "
                "(a channels-last tensor needs permuting first)",
            )

    def flops(self, input_shape: Sequence[int], **forward_kwargs: Any) -> int:
        out = self.output_shape(input_shape, **forward_kwargs)
        return _normalise_flops(
            prod(out), running_stats=self.track_running_stats, scale=self.affine, shift=self.bias
        )


def _normalising_cost(affine: bool) -> int:
    """fvcore's norm handles per element: mean, variance and normalise (4), and the affine's 1.

    >>> _normalising_cost(True), _normalising_cost(False)
    (5, 4)
    """
    return 5 if affine else 4


class _BatchNormNd(_ChannelNorm):
    """Eval-mode BatchNorm: with running statistics any batch works, a batch of 1 included
    (torch's "more than 1 value per channel" rule is a training rule). Without them
    (track_running_stats=False) torch normalises with the batch's own statistics even in eval
    mode, through its training path, and that rule and a stricter eps check apply.
    """

    flops_rule: ClassVar[str] = (
        "2 per element with running statistics (folded with the affine into x·a + b); with "
        "track_running_stats=False 5 per element (mean 1, variance 2, normalise 2) plus 1 "
        "each for the affine scale and shift"
    )
    input_dims: ClassVar[tuple[int, ...]] = ()
    any_rank: ClassVar[bool] = False  # SyncBatchNorm: (N, C, *) of any rank from 2
    layout: ClassVar[str] = ""
    fresh_output = True

    def kept_for_backward(self, input_shape: Shape, output_shape: Shape) -> tuple[Kept, ...]:
        """The input, and two float32 statistics per channel.

        >>> BatchNorm2d(8).kept_for_backward((2, 8, 4, 4), (2, 8, 4, 4))[1]
        Kept(tensor='own', elements=16, itemsize=4)
        """
        return _with_statistics(self, input_shape, output_shape, input_shape[1])

    def fvcore_per_element(self) -> int:
        """With running statistics fvcore counts 1 per element and 1 for the affine; without them
        (normalised by the batch) as the other norms.

        >>> BatchNorm2d(8).fvcore_per_element(), BatchNorm2d(8, track_running_stats=False).fvcore_per_element()
        (2, 5)
        """
        return (2 if self.affine else 1) if self.track_running_stats else _normalising_cost(self.affine)

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: Optional[float] = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        self._setup(num_features, eps, momentum, affine, track_running_stats, bias)
        # Without running statistics eval mode normalises with the batch's own, which torch
        # runs through its training path: that path needs eps > 0, the other eps >= 0.
        if self.track_running_stats and eps < 0:
            raise self._config_error(f"eps must be >= 0: got eps={eps}")
        if not self.track_running_stats and eps <= 0:
            raise self._config_error(
                f"eps must be > 0 when track_running_stats=False (the batch statistics "
                f"are used, as in training): got eps={eps}"
            )

    @classmethod
    def infer_args(cls, input_shape: Shape) -> dict[str, Any]:
        # Inferred whatever the rank, so that a wrong rank is reported as such by output_shape.
        return {"num_features": input_shape[1 if len(input_shape) > 1 else 0]} if input_shape else {}

    def output_shape(self, input_shape: Sequence[int], **forward_kwargs: Any) -> Shape:
        self._no_forward_options(forward_kwargs)
        shape = self._as_shape(input_shape)
        if len(shape) not in self.input_dims and not (self.any_rank and len(shape) >= 2):
            wanted = "2-D or more" if self.any_rank else " or ".join(f"{n}-D" for n in self.input_dims)
            unbatched = " (an unbatched input needs a batch dim of 1 first)"
            raise self._shape_error(
                shape,
                f"expected a {wanted} input {self.layout}, got {len(shape)}-D"
                + (unbatched if len(shape) == min(self.input_dims) - 1 else ""),
            )
        self._check_channels(shape, 1)
        if not self.track_running_stats:
            values = shape[0] * prod(shape[2:])
            if values == 1:
                raise self._shape_error(
                    shape,
                    "without running statistics (track_running_stats=False) each channel is "
                    "normalised with the batch's own statistics, which needs more than one "
                    "value per channel (N·spatial > 1); use a larger batch or "
                    "track_running_stats=True",
                )
        return shape

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        from ..kernels.elementwise import batch_norm

        # Without running statistics there are no such params: batch_norm then uses the batch's.
        return batch_norm(
            x, params.get("running_mean"), params.get("running_var"),
            params.get("weight"), params.get("bias"), float(self.eps),
        )

    def channel_affine(self, params: dict[str, Any]) -> tuple[Any, Any] | None:
        if not self.track_running_stats:  # the batch's own statistics: not constants
            return None
        from ..kernels.elementwise import batch_norm_affine

        return batch_norm_affine(
            params["running_mean"], params["running_var"], params.get("weight"), params.get("bias"), float(self.eps)
        )


class BatchNorm1d(_BatchNormNd):
    """Batch normalisation over (N, C) or (N, C, L), using running statistics.

    >>> BatchNorm1d(100).output_shape((20, 100)), BatchNorm1d(100).num_buffers()
    ((20, 100), 201)
    """

    nd = 1
    input_dims = (2, 3)
    layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNormNd):
    """Batch normalisation over (N, C, H, W), using running statistics.

    >>> BatchNorm2d(64).param_shapes()
    {'weight': (64,), 'bias': (64,)}
    >>> BatchNorm2d(64).flops((1, 64, 56, 56))
    401408
    """

    nd = 2
    input_dims = (4,)
    layout = "(N, C, H, W)"


class BatchNorm3d(_BatchNormNd):
    """Batch normalisation over (N, C, D, H, W), using running statistics.

    >>> BatchNorm3d(8).output_shape((2, 8, 4, 16, 16))
    (2, 8, 4, 16, 16)
    """

    nd = 3
    input_dims = (5,)
    layout = "(N, C, D, H, W)"


class SyncBatchNorm(_BatchNormNd):
    """Batch normalisation over (N, C, *) of any rank from 2, using running statistics.

    It syncs its statistics across processes in training only: in eval mode it is a BatchNorm.

    >>> SyncBatchNorm(8).output_shape((2, 8, 3, 4, 5, 6))
    (2, 8, 3, 4, 5, 6)
    """

    input_dims = (2,)
    any_rank = True
    layout = "(N, C, *)"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1, affine: bool = True,
                 track_running_stats: bool = True, process_group: Any = None, device: Any = None,
                 dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, bias=bias)


class _InstanceNormNd(_ChannelNorm):
    """Eval-mode InstanceNorm: statistics of each sample's channel, unless running statistics
    are tracked, in which case eval mode uses those (and any spatial size works).
    """

    batch_optional = True

    def fvcore_per_element(self) -> int:
        return _normalising_cost(self.affine)

    flops_rule: ClassVar[str] = (
        "5 per element (mean 1, variance 2, normalise 2) plus 1 each for the affine scale "
        "and shift; with track_running_stats=True 2 per element (running statistics folded "
        "with the affine into x·a + b)"
    )

    def kept_for_backward(self, input_shape: Shape, output_shape: Shape) -> tuple[Kept, ...]:
        """The input, and two float32 statistics per sample and channel; with the affine scale,
        that scale repeated for every sample (torch runs it as one batch norm over N·C channels)."""
        planes = prod(input_shape[: -self.nd])
        scale = (Kept("own", planes),) if self.affine else ()
        return (*_with_statistics(self, input_shape, output_shape, planes), *scale)

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        self._setup(num_features, eps, momentum, affine, track_running_stats, bias)

    @classmethod
    def infer_args(cls, input_shape: Shape) -> dict[str, Any]:
        if not input_shape:
            return {}
        # Inferred whatever the rank, so that a wrong rank is reported as such by output_shape.
        return {"num_features": input_shape[-cls.nd - 1] if len(input_shape) > cls.nd else input_shape[0]}

    def output_shape(self, input_shape: Sequence[int], **forward_kwargs: Any) -> Shape:
        self._no_forward_options(forward_kwargs)
        shape = self._as_shape(input_shape)
        self._check_dims(
            shape, (self.nd + 1, self.nd + 2), " (unbatched C×spatial or batched N×C×spatial)"
        )
        self._check_channels(shape, len(shape) - self.nd - 1)
        if not self.track_running_stats and prod(shape[-self.nd :]) == 1:
            raise self._shape_error(
                shape,
                "instance statistics need more than one spatial element per channel, got "
                f"spatial size {format_shape(shape[-self.nd :])}; use a larger input or "
                "track_running_stats=True",
            )
        return shape

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        from ..kernels.elementwise import instance_norm

        return self._on_batch(x, lambda batch: instance_norm(
            batch, params.get("running_mean"), params.get("running_var"), params.get("weight"), params.get("bias"),
            use_input_stats=not self.track_running_stats, eps=float(self.eps),
        ))


class InstanceNorm1d(_InstanceNormNd):
    """Instance normalisation per sample and channel over (N, C, L) or (C, L).

    >>> InstanceNorm1d(4).output_shape((4, 10)), InstanceNorm1d(4).num_params()
    ((4, 10), 0)
    """

    nd = 1


class InstanceNorm2d(_InstanceNormNd):
    """Instance normalisation per sample and channel over (N, C, H, W) or (C, H, W).

    >>> InstanceNorm2d(3, affine=True).param_shapes()
    {'weight': (3,), 'bias': (3,)}
    """

    nd = 2


class InstanceNorm3d(_InstanceNormNd):
    """Instance normalisation per sample and channel over (N, C, D, H, W) or (C, D, H, W).

    >>> InstanceNorm3d(2).flops((1, 2, 2, 4, 4))
    320
    """

    nd = 3


class GroupNorm(Layer):
    """Group normalisation over groups of channels per sample, (N, C, *).

    >>> GroupNorm(32, 256).output_shape((8, 256, 14, 14))
    (8, 256, 14, 14)
    >>> GroupNorm(3, 8)
    Traceback (most recent call last):
    ...
    convcalc.errors.ConfigError: GroupNorm: num_groups=3 must divide num_channels=8; use num_groups in {1, 2, 4, 8}
    """

    family = "norm"
    param_roles = {"weight": "ones", "bias": "zeros"}
    flops_rule: ClassVar[str] = (
        "5 per element (mean 1, variance 2, normalise 2) plus 1 each for the affine scale "
        "and shift"
    )

    def kept_for_backward(self, input_shape: Shape, output_shape: Shape) -> tuple[Kept, ...]:
        """The input, and two float32 statistics per sample and group."""
        samples = input_shape[0] if len(input_shape) > 1 else 1
        return _with_statistics(self, input_shape, output_shape, samples * self.num_groups)

    def traced_op(self, input_shape: Shape) -> str | None:
        return "group_norm"

    def fvcore_per_element(self) -> int:
        return _normalising_cost(self.affine)

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device: Any = None,
        dtype: Any = None,
        *,
        bias: bool = True,
    ) -> None:
        self.num_groups = self._positive_int("num_groups", num_groups)
        self.affine = bool(affine)
        # Like InstanceNorm's num_features, num_channels only sizes the affine parameters;
        # without them torch checks nothing but its divisibility.
        self.num_channels = _size_arg(self, "num_channels", num_channels, sizes_tensors=self.affine)
        if self.num_channels % self.num_groups:
            raise self._config_error(
                f"num_groups={self.num_groups} must divide num_channels={self.num_channels}; "
                f"use num_groups in {divisors_text(abs(self.num_channels))}"
            )
        self._number("eps", eps)
        self.eps = eps
        self.bias = self.affine and bool(bias)

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {
            **_NORM_HELP,
            "num_groups": "groups the channels are split into; must divide num_channels",
            "num_channels": "channels C of the input (inferred from --input when left out)",
        }

    @classmethod
    def infer_args(cls, input_shape: Shape) -> dict[str, Any]:
        return {"num_channels": input_shape[1]} if len(input_shape) >= 2 else {}

    def extra_repr(self) -> str:
        return (
            f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
            f"bias={self.bias}"
        )

    def param_shapes(self) -> dict[str, Shape]:
        shapes: dict[str, Shape] = {}
        if self.affine:
            shapes["weight"] = (self.num_channels,)
            if self.bias:
                shapes["bias"] = (self.num_channels,)
        return shapes

    def output_shape(self, input_shape: Sequence[int], **forward_kwargs: Any) -> Shape:
        self._no_forward_options(forward_kwargs)
        shape = self._as_shape(input_shape)
        if len(shape) < 2:
            raise self._shape_error(
                shape,
                f"expected (N, C, *) with at least 2 dims, got {len(shape)}-D; GroupNorm has "
                "no unbatched form, add a batch dim of 1",
            )
        batch, channels = shape[0], shape[1]
        if channels % self.num_groups:
            raise self._shape_error(
                shape,
                f"has {counted(channels, 'channel')} at dim 1, not divisible by num_groups="
                f"{self.num_groups}",
            )
        if self.affine and channels != self.num_channels:
            raise self._shape_error(
                shape,
                f"has {counted(channels, 'channel')} at dim 1 but num_channels={self.num_channels} sizes "
                f"the affine parameters; set num_channels={channels}",
            )
        # torch's own threshold: N·(C/groups)·spatial values in all, not per group.
        values = batch * (channels // self.num_groups) * prod(shape[2:])
        if values == 1:
            raise self._shape_error(
                shape,
                f"torch needs N·(C/num_groups)·spatial > 1 values to normalise, here "
                f"{batch}·({channels}/{self.num_groups})·{prod(shape[2:])} = 1; use fewer "
                "groups or a larger input",
            )
        return shape

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        from ..kernels.slices import group_norm

        return group_norm(
            x, self.num_groups, params.get("weight"), params.get("bias"), float(self.eps)
        )

    def flops(self, input_shape: Sequence[int], **forward_kwargs: Any) -> int:
        out = self.output_shape(input_shape, **forward_kwargs)
        return _normalise_flops(prod(out), running_stats=False, scale=self.affine, shift=self.bias)


class _TrailingNorm(Layer):
    """Norms over the trailing dims (*, normalized_shape): LayerNorm and RMSNorm."""

    family = "norm"
    normalized_shape: tuple[int, ...]

    def kept_for_backward(self, input_shape: Shape, output_shape: Shape) -> tuple[Kept, ...]:
        """The input, and two float32 statistics per normalised row."""
        rows = prod(input_shape[: len(input_shape) - len(self.normalized_shape)])
        return _with_statistics(self, input_shape, output_shape, rows)

    def _normalized(self, value: Any) -> tuple[int, ...]:
        dims = tuple(value) if isinstance(value, (tuple, list)) else (value,)
        if not dims:
            raise self._config_error(
                "normalized_shape is empty; give the trailing dims to normalise over, e.g. "
                "normalized_shape=768"
            )
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in dims):
            raise self._config_error(
                f"normalized_shape must be whole numbers: got normalized_shape={value!r}"
            )
        if min(dims) < 1:
            # 0 fits only empty inputs; a negative size fits none (nor sizes a weight).
            raise self._config_error(
                f"normalized_shape entries must be at least 1: got normalized_shape={dims}"
            )
        return dims

    def output_shape(self, input_shape: Sequence[int], **forward_kwargs: Any) -> Shape:
        self._no_forward_options(forward_kwargs)
        shape = self._as_shape(input_shape)
        count = len(self.normalized_shape)
        if len(shape) < count or shape[-count:] != self.normalized_shape:
            trailing = format_shape(shape[-count:]) if len(shape) >= count else "too few dims"
            raise self._shape_error(
                shape,
                f"the last {count} dim{'s' if count > 1 else ''} must equal normalized_shape="
                f"{format_shape(self.normalized_shape)}, got {trailing}; set normalized_shape "
                f"to the input's trailing dims",
            )
        return shape


class LayerNorm(_TrailingNorm):
    """Layer normalisation over the trailing dims (*, normalized_shape).

    >>> LayerNorm(768).output_shape((8, 197, 768)), LayerNorm(768).num_params()
    ((8, 197, 768), 1536)
    >>> LayerNorm((3, 4), bias=False)
    LayerNorm((3, 4), eps=1e-05, elementwise_affine=True, bias=False)
    """

    param_roles = {"weight": "ones", "bias": "zeros"}
    flops_rule: ClassVar[str] = (
        "5 per element (mean 1, variance 2, normalise 2) plus 1 each for the elementwise "
        "affine scale and shift"
    )

    def traced_op(self, input_shape: Shape) -> str | None:
        return "layer_norm"

    def fvcore_per_element(self) -> int:
        return _normalising_cost(self.elementwise_affine)

    def __init__(
        self,
        normalized_shape: Size,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        self.normalized_shape = self._normalized(normalized_shape)
        self._number("eps", eps)
        self.eps = eps
        self.elementwise_affine = bool(elementwise_affine)
        self.bias = self.elementwise_affine and bool(bias)

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {
            **_NORM_HELP,
            "normalized_shape": "trailing dims to normalise over: 768 or 3x4",
            "elementwise_affine": "learnable scale (and shift) of shape normalized_shape",
            "bias": "learnable shift (only with elementwise_affine)",
        }

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias}"
        )

    def param_shapes(self) -> dict[str, Shape]:
        shapes: dict[str, Shape] = {}
        if self.elementwise_affine:
            shapes["weight"] = self.normalized_shape
            if self.bias:
                shapes["bias"] = self.normalized_shape
        return shapes

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        from ..kernels.slices import layer_norm

        return layer_norm(
            x, self.normalized_shape, params.get("weight"), params.get("bias"), float(self.eps)
        )

    def flops(self, input_shape: Sequence[int], **forward_kwargs: Any) -> int:
        out = self.output_shape(input_shape, **forward_kwargs)
        return _normalise_flops(
            prod(out), running_stats=False, scale=self.elementwise_affine, shift=self.bias
        )


class RMSNorm(_TrailingNorm):
    """Root-mean-square normalisation over the trailing dims (*, normalized_shape).

    x / √(mean(x²) + eps), scaled; no centring, no shift. ``eps=None`` is the machine epsilon
    of the type it computes in (float32's for float16), as in torch.

    >>> RMSNorm(4096).num_params(), RMSNorm((3, 4), elementwise_affine=False)
    (4096, RMSNorm((3, 4), eps=None, elementwise_affine=False))
    """

    param_roles = {"weight": "ones"}
    flops_rule: ClassVar[str] = (
        "3 per element (square 1, mean 1, normalise 1) plus 1 for the elementwise affine scale"
    )

    def kept_for_backward(self, input_shape: Shape, output_shape: Shape) -> tuple[Kept, ...]:
        """The input, and one float32 statistic (1/rms) per normalised row."""
        rows = prod(input_shape[: len(input_shape) - len(self.normalized_shape)])
        return (*Layer.kept_for_backward(self, input_shape, output_shape), Kept("own", rows, 4))

    def __init__(
        self,
        normalized_shape: Size,
        eps: Optional[float] = None,
        elementwise_affine: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        self.normalized_shape = self._normalized(normalized_shape)
        if eps is not None:
            self._number("eps", eps)
        self.eps = eps
        self.elementwise_affine = bool(elementwise_affine)

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {
            "normalized_shape": "trailing dims to normalise over: 4096 or 3x4",
            "eps": "added to the mean square (default: the machine epsilon of float32, or of float64 input)",
            "elementwise_affine": "learnable scale of shape normalized_shape",
        }

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"

    def param_shapes(self) -> dict[str, Shape]:
        return {"weight": self.normalized_shape} if self.elementwise_affine else {}

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        from ..kernels.slices import rms_norm

        return rms_norm(x, len(self.normalized_shape), params.get("weight"), self.eps)

    def flops(self, input_shape: Sequence[int], **forward_kwargs: Any) -> int:
        out = self.output_shape(input_shape, **forward_kwargs)
        return (3 + int(self.elementwise_affine)) * prod(out)


class LocalResponseNorm(Layer):
    """Local response normalisation across neighbouring channels, (N, C, *).

    >>> LocalResponseNorm(5).output_shape((1, 96, 55, 55))
    (1, 96, 55, 55)
    >>> LocalResponseNorm(5).flops((1, 2, 3))
    54
    """

    family = "norm"
    flops_rule: ClassVar[str] = (
        "size + 4 per element: square, size − 1 adds over the channel window, scale by "
        "alpha/size, add k, raise to beta, divide"
    )
    # torch composes it from pow, pad, avg_pool, mul, add, pow and div, which keep their operands
    saved_for_backward = ("input", "input_copy", "input_copy")

    def kept_for_backward(self, input_shape: Shape, output_shape: Shape) -> tuple[Kept, ...]:
        """Its input, two temporaries of its size, and the squares padded by size − 1 channels."""
        padded = prod(input_shape) // input_shape[1] * (input_shape[1] + self.size - 1)
        return (*super().kept_for_backward(input_shape, output_shape), Kept("own", padded))

    def __init__(
        self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0
    ) -> None:
        # torch builds any size but its pooling rejects a window below 1 on every input.
        self.size = self._positive_int("size", size)
        for name, value in (("alpha", alpha), ("beta", beta), ("k", k)):
            self._number(name, value)
        self.alpha = alpha
        self.beta = beta
        self.k = k

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {
            "size": "channels in the normalisation window",
            "alpha": "multiplicative factor",
            "beta": "exponent",
            "k": "additive factor",
        }

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"

    def output_shape(self, input_shape: Sequence[int], **forward_kwargs: Any) -> Shape:
        self._no_forward_options(forward_kwargs)
        shape = self._as_shape(input_shape)
        if len(shape) < 3:
            raise self._shape_error(
                shape,
                f"expected (N, C, *) with at least 3 dims, got {len(shape)}-D; add a batch "
                "or a spatial dim of 1",
            )
        return shape

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        from ..kernels.elementwise import local_response_norm

        return local_response_norm(x, self.size, self.alpha, self.beta, self.k)

    def flops(self, input_shape: Sequence[int], **forward_kwargs: Any) -> int:
        out = self.output_shape(input_shape, **forward_kwargs)
        return (self.size + 4) * prod(out)


LAYERS = (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    SyncBatchNorm,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    GroupNorm,
    LayerNorm,
    RMSNorm,
    LocalResponseNorm,
)
