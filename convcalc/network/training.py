"""The memory of one training step (forward, backward, optimizer step), estimated from a trace.

What a step holds at its peak, as PyTorch's autograd and optimizers hold it:

- the weights: parameters and buffers;
- one gradient per trainable parameter;
- the optimizer's state: none for plain SGD, a momentum buffer per parameter for SGD with
  momentum, two moments per parameter for Adam and AdamW;
- the activations kept for the backward pass: what each layer's class declares it keeps
  (:meth:`convcalc.layers.base.Layer.kept_for_backward`; a convolution its input, a ReLU its
  output, a max pool its input and int64 indices, ...) and what a product or matmul keeps (its
  inputs). A tensor kept by several layers (a ReLU's output, which the next convolution keeps
  as its input) is counted once, at the first layer that keeps it; views and in-place results
  share their tensor's memory.

A steady-state step (the optimizer's state made by an earlier one, the gradients set to None
by ``zero_grad``) holds the weights and the state throughout; its peak adds the larger of the
backward pass at its fullest (walked in reverse: what the layers up to the current one keep,
the gradients made so far, and the current layer's output and input gradients) and the
optimizer's update (every gradient, and Adam's two temporaries the size of the largest
parameter). Not estimated: the loss, autograd's other temporaries, allocator slack and library
scratch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..layers.base import prod
from ..shapes import parse_choice
from .graph import Step, Tensor, Trace
from .summary import Summary, row_steps

# Tensors of optimizer state per trainable parameter.
OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}
# Temporaries the size of one parameter while the optimizer updates it (Adam's denominator is
# computed out of place: sqrt, then a divide); torch's per-parameter update, its CPU default.
STEP_TEMPORARIES = {"sgd": 0, "momentum": 0, "adam": 2, "adamw": 2}
# The element types autograd can make gradients of (an integer tensor cannot require grad).
_TRAINABLE_DTYPES = ("float32", "float16", "bfloat16", "float64")


@dataclass
class TrainingMemory:
    """One training step's memory, in bytes of the summary's element type.

    ``kept`` holds each summary row's activations kept for the backward pass (a tensor
    counted at the first row keeping it, so that they add up to ``activation_bytes``).

    >>> memory = TrainingMemory("momentum", [64, 32], 96, 40, 40, 40, 256)
    >>> memory.activation_bytes == sum(memory.kept)
    True
    """

    optimizer: str
    kept: list[int | None]
    activation_bytes: int | None
    weight_bytes: int
    gradient_bytes: int
    optimizer_state_bytes: int
    peak_bytes: int | None

    def to_json(self) -> dict[str, Any]:
        """The totals as JSON (the rows' figures go with the rows).

        >>> TrainingMemory("sgd", [4], 4, 8, 8, 0, 20).to_json()["peak_bytes"]
        20
        """
        data = dict(self.__dict__)
        del data["kept"]
        return data


def training_memory(trace: Trace, summary: Summary, size: int, optimizer: str = "adam") -> TrainingMemory:
    """The memory of a training step of ``trace`` with ``optimizer``; ``summary`` is the
    trace's summary (its rows get their kept bytes), ``size`` the bytes of an element.

    >>> from convcalc import parse_network
    >>> net = parse_network("input 1x3x8x8\\nconv2d --out 4 -k 3 -p 1\\nrelu\\nmaxpool2d -k 2")
    >>> trace = net.trace()
    >>> memory = training_memory(trace, net.summary(), 4, "sgd")
    >>> memory.kept, memory.activation_bytes   # the input; relu's output; the pool's indices
    ([768, 1024, 512], 2304)
    """
    optimizer = parse_choice(optimizer, "--optimizer", tuple(OPTIMIZER_STATES))
    if not summary.dtype.startswith(_TRAINABLE_DTYPES):
        raise ConfigError(f"--train with --dtype {summary.dtype}: torch's autograd trains floating-point tensors "
                          f"only; use --dtype {', '.join(_TRAINABLE_DTYPES[:-1])} or {_TRAINABLE_DTYPES[-1]}")
    totals = summary.totals
    weights = totals.param_bytes + totals.buffer_bytes
    gradients = totals.trainable_params * size
    state = OPTIMIZER_STATES[optimizer] * gradients
    if trace.input.shape is None:
        return TrainingMemory(optimizer, [None] * len(summary.rows), None, weights, gradients, state, None)
    per_step = _kept_per_step(trace, size)
    kept = [sum(per_step.get(id(step), 0) for step in group) for _, group in row_steps(trace.steps, summary.depth)]
    largest = max((prod(shape) for shape in trace.state.params.values()), default=0) * size
    update = gradients + STEP_TEMPORARIES[optimizer] * largest
    peak = weights + state + max(_backward_peak(trace, per_step, size, gradients), update)
    return TrainingMemory(optimizer, kept, sum(per_step.values()), weights, gradients, state, peak)


def _backward_peak(trace: Trace, per_step: dict[int, int], size: int, gradients: int) -> int:
    """The most the kept activations and the gradients take at once in the backward pass. It
    runs the steps in reverse: a step makes its parameters' gradients and the gradients of its
    input from those of its output (both alive while it runs), then frees what it was the first
    to keep. A module called more than once makes its gradients at its last call, the first the
    backward reaches (later calls add to them). Parameters no step reaches count as made from
    the start."""
    def own(step: Step) -> int:
        if step.kind == "param":
            return prod(step.output.shape or ()) * size
        layer = step.layer
        if layer is None or step.functional or getattr(layer, "frozen", False):
            return 0
        return layer.num_params() * size

    made = max(gradients - sum(own(step) for step in trace.steps if step.first_call or step.kind == "param"), 0)
    alive = sum(per_step.values())
    peak = alive + made
    reached: set[str] = set()  # the modules whose gradients the walk has made
    for step in reversed(trace.steps):
        if step.kind == "param" or step.name not in reached:
            gradient = own(step)
            made += gradient
            if gradient:
                reached.add(step.name)
        if step.shown and step.output.shape is not None and step.inputs and step.inputs[0].shape is not None:
            in_flight = (prod(step.output.shape) + prod(step.inputs[0].shape)) * size
            peak = max(peak, alive + made + in_flight)
        alive -= per_step.get(id(step), 0)
    return max(peak, made)


def _kept_per_step(trace: Trace, size: int) -> dict[int, int]:
    """Bytes each step newly keeps for the backward pass, by ``id(step)``."""
    memory = _TrainingMemoryMap(trace, size)
    weights = {step.output.id for step in trace.steps if step.kind == "param"}
    kept: set[int] = set()
    per_step: dict[int, int] = {}
    for step in trace.steps:
        if not step.shown or step.output.shape is None:
            continue
        new = 0
        for tensor, nbytes in _kept_tensors(step, size):
            if tensor is None:
                new += nbytes
            elif tensor.id not in weights and memory.of(tensor) not in kept:
                kept.add(memory.of(tensor))
                new += memory.nbytes.get(memory.of(tensor), nbytes)
        per_step[id(step)] = new
    return per_step


def _kept_tensors(step: Step, size: int) -> list[tuple[Tensor | None, int]]:
    """``(tensor, bytes)`` for each tensor the step keeps; ``None`` for one of its own."""
    def nbytes(tensor: Tensor) -> int:
        return prod(tensor.shape or ()) * size

    if step.layer is None:
        return [(tensor, nbytes(tensor)) for tensor in step.inputs if tensor.shape is not None] if step.keeps_inputs else []
    x = step.inputs[0]
    if x.shape is None:
        return []
    found: list[tuple[Tensor | None, int]] = []
    for kept in step.layer.kept_for_backward(x.shape, step.output.shape or ()):
        if kept.tensor == "own":
            found.append((None, kept.elements * (kept.itemsize or size)))
        else:
            tensor = x if kept.tensor == "input" else step.output
            found.append((tensor, nbytes(tensor)))
    return found


class _TrainingMemoryMap:
    """Which memory each tensor lives in during a training-mode pass: the inference trace's
    sharing (views, in-place results), except where a layer makes a new tensor in training (a
    dropout); ``nbytes`` is the size of the tensor that made each memory (a slice's memory is
    its whole source)."""

    def __init__(self, trace: Trace, size: int) -> None:
        self.memory: dict[int, int] = {trace.input.id: trace.input.id}
        self.nbytes: dict[int, int] = {trace.input.id: prod(trace.input.shape or ()) * size}
        for step in trace.steps:
            out = step.output
            owner = next((tensor for tensor in step.inputs if tensor.storage == out.storage), None)
            if owner is not None and (step.layer is None or step.layer.shares_input_in_training()):
                self.memory[out.id] = self.of(owner)
            else:
                self.memory[out.id] = out.id
                self.nbytes[out.id] = prod(out.shape or ()) * size

    def of(self, tensor: Tensor) -> int:
        return self.memory.get(tensor.id, tensor.storage)
