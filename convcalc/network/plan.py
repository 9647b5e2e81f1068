"""A network's forward pass prepared once, then run as a flat list of kernel calls.

Preparing walks the trace once, running it: every layer step's checks and conversions are done
then (``Layer.prepare``), each state_dict entry is looked up once, and the values are given
numbered slots freed after their last use. A run of the plan then pays only the kernels and a
loop over ``(function, input slots, output slot, slots to free)``.

Folds, which change how a result is computed but not what it is (within float32 round-off):

- a layer that is ``x·scale + shift`` per channel with constants (``Layer.channel_affine``:
  eval-mode BatchNorm with running statistics) right after an affine map that can absorb it
  (``Layer.absorb_channel_affine``: convolutions, Linear) becomes part of that map's weight and
  bias, computed once. Only when the map's output goes nowhere else (no other step, not the
  network's output, not an activation asked for) and the map's input, weight and the norm's
  statistics share one float dtype.

- an element-wise layer that can write over its input (``Layer.writes_in_place``: ReLU, ReLU6,
  Hardtanh, Sigmoid, Tanh) runs in place on the output of the step before it when that output
  is fresh (``Layer.fresh_output``: a convolution's, Linear's, BatchNorm's; an add's) and goes
  nowhere else.

What a caller asks to see is never folded away: with ``record`` every shown step's own output
is kept, so nothing is folded or overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple

import numpy as np

from ..errors import ConvcalcError, ParseError
from ..tensors.params import check_params
from .graph import Step, Trace


class NetworkRun(NamedTuple):
    output: np.ndarray
    activations: dict[str, np.ndarray]  # step key (name, name#2 for a second call) -> output, when recorded


class _Op(NamedTuple):
    """One call of a plan: ``values[output] = run(*values[inputs])``, then ``values[s] = None``
    for every ``s`` in ``release``; ``key`` names the recorded activation (None: not recorded)."""

    run: Callable[..., Any]
    inputs: tuple[int, ...]
    output: int
    release: tuple[int, ...]
    key: str | None
    step: int  # the trace step it runs, for progress


@dataclass
class Plan:
    """The prepared forward pass of one network for one input shape and dtype and one set of
    parameters (see the module doc). ``run`` takes an input of that shape and dtype."""

    ops: list[_Op]
    initial: list[Any]  # the slots before a run: the parameters a step reads as a tensor, else None
    input_slot: int
    output_slot: int
    steps: int  # steps of the trace, for progress
    folded: list[str] = field(default_factory=list)  # keys of the steps folded into the one before
    in_place: list[str] = field(default_factory=list)  # keys of the steps run over their input

    def run(self, x: np.ndarray, progress: Callable[[int, int], None] | None = None) -> NetworkRun:
        """The forward pass on ``x``; ``progress(done, total)`` after each step."""
        values = list(self.initial)
        values[self.input_slot] = x
        activations: dict[str, np.ndarray] = {}
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # inf and NaN, as torch gives
            for op in self.ops:
                values[op.output] = op.run(*[values[slot] for slot in op.inputs])
                if op.key is not None:
                    activations[op.key] = values[op.output]
                for slot in op.release:
                    values[slot] = None
                if progress is not None:
                    progress(op.step + 1, self.steps)
        return NetworkRun(values[self.output_slot], activations)


def prepare_plan(
    trace: Trace,
    x: np.ndarray,
    params: dict[str, np.ndarray],
    *,
    record: bool = False,
    fold: bool = True,
    progress: Callable[[int, int], None] | None = None,
    where: str = "the weights",
) -> tuple[Plan, NetworkRun]:
    """Prepare the trace's forward pass on ``x`` with state_dict ``params`` and run it once:
    the plan, and that run's result. ``record`` keeps every shown step's output (and then
    folds nothing); ``fold=False`` folds nothing either.

    >>> from convcalc import parse_network
    >>> trace = parse_network("input 1x3\\nLinear(3, 2, bias=False)\\nBatchNorm1d(2)").trace()
    >>> params = {"0.weight": np.ones((2, 3)), "1.weight": np.full(2, 2.0), "1.bias": np.zeros(2),
    ...           "1.running_mean": np.zeros(2), "1.running_var": np.full(2, 1 - 1e-5)}
    >>> plan, first = prepare_plan(trace, np.ones((1, 3)), params)
    >>> plan.folded, first.output.tolist(), plan.run(np.ones((1, 3))).output.tolist()
    (['1'], [[6.0, 6.0]], [[6.0, 6.0]])
    """
    check_state(trace, params, where)
    pairs, in_place = _fold_pairs(trace, record) if fold else ({}, set())
    builder = _Builder(trace, params, record, pairs, in_place)
    first = builder.run(x, progress)
    return builder.plan(), first


def check_state(trace: Trace, params: dict[str, np.ndarray], where: str) -> None:
    """ParseError unless the text gives every parameter and ``params`` holds each state_dict
    entry in its shape (``where`` names the dict in the message)."""
    if trace.state.unknown:
        raise ParseError(f"cannot run: the parameters of {', '.join(trace.state.unknown)} are not known from the text")
    check_params({**trace.state.params, **trace.state.buffers}, params, where)


def own_state(step: Step, params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The state_dict entries of the step's layer, by suffix (none for an ``F.<name>`` call)."""
    layer = step.layer
    assert layer is not None
    owner = step.owner if step.owner is not None else step.name
    prefix = f"{owner}." if owner else ""
    return {suffix: params[prefix + suffix] for suffix in {**layer.param_shapes(), **layer.buffer_shapes()}
            if not step.functional and prefix + suffix in params}


