"""The layer half of the tracer: building a layer for the shape reaching it, measuring it
(output shape, MACs, FLOPs, receptive field) once per layer and shape, and adding its step."""

from __future__ import annotations

import inspect
from typing import Any

from ..errors import ConvcalcError, ParseError, ShapeError, did_you_mean
from ..layers.base import Layer, Shape, prod
from ..shapes import format_shape
from ..spec.nodes import LayerNode, build_at, locate
from .graph import Scope, Step, Tensor, join_path
from .layout import is_contiguous, probed_strides, view_strides
from .receptive import RF, rf_through

_MISSING = object()
MAX_TRACE_STEPS = 200_000  # layers and operations one trace may hold


class LayerSteps:
    """Steps, call numbering, notes and the layer steps of a trace (see ``_Tracer``)."""

    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.notes: dict[str, list[str]] = {}
        self.calls: dict[str, int] = {}  # step name -> how many steps of that name so far
        self.ran: set[str] = set()  # paths of the modules that have run
        self.built: dict[tuple[int, tuple], Layer] = {}
        self.built_for: dict[tuple[int, int, Shape | None], Layer] = {}
        self.built_layers: dict[str, Layer] = {}  # module path -> the layer it ran as
        self.expanded: set[int] = set()  # tensors that are expand()ed views: torch refuses to write over them
        # (layer, input shape, forward kwargs) -> (output shape, MACs, FLOPs, size rules)
        self.results: dict[tuple, tuple[Shape, int, int, list]] = {}
        self.layers: list[Layer] = []  # keeps built layers alive, so their ids stay unique
        self.noted_extras: set[int] = set()
        self.known_parents: set[str] = set()  # modules run by a built-in recipe: their children's arguments known

    def tensor(self, shape: Shape | None, rf: Any, storage: int | None = None, alias: int | None = None,
               strides: tuple[int, ...] | None | bool = True) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def assume(self, message: str, name: str, type_name: str, how: str = "",
               shapes: bool = True) -> None:  # pragma: no cover
        raise NotImplementedError

    def maybe_flatten(self, layer: Layer, node: LayerNode, path: str, depth: int,
                      scopes: tuple[Scope, ...], x: Tensor) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def append(self, step: Step) -> None:
        """Add a step, numbering the calls of its name (a module run twice, two flattens
        inserted under one parent), so every call's activation has a key of its own."""
        step.call = self.calls[step.name] = self.calls.get(step.name, 0) + 1
        self.steps.append(step)
        if len(self.steps) > MAX_TRACE_STEPS:
            raise ParseError(f"the forward pass has over {MAX_TRACE_STEPS:,} steps; convcalc stops there")

    def shared_tensor(self, x: Tensor, shape: Shape | None, rf: Any, storage: int | None, writes: str = "",
                      strides: tuple[int, ...] | None = None) -> Tensor:
        """A result on ``x``'s memory in torch (a view, or ``writes``: written over it in place,
        which torch refuses for an ``expand()``ed tensor, several elements sharing one cell);
        ``storage`` is the one the memory figures count."""
        if writes and x.id in self.expanded:
            raise ShapeError(f"{writes} on an expanded tensor: torch refuses to write over one (several elements "
                             "share a cell); expand after it, or write the result to a new tensor")
        out = self.tensor(shape, rf, storage, x.memory, x.strides if writes else strides)
        if x.id in self.expanded:
            self.expanded.add(out.id)
        return out

    def view_tensor(self, what: str, x: Tensor, shape: Shape | None, rf: Any, view: Any = None,
                    regroups: str = "") -> Tensor:
        """The result of a view of ``x``: ``view`` (a NumPy forward that only rearranges
        strides), or ``regroups`` its elements (``reshape``: a copy where torch cannot view them
        so; ``view``: refused there, as torch refuses it); neither: ``x`` as it is. Where
        ``x``'s strides are not followed, a regrouping of a view is counted as a copy, and may
        share ``x``'s memory."""
        if x.strides is None or x.shape is None or shape is None:
            copied = regroups and x.storage != x.id
            return self.shared_tensor(x, shape, rf, None if copied else x.storage)
        if not regroups:
            strides = x.strides if view is None else probed_strides(x.shape, x.strides, view)
            return self.shared_tensor(x, shape, rf, x.storage, strides=strides)
        strides = view_strides(x.shape, x.strides, shape)
        if strides is not None:
            return self.shared_tensor(x, shape, rf, x.storage, strides=strides)
        if regroups == "view":
            raise ShapeError(f"{what} {format_shape(x.shape)} as {format_shape(shape)}: its elements do not lie so in "
                             f"memory (strides {list(x.strides)}, after a permute, transpose or slice), and torch's "
                             "view refuses it; use .reshape(...), which copies, or .contiguous() first")
        return self.tensor(shape, rf)  # a copy, as torch's reshape makes one

    def new_tensor(self, inputs: Any, shape: Shape | None, rf: Any) -> Tensor:
        """A tensor of its own: contiguous where its inputs are, else with strides not followed
        (torch keeps an input's memory order in many operations)."""
        known = all(t.strides is not None and t.shape is not None and is_contiguous(t.shape, t.strides)
                    for t in inputs)
        return self.tensor(shape, rf, strides=True if known else None)

    def note(self, message: str, name: str) -> None:
        names = self.notes.setdefault(message, [])
        if name not in names:  # a module run twice (a trace started again) is named once
            names.append(name)

    def build(self, node: LayerNode, path: str, x: Tensor) -> Layer:
        if node.layer is not None:
            return node.layer
        # Statements parsed from the same text share their kwargs dict: build once per shape.
        built_key = (id(node.cls), id(node.kwargs), x.shape)
        cached = self.built_for.get(built_key)
        if cached is not None:
            return cached
        kwargs = node.kwargs if x.shape is None else {**node.cls.infer_args(x.shape), **node.kwargs}
        key = (id(node.cls), tuple(sorted((k, hashable(v)) for k, v in kwargs.items())))
        layer = self.built.get(key)
        if layer is None:
            layer = build_at(node.cls, kwargs, node.source, x.shape, path)
            self.built[key] = layer
        self.built_for[built_key] = layer
        return layer

    def run_layer(self, node: LayerNode, path: str, depth: int, scopes: tuple[Scope, ...], x: Tensor,
                  functional: bool = False) -> Tensor:
        layer = self.build(node, path, x)
        type_name = type(layer).__name__
        notes = self.ignored_extras(node, layer, path)
        if x.shape is not None:
            x = self.maybe_flatten(layer, node, path, depth, scopes, x)
            try:
                out_shape, macs, flops, rf = self.measure(layer, node, path, x, notes)
            except ShapeError as exc:
                rescue = layer.unstated_rescue(node.unstated, x.shape) if node.unstated else None
                if rescue is not None and path.rpartition(".")[0] not in self.known_parents:
                    exc.args = (f"{exc.args[0]} ({rescue})", *exc.args[1:])
                features = getattr(layer, "in_features", None)
                if isinstance(features, int) and len(x.shape) >= 3 and x.shape[1] == features != x.shape[-1]:
                    exc.channels_first = True  # type: ignore[attr-defined]  # its block moves them last itself
                read_as = next((a for a in self.assumptions if a.module == path and a.message.startswith(
                    (f"{a.type_name} read as nn.{type_name}:", f"{a.type_name}() prints no arguments"))), None)
                if read_as is not None:  # the layer it was taken for is the likelier mistake than its input
                    problem = str(exc.args[0]).split("; ")[0]  # not the layer's own fix: the layer may be wrong
                    exc.args = (f"{problem}. {path} is a {read_as.type_name}, read as nn.{type_name} by its name and "
                                f"printed arguments, and its own forward may well take this input: declare it",
                                *exc.args[1:])
                    exc.assumed_leaf = True  # type: ignore[attr-defined]
                raise
            if node.unstated and path.rpartition(".")[0] not in self.known_parents:
                for message, shapes in layer.unstated(node.unstated, x.shape):
                    self.assume(message, path, type_name, shapes=shapes)
            if not self.steps and layer.batch_optional and len(x.shape) == layer.nd + 1:  # the network's input
                self.note(f"the input {list(x.shape)} has no batch dim: {type_name} reads it as one sample, as torch "
                          f"does; give {[1, *x.shape]} for a batch of one", path)
        else:
            out_shape, macs, flops, rf = None, None, None, None
        shares = layer.shares_input() and (out_shape is None or x.shape is None or prod(out_shape) == prod(x.shape))
        if shares and layer.output_is_view:
            out = self.view_tensor(type_name, x, out_shape, rf, regroups="reshape" if layer.regroups else "")
        elif shares:
            out = self.shared_tensor(x, out_shape, rf, x.storage, f"{type_name}(inplace=True)")
        else:
            out = self.new_tensor([x], out_shape, rf)
        first = path not in self.ran
        self.ran.add(path)
        if not functional:
            self.built_layers.setdefault(path, layer)
        # a layer subclass's own forward calling its base layer (``super().forward(x)``): a step
        # inside the module, whose own output is what its forward returns
        base = bool(self.context) and self.context[-1][0] == path and not self.context[-1][3] and not functional
        self.append(Step("layer", join_path(path, "super") if base else path, type_name, depth, scopes, (x,), out,
                         layer, node.source, node.forward_kwargs, macs, flops, first, tuple(notes),
                         functional=functional, owner=path if base else None))
        for note in notes:
            self.note(note, path)
        return out

    def ignored_extras(self, node: LayerNode, layer: Layer, path: str) -> list[str]:
        """Notes on the printed keywords convcalc's layer ignores (noted once per statement);
        a ParseError for a keyword torch's constructor would refuse too."""
        notes: list[str] = []
        if not node.extras or id(node) in self.noted_extras:
            return notes
        self.noted_extras.add(id(node))
        type_name = type(layer).__name__
        for key, value in node.extras.items():
            printed = getattr(layer, key, _MISSING)
            if printed is _MISSING and not _takes_keyword(type(layer), key):
                names = [spec.name for spec in type(layer).arg_specs()]
                raise locate(
                    ParseError(
                        f"unexpected keyword argument {key}={value!r} (nn.{type_name} raises "
                        f"TypeError for it too){did_you_mean(key, names) or '; remove it'}"
                    ),
                    node.source, path, type_name,
                )
            if not _same(printed, value):
                why = "torch's private argument" if key.startswith("_") else f"not an argument of nn.{type_name}"
                notes.append(f"{type_name}: ignored {key}={value!r} ({why})")
        return notes

    def measure(self, layer: Layer, node: LayerNode, path: str, x: Tensor, notes: list[str]) -> tuple[Shape, int, int, RF | None]:
        """Output shape, MACs, FLOPs and receptive field of ``layer`` on ``x`` (whose shape is
        known), computed once per layer, input shape and forward arguments."""
        in_shape = x.shape
        assert in_shape is not None
        key = (id(layer), in_shape, hashable(node.forward_kwargs) if node.forward_kwargs else None)
        result = self.results.get(key)
        if result is None:
            result = self.compute(layer, node, path, in_shape)
            self.results[key] = result
            self.layers.append(layer)
        out_shape, macs, flops, rules = result
        if "in_features" not in node.kwargs and hasattr(layer, "in_features") and len(in_shape) > 2:
            notes.append(
                f"{type(layer).__name__} acts on the last dim only (in_features={in_shape[-1]} inferred "
                f"from {format_shape(in_shape)}); write `flatten` before it to classify the whole feature map"
            )
        return out_shape, macs, flops, rf_through(layer, rules, x.rf, in_shape, out_shape)

    def compute(self, layer: Layer, node: LayerNode, path: str, in_shape: Shape) -> tuple[Shape, int, int, list]:
        type_name = type(layer).__name__
        try:
            out_shape = tuple(layer.output_shape(in_shape, **node.forward_kwargs))
            macs = layer.macs(in_shape, **node.forward_kwargs)
            flops = layer.flops(in_shape, **node.forward_kwargs)
            rules = layer.size_rules(in_shape)
        except ConvcalcError as exc:
            raise locate(_explain(exc, layer, in_shape), node.source, path, type_name) from None
        return out_shape, macs, flops, rules


