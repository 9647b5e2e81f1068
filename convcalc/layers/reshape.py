"""Reshaping, padding and sliding blocks: ``nn.Flatten``, ``nn.Unflatten``, ``nn.PixelShuffle``,
``nn.PixelUnshuffle``, ``nn.ZeroPad*d`` / ``ConstantPad*d`` / ``ReflectionPad*d`` /
``ReplicationPad*d`` / ``CircularPad*d``, ``nn.Fold`` and ``nn.Unfold``.

None of these has parameters or multiply-accumulates; only Fold does arithmetic (it sums the
blocks that overlap).
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

from ..arith import ConvRule, FixedRule, PadRule, ScaleRule, spatial_symbols
from .base import IntTuple, Layer, Shape, Size, numel, prod


def _is_whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _ReshapeBase(Layer):
    """What the family shares: no parameters, no arithmetic, no forward options."""

    family = "reshape"
    flops_rule: ClassVar[str] = "0: the layer only moves elements, no arithmetic"
    saved_for_backward: ClassVar[tuple[str, ...]] = ()  # the backward only moves gradients back

    def _whole_number(self, name: str, value: Any) -> int:
        if not _is_whole(value):
            raise self._config_error(f"{name} must be a whole number: got {name}={value!r}")
        return value

    def _wrap_dim(self, shape: Shape, name: str, dim: int) -> int:
        """A possibly negative dim index as a position, range-checked as torch does."""
        rank = max(len(shape), 1)  # torch indexes a scalar as if it were 1-D
        if not -rank <= dim < rank:
            raise self._shape_error(
                shape,
                f"{name}={dim} does not exist in a {len(shape)}-D input; "
                f"use a dim from {-rank} to {rank - 1}",
            )
        return dim % rank


class Flatten(_ReshapeBase):
    """Flatten a range of dims into one, e.g. (N, C, H, W) -> (N, C·H·W).

    >>> Flatten().output_shape((2, 3, 4, 5))
    (2, 60)
    >>> Flatten(0, 1).output_shape((2, 3, 4))
    (6, 4)
    """

    output_is_view = True
    regroups = True

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        self.start_dim = self._whole_number("start_dim", start_dim)
        self.end_dim = self._whole_number("end_dim", end_dim)

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {
            "start_dim": "first dim to flatten (negative counts from the end)",
            "end_dim": "last dim to flatten (negative counts from the end)",
        }

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"

    def output_shape(self, input_shape: Sequence[int], **forward_kwargs: Any) -> Shape:
        self._no_forward_options(forward_kwargs)
        shape = self._as_shape(input_shape)
        start = self._wrap_dim(shape, "start_dim", self.start_dim)
        end = self._wrap_dim(shape, "end_dim", self.end_dim)
        if start > end:
            raise self._shape_error(
                shape,
                f"start_dim={self.start_dim} (dim {start}) comes after end_dim={self.end_dim} "
                f"(dim {end}); start_dim must not come after end_dim",
            )
        if not shape:
            return (1,)
        return (*shape[:start], prod(shape[start : end + 1]), *shape[end + 1 :])

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        return x.reshape(self.output_shape(x.shape))


class Unflatten(_ReshapeBase):
    """Split one dim into several, e.g. (N, 50) -> (N, 2, 5, 5); one size may be -1.

    >>> Unflatten(1, (2, 5, 5)).output_shape((4, 50))
    (4, 2, 5, 5)
    >>> Unflatten(-1, (-1, 4)).output_shape((3, 12))
    (3, 3, 4)
    """

    output_is_view = True
    regroups = True

    def __init__(self, dim: int, unflattened_size: IntTuple) -> None:
        self.dim = self._whole_number("dim", dim)
        if not isinstance(unflattened_size, (tuple, list)) or not all(
            _is_whole(n) for n in unflattened_size
        ):
            raise self._config_error(
                "unflattened_size must be a tuple of whole numbers such as (2, 3): "
                f"got unflattened_size={unflattened_size!r}"
            )
        sizes = tuple(unflattened_size)
        if not sizes:
            raise self._config_error("unflattened_size must have at least one entry")
        if sizes.count(-1) > 1:
            raise self._config_error(
                f"unflattened_size={sizes} has more than one -1; only one size can be inferred"
            )
        if any(n < -1 for n in sizes):
            raise self._config_error(
                f"unflattened_size={sizes} has a negative size; sizes are >= 1, or -1 for the "
                "one inferred from the input"
            )
        if 0 in sizes:
            raise self._config_error(
                f"unflattened_size={sizes} has a 0, which only an empty dim could match "
                "(convcalc refuses empty tensors)"
            )
        self.unflattened_size = sizes

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {
            "dim": "the dim to split (negative counts from the end)",
            "unflattened_size": "the sizes it splits into, e.g. 2x5x5; one may be -1",
        }

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"

    def output_shape(self, input_shape: Sequence[int], **forward_kwargs: Any) -> Shape:
        self._no_forward_options(forward_kwargs)
        shape = self._as_shape(input_shape)
        if not shape:
            raise self._shape_error(shape, "a scalar has no dim to unflatten")
        axis = self._wrap_dim(shape, "dim", self.dim)
        size = shape[axis]
        sizes = self.unflattened_size
        known = prod(n for n in sizes if n != -1)
        if -1 in sizes:
            if size % known:
                raise self._shape_error(
                    shape,
                    f"dim {axis} has size {size}, which the other entries of "
                    f"unflattened_size={sizes} (product {known}) do not divide",
                )
            sizes = tuple(size // known if n == -1 else n for n in sizes)
        elif known != size:
            raise self._shape_error(
                shape,
                f"unflattened_size={sizes} multiplies to {known}, but dim {axis} has size {size}; "
                "the sizes must multiply to it (or put -1 in one place)",
            )
        return (*shape[:axis], *sizes, *shape[axis + 1 :])

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        return x.reshape(self.output_shape(x.shape))


class _PixelShuffleBase(_ReshapeBase):
    """Trading channels for resolution over the last three dims (*, C, H, W)."""

    def _planes(self, input_shape: Sequence[int]) -> Shape:
        shape = self._as_shape(input_shape)
        if len(shape) < 3:
            raise self._shape_error(
                shape, f"expected at least 3 dims (*, C, H, W), got {len(shape)}-D"
            )
        return shape


class PixelShuffle(_PixelShuffleBase):
    """Rearrange (*, C·r², H, W) into (*, C, H·r, W·r) (sub-pixel upscaling).

    >>> PixelShuffle(2).output_shape((1, 8, 4, 6))
    (1, 2, 8, 12)
    """

    def __init__(self, upscale_factor: int) -> None:
        self.upscale_factor = self._positive_int("upscale_factor", upscale_factor)

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {"upscale_factor": "r: channels shrink by r², height and width grow by r"}

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"

    def size_rules(self, input_shape: Shape | None = None, **forward_kwargs: Any) -> list[tuple[str, Any]]:
        return [(symbol, ScaleRule(self.upscale_factor)) for symbol in ("H", "W")]

    def output_shape(self, input_shape: Sequence[int], **forward_kwargs: Any) -> Shape:
        self._no_forward_options(forward_kwargs)
        shape = self._planes(input_shape)
        *lead, channels, height, width = shape
        r = self.upscale_factor
        if channels % (r * r):
            raise self._shape_error(
                shape,
                f"channels {channels} (dim {len(shape) - 3}) must be divisible by "
                f"upscale_factor² = {r * r}",
            )
        return (*lead, channels // (r * r), height * r, width * r)

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        from ..kernels.elementwise import pixel_shuffle

        return pixel_shuffle(x, self.upscale_factor)


class PixelUnshuffle(_PixelShuffleBase):
    """Rearrange (*, C, H·r, W·r) into (*, C·r², H, W) (space to depth).

    >>> PixelUnshuffle(2).output_shape((1, 2, 8, 12))
    (1, 8, 4, 6)
    """

    def __init__(self, downscale_factor: int) -> None:
        self.downscale_factor = self._positive_int("downscale_factor", downscale_factor)

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {"downscale_factor": "r: height and width shrink by r, channels grow by r²"}

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"

    def size_rules(self, input_shape: Shape | None = None, **forward_kwargs: Any) -> list[tuple[str, Any]]:
        # Space-to-depth is an r×r window with stride r; for sizes divisible by r that is L/r.
        r = self.downscale_factor
        return [(symbol, ConvRule(kernel=r, stride=r)) for symbol in ("H", "W")]

    def output_shape(self, input_shape: Sequence[int], **forward_kwargs: Any) -> Shape:
        self._no_forward_options(forward_kwargs)
        shape = self._planes(input_shape)
        *lead, channels, height, width = shape
        r = self.downscale_factor
        sides = (("height", len(shape) - 2, height), ("width", len(shape) - 1, width))
        for name, axis, size in sides:
            if size % r:
                raise self._shape_error(
                    shape,
                    f"{name} {size} (dim {axis}) must be divisible by downscale_factor={r}",
                )
        return (*lead, channels * r * r, height // r, width // r)

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        from ..kernels.elementwise import pixel_unshuffle

        return pixel_unshuffle(x, self.downscale_factor)


def _padded_symbols(count: int) -> tuple[str, ...]:
    if 1 <= count <= 3:
        return spatial_symbols(count)
    return tuple(f"L{i}" for i in range(1, count + 1))


class _PadNd(_ReshapeBase):
    """Explicit padding. ``padding`` lists (left, right, top, bottom, front, back): the last
    dim first. Negative values crop. As in torch, a tuple's length (not the class's 1d/2d/3d)
    decides how many trailing dims are padded; an int pads the class's dims on every side.
    """

    mode: ClassVar[str] = "constant"
    flops_rule: ClassVar[str] = "0: the layer copies the input and fills the border, no arithmetic"
    batch_optional = True  # (N, C, *spatial) or an unbatched (C, *spatial), as torch documents

    def batch_dim(self, input_shape: Shape) -> int | None:
        """Dim 0 where the input has a batch (nd + 2 dims or more): None for (C, *spatial) and
        anything smaller, whose first dim is no batch.

        >>> ZeroPad2d(1).batch_dim((1, 3, 8, 8)), ZeroPad2d(1).batch_dim((3, 8, 8)), ZeroPad2d(1).batch_dim((8, 8))
        (0, None, None)
        """
        return 0 if len(input_shape) >= self.nd + 2 else None

    def __init__(self, padding: Size) -> None:
        self._set_padding(padding)

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {
            "padding": "per side, last dim first: left,right[,top,bottom[,front,back]] "
            "or one int for all; negative crops",
        }

    def _set_padding(self, padding: Any) -> None:
        if _is_whole(padding):
            pads = (padding,) * (2 * self.nd)
        elif isinstance(padding, (tuple, list)) and all(_is_whole(p) for p in padding):
            pads = tuple(padding)
        else:
            raise self._config_error(
                f"padding must be a whole number or a tuple of them: got padding={padding!r}"
            )
        if len(pads) % 2:
            raise self._config_error(
                f"padding={pads} has {len(pads)} values; it needs a (left, right) pair per "
                "padded dim, last dim first"
            )
        if self.mode != "constant" and len(pads) not in (2, 4, 6):
            raise self._config_error(
                f"{self.mode} padding pads 1 to 3 trailing dims, so padding needs 2, 4 or 6 "
                f"values (or one int): got padding={pads}"
            )
        self.padding = pads

    def extra_repr(self) -> str:
        return f"{self.padding}"

    @property
    def padded_dims(self) -> int:
        return len(self.padding) // 2

    def rules(self) -> tuple[PadRule, ...]:
        """One rule per padded dim, in the input's dim order (padding lists the last first)."""
        pairs = [self.padding[i : i + 2] for i in range(0, len(self.padding), 2)]
        return tuple(PadRule(left, right) for left, right in reversed(pairs))

    def size_rules(self, input_shape: Shape | None = None, **forward_kwargs: Any) -> list[tuple[str, Any]]:
        return list(zip(_padded_symbols(self.padded_dims), self.rules()))

    def _check_rank(self, shape: Shape) -> None:
        count = self.padded_dims
        if self.mode == "constant":
            if count > len(shape):
                raise self._shape_error(
                    shape,
                    f"padding={self.padding} pads the last {count} dims, but the input has "
                    f"{len(shape)}",
                )
            return
        self._check_dims(
            shape,
            (count + 1, count + 2),
            f" for {self.mode} padding of {count} dim{'s' if count > 1 else ''} "
            f"(unbatched C×spatial or batched N×C×spatial)",
        )

    def _check_side(self, shape: Shape, axis: int, rule: PadRule) -> None:
        """Each mode's limits on one padded dim, as torch checks them: constant may crop at most the
        dim, reflect pads less than the size, circular keeps a cell and wraps around at most once."""
        size = shape[axis]
        left, right = rule.left, rule.right
        if self.mode == "constant" and min(left, right) < -size:
            raise self._shape_error(
                shape,
                f"padding {min(left, right)} crops more than the {size} elements of dim {axis}; "
                f"use padding >= {-size}",
            )
        if self.mode == "reflect" and max(left, right) >= size:
            raise self._shape_error(
                shape,
                f"reflect padding {max(left, right)} must be smaller than the size {size} of "
                f"dim {axis}; use padding <= {size - 1}, or ReplicationPad",
            )
        if self.mode == "circular":
            kept = size + min(left, 0) + min(right, 0)
            if kept < 1:
                raise self._shape_error(
                    shape,
                    f"circular padding ({left}, {right}) crops all {size} elements of dim {axis}",
                )
            if max(left, right) > kept:
                # torch either refuses this or reads the border it is still writing
                # (it depends on the memory layout), so the result is undefined.
                raise self._shape_error(
                    shape,
                    f"circular padding {max(left, right)} wraps around more than once: dim {axis} "
                    f"has {kept} elements after cropping; use padding <= {kept}",
                )
        out = rule.out(size)
        if out < 1:
            raise self._shape_error(
                shape,
                f"padding ({left}, {right}) leaves dim {axis} with {rule.formula(str(size))} = "
                f"{out} elements; the output needs at least 1",
            )

    def output_shape(self, input_shape: Sequence[int], **forward_kwargs: Any) -> Shape:
        self._no_forward_options(forward_kwargs)
        shape = self._as_shape(input_shape)
        self._check_rank(shape)
        out = list(shape)
        first = len(shape) - self.padded_dims
        for axis, rule in enumerate(self.rules(), start=first):
            self._check_side(shape, axis, rule)
            out[axis] = rule.out(shape[axis])
        return tuple(out)

    def _fill_value(self) -> float | None:
        """What constant padding writes (None where the mode copies input cells instead)."""
        return None

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        from ..kernels.elementwise import pad

        return pad(x, self.padding, self.mode, self._fill_value())


