"""A network read from a spec: shape propagation, counts, memory and receptive fields.

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
from fractions import Fraction
from typing import Any, NamedTuple, Sequence, Union

from ..arith import ConvRule, FixedRule, PadRule, ScaleRule, TransposedRule, UnpoolRule
from ..errors import ConvcalcError, ParseError, ShapeError
from ..layers.base import Layer, Shape, prod
from ..single.report import dtype_bytes
from ..shapes import format_shape, parse_shape
from ..errors import did_you_mean
from ..spec import parse_spec
from ..spec.nodes import SEQUENTIAL_TYPES, LayerNode, ModuleNode, Node, ParsedSpec, Source, build_at, locate

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

# Layers whose output is their input (in place) or a view of it: no new memory.
ALIASING_TYPES = frozenset(
    {
        "Identity",
        "Flatten",
        "Unflatten",
        "Dropout",
        "Dropout1d",
        "Dropout2d",
        "Dropout3d",
        "AlphaDropout",
        "FeatureAlphaDropout",
    }
)


# -- receptive fields -----------------------------------------------------------------------------


Rational = Union[int, Fraction]


class ReceptiveField(NamedTuple):
    """One spatial axis: how many input positions an output position sees (``size``) and how
    far apart, in input positions, neighbouring outputs are (``jump``, the effective stride).

    Both are exact: an int when whole, a :class:`~fractions.Fraction` otherwise; after
    upsampling or a transposed conv the jump is a fraction (1/2: two outputs per input).

    >>> ReceptiveField(7, 2).to_json()
    {'size': 7, 'jump': 2}
    >>> ReceptiveField(Fraction(5, 2), Fraction(1, 2)).to_json()
    {'size': '5/2', 'jump': '1/2'}
    """

    size: Rational
    jump: Rational

    def to_json(self) -> dict[str, int | str]:
        return {"size": rational_json(self.size), "jump": rational_json(self.jump)}

    def __str__(self) -> str:
        return f"{self.size} (jump {self.jump})"


def format_receptive_field(field: Sequence[ReceptiveField] | None) -> str:
    """One cell of text: ``"11×11 (jump 4)"``, per axis where the axes differ, ``"-"`` for none.

    >>> format_receptive_field((ReceptiveField(11, 4), ReceptiveField(11, 4)))
    '11×11 (jump 4)'
    >>> format_receptive_field((ReceptiveField(3, 1), ReceptiveField(Fraction(5, 2), Fraction(1, 2))))
    '3×5/2 (jump 1×1/2)'
    """
    if not field:
        return "-"
    sizes = "×".join(str(axis.size) for axis in field)
    jumps = {axis.jump for axis in field}
    jump = str(field[0].jump) if len(jumps) == 1 else "×".join(str(axis.jump) for axis in field)
    return f"{sizes} (jump {jump})"


def rational_json(value: Rational) -> int | str:
    """An int when whole, else ``"p/q"``.

    >>> rational_json(3), rational_json(Fraction(1, 2))
    (3, '1/2')
    """
    if type(value) is int:
        return value
    return int(value) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"


def _exact(value: Rational) -> Rational:
    """Fractions that are whole become ints (cheaper to compute with, plainer to show)."""
    if type(value) is not int and value.denominator == 1:
        return int(value)
    return value


def _divide(value: Rational, by: Rational) -> Rational:
    return _exact(Fraction(value) / by)


# The receptive field of a tensor: a tuple per trailing spatial axis; () before any spatial layer
# (every position sees itself); None once spatial structure is gone (flattened, reshaped).
RF = tuple  # tuple[ReceptiveField, ...]

_ONE = ReceptiveField(1, 1)


def _rf_through(
    layer: Layer, rules: list[tuple[str, Any]], rf: RF | None, in_shape: Shape, out_shape: Shape
) -> RF | None:
    """Distill's recurrence (Araujo et al., "Computing Receptive Fields of CNNs", 2019):
    ``r_out = r_in + (k_eff − 1)·j_in`` and ``j_out = j_in·s``; for a transposed conv (stride
    s) the grid is first refined, ``j_out = j_in/s``, then ``r_out = r_in + (k_eff − 1)·j_out``."""
    if rf is None:
        return None
    if not rules:
        if len(in_shape) != len(out_shape):
            return None
        if rf and tuple(in_shape[-len(rf) :]) != tuple(out_shape[-len(rf) :]):
            return None
        return rf
    n = len(rules)
    if len(in_shape) < n or len(out_shape) != len(in_shape):
        return None
    if rf == ():
        rf = (_ONE,) * n
    if len(rf) != n:
        return None
    result = []
    for (_, rule), axis, size_in, size_out in zip(rules, rf, in_shape[-n:], out_shape[-n:]):
        step = _rf_step(layer, rule, axis, size_in, size_out)
        if step is None:
            return None
        result.append(step)
    return tuple(result)


def _rf_step(
    layer: Layer, rule: Any, axis: ReceptiveField, size_in: int, size_out: int
) -> ReceptiveField | None:
    r, j = axis
    if isinstance(rule, ConvRule):
        return ReceptiveField(_exact(r + (rule.effective_kernel - 1) * j), _exact(j * rule.stride))
    if isinstance(rule, TransposedRule):
        jump = _divide(j, rule.stride)
        return ReceptiveField(_exact(r + (rule.dilation * (rule.kernel - 1)) * jump), jump)
    if isinstance(rule, UnpoolRule):
        if rule.stride < 1:  # torch lets a 1-d/2-d unpool have stride 0: every input on one window
            return None
        jump = _divide(j, rule.stride)
        return ReceptiveField(_exact(r + (rule.kernel - 1) * jump), jump)
    if isinstance(rule, ScaleRule):
        scale = Fraction(float(rule.scale)).limit_denominator(1_000_000)
        if scale <= 0:
            return None
        return ReceptiveField(_exact(r + _interpolation_taps(layer) * j), _divide(j, scale))
    if isinstance(rule, FixedRule):
        if size_out < 1:
            return None
        jump = _exact(j * Fraction(size_in, size_out))
        if getattr(layer, "family", "") == "pooling":
            window = _adaptive_window(size_in, size_out)
            return ReceptiveField(_exact(r + (window - 1) * j), jump)
        return ReceptiveField(_exact(r + _interpolation_taps(layer) * j), jump)
    if isinstance(rule, PadRule):
        return axis  # explicit padding moves the grid, it does not widen the field
    return None


def _interpolation_taps(layer: Layer) -> int:
    """Extra input positions (beyond one) an interpolated output reads."""
    mode = str(getattr(layer, "mode", "nearest"))
    if "cubic" in mode:
        return 3
    if "linear" in mode:
        return 1
    return 0


def _adaptive_window(size: int, out: int) -> int:
    """The largest window of adaptive pooling from ``size`` to ``out``."""
    if size % out == 0:
        return size // out
    if out > 4096:
        return -(-size // out) + 1
    return max(-(-((i + 1) * size) // out) - (i * size) // out for i in range(out))


def _rf_max(main: RF | None, branch: RF | None) -> RF | None:
    if main is None or branch is None:
        return None
    if main == ():
        main, branch = branch, main
    if branch == ():
        branch = (_ONE,) * len(main)
    if len(main) != len(branch):
        return None
    return tuple(ReceptiveField(max(a.size, b.size), a.jump) for a, b in zip(main, branch))


# -- the trace: what runs, in order ---------------------------------------------------------------


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
        inner = scopes if root else scopes + (scope,)
        children = dict(node.children)

        def child(name: str, value: Tensor) -> Tensor:
            return self.run(children[name], _join(path, name), depth + 1, inner, value)

        def chain(names: Sequence[str], value: Tensor) -> Tensor:
            for name in names:
                value = child(name, value)
            return value

        label = path or node.type_name
        names = [name for name, _ in node.children]
        block = TORCHVISION_BLOCKS.get(node.type_name)
        shortcut = node.shortcut_name
        if shortcut is None and node.type_name not in SEQUENTIAL_TYPES and not node.residual:
            shortcut = next((n for n in names if n in SHORTCUT_NAMES), None)
        if node.residual:
            main = chain([n for n in names if n != shortcut], x)
            branch = child(shortcut, x) if shortcut else x
            y = self.add(main, branch, path, depth, inner, node, shortcut)
        elif block is not None and set(names) - {"downsample"} == set(block[0]):
            main = chain(block[0], x)
            branch = child("downsample", x) if "downsample" in children else x
            order = " → ".join(block[0])
            note = (
                f"{node.type_name} run as torchvision runs it: {order}, + "
                f"{'downsample(x)' if 'downsample' in children else 'x'}, relu (its relu runs twice)"
            )
            branch_name = "downsample" if "downsample" in children else None
            y = self.add(main, branch, path, depth, inner, node, branch_name, note)
            y = chain(block[1], y)
        elif shortcut is not None:
            main = chain([n for n in names if n != shortcut], x)
            branch = child(shortcut, x)
            note = (
                f"{node.type_name}: has a `{shortcut}` child, so it is run as a residual block: "
                f"its other children in order, plus {shortcut}(x)"
            )
            y = self.add(main, branch, path, depth, inner, node, shortcut, note)
        else:
            y = chain(names, x)
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
                y = self.add(y, x, path, depth, inner, node, None, note)
            elif node.type_name in ("ModuleList", "ModuleDict") and len(names) > 0:
                self.note(
                    f"{node.type_name} children run in order (a {node.type_name} has no forward of its own)",
                    label,
                )
        scope.output = y
        return y

    def add(
        self,
        main: Tensor,
        branch: Tensor,
        path: str,
        depth: int,
        scopes: tuple[Scope, ...],
        node: ModuleNode,
        branch_name: str | None,
        note: str | None = None,
    ) -> Tensor:
        label = path or "the network"
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
        out = self.tensor(main.shape, _rf_max(main.rf, branch.rf))
        flops = prod(out.shape) if out.shape is not None else None
        self.append(
            Step(
                "add",
                _join(path, "add"),
                "add",
                depth + 1,
                scopes,
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
        notes: list[str] = []
        if node.extras and id(node) not in self.noted_extras:
            self.noted_extras.add(id(node))
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
        if x.shape is not None:
            x = self.maybe_flatten(layer, node, path, depth, scopes, x)
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
                    f"{type_name} acts on the last dim only (in_features={in_shape[-1]} inferred "
                    f"from {format_shape(in_shape)}); write `flatten` before it to classify the "
                    "whole feature map"
                )
            rf = _rf_through(layer, rules, x.rf, in_shape, out_shape)
        else:
            out_shape, macs, flops, rf = None, None, None, None
        aliasing = type_name in ALIASING_TYPES or getattr(layer, "inplace", False) is True
        storage = (
            x.storage
            if aliasing
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
    return layer.family in ("activation", "dropout") or type(layer).__name__ == "Identity"


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


# -- summary --------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the summary: a layer, an add, an inserted flatten, or a folded container."""

    name: str
    type: str
    kind: str  # "layer", "add", "flatten", "container"
    depth: int
    input_shape: Shape | None
    output_shape: Shape | None
    param_shapes: dict[str, Shape]
    params: int
    buffer_shapes: dict[str, Shape]
    buffers: int
    macs: int | None
    flops: int | None
    output_bytes: int | None
    receptive_field: tuple[ReceptiveField, ...] | None
    layer: str  # the layer's repr (torch's), or the container's type
    line: int | None
    notes: list[str] = field(default_factory=list)
    call: int = 1  # which call of the module this row is (see Step.call)

    @property
    def key(self) -> str:
        return call_key(self.name, self.call)

    def to_json(self, _memo: dict[int, Any] | None = None) -> dict[str, Any]:
        rf = self.receptive_field
        if rf is None:
            rf_json = None
        elif _memo is not None and id(rf) in _memo:
            rf_json = _memo[id(rf)]
        else:
            rf_json = [axis.to_json() for axis in rf]
            if _memo is not None:
                _memo[id(rf)] = rf_json
        return {
            "name": self.name,
            "type": self.type,
            "kind": self.kind,
            "depth": self.depth,
            "layer": self.layer,
            "line": self.line,
            "input_shape": _listed(self.input_shape),
            "output_shape": _listed(self.output_shape),
            "param_shapes": {k: list(v) for k, v in self.param_shapes.items()},
            "params": self.params,
            "buffer_shapes": {k: list(v) for k, v in self.buffer_shapes.items()},
            "buffers": self.buffers,
            "macs": self.macs,
            "flops": self.flops,
            "output_bytes": self.output_bytes,
            "receptive_field": rf_json,
            "notes": list(self.notes),
            "call": self.call,
        }


