"""Made-up tensors: fill rules (``--fill``), random generators, and parameters initialised
as torch would.

Pure: nothing here prints. NumPy is imported at module level because only forward-pass
paths import this module.

Fills (``--fill``), written ``NAME`` or ``NAME:ARG,ARG``:

- ``normal`` standard normal, like ``torch.randn``; ``normal:MEAN,STD``.
- ``uniform`` on [0, 1), like ``torch.rand``; ``uniform:LOW,HIGH`` on [LOW, HIGH).
- ``ones``, ``zeros``, ``full:VALUE``.
- ``arange``: 0, 1, 2, ... in row-major order, like ``torch.arange(n).reshape(shape)``.
- ``randint:LOW,HIGH``: whole numbers from LOW to HIGH, BOTH ends included (as Python's
  ``random.randint``; ``torch.randint(-1, 2)`` is ``randint:-1,1``), so a worked
  example's arithmetic can be checked by hand.

For parameters (``make_params``) a bare ``normal`` or ``uniform`` means "what torch would
initialise": see :func:`make_params`.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from ..errors import ParseError, ShapeError
from ..shapes import format_shape, shown
from .arrays import check_dims, float_dtype

FILL_HELP = (
    "normal[:MEAN,STD], uniform[:LOW,HIGH], ones, zeros, full:VALUE, arange, "
    "randint:LOW,HIGH (both ends included)"
)


# -- fills ------------------------------------------------------------------------------


class Fill(NamedTuple):
    """A parsed ``--fill``: its kind and the numbers after the colon (empty for defaults)."""

    kind: str
    args: tuple[float, ...] = ()

    @property
    def torch_default(self) -> bool:
        """A bare ``normal``/``uniform``: parameters get torch-like initial values."""
        return self.kind in ("normal", "uniform") and not self.args

    def __str__(self) -> str:
        if not self.args:
            return self.kind
        return self.kind + ":" + ",".join(_number_text(a) for a in self.args)


# kind -> (allowed argument counts, how they are written)
_FILL_ARITY: dict[str, tuple[tuple[int, ...], str]] = {
    "normal": ((0, 2), "normal or normal:MEAN,STD"),
    "uniform": ((0, 2), "uniform or uniform:LOW,HIGH"),
    "ones": ((0,), "ones"),
    "zeros": ((0,), "zeros"),
    "full": ((1,), "full:VALUE"),
    "arange": ((0,), "arange"),
    "randint": ((2,), "randint:LOW,HIGH, e.g. randint:-1,1 (both ends included)"),
}


def fill_kinds() -> list[str]:
    """The fill kinds, as written before any ``:`` arguments.

    >>> fill_kinds()[:3]
    ['normal', 'uniform', 'ones']
    """
    return list(_FILL_ARITY)


def parse_fill(text: str | Fill, what: str = "fill") -> Fill:
    """Read a fill spec such as ``randint:-1,1`` or ``normal:0,0.1``; ``what`` names it in
    messages (the option it came from).

    >>> parse_fill("randint:-1,1")
    Fill(kind='randint', args=(-1.0, 1.0))
    >>> str(parse_fill(" Normal "))
    'normal'
    """
    if isinstance(text, Fill):
        return text
    name, colon, rest = text.strip().partition(":")
    kind = name.strip().lower()
    if kind not in _FILL_ARITY:
        raise ParseError(f"{what} {shown(text)} is not one of: {FILL_HELP}")
    counts, written = _FILL_ARITY[kind]
    args: tuple[float, ...] = ()
    if colon:
        parts = [p.strip() for p in rest.split(",")]
        try:
            args = tuple(float(p) for p in parts)
        except ValueError:
            raise ParseError(f"{what} {shown(text)}: arguments must be numbers; write {written}") from None
        if not all(math.isfinite(a) for a in args):
            raise ParseError(f"{what} {shown(text)}: arguments must be finite numbers; write {written}")
    if len(args) not in counts:
        if counts == (0,):
            raise ParseError(f"{what} {shown(text)}: {kind} takes no arguments; write {written}")
        raise ParseError(f"{what} {shown(text)}: write {written}")
    if kind == "randint":
        low, high = args
        if low != int(low) or high != int(high):
            raise ParseError(f"{what} {shown(text)}: randint bounds must be whole numbers, e.g. randint:-1,1")
        if low < -(2**63) or high >= 2**63:  # torch.randint's bounds are int64, and so are NumPy's
            raise ParseError(f"{what} {shown(text)}: randint bounds must lie within ±9.2e18 (64-bit integers)")
        if low > high:
            raise ParseError(
                f"{what} {shown(text)}: LOW must not exceed HIGH; write randint:{int(high)},{int(low)}"
            )
    if kind == "uniform" and args and args[0] > args[1]:
        raise ParseError(f"{what} {shown(text)}: LOW must not exceed HIGH")
    if kind == "normal" and args and args[1] < 0:
        raise ParseError(f"{what} {shown(text)}: STD must be >= 0")
    return Fill(kind, args)


def make_rng(seed: int | None = None) -> np.random.Generator:
    """NumPy's default generator; the same seed gives the same tensors on every machine."""
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ParseError(f"--seed must be a whole number >= 0: got {seed!r}")
    return np.random.default_rng(seed)


