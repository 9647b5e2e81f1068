"""Activations over a dim rather than element by element: ``nn.GLU`` (which halves the dim)
and the softmax family (``nn.Softmax``, ``nn.Softmin``, ``nn.LogSoftmax``, ``nn.Softmax2d``).

They share :class:`~convcalc.layers.activation.Activation`'s checks and counting; each states
its ``flops_per_element``.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from .activation import Activation
from .base import Shape


def implicit_softmax_dim(ndim: int) -> int:
    """The dim torch's softmax family picks when ``dim=None`` (a deprecated legacy rule).

    >>> [implicit_softmax_dim(n) for n in range(6)]
    [0, 0, 1, 0, 1, 1]
    """
    return 0 if ndim in (0, 1, 3) else 1


# -- gated ---------------------------------------------------------------------------------


class GLU(Activation):
    """Gated linear unit: splits dim in halves a, b and returns a·sigmoid(b).

    >>> GLU().output_shape((4, 10)), GLU(dim=0).output_shape((4, 10))
    ((4, 5), (2, 10))
    >>> GLU().flops((4, 10))
    100
    """

    flops_per_element = 5
    kernel = "glu"
    flops_rule = (
        "5 per output element: a·sigmoid(b) (sigmoid's 4, multiply); the output is half the input"
    )

    def __init__(self, dim: int = -1) -> None:
        self.dim = self._dim_arg("dim", dim)

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {"dim": "the dim split in halves (its size must be even)"}

    def extra_repr(self) -> str:
        return f"dim={self.dim}"

    def _kernel_args(self, x: Any, params: dict[str, Any]) -> tuple[Any, ...]:
        return (self.dim,)

    def _check_input(self, shape: Shape) -> None:
        if not shape:
            raise self._shape_error(
                shape, "GLU cannot halve a 0-D (scalar) input; give it a dim of even size"
            )
        axis = self._wrap_dim(shape, self.dim)
        if shape[axis] % 2:
            raise self._shape_error(
                shape,
                f"dim={self.dim} has odd size {shape[axis]}, so it cannot be split in halves; "
                "use an input whose size there is even, or another dim",
            )

    def _output(self, shape: Shape) -> Shape:
        axis = self._wrap_dim(shape, self.dim)
        return (*shape[:axis], shape[axis] // 2, *shape[axis + 1 :])


# -- softmax family ------------------------------------------------------------------------


class _SoftmaxBase(Activation):
    """Softmax-type normalisation along ``dim``; ``dim=None`` takes torch's implicit choice."""

    saved_for_backward = ("output",)

    def __init__(self, dim: Optional[int] = None) -> None:
        self.dim = None if dim is None else self._dim_arg("dim", dim)

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {
            "dim": "the dim normalised over; None picks 0 for 0-, 1- and 3-D inputs, else 1 "
            "(torch's deprecated implicit choice)"
        }

    def extra_repr(self) -> str:
        return f"dim={self.dim}"

    def notes(self) -> list[str]:
        if self.dim is not None:
            return []
        return [
            "dim=None: torch picks dim 0 for 0-, 1- and 3-D inputs and dim 1 otherwise, and "
            "warns that this implicit choice is deprecated; pass dim explicitly"
        ]

    def softmax_dim(self, input_shape: Sequence[int]) -> int:
        """The dim (as a non-negative index) this layer normalises over for ``input_shape``.

        >>> Softmax().softmax_dim((2, 3, 4)), Softmax(dim=-1).softmax_dim((2, 3, 4))
        (0, 2)
        """
        shape = self._as_shape(input_shape)
        if self.dim is None:
            return implicit_softmax_dim(len(shape))
        return self._wrap_dim(shape, self.dim)

    def _check_input(self, shape: Shape) -> None:
        self.softmax_dim(shape)

    def _kernel_args(self, x: Any, params: dict[str, Any]) -> tuple[Any, ...]:
        return (self.softmax_dim(x.shape),)


class Softmax(_SoftmaxBase):
    """Softmax along dim: exp(x) / sum(exp(x)), so each slice sums to 1.

    >>> Softmax(dim=1).flops((2, 10))
    60
    """

    flops_per_element = 3
    kernel = "softmax"
    flops_rule = (
        "3 per element: exp(x_i) / Σ_j exp(x_j) counted as one exp, one add into the sum and "
        "one divide per element (the max subtracted for stability is not counted)"
    )


class Softmin(_SoftmaxBase):
    """Softmin along dim: softmax of −x.

    >>> Softmin(dim=0).flops((5,))
    20
    """

    flops_per_element = 4
    kernel = "softmin"
    flops_rule = "4 per element: softmax's 3 (exp, add, divide) on −x, plus the negation"


class LogSoftmax(_SoftmaxBase):
    """Log of the softmax along dim.

    >>> LogSoftmax(dim=-1).flops((2, 10))
    80
    """

    flops_per_element = 4
    kernel = "log_softmax"
    flops_rule = "4 per element: log(exp(x_i) / Σ_j exp(x_j)) (exp, add, divide, log)"


class Softmax2d(Activation):
    """Softmax over the channels at every spatial position of (N, C, H, W) or (C, H, W).

    >>> Softmax2d().output_shape((1, 3, 8, 8))
    (1, 3, 8, 8)
    """

    flops_per_element = 3
    kernel = "softmax2d"
    saved_for_backward = ("output",)
    flops_rule = "3 per element, as Softmax over the channel dim (exp, add, divide)"

    def __init__(self) -> None:
        pass

    def _check_input(self, shape: Shape) -> None:
        self._check_dims(shape, (3, 4), " (unbatched C×H×W or batched N×C×H×W)")


LAYERS = (GLU, Softmax, Softmin, LogSoftmax, Softmax2d)
