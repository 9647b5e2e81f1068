"""The layer model every family shares.

A layer class mirrors its ``torch.nn`` namesake: same name, same constructor signature and
defaults. The signature's annotations are the single description of its arguments: the CLI
options, the network-spec parser and the help text are all derived from them (``arg_specs``).
"""

from __future__ import annotations

import inspect
import math
import numbers
import re
import typing
from typing import Any, Callable, ClassVar, Literal, NamedTuple, Optional, Tuple, Union

from ..errors import ConfigError, ConvcalcError, ParseError, ShapeError
from ..shapes import INT64_MAX, format_shape, parse_floats, parse_int, parse_ints, shown, too_many_elements
from .argument_help import ARG_HELP, FORWARD_ARG_HELP, SHORT_FLAGS

Shape = Tuple[int, ...]

# Annotation aliases: each one names how a user writes the value (see ARG_PARSERS).
Size = Union[int, Tuple[int, ...]]
OptionalSize = Optional[Size]
PaddingArg = Union[int, Tuple[int, ...], str]
Floats = Union[float, Tuple[float, ...]]
OptionalFloats = Optional[Floats]
OptionalSizes = Union[int, None, Tuple[Optional[int], ...]]  # adaptive pooling: (None, 7)
IntTuple = Tuple[int, ...]  # a tuple even when one value is given: Unflatten's (6,)

PADDING_MODES = Literal["zeros", "reflect", "replicate", "circular"]

# Arguments some layer can infer from the input shape (see Layer.infer_args).
INFERABLE = frozenset(
    {"in_channels", "in_features", "num_features", "num_channels", "num_parameters", "embed_dim"}
)


class ArgSpec(NamedTuple):
    """One constructor argument of a layer, as the CLI and the spec parser see it."""

    name: str
    annotation: Any
    default: Any  # inspect.Parameter.empty when required
    help: str

    @property
    def required(self) -> bool:
        return self.default is inspect.Parameter.empty

    @property
    def flags(self) -> tuple[str, ...]:
        long = "--" + self.name.replace("_", "-")
        short = SHORT_FLAGS.get(self.name)
        return (long, short) if short else (long,)

    @property
    def is_flag(self) -> bool:
        """Written ``--x`` / ``--no-x``; an Optional[bool] left out keeps torch's None."""
        return self.annotation is bool or self.annotation == Optional[bool]

    @property
    def spellings(self) -> tuple[str, ...]:
        """Every way to write the option: its flags, and for a flag its negation ``--no-x``.

        >>> ArgSpec("bias", bool, True, "").spellings
        ('--bias', '--no-bias')
        """
        return (*self.flags, "--no-" + self.flags[0][2:]) if self.is_flag else self.flags

    @property
    def choices(self) -> tuple[str, ...]:
        if typing.get_origin(self.annotation) is Literal:
            return tuple(typing.get_args(self.annotation))
        return ()

    @property
    def reads_text(self) -> bool:
        """Whether a text value is read the command-line way (``"3x3"``, ``"same"``)."""
        return bool(self.choices) or (self.annotation is not str and self.annotation in ARG_PARSERS)

    def value_from_text(self, text: str) -> Any:
        """:meth:`parse` where the argument has a text form; otherwise the text as it is."""
        return self.parse(text) if self.choices or self.annotation in ARG_PARSERS else text

    def parse(self, text: str) -> Any:
        """Turn the text a user typed into the value the constructor takes.

        >>> ArgSpec("kernel_size", Size, 1, "").parse("3x5")
        (3, 5)
        """
        flag = self.flags[0]
        if self.choices:
            if text not in self.choices:
                raise ParseError(f"{flag} {text!r} is not one of: " + ", ".join(self.choices))
            return text
        parser = ARG_PARSERS.get(self.annotation)
        if parser is None:  # pragma: no cover - a layer declared an annotation with no parser
            raise TypeError(f"no parser for {self.name}: {self.annotation!r}")
        return parser(text, flag)


def _none_or(parse: Callable[[str, str], Any]) -> Callable[[str, str], Any]:
    def parse_optional(text: str, what: str) -> Any:
        return None if text.strip().lower() == "none" else parse(text, what)

    return parse_optional


def _one_or_tuple(values: tuple) -> Any:
    return values[0] if len(values) == 1 else values


