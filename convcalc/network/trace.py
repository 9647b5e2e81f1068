"""The trace of a network's forward pass: the flat program of steps (layers, residual adds,
inserted flattens) over tensors that summaries count and execution runs.

How modules run. The spec shows modules, not their ``forward``, so convcalc runs them by these
rules (each application is noted in the summary):

1. ``Sequential``, ``ModuleList``, ``ModuleDict`` and the line form's ``sequential``/``repeat``
   blocks run their children in order.
2. The line form's ``residual { main } [shortcut { branch }]`` computes ``main(x) + branch(x)``,
   the branch being the identity when absent; the two shapes must agree.
3. ``BasicBlock`` and ``Bottleneck`` with torchvision's children run as torchvision runs them:
   ``conv1 bn1 relu conv2 bn2`` (Bottleneck: ``conv1 bn1 relu conv2 bn2 relu conv3 bn3``), then
   ``+ downsample(x)`` (or ``+ x``), then ``relu`` again: the one ``relu`` module runs twice.
4. Any other module with a child named ``downsample`` or ``shortcut`` runs its other children
   in order on ``x``, that child on ``x``, and adds the two.
5. Any other custom module (not the outermost one) whose children, run in order, keep the
   input's shape, adds its input: ``x + f(x)``, the pattern of residual blocks such as
   MobileNetV2's ``InvertedResidual``. Modules named like plain layer wrappers
   (``ConvBNReLU``, ``Conv2dNormActivation``, ``BasicConv2d``, ``MLP``, ...) are exempt. The
   guess changes no shape or parameter, only the add's FLOPs and the memory figures.
6. Any other custom module runs its children in order.

A ``Linear`` (any layer with ``in_features``) receiving ``[N, C, H, W, ...]`` whose non-batch
dims multiply to ``in_features``, while its last dim does not match, gets a flatten before it
(the ``torch.flatten(x, 1)`` of the model's forward, which print(model) does not show).

Rows are named by module path, as ``state_dict`` keys: ``features.0``, ``layer1.0.conv1``.
The add of a residual block is a row named ``<block>.add`` (type ``add``) and an inserted
flatten a row ``<parent>.flatten`` (type ``flatten``); neither has parameters.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Sequence

from ..errors import ConvcalcError, ParseError, ShapeError, did_you_mean
from ..layers.base import Layer, Shape, prod
from ..shapes import format_shape
from ..spec.nodes import SEQUENTIAL_TYPES, LayerNode, ModuleNode, Node, Source, build_at, locate
from .receptive import RF, rf_max, rf_through

SHORTCUT_NAMES = ("downsample", "shortcut")

# torchvision's block forwards, by the names of their children.
TORCHVISION_BLOCKS = {
    "BasicBlock": (("conv1", "bn1", "relu", "conv2", "bn2"), ("relu",)),
    "Bottleneck": (("conv1", "bn1", "relu", "conv2", "bn2", "relu", "conv3", "bn3"), ("relu",)),
}

# Custom modules that only chain layers (rule 5's exemptions): conv-norm-activation wrappers.
PLAIN_WRAPPER = re.compile(
    r"norm.?act|conv.?(bn|norm|relu|act)|bn.?(act|relu)|basicconv|^mlp$|^sequential", re.IGNORECASE
)


@dataclass(eq=False)
class Tensor:
    """A value flowing through the network. ``storage`` is shared by in-place results and views."""

    id: int
    shape: Shape | None
    storage: int
    rf: RF | None


@dataclass(eq=False)
class Scope:
    """One run of a container module: its path, type and depth (the root's children are 1)."""

    path: str
    type_name: str
    depth: int
    source: Source
    input: Tensor | None = None
    output: Tensor | None = None
    first_step: int = 0  # index of its first step in the trace


@dataclass(eq=False)
class Step:
    """One operation of the forward pass: a layer, a residual add or an inserted flatten."""

    kind: str  # "layer", "add", "flatten"
    name: str
    type_name: str
    depth: int
    scopes: tuple[Scope, ...]
    inputs: tuple[Tensor, ...]
    output: Tensor
    layer: Layer | None = None
    source: Source | None = None
    forward_kwargs: dict[str, Any] = field(default_factory=dict)
    macs: int | None = None
    flops: int | None = None
    first_call: bool = True  # False when this module already ran (BasicBlock's relu)
    notes: tuple[str, ...] = ()
    call: int = 1  # 2 when a step of this name already ran (the relu's second call), ...

    @property
    def key(self) -> str:
        """The name of this call: the module path, with ``#2``, ``#3``, … for later calls."""
        return call_key(self.name, self.call)


def _takes_keyword(cls: type[Layer], key: str) -> bool:
    """Whether torch's constructor accepts ``key`` although convcalc's layer ignores it: any
    keyword for a ``**kwargs`` constructor (nn.Identity), and torch's private ``_``-arguments
    (nn.Embedding's ``_weight``, ``_freeze``)."""
    if key.startswith("_"):
        return True
    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values())


