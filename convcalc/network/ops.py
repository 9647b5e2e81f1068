"""The tensor operations a forward does without a module (``x + y``, ``torch.cat``, ``x.permute``,
``x.mean``, ``torch.matmul``, channel shuffle, ...): for each, its shape rule, its work and its
NumPy forward, in one place.

Each function takes the input shapes and the operation's arguments, checks them as torch does,
and returns an :class:`OpResult`; :mod:`convcalc.network.trace` makes it a step of the graph and
:mod:`convcalc.network.execute` runs ``forward`` on the arrays.

>>> add((1, 8, 4, 4), (1, 8, 1, 1)).shape
(1, 8, 4, 4)
>>> cat([(1, 3, 4, 4), (1, 5, 4, 4)], 1).shape
(1, 8, 4, 4)
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

from ..errors import ShapeError
from ..layers.base import Shape, prod
from ..shapes import format_shape


class OpResult(NamedTuple):
    """What an operation gives: output shape, MACs, FLOPs, its forward on NumPy arrays,
    whether the output is a view of its (first) input, and whether torch's autograd keeps its
    tensor inputs for the backward pass (a product's gradient needs the other factor)."""

    shape: Shape
    macs: int
    flops: int
    forward: Callable[..., Any]
    view: bool = False
    keeps_inputs: bool = False
    fresh: bool = False  # forward always returns a new array (never an input or a view of one)
    # a view that regroups its input's elements ("reshape": a copy where torch cannot view the
    # input so; "view": refused there, as torch's view is); else a view's forward only
    # rearranges strides (see convcalc.network.layout)
    regroups: str = ""


def _whole(values: Sequence[Any], what: str) -> None:
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise ShapeError(f"{what}: takes whole numbers, got {tuple(values)}")


def check_dim(dim: int, rank: int, what: str) -> int:
    """``dim`` as torch reads it for a ``rank``-d tensor (negative from the end), or a ShapeError.

    >>> check_dim(-1, 4, "mean")
    3
    """
    return _dim(dim, rank, what)


def _dim(dim: int, rank: int, what: str) -> int:
    _whole([dim], what)
    if not -rank <= dim < max(rank, 1):
        raise ShapeError(f"{what}: dim {dim} is out of range for a {rank}-d tensor (use -{rank} to {rank - 1})")
    return dim % rank if rank else 0


def broadcast(a: Shape, b: Shape, what: str) -> Shape:
    """NumPy/torch broadcasting of two shapes.

    >>> broadcast((2, 1, 3), (4, 3), "add")
    (2, 4, 3)
    """
    rank = max(len(a), len(b))
    pa, pb = (1,) * (rank - len(a)) + tuple(a), (1,) * (rank - len(b)) + tuple(b)
    out = []
    for x, y in zip(pa, pb):
        if x != y and 1 not in (x, y):
            raise ShapeError(
                f"{what}: shapes {format_shape(a)} and {format_shape(b)} do not broadcast "
                f"({x} against {y}); the two sides must agree or be 1 in every dim"
            )
        out.append(max(x, y) if 1 in (x, y) else x)
    return tuple(out)


def _binary(name: str, ufunc: str, keeps_inputs: bool) -> Callable[[Shape, Shape], OpResult]:
    def op(a: Shape, b: Shape) -> OpResult:
        import numpy as np

        shape = broadcast(a, b, name)
        return OpResult(shape, 0, prod(shape), getattr(np, ufunc), keeps_inputs=keeps_inputs, fresh=True)

    op.__name__ = name
    op.__doc__ = f"Element-wise {name} with broadcasting: one FLOP per output element."
    return op


add = _binary("add", "add", False)
sub = _binary("sub", "subtract", False)
mul = _binary("mul", "multiply", True)
div = _binary("div", "divide", True)
BINARY = {"add": add, "sub": sub, "mul": mul, "div": div}


def scalar(name: str, a: Shape, value: float) -> OpResult:
    """``x + 2``, ``x * 0.5``, ``2 - x``: one FLOP per element.

    >>> scalar("mul", (2, 3), 0.5).flops
    6
    """
    import numpy as np

    ufunc = {"add": np.add, "sub": np.subtract, "rsub": lambda x, v: v - x, "mul": np.multiply,
             "div": np.true_divide, "rdiv": lambda x, v: v / x}[name]
    return OpResult(tuple(a), 0, prod(a), lambda x: ufunc(x, np.asarray(value, dtype=x.dtype)))


def cat(shapes: Sequence[Shape], dim: int) -> OpResult:
    """``torch.cat``: every dim but ``dim`` agrees. A copy, no arithmetic."""
    import numpy as np

    if not shapes:
        raise ShapeError("torch.cat: needs at least one tensor")
    rank = len(shapes[0])
    axis = _dim(dim, rank, "torch.cat")
    for shape in shapes:
        if len(shape) != rank or any(s != t for i, (s, t) in enumerate(zip(shape, shapes[0])) if i != axis):
            listed = ", ".join(format_shape(s) for s in shapes)
            raise ShapeError(
                f"torch.cat along dim {dim}: the tensors {listed} differ in another dim; "
                "every dim but the concatenated one must agree"
            )
    out = list(shapes[0])
    out[axis] = sum(shape[axis] for shape in shapes)
    return OpResult(tuple(out), 0, 0, lambda *xs: np.concatenate(xs, axis=axis))


def narrow(shape: Shape, dim: int, start: int, length: int) -> OpResult:
    """One piece of ``chunk``/``split``: ``x.narrow(dim, start, length)``, a view."""
    axis = _dim(dim, len(shape), "split")
    _whole([start, length], "narrow")
    if start < 0 or length < 0 or start + length > shape[axis]:
        raise ShapeError(f"narrow({dim}, {start}, {length}): dim {dim} has {shape[axis]} entries")
    out = list(shape)
    out[axis] = length
    index = (slice(None),) * axis + (slice(start, start + length),)
    return OpResult(tuple(out), 0, 0, lambda x: x[index], view=True)


def chunk_sizes(size: int, chunks: int) -> list[int]:
    """torch.chunk's piece sizes: ceil(size / chunks) each, the last what is left.

    >>> chunk_sizes(10, 3)
    [4, 4, 2]
    """
    if chunks < 1:
        raise ShapeError(f"chunk: chunks must be >= 1, got {chunks}")
    step = -(-size // chunks)
    return [min(step, size - start) for start in range(0, size, step)] if size else [0]


def permute(shape: Shape, dims: Sequence[int]) -> OpResult:
    """``x.permute(dims)``: a view with the dims reordered."""
    import numpy as np

    rank = len(shape)
    axes = [_dim(d, rank, "permute") for d in dims]
    if sorted(axes) != list(range(rank)):
        raise ShapeError(f"permute{tuple(dims)}: needs each of the {rank} dims once")
    return OpResult(tuple(shape[a] for a in axes), 0, 0, lambda x: np.transpose(x, axes), view=True)


def transpose(shape: Shape, dim0: int, dim1: int) -> OpResult:
    rank = len(shape)
    axes = list(range(rank))
    a, b = _dim(dim0, rank, "transpose"), _dim(dim1, rank, "transpose")
    axes[a], axes[b] = axes[b], axes[a]
    return permute(shape, axes)


def reshape(shape: Shape, target: Sequence[int], kind: str = "reshape") -> OpResult:
    """``x.reshape(...)``, or ``x.view(...)`` (``kind`` "view"): one ``-1`` is inferred; the
    element count must agree."""
    total = prod(shape)
    wanted = list(target)
    _whole(wanted, f"reshape{tuple(target)}")
    if wanted.count(-1) > 1 or any(d < -1 for d in wanted):
        raise ShapeError(f"reshape{tuple(target)}: only one dim may be -1, and none below it")
    known = prod(d for d in wanted if d != -1)
    if -1 in wanted:
        if known == 0 or total % known:
            raise ShapeError(f"reshape{tuple(target)}: {format_shape(shape)} has {total} elements, not a multiple of {known}")
        wanted[wanted.index(-1)] = total // known
    elif known != total:
        raise ShapeError(f"reshape{tuple(target)}: {format_shape(shape)} has {total} elements, the target {known}")
    out = tuple(wanted)
    return OpResult(out, 0, 0, lambda x: x.reshape(out), view=True, regroups=kind)


def flatten(shape: Shape, start: int = 0, end: int = -1) -> OpResult:
    """``torch.flatten(x, start, end)``.

    >>> flatten((1, 512, 1, 1), 1).shape
    (1, 512)
    """
    rank = len(shape)
    if rank == 0:
        return reshape(shape, (1,))
    a, b = _dim(start, rank, "flatten"), _dim(end, rank, "flatten")
    if a > b:
        raise ShapeError(f"flatten: start_dim {start} comes after end_dim {end}")
    return reshape(shape, tuple(shape[:a]) + (prod(shape[a : b + 1]),) + tuple(shape[b + 1 :]))


def mean(shape: Shape, dims: Sequence[int] | None, keepdim: bool = False) -> OpResult:
    """``x.mean(dims)``: one FLOP per input element (the adds and the division)."""
    import numpy as np

    rank = len(shape)
    axes = tuple(range(rank)) if dims is None else tuple(sorted({_dim(d, rank, "mean") for d in dims}))
    out = tuple(1 if i in axes else n for i, n in enumerate(shape)) if keepdim else tuple(
        n for i, n in enumerate(shape) if i not in axes
    )
    return OpResult(out, 0, prod(shape), lambda x: np.mean(x, axis=axes, keepdims=keepdim, dtype=x.dtype))


def amax(shape: Shape, dims: Sequence[int] | None, keepdim: bool = False) -> OpResult:
    """``x.amax(dims)`` (``x.max(dim)``'s values): one comparison per input element.

    >>> amax((2, 8, 5), [2]).shape, amax((2, 8, 5), None).shape
    ((2, 8), ())
    """
    import numpy as np

    rank = len(shape)
    axes = tuple(range(rank)) if dims is None else tuple(sorted({_dim(d, rank, "amax") for d in dims}))
    out = tuple(1 if i in axes else n for i, n in enumerate(shape)) if keepdim else tuple(
        n for i, n in enumerate(shape) if i not in axes
    )
    return OpResult(out, 0, prod(shape), lambda x: np.amax(x, axis=axes, keepdims=keepdim), fresh=True)


def matmul(a: Shape, b: Shape) -> OpResult:
    """``torch.matmul``/``@`` of two tensors of at least 2 dims: (..., n, k) @ (..., k, m).

    >>> matmul((2, 3, 4), (4, 5)).macs
    120
    """
    import numpy as np

    if len(a) < 2 or len(b) < 2:
        raise ShapeError(f"matmul: {format_shape(a)} @ {format_shape(b)}: both sides need 2 or more dims here")
    if a[-1] != b[-2]:
        raise ShapeError(
            f"matmul: {format_shape(a)} @ {format_shape(b)}: the inner sizes {a[-1]} and {b[-2]} differ"
        )
    batch = broadcast(a[:-2], b[:-2], "matmul")
    shape = tuple(batch) + (a[-2], b[-1])
    macs = prod(shape) * a[-1]
    return OpResult(shape, macs, 2 * macs, np.matmul, keeps_inputs=True)


def channel_shuffle(shape: Shape, groups: int) -> OpResult:
    """ShuffleNet's channel shuffle, as nn.ChannelShuffle does it: channels regrouped as
    (groups, C/groups) → (C/groups, groups)."""
    from ..layers.shuffle import ChannelShuffle

    layer = ChannelShuffle(groups)
    return OpResult(layer.output_shape(shape), 0, 0, lambda x: layer.forward(x, {}))


def index(shape: Shape, key: Any) -> OpResult:
    """``x[:, 0]``, ``x[..., 1:3]``: basic indexing (ints, slices, ``...``, ``None``), a view.

    >>> index((1, 197, 768), (slice(None), 0)).shape
    (1, 768)
    """
    import numpy as np

    items = key if isinstance(key, tuple) else (key,)
    if not all(isinstance(k, (int, slice, type(None), type(Ellipsis))) and not isinstance(k, bool) for k in items):
        raise ShapeError(f"indexing with {key!r}: only ints, slices, ... and None index a tensor here")
    if any(isinstance(k, slice) and k.step is not None and (not isinstance(k.step, int) or k.step <= 0) for k in items):
        raise ShapeError(f"indexing with {key!r}: a step must be a whole number >= 1 (torch refuses negative steps)")
    probe = np.lib.stride_tricks.as_strided(np.zeros(1, dtype=np.int8), shape=tuple(shape), strides=(0,) * len(shape))
    try:
        out = probe[key].shape
    except IndexError as exc:
        raise ShapeError(f"indexing {format_shape(shape)} with {key!r}: {exc}") from None
    return OpResult(tuple(out), 0, 0, lambda x: x[key], view=True)


def expand(shape: Shape, sizes: Sequence[int]) -> OpResult:
    """``x.expand(sizes)``: size-1 dims repeated without copying (-1 keeps a dim)."""
    import numpy as np

    _whole(sizes, f"expand{tuple(sizes)}")
    if len(sizes) < len(shape) or any(s < -1 for s in sizes):
        raise ShapeError(f"expand{tuple(sizes)}: needs a size (or -1) for each of the tensor's {len(shape)} dims")
    padded = (1,) * (len(sizes) - len(shape)) + tuple(shape)
    out = []
    for have, want in zip(padded, sizes):
        if want == -1:
            want = have
        if have != want and have != 1:
            raise ShapeError(f"expand{tuple(sizes)}: {format_shape(shape)} has {have} where {want} is asked (only 1 expands)")
        out.append(want)
    target = tuple(out)
    return OpResult(target, 0, 0, lambda x: np.broadcast_to(x, target), view=True)
