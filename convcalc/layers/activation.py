"""Element-wise activations (``torch.nn.modules.activation``) and :class:`Activation`, their base.

With :mod:`convcalc.layers.softmax` (GLU and the softmax family), every class of
``torch.nn.modules.activation.__all__`` except ``MultiheadAttention``, which is an attention
block with projections, not an activation. Shapes pass through unchanged; only ``PReLU`` has a
parameter.

FLOPs: each class states ``flops_per_element``, the operations of its formula per output element.
Transcendentals (exp, log, tanh, erf, a power) count 1 each, so do negation and abs; a piecewise
function counts one comparison per breakpoint plus the arithmetic of its costliest branch, so
the count does not depend on the data. MACs are 0.
"""

from __future__ import annotations

import math
from typing import Any, Callable, ClassVar, Literal, Optional, Sequence

from ..shapes import counted
from .base import Layer, Shape, prod

# The largest finite float32. torch converts every scalar argument of these kernels to the
# input's dtype (float32 here) and refuses finite values beyond it ("value cannot be converted
# to type float without overflow"); inf and nan convert fine.
FLOAT32_MAX = (2 - 2**-23) * 2.0**127


class Activation(Layer):
    """Shape-preserving activation: identity shape, ``flops_per_element`` per output element."""

    family = "activation"
    elementwise = True
    flops_rule: ClassVar[str] = (
        "the operations of the function's formula per output element: exp, log, tanh, erf "
        "and powers count 1 each; piecewise functions count one comparison per breakpoint "
        "plus their costliest branch"
    )
    flops_per_element: ClassVar[int] = 0
    # The function of convcalc.kernels.elementwise that computes the activation.
    kernel: ClassVar[str] = ""

    def output_shape(self, input_shape: Sequence[int], **forward_kwargs: Any) -> Shape:
        self._no_forward_options(forward_kwargs)
        shape = self._as_shape(input_shape)
        self._check_input(shape)
        return self._output(shape)

    def _check_input(self, shape: Shape) -> None:
        """Reject inputs torch's forward rejects; most activations take any shape, even 0-D."""

    def _output(self, shape: Shape) -> Shape:
        return shape

    def flops(self, input_shape: Sequence[int], **forward_kwargs: Any) -> int:
        return self._per_element() * prod(self.output_shape(input_shape, **forward_kwargs))

    def _per_element(self) -> int:
        return self.flops_per_element

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        import numpy as np

        from ..kernels import elementwise

        out = getattr(elementwise, self.kernel)(x, *self._kernel_args(x, params))
        # NumPy's ufuncs give scalars for 0-D inputs; the caller gets an array as torch does.
        return np.asarray(out)

    def _kernel_args(self, x: Any, params: dict[str, Any]) -> tuple[Any, ...]:
        """The kernel's arguments after the input: this layer's constructor values."""
        return ()

    def _prepared(self, x: Any, params: dict[str, Any], forward_kwargs: dict[str, Any], cast: Any,
                  in_place: bool = False) -> Callable[[Any], Any]:
        if not in_place:
            return super()._prepared(x, params, forward_kwargs, cast)
        from ..kernels import elementwise

        return elementwise.prepared_in_place(getattr(elementwise, self.kernel), x, self._kernel_args(x, params))

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {"inplace": "overwrite the input tensor (no effect on shapes or counts)"}

    def _float32_arg(self, name: str, value: Any, *, check_range: bool = True) -> Any:
        """Check a scalar argument the kernel converts to float32; keep its type for the repr."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._config_error(f"{name} must be a number: got {name}={value!r}")
        # torch reads a Python int as a 64-bit integer and fails beyond that range. (It takes
        # 2**63..2**64-1 as unsigned, which then breaks arithmetic with signed ones, e.g. in
        # RReLU; convcalc refuses that corner outright.)
        if isinstance(value, int) and not -(2**63) <= value < 2**63:
            raise self._config_error(
                f"{name}={value} does not fit in a 64-bit integer, which torch requires of "
                "whole-number arguments; write it as a float"
            )
        if check_range:
            self._check_float32(name, float(value))
        return value

    def _check_float32(self, name: str, value: float) -> None:
        if math.isfinite(value) and abs(value) > FLOAT32_MAX:
            raise self._config_error(
                f"{name}={value!r} does not fit in float32 (largest finite magnitude "
                f"{FLOAT32_MAX:.8g}); use a value within ±{FLOAT32_MAX:.8g}, or inf"
            )

    def _dim_arg(self, name: str, value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._config_error(f"{name} must be a whole number: got {name}={value!r}")
        return value

    def _wrap_dim(self, shape: Shape, dim: int) -> int:
        """``dim`` as an index into ``shape``; torch lets a 0-D input use dim 0 or -1."""
        size = max(len(shape), 1)
        if not -size <= dim < size:
            raise self._shape_error(
                shape,
                f"dim={dim} is out of range for a {len(shape)}-D input; "
                f"use a dim from {-size} to {size - 1}",
            )
        return dim % size


class _InplaceActivation(Activation):
    """An activation whose only argument is ``inplace`` (it changes neither shape nor count)."""

    def __init__(self, inplace: bool = False) -> None:
        self.inplace = bool(inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


# -- rectifiers and clamps -----------------------------------------------------------------


class ReLU(_InplaceActivation):
    """Rectified linear unit, max(0, x).

    >>> ReLU().output_shape((1, 64, 56, 56)), ReLU().flops((1, 64, 56, 56))
    ((1, 64, 56, 56), 200704)
    """

    in_place_keeps_result = True
    flops_per_element = 1
    kernel = "relu"
    writes_in_place = True
    saved_for_backward = ("output",)
    flops_rule = "1 per element: max(0, x)"


class LeakyReLU(Activation):
    """Leaky ReLU: x for x >= 0, negative_slope·x below.

    >>> LeakyReLU(0.2, inplace=True)
    LeakyReLU(negative_slope=0.2, inplace=True)
    """

    in_place_keeps_result = True
    flops_per_element = 2
    kernel = "leaky_relu"
    flops_rule = "2 per element: a comparison and the multiply by negative_slope"

    def __init__(self, negative_slope: float = 1e-2, inplace: bool = False) -> None:
        self.negative_slope = self._float32_arg("negative_slope", negative_slope)
        self.inplace = bool(inplace)

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {
            **super()._arg_help(),
            "negative_slope": "slope for negative inputs",
        }

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")

    def _kernel_args(self, x: Any, params: dict[str, Any]) -> tuple[Any, ...]:
        return (self.negative_slope,)


class PReLU(Activation):
    """Parametric ReLU: a learned slope for negative inputs, shared or one per channel.

    >>> PReLU(64).param_shapes(), PReLU(64).output_shape((8, 64, 7, 7))
    ({'weight': (64,)}, (8, 64, 7, 7))
    """

    flops_per_element = 2
    kernel = "prelu"
    # 0.25 whatever ``init`` is, as convcalc has always filled it (torch's is ``init``).
    param_roles = {"weight": "slope"}
    flops_rule = "2 per element: a comparison and the multiply by the channel's slope"

    def __init__(
        self, num_parameters: int = 1, init: float = 0.25, device: Any = None, dtype: Any = None
    ) -> None:
        # torch builds PReLU(0) but then no non-empty input fits it, so refuse it up front.
        self.num_parameters = self._positive_int("num_parameters", num_parameters)
        self.init = self._float32_arg("init", init)

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {
            "num_parameters": "learned slopes: 1 shared, or one per input channel (dim 1)",
            "init": "initial value of every slope",
        }

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}"

    def param_shapes(self) -> dict[str, Shape]:
        return {"weight": (self.num_parameters,)}

    def param_dim_names(self) -> dict[str, tuple[str, ...]]:
        return {"weight": ("channels" if self.num_parameters > 1 else "shared",)}

    def _kernel_args(self, x: Any, params: dict[str, Any]) -> tuple[Any, ...]:
        return (params["weight"],)

    def _check_input(self, shape: Shape) -> None:
        if self.num_parameters == 1:
            return
        if len(shape) == 0:
            raise self._shape_error(
                shape,
                f"a 0-D input has no channel dim for num_parameters={self.num_parameters} "
                "slopes; use num_parameters=1",
            )
        # torch's channel dim is dim 1; an input of fewer dims counts as a single channel.
        channels = shape[1] if len(shape) >= 2 else 1
        if channels != self.num_parameters:
            where = (
                f"has {counted(channels, 'channel')} at dim 1"
                if len(shape) >= 2
                else "is 1-D, which torch counts as 1 channel (channels are dim 1)"
            )
            raise self._shape_error(
                shape,
                f"{where} but num_parameters={self.num_parameters}; use "
                + (f"num_parameters={channels} or " if channels != 1 else "")
                + "num_parameters=1 (one slope shared by all channels)",
            )


class RReLU(Activation):
    """Randomized leaky ReLU; in inference the slope is (lower + upper) / 2.

    >>> RReLU()
    RReLU(lower=0.125, upper=0.3333333333333333)
    """

    in_place_keeps_result = True
    flops_per_element = 2
    kernel = "leaky_relu"
    flops_rule = "2 per element: a comparison and the multiply by the slope (lower+upper)/2"
    saved_for_backward = ("input", "input_copy")  # the random slopes drawn in training

    def __init__(
        self, lower: float = 1.0 / 8, upper: float = 1.0 / 3, inplace: bool = False
    ) -> None:
        # In inference torch hands only the slope (lower + upper)/2 to the float32 kernel, so
        # the bounds themselves need not fit float32 (checked below, after torch's own tests).
        self.lower = self._float32_arg("lower", lower, check_range=False)
        self.upper = self._float32_arg("upper", upper, check_range=False)
        self.inplace = bool(inplace)
        # torch's out-of-place rrelu demands finite bounds; its in-place rrelu_ does not.
        for name, value in (("lower", self.lower), ("upper", self.upper)):
            if not self.inplace and not math.isfinite(value):
                raise self._config_error(
                    f"{name} must be a finite slope: got {name}={value}; use e.g. "
                    f"lower={1 / 8}, upper={1 / 3}"
                )
        # Written as torch's test so that nan fails; torch compares doubles, so whole numbers
        # beyond 2**53 that round to the same double pass.
        if not float(self.lower) <= float(self.upper):
            fix = (
                f"swap them (lower={self.upper}, upper={self.lower})"
                if self.upper <= self.lower
                else "use numbers, not nan"
            )
            raise self._config_error(
                f"lower must not exceed upper: got lower={self.lower}, upper={self.upper}; {fix}"
            )
        self._check_float32("the inference slope (lower+upper)/2", self.slope)

    @property
    def slope(self) -> float:
        """The fixed negative slope of inference, (lower + upper)/2 as torch computes it.

        torch adds two whole-number bounds as 64-bit integers, wrapping past 2**63, and
        other bounds as doubles; then it halves the sum in double.

        >>> RReLU(-2**63, 2**63 - 1).slope, RReLU(2**63 - 1, 2**63 - 1).slope
        (-0.5, -1.0)
        """
        if isinstance(self.lower, int) and isinstance(self.upper, int):
            total = (self.lower + self.upper + 2**63) % 2**64 - 2**63
            return float(total) / 2
        return (float(self.lower) + float(self.upper)) / 2

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {
            **super()._arg_help(),
            "lower": "lower bound of the random negative slope",
            "upper": "upper bound of the random negative slope",
        }

    def extra_repr(self) -> str:
        text = f"lower={self.lower}, upper={self.upper}"
        return text + (", inplace=True" if self.inplace else "")

    def _kernel_args(self, x: Any, params: dict[str, Any]) -> tuple[Any, ...]:
        return (self.slope,)


class Threshold(Activation):
    """Threshold: x where x > threshold, else value.

    >>> Threshold(0.1, 20.0).flops((4, 10))
    40
    """

    flops_per_element = 1
    kernel = "threshold"
    flops_rule = "1 per element: the comparison with threshold"

    def __init__(self, threshold: float, value: float, inplace: bool = False) -> None:
        self.threshold = self._float32_arg("threshold", threshold)
        self.value = self._float32_arg("value", value)
        self.inplace = bool(inplace)

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {
            **super()._arg_help(),
            "threshold": "inputs at or below this are replaced",
            "value": "what replaces them",
        }

    def extra_repr(self) -> str:
        text = f"threshold={self.threshold}, value={self.value}"
        return text + (", inplace=True" if self.inplace else "")

    def _kernel_args(self, x: Any, params: dict[str, Any]) -> tuple[Any, ...]:
        return (self.threshold, self.value)


class Hardtanh(Activation):
    """Hard tanh: x clamped to [min_val, max_val].

    >>> Hardtanh(-2.0, 2.0).flops((3, 5))
    30
    """

    flops_per_element = 2
    kernel = "hardtanh"
    writes_in_place = True
    flops_rule = "2 per element: the comparisons with min_val and max_val"

    def __init__(
        self,
        min_val: float = -1.0,
        max_val: float = 1.0,
        inplace: bool = False,
        min_value: Optional[float] = None,
        max_value: Optional[float] = None,
    ) -> None:
        # min_value/max_value are torch's deprecated spellings; when given they win.
        if min_value is not None:
            min_val = min_value
        if max_value is not None:
            max_val = max_value
        # torch clamps, and a clamp with a nan bound fills the output with nan without ever
        # converting the other bound to float32, so only nan-free bounds must fit float32.
        nan_bound = any(isinstance(v, float) and math.isnan(v) for v in (min_val, max_val))
        self.min_val = self._float32_arg("min_val", min_val, check_range=not nan_bound)
        self.max_val = self._float32_arg("max_val", max_val, check_range=not nan_bound)
        self.inplace = bool(inplace)
        # Written as torch's test so that nan bounds pass, as they do in torch.
        if self.max_val <= self.min_val:
            raise self._config_error(
                f"max_val must be greater than min_val: got min_val={self.min_val}, "
                f"max_val={self.max_val}; use max_val > {self.min_val}"
            )

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {
            **super()._arg_help(),
            "min_val": "lower clamp bound",
            "max_val": "upper clamp bound",
            "min_value": "deprecated spelling of --min-val (overrides it)",
            "max_value": "deprecated spelling of --max-val (overrides it)",
        }

    def extra_repr(self) -> str:
        text = f"min_val={self.min_val}, max_val={self.max_val}"
        return text + (", inplace=True" if self.inplace else "")

    def _kernel_args(self, x: Any, params: dict[str, Any]) -> tuple[Any, ...]:
        return (self.min_val, self.max_val)


class ReLU6(Hardtanh):
    """ReLU capped at 6: min(max(0, x), 6).

    >>> ReLU6(inplace=True)
    ReLU6(inplace=True)
    """

    flops_per_element = 2
    flops_rule = "2 per element: min(max(0, x), 6)"

    def __init__(self, inplace: bool = False) -> None:
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


# -- exponential units ---------------------------------------------------------------------


class _AlphaUnit(Activation):
    """ELU and CELU: ``alpha`` scales the exponential branch."""

    in_place_keeps_result = True

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        self.alpha = self._float32_arg("alpha", alpha)
        self.inplace = bool(inplace)

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {
            **super()._arg_help(),
            "alpha": "scale of the negative branch",
        }

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")

    def _kernel_args(self, x: Any, params: dict[str, Any]) -> tuple[Any, ...]:
        return (self.alpha,)


class ELU(_AlphaUnit):
    """Exponential linear unit: x for x > 0, alpha·(exp(x) − 1) below.

    >>> ELU(alpha=0.5).flops((2, 8))
    64
    """

    flops_per_element = 4
    kernel = "elu"
    flops_rule = "4 per element: a comparison, then alpha·(exp(x) − 1) (exp, subtract, multiply)"


class CELU(_AlphaUnit):
    """Continuously differentiable ELU: x for x > 0, alpha·(exp(x/alpha) − 1) below.

    >>> CELU(alpha=2.0)
    CELU(alpha=2.0)
    """

    flops_per_element = 5
    kernel = "celu"
    flops_rule = (
        "5 per element: a comparison, then alpha·(exp(x/alpha) − 1) "
        "(divide, exp, subtract, multiply)"
    )

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__(alpha, inplace)
        # torch checks this in forward, which then always fails.
        if self.alpha == 0:
            raise self._config_error(
                "alpha must not be 0 (CELU divides by it): got alpha=0; use a non-zero alpha "
                "such as alpha=1.0"
            )
        # torch also hands 1/alpha (computed in double) to the float32 kernel, so a tiny alpha
        # overflows; one so tiny that 1/alpha is already inf in double passes again.
        inverse = 1.0 / self.alpha
        if math.isfinite(inverse) and abs(inverse) > FLOAT32_MAX:
            smallest = 1 / FLOAT32_MAX
            raise self._config_error(
                f"alpha={self.alpha} is so small that 1/alpha={inverse:.8g} does not fit in "
                f"float32; use |alpha| >= {smallest:.8g}"
            )


class SELU(_InplaceActivation):
    """Scaled ELU with torch's fixed alpha and scale (self-normalising networks).

    >>> SELU().flops((10,))
    50
    """

    in_place_keeps_result = True
    flops_per_element = 5
    kernel = "selu"
    flops_rule = (
        "5 per element: a comparison, alpha·(exp(x) − 1) (exp, subtract, multiply), "
        "then the multiply by scale"
    )


class GELU(Activation):
    """Gaussian error linear unit, exact (erf) or with the tanh approximation.

    >>> GELU(approximate="tanh")
    GELU(approximate='tanh')
    >>> GELU().flops((2, 3)), GELU("tanh").flops((2, 3))
    (30, 48)
    """

    flops_rule = (
        "5 per element for approximate='none': x·0.5·(1 + erf(x/√2)) (divide, erf, add, two "
        "multiplies); 8 for 'tanh': 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (power, "
        "multiply, add, multiply, tanh, add, two multiplies)"
    )
    flops_per_element = 5
    flops_per_element_tanh: ClassVar[int] = 8
    kernel = "gelu"

    def __init__(self, approximate: Literal["none", "tanh"] = "none") -> None:
        # torch checks this only in forward, which then always fails; refusing it here is kinder.
        self.approximate = self._choice("approximate", approximate, ("none", "tanh"))

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {"approximate": "'none' for the exact erf form, 'tanh' for the tanh approximation"}

    def _per_element(self) -> int:
        return self.flops_per_element_tanh if self.approximate == "tanh" else self.flops_per_element

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"

    def _kernel_args(self, x: Any, params: dict[str, Any]) -> tuple[Any, ...]:
        return (self.approximate,)


# -- sigmoid-like --------------------------------------------------------------------------


class Sigmoid(Activation):
    """Logistic sigmoid, 1 / (1 + exp(−x)).

    >>> Sigmoid().flops((1, 10))
    40
    """

    flops_per_element = 4
    kernel = "sigmoid"
    writes_in_place = True
    saved_for_backward = ("output",)
    flops_rule = "4 per element: 1 / (1 + exp(−x)) (negate, exp, add, divide)"

    def __init__(self) -> None:
        pass


class LogSigmoid(Activation):
    """Log of the sigmoid, −log(1 + exp(−x)).

    >>> LogSigmoid().output_shape(())
    ()
    """

    flops_per_element = 5
    kernel = "logsigmoid"
    saved_for_backward = ("input", "input_copy")
    flops_rule = "5 per element: −log(1 + exp(−x)) (negate, exp, add, log, negate)"

    def __init__(self) -> None:
        pass


class Hardsigmoid(_InplaceActivation):
    """Piecewise-linear sigmoid: 0 below −3, 1 above 3, x/6 + 1/2 between.

    >>> Hardsigmoid(inplace=True)  # torch's repr does not show inplace here
    Hardsigmoid()
    """

    flops_per_element = 4
    kernel = "hardsigmoid"
    flops_rule = "4 per element: two comparisons, then x/6 + 1/2 (divide, add)"

    def extra_repr(self) -> str:
        return ""


class Tanh(Activation):
    """Hyperbolic tangent.

    >>> Tanh().flops((4, 4))
    16
    """

    flops_per_element = 1
    kernel = "tanh"
    writes_in_place = True
    saved_for_backward = ("output",)
    flops_rule = "1 per element: tanh(x)"

    def __init__(self) -> None:
        pass


class SiLU(_InplaceActivation):
    """Sigmoid linear unit (swish), x·sigmoid(x).

    >>> SiLU().flops((2, 4))
    40
    """

    flops_per_element = 5
    kernel = "silu"
    flops_rule = "5 per element: x / (1 + exp(−x)) as x·sigmoid(x) (sigmoid's 4, multiply)"


class Mish(_InplaceActivation):
    """Mish, x·tanh(softplus(x)).

    >>> Mish().flops((3,))
    15
    """

    flops_per_element = 5
    kernel = "mish"
    flops_rule = "5 per element: x·tanh(log(1 + exp(x))) (exp, add, log, tanh, multiply)"


class Hardswish(_InplaceActivation):
    """Hard swish: 0 below −3, x above 3, x·(x + 3)/6 between.

    >>> Hardswish(inplace=True)  # torch's repr does not show inplace here
    Hardswish()
    """

    flops_per_element = 5
    kernel = "hardswish"
    flops_rule = "5 per element: two comparisons, then x·(x + 3)/6 (add, multiply, divide)"

    def extra_repr(self) -> str:
        return ""


class Softplus(Activation):
    """Smooth ReLU, log(1 + exp(beta·x)) / beta; linear where beta·x > threshold.

    >>> Softplus(beta=2, threshold=10)
    Softplus(beta=2, threshold=10)
    """

    flops_per_element = 6
    kernel = "softplus"
    flops_rule = (
        "6 per element: beta·x, its comparison with threshold, then log(1 + exp(beta·x)) / beta "
        "(exp, add, log, divide)"
    )

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        self.beta = self._float32_arg("beta", beta)
        self.threshold = self._float32_arg("threshold", threshold)

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {
            "beta": "sharpness: larger is closer to ReLU",
            "threshold": "where beta·x > threshold the output is just x",
        }

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"

    def _kernel_args(self, x: Any, params: dict[str, Any]) -> tuple[Any, ...]:
        return (self.beta, self.threshold)


class Softsign(Activation):
    """Softsign, x / (1 + |x|).

    >>> Softsign().flops((5, 2))
    30
    """

    flops_per_element = 3
    kernel = "softsign"
    saved_for_backward = ("input", "input_copy")
    flops_rule = "3 per element: x / (1 + |x|) (abs, add, divide)"

    def __init__(self) -> None:
        pass


# -- shrinkage -----------------------------------------------------------------------------


class _Shrink(Activation):
    """Hardshrink and Softshrink: ``lambd`` is the half-width of the band zeroed around 0."""

    def __init__(self, lambd: float = 0.5) -> None:
        self.lambd = self._float32_arg("lambd", lambd)

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        return {"lambd": "half-width of the band around 0 that is zeroed"}

    def extra_repr(self) -> str:
        return f"{self.lambd}"

    def _kernel_args(self, x: Any, params: dict[str, Any]) -> tuple[Any, ...]:
        return (self.lambd,)


class Hardshrink(_Shrink):
    """Hard shrinkage: x where |x| > lambd, else 0.

    >>> Hardshrink()
    Hardshrink(0.5)
    """

    flops_per_element = 2
    kernel = "hardshrink"
    flops_rule = "2 per element: the comparisons with lambd and −lambd"


class Softshrink(_Shrink):
    """Soft shrinkage: x − lambd above lambd, x + lambd below −lambd, else 0.

    >>> Softshrink(0.25).flops((2, 2))
    12
    """

    flops_per_element = 3
    kernel = "softshrink"
    flops_rule = "3 per element: the comparisons with ±lambd, then one add or subtract"

    def __init__(self, lambd: float = 0.5) -> None:
        super().__init__(lambd)
        # torch checks this in forward, which then always fails; written so that nan fails too.
        if not 0 <= self.lambd <= FLOAT32_MAX:
            raise self._config_error(
                f"lambd must be between 0 and {FLOAT32_MAX:.8g} (float32's largest): got "
                f"lambd={self.lambd}; use a non-negative finite lambd such as 0.5"
            )


class Tanhshrink(Activation):
    """Tanh shrinkage, x − tanh(x).

    >>> Tanhshrink().flops((7,))
    14
    """

    flops_per_element = 2
    kernel = "tanhshrink"
    saved_for_backward = ("input_copy",)  # its tanh
    flops_rule = "2 per element: x − tanh(x) (tanh, subtract)"

    def __init__(self) -> None:
        pass


LAYERS = (
    ReLU,
    ReLU6,
    LeakyReLU,
    PReLU,
    RReLU,
    Threshold,
    Hardtanh,
    ELU,
    CELU,
    SELU,
    GELU,
    Sigmoid,
    LogSigmoid,
    Hardsigmoid,
    Tanh,
    SiLU,
    Mish,
    Hardswish,
    Softplus,
    Softsign,
    Hardshrink,
    Softshrink,
    Tanhshrink,
)