@dataclass
class Totals:
    """Whole-network figures; memory in bytes of the summary's dtype.

    ``activation_bytes`` sums the outputs of every step that allocates (in-place layers and
    views allocate nothing); ``peak_memory_bytes`` is the most activation memory alive at
    once in an inference pass (a tensor lives from the step producing it to its last use, so a
    residual block's input stays alive until the add); weights are ``param_bytes`` and
    ``buffer_bytes`` on top.
    """

    params: int
    trainable_params: int
    buffers: int
    macs: int | None
    flops: int | None
    input_bytes: int | None
    activation_bytes: int | None
    param_bytes: int
    buffer_bytes: int
    peak_memory_bytes: int | None

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Summary:
    """Everything ``convcalc net`` shows, as plain data."""

    input_shape: Shape | None
    output_shape: Shape | None
    dtype: str
    depth: int | None
    rows: list[Row]
    totals: Totals
    notes: list[str]

    def to_json(self) -> dict[str, Any]:
        """The contract's network JSON (section 4), plus kind/depth/memory/receptive fields."""
        memo: dict[int, Any] = {}  # receptive fields are shared by the rows they pass through
        return {
            "input_shape": _listed(self.input_shape),
            "output_shape": _listed(self.output_shape),
            "dtype": self.dtype,
            "depth": self.depth,
            "layers": [row.to_json(memo) for row in self.rows],
            "totals": self.totals.to_json(),
            "notes": list(self.notes),
        }