def make_tensor(
    shape: Sequence[int],
    fill: str | Fill = "normal",
    rng: np.random.Generator | None = None,
    dtype: Any = "float32",
) -> np.ndarray:
    """A tensor of ``shape`` made by ``fill`` (see the module docstring).

    Random values are drawn in float64 and then cast, so a seed gives the same numbers
    (up to rounding) whatever the dtype; they are drawn in chunks, so the peak memory is
    the tensor's own size plus a little.

    >>> make_tensor((2, 3), "arange")
    array([[0., 1., 2.],
           [3., 4., 5.]], dtype=float32)
    >>> rng = make_rng(0)
    >>> sorted(set(make_tensor((100,), "randint:-1,1", rng).tolist()))
    [-1.0, 0.0, 1.0]
    """
    return _generate(parse_fill(fill), _checked_shape(shape), rng, float_dtype(dtype))


# Random numbers are drawn this many at a time in float64 and cast into the result, so
# making a tensor takes little more memory than the tensor itself.
_CHUNK = 1 << 18


def _generate(
    spec: Fill, dims: tuple[int, ...], rng: np.random.Generator | None, target: np.dtype
) -> np.ndarray:
    kind, args = spec
    with np.errstate(over="ignore", invalid="ignore"):
        if kind in ("ones", "zeros", "full"):
            value = args[0] if kind == "full" else float(kind == "ones")
            return np.full(dims, value, dtype=target)
        if kind != "arange" and rng is None:
            rng = np.random.default_rng()
        result = np.empty(dims, dtype=target)
        flat = result.reshape(-1)
        for start in range(0, flat.size, _CHUNK):
            stop = min(start + _CHUNK, flat.size)
            flat[start:stop] = _draw(spec, start, stop, rng)
    return result


def _draw(spec: Fill, start: int, stop: int, rng: Any) -> np.ndarray:
    kind, args = spec
    if kind == "arange":
        return np.arange(start, stop, dtype=np.float64)
    count = stop - start
    if kind == "normal":
        mean, std = args or (0.0, 1.0)
        return mean + std * rng.standard_normal(count)
    if kind == "uniform":
        low, high = args or (0.0, 1.0)
        return rng.uniform(low, high, count)
    low, high = (int(a) for a in args)
    return rng.integers(low, high, size=count, endpoint=True)


def _checked_shape(shape: Sequence[int]) -> tuple[int, ...]:
    dims = tuple(shape)
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1 for n in dims):
        raise ShapeError(f"tensor shape {format_shape(dims)} must be whole numbers >= 1")
    check_dims(dims, f"a tensor of shape {format_shape(dims)}" if len(dims) <= 8 else "the tensor")
    return tuple(int(n) for n in dims)

# -- parameters -------------------------------------------------------------------------

# The constant a bare normal/uniform gives each role that has one (see Layer.param_roles).
_TORCH_INIT = {
    "ones": 1.0,  # weight of a normalisation layer
    "zeros": 0.0,  # bias of a normalisation layer, running_mean
    "variance": 1.0,  # running_var
    "slope": 0.25,  # PReLU's slopes
}