class _ConstantPadNd(_PadNd):
    def __init__(self, padding: Size, value: float) -> None:
        self._set_padding(padding)
        self._number("value", value)
        self.value = value

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {**super()._arg_help(), "value": "the value padded cells get"}

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"

    def _fill_value(self) -> float | None:
        return self.value


class _ZeroPadNd(_ConstantPadNd):
    def __init__(self, padding: Size) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ReflectionPadNd(_PadNd):
    mode = "reflect"
    saved_for_backward = ("input",)


class _ReplicationPadNd(_PadNd):
    mode = "replicate"
    saved_for_backward = ("input",)


class _CircularPadNd(_PadNd):
    mode = "circular"

    def _check_rank(self, shape: Shape) -> None:
        # The module itself insists on its own dims before F.pad looks at the tuple.
        self._check_dims(
            shape, (self.nd + 1, self.nd + 2), " (unbatched C×spatial or batched N×C×spatial)"
        )
        super()._check_rank(shape)


class ZeroPad1d(_ZeroPadNd):
    """Pad the last dim with zeros (negative padding crops).

    >>> ZeroPad1d((1, 2)).output_shape((1, 3, 5))
    (1, 3, 8)
    """

    nd = 1


class ZeroPad2d(_ZeroPadNd):
    """Pad the last two dims with zeros: (left, right, top, bottom).

    >>> ZeroPad2d((1, 1, 2, 0)).output_shape((1, 3, 5, 5))
    (1, 3, 7, 7)
    """

    nd = 2