def _listed(shape: Shape | None) -> list[int] | None:
    return None if shape is None else list(shape)


class Network:
    """A network parsed from a spec (see :mod:`convcalc.spec` for the forms).

    >>> net = parse_network("input 1x3x32x32\\nconv2d --out 8 -k 3 -p 1\\nconv2d --out 8 -k 3 -s 2 -p 1")
    >>> summary = net.summary()
    >>> [row.name for row in summary.rows], summary.output_shape, summary.totals.params
    (['0', '1'], (1, 8, 16, 16), 808)
    >>> str(summary.rows[1].receptive_field[0])
    '5 (jump 2)'
    """

    def __init__(self, spec: ParsedSpec) -> None:
        self.root = spec.root
        self.input_shape = spec.input_shape
        self.form = spec.form
        self.parse_notes = list(spec.notes)

    def trace(self, input_shape: Sequence[int] | str | None = None) -> Trace:
        """Run the shapes through every step; raises a located ConvcalcError on a mismatch."""
        shape = self._input(input_shape)
        flatten_at: set[str] = set()
        while True:
            tracer = _Tracer(shape, frozenset(flatten_at))
            x = tracer.tensor(shape, ())
            try:
                y = tracer.run(self.root, "", 0, (), x, root=True)
                break
            except _Restart as restart:
                flatten_at.add(restart.path)  # each container at most once: this terminates
        notes = list(self.parse_notes)
        for message, names in tracer.notes.items():
            shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
            notes.append(f"{shown}: {message}")
        return Trace(x, y, tracer.steps, notes)

    def _input(self, input_shape: Sequence[int] | str | None) -> Shape | None:
        if input_shape is None:
            return self.input_shape
        if isinstance(input_shape, str):
            return parse_shape(input_shape)
        shape = tuple(input_shape)
        if (
            not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape)
            or not shape
        ):
            raise ParseError(f"input shape {input_shape!r}: every dim must be a whole number >= 1")
        return shape

    def summary(
        self,
        input_shape: Sequence[int] | str | None = None,
        dtype: str = "float32",
        depth: int | None = None,
    ) -> Summary:
        """Rows in execution order (folded to ``depth`` levels of modules, as torchinfo does:
        a module at that depth becomes one row aggregating its children) and totals."""
        size = dtype_bytes(dtype)
        if depth is not None and (
            isinstance(depth, bool) or not isinstance(depth, int) or depth < 1
        ):
            raise ParseError(f"--depth must be a whole number >= 1, got {depth!r}")
        trace = self.trace(input_shape)
        rows = _rows(trace.steps, depth, size)
        return Summary(
            trace.input.shape,
            trace.output.shape,
            dtype,
            depth,
            rows,
            _totals(trace, size),
            trace.notes,
        )

    def forward(self, x: Any, params: dict[str, Any] | None = None, *, record: bool = False) -> Any:
        """The NumPy forward pass in inference mode; ``params`` are state_dict arrays.

        Returns the output, or ``(output, {step key: activation})`` with ``record`` (a module that
        runs twice, as BasicBlock's relu, has ``name`` and ``name#2``).

        >>> import numpy as np
        >>> parse_network("Identity()").forward(np.zeros((2, 3))).shape
        (2, 3)
        """
        import numpy as np

        from .execute import run_network

        x = np.asarray(x)
        run = run_network(self.trace(tuple(x.shape)), x, dict(params or {}), record=record)
        return (run.output, run.activations) if record else run.output

    def to_json(
        self,
        input_shape: Sequence[int] | str | None = None,
        dtype: str = "float32",
        depth: int | None = None,
    ) -> dict[str, Any]:
        """The summary as JSON-ready data (CONTRACT section 4)."""
        return self.summary(input_shape, dtype, depth).to_json()


