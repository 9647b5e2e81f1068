"""Dropout of every kind (``torch.nn.modules.dropout``).

convcalc runs in inference mode, where every dropout is the identity: shapes pass through,
there are no parameters, and the count is 0 FLOPs. What torch still checks in inference is
reproduced: ``p`` must lie in [0, 1], and ``Dropout1d`` takes only 2-D or 3-D inputs.
``Dropout2d``/``Dropout3d`` accept any input there (torch only warns outside (N,) C, spatial).
"""

from __future__ import annotations

from typing import Any, ClassVar, Sequence

from .base import Kept, Layer, Shape, prod


class _DropoutNd(Layer):
    """Shared by all dropouts: ``p`` and ``inplace``, identity shape, no work in inference.

    ``nd`` is the number of spatial dims of a channel-wise dropout (0: element-wise); only
    ``Dropout1d`` enforces its input rank in inference, as torch does.
    """

    family = "dropout"
    output_is_view = True  # the identity in inference
    elementwise = True
    flops_rule: ClassVar[str] = "0 per element: dropout is the identity in inference"
    flops_per_element: ClassVar[int] = 0
    checks_rank: ClassVar[bool] = False
    channel_wise: ClassVar[bool] = False  # one draw per channel, not per element
    saved_for_backward = ("input_copy",)  # the scaled mask it multiplies by (torch's CPU path)

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        if isinstance(p, bool) or not isinstance(p, (int, float)):
            raise self._config_error(f"p must be a probability: got p={p!r}")
        # Written so that nan fails too, as it does in torch.
        if not 0 <= p <= 1:
            raise self._config_error(
                f"p is the probability of zeroing an element and must lie in [0, 1]: got p={p}; "
                "use e.g. p=0.5"
            )
        self.p = p
        self.inplace = bool(inplace)

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {
            "p": "probability of zeroing an element (training only; inference is the identity)",
            "inplace": "overwrite the input tensor (no effect on shapes or counts)",
        }

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"

    def batch_dim(self, input_shape: Shape) -> int | None:
        """Dim 0 of a channel-wise dropout's batched input (FeatureAlphaDropout's (N, C, *));
        an element-wise dropout has no batch dim (refused, as for any element-wise layer).

        >>> Dropout1d().batch_dim((2, 4, 8)), Dropout3d().batch_dim((4, 3, 8, 8)), FeatureAlphaDropout().batch_dim((2, 4))
        (0, None, 0)
        """
        if not self.channel_wise:
            return super().batch_dim(input_shape)
        if self.nd and len(input_shape) == self.nd + 1 and not self.batch_optional:
            raise self._shape_error(input_shape, f"torch reads a {self.nd + 1}-D input as batched (N, C, L) and warns "
                                    "it will read it as unbatched, so its batch dim is ambiguous; give --input "
                                    f"with {self.nd + 2} dims (N, C, *spatial)")
        if self.nd and len(input_shape) <= self.nd + 1:
            return None
        return 0 if len(input_shape) >= 2 else None

    def output_shape(self, input_shape: Sequence[int], **forward_kwargs: Any) -> Shape:
        self._no_forward_options(forward_kwargs)
        shape = self._as_shape(input_shape)
        if self.checks_rank:
            self._check_dims(
                shape,
                (self.nd + 1, self.nd + 2),
                " (unbatched C×L or batched N×C×L); for other ranks use Dropout",
            )
        return shape

    def flops(self, input_shape: Sequence[int], **forward_kwargs: Any) -> int:
        self.output_shape(input_shape, **forward_kwargs)
        return 0

    def shares_input_in_training(self) -> bool:
        """In training the output is the input times a mask: a new tensor unless in place
        (or p=0, where torch hands back the input)."""
        return self.inplace or self.p == 0

    def kept_for_backward(self, input_shape: Shape, output_shape: Shape) -> tuple[Kept, ...]:
        """The mask: one element per input element, or per channel for a channel-wise dropout.

        >>> Dropout2d(0.2).kept_for_backward((4, 16, 8, 8), (4, 16, 8, 8))
        (Kept(tensor='own', elements=64, itemsize=0),)
        """
        if not 0 < self.p < 1:  # no mask to keep: the input as it is, or zeros
            return ()
        if not self.channel_wise:
            return super().kept_for_backward(input_shape, output_shape)
        unbatched = self.nd == 1 and len(input_shape) == 2
        return (Kept("own", input_shape[0] if unbatched else prod(input_shape[:2])),)

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        # torch's eval-mode dropout hands back the very input tensor; so does this.
        return x


class Dropout(_DropoutNd):
    """Dropout: zeroes elements with probability p in training; identity in inference.

    >>> Dropout(p=0.2)
    Dropout(p=0.2, inplace=False)
    >>> Dropout().output_shape((8, 100)), Dropout().flops((8, 100))
    ((8, 100), 0)
    """


class Dropout1d(_DropoutNd):
    """Channel-wise dropout over (N, C, L) or (C, L); identity in inference.

    >>> Dropout1d().output_shape((4, 16, 32))
    (4, 16, 32)
    """

    nd = 1
    checks_rank = True
    channel_wise = True
    batch_optional = True


class Dropout2d(_DropoutNd):
    """Channel-wise dropout over (N, C, H, W); identity in inference.

    >>> Dropout2d(0.1).output_shape((4, 16, 8, 8))
    (4, 16, 8, 8)
    """

    nd = 2
    channel_wise = True  # not batch_optional: torch reads a 3-D input as (N, C, L), not (C, H, W)

    def notes(self) -> list[str]:
        return [
            "in training torch reads a 3-D input as batched (N, C, L), not as unbatched "
            "(C, H, W), and warns on inputs that are not 3-D or 4-D"
        ]


class Dropout3d(_DropoutNd):
    """Channel-wise dropout over (N, C, D, H, W); identity in inference.

    >>> Dropout3d().output_shape((2, 4, 3, 8, 8))
    (2, 4, 3, 8, 8)
    """

    nd = 3
    channel_wise = True
    batch_optional = True

    def notes(self) -> list[str]:
        return ["in training torch warns on inputs that are not 4-D or 5-D"]


class AlphaDropout(_DropoutNd):
    """Alpha dropout for SELU networks (keeps mean and variance); identity in inference.

    >>> AlphaDropout(0.1).flops((3, 7))
    0
    """


class FeatureAlphaDropout(_DropoutNd):
    """Channel-wise alpha dropout for SELU networks; identity in inference.

    >>> FeatureAlphaDropout(p=0.25)
    FeatureAlphaDropout(p=0.25, inplace=False)
    """

    channel_wise = True


LAYERS = (Dropout, Dropout1d, Dropout2d, Dropout3d, AlphaDropout, FeatureAlphaDropout)
