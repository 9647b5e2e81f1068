"""Max-unpooling, 1-D to 3-D (``nn.MaxUnpool*d``): each value written back at the index its
max-pool recorded, zeros elsewhere; the output size follows the pool's own rule unless
``output_size`` asks for another one it could have come from.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..arith import FixedRule, UnpoolRule, spatial_symbols
from .base import OptionalSize, Shape, Size
from .pooling import PoolNd, is_sequence


class _MaxUnpoolNd(PoolNd):
    saved_for_backward = ()  # it keeps the indices, which the max pool that made them keeps already
    flops_rule = "none: unpooling only scatters each value to its index"

    def __init__(self, kernel_size: Size, stride: OptionalSize = None, padding: Size = 0) -> None:
        # kernel, stride and padding only set the default output size (the op itself scatters by
        # index), and PyTorch checks none of their values but the 3-D stride: any configuration
        # whose size is reachable is accepted, as there.
        self.kernel_size = self._size_arg("kernel_size", kernel_size, exact=True)
        if stride is None:
            self.stride = self.kernel_size
        else:
            self.stride = self._leading("stride", stride)
        if self.nd == 3 and min(self.stride) < 1:
            raise self._config_error(
                f"stride must be at least 1 (it defaults to kernel_size): got stride={self.stride}"
            )
        self.padding = self._leading("padding", padding)

    def _leading(self, name: str, value: Any) -> tuple[int, ...]:
        """One int or nd entries; the 1-d and 2-d unpools read only the first nd of a longer one."""
        if self.nd < 3 and is_sequence(value) and len(value) > self.nd:
            value = tuple(value)[: self.nd]
        return self._size_arg(name, value, exact=True)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"

    def example_inputs(self, input_shape: Shape, rng: Any, dtype: Any, **forward_kwargs: Any) -> dict[str, Any]:
        """Indices as a max-pool would give them: for every input cell, one position inside its
        window of the unpooled plane (flat h·W + w), chosen at random.

        >>> import numpy as np
        >>> MaxUnpool1d(2).example_inputs((1, 1, 3), np.random.default_rng(0), "float32")["indices"]
        array([[[1, 3, 5]]])
        """
        import numpy as np

        shape = tuple(input_shape)
        nd = self.nd
        out_spatial = self.output_shape(shape, output_size=forward_kwargs.get("output_size"))[-nd:]
        flat = np.zeros(shape, dtype=np.int64)
        stride_of_dim = 1
        for axis in reversed(range(nd)):
            size, out = shape[len(shape) - nd + axis], out_spatial[axis]
            start = np.arange(size) * self.stride[axis] - self.padding[axis]
            offset = rng.integers(0, self.kernel_size[axis], size=shape)
            view = [1] * len(shape)
            view[len(shape) - nd + axis] = size
            position = np.clip(start.reshape(view) + offset, 0, out - 1)
            flat += position * stride_of_dim
            stride_of_dim *= out
        return {"indices": flat}

    def rules(self) -> tuple[UnpoolRule, ...]:
        return tuple(UnpoolRule(k, s, p) for k, s, p in zip(self.kernel_size, self.stride, self.padding))

    def size_rules(
        self, input_shape: Shape | None = None, output_size: OptionalSize = None, **forward_kwargs: Any
    ) -> list[tuple[str, Any]]:
        if output_size is not None and input_shape is not None:
            shape, _ = self._spatial(input_shape)
            chosen = self._requested_sizes(shape, output_size)
            return list(zip(spatial_symbols(self.nd), (FixedRule(n) for n in chosen)))
        return list(zip(spatial_symbols(self.nd), self.rules()))

    def _requested_sizes(self, shape: Shape, output_size: Any) -> tuple[int, ...]:
        """``forward(output_size=...)``: nd entries, or nd+2 whose leading two are ignored."""
        sizes = self._whole_numbers("output_size", output_size)
        if len(sizes) == self.nd + 2:
            sizes = sizes[2:]
        if len(sizes) != self.nd:
            raise self._shape_error(
                shape,
                f"output_size={output_size!r} needs {self.nd} entries (or {self.nd + 2} with "
                "leading batch and channel entries, even for an unbatched input)",
            )
        return sizes

    def output_shape(
        self,
        input_shape: Sequence[int],
        output_size: OptionalSize = None,
        indices: Any = None,
        **forward_kwargs: Any,
    ) -> Shape:
        if forward_kwargs:
            raise self._config_error(
                f"forward takes only indices and output_size, got {sorted(forward_kwargs)}"
            )
        shape, spatial = self._spatial(input_shape)
        index_shape = getattr(indices, "shape", None)
        if index_shape is not None and tuple(index_shape) != shape:
            raise self._shape_error(
                shape,
                f"indices have shape {list(index_shape)}; they must match the input's: pass the "
                "indices MaxPool returned along with this input",
            )
        wanted = None if output_size is None else self._requested_sizes(shape, output_size)
        out = []
        for axis, (size, rule) in enumerate(zip(spatial, self.rules())):
            default = rule.out(size)
            if wanted is None:
                if default < 1:
                    raise self._shape_error(
                        shape,
                        f"the output size in spatial dim {axis} would be "
                        f"{rule.formula(str(size))} = {default}; reduce padding="
                        f"{rule.padding} or grow the kernel, stride or input",
                    )
                out.append(default)
                continue
            # PyTorch allows sizes strictly between default − stride and default + stride.
            lowest = max(default - rule.stride + 1, 1)
            highest = default + rule.stride - 1
            if not lowest <= wanted[axis] <= highest:
                reachable = (
                    f"choose a size from {lowest} to {highest}"
                    if lowest <= highest
                    else "no size is reachable here; omit output_size or change stride and padding"
                )
                raise self._shape_error(
                    shape,
                    f"output_size {wanted[axis]} in spatial dim {axis} is out of reach of the "
                    f"default {rule.formula(str(size))} = {default} (stride {rule.stride}); "
                    + reachable,
                )
            out.append(wanted[axis])
        return self._with_spatial(shape, out)

    def flops(self, input_shape: Sequence[int], **forward_kwargs: Any) -> int:
        self.output_shape(input_shape, **forward_kwargs)
        return 0

    def _forward(
        self,
        x: Any,
        params: dict[str, Any],
        output_size: OptionalSize = None,
        indices: Any = None,
        **forward_kwargs: Any,
    ) -> Any:
        import numpy as np

        from ..kernels.pooling import max_unpool_nd

        pool = f"MaxPool{self.nd}d"
        if indices is None:
            raise self._config_error(
                f"forward needs indices=, the positions {pool}(..., return_indices=True) "
                "returned with this input: unpooling writes each value at its index"
            )
        index_array = np.asarray(indices)
        if index_array.dtype.kind not in "iu":
            raise self._config_error(
                f"indices must be whole numbers, got dtype {index_array.dtype}; pass the "
                f"indices {pool}(..., return_indices=True) returned"
            )
        # Again with the array: a list has no shape for output_shape to compare with x's.
        out = self.output_shape(x.shape, output_size, index_array)
        return max_unpool_nd(x, index_array, out[-self.nd :])


class MaxUnpool1d(_MaxUnpoolNd):
    """1-D max unpooling: scatter MaxPool1d's maxima back to their indices.

    >>> import numpy as np
    >>> from convcalc import MaxPool1d
    >>> values, indices = MaxPool1d(2, return_indices=True).forward(np.array([[1.0, 3.0, 4.0, 2.0]]))
    >>> values, indices
    (array([[3., 4.]]), array([[1, 2]]))
    >>> MaxUnpool1d(2).forward(values, indices=indices)
    array([[0., 3., 4., 0.]])
    """

    nd = 1


class MaxUnpool2d(_MaxUnpoolNd):
    """2-D max unpooling: scatter MaxPool2d's maxima back to their indices.

    >>> unpool = MaxUnpool2d(2)
    >>> unpool.output_shape((1, 64, 14, 14)), unpool.output_shape((1, 64, 14, 14), output_size=(29, 28))
    ((1, 64, 28, 28), (1, 64, 29, 28))
    """

    nd = 2


class MaxUnpool3d(_MaxUnpoolNd):
    """3-D max unpooling: scatter MaxPool3d's maxima back to their indices."""

    nd = 3


LAYERS = (MaxUnpool1d, MaxUnpool2d, MaxUnpool3d)