def make_params(
    shapes: Mapping[str, Sequence[int]],
    fill: str | Fill = "normal",
    rng: np.random.Generator | None = None,
    dtype: Any = "float32",
    roles: Mapping[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """Parameters and buffers for state_dict ``shapes``, drawn in key order.

    ``roles`` maps a key to what it is for, as its layer declares it (``Layer.state_roles``,
    prefixed with the module path: ``{"1.weight": "ones"}``); convcalc's own callers declare
    every key. A key given no role has it guessed from its name and shape.

    A bare ``normal``/``uniform`` gives what torch initialises, so the numbers look like a
    fresh torch model's: conv and linear weights and biases uniform on ±1/√fan_in (torch's
    kaiming-uniform bound; ``normal`` draws with the same variance instead), norm weights 1
    and biases 0, running_mean 0, running_var 1, PReLU slopes 0.25. Any other fill applies
    to every tensor as written, except that running_var takes absolute values (a variance
    is never negative) and ``num_batches_tracked`` is always 0 (int64; inference ignores it).

    >>> p = make_params({"weight": (8, 3, 5, 5), "bias": (8,)}, "uniform", make_rng(0))
    >>> bool(abs(p["weight"]).max() <= 1 / 75 ** 0.5)
    True
    >>> make_params({"0.weight": (2,), "0.running_var": (2,)}, "normal", make_rng(0),
    ...             roles={"0.weight": "ones", "0.running_var": "variance"})["0.running_var"]
    array([1., 1.], dtype=float32)
    >>> make_params({"weight": (3,)}, "uniform", make_rng(0), roles={"weight": "slope"})["weight"]
    array([0.25, 0.25, 0.25], dtype=float32)
    """
    spec = parse_fill(fill)
    target = float_dtype(dtype)
    declared = roles or {}
    params: dict[str, np.ndarray] = {}
    for key, shape in shapes.items():
        role = declared[key] if key in declared else _guessed_role(key, shapes)
        dims = tuple(int(n) for n in shape)
        if role == "count":
            params[key] = np.zeros(dims, dtype=np.int64)
            continue
        if dims:
            _checked_shape(dims)
        if spec.torch_default and role in _TORCH_INIT:
            effective = Fill("full", (_TORCH_INIT[role],))
        elif spec.torch_default and role == "fan_in":
            module = key.rpartition(".")[0]
            # the module's weight decides (a bias's bound is its weight's); a tensor whose module
            # has no "weight" (MultiheadAttention's in_proj_weight) takes its own fan_in
            bound = _fan_in_bound(tuple(shapes.get(_sibling(module, "weight"), dims)))
            if spec.kind == "uniform":
                effective = Fill("uniform", (-bound, bound))
            else:
                effective = Fill("normal", (0.0, bound / math.sqrt(3)))
        else:
            effective = spec
        values = _generate(effective, dims, rng, target)
        if role == "variance" and not spec.torch_default:
            np.abs(values, out=values)
        params[key] = values
    return params


def _sibling(module: str, leaf: str) -> str:
    return f"{module}.{leaf}" if module else leaf


def _fan_in_bound(weight_shape: tuple[int, ...]) -> float:
    # torch's fan_in: dim 1 times the receptive field, for conv, transposed conv and linear alike.
    fan_in = weight_shape[1] * math.prod(weight_shape[2:])
    return 1 / math.sqrt(fan_in) if fan_in else 0.0


def _guessed_role(key: str, shapes: Mapping[str, Sequence[int]]) -> str:
    """A key's role from its name and shape alone, where no layer declares it."""
    module, _, leaf = key.rpartition(".")
    if leaf == "num_batches_tracked":
        return "count"
    if leaf == "running_mean":
        return "zeros"
    if leaf == "running_var":
        return "variance"
    weight = shapes.get(_sibling(module, "weight"))
    if leaf not in ("weight", "bias") or weight is None:
        return ""
    if len(weight) >= 2:
        return "fan_in"
    # A 1-d weight: a norm layer's scale when it has a bias or running statistics beside it,
    # otherwise PReLU's slopes (the one torch layer with a lone 1-d weight).
    if _sibling(module, "bias") in shapes or _sibling(module, "running_mean") in shapes:
        return "ones" if leaf == "weight" else "zeros"
    return "slope"


def _number_text(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)
