"""A traced network summed up: one row per step (or per folded module), whole-network totals,
and the memory figures (activation bytes, and the peak of what is alive at once).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..layers.base import Layer, Shape, prod
from .counting import OWN
from .receptive import ReceptiveField
from .graph import Assumption, Scope, Step, Trace, call_key, join_path, shown_names


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
    input_bytes: int | None  # an embedding's input counted as int64 indices (``input_dtype``)
    activation_bytes: int | None
    param_bytes: int
    buffer_bytes: int
    peak_memory_bytes: int | None
    input_dtype: str | None = None  # None: the summary's dtype; "int64" for an embedding's indices

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
    assumptions: list[Assumption] = field(default_factory=list)  # what the text did not say, and was assumed
    outputs: dict[str, Shape | None] = field(default_factory=dict)  # every output of a dict-returning model
    count: str = OWN  # the convention the MACs follow (see counting.py)

    def to_json(self) -> dict[str, Any]:
        """The row as JSON: name, type, shapes, parameters, MACs, FLOPs, plus kind/depth/memory/receptive fields."""
        memo: dict[int, Any] = {}  # receptive fields are shared by the rows they pass through
        return {
            "input_shape": _listed(self.input_shape),
            "output_shape": _listed(self.output_shape),
            "dtype": self.dtype,
            "depth": self.depth,
            "layers": [row.to_json(memo) for row in self.rows],
            "totals": self.totals.to_json(),
            "notes": list(self.notes),
            "assumptions": [assumption.to_json() for assumption in self.assumptions],
            "outputs": {name: _listed(shape) for name, shape in self.outputs.items()},
            "count": self.count,
        }


def _listed(shape: Shape | None) -> list[int] | None:
    return None if shape is None else list(shape)


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


def row_steps(steps: list[Step], depth: int | None) -> list[tuple[Scope | None, list[Step]]]:
    """The steps of each summary row, in order: ``(None, [step])`` for a step of its own, and
    ``(scope, steps)`` for a module deeper than ``depth`` folded into one row."""
    groups: list[tuple[Scope | None, list[Step]]] = []
    for step in steps:
        if not step.shown:
            continue
        scope = None
        if depth is not None and step.depth > depth:
            # the module at that depth, or where none ran there (a recipe's loop over a
            # ModuleList, which has no forward) the next one down: None, the step's own row
            scope = next((scope for scope in step.scopes if scope.depth >= depth), None)
        if scope is not None and groups and groups[-1][0] is scope:
            groups[-1][1].append(step)
        else:
            groups.append((scope, [step]))
    return groups


def _rows(steps: list[Step], depth: int | None, size: int) -> list[Row]:
    facts = _LayerFacts()
    return [
        _step_row(group[0], size, facts) if scope is None else _folded(scope, group, size)
        for scope, group in row_steps(steps, depth)
    ]


def _folded(scope: Scope, steps: list[Step], size: int) -> Row:
    prefix = scope.path + "."
    param_shapes: dict[str, Shape] = {}
    buffer_shapes: dict[str, Shape] = {}
    for step in steps:
        name = step.owner if step.owner is not None else step.name
        local = name[len(prefix) :] if name.startswith(prefix) else ("" if name == scope.path else name)
        if step.kind == "param":
            param_shapes[local] = step.output.shape or ()
        if step.layer is None or not step.first_call or step.functional:
            continue
        for key, shape in step.layer.param_shapes().items():
            param_shapes[join_path(local, key)] = shape
        for key, shape in step.layer.buffer_shapes().items():
            buffer_shapes[join_path(local, key)] = shape
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


INDEX_BYTES = 8  # an embedding's input: int64 row numbers, as torch's nn.Embedding takes


def _totals(trace: Trace, size: int) -> Totals:
    facts = _LayerFacts()
    params = sum(prod(shape) for shape in trace.state.params.values())
    buffers = sum(prod(shape) for shape in trace.state.buffers.values())
    frozen = 0
    for step in trace.steps:
        if step.layer is not None and step.first_call and getattr(step.layer, "frozen", False):
            frozen += facts(step.layer)[1]  # Embedding(_freeze=True): requires_grad=False
    known = trace.input.shape is not None
    indices = trace.index_reader() is not None
    input_size = INDEX_BYTES if indices else size
    return Totals(
        params=params,
        trainable_params=params - frozen,
        buffers=buffers,
        macs=_sum([s.macs for s in trace.steps]) if known else None,
        flops=_sum([s.flops for s in trace.steps]) if known else None,
        input_bytes=prod(trace.input.shape) * input_size if known else None,  # type: ignore[arg-type]
        activation_bytes=_activation_bytes(trace, size) if known else None,
        param_bytes=params * size,
        buffer_bytes=buffers * size,
        peak_memory_bytes=_peak_bytes(trace, size, input_size) if known else None,
        input_dtype="int64" if indices else None,
    )


def _activation_bytes(trace: Trace, size: int) -> int:
    total = 0
    for step in trace.steps:
        if step.shown and step.output.storage == step.output.id and step.output.shape is not None:
            total += prod(step.output.shape) * size  # a module's own parameter is a weight, not an activation
    return total


def _peak_bytes(trace: Trace, size: int, input_size: int) -> int:
    """Liveness over storages: live from the producing step to the last step using it."""
    birth: dict[int, int] = {trace.input.storage: 0}
    death: dict[int, int] = {trace.input.storage: 0}
    nbytes: dict[int, int] = {trace.input.storage: prod(trace.input.shape or ()) * input_size}
    for index, step in enumerate(trace.steps):
        for tensor in step.inputs:
            death[tensor.storage] = max(death.get(tensor.storage, index), index)
        storage = step.output.storage
        if not step.shown:  # a module's own parameter: counted with the weights
            continue
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


def summarize(trace: Trace, dtype: str, size: int, depth: int | None) -> Summary:
    """The summary of ``trace`` in ``dtype`` (``size`` bytes an element), its rows folded to
    ``depth`` levels of modules (None: every step a row)."""
    return Summary(
        trace.input.shape,
        trace.output.shape,
        dtype,
        depth,
        _rows(trace.steps, depth, size),
        _totals(trace, size),
        trace.notes + _state_notes(trace),
        list(trace.assumptions),
        {name: tensor.shape for name, tensor in trace.outputs.items()},
    )


def _state_notes(trace: Trace) -> list[str]:
    """What the totals leave out, and which parameters the forward does not use."""
    notes = []
    if trace.state.unknown:
        notes.append(f"parameters not known from the text (not in the totals): {', '.join(trace.state.unknown)}")
    if trace.state.own_classes:
        notes.append(f"the totals count what the text prints: parameters and buffers that a class without a "
                     f"recipe ({shown_names(trace.state.own_classes, most=6)}) "
                     "holds itself, not in a child (an nn.Parameter attribute, a register_buffer table of relative "
                     "positions, the old weight_norm's weight_g and weight_v), do not print and are not counted")
    if trace.state.not_run:
        notes.append(f"{shown_names(trace.state.not_run)}: not run by the forward in eval mode; their parameters count in the totals")
    return notes
