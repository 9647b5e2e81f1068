"""Dense layers and lookups: ``nn.Linear``, ``nn.Bilinear``, ``nn.Embedding``, ``nn.Identity``.

They act on the last dim only: everything before it (``*``) is carried through unchanged, so
a 1-D input works as well as a batch of sequences.
"""

from __future__ import annotations

from typing import Any, ClassVar, Optional, Sequence

from ..shapes import format_shape
from .affine import scaled_channels
from .base import ArgSpec, Layer, Shape, prod


class _Dense(Layer):
    """What Linear and Bilinear share: feature counts, bias, the last-dim check."""

    family = "linear"
    param_roles = {"weight": "fan_in", "bias": "fan_in"}
    flops_rule: ClassVar[str] = (
        "2 per multiply-accumulate, plus 1 per output element for the bias add"
    )

    def _features(self, name: str, value: Any) -> int:
        # Zero features would leave only empty tensors (which convcalc refuses) as inputs or
        # outputs, so a count must be at least 1.
        return self._positive_int(name, value)

    def _check_last_dim(self, shape: Shape, features: int, name: str, which: str = "") -> None:
        if not shape:
            raise self._shape_error(
                shape, f"{which}needs at least 1 dim (*, {name}), got a 0-D scalar"
            )
        if shape[-1] == features:
            return
        fix = f"set {name}={shape[-1]}"
        if len(shape) > 2 and prod(shape[1:]) == features:
            fix = f"flatten first (Flatten() gives {format_shape((shape[0], features))}) or {fix}"
        raise self._shape_error(
            shape,
            f"{which}expects {features} features in the last dim ({name}={features}) "
            f"but has {shape[-1]}; {fix}",
        )

    def _bias_adds(self, output: Shape) -> int:
        return prod(output) if self.bias else 0

    def flops(self, input_shape: Sequence[int], **forward_kwargs: Any) -> int:
        out = self.output_shape(input_shape, **forward_kwargs)
        return 2 * self.macs(input_shape, **forward_kwargs) + self._bias_adds(out)


class Linear(_Dense):
    """Fully connected layer over the last dim: (*, in) → (*, out).

    >>> Linear(4096, 4096).macs((16, 4096))
    268435456
    >>> Linear(400, 120).output_shape((1, 400)), Linear(400, 120).num_params()
    ((1, 120), 48120)
    >>> Linear(400, 120).output_shape((1, 16, 5, 5))
    Traceback (most recent call last):
    ...
    convcalc.errors.ShapeError: Linear: input [1, 16, 5, 5]: expects 400 features in the last dim (in_features=400) but has 5; flatten first (Flatten() gives [1, 400]) or set in_features=5
    """

    fresh_output = True

    def traced_op(self, input_shape: Shape) -> str | None:
        return "linear"

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        self.in_features = self._features("in_features", in_features)
        self.out_features = self._features("out_features", out_features)
        self.bias = bool(bias)

    @classmethod
    def infer_args(cls, input_shape: Shape) -> dict[str, Any]:
        return {"in_features": input_shape[-1]} if input_shape else {}

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias}"
        )

    def param_shapes(self) -> dict[str, Shape]:
        shapes = {"weight": (self.out_features, self.in_features)}
        if self.bias:
            shapes["bias"] = (self.out_features,)
        return shapes

    def output_shape(self, input_shape: Sequence[int], **forward_kwargs: Any) -> Shape:
        self._no_forward_options(forward_kwargs)
        shape = self._as_shape(input_shape)
        self._check_last_dim(shape, self.in_features, "in_features")
        return (*shape[:-1], self.out_features)

    def macs(self, input_shape: Sequence[int], **forward_kwargs: Any) -> int:
        out = self.output_shape(input_shape, **forward_kwargs)
        return prod(out[:-1]) * self.in_features * self.out_features

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        from ..kernels.linear import linear

        return linear(x, params["weight"], params.get("bias"))

    def _prepared(self, x: Any, params: dict[str, Any], forward_kwargs: dict[str, Any], cast: Any,
                  in_place: bool = False) -> Any:
        from ..kernels.linear import prepared_linear

        fc = prepared_linear(x.shape, x.dtype, params["weight"], params.get("bias"))
        return fc if cast is None else lambda x: fc(x.astype(cast))

    def absorb_channel_affine(
        self, params: dict[str, Any], scale: Any, shift: Any, output_shape: Shape
    ) -> tuple[Layer, dict[str, Any]] | None:
        if len(output_shape) != 2:  # the features are at dim 1 only for (N, features)
            return None
        return scaled_channels(self, params, (self.out_features, -1), (self.out_features, 1), scale, shift)