def call_key(name: str, call: int) -> str:
    """``name`` for a module's first call, ``name#k`` for its k-th (activations, statistics).

    >>> call_key("layer1.0.relu", 1), call_key("layer1.0.relu", 2)
    ('layer1.0.relu', 'layer1.0.relu#2')
    """
    return name if call == 1 else f"{name}#{call}"


@dataclass
class Trace:
    """The forward pass as a flat program of steps over tensors (for summaries and execution)."""

    input: Tensor
    output: Tensor
    steps: list[Step]
    notes: list[str]


class _Container(NamedTuple):
    """A container module being run: its children, and the scopes they run in."""

    node: ModuleNode
    children: dict[str, Node]
    path: str
    depth: int
    scopes: tuple[Scope, ...]


class _Restart(Exception):
    """Trace again, flattening at the entry of the container ``path`` (see ``maybe_flatten``)."""

    def __init__(self, path: str) -> None:
        self.path = path


class _Tracer:
    def __init__(self, input_shape: Shape | None, flatten_at: frozenset[str] = frozenset()) -> None:
        self.flatten_at = flatten_at
        self.steps: list[Step] = []
        self.notes: dict[str, list[str]] = {}
        self.next_id = 0
        self.calls: dict[str, int] = {}  # step name -> how many steps of that name so far
        self.ran: set[str] = set()  # paths of the modules that have run (their parameters count once)
        self.built: dict[tuple[int, tuple], Layer] = {}
        self.built_for: dict[tuple[int, int, Shape], Layer] = {}
        # (layer, input shape, forward kwargs) -> (output shape, MACs, FLOPs, size rules)
        self.results: dict[tuple, tuple[Shape, int, int, list]] = {}
        self.layers: list[Layer] = []  # keeps built layers alive, so their ids stay unique
        self.noted_extras: set[int] = set()

    def append(self, step: Step) -> None:
        """Add a step, numbering the calls of its name (a module run twice, two flattens
        inserted under one parent), so every call's activation has a key of its own."""
        step.call = self.calls[step.name] = self.calls.get(step.name, 0) + 1
        self.steps.append(step)

    def tensor(self, shape: Shape | None, rf: RF | None, storage: int | None = None) -> Tensor:
        self.next_id += 1
        return Tensor(self.next_id, shape, self.next_id if storage is None else storage, rf)

    def note(self, message: str, name: str) -> None:
        self.notes.setdefault(message, []).append(name)

    # -- modules --

    def run(
        self,
        node: Node,
        path: str,
        depth: int,
        scopes: tuple[Scope, ...],
        x: Tensor,
        root: bool = False,
    ) -> Tensor:
        if isinstance(node, LayerNode):
            return self.run_layer(node, path, depth, scopes, x)
        return self.run_module(node, path, depth, scopes, x, root)

    def run_module(
        self,
        node: ModuleNode,
        path: str,
        depth: int,
        scopes: tuple[Scope, ...],
        x: Tensor,
        root: bool,
    ) -> Tensor:
        if path in self.flatten_at and x.shape is not None and len(x.shape) > 2:
            x = self.flatten(x, _parent(path), depth, scopes, node.source, path)
        scope = Scope(path, node.type_name, depth, node.source, input=x, first_step=len(self.steps))
        module = _Container(node, dict(node.children), path, depth, scopes if root else scopes + (scope,))
        names = [name for name, _ in node.children]
        block = TORCHVISION_BLOCKS.get(node.type_name)
        shortcut = node.shortcut_name
        if shortcut is None and node.type_name not in SEQUENTIAL_TYPES and not node.residual:
            shortcut = next((n for n in names if n in SHORTCUT_NAMES), None)
        if node.residual:
            main = self.chain(module, [n for n in names if n != shortcut], x)
            branch = self.child(module, shortcut, x) if shortcut else x
            y = self.add(main, branch, module, shortcut)
        elif block is not None and set(names) - {"downsample"} == set(block[0]):
            y = self.run_torchvision_block(module, block, x)
        elif shortcut is not None:
            y = self.run_with_shortcut(module, names, shortcut, x)
        else:
            y = self.run_children(module, names, x, root)
        scope.output = y
        return y

    def child(self, module: _Container, name: str, x: Tensor) -> Tensor:
        """Run the child ``name`` of ``module`` on ``x``."""
        return self.run(module.children[name], _join(module.path, name), module.depth + 1, module.scopes, x)

    def chain(self, module: _Container, names: Sequence[str], x: Tensor) -> Tensor:
        """Run the children ``names`` of ``module`` one after the other, starting from ``x``."""
        for name in names:
            x = self.child(module, name, x)
        return x

    def run_torchvision_block(
        self, module: _Container, block: tuple[tuple[str, ...], tuple[str, ...]], x: Tensor
    ) -> Tensor:
        """Rule 3: torchvision's forward of a BasicBlock or Bottleneck."""
        type_name = module.node.type_name
        downsample = "downsample" in module.children
        main = self.chain(module, block[0], x)
        branch = self.child(module, "downsample", x) if downsample else x
        order = " → ".join(block[0])
        note = (
            f"{type_name} run as torchvision runs it: {order}, + "
            f"{'downsample(x)' if downsample else 'x'}, relu (its relu runs twice)"
        )
        y = self.add(main, branch, module, "downsample" if downsample else None, note)
        return self.chain(module, block[1], y)

    def run_with_shortcut(self, module: _Container, names: Sequence[str], shortcut: str, x: Tensor) -> Tensor:
        """Rule 4: the other children in order, plus the ``downsample``/``shortcut`` child on ``x``."""
        main = self.chain(module, [n for n in names if n != shortcut], x)
        branch = self.child(module, shortcut, x)
        note = (
            f"{module.node.type_name}: has a `{shortcut}` child, so it is run as a residual block: "
            f"its other children in order, plus {shortcut}(x)"
        )
        return self.add(main, branch, module, shortcut, note)

    def run_children(self, module: _Container, names: Sequence[str], x: Tensor, root: bool) -> Tensor:
        """Rules 1, 5 and 6: the children in order, plus ``x`` where a custom module keeps its shape."""
        node = module.node
        y = self.chain(module, names, x)
        if (
            not root
            and node.type_name not in SEQUENTIAL_TYPES
            and not PLAIN_WRAPPER.search(node.type_name)
            and y.shape is not None
            and y.shape == x.shape
            and y is not x
        ):
            note = (
                f"{node.type_name}: a custom module that keeps its input's shape "
                f"{format_shape(x.shape)} is taken to be residual (x + f(x)); this adds one "
                "add and keeps x alive"
            )
            y = self.add(y, x, module, None, note)
        elif node.type_name in ("ModuleList", "ModuleDict") and len(names) > 0:
            self.note(
                f"{node.type_name} children run in order (a {node.type_name} has no forward of its own)",
                module.path or node.type_name,
            )
        return y

    def add(
        self, main: Tensor, branch: Tensor, module: _Container, branch_name: str | None, note: str | None = None
    ) -> Tensor:
        """The residual add of ``module``: ``main + branch``, whose shapes must agree."""
        node = module.node
        label = module.path or "the network"
        if main.shape is not None and branch.shape is not None and main.shape != branch.shape:
            what = (
                f"the {branch_name} branch" if branch_name else "the identity shortcut (its input)"
            )
            fix = (
                f"make {branch_name} produce {format_shape(main.shape)}"
                if branch_name
                else "add a shortcut that maps the input to that shape, e.g. "
                "`} shortcut { conv2d --out C -k 1 -s S }`, or a downsample child"
            )
            raise locate(
                ShapeError(
                    f"residual block {label} ({node.type_name}): its main path gives "
                    f"{format_shape(main.shape)} but {what} gives {format_shape(branch.shape)}; "
                    f"the add needs equal shapes; {fix}"
                ),
                node.source,
            )
        out = self.tensor(main.shape, rf_max(main.rf, branch.rf))
        flops = prod(out.shape) if out.shape is not None else None
        self.append(
            Step(
                "add",
                _join(module.path, "add"),
                "add",
                module.depth + 1,
                module.scopes,
                (main, branch),
                out,
                source=node.source,
                macs=0 if flops is not None else None,
                flops=flops,
                notes=(note,) if note else (),
            )
        )
        if note:
            self.note(note, label)
        return out

    # -- layers --

    def build(self, node: LayerNode, path: str, x: Tensor) -> Layer:
        if node.layer is not None:
            return node.layer
        # Statements parsed from the same text share their kwargs dict: build once per shape.
        built_key = (id(node.cls), id(node.kwargs), x.shape)
        cached = self.built_for.get(built_key)
        if cached is not None:
            return cached
        kwargs = node.kwargs if x.shape is None else {**node.cls.infer_args(x.shape), **node.kwargs}
        key = (id(node.cls), tuple(sorted((k, _hashable(v)) for k, v in kwargs.items())))
        layer = self.built.get(key)
        if layer is None:
            layer = build_at(node.cls, kwargs, node.source, x.shape, path)
            self.built[key] = layer
        self.built_for[built_key] = layer
        return layer

    def run_layer(
        self, node: LayerNode, path: str, depth: int, scopes: tuple[Scope, ...], x: Tensor
    ) -> Tensor:
        layer = self.build(node, path, x)
        type_name = type(layer).__name__
        notes = self.ignored_extras(node, layer, path)
        if x.shape is not None:
            x = self.maybe_flatten(layer, node, path, depth, scopes, x)
            out_shape, macs, flops, rf = self.measure(layer, node, path, x, notes)
        else:
            out_shape, macs, flops, rf = None, None, None, None
        storage = (
            x.storage
            if layer.shares_input()
            and (out_shape is None or x.shape is None or prod(out_shape) == prod(x.shape))
            else None
        )
        out = self.tensor(out_shape, rf, storage)
        first = path not in self.ran
        self.ran.add(path)
        self.append(
            Step(
                "layer",
                path,
                type_name,
                depth,
                scopes,
                (x,),
                out,
                layer,
                node.source,
                node.forward_kwargs,
                macs,
                flops,
                first,
                tuple(notes),
            )
        )
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
                    node.source,
                    path,
                    type_name,
                )
            if not _same(printed, value):
                why = "torch's private argument" if key.startswith("_") else f"not an argument of nn.{type_name}"
                notes.append(f"{type_name}: ignored {key}={value!r} ({why})")
        return notes

    def measure(
        self, layer: Layer, node: LayerNode, path: str, x: Tensor, notes: list[str]
    ) -> tuple[Shape, int, int, RF | None]:
        """Output shape, MACs, FLOPs and receptive field of ``layer`` on ``x`` (whose shape is
        known), computed once per layer, input shape and forward arguments."""
        in_shape = x.shape
        assert in_shape is not None
        key = (
            id(layer),
            in_shape,
            _hashable(node.forward_kwargs) if node.forward_kwargs else None,
        )
        result = self.results.get(key)
        if result is None:
            result = self.compute(layer, node, path, in_shape)
            self.results[key] = result
            self.layers.append(layer)
        out_shape, macs, flops, rules = result
        if (
            "in_features" not in node.kwargs
            and hasattr(layer, "in_features")
            and len(in_shape) > 2
        ):
            notes.append(
                f"{type(layer).__name__} acts on the last dim only (in_features={in_shape[-1]} inferred "
                f"from {format_shape(in_shape)}); write `flatten` before it to classify the "
                "whole feature map"
            )
        return out_shape, macs, flops, rf_through(layer, rules, x.rf, in_shape, out_shape)

    def compute(
        self, layer: Layer, node: LayerNode, path: str, in_shape: Shape
    ) -> tuple[Shape, int, int, list]:
        type_name = type(layer).__name__
        try:
            out_shape = tuple(layer.output_shape(in_shape, **node.forward_kwargs))
            macs = layer.macs(in_shape, **node.forward_kwargs)
            flops = layer.flops(in_shape, **node.forward_kwargs)
            rules = layer.size_rules(in_shape)
        except ConvcalcError as exc:
            raise locate(self.explain(exc, layer, in_shape), node.source, path, type_name) from None
        return out_shape, macs, flops, rules

    def maybe_flatten(
        self,
        layer: Layer,
        node: LayerNode,
        path: str,
        depth: int,
        scopes: tuple[Scope, ...],
        x: Tensor,
    ) -> Tensor:
        """Insert the flatten a classifier needs. It goes where the model's forward most likely
        has it: at the entry of the outermost enclosing container whose steps before this layer
        are all element-wise (AlexNet's classifier starts with Dropout), else right here."""
        features = getattr(layer, "in_features", None)
        shape = x.shape
        if (
            not isinstance(features, int)
            or shape is None
            or len(shape) < 3
            or shape[-1] == features
            or prod(shape[1:]) != features
        ):
            return x
        target = None
        for scope in reversed(scopes):
            if all(_elementwise(step) for step in self.steps[scope.first_step :]):
                target = scope
            else:
                break
        if target is not None and target.path not in self.flatten_at:
            raise _Restart(target.path)
        return self.flatten(
            x,
            _parent(path),
            depth,
            scopes,
            node.source,
            f"{path} ({type(layer).__name__}, in_features={features})",
        )

    def flatten(
        self,
        x: Tensor,
        parent: str,
        depth: int,
        scopes: tuple[Scope, ...],
        source: Source,
        before: str,
    ) -> Tensor:
        shape = x.shape
        assert shape is not None
        out = self.tensor((shape[0], prod(shape[1:])), None, x.storage)
        name = _join(parent, "flatten")
        note = (
            f"inserted a flatten {format_shape(shape)} → {format_shape(out.shape)} before {before}, "
            "whose in_features is the product of the incoming non-batch dims (a model's forward "
            "does this with torch.flatten(x, 1), which print(model) does not show)"
        )
        self.append(
            Step(
                "flatten",
                name,
                "flatten",
                depth,
                scopes,
                (x,),
                out,
                source=source,
                macs=0,
                flops=0,
                notes=(note,),
            )
        )
        self.note(note, name)
        return out

    @staticmethod
    def explain(exc: ConvcalcError, layer: Layer, shape: Shape) -> ConvcalcError:
        """A better message for the commonest mismatch: a classifier fed the wrong feature map."""
        features = getattr(layer, "in_features", None)
        if (
            isinstance(features, int)
            and isinstance(exc, ShapeError)
            and len(shape) > 2
            and shape[-1] != features
        ):
            flat = prod(shape[1:])
            return ShapeError(
                f"{type(layer).__name__} expects {features} features but receives {format_shape(shape)} "
                f"({' · '.join(map(str, shape[1:]))} = {flat} when flattened); the layers before it "
                f"produce a different size than in_features={features}: set in_features={flat}, or check "
                "those layers and the input shape (a module called twice in forward, such as a shared "
                "pooling layer, prints only once)"
            )
        return exc