def walk(
    trace: Trace,
    x: np.ndarray,
    evaluate: Callable[[int, Step, list[Any]], Any],
    record: bool,
    progress: Callable[[int, int], None] | None,
) -> NetworkRun:
    """The trace run step by step: ``evaluate(index, step, inputs)`` gives each step's value, and
    each value is dropped after its last use (kept when ``record`` and the step is shown).

    >>> from convcalc import parse_network
    >>> trace = parse_network("input 1x3\\nIdentity()\\nFlatten()").trace()
    >>> walk(trace, np.ones((1, 3)), lambda index, step, inputs: inputs[0] * 2, True, None).activations["0"]
    array([[2., 2., 2.]])
    """
    if trace.unfollowed:
        raise ConvcalcError(f"cannot compute this network's values as torch does: {trace.unfollowed[0]}")
    last_use: dict[int, int] = {}
    for index, step in enumerate(trace.steps):
        for tensor in step.inputs:
            last_use[tensor.id] = index
    for kept in _exposed(trace, False):  # the output is kept even where a later step reads it
        last_use[kept] = len(trace.steps)
    values: dict[int, Any] = {trace.input.id: x}
    activations: dict[str, np.ndarray] = {}
    for index, step in enumerate(trace.steps):
        values[step.output.id] = evaluate(index, step, [values[tensor.id] for tensor in step.inputs])
        if record and step.shown:
            activations[step.key] = values[step.output.id]
        for tensor in step.inputs:
            if last_use.get(tensor.id) == index and tensor.id != step.output.id:
                values.pop(tensor.id, None)
        if progress is not None:
            progress(index + 1, len(trace.steps))
    return NetworkRun(values[trace.output.id], activations)


def _exposed(trace: Trace, record: bool) -> set[int]:
    """Ids of the tensors a caller gets: the output, a dict-returning model's other outputs and,
    with ``record``, every shown step's."""
    exposed = {trace.output.id, *(t.id for t in trace.outputs.values())}
    if record:
        exposed.update(step.output.id for step in trace.steps if step.shown)
    return exposed


def _fold_pairs(trace: Trace, record: bool) -> tuple[dict[int, int], set[int]]:
    """The candidates for a fold (the layers and the arrays decide, when the plan is prepared):
    step index of a layer -> index of the layer step right after it that reads its output, and
    the steps that may write over their input; both where that output goes nowhere else."""
    uses: dict[int, int] = {}
    for step in trace.steps:
        for tensor in step.inputs:
            uses[tensor.id] = uses.get(tensor.id, 0) + 1
    exposed = _exposed(trace, record)
    producer = {step.output.id: index for index, step in enumerate(trace.steps)}
    pairs: dict[int, int] = {}
    in_place: set[int] = set()
    for index, step in enumerate(trace.steps):
        if step.kind != "layer" or step.layer is None or step.forward_kwargs:
            continue
        tensor = step.inputs[0]
        before = producer.get(tensor.id)
        if before is None or uses[tensor.id] != 1 or tensor.id in exposed:
            continue
        previous = trace.steps[before]
        # a view's array may be another's; `out += identity` is torch's in place, its array here a new one
        if tensor.storage != tensor.id and not (previous.in_place and previous.fresh_output):
            continue
        if _own_layer(step) and _own_layer(previous):
            pairs[before] = index
        fresh = previous.fresh_output or (previous.layer is not None and previous.layer.fresh_output)
        if step.layer.writes_in_place and fresh:
            in_place.add(index)
    return pairs, in_place


def _own_layer(step: Step) -> bool:
    """A module's layer with its own state (not an operation, not ``F.<name>``)."""
    return step.kind == "layer" and step.layer is not None and not step.functional