class ZeroPad3d(_ZeroPadNd):
    """Pad the last three dims with zeros: (left, right, top, bottom, front, back).

    >>> ZeroPad3d(1).output_shape((1, 3, 4, 4, 4))
    (1, 3, 6, 6, 6)
    """

    nd = 3


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dim with a constant value.

    >>> ConstantPad1d(2, 3.5).output_shape((3, 5))
    (3, 9)
    """

    nd = 1


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two dims with a constant value: (left, right, top, bottom).

    >>> ConstantPad2d((3, 0, 2, 1), 3.5).output_shape((1, 2, 2))
    (1, 5, 5)
    """

    nd = 2


class ConstantPad3d(_ConstantPadNd):
    """Pad the last three dims with a constant value.

    >>> ConstantPad3d(1, 3.5).output_shape((16, 3, 10, 20, 30))
    (16, 3, 12, 22, 32)
    """

    nd = 3


class ReflectionPad1d(_ReflectionPadNd):
    """Pad the last dim with its reflection (padding < input size).

    >>> ReflectionPad1d((3, 1)).output_shape((1, 2, 4))
    (1, 2, 8)
    """

    nd = 1


class ReflectionPad2d(_ReflectionPadNd):
    """Pad the last two dims with their reflection (padding < input size).

    >>> ReflectionPad2d(2).output_shape((1, 1, 3, 3))
    (1, 1, 7, 7)
    """

    nd = 2


