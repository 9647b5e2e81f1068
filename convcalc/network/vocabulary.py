"""The names a recipe's forward may use (``torch.cat``, ``F.relu``, ``x.permute``, ``len``, ...),
each bound to the tracer so that calling it adds a step to the graph.
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import ParseError
from .ops import OpResult, amax, cat, channel_shuffle, check_dim, chunk_sizes, expand, flatten, mean, narrow, permute, reshape, transpose
from .graph import Tensor
from .interpret import Absent, ModuleRef
from .layout import contiguous_strides, is_contiguous


class Namespace(dict):
    """``torch``, ``F``, ``nn``: attribute access into a fixed table."""

    def __init__(self, name: str, table: dict[str, Any], fallback: Callable[[str], Any] | None = None) -> None:
        super().__init__(table)
        self.name = name
        self.fallback = fallback

    def member(self, attr: str) -> Any:
        if attr in self:
            return self[attr]
        if self.fallback is not None:
            return self.fallback(attr)
        raise ParseError(f"{self.name}.{attr} is not part of the recipe notation")


class Marker:
    """``Parameter(dims...)`` / ``Buffer(dims...)`` in a recipe's ``__init__``."""

    def __init__(self, kind: str, dims: tuple[int, ...]) -> None:
        if not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d <= 2**40 for d in dims) or len(dims) > 64:
            raise ParseError(f"{kind}{dims}: dims must be whole numbers from 0 to 2**40, at most 64 of them")
        self.kind = kind
        self.dims = dims


_NO_DIM = object()  # max() called without a dim (torch's max(dim=None) is an error)


def _tensors(values: Any) -> list[Tensor]:
    items = list(values)
    others = [v for v in items if not isinstance(v, Tensor)]
    if others:
        raise ParseError(f"expected a list of tensors, got {others[0]!r} among them")
    return items


def _dims(args: tuple) -> list[int]:
    """``permute(0, 2, 1)`` and ``permute((0, 2, 1))`` alike."""
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        return list(args[0])
    return list(args)