def _explain(exc: ConvcalcError, layer: Layer, shape: Shape) -> ConvcalcError:
    """A better message for the commonest mismatch: a classifier fed the wrong feature map."""
    features = getattr(layer, "in_features", None)
    if isinstance(features, int) and isinstance(exc, ShapeError) and len(shape) > 2 and shape[-1] != features:
        flat = prod(shape[1:])
        return ShapeError(
            f"{type(layer).__name__} expects {features} features but receives {format_shape(shape)} "
            f"({' · '.join(map(str, shape[1:]))} = {flat} when flattened); the layers before it "
            f"produce a different size than in_features={features}: set in_features={flat}, or check "
            "those layers and the input shape (a module called twice in forward, such as a shared "
            "pooling layer, prints only once)"
        )
    return exc


def _takes_keyword(cls: type[Layer], key: str) -> bool:
    """Whether torch's constructor accepts ``key`` although convcalc's layer ignores it: any
    keyword for a ``**kwargs`` constructor (nn.Identity), and torch's private ``_``-arguments
    (nn.Embedding's ``_weight``, ``_freeze``)."""
    if key.startswith("_"):
        return True
    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values())


def _same(actual: Any, printed: Any) -> bool:
    if actual is _MISSING:
        return False
    if isinstance(actual, (tuple, list)) and not isinstance(printed, (tuple, list)):
        return all(_same(a, printed) for a in actual)
    if isinstance(actual, (tuple, list)) and isinstance(printed, (tuple, list)):
        return len(actual) == len(printed) and all(_same(a, b) for a, b in zip(actual, printed))
    try:
        return bool(actual == printed)
    except Exception:  # pragma: no cover - exotic attribute types
        return False


def elementwise_step(step: Step) -> bool:
    """Whether a step keeps the shape and would work the same on the flattened tensor."""
    layer = step.layer
    if step.kind != "layer" or layer is None or step.inputs[0].shape != step.output.shape:
        return False
    return layer.elementwise


def hashable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, hashable(v)) for k, v in value.items()))
    return value