class ReflectionPad3d(_ReflectionPadNd):
    """Pad the last three dims with their reflection (padding < input size).

    >>> ReflectionPad3d(1).output_shape((1, 1, 2, 2, 2))
    (1, 1, 4, 4, 4)
    """

    nd = 3


class ReplicationPad1d(_ReplicationPadNd):
    """Pad the last dim by repeating its edge values.

    >>> ReplicationPad1d((3, 1)).output_shape((1, 2, 4))
    (1, 2, 8)
    """

    nd = 1


class ReplicationPad2d(_ReplicationPadNd):
    """Pad the last two dims by repeating their edge values.

    >>> ReplicationPad2d(2).output_shape((1, 1, 3, 3))
    (1, 1, 7, 7)
    """

    nd = 2


class ReplicationPad3d(_ReplicationPadNd):
    """Pad the last three dims by repeating their edge values.

    >>> ReplicationPad3d(3).output_shape((16, 3, 8, 32, 32))
    (16, 3, 14, 38, 38)
    """

    nd = 3


class CircularPad1d(_CircularPadNd):
    """Pad the last dim by wrapping around (padding <= input size).

    >>> CircularPad1d(2).output_shape((1, 2, 4))
    (1, 2, 8)
    """

    nd = 1


class CircularPad2d(_CircularPadNd):
    """Pad the last two dims by wrapping around (padding <= input size).

    >>> CircularPad2d((1, 1, 2, 0)).output_shape((1, 1, 3, 3))
    (1, 1, 5, 5)
    """

    nd = 2