def parse_network(text: str | bytes) -> Network:
    """Parse a network spec (line form, PyTorch form, print(model) text or JSON).

    >>> parse_network("Conv2d(3, 8, 3)").summary((1, 3, 8, 8)).output_shape
    (1, 8, 6, 6)
    """
    return Network(parse_spec(text))


class _LayerFacts:
    """Per-layer figures the rows repeat, computed once per layer object."""

    def __init__(self) -> None:
        self.cache: dict[int, tuple[dict, int, dict, int, str]] = {}

    def __call__(self, layer: Layer) -> tuple[dict[str, Shape], int, dict[str, Shape], int, str]:
        facts = self.cache.get(id(layer))
        if facts is None:
            params = layer.param_shapes()
            buffers = layer.buffer_shapes()
            facts = (
                params,
                sum(prod(s) for s in params.values()),
                buffers,
                sum(prod(s) for s in buffers.values()),
                repr(layer),
            )
            self.cache[id(layer)] = facts
        return facts


def _step_row(step: Step, size: int, facts: _LayerFacts) -> Row:
    if step.layer is not None:
        params, n_params, buffers, n_buffers, text = facts(step.layer)
    else:
        params, n_params, buffers, n_buffers, text = {}, 0, {}, 0, step.type_name
    in_shape = step.inputs[0].shape if step.inputs else None
    out_shape = step.output.shape
    return Row(
        name=step.name,
        type=step.type_name,
        kind=step.kind,
        depth=step.depth,
        input_shape=in_shape,
        output_shape=out_shape,
        param_shapes=dict(params),
        params=n_params,
        buffer_shapes=dict(buffers),
        buffers=n_buffers,
        macs=step.macs,
        flops=step.flops,
        output_bytes=None if out_shape is None else prod(out_shape) * size,
        receptive_field=step.output.rf or None,
        layer=text,
        line=step.source.line if step.source else None,
        notes=list(step.notes),
        call=step.call,
    )


