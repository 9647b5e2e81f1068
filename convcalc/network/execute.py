"""Running a parsed network's forward pass in NumPy, step by step over its trace.

``Network.trace()`` gives the forward pass as a flat program (layers, residual adds, inserted
flattens) over tensor ids; this module evaluates it. Values are dropped after their last use,
so memory follows the summary's peak estimate unless every activation is recorded.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .graph import Step, Trace
from .plan import NetworkRun, check_state, own_state, prepare_plan, walk

__all__ = ["NetworkRun", "run_network", "run_network_bytes", "run_spec", "state_dict_shapes", "state_roles"]


def state_dict_shapes(trace: Trace) -> dict[str, tuple[int, ...]]:
    """The state_dict keys (``features.0.weight``) and shapes of a traced network.

    >>> from convcalc import parse_network
    >>> state_dict_shapes(parse_network("Conv2d(1, 2, 3)\\nBatchNorm2d(2)").trace((1, 1, 5, 5)))["1.running_var"]
    (2,)
    """
    return {**trace.state.params, **trace.state.buffers}


def state_roles(trace: Trace) -> dict[str, str]:
    """State_dict key -> its role as the layer declares it (``Layer.param_roles``), so random
    parameters get torch-like initial values.

    >>> from convcalc import parse_network
    >>> state_roles(parse_network("Conv2d(1, 2, 3)\\nPReLU()").trace((1, 1, 5, 5)))
    {'0.weight': 'fan_in', '0.bias': 'fan_in', '1.weight': 'slope'}
    """
    return dict(trace.state.roles)


def run_network(
    trace: Trace,
    x: np.ndarray,
    params: dict[str, np.ndarray],
    *,
    record: bool = False,
    progress: Callable[[int, int], None] | None = None,
    where: str = "the weights",
    prepared: bool = True,
    fold: bool = True,
) -> NetworkRun:
    """Evaluate the trace on ``x`` with state_dict ``params``; ``progress(done, total)`` after each step.

    By default through a prepared plan (:mod:`convcalc.network.plan`), with its folds unless
    ``fold=False``; ``prepared=False`` calls each step's layer as :meth:`Layer.forward` does,
    checks included, and folds nothing.

    >>> from convcalc import parse_network
    >>> trace = parse_network("input 1x3\\nIdentity()\\nFlatten()").trace()
    >>> run_network(trace, np.ones((1, 3)), {}).output.tolist()
    [[1.0, 1.0, 1.0]]
    >>> run_network(trace, np.ones((1, 3)), {}, prepared=False).output.tolist()
    [[1.0, 1.0, 1.0]]
    """
    if prepared:
        return prepare_plan(trace, x, params, record=record, fold=fold, progress=progress, where=where)[1]
    check_state(trace, params, where)
    return walk(trace, x, lambda index, step, inputs: _evaluate(step, inputs, params), record, progress)


def _evaluate(step: Step, inputs: list[Any], params: dict[str, np.ndarray]) -> Any:
    """One step on arrays: a layer with its own state_dict entries, a parameter, or an operation."""
    if step.kind == "param":
        assert step.state_key is not None
        return params[step.state_key]
    if step.layer is None:
        assert step.compute is not None
        return step.compute(*inputs)
    result = step.layer.forward(inputs[0], own_state(step, params), **step.forward_kwargs)
    if isinstance(result, tuple):  # max-pool with return_indices: the values flow on
        result = result[0]
    return result


def run_network_bytes(trace: Trace, shape: Any, state: dict[str, Any], activation_bytes: int, real: Any) -> int:
    """Upper bound of what ``net --run`` allocates: the input and the state, every activation (all
    are kept, for the statistics and --save), and the most any one step needs while it runs (its
    layer's own estimate, scratch included: ``tensors.memory.run_bytes``)."""
    from ..tensors.memory import estimate_bytes, run_bytes

    step_peak = 0
    for step in trace.steps:
        if not step.inputs or step.inputs[0].shape is None or step.output.shape is None:
            continue
        layer = step.layer
        if layer is None:  # an operation: its inputs and output, and as much again for NumPy's temporaries
            need = 2 * estimate_bytes([t.shape for t in step.inputs] + [step.output.shape], real)
        else:
            own = list({**layer.param_shapes(), **layer.buffer_shapes()}.values())
            need = run_bytes(layer, step.inputs[0].shape, step.output.shape, own, real)
        step_peak = max(step_peak, need)
    # Kept activations: every step's output, views and in-place results too (NumPy may copy them).
    kept = estimate_bytes([step.output.shape for step in trace.steps if step.shown and step.output.shape], real)
    # The state is drawn or read in float64 and cast: up to three times its size while it is made.
    return estimate_bytes([shape], real) + 3 * estimate_bytes(list(state.values()), real) + max(kept, activation_bytes) + step_peak


def run_spec(
    network: Any,
    source: Any,
    *,
    weights: str | None = None,
    fill_weights: str = "normal",
    seed: int | None = 0,
    dtype: str = "float32",
    max_memory: int | None = None,
    depth: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Any, NetworkRun, list[str]]:
    """``convcalc net --run``: input from ``source`` (a run.InputSource), weights from a file or
    random, the memory estimate checked before anything is allocated, every activation kept.

    Returns (summary, run, warnings).
    """
    from ..single.run import parameters
    from ..tensors.arrays import float_dtype
    from ..tensors.fill import make_rng
    from ..tensors.memory import check_memory
    from .trace import refuse_value_assumptions

    real = float_dtype(dtype)
    rng = make_rng(seed)
    if source.shape is None:
        source = source._replace(shape=network.input_shape)
    shape, stored, warnings = source.shape_and_file(real, integer=None)  # floats or row numbers: the trace says
    summary = network.summary(shape, dtype, depth)
    trace = network.trace(shape)
    if network.strict:
        refuse_value_assumptions(trace.assumptions)
    reader = trace.index_reader()
    loaded = None
    if stored is not None:
        loaded, finished = source.finish(stored, real, reader is not None)
        warnings = warnings + finished
        del stored
    expected = state_dict_shapes(trace)
    check_memory(run_network_bytes(trace, shape, expected, summary.totals.activation_bytes or 0, real), max_memory)
    x = loaded if loaded is not None else source.random(shape, rng, real, reader)
    params, more = parameters(expected, weights, fill_weights, rng, real, state_roles(trace), max_memory)
    where = weights or "the random weights"
    run = run_network(trace, x, params, record=True, progress=progress, where=where)
    return summary, run, warnings + more