class CircularPad3d(_CircularPadNd):
    """Pad the last three dims by wrapping around (padding <= input size).

    >>> CircularPad3d(3).output_shape((16, 3, 8, 32, 32))
    (16, 3, 14, 38, 38)
    """

    nd = 3


class _BlocksBase(_ReshapeBase):
    """Sliding blocks over (H, W) with torch's ``_pair`` arguments: an int or exactly 2 values."""

    def _set_window(self, kernel_size: Any, dilation: Any, padding: Any, stride: Any) -> None:
        # torch keeps the values as given, so its repr shows ints as ints.
        self.kernel_size, self.dilation, self.padding, self.stride = (
            kernel_size,
            dilation,
            padding,
            stride,
        )
        self._kernel = self._pair("kernel_size", kernel_size, 1)
        self._dilation = self._pair("dilation", dilation, 1)
        self._padding = self._pair("padding", padding, 0)
        self._stride = self._pair("stride", stride, 1)

    def _pair(self, name: str, value: Any, minimum: int) -> tuple[int, ...]:
        if isinstance(value, (tuple, list)) and len(value) != 2:
            raise self._config_error(
                f"{name} needs 2 values (height, width) or one int: got {name}={value!r}"
            )
        return self._tuple(name, value, 2, minimum=minimum)

    def rules(self) -> tuple[ConvRule, ...]:
        """Blocks per spatial dim: a convolution's output size."""
        return tuple(
            ConvRule(k, s, p, p, d)
            for k, s, p, d in zip(self._kernel, self._stride, self._padding, self._dilation)
        )

    def _window_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
            f"padding={self.padding}, stride={self.stride}"
        )


class Unfold(_BlocksBase):
    """Extract sliding blocks: (N, C, H, W) -> (N, C·∏k, number of blocks) (im2col).

    >>> Unfold(kernel_size=(2, 3)).output_shape((2, 5, 3, 4))
    (2, 30, 4)
    """

    def __init__(
        self, kernel_size: Size, dilation: Size = 1, padding: Size = 0, stride: Size = 1
    ) -> None:
        self._set_window(kernel_size, dilation, padding, stride)

    def extra_repr(self) -> str:
        return self._window_repr()

    # No size_rules: the output's last dim is the product of the per-dim block counts, not a
    # spatial dim of its own.

    def output_shape(self, input_shape: Sequence[int], **forward_kwargs: Any) -> Shape:
        self._no_forward_options(forward_kwargs)
        shape = self._as_shape(input_shape)
        self._check_dims(shape, (3, 4), " (unbatched C×H×W or batched N×C×H×W)")
        blocks = []
        for axis, (size, rule) in enumerate(zip(shape[-2:], self.rules())):
            count = rule.out(size)
            if count < 1:
                raise self._shape_error(
                    shape,
                    f"spatial dim {axis} of size {size} holds {rule.formula(str(size))} = {count} "
                    f"blocks: the kernel's reach {rule.effective_kernel} (dilation·(kernel−1)+1) "
                    f"exceeds the padded size {size + 2 * rule.pad_left}; use a smaller kernel or "
                    "dilation, more padding, or a larger input",
                )
            blocks.append(count)
        channels = shape[-3]
        return (*shape[:-3], channels * prod(self._kernel), prod(blocks))

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        from ..kernels.elementwise import unfold

        return unfold(x, self._kernel, self._dilation, self._padding, self._stride)


