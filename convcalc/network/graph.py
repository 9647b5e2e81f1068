"""The traced forward pass as data: tensors, the steps over them (layers and operations with any
number of inputs), the module scopes they run in, and the whole trace with the network's state
and the assumptions made reading it."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

from ..layers.base import Layer, Shape
from ..spec.nodes import Source

RF = tuple  # a receptive field: see convcalc.network.receptive


@dataclass(eq=False)
class Tensor:
    """A value flowing through the network. ``storage`` is shared by in-place results and views
    (as the memory figures count them: a reshape of a permuted tensor, a copy in torch, has its
    own); ``alias`` by every tensor that may share memory with another in torch, as far as its
    values go (a reshape of a view whose strides are not followed may be a view: a write over
    one may reach the other). ``strides``: torch's, in elements, None where not followed (see
    :mod:`convcalc.network.layout`)."""

    id: int
    shape: Shape | None
    storage: int
    rf: RF | None
    alias: int | None = None  # None: the storage's
    strides: tuple[int, ...] | None = None

    @property
    def memory(self) -> int:
        """The memory its values may share with other tensors (see ``alias``)."""
        return self.storage if self.alias is None else self.alias


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
    """One step of the forward pass: a layer (``kind`` "layer"), an operation (``kind`` its
    name: "add", "cat", "flatten", ...), or a parameter a module holds itself ("param")."""

    kind: str
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
    compute: Callable[..., Any] | None = None  # an operation's NumPy forward
    state_key: str | None = None  # a "param" step: its state_dict key
    # The module whose state the layer holds, where that is not its name: a layer subclass's
    # base layer, called in its own forward (``features.0.1.super``: the module's output is
    # its forward's, as torch's hooks see it; its weight is ``features.0.1.weight``).
    owner: str | None = None
    functional: bool = False  # a layer called as a function (F.max_pool2d): no module, no state
    fresh_output: bool = False  # an operation whose forward always returns a new array (OpResult.fresh)
    keeps_inputs: bool = False  # an operation whose backward needs its inputs (mul, matmul)
    in_place: bool = False  # an operation that writes its result over its first input (y += z)

    @property
    def key(self) -> str:
        """The name of this call: the module path, with ``#2``, ``#3``, … for later calls."""
        return call_key(self.name, self.call)

    @property
    def shown(self) -> bool:
        """Whether the step is a row of the summary (a module's own parameter is not)."""
        return self.kind != "param"


def read_over_in_place(steps: list[Step], output: Tensor, outputs: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor], list[str]]:
    """A step that writes over its input (``ReLU(inplace=True)``, ``y += z``) changes that tensor
    for whoever still holds it: torch's ``identity = x; out = self.relu(x); return out + identity``
    adds the ReLU's result twice. Each later read of an overwritten tensor (``steps`` changed in
    place, and the network's ``output`` and ``outputs``) is moved to what was written over it.
    A later read of another tensor on the same memory, taken before the write (a view: torch
    reads the new values through it, which no step here recomputes), is not followed: the
    reasons are returned, and values are refused (shapes and counts stand).

    >>> from convcalc import parse_network
    >>> recipe = "class Net:\\n    def forward(self, x):\\n        y = self.fc(x)\\n        z = self.act(y)\\n        return y"
    >>> net = parse_network(recipe + "\\n\\nNet(\\n  (fc): Linear(2, 2)\\n  (act): ReLU(inplace=True)\\n)")
    >>> trace = net.trace((1, 2))
    >>> trace.output is trace.steps[1].output, trace.unfollowed
    (True, [])
    """
    written: dict[int, Tensor] = {}  # a tensor's id -> the in-place result written over it
    writes: dict[int, list[tuple[Step, Tensor]]] = {}  # by memory: each write and the tensor it wrote over
    unfollowed: list[str] = []

    def now(tensor: Tensor) -> Tensor:
        while tensor.id in written:
            tensor = written[tensor.id]
        return tensor

    def stale(tensor: Tensor, reader: str) -> None:
        for write, over in reversed(writes.get(tensor.memory, ())):  # the latest first, in step order
            if write.output.id <= tensor.id:  # the tensor was made after this write and all before it
                return
            if tensor.id != over.id:
                unfollowed.append(f"{reader} reads a tensor on the memory that {write.name} ({write.type_name}) "
                                  "wrote over in place, taken before that write (a view, or a maybe-copy such as "
                                  "contiguous()): torch reads the new values through it, which convcalc does not "
                                  "follow, so it computes no values here; take the view after the write, or write "
                                  "the forward without the in-place step")
                return

    for index, step in enumerate(steps):
        inputs = tuple(now(tensor) for tensor in step.inputs)
        if any(new is not old for new, old in zip(inputs, step.inputs)):
            steps[index] = step = replace(step, inputs=inputs)
        for tensor in step.inputs:
            stale(tensor, step.key)
        if step.inputs and writes_over_input(step):
            written[step.inputs[0].id] = step.output
            writes.setdefault(step.inputs[0].memory, []).append((step, step.inputs[0]))
    output, outputs = now(output), {name: now(tensor) for name, tensor in outputs.items()}
    for name, tensor in [("the output", output), *((f"output {k}", t) for k, t in outputs.items())]:
        stale(tensor, name)
    return output, outputs, unfollowed


