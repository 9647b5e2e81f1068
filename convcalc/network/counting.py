"""MACs in the counting convention of another tool: torchinfo's or fvcore's, beside convcalc's own.

convcalc's own MACs are the conv, transposed conv and linear-type work (linear, bilinear,
attention, matmul), as fvcore counts conv, linear and matmul. The other conventions:

* ``fvcore`` (``FlopCountAnalysis(model, x).total()``, default handles, one MAC per "flop"):
  conv, linear and matmul as convcalc; plus batch norm (2 per element with running statistics
  and an affine, 1 without the affine, 5 or 4 per element when it normalises by the batch),
  group, layer and instance norm (5 per element with an affine, 4 without), nearest and
  bilinear 2-d upsampling (1 and 4 per output element) and 2-d adaptive average pooling (1 per
  input element). Nothing for other pooling, activations, element-wise ops, 1-d and 3-d
  resampling, Bilinear or Embedding. Attention as torchvision's ViT calls it
  (``need_weights=False``) runs ``scaled_dot_product_attention``, which fvcore has no handle for:
  only its four projections count.
* ``torchinfo`` (``summary(model, input_size).total_mult_adds``): each call of a module without
  child modules counts its parameters: a conv's (weight and bias) once per output position
  (batch × output spatial), any other module's ``weight`` and ``bias`` once per output row
  (the output's first dim), other parameters once per entry of the output's first two dims.
  So it counts the bias, BatchNorm's and LayerNorm's affine, Embedding's table and a transposed
  conv's weight per *output* position; Linear on (N, L, in) counts its weight N times, not N·L;
  nothing for modules with children (MultiheadAttention, whose out_proj is a child), functional
  calls, operations, pooling and activations.

A layer declares what these need: ``traced_op`` (the aten operator fvcore's trace sees),
``fvcore_per_element`` (what fvcore's norm handles count per element) and
``prints_children`` (torch's module has children); its ``family`` says "conv" where torchinfo's
class-name test ("Conv" in the name) does.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Callable

from ..layers.base import Layer, Shape, prod
if TYPE_CHECKING:  # the graph loads the spec reader: not on a single layer's start-up path
    from .graph import Step, Trace

# convcalc's own convention, named after the package (spelt from the module's name: a string
# that equals a module's name reads as a lazy import of it to the architecture check).
OWN = __name__.partition(".")[0]
COUNTS = (OWN, "torchinfo", "fvcore")
COUNT_HELP = "MACs as convcalc, torchinfo or fvcore count them"


def _torchinfo(layer: Layer, step: Step) -> int:
    out = step.output.shape or ()
    if getattr(layer, "prints_children", False) or step.functional or not out:  # torch's module has children
        return 0
    total = 0
    for name, shape in layer.param_shapes().items():
        if name in ("weight", "bias"):
            rows = prod((out[0], *out[2:])) if layer.family == "conv" else out[0]
        elif "weight" in name or "bias" in name:
            rows = prod(out[:2])
        else:
            continue
        total += rows * prod(shape)
    return total


def _per_element(scale: int, of_output: bool = False) -> Callable[[Layer, Step, int], int]:
    def count(layer: Layer, step: Step, macs: int) -> int:
        shape = step.output.shape if of_output else step.inputs[0].shape
        return scale * prod(shape or ())
    return count


def _norm(layer: Layer, step: Step, macs: int) -> int:
    return (layer.fvcore_per_element() or 0) * prod(step.inputs[0].shape or ())


def _projections(layer: Any, step: Step, macs: int) -> int:
    return macs - layer.product_macs(step.inputs[0].shape, **step.forward_kwargs)


# fvcore's default handles, by the aten operator a layer's forward runs (Layer.traced_op).
_FVCORE: dict[str, Callable[[Any, Step, int], int]] = {
    "convolution": lambda layer, step, macs: macs,
    "linear": lambda layer, step, macs: macs,
    "batch_norm": _norm,
    "group_norm": _norm,
    "layer_norm": _norm,
    "instance_norm": _norm,
    "upsample_nearest2d": _per_element(1, of_output=True),
    "upsample_bilinear2d": _per_element(4, of_output=True),
    "adaptive_avg_pool2d": _per_element(1),
    "multi_head_attention": _projections,
}


def _fvcore(layer: Layer, step: Step, macs: int) -> int:
    handle = _FVCORE.get(layer.traced_op(step.inputs[0].shape or ()) or "")
    return 0 if handle is None else handle(layer, step, macs)


def step_macs(step: Step, count: str) -> int | None:
    """The MACs of one step of a trace in the ``count`` convention (None where unknown).

    >>> from convcalc import parse_network
    >>> steps = parse_network("Conv2d(3, 8, 3)\\nBatchNorm2d(8)").trace((1, 3, 8, 8)).steps
    >>> [[step_macs(step, count) for step in steps] for count in COUNTS]
    [[7776, 0], [8064, 16], [7776, 576]]
    """
    if step.macs is None or count == OWN:
        return step.macs
    if step.layer is None:  # operations: matmul's MACs are fvcore's too; torchinfo sees no module
        return step.macs if count == "fvcore" else 0
    if count == "torchinfo":
        return _torchinfo(step.layer, step)
    return _fvcore(step.layer, step, step.macs)


def recount(trace: Trace, count: str) -> Trace:
    """``trace`` with every step's MACs in the ``count`` convention (FLOPs stay convcalc's).

    >>> from convcalc import parse_network
    >>> trace = parse_network("Conv2d(3, 8, 3)\\nBatchNorm2d(8)").trace((1, 3, 8, 8))
    >>> [(step.macs, step.flops) for step in recount(trace, "fvcore").steps]
    [(7776, 15840), (576, 576)]
    """
    if count == OWN:
        return trace
    steps = [dataclasses.replace(step, macs=step_macs(step, count)) for step in trace.steps]
    return dataclasses.replace(trace, steps=steps)


def layer_macs(layer: Layer, input_shape: Shape, output_shape: Shape, macs: int, count: str,
               forward_kwargs: dict[str, Any] | None = None) -> int:
    """One layer's MACs in the ``count`` convention, for the single-layer commands.

    >>> from convcalc import Linear
    >>> [layer_macs(Linear(4, 2), (3, 5, 4), (3, 5, 2), 120, count) for count in COUNTS]
    [120, 30, 120]
    """
    from .graph import Step, Tensor

    step = Step("layer", "", type(layer).__name__, 1, (), (Tensor(0, input_shape, 0, None),),
                Tensor(1, output_shape, 1, None),
                layer=layer, forward_kwargs=dict(forward_kwargs or {}), macs=macs)
    return step_macs(step, count)  # type: ignore[return-value]
