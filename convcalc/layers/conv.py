"""Convolutions and transposed convolutions, 1-D to 3-D (``nn.Conv*d``, ``nn.ConvTranspose*d``)."""

from __future__ import annotations

from typing import Any, Literal, Sequence

from ..arith import ConvRule, TransposedRule, spatial_symbols
from ..shapes import counted
from .affine import scaled_channels
from .base import PADDING_MODES, Layer, divisors_text, OptionalSize, PaddingArg, Shape, Size, prod


class _ConvBase(Layer):
    """What convolutions and transposed convolutions share: channels, groups, bias, input checks."""

    family = "conv"
    transposed = False
    fresh_output = True
    batch_optional = True
    window = "conv"
    param_roles = {"weight": "fan_in", "bias": "fan_in"}
    flops_rule = "2·MACs, plus one add per output element for the bias"

    def traced_op(self, input_shape: Shape) -> str | None:
        return "convolution"

    def _check_channels(self, in_channels: Any, out_channels: Any, groups: Any) -> None:
        self.groups = self._positive_int("groups", groups)
        self.in_channels = self._positive_int("in_channels", in_channels)
        self.out_channels = self._positive_int("out_channels", out_channels)
        for name, count in (("in_channels", self.in_channels), ("out_channels", self.out_channels)):
            if count % self.groups:
                raise self._config_error(
                    f"groups={self.groups} must divide {name}={count}; use groups in {divisors_text(count)}"
                )

    def _kernel(self, kernel_size: Any) -> tuple[int, ...]:
        # Unlike stride and padding, a 1-tuple kernel is not expanded: it sets the weight's dims.
        if isinstance(kernel_size, (tuple, list)) and len(kernel_size) != self.nd:
            raise self._config_error(
                f"kernel_size needs {self.nd} values (or one int): got kernel_size={kernel_size!r}"
            )
        return self._tuple("kernel_size", kernel_size, self.nd, minimum=1)

    @classmethod
    def infer_args(cls, input_shape: Shape) -> dict[str, Any]:
        if not input_shape:
            return {}
        # Inferred whatever the rank, so that a wrong rank is reported as such by output_shape.
        return {"in_channels": input_shape[-cls.nd - 1] if len(input_shape) > cls.nd else input_shape[0]}

    def _spatial(self, input_shape: Sequence[int]) -> tuple[Shape, int, Shape]:
        """Validate dims and channels; return (shape, batch, spatial sizes)."""
        shape = self._as_shape(input_shape)
        self._check_dims(shape, (self.nd + 1, self.nd + 2), " (unbatched C×spatial or batched N×C×spatial)")
        channels = shape[-self.nd - 1]
        if channels != self.in_channels:
            read = " (read as one sample without its batch dim, C×spatial)" if len(shape) == self.nd + 1 else ""
            raise self._shape_error(
                shape,
                f"has {counted(channels, 'channel')} at dim {len(shape) - self.nd - 1}{read} but in_channels="
                f"{self.in_channels}; set in_channels={channels} or feed "
                f"{counted(self.in_channels, 'channel')} (a channels-last tensor needs permuting first)",
            )
        batch = shape[0] if len(shape) == self.nd + 2 else 1
        return shape, batch, shape[-self.nd :]

    def _with_spatial(self, shape: Shape, spatial: Sequence[int]) -> Shape:
        return (*shape[: -self.nd - 1], self.out_channels, *spatial)

    def param_shapes(self) -> dict[str, Shape]:
        if self.transposed:
            weight = (self.in_channels, self.out_channels // self.groups, *self.kernel_size)
        else:
            weight = (self.out_channels, self.in_channels // self.groups, *self.kernel_size)
        shapes = {"weight": weight}
        if self.bias:
            shapes["bias"] = (self.out_channels,)
        return shapes

    def param_dim_names(self) -> dict[str, tuple[str, ...]]:
        kernel = tuple(f"k{symbol}" for symbol in spatial_symbols(self.nd))
        first = ("in", "out/groups") if self.transposed else ("out", "in/groups")
        return {"weight": (*first, *kernel), "bias": ("out",)}

    def notes(self) -> list[str]:
        if self.groups == 1:
            return []
        per_in, per_out = self.in_channels // self.groups, self.out_channels // self.groups
        kind = "depthwise: " if self.groups == self.in_channels else ""
        lines = [
            f"{kind}{self.groups} groups; each group maps {per_in} input channel"
            f"{'s' if per_in > 1 else ''} to {per_out} output channel{'s' if per_out > 1 else ''}"
        ]
        shown = min(self.groups, 4)
        for g in range(shown):
            outputs = _span("output", g * per_out, per_out)
            lines.append(f"group {g}: {outputs} {'see' if per_out > 1 else 'sees'} {_span('input', g * per_in, per_in)}")
        if shown < self.groups:
            lines.append(f"… and {self.groups - shown} more groups alike")
        return lines

    def flops(self, input_shape: Sequence[int], **forward_kwargs: Any) -> int:
        out = self.output_shape(input_shape, **forward_kwargs)
        bias_adds = prod(out) if self.bias else 0
        return 2 * self.macs(input_shape, **forward_kwargs) + bias_adds

    def absorb_channel_affine(
        self, params: dict[str, Any], scale: Any, shift: Any, output_shape: Shape
    ) -> tuple[Layer, dict[str, Any]] | None:
        if len(output_shape) != self.nd + 2:  # unbatched: the channels are at dim 0
            return None
        per_group = self.out_channels // self.groups
        if self.transposed:  # (in, out/groups, *kernel): output channel g·out/groups + j
            grouped = (self.groups, self.in_channels // self.groups, per_group, -1)
            return scaled_channels(self, params, grouped, (self.groups, 1, per_group, 1), scale, shift)
        return scaled_channels(self, params, (self.out_channels, -1), (self.out_channels, 1), scale, shift)

    def _repr_tail(self) -> str:
        tail = ""
        if self.groups != 1:
            tail += f", groups={self.groups}"
        if not self.bias:
            tail += ", bias=False"
        if self.padding_mode != "zeros":
            tail += f", padding_mode={self.padding_mode}"
        return tail


def _span(noun: str, start: int, count: int) -> str:
    """``output 3`` or ``outputs 0–3``."""
    return f"{noun} {start}" if count == 1 else f"{noun}s {start}–{start + count - 1}"


class _ConvNd(_ConvBase):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Size,
        stride: Size = 1,
        padding: PaddingArg = 0,
        dilation: Size = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: PADDING_MODES = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        nd = self.nd
        self._check_channels(in_channels, out_channels, groups)
        if isinstance(padding, str) and padding not in ("same", "valid"):
            raise self._config_error(
                f"padding={padding!r} is not a padding string; use 'same', 'valid' or numbers"
            )
        self.stride = self._tuple("stride", stride, nd, minimum=1)
        if padding == "same" and any(s != 1 for s in self.stride):
            raise self._config_error(
                f"padding='same' needs stride 1 in every dim, got stride={self.stride}; "
                "use numeric padding, e.g. padding=k//2 for odd kernels"
            )
        self.padding_mode = self._choice(
            "padding_mode", padding_mode, ("zeros", "reflect", "replicate", "circular")
        )
        self.kernel_size = self._kernel(kernel_size)
        self.dilation = self._tuple("dilation", dilation, nd, minimum=1)
        self.bias = bool(bias)
        if isinstance(padding, str):
            self.padding: Any = padding
            if padding == "valid":
                self.pads = tuple((0, 0) for _ in range(nd))
            else:
                totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size)]
                self.pads = tuple((t // 2, t - t // 2) for t in totals)
        else:
            self.padding = self._tuple("padding", padding, nd, minimum=0)
            self.pads = tuple((p, p) for p in self.padding)

    def traced_op(self, input_shape: Shape) -> str | None:
        """A padding string with zero padding runs as ``_convolution_mode``, which fvcore's
        handles do not count; other padding modes pad first and run a plain convolution.

        >>> Conv2d(3, 8, 3, padding="same").traced_op((1, 3, 8, 8))
        'convolution_mode'
        """
        if isinstance(self.padding, str) and self.padding_mode == "zeros":
            return "convolution_mode"
        return "convolution"

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        text += f", stride={self.stride}"
        if isinstance(self.padding, str) or any(self.padding):
            text += f", padding={self.padding}"
        if any(d != 1 for d in self.dilation):
            text += f", dilation={self.dilation}"
        return text + self._repr_tail()

    def rules(self) -> tuple[ConvRule, ...]:
        return tuple(
            ConvRule(k, s, left, right, d)
            for k, s, (left, right), d in zip(self.kernel_size, self.stride, self.pads, self.dilation)
        )

    def size_rules(self, input_shape: Shape | None = None, **forward_kwargs: Any) -> list[tuple[str, Any]]:
        return list(zip(spatial_symbols(self.nd), self.rules()))

    def output_shape(self, input_shape: Sequence[int], **forward_kwargs: Any) -> Shape:
        self._no_forward_options(forward_kwargs)
        shape, _, spatial = self._spatial(input_shape)
        for axis, (size, (left, right)) in enumerate(zip(spatial, self.pads)):
            mode = self.padding_mode
            if mode == "reflect" and max(left, right) >= size:
                raise self._shape_error(
                    shape,
                    f"reflect padding {max(left, right)} must be smaller than the input size "
                    f"{size} in spatial dim {axis}; use padding<={size - 1} or "
                    "padding_mode='replicate'",
                )
            if mode == "circular" and max(left, right) > size:
                raise self._shape_error(
                    shape,
                    f"circular padding {max(left, right)} wraps around more than once on size "
                    f"{size} in spatial dim {axis}; use padding<={size}",
                )
        out = []
        for axis, (size, rule) in enumerate(zip(spatial, self.rules())):
            if rule.numerator(size) < 0:
                raise self._shape_error(
                    shape,
                    f"the kernel's reach {rule.effective_kernel} (dilation·(kernel−1)+1) is larger "
                    f"than the padded input {size + rule.pad_left + rule.pad_right} in spatial dim "
                    f"{axis}; use a smaller kernel or dilation, more padding, or a larger input",
                )
            out.append(rule.out(size))
        return self._with_spatial(shape, out)

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        from ..kernels.conv import conv_nd

        return self._on_batch(x, lambda batch: conv_nd(
            batch, params["weight"], params.get("bias"), self.stride, self.pads, self.dilation, self.groups,
            self.padding_mode))

    def _prepared(self, x: Any, params: dict[str, Any], forward_kwargs: dict[str, Any], cast: Any,
                  in_place: bool = False) -> Any:
        from ..kernels.conv import prepared_conv

        return self._prepared_on_batch(x, cast, lambda shape, dtype: prepared_conv(
            shape, dtype, params["weight"], params.get("bias"), self.stride, self.pads, self.dilation, self.groups,
            self.padding_mode))

    def macs(self, input_shape: Sequence[int], **forward_kwargs: Any) -> int:
        out = self.output_shape(input_shape, **forward_kwargs)
        batch = out[0] if len(out) == self.nd + 2 else 1
        return (
            batch
            * prod(out[-self.nd :])
            * self.out_channels
            * (self.in_channels // self.groups)
            * prod(self.kernel_size)
        )


class _ConvTransposeNd(_ConvBase):
    transposed = True
    window = "transposed"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: Size,
        stride: Size = 1,
        padding: Size = 0,
        output_padding: Size = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: Size = 1,
        padding_mode: Literal["zeros"] = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        nd = self.nd
        self._check_channels(in_channels, out_channels, groups)
        if padding_mode != "zeros":
            raise self._config_error(
                f"only padding_mode='zeros' exists for transposed convs, got {padding_mode!r}"
            )
        self.padding_mode = "zeros"
        if isinstance(padding, str):
            raise self._config_error(
                f"padding={padding!r}: transposed convs take numeric padding only"
            )
        self.kernel_size = self._kernel(kernel_size)
        self.stride = self._tuple("stride", stride, nd, minimum=1)
        self.padding = self._tuple("padding", padding, nd, minimum=0)
        self.dilation = self._tuple("dilation", dilation, nd, minimum=1)
        self.output_padding = self._tuple("output_padding", output_padding, nd, minimum=0)
        self.bias = bool(bias)
        for axis, (op, s, d) in enumerate(zip(self.output_padding, self.stride, self.dilation)):
            if op >= s and op >= d:
                raise self._config_error(
                    f"output_padding={op} in dim {axis} must be smaller than stride={s} or "
                    f"dilation={d}; use output_padding<={max(s, d) - 1}"
                )

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        text += f", stride={self.stride}"
        if any(self.padding):
            text += f", padding={self.padding}"
        if any(d != 1 for d in self.dilation):
            text += f", dilation={self.dilation}"
        if any(self.output_padding):
            text += f", output_padding={self.output_padding}"
        return text + self._repr_tail()

    def rules(self, output_padding: Sequence[int] | None = None) -> tuple[TransposedRule, ...]:
        ops = self.output_padding if output_padding is None else output_padding
        return tuple(
            TransposedRule(k, s, p, d, op)
            for k, s, p, d, op in zip(self.kernel_size, self.stride, self.padding, self.dilation, ops)
        )

    def size_rules(
        self, input_shape: Shape | None = None, output_size: OptionalSize = None, **forward_kwargs: Any
    ) -> list[tuple[str, Any]]:
        ops = None
        if output_size is not None and input_shape is not None:
            shape, _, spatial = self._spatial(input_shape)
            ops = self._output_padding_for(shape, spatial, output_size)
        return list(zip(spatial_symbols(self.nd), self.rules(ops)))

    def _output_padding_for(self, shape: Shape, spatial: Shape, output_size: Any) -> tuple[int, ...]:
        """The output_padding that realises ``forward(output_size=...)``, checked as torch does."""
        if output_size is None:
            return self.output_padding
        sizes = self._whole_numbers("output_size", output_size)
        if len(sizes) == len(shape):  # torch: nd entries, or one per input dim (nd+1 unbatched)
            sizes = sizes[-self.nd :]
        if len(sizes) != self.nd:
            raise self._shape_error(
                shape,
                f"output_size={output_size!r} needs {self.nd} entries (or {len(shape)} with the "
                "leading batch/channel ones)",
            )
        padding = []
        for axis, (size, wanted, rule) in enumerate(zip(spatial, sizes, self.rules((0,) * self.nd))):
            smallest = rule.out(size)
            largest = smallest + rule.stride - 1
            if not smallest <= wanted <= largest:
                raise self._shape_error(
                    shape,
                    f"output_size {wanted} in spatial dim {axis} is not reachable; "
                    f"choose a size from {smallest} to {largest}",
                )
            padding.append(wanted - smallest)
        return tuple(padding)

    def output_shape(
        self, input_shape: Sequence[int], output_size: OptionalSize = None, **forward_kwargs: Any
    ) -> Shape:
        if forward_kwargs:
            raise self._config_error(f"forward takes only output_size, got {sorted(forward_kwargs)}")
        shape, _, spatial = self._spatial(input_shape)
        ops = self._output_padding_for(shape, spatial, output_size)
        out = []
        for axis, (size, rule) in enumerate(zip(spatial, self.rules(ops))):
            value = rule.out(size)
            if value < 1:
                raise self._shape_error(
                    shape,
                    f"the output size in spatial dim {axis} would be {rule.formula(str(size))} "
                    f"= {value}; reduce padding={rule.padding} or grow the kernel, stride or input",
                )
            out.append(value)
        return self._with_spatial(shape, out)

    def _forward(self, x: Any, params: dict[str, Any], output_size: OptionalSize = None, **forward_kwargs: Any) -> Any:
        from ..kernels.conv import conv_transpose_nd

        ops = self._output_padding_for(tuple(x.shape), tuple(x.shape[-self.nd :]), output_size)
        return self._on_batch(x, lambda batch: conv_transpose_nd(
            batch, params["weight"], params.get("bias"), self.stride, self.padding, ops, self.dilation, self.groups))

    def macs(self, input_shape: Sequence[int], **forward_kwargs: Any) -> int:
        self.output_shape(input_shape, **forward_kwargs)
        shape = tuple(input_shape)
        batch = shape[0] if len(shape) == self.nd + 2 else 1
        return (
            batch
            * prod(shape[-self.nd :])
            * self.in_channels
            * (self.out_channels // self.groups)
            * prod(self.kernel_size)
        )


class Conv1d(_ConvNd):
    """1-D convolution over (N, C, L)."""

    nd = 1


class Conv2d(_ConvNd):
    """2-D convolution over (N, C, H, W).

    >>> Conv2d(3, 8, kernel_size=5).output_shape((1, 3, 32, 32))
    (1, 8, 28, 28)
    >>> Conv2d(3, 8, 5).macs((1, 3, 32, 32))
    470400
    """

    nd = 2


class Conv3d(_ConvNd):
    """3-D convolution over (N, C, D, H, W)."""

    nd = 3


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution ("deconvolution") over (N, C, L)."""

    nd = 1
    aliases = ("conv-transpose1d", "deconv1d")


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution ("deconvolution") over (N, C, H, W).

    >>> ConvTranspose2d(16, 8, 4, stride=2, padding=1).output_shape((1, 16, 16, 16))
    (1, 8, 32, 32)
    """

    nd = 2
    aliases = ("conv-transpose2d", "deconv2d")


class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution ("deconvolution") over (N, C, D, H, W)."""

    nd = 3
    aliases = ("conv-transpose3d", "deconv3d")


LAYERS = (Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d)