def writes_over_input(step: Step) -> bool:
    """Whether ``step`` writes its result over its first input: a layer with ``inplace=True``
    (not a view, as an eval-mode dropout is), or an augmented assignment (``y += z``)."""
    layer = step.layer
    if layer is not None:
        return layer.shares_input() and not layer.output_is_view
    return step.in_place


def join_path(path: str, name: str) -> str:
    """A child's module path; the name "" is the module's own layer (see ``network.resolve``).

    >>> join_path("layer1.0", "conv1"), join_path("", "fc"), join_path("bn", "")
    ('layer1.0.conv1', 'fc', 'bn')
    """
    return f"{path}.{name}" if path and name else (name or path)


def shown_names(names: list[str], most: int = 4) -> str:
    """Names for a note: the first few, and how many more.

    >>> shown_names(["a", "b", "c", "d", "e", "f"])
    'a, b, c, d and 2 more'
    """
    more = f" and {len(names) - most} more" if len(names) > most else ""
    return ", ".join(names[:most]) + more


def call_key(name: str, call: int) -> str:
    """``name`` for a module's first call, ``name#k`` for its k-th (activations, statistics).

    >>> call_key("layer1.0.relu", 1), call_key("layer1.0.relu", 2)
    ('layer1.0.relu', 'layer1.0.relu#2')
    """
    return name if call == 1 else f"{name}#{call}"


@dataclass(frozen=True)
class Assumption:
    """What a run took for granted about one module's forward, which the text does not show.

    >>> a = Assumption("layer1.0", "Block", "Block has no recipe: its children run in order")
    >>> str(a), a.to_json()["class"]
    ('layer1.0: Block has no recipe: its children run in order', 'Block')
    """

    module: str  # its path; "" for the network itself
    type_name: str
    message: str
    shapes: bool = field(default=True, compare=False)  # False: it can change values, never a shape

    def __str__(self) -> str:
        return f"{self.module or 'the network'}: {self.message}"

    def to_json(self) -> dict[str, str]:
        return {"module": self.module, "class": self.type_name, "assumption": self.message}


@dataclass
class State:
    """The network's state_dict as the text gives it: every printed module's parameters and
    buffers (whether or not its forward runs) and those recipes declare; ``unknown`` lists the
    modules whose parameters the text does not give."""

    params: dict[str, Shape] = field(default_factory=dict)
    buffers: dict[str, Shape] = field(default_factory=dict)
    roles: dict[str, str] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    not_run: list[str] = field(default_factory=list)  # modules with parameters the forward skips
    own_classes: list[str] = field(default_factory=list)  # classes with children, no recipe, not torch's


@dataclass
class Trace:
    """The forward pass as a program of steps over tensors (for summaries and execution)."""

    input: Tensor
    output: Tensor
    steps: list[Step]
    notes: list[str]
    state: State = field(default_factory=State)
    assumptions: list[Assumption] = field(default_factory=list)
    outputs: dict[str, Tensor] = field(default_factory=dict)  # a dict-returning model's other outputs
    module_runs: list[Scope] = field(default_factory=list)  # every run of a container module, in order
    unfollowed: list[str] = field(default_factory=list)  # why values cannot be computed as torch's (read_over_in_place)

    def index_reader(self) -> Layer | None:
        """The layer that reads the network's input as row numbers (an embedding), if any:
        the input is then int64 indices, not floats.

        >>> from convcalc import parse_network
        >>> parse_network("Net(\\n  (a): Embedding(10, 3)\\n)").trace((2, 4)).index_reader()
        Embedding(10, 3)
        """
        return next((step.layer for step in self.steps if step.layer is not None and step.layer.integer_input
                     and any(t is self.input for t in step.inputs)), None)

    def module_outputs(self) -> dict[str, list[Shape | None]]:
        """Each module's output shape per call, by module path (as torch's forward hooks see
        them): a container's from its runs, a layer's from its steps.

        >>> from convcalc import parse_network
        >>> parse_network("Net(\\n  (a): ReLU()\\n)").trace((1, 2)).module_outputs()
        {'a': [(1, 2)], '': [(1, 2)]}
        """
        outputs: dict[str, list[Shape | None]] = {}
        for step in self.steps:
            if step.kind != "param" and not step.functional and step.owner is None and (
                    step.layer is not None or step.name.split(".")[-1] != step.kind):
                outputs.setdefault(step.name, []).append(step.output.shape)
        runs: dict[str, list[Shape | None]] = {}
        for scope in self.module_runs:
            runs.setdefault(scope.path, []).append(scope.output.shape if scope.output is not None else None)
        outputs.update(runs)
        return outputs