class Fold(_BlocksBase):
    """Sum sliding blocks back into an image: (N, C·∏k, L) -> (N, C, *output_size) (col2im).

    >>> Fold(output_size=(4, 5), kernel_size=2).output_shape((1, 12, 12))
    (1, 3, 4, 5)
    >>> Fold(output_size=(4, 5), kernel_size=2).flops((1, 12, 12))
    144
    """

    flops_rule: ClassVar[str] = (
        "one add per input element: every block value is summed into its output cell"
    )

    def __init__(
        self,
        output_size: Size,
        kernel_size: Size,
        dilation: Size = 1,
        padding: Size = 0,
        stride: Size = 1,
    ) -> None:
        self.output_size = output_size
        self._output = self._pair("output_size", output_size, 1)
        self._set_window(kernel_size, dilation, padding, stride)
        self.blocks = tuple(rule.out(size) for rule, size in zip(self.rules(), self._output))
        for axis, (size, rule, count) in enumerate(zip(self._output, self.rules(), self.blocks)):
            if count < 1:
                raise self._config_error(
                    f"output_size {size} in spatial dim {axis} holds {rule.formula(str(size))} = "
                    f"{count} blocks: the kernel's reach {rule.effective_kernel} "
                    f"(dilation·(kernel−1)+1) exceeds the padded size {size + 2 * rule.pad_left}; "
                    "use a larger output_size, more padding, or a smaller kernel or dilation",
                )

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {"output_size": "spatial size (H, W) of the folded output"}

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, " + self._window_repr()

    def size_rules(self, input_shape: Shape | None = None, **forward_kwargs: Any) -> list[tuple[str, Any]]:
        return [(symbol, FixedRule(size)) for symbol, size in zip(("H", "W"), self._output)]

    def output_shape(self, input_shape: Sequence[int], **forward_kwargs: Any) -> Shape:
        self._no_forward_options(forward_kwargs)
        shape = self._as_shape(input_shape)
        self._check_dims(shape, (2, 3), " (unbatched C·∏k×L or batched N×C·∏k×L)")
        planes, length = shape[-2:]
        window = prod(self._kernel)
        if planes % window:
            raise self._shape_error(
                shape,
                f"dim {len(shape) - 2} has {planes} values per block, not a multiple of the "
                f"kernel's {window} cells (kernel_size={self._kernel})",
            )
        if length != prod(self.blocks):
            raise self._shape_error(
                shape,
                f"dim {len(shape) - 1} holds {length} blocks, but output_size={self._output} "
                f"holds {self.blocks[0]}·{self.blocks[1]} = {prod(self.blocks)}",
            )
        return (*shape[:-2], planes // window, *self._output)

    def flops(self, input_shape: Sequence[int], **forward_kwargs: Any) -> int:
        self.output_shape(input_shape, **forward_kwargs)
        return numel(tuple(input_shape))

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        from ..kernels.elementwise import fold

        return fold(x, self._output, self._kernel, self._dilation, self._padding, self._stride)


LAYERS = (
    Flatten,
    Unflatten,
    PixelShuffle,
    PixelUnshuffle,
    ZeroPad1d,
    ZeroPad2d,
    ZeroPad3d,
    ConstantPad1d,
    ConstantPad2d,
    ConstantPad3d,
    ReflectionPad1d,
    ReflectionPad2d,
    ReflectionPad3d,
    ReplicationPad1d,
    ReplicationPad2d,
    ReplicationPad3d,
    CircularPad1d,
    CircularPad2d,
    CircularPad3d,
    Fold,
    Unfold,
)