class Bilinear(_Dense):
    """Bilinear layer x1ᵀ·W·x2 + b over two inputs (*, in1) and (*, in2).

    ``output_shape`` takes the first input's shape and the second's as ``input2_shape=``
    (by default the same leading dims with in2_features last).

    >>> Bilinear(20, 30, 40).output_shape((128, 20), input2_shape=(128, 30))
    (128, 40)
    >>> Bilinear(20, 30, 40).macs((128, 20))
    3072000
    """

    flops_rule: ClassVar[str] = (
        "2 per multiply-accumulate (one per output element and pair of input features), "
        "plus 1 per output element for the bias add"
    )

    def __init__(
        self,
        in1_features: int,
        in2_features: int,
        out_features: int,
        bias: bool = True,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        self.in1_features = self._features("in1_features", in1_features)
        self.in2_features = self._features("in2_features", in2_features)
        self.out_features = self._features("out_features", out_features)
        self.bias = bool(bias)

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {
            "in1_features": "size of the first input's last dim (inferred from --input)",
            "in2_features": "size of the second input's last dim",
        }

    @classmethod
    def infer_args(cls, input_shape: Shape) -> dict[str, Any]:
        return {"in1_features": input_shape[-1]} if input_shape else {}

    def extra_repr(self) -> str:
        return (
            f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
            f"out_features={self.out_features}, bias={self.bias}"
        )

    def param_shapes(self) -> dict[str, Shape]:
        shapes = {"weight": (self.out_features, self.in1_features, self.in2_features)}
        if self.bias:
            shapes["bias"] = (self.out_features,)
        return shapes

    def output_shape(
        self,
        input_shape: Sequence[int],
        input2_shape: Sequence[int] | None = None,
        **forward_kwargs: Any,
    ) -> Shape:
        if forward_kwargs:
            raise self._config_error(
                f"forward takes only input2_shape, got {sorted(forward_kwargs)}"
            )
        shape = self._as_shape(input_shape)
        self._check_last_dim(shape, self.in1_features, "in1_features")
        if input2_shape is None:
            return (*shape[:-1], self.out_features)
        second = self._as_shape(input2_shape)
        if len(second) != len(shape):
            raise self._shape_error(
                shape,
                f"input2 {format_shape(second)} has {len(second)} dims but input1 has "
                f"{len(shape)}; both need the same leading dims (no broadcasting)",
            )
        self._check_last_dim(second, self.in2_features, "in2_features", "input2 ")
        if second[:-1] != shape[:-1]:
            raise self._shape_error(
                shape,
                f"input2 {format_shape(second)} has leading dims {format_shape(second[:-1])} but "
                f"input1 has {format_shape(shape[:-1])}; they must match exactly "
                "(no broadcasting)",
            )
        return (*shape[:-1], self.out_features)

    def macs(self, input_shape: Sequence[int], **forward_kwargs: Any) -> int:
        out = self.output_shape(input_shape, **forward_kwargs)
        return prod(out[:-1]) * self.out_features * self.in1_features * self.in2_features

    def example_inputs(self, input_shape: Shape, rng: Any, dtype: Any, **forward_kwargs: Any) -> dict[str, Any]:
        """A normal second input with the first's leading dims.

        >>> import numpy as np
        >>> Bilinear(3, 4, 2).example_inputs((5, 3), np.random.default_rng(0), "float32")["input2"].shape
        (5, 4)
        """
        from ..tensors.fill import make_tensor

        return {"input2": make_tensor((*input_shape[:-1], self.in2_features), "normal", rng, dtype)}

    def _shape_kwargs(self, forward_kwargs: dict[str, Any]) -> dict[str, Any]:
        # forward takes the second tensor itself; output_shape takes its shape.
        second = forward_kwargs.get("input2")
        if second is None:
            raise self._config_error("forward needs the second input: forward(x1, params, input2=x2)")
        return {"input2_shape": tuple(second.shape)}

    def _forward(self, x: Any, params: dict[str, Any], input2: Any = None, **forward_kwargs: Any) -> Any:
        from ..kernels.linear import bilinear

        return bilinear(x, input2, params["weight"], params.get("bias"))


class Embedding(Layer):
    """Lookup table: integer indices (*) → (*, embedding_dim).

    >>> Embedding(10000, 300, padding_idx=0).output_shape((32, 128))
    (32, 128, 300)
    >>> Embedding(10, 3, padding_idx=-1)
    Embedding(10, 3, padding_idx=9)
    >>> import numpy as np
    >>> Embedding(3, 2).forward(np.array([2, 0]), {"weight": np.arange(6.0).reshape(3, 2)})
    array([[4., 5.],
           [0., 1.]])
    """

    family = "linear"
    flops_rule: ClassVar[str] = (
        "none: a row lookup does no arithmetic (max_norm's in-place renormalisation of the "
        "table is not counted)"
    )
    integer_input: ClassVar[bool] = True
    # Uniform on ±1/√embedding_dim, as convcalc has always filled it (torch's own is N(0, 1)).
    param_roles = {"weight": "fan_in"}

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: Optional[int] = None,
        max_norm: Optional[float] = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight: Any = None,
        _freeze: bool = False,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        # An empty table has no valid index and a zero-width one gives empty outputs, so both
        # fail on every input convcalc accepts; say so up front.
        self.num_embeddings = self._positive_int("num_embeddings", num_embeddings)
        self.embedding_dim = self._positive_int("embedding_dim", embedding_dim)
        self.padding_idx = self._padding_index(padding_idx)
        if max_norm is not None:
            self._number("max_norm", max_norm)
        self._number("norm_type", norm_type)
        # Kept as given, not as floats, so the repr prints them as torch does (max_norm=1).
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = bool(scale_grad_by_freq)
        self.sparse = bool(sparse)
        if _weight is not None:
            table = tuple(getattr(_weight, "shape", ()) or ())
            if table != (self.num_embeddings, self.embedding_dim):
                raise self._config_error(
                    f"_weight has shape {format_shape(table)} but num_embeddings="
                    f"{self.num_embeddings} and embedding_dim={self.embedding_dim} need "
                    f"{format_shape((self.num_embeddings, self.embedding_dim))}"
                )
        # torch keeps a frozen table as a parameter (state_dict key "weight") that
        # does not train.
        self.frozen = bool(_freeze)

    def _padding_index(self, padding_idx: Any) -> int | None:
        if padding_idx is None:
            return None
        if not isinstance(padding_idx, int) or isinstance(padding_idx, bool):
            raise self._config_error(
                f"padding_idx must be a whole number or None: got padding_idx={padding_idx!r}"
            )
        count = self.num_embeddings
        if not -count <= padding_idx < count:
            raise self._config_error(
                f"padding_idx={padding_idx} is outside the table of {count} rows; use a row "
                f"index from {-count} to {count - 1} (negative counts from the end)"
            )
        # torch stores (and prints) a negative index counted from the end.
        return padding_idx % count

    @classmethod
    def arg_specs(cls) -> tuple[ArgSpec, ...]:
        # _weight (a tensor) and _freeze are torch's private hooks for from_pretrained; the
        # constructor accepts them, but they are not options a user types.
        return tuple(spec for spec in super().arg_specs() if not spec.name.startswith("_"))

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {
            "num_embeddings": "rows in the table: the number of distinct indices",
            "embedding_dim": "size of each embedding vector",
            "padding_idx": "row that stays zero and gets no gradient (negative: from the end)",
            "max_norm": "renormalise looked-up rows whose norm exceeds this",
            "norm_type": "p of the p-norm used with max_norm",
            "scale_grad_by_freq": "scale gradients by inverse index frequency (training only)",
            "sparse": "sparse gradient for the table (training only)",
        }

    def extra_repr(self) -> str:
        text = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            text += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            text += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            text += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            text += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        if self.sparse:
            text += ", sparse=True"
        return text

    def param_shapes(self) -> dict[str, Shape]:
        return {"weight": (self.num_embeddings, self.embedding_dim)}

    def output_shape(self, input_shape: Sequence[int], **forward_kwargs: Any) -> Shape:
        self._no_forward_options(forward_kwargs)
        shape = self._as_shape(input_shape)
        return (*shape, self.embedding_dim)

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        """The looked-up rows; with max_norm they come out rescaled as torch's forward leaves
        them, but the caller's weight is not modified (torch rescales its table in place).
        """
        import numpy as np

        from ..kernels.elementwise import embedding

        if not np.issubdtype(x.dtype, np.integer):
            raise self._shape_error(
                x.shape,
                f"indices must be integers, got a {x.dtype} array; convert it first, e.g. "
                "x.astype(np.int64)",
            )
        count = self.num_embeddings
        low, high = int(x.min()), int(x.max())
        if low < 0 or high >= count:
            bad = low if low < 0 else high
            hint = " (negative indices do not count from the end)" if bad < 0 else ""
            raise self._shape_error(
                x.shape,
                f"index {bad} is outside the table of num_embeddings={count} rows{hint}; "
                f"use indices from 0 to {count - 1}",
            )
        # padding_idx only shapes training (its row gets no gradient); a lookup reads it as is.
        return embedding(x, params["weight"], self.max_norm, self.norm_type)


class Identity(Layer):
    """Placeholder that returns its input unchanged (arguments are ignored).

    >>> Identity(54, unused_argument1=0.1).output_shape((128, 20))
    (128, 20)
    """

    family = "linear"
    output_is_view = True
    saved_for_backward = ()
    elementwise = True
    flops_rule: ClassVar[str] = "none: the input is returned as is"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # torch accepts and drops anything, so a placeholder can stand in for any layer.
        pass

    def output_shape(self, input_shape: Sequence[int], **forward_kwargs: Any) -> Shape:
        self._no_forward_options(forward_kwargs)
        return self._as_shape(input_shape)

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        return x


LAYERS = (Linear, Bilinear, Embedding, Identity)