_MISSING = object()


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


def _elementwise(step: Step) -> bool:
    """Whether a step keeps the shape and would work the same on the flattened tensor."""
    layer = step.layer
    if step.kind != "layer" or layer is None or step.inputs[0].shape != step.output.shape:
        return False
    return layer.elementwise


def _parent(path: str) -> str:
    return path.rsplit(".", 1)[0] if "." in path else ""


def _hashable(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return tuple(_hashable(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _hashable(v)) for k, v in value.items()))
    return value


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def trace_network(root: Node, input_shape: Shape | None, parse_notes: Sequence[str] = ()) -> Trace:
    """Run the shapes of ``input_shape`` (None: unknown) through the module tree ``root``;
    the trace's notes are ``parse_notes`` and then the rules applied, each with the modules it
    applied to. Raises a located ConvcalcError on a mismatch."""
    flatten_at: set[str] = set()
    while True:
        tracer = _Tracer(input_shape, frozenset(flatten_at))
        x = tracer.tensor(input_shape, ())
        try:
            y = tracer.run(root, "", 0, (), x, root=True)
            break
        except _Restart as restart:
            flatten_at.add(restart.path)  # each container at most once: this terminates
    notes = list(parse_notes)
    for message, names in tracer.notes.items():
        shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
        notes.append(f"{shown}: {message}")
    return Trace(x, y, tracer.steps, notes)