class _Steps:
    """The operations a recipe calls, each adding its step through ``tracer``."""

    def __init__(self, tracer: Any) -> None:
        self.tracer = tracer

    def op(self, name: str, inputs: list[Tensor], result: OpResult) -> Tensor:
        return self.tracer.op(name, inputs, result)

    def cat(self, tensors: Any, dim: int = 0) -> Tensor:
        items = _tensors(tensors)
        return self.op("cat", items, cat([t.shape for t in items], dim))

    def flatten(self, x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        return self.op("flatten", [x], flatten(x.shape, start_dim, end_dim))

    def mean(self, x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
        dims = None if dim is None else ([dim] if isinstance(dim, int) else list(dim))
        return self.op("mean", [x], mean(x.shape, dims, keepdim))

    def chunk(self, x: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        axis = check_dim(dim, len(x.shape), "chunk")
        return self.pieces(x, chunk_sizes(x.shape[axis], chunks), dim, "chunk")

    def split(self, x: Tensor, size: Any, dim: int = 0) -> tuple[Tensor, ...]:
        axis = check_dim(dim, len(x.shape), "split")
        total = x.shape[axis]
        if isinstance(size, int) and not isinstance(size, bool) and size >= 1:
            sizes = [min(size, total - s) for s in bounded_range(0, total, size)]
        elif isinstance(size, (list, tuple)) and all(isinstance(s, int) and s >= 0 for s in size):
            sizes = list(size)
        else:
            raise ParseError(f"split: the size must be a whole number >= 1 or a list of sizes >= 0, got {size!r}")
        if sum(sizes) != total:
            raise ParseError(f"split sizes {sizes} do not add up to {total}")
        return self.pieces(x, sizes, dim, "split")

    def amax(self, x: Tensor, dim: Any = None, keepdim: bool = False) -> Tensor:
        dims = None if dim is None else ([dim] if isinstance(dim, int) else list(dim))
        return self.op("amax", [x], amax(x.shape, dims, keepdim))

    def contiguous(self, x: Tensor) -> Tensor:
        """``x.contiguous()``: ``x`` itself where it is contiguous, else a copy, as torch's.
        Where its strides are not followed, ``x`` where it owns its memory, and of a view a
        tensor that may be a copy or ``x``, so that an in-place write over either is not
        followed into the other."""
        known = x.strides is not None and x.shape is not None
        if (known and is_contiguous(x.shape, x.strides)) or (not known and x.memory == x.id):
            return x
        import numpy as np

        out = self.op("contiguous", [x], OpResult(x.shape, 0, 0, np.ascontiguousarray, view=not known))
        if known:  # torch's copy
            out.strides = contiguous_strides(x.shape)
        return out

    def max(self, x: Tensor, dim: Any = _NO_DIM, keepdim: Any = _NO_DIM) -> Any:
        """``x.max()``: the largest value; ``x.max(dim)``: (values, indices), whose indices a
        recipe cannot use (they are integers no step computes)."""
        if dim is _NO_DIM:
            if keepdim is not _NO_DIM:
                raise ParseError("max(keepdim=...) needs a dim, as torch's does")
            return self.amax(x)
        keepdim = False if keepdim is _NO_DIM else keepdim
        if isinstance(dim, Tensor):
            raise ParseError("max of two tensors (torch.maximum) is not part of the recipe notation")
        if not isinstance(dim, int) or isinstance(dim, bool):
            raise ParseError(f"max(dim) takes one dim, as torch's does, got {dim!r}; amax takes several")
        return MaxResult((self.amax(x, dim, keepdim), _NoIndices()))

    def bmm(self, a: Tensor, b: Tensor) -> Tensor:
        """``torch.bmm``: a matmul of two 3-D tensors with the same batch (no broadcasting)."""
        a, b = _tensors([a, b])
        if a.shape is not None and b.shape is not None and (len(a.shape) != 3 or len(b.shape) != 3 or a.shape[0] != b.shape[0]):
            raise ParseError(f"torch.bmm takes two 3-D tensors with the same batch, got {list(a.shape)} and {list(b.shape)}")
        return self.tracer.binary_op("matmul", a, b)

    def pieces(self, x: Tensor, sizes: list[int], dim: int, name: str) -> tuple[Tensor, ...]:
        out, start = [], 0
        for length in sizes:
            out.append(self.op(name, [x], narrow(x.shape, dim, start, length)))
            start += length
        return tuple(out)

    def method(self, x: Tensor, attr: str) -> Any:
        """``x.<attr>``: a tensor's shape, or one of its methods bound to ``x``."""
        shape, op, call = x.shape, self.op, self.tracer.functional
        table: dict[str, Any] = {
            "permute": lambda *d: op("permute", [x], permute(shape, _dims(d))),
            "transpose": lambda a, b: op("transpose", [x], transpose(shape, a, b)),
            "reshape": lambda *d: op("reshape", [x], reshape(shape, _dims(d))),
            "view": lambda *d: op("view", [x], reshape(shape, _dims(d), "view")),
            "flatten": lambda start_dim=0, end_dim=-1: self.flatten(x, start_dim, end_dim),
            "mean": lambda dim=None, keepdim=False: self.mean(x, dim, keepdim),
            "amax": lambda dim=None, keepdim=False: self.amax(x, dim, keepdim),
            "max": lambda *args, **kwargs: self.max(x, *args, **kwargs),
            "chunk": lambda chunks, dim=0: self.chunk(x, chunks, dim),
            "split": lambda size, dim=0: self.split(x, size, dim),
            "narrow": lambda dim, start, length: op("narrow", [x], narrow(shape, dim, start, length)),
            "unsqueeze": lambda d: op("unsqueeze", [x], reshape(shape, _unsqueezed(shape, d))),
            "squeeze": lambda dim=None: op("squeeze", [x], reshape(shape, _squeezed(shape, dim))),
            "expand": lambda *d: op("expand", [x], expand(shape, _dims(d))),
            "expand_as": lambda other: op("expand", [x], expand(shape, list(_tensors([other])[0].shape))),
            "contiguous": lambda: self.contiguous(x),
            "size": lambda d=None: shape if d is None else shape[d],
            "dim": lambda: len(shape),
            "sigmoid": lambda: call("sigmoid", [x], {}),
            "tanh": lambda: call("tanh", [x], {}),
            "relu": lambda: call("relu", [x], {}),
            "softmax": lambda dim: call("softmax", [x], {"dim": dim}),
        }
        if attr == "shape":
            return shape
        if attr == "ndim":
            return len(shape)
        if attr not in table:
            raise ParseError(f"tensor.{attr} is not part of the recipe notation")
        return table[attr]

    def torch(self) -> Namespace:
        tracer = self.tracer
        return Namespace("torch", {
            "cat": self.cat, "concat": self.cat, "flatten": self.flatten, "mean": self.mean,
            "chunk": self.chunk, "split": self.split,
            "matmul": lambda a, b: tracer.binary_op("matmul", a, b),
            "add": lambda a, b: tracer.binary_op("add", a, b),
            "mul": lambda a, b: tracer.binary_op("mul", a, b),
            "permute": lambda x, dims: self.method(x, "permute")(dims),
            "transpose": lambda x, a, b: self.method(x, "transpose")(a, b),
            "bmm": self.bmm, "amax": self.amax, "max": self.max,
            "squeeze": lambda x, dim=None: self.method(x, "squeeze")(dim),
            "unsqueeze": lambda x, dim: self.method(x, "unsqueeze")(dim),
            "sigmoid": lambda x: tracer.functional("sigmoid", [x], {}),
            "tanh": lambda x: tracer.functional("tanh", [x], {}),
            "relu": lambda x: tracer.functional("relu", [x], {}),
            "softmax": lambda x, dim: tracer.functional("softmax", [x], {"dim": dim}),
            "Tensor": TENSOR,
        })


class _NoIndices:
    """The indices ``x.max(dim)`` also returns: a recipe may unpack them, not use them."""

    def __repr__(self) -> str:
        return "the indices of max(dim), which a recipe cannot use (take [0], the values)"


class MaxResult(tuple):
    """``x.max(dim)``: ``(values, indices)``, also as ``.values`` and ``.indices``."""

    def member(self, attr: str) -> Any:
        if attr in ("values", "indices"):
            return self[attr == "indices"]
        raise ParseError(f"max(dim)'s result has values and indices, not {attr!r}")


class DeclaredLayer:
    """``nn.<Layer>(...)`` in a recipe's ``__init__``: the layer a printed child stands for, when
    the text does not show its arguments (nn.MultiheadAttention's num_heads)."""

    def __init__(self, name: str, args: tuple, kwargs: dict[str, Any]) -> None:
        from ..layers.build import positional_names
        from ..registry import lookup
        from ..spec.nodes import LayerNode, Source, build_at

        cls = lookup(name)
        given = {**dict(zip(positional_names(cls), args)), **kwargs}
        source = Source(1, 1, f"nn.{name}")
        self.node = LayerNode(cls, given, source, {}, {}, build_at(cls, given, source))


def vocabulary(tracer: Any) -> dict[str, Any]:
    """The global names of a recipe, bound to ``tracer``."""
    steps = _Steps(tracer)
    return {
        "torch": steps.torch(),
        "F": Namespace("F", {}, lambda name: lambda *a, **k: tracer.functional(name, list(a), k)),
        "Tensor": TENSOR,
        "nn": Namespace("nn", {}, lambda name: lambda *a, **k: DeclaredLayer(name, a, k)),
        "channel_shuffle": lambda x, groups: steps.op("channel_shuffle", [x], channel_shuffle(x.shape, groups)),
        "Parameter": lambda *dims: Marker("Parameter", _flat_dims(dims)),
        "Buffer": lambda *dims: Marker("Buffer", _flat_dims(dims)),
        "len": tracer.length, "range": bounded_range, "list": list, "tuple": tuple, "int": int, "min": min, "max": max,
        "str": str, "dict": dict,
        "enumerate": lambda items, start=0: enumerate(_items(tracer, items), start),
        "zip": lambda *items: zip(*(_items(tracer, each) for each in items)),
        "isinstance": lambda value, kind: isinstance(value, Tensor) if kind is TENSOR else False,
        "__tensor_method__": steps.method,
        "assume": lambda message: tracer.assume_in_recipe(str(message)),
        "note": lambda message: tracer.note_in_recipe(str(message)),
        "stride_of": tracer.stride_of,
        "module_name": lambda module: module.path.rsplit(".", 1)[-1],
        "type_name": _type_name,
        "first_with_channels": first_with_channels,
    }


def _type_name(module: Any) -> str:
    """``type_name(self.bn2.act)``: the class a child prints as (``"Identity"``), for a recipe
    whose forward depends on which class a child is.

    >>> from convcalc.spec.nodes import ModuleNode, Source
    >>> _type_name(ModuleRef(ModuleNode("SqueezeExcite", [], Source(1, 1, "")), "se", 1, ()))
    'SqueezeExcite'
    """
    if isinstance(module, Absent):
        raise ParseError(module.message())
    node = getattr(module, "node", None) if isinstance(module, ModuleRef) else None
    if node is None:
        raise ParseError(f"type_name takes a module (self.<child>), got {type(module).__name__}")
    return node.type_name if hasattr(node, "type_name") else node.cls.__name__


class _TensorType:
    """``Tensor`` / ``torch.Tensor`` in a recipe: only for ``isinstance(x, Tensor)``."""

    def __repr__(self) -> str:
        return "Tensor"


TENSOR = _TensorType()


def bounded_range(*args: int) -> range:
    """``range`` of at most 10,000 numbers (a recipe loops over children, not over data)."""
    if not all(isinstance(a, int) and not isinstance(a, bool) for a in args):
        raise ParseError("range takes whole numbers")
    values = range(*args)
    if len(values) > 10_000:
        raise ParseError(f"range of {len(values)} numbers; a recipe may loop over at most 10000")
    return values


def first_with_channels(outputs: dict, channels: int) -> Tensor:
    """The first of a backbone's outputs (in order) with ``channels`` channels."""
    for value in outputs.values():
        if isinstance(value, Tensor) and value.shape is not None and len(value.shape) > 1 and value.shape[1] == channels:
            return value
    found = sorted({v.shape[1] for v in outputs.values() if isinstance(v, Tensor) and v.shape and len(v.shape) > 1})
    raise ParseError(f"no backbone output has {channels} channels (they have {found})")


def _items(tracer: Any, value: Any) -> Any:
    """What ``enumerate``/``zip`` go over: a module's children (``enumerate(self.blocks)``), or
    a list, tuple or range as it is; a tensor is refused (its rows are not traced one by one)."""
    if isinstance(value, ModuleRef):
        return [tracer.child_ref(value, name) for name, _ in getattr(value.node, "children", [])]
    if isinstance(value, Tensor):
        raise ParseError("enumerate and zip go over children and lists, not a tensor's rows")
    return value


def _flat_dims(dims: tuple) -> tuple[int, ...]:
    return tuple(_dims(dims))


def _unsqueezed(shape: tuple[int, ...], dim: int) -> tuple[int, ...]:
    rank = len(shape) + 1
    axis = check_dim(dim, rank, "unsqueeze")
    return tuple(shape[:axis]) + (1,) + tuple(shape[axis:])


def _squeezed(shape: tuple[int, ...], dim: Any) -> tuple[int, ...]:
    """``shape`` less its size-1 dims (all, or those of ``dim``, an int or a tuple: a listed dim
    of another size stays, as in torch).

    >>> _squeezed((2, 1, 3, 1), None), _squeezed((2, 1, 3, 1), 1), _squeezed((2, 1, 3, 1), (0, -1))
    ((2, 3), (2, 3, 1), (2, 1, 3))
    """
    if dim is None:
        return tuple(size for size in shape if size != 1)
    axes = {check_dim(d, max(len(shape), 1), "squeeze") for d in ([dim] if isinstance(dim, int) else dim)}
    return tuple(size for axis, size in enumerate(shape) if not (axis in axes and size == 1))