class _Builder:
    """Runs the trace once, step by step, recording each step's prepared call."""

    def __init__(self, trace: Trace, params: dict[str, np.ndarray], record: bool, pairs: dict[int, int],
                 in_place: set[int]) -> None:
        self.trace = trace
        self.params = params
        self.record = record
        self.pairs = pairs
        self.in_place = in_place
        self.alias: dict[int, int] = {}  # tensor id -> the tensor id whose value it is (a folded step's output)
        self.constants: dict[int, Any] = {}  # tensor id -> a parameter read as a tensor
        self.calls: list[tuple[Callable[..., Any], tuple[int, ...], int, str | None, int]] = []
        self.skip: set[int] = set()
        self.folded: list[str] = []
        self.overwritten: list[str] = []

    def own(self, step: Step) -> dict[str, np.ndarray]:
        """The step's layer's state_dict entries, by suffix."""
        return own_state(step, self.params)

    def run(self, x: np.ndarray, progress: Callable[[int, int], None] | None) -> NetworkRun:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return walk(self.trace, x, self.value, self.record, progress)

    def value(self, index: int, step: Step, inputs: list[Any]) -> Any:
        """The step's value on ``inputs``: a folded step passes its input on, as its alias."""
        if index in self.skip:
            self.alias[step.output.id] = self.source(step.inputs[0].id)
            return inputs[0]
        return self.prepare(index, step, inputs)

    def source(self, tensor_id: int) -> int:
        return self.alias.get(tensor_id, tensor_id)

    def prepare(self, index: int, step: Step, inputs: list[Any]) -> Any:
        """Prepare the step's call, record it, and return its result on ``inputs``."""
        if step.kind == "param":
            assert step.state_key is not None
            self.constants[step.output.id] = self.params[step.state_key]
            return self.constants[step.output.id]
        if step.layer is None:
            assert step.compute is not None
            call: Callable[..., Any] = step.compute
        else:
            call = self.prepare_layer(index, step, inputs[0])
        result = call(*inputs)
        if step.layer is not None and isinstance(result, tuple):  # max-pool's indices: the values flow on
            whole, result = call, result[0]
            call = lambda x: whole(x)[0]  # noqa: E731
        key = step.key if self.record and step.shown else None
        output = self.source(step.output.id)
        self.calls.append((call, tuple(self.source(t.id) for t in step.inputs), output, key, index))
        return result

    def prepare_layer(self, index: int, step: Step, x: Any) -> Callable[[Any], Any]:
        layer, own = step.layer, self.own(step)
        assert layer is not None
        folded = self.fold(index, step, x, own)
        if folded is not None:
            layer, own = folded
        if index in self.in_place and x.dtype.kind == "f" and x.ndim and x.flags.writeable:
            self.alias[step.output.id] = self.source(step.inputs[0].id)
            self.overwritten.append(step.key)
            return layer.prepare(x, own, in_place=True)
        return layer.prepare(x, own, **step.forward_kwargs)

    def fold(self, index: int, step: Step, x: Any, own: dict[str, np.ndarray]) -> tuple[Any, dict[str, Any]] | None:
        """The layer with the next step folded in, when the arrays allow it (else None)."""
        after = self.pairs.get(index)
        if after is None:
            return None
        norm = self.trace.steps[after]
        assert norm.layer is not None and step.layer is not None and step.output.shape is not None
        norm_own = self.own(norm)
        dtype = getattr(x, "dtype", None)
        floats = [a for a in (*own.values(), *norm_own.values()) if a.dtype.kind == "f"]
        if dtype is None or dtype.kind != "f" or any(a.dtype != dtype for a in floats):
            return None
        affine = norm.layer.channel_affine(norm_own)
        if affine is None:
            return None
        absorbed = step.layer.absorb_channel_affine(own, affine[0], affine[1], step.output.shape)
        if absorbed is not None:
            self.skip.add(after)
            self.folded.append(norm.key)
        return absorbed

    def plan(self) -> Plan:
        """The calls recorded, with slots numbered and freed after their last use."""
        slots: dict[int, int] = {self.trace.input.id: 0}
        for tensor_id in self.constants:
            slots.setdefault(tensor_id, len(slots))
        for _, inputs, output, _, _ in self.calls:
            for tensor_id in (*inputs, output):
                slots.setdefault(tensor_id, len(slots))
        output_slot = slots[self.source(self.trace.output.id)]
        last: dict[int, int] = {}
        for position, (_, inputs, output, _, _) in enumerate(self.calls):
            last[slots[output]] = position  # a result no later step reads is freed at once
            for tensor_id in inputs:
                last[slots[tensor_id]] = position
        keep = {output_slot, *(slots[t] for t in self.constants)}
        ops = []
        for position, (call, inputs, output, key, index) in enumerate(self.calls):
            used = {slots[t] for t in inputs} | {slots[output]}
            release = tuple(sorted(s for s in used if last.get(s) == position and s not in keep))
            ops.append(_Op(call, tuple(slots[t] for t in inputs), slots[output], release, key, index))
        initial: list[Any] = [None] * len(slots)
        for tensor_id, value in self.constants.items():
            initial[slots[tensor_id]] = value
        return Plan(ops, initial, 0, output_slot, len(self.trace.steps), self.folded, self.overwritten)