def _parse_float(text: str, what: str) -> float | int:
    values = parse_floats(text, what)
    if len(values) != 1:
        raise ParseError(f"{what} {text!r} must be a single number")
    # "2" stays an int, as a torch user would have written it (the repr prints norm_type=2).
    return int(values[0]) if re.fullmatch(r"\s*[+-]?\d+\s*", text) else values[0]


def _parse_bool(text: str, what: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise ParseError(f"{what} {text!r} is not true or false")


def _parse_size(text: str, what: str) -> Any:
    if text.strip().lower() in ("same", "valid"):
        raise ParseError(f"{what} {text!r}: this layer takes numbers only ('same' and 'valid' are for Conv layers)")
    return _one_or_tuple(parse_ints(text, what, allow_negative=True))


def _parse_padding(text: str, what: str) -> Any:
    if text.strip().lower() in ("same", "valid"):
        return text.strip().lower()
    return _one_or_tuple(parse_ints(text, what, allow_negative=True, example="1, 1x2, same or valid"))


def _parse_floats(text: str, what: str) -> Any:
    return _one_or_tuple(parse_floats(text, what))


def _parse_optional_sizes(text: str, what: str) -> Any:
    parts = [p for p in text.strip("()[] ").replace("x", ",").split(",") if p.strip()]
    if not parts:
        raise ParseError(f"{what} {text!r} is empty")
    values = tuple(None if p.strip().lower() == "none" else parse_int(p, what) for p in parts)
    return _one_or_tuple(values)


ARG_PARSERS: dict[Any, Callable[[str, str], Any]] = {
    int: parse_int,
    float: _parse_float,
    bool: _parse_bool,
    str: lambda text, what: text,
    Optional[int]: _none_or(parse_int),
    Optional[float]: _none_or(_parse_float),
    Optional[bool]: _none_or(_parse_bool),
    Size: _parse_size,
    OptionalSize: _none_or(_parse_size),
    PaddingArg: _parse_padding,
    Floats: _parse_floats,
    OptionalFloats: _none_or(_parse_floats),
    OptionalSizes: _none_or(_parse_optional_sizes),
    IntTuple: lambda text, what: parse_ints(text, what, allow_negative=True),
}


# The annotations of sizes: arguments the command line reads as 64-bit ints.
SIZE_ANNOTATIONS = (int, Optional[int], Size, OptionalSize, PaddingArg, OptionalSizes, IntTuple)

_DIVISOR_TRIALS = 10**6  # an error message's list of divisors must not take longer than the rest


def divisors_text(n: int, most: int = 12) -> str:
    """``{1, 2, 4}``: the divisors of ``n`` for an error message's fix, found in O(√n); past
    10¹² only the divisors up to 10⁶, then ``n``.

    >>> divisors_text(12), divisors_text(720720, most=4), divisors_text(2**70, most=4)
    ('{1, 2, 3, 4, 6, 12}', '{1, 2, 3, …, 720720}', '{1, 2, 4, …, 1180591620717411303424}')
    """
    root = math.isqrt(n)
    small, large = [], []
    for d in range(1, min(root, _DIVISOR_TRIALS) + 1):
        if n % d == 0:
            small.append(d)
            if d != n // d:
                large.append(n // d)
    if root > _DIVISOR_TRIALS:  # not every candidate tried: the small divisors found, then n
        found: list[int | str] = [*small[: most - 1], "…", n]
    else:
        found = small + large[::-1]
        if len(found) > most:
            found = [*found[: most - 1], "…", found[-1]]
    return "{" + ", ".join(map(str, found)) + "}"


def _with_plain_arguments(init: Callable[..., None]) -> Callable[..., None]:
    """``init`` taking NumPy scalars as Python numbers and 0-d/1-d arrays as numbers and lists,
    as torch's constructors take them (``Conv2d(np.int64(3), 8, np.array([3, 3]))``), and
    refusing a size beyond 64 bits as the command line does."""
    import functools

    @functools.wraps(init)
    def plain_init(self: Any, *args: Any, **kwargs: Any) -> None:
        args = tuple(map(_plain, args))
        kwargs = {name: _plain(value) for name, value in kwargs.items()}
        if any(map(_beyond_int64, args)) or any(map(_beyond_int64, kwargs.values())):
            _refuse_beyond_int64(type(self).__name__, init, self, args, kwargs)
        init(self, *args, **kwargs)

    return plain_init


def _plain(value: Any) -> Any:
    if type(value).__module__ == "numpy" and getattr(value, "ndim", 2) <= 1 and hasattr(value, "tolist"):
        return value.tolist()
    return value


def _beyond_int64(value: Any) -> bool:
    if type(value) is int:
        return not -INT64_MAX - 1 <= value <= INT64_MAX
    return isinstance(value, (tuple, list)) and any(map(_beyond_int64, value))


def _refuse_beyond_int64(layer: str, init: Callable[..., None], *args: Any) -> None:
    """ConfigError naming the size argument that holds an int beyond int64 (torch reads sizes
    as 64-bit ints); scalar arguments (Hardtanh's min_val, ...) are left to the layer."""
    try:
        bound = inspect.signature(init).bind(*args[:1], *args[1], **args[2])
    except TypeError:
        return  # the wrong arguments: the constructor says so itself
    hints = typing.get_type_hints(init)
    for name, value in bound.arguments.items():
        if _beyond_int64(value) and hints.get(name) in SIZE_ANNOTATIONS:
            raise ConfigError(f"{layer}: {name}={shown(repr(value), 80)[1:-1]} is beyond PyTorch's 64-bit sizes")


def prod(values: typing.Iterable[int]) -> int:
    """Product of ints, 1 for none (``math.prod`` with an int result).

    >>> prod((2, 3, 4))
    24
    """
    return math.prod(values)


class Kept(NamedTuple):
    """One tensor torch's autograd keeps of a training-mode call for the backward pass:
    ``tensor`` is ``"input"`` or ``"output"`` (the very tensor, shared with any other layer
    that keeps it) or ``"own"`` (made for the backward alone); ``itemsize`` 0 means the
    network's element type."""

    tensor: str
    elements: int
    itemsize: int = 0


# Each word of Layer.saved_for_backward: (which tensor, whose size, bytes an element).
_SAVED_WORDS = {
    "input": ("input", "input", 0),
    "output": ("output", "output", 0),
    "input_copy": ("own", "input", 0),  # a temporary the size of the input (a dropout mask, ...)
    "output_copy": ("own", "output", 0),
    "indices": ("own", "output", 8),  # max pooling's int64 argmax per output element
}


# Constructor arguments that say where a layer lives (and with whom SyncBatchNorm syncs), not
# what it computes: never options, read and dropped from a spec.
PLACEMENT_ARGS = ("device", "dtype", "process_group")


class Layer:
    """Base of every layer class. Subclasses set ``family`` and define ``__init__``.

    Methods a family overrides: ``extra_repr``, ``param_shapes``, ``buffer_shapes``,
    ``output_shape``, ``macs``, ``flops``, ``size_rules`` and ``infer_args``.
    """

    family: ClassVar[str] = ""
    flops_rule: ClassVar[str] = "2·MACs"
    nd: ClassVar[int] = 0  # spatial dims, 0 where the layer has none
    aliases: ClassVar[tuple[str, ...]] = ()
    integer_input: ClassVar[bool] = False  # Embedding takes indices; others get floats

    # What the rest of convcalc asks of a layer, declared here so that a family file says it all.
    fresh_output: ClassVar[bool] = False
    """``forward`` returns an array of its own, never its input, a view of it or a parameter:
    a network's plan may let the next step write over it (:attr:`writes_in_place`)."""
    writes_in_place: ClassVar[bool] = False
    """An element-wise layer that can write its result over its input (``prepare(...,
    in_place=True)``): a plan runs it so on a fresh output that nothing else reads."""
    output_is_view: ClassVar[bool] = False
    """The output is the input itself or a view of it (Identity, Flatten, dropout in inference):
    the network's memory figures count no new tensor for it (see :meth:`shares_input`)."""
    regroups: ClassVar[bool] = False
    """A view that regroups the input's dims (Flatten, Unflatten): a copy where torch cannot
    view the input's memory so, as ``reshape`` makes one."""
    elementwise: ClassVar[bool] = False
    """Taken to act on each element on its own, whatever the layout, so that a flatten the
    network inserts for a classifier can go before it: every activation, dropout and Identity.
    (The softmax family, GLU and a per-channel PReLU are not strictly so; they keep the flag of
    their family, as the tracer has always treated them.)"""
    batch_optional: ClassVar[bool] = False
    """An input of ``nd + 1`` dims is one sample without its batch dim, (C, *spatial), as torch
    reads it (convolutions, pooling, unpooling, instance norm): the single-layer report says so."""
    window: ClassVar[str] = ""
    """The kind of sliding window that computes each output, as ``explain`` takes it apart and
    ``show`` draws it: ``"conv"``, ``"transposed"``, ``"max"``, ``"avg"`` or ``"lp"``; ``""``
    for a layer without one (padding, adaptive pools, unpooling, reshapes, ...)."""
    saved_for_backward: ClassVar[tuple[str, ...]] = ("input",)
    """What torch's autograd keeps of one training-mode call until the backward pass, as words
    of ``_SAVED_WORDS``: ``"input"`` and ``"output"`` (the tensors themselves), ``"input_copy"``
    and ``"output_copy"`` (temporaries of their size), ``"indices"`` (int64 per output
    element). Parameters are not listed: they are kept anyway. See :meth:`kept_for_backward`."""
    in_place_keeps_result: ClassVar[bool] = False
    """Whether an ``inplace=True`` call keeps its result where it would keep its input (ReLU's
    gradient follows from its output); otherwise torch copies the input before overwriting it."""
    unprinted: ClassVar[tuple[str, ...]] = ()
    """Constructor arguments torch's print leaves out: read from print(model), a layer takes
    their defaults, and names that assumption where it changes the result (:meth:`unstated`)."""
    param_roles: ClassVar[dict[str, str]] = {}
    """State_dict key suffix -> what the tensor is for, which decides its initial value under a
    bare ``--fill-weights normal|uniform`` (torch's for conv, linear and norm layers):
    ``"fan_in"`` (uniform on ±1/√fan_in of the layer's weight; normal of that variance),
    ``"ones"``, ``"zeros"``, ``"variance"`` (ones; any other fill made non-negative),
    ``"slope"`` (0.25) or ``"count"`` (always an int64 0: num_batches_tracked). A key not
    listed takes the fill as written."""

    def unstated(self, names: tuple[str, ...], input_shape: Shape) -> list[tuple[str, bool]]:
        """What taking the defaults of ``names`` (of :attr:`unprinted`, not given) assumes that
        matters for this input: (message, whether it can change a shape) each; empty where the
        defaults change nothing."""
        return []

    def unstated_rescue(self, names: tuple[str, ...], input_shape: Shape) -> str | None:
        """Where this input fails with the defaults of ``names``: what one of them set otherwise
        would make of it, for the error to say (None: nothing)."""
        return None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None:  # NumPy scalars and small arrays as arguments read as Python values
            cls.__init__ = _with_plain_arguments(init)  # type: ignore[method-assign]

    # -- description ---------------------------------------------------------------------

    @classmethod
    def cli_name(cls) -> str:
        return cls.__name__.lower()

    @classmethod
    def summary(cls) -> str:
        """First line of the class docstring: the command's short help."""
        return (cls.__doc__ or cls.__name__).strip().splitlines()[0]

    @classmethod
    def arg_specs(cls) -> tuple[ArgSpec, ...]:
        """The constructor's arguments (torch's, minus ``PLACEMENT_ARGS``), in order."""
        cached = cls.__dict__.get("_arg_specs")
        if cached is not None:
            return cached
        hints = typing.get_type_hints(cls.__init__)
        specs = []
        for param in list(inspect.signature(cls.__init__).parameters.values())[1:]:
            if param.name in PLACEMENT_ARGS or param.kind in (
                param.VAR_POSITIONAL,
                param.VAR_KEYWORD,
            ):
                continue
            specs.append(
                ArgSpec(
                    param.name,
                    hints[param.name],
                    param.default,
                    (cls._arg_help().get(param.name) or ARG_HELP.get(param.name, ""))
                    + (", same or valid" if hints[param.name] == PaddingArg else ""),
                )
            )
        cls._arg_specs = tuple(specs)
        return cls._arg_specs

    @classmethod
    def signature_text(cls) -> str:
        """The constructor as torch documents it, e.g. ``nn.ReLU(inplace=False)``."""
        args = ", ".join(
            spec.name if spec.required else f"{spec.name}={spec.default!r}" for spec in cls.arg_specs()
        )
        return f"nn.{cls.__name__}({args})"

    @classmethod
    def _arg_help(cls) -> dict[str, str]:
        """Help for arguments particular to this layer; ARG_HELP covers the common ones."""
        return {}

    @classmethod
    def infer_args(cls, input_shape: Shape) -> dict[str, Any]:
        """Constructor arguments that follow from the input shape (``in_channels``, ...)."""
        return {}

    @classmethod
    def forward_arg_specs(cls) -> tuple[ArgSpec, ...]:
        """Extra ``output_shape``/forward arguments a user can set (``output_size=``)."""
        hints = typing.get_type_hints(cls.output_shape)
        return tuple(
            ArgSpec(param.name, hints[param.name], param.default, FORWARD_ARG_HELP.get(param.name, ""))
            for param in list(inspect.signature(cls.output_shape).parameters.values())[2:]
            if param.kind is param.POSITIONAL_OR_KEYWORD and hints.get(param.name) in ARG_PARSERS
        )

    @classmethod
    def parse_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Argument values from option texts as a user typed them (``None``: not given).

        >>> from convcalc import Conv2d
        >>> Conv2d.parse_options({"out_channels": "8", "kernel_size": "5", "bias": None})
        {'out_channels': 8, 'kernel_size': 5}
        """
        specs = {spec.name: spec for spec in cls.arg_specs()}
        return {
            name: raw if isinstance(raw, bool) else specs[name].parse(raw)
            for name, raw in options.items()
            if raw is not None
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.extra_repr()})"

    def extra_repr(self) -> str:
        return ""

    # -- parameters ----------------------------------------------------------------------

    def param_shapes(self) -> dict[str, Shape]:
        """Trainable tensors by state_dict key suffix, e.g. ``{"weight": ..., "bias": ...}``."""
        return {}

    def buffer_shapes(self) -> dict[str, Shape]:
        """Non-trainable state (BatchNorm's running statistics)."""
        return {}

    def state_roles(self) -> dict[str, str]:
        """Each state_dict key suffix of this layer with its :attr:`param_roles` entry (``""``
        where the class declares none).

        >>> from convcalc import BatchNorm2d
        >>> BatchNorm2d(3, affine=False).state_roles()
        {'running_mean': 'zeros', 'running_var': 'variance', 'num_batches_tracked': 'count'}
        """
        return {key: self.param_roles.get(key, "") for key in {**self.param_shapes(), **self.buffer_shapes()}}

    def num_params(self) -> int:
        return sum(prod(shape) for shape in self.param_shapes().values())

    def num_buffers(self) -> int:
        return sum(prod(shape) for shape in self.buffer_shapes().values())

    # -- shapes and counts ---------------------------------------------------------------

    def output_shape(self, input_shape: typing.Sequence[int], **forward_kwargs: Any) -> Shape:
        raise NotImplementedError

    def macs(self, input_shape: typing.Sequence[int], **forward_kwargs: Any) -> int:
        """Multiply-accumulates of one forward pass, counted as fvcore and ptflops count them."""
        self.output_shape(input_shape, **forward_kwargs)
        return 0

    def flops(self, input_shape: typing.Sequence[int], **forward_kwargs: Any) -> int:
        """Floating-point operations of one forward pass; see the README's counting table."""
        self.output_shape(input_shape, **forward_kwargs)
        return 2 * self.macs(input_shape, **forward_kwargs)

    def size_rules(self, input_shape: Shape | None = None, **forward_kwargs: Any) -> list[tuple[str, Any]]:
        """``(symbol, rule)`` per spatial output dim whose size a formula gives.

        ``forward_kwargs`` (``output_size=``) can change the rule, which then needs the input.
        """
        return []

    def receptive_taps(self, size_in: int, size_out: int) -> int:
        """Input positions beyond one that an output position reads along a dim whose size rule
        sets or scales the size (``FixedRule``, ``ScaleRule``) rather than sliding a window
        (an interpolation's neighbours, an adaptive pool's widest window); the rule turns them
        into a receptive field. 0 by default."""
        return 0

    def shares_input(self) -> bool:
        """Whether the output takes no memory of its own: it is a view of the input
        (:attr:`output_is_view`) or the input changed in place (``inplace=True``)."""
        return self.output_is_view or getattr(self, "inplace", False) is True

    def shares_input_in_training(self) -> bool:
        """:meth:`shares_input` for a training-mode call (a dropout then makes a new tensor)."""
        return self.shares_input()

    def kept_for_backward(self, input_shape: Shape, output_shape: Shape) -> tuple[Kept, ...]:
        """The tensors a training-mode call keeps for the backward pass (:attr:`saved_for_backward`;
        a family adds its statistics).

        >>> from convcalc import MaxPool2d
        >>> MaxPool2d(2).kept_for_backward((1, 4, 8, 8), (1, 4, 4, 4))
        (Kept(tensor='input', elements=256, itemsize=0), Kept(tensor='own', elements=64, itemsize=8))
        """
        shapes = {"input": input_shape, "output": output_shape}
        copies_input = getattr(self, "inplace", False) is True and not self.in_place_keeps_result
        kept = []
        for word in self.saved_for_backward:
            tensor, size_of, itemsize = _SAVED_WORDS["input_copy" if copies_input and word == "input" else word]
            kept.append(Kept(tensor, prod(shapes[size_of]), itemsize))
        return tuple(kept)

    def param_dim_names(self) -> dict[str, tuple[str, ...]]:
        """What each dim of each parameter means, e.g. ``("out", "in/groups", "kH", "kW")``."""
        return {}

    def notes(self) -> list[str]:
        """Sentences worth telling about this configuration (what each group sees, ...)."""
        return []

    # -- forward pass --------------------------------------------------------------------

    def forward(self, x: Any, params: dict[str, Any] | None = None, **forward_kwargs: Any) -> Any:
        """The NumPy forward pass in inference mode (BatchNorm uses running statistics,
        dropout is the identity). ``params`` maps state_dict key suffixes (``weight``,
        ``bias``, ``running_mean``...) to arrays of ``param_shapes()``/``buffer_shapes()``.

        >>> import numpy as np
        >>> from convcalc import Identity
        >>> Identity().forward(np.arange(3.0))
        array([0., 1., 2.])
        """
        import numpy as np

        x, arrays = self._checked(x, params, forward_kwargs)
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # inf and NaN, as torch gives
            return self._forward(x, arrays, **forward_kwargs)

    def prepare(
        self, x: Any, params: dict[str, Any] | None = None, *, in_place: bool = False, **forward_kwargs: Any
    ) -> Callable[[Any], Any]:
        """:meth:`forward` specialised once to inputs of ``x``'s shape and dtype and to these
        ``params``: the checks and conversions are done here, so that each call of the function
        returned pays only the computation (a network's prepared plan calls it on every run).
        The function leaves NumPy's floating-point warnings to its caller, who runs it under
        ``np.errstate`` as :meth:`forward` does. With ``in_place`` (a class that declares
        :attr:`writes_in_place`, a float input) it writes the result over its input and returns
        that input: for an array that no one else reads (a network's plan checks that).

        >>> import numpy as np
        >>> from convcalc import ReLU
        >>> x = np.array([-1.0, 2.0])
        >>> ReLU().prepare(x)(x), ReLU().prepare(x, in_place=True)(x) is x, x
        (array([0., 2.]), True, array([0., 2.]))
        """
        given = getattr(x, "dtype", None)
        x, arrays = self._checked(x, params, forward_kwargs)
        if in_place and not (self.writes_in_place and x.dtype == given and x.dtype.kind == "f" and x.ndim):
            raise self._config_error(f"cannot write its result over a {x.dtype} input of {x.ndim} dims")
        return self._prepared(x, arrays, forward_kwargs, x.dtype if x.dtype != given else None, in_place)

    def _prepared(self, x: Any, params: dict[str, Any], forward_kwargs: dict[str, Any], cast: Any,
                  in_place: bool = False) -> Callable[[Any], Any]:
        """The function :meth:`prepare` returns, for checked arguments; ``cast`` is the dtype a
        non-float input becomes (None: the input is taken as it comes); ``in_place`` only where
        the class declares :attr:`writes_in_place`. A family that can do more once (a
        convolution's weight laid out for its kernel) overrides this."""
        forward = self._forward
        if cast is None:
            return lambda x: forward(x, params, **forward_kwargs)
        return lambda x: forward(x.astype(cast), params, **forward_kwargs)

    def _checked(self, x: Any, params: dict[str, Any] | None, forward_kwargs: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        """``x`` as the array ``_forward`` takes and ``params`` as arrays, both checked against
        this layer (ConvcalcError naming what does not fit)."""
        import numpy as np

        from ..tensors.arrays import real_array

        name = type(self).__name__
        x = real_array(x, f"{name}.forward: the input")
        if not self.integer_input and not np.issubdtype(x.dtype, np.floating):
            x = x.astype(np.float32)
        self.output_shape(x.shape, **self._shape_kwargs(forward_kwargs))
        expected = {**self.param_shapes(), **self.buffer_shapes()}
        arrays = {k: real_array(v, f"{name}.forward: the parameter {k!r}") for k, v in (params or {}).items()}
        if expected or arrays:
            from ..tensors.params import check_params

            check_params(expected, arrays, f"the parameters of {name}")
        return x, arrays

    # -- what a network's prepared plan may fold -------------------------------------------

    def channel_affine(self, params: dict[str, Any]) -> tuple[Any, Any] | None:
        """``(scale, shift)`` when this layer computes ``x·scale + shift`` per channel of dim 1
        with constants (an eval-mode BatchNorm with running statistics), float64 vectors; None
        for any other layer. A plan folds such a layer into the affine map before it.

        >>> from convcalc import ReLU
        >>> ReLU().channel_affine({}) is None
        True
        """
        return None

    def absorb_channel_affine(
        self, params: dict[str, Any], scale: Any, shift: Any, output_shape: Shape
    ) -> tuple["Layer", dict[str, Any]] | None:
        """This layer followed by ``y·scale + shift`` per channel of dim 1 of its output (of
        ``output_shape``), as one layer of the same kind and its parameters, computed once in
        float64; None when this layer is not an affine map whose output channels sit at dim 1
        (convolutions and Linear are).

        >>> from convcalc import ReLU
        >>> ReLU().absorb_channel_affine({}, None, None, (1, 2)) is None
        True
        """
        return None

    def example_inputs(self, input_shape: Shape, rng: Any, dtype: Any, **forward_kwargs: Any) -> dict[str, Any]:
        """Random stand-ins, for a run on made-up data, for the tensors ``forward`` takes
        besides ``x`` (Bilinear's ``input2``, MaxUnpool's ``indices``): none for most layers.
        ``rng`` is a NumPy Generator; ``forward_kwargs`` are the run's other forward arguments.

        >>> from convcalc import ReLU
        >>> ReLU().example_inputs((2, 3), None, "float32")
        {}
        """
        return {}

    def _shape_kwargs(self, forward_kwargs: dict[str, Any]) -> dict[str, Any]:
        """``output_shape``'s arguments for these forward arguments (tensors -> their shapes)."""
        return forward_kwargs

    def _forward(self, x: Any, params: dict[str, Any], **forward_kwargs: Any) -> Any:
        """The family's computation on a validated input; ``params`` match ``param_shapes``."""
        raise NotImplementedError(f"{type(self).__name__} has no forward pass yet")

    def batch_dim(self, input_shape: Shape) -> int | None:
        """The batch dim of ``input_shape`` (``--batch`` sets it; examples in convcalc.batch): 0, or
        None for an unbatched (C, *spatial) where the batch may be left out, or a single dim.
        An element-wise layer reads any layout, so that none of its dims is the batch: refused."""
        if self.elementwise:
            raise self._shape_error(input_shape, "acts on each element of any layout, so no dim is its batch dim "
                                    "for --batch to set; give the whole shape, batch included, in --input")
        if self.batch_optional and len(input_shape) == self.nd + 1:
            return None
        return 0 if len(input_shape) >= 2 else None

    def traced_op(self, input_shape: Shape) -> str | None:
        """The aten operator fvcore's trace counts for this forward (a key of the handles in
        convcalc.network.counting), or None where fvcore counts nothing."""
        return None

    def fvcore_per_element(self) -> int | None:
        """The MACs fvcore's handle for this layer's norm operator counts per input element;
        None for a layer that is no norm."""
        return None

    def _batched(self, x: Any) -> tuple[Any, bool]:
        """``(x with a batch dim, whether one was added)``: kernels take (N, C, *spatial)."""
        if x.ndim == self.nd + 1:
            return x[None], True
        return x, False

    def _on_batch(self, x: Any, kernel: Callable[[Any], Any]) -> Any:
        """``kernel`` (on (N, C, *spatial) arrays) applied to ``x``, batched or not: an
        unbatched input gets a batch dim of 1, removed from every output (values and indices
        alike), as torch does."""
        batch, added = self._batched(x)
        out = kernel(batch)
        if not added:
            return out
        return tuple(part[0] for part in out) if isinstance(out, tuple) else out[0]

    def _prepared_on_batch(self, x: Any, cast: Any, prepare: Callable[[Any, Any], Callable[[Any], Any]]) -> Callable[[Any], Any]:
        """What :meth:`prepare` returns for a kernel that ``prepare(batch_shape, dtype)``
        specialises to (N, C, *spatial) inputs: run on inputs like ``x``, batched or not."""
        batch, added = self._batched(x)
        kernel = prepare(batch.shape, batch.dtype)
        if cast is None and not added:
            return kernel
        return lambda x: self._on_batch(x if cast is None else x.astype(cast), kernel)

    # -- helpers for subclasses ----------------------------------------------------------

    def _no_forward_options(self, forward_kwargs: dict[str, Any]) -> None:
        if forward_kwargs:
            raise self._config_error(f"forward takes no options, got {sorted(forward_kwargs)}")

    def _config_error(self, message: str) -> ConvcalcError:
        return ConfigError(f"{type(self).__name__}: {message}")

    def _shape_error(self, input_shape: Shape, message: str) -> ConvcalcError:
        return ShapeError(f"{type(self).__name__}: input {format_shape(input_shape)}: {message}")

    def _tuple(
        self, name: str, value: Any, length: int, *, minimum: int | None = None
    ) -> tuple[int, ...]:
        """Expand an int or a 1-tuple to ``length`` entries, as torch's ``_ntuple`` does."""
        values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
        if not values or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in values
        ):
            raise self._config_error(
                f"{name} must be a whole number or a tuple of {length}: got {name}={value!r}"
            )
        if len(values) == 1:
            values = values * length
        if len(values) != length:
            raise self._config_error(
                f"{name} needs 1 or {length} values for a {length}-d layer: "
                f"got {name}={value!r}"
            )
        if minimum is not None and min(values) < minimum:
            raise self._config_error(
                f"{name} must be at least {minimum}: got {name}={_show(values)}"
            )
        return values

    def _positive_int(self, name: str, value: Any, minimum: int = 1) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise self._config_error(
                f"{name} must be a whole number >= {minimum}: got {name}={value!r}"
            )
        return value

    def _whole_numbers(self, name: str, value: Any) -> tuple[int, ...]:
        """``value``, an int or a list or tuple of ints (NumPy's too), as a tuple of ints;
        ConfigError for anything else (torch refuses a float size where it needs ints)."""
        values = tuple(value) if isinstance(value, (tuple, list)) else (value,)
        if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in values):
            raise self._config_error(f"{name} must hold whole numbers: got {name}={value!r}")
        return tuple(int(v) for v in values)

    def _number(self, name: str, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._config_error(f"{name} must be a number: got {name}={value!r}")
        return float(value)

    def _choice(self, name: str, value: Any, choices: tuple[str, ...]) -> str:
        if value not in choices:
            raise self._config_error(
                f"{name} must be one of {', '.join(map(repr, choices))}: got {name}={value!r}"
            )
        return value

    def _as_shape(self, input_shape: typing.Sequence[int]) -> Shape:
        try:
            shape = tuple(input_shape)
        except TypeError:
            raise ShapeError(
                f"{type(self).__name__}: the input shape must be a sequence of ints, "
                f"got {input_shape!r}"
            ) from None
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in shape):
            raise ShapeError(
                f"{type(self).__name__}: the input shape must hold whole numbers, got {shape!r}"
            )
        if any(n < 1 for n in shape):
            raise self._shape_error(
                shape,
                "every dim must be at least 1 (convcalc refuses empty tensors, whose "
                "handling in PyTorch depends on the backend)",
            )
        if too_many_elements(shape):  # a dim beyond int64 is one such shape
            raise self._shape_error(
                shape, f"more than {INT64_MAX} elements, beyond PyTorch's 64-bit sizes; use smaller dims"
            )
        return shape

    def _check_dims(self, shape: Shape, allowed: tuple[int, ...], what: str = "") -> None:
        if len(shape) not in allowed:
            wanted = " or ".join(f"{n}-D" for n in allowed)
            raise self._shape_error(
                shape, f"expected a {wanted} input{what}, got {len(shape)}-D"
            )


def _show(values: tuple[int, ...]) -> str:
    return str(values[0]) if len(set(values)) == 1 else str(values)


def numel(shape: Shape) -> int:
    return prod(shape)