def _rows(steps: list[Step], depth: int | None, size: int) -> list[Row]:
    facts = _LayerFacts()
    rows: list[Row] = []
    group: list[Step] = []
    group_scope: Scope | None = None
    for step in steps:
        scope = None
        if depth is not None and step.depth > depth:
            scope = step.scopes[depth - 1]
        if scope is not group_scope and group:
            rows.append(_folded(group_scope, group, size))  # type: ignore[arg-type]
            group = []
        group_scope = scope
        if scope is None:
            rows.append(_step_row(step, size, facts))
        else:
            group.append(step)
    if group:
        rows.append(_folded(group_scope, group, size))  # type: ignore[arg-type]
    return rows


def _folded(scope: Scope, steps: list[Step], size: int) -> Row:
    prefix = scope.path + "."
    param_shapes: dict[str, Shape] = {}
    buffer_shapes: dict[str, Shape] = {}
    for step in steps:
        if step.layer is None or not step.first_call:
            continue
        local = step.name[len(prefix) :] if step.name.startswith(prefix) else step.name
        for key, shape in step.layer.param_shapes().items():
            param_shapes[f"{local}.{key}"] = shape
        for key, shape in step.layer.buffer_shapes().items():
            buffer_shapes[f"{local}.{key}"] = shape
    macs = _sum([s.macs for s in steps])
    flops = _sum([s.flops for s in steps])
    out = scope.output if scope.output is not None else steps[-1].output
    rf = out.rf
    return Row(
        name=scope.path,
        type=scope.type_name,
        kind="container",
        depth=scope.depth,
        input_shape=scope.input.shape if scope.input is not None else steps[0].inputs[0].shape,
        output_shape=out.shape,
        param_shapes=param_shapes,
        params=sum(prod(s) for s in param_shapes.values()),
        buffer_shapes=buffer_shapes,
        buffers=sum(prod(s) for s in buffer_shapes.values()),
        macs=macs,
        flops=flops,
        output_bytes=None if out.shape is None else prod(out.shape) * size,
        receptive_field=rf if rf else None,
        layer=scope.type_name,
        line=scope.source.line,
        notes=[note for step in steps for note in step.notes],
    )


def _sum(values: list[int | None]) -> int | None:
    if any(v is None for v in values):
        return None
    return sum(values)  # type: ignore[arg-type]


def _totals(trace: Trace, size: int) -> Totals:
    facts = _LayerFacts()
    params = buffers = frozen = 0
    for step in trace.steps:
        if step.layer is not None and step.first_call:
            _, n_params, _, n_buffers, _ = facts(step.layer)
            params += n_params
            buffers += n_buffers
            if getattr(step.layer, "frozen", False):  # Embedding(_freeze=True): requires_grad=False
                frozen += n_params
    known = trace.input.shape is not None
    return Totals(
        params=params,
        trainable_params=params - frozen,
        buffers=buffers,
        macs=_sum([s.macs for s in trace.steps]) if known else None,
        flops=_sum([s.flops for s in trace.steps]) if known else None,
        input_bytes=prod(trace.input.shape) * size if known else None,  # type: ignore[arg-type]
        activation_bytes=_activation_bytes(trace, size) if known else None,
        param_bytes=params * size,
        buffer_bytes=buffers * size,
        peak_memory_bytes=_peak_bytes(trace, size) if known else None,
    )


def _activation_bytes(trace: Trace, size: int) -> int:
    total = 0
    for step in trace.steps:
        if step.output.storage == step.output.id and step.output.shape is not None:
            total += prod(step.output.shape) * size
    return total


def _peak_bytes(trace: Trace, size: int) -> int:
    """Liveness over storages: live from the producing step to the last step using it."""
    birth: dict[int, int] = {trace.input.storage: 0}
    death: dict[int, int] = {trace.input.storage: 0}
    nbytes: dict[int, int] = {trace.input.storage: prod(trace.input.shape or ()) * size}
    for index, step in enumerate(trace.steps):
        for tensor in step.inputs:
            death[tensor.storage] = max(death.get(tensor.storage, index), index)
        storage = step.output.storage
        if storage not in birth:
            birth[storage] = index
            nbytes[storage] = prod(step.output.shape or ()) * size
        death[storage] = max(death.get(storage, index), index)
    last = max(len(trace.steps) - 1, 0)
    death[trace.output.storage] = last
    delta = [0] * (last + 2)
    for storage, start in birth.items():
        delta[start] += nbytes[storage]
        delta[death[storage] + 1] -= nbytes[storage]
    peak = live = 0
    for change in delta:
        live += change
        peak = max(peak, live)
    return peak
