"""One output element taken apart: the window, kernel slice, products and sums that make it.

``explain(layer, x, params, at)`` returns plain data (:class:`Explanation`) and checks its total
against the layer's own forward pass. Pure: it never prints. NumPy is imported here, so only
forward paths (``convcalc explain``) import this module.

>>> import numpy as np
>>> from convcalc import Conv1d
>>> x = np.array([[[1.0, 2.0, 3.0]]])
>>> e = explain(Conv1d(1, 1, 2, bias=False), x, {"weight": np.array([[[10.0, 1.0]]])}, (0, 0, 1))
>>> e.terms[0].products, e.total, e.agrees
([20.0, 3.0], 23.0, True)
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import ConvcalcError
from ..layers.base import Layer, Shape
from ..shapes import format_shape, parse_ints

# The windows (Layer.window) explain takes apart; each is an Explanation's kind.
EXPLAINED_WINDOWS = ("conv", "transposed", "max", "avg")
VIEWS = ("sum", "matmul")

# What one explanation may hold, so that it comes in well under a second whatever the layer:
# windows of at most MAX_TAPS taps (a 32×32 kernel) are taken apart; the first TERMS_LISTED
# input channels are listed tap by tap and the rest summed into one figure (OtherChannels);
# the dilation holes of an axis are listed up to HOLES_LISTED; the matmul view takes weight
# slices of at most MATMUL_MAX_CHANNELS × MATMUL_MAX_CHANNELS over MATMUL_MAX_TAPS taps.
MAX_TAPS = 1024
TERMS_LISTED = 16
HOLES_LISTED = 16
MATMUL_MAX_CHANNELS = 16
MATMUL_MAX_TAPS = 128


@dataclass
class AxisWindow:
    """Where a window's taps land along one spatial dim, in input coordinates.

    ``kinds[t]`` is ``input`` (read from the input), ``padding`` (outside it, inside the padding)
    or ``overhang`` (a ceil-mode window reaching past the padding too). ``source[t]`` is the
    input coordinate a padded tap reads in reflect/replicate/circular mode, else None.
    """

    size: int
    positions: list[int]
    kinds: list[str]
    source: list[int | None]
    holes: list[int]  # coordinates between taps that dilation skips (the first HOLES_LISTED)
    holes_total: int = 0  # how many coordinates dilation skips in all


@dataclass
class ChannelTerm:
    """One input channel's share: window values times kernel slice, summed (taps in C order)."""

    channel: int
    values: list[float]
    weights: list[float]
    products: list[float]
    sum: float


@dataclass
class OtherChannels:
    """The input channels past the first TERMS_LISTED: counted, not listed tap by tap."""

    first: int
    last: int
    count: int
    sum: float  # their channel sums added up
    scatter: int = 0  # transposed convs: the (input cell, tap) pairs they add


@dataclass
class GroupInfo:
    group: int
    groups: int
    in_channels: list[int]
    out_channels: list[int]
    depthwise: bool


@dataclass
class MatmulTerm:
    """Seed 001's per-pixel view: at kernel tap ``tap``, ``weight @ pixel`` ([c_out/g] result)."""

    tap: list[int]
    position: list[int]
    padding: bool
    weight: list[list[float]]  # [c_out/g, c_in/g]
    pixel: list[float]  # [c_in/g]
    product: list[float]


@dataclass
class ScatterTerm:
    """A transposed conv's contribution: input cell ``position`` of ``channel`` through ``tap``."""

    channel: int
    position: list[int]
    tap: list[int]
    value: float
    weight: float
    product: float


@dataclass
class PoolDetail:
    kind: str  # "max" or "avg"
    values: list[float]  # one per tap in C order; padding taps hold the fill (0 for avg, nan-free)
    chosen: int | None = None  # max: tap of the maximum
    flat_index: int | None = None  # max: its position in the plane, as return_indices gives it
    forward_index: int | None = None
    sum: float | None = None
    divisor: int | None = None
    divisor_reason: list[str] = field(default_factory=list)


@dataclass
class Explanation:
    kind: str  # "conv", "transposed", "max" or "avg"
    layer: str
    input_shape: Shape
    output_shape: Shape
    at: tuple[int, ...]
    batch: int | None
    channel: int  # output channel (the plane for pools)
    spatial: tuple[int, ...]
    kernel_size: tuple[int, ...]
    axes: list[AxisWindow] = field(default_factory=list)
    group: GroupInfo | None = None
    terms: list[ChannelTerm] = field(default_factory=list)  # the first TERMS_LISTED input channels
    other_channels: OtherChannels | None = None  # the rest, summed
    scatter: list[ScatterTerm] = field(default_factory=list)  # of the listed channels
    matmul: list[MatmulTerm] | None = None
    matmul_channels: list[int] = field(default_factory=list)
    matmul_total: list[float] = field(default_factory=list)
    matmul_forward: list[float] = field(default_factory=list)
    pool: PoolDetail | None = None
    bias: float | None = None
    total: float = 0.0
    forward: float = 0.0
    agrees: bool = True
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("input_shape", "output_shape", "at", "spatial", "kernel_size"):
            data[key] = list(data[key])
        return _finite(data)


def _finite(value: Any) -> Any:
    """JSON has no NaN or infinity: write them as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def parse_at(text: str | None, output_shape: Shape) -> tuple[int, ...]:
    """``--at 0,1,2,3`` (or ``0x1x2x3``) checked against the output shape; default: the first."""
    if text is None:
        return (0,) * len(output_shape)
    example = ",".join("0" * len(output_shape))
    at = parse_ints(text, "--at", allow_negative=True, example=example)
    return check_at(at, output_shape)


def check_at(at: Sequence[int], output_shape: Shape) -> tuple[int, ...]:
    at = tuple(int(i) for i in at)
    shape_text = format_shape(output_shape)
    if len(at) != len(output_shape):
        raise ConvcalcError(
            f"--at has {len(at)} indices but the output {shape_text} has {len(output_shape)} dims; "
            f"give {len(output_shape)}, e.g. --at {','.join('0' * len(output_shape))}"
        )
    for dim, (i, n) in enumerate(zip(at, output_shape)):
        if not 0 <= i < n:
            raise ConvcalcError(
                f"--at index {i} is out of range for dim {dim} of the output {shape_text}; "
                f"use 0 to {n - 1}"
            )
    return at


def explainable(cls: type[Layer]) -> bool:
    """Whether explain can take an output of ``cls`` apart: its window is one it knows.

    >>> from convcalc import AvgPool2d, LPPool2d
    >>> explainable(AvgPool2d), explainable(LPPool2d)
    (True, False)
    """
    return cls.window in EXPLAINED_WINDOWS


def check_explainable(layer: Layer) -> str:
    """The layer's class name, or a ConvcalcError naming the layers explain can take apart."""
    name = type(layer).__name__
    if not explainable(type(layer)):
        from ..registry import layer_classes

        names = [cls.__name__ for cls in layer_classes().values() if explainable(cls)]
        raise ConvcalcError(f"explain cannot take {name} apart; it explains {', '.join(names)}")
    return name


def check_window(layer: Layer, view: str = "sum") -> None:
    """Refuse, before anything runs, a window too large to take apart tap by tap (a 300×300
    kernel took 49 s to draw), and a matmul view of weight slices too large to show.

    >>> from convcalc import Conv2d
    >>> check_window(Conv2d(1, 1, 40))
    Traceback (most recent call last):
    ...
    convcalc.errors.ConvcalcError: explain takes apart windows of at most 1,024 taps, and kernel_size=(40, 40) has 1,600; use a kernel of at most 32×32 (or as many taps), or run the whole layer with --run
    """
    kernel = tuple(layer.kernel_size)  # type: ignore[attr-defined]
    taps = math.prod(kernel)
    if taps > MAX_TAPS:
        raise ConvcalcError(
            f"explain takes apart windows of at most {MAX_TAPS:,} taps, and kernel_size={kernel} has "
            f"{taps:,}; use a kernel of at most 32×32 (or as many taps), or run the whole layer with --run"
        )
    if view != "matmul" or type(layer).window != "conv":
        return
    groups = layer.groups  # type: ignore[attr-defined]
    outs, ins = layer.out_channels // groups, layer.in_channels // groups  # type: ignore[attr-defined]
    if max(outs, ins) > MATMUL_MAX_CHANNELS or taps > MATMUL_MAX_TAPS:
        raise ConvcalcError(
            f"--view matmul shows a [c_out/g, c_in/g] weight slice per kernel tap, at most "
            f"{MATMUL_MAX_CHANNELS}×{MATMUL_MAX_CHANNELS} over {MATMUL_MAX_TAPS} taps; this layer's are "
            f"{outs}×{ins} over {taps}; use --view sum, which lists any number of channels"
        )


def explain(
    layer: Layer, x: Any, params: dict[str, Any] | None, at: Sequence[int] | None = None,
    *, view: str = "sum", **forward_kwargs: Any,
) -> Explanation:
    """Take output element ``at`` of ``layer`` applied to ``x`` apart (see the module doc)."""
    name = check_explainable(layer)
    if view not in VIEWS:
        raise ConvcalcError(f"--view {view!r} is not one of: {', '.join(VIEWS)}")
    kind = type(layer).window
    if view == "matmul" and kind != "conv":
        raise ConvcalcError(f"--view matmul is for convolutions (Conv1d/2d/3d), not {name}")
    check_window(layer, view)
    x = np.asarray(x)
    params = dict(params or {})
    out_shape = layer.output_shape(tuple(x.shape), **forward_kwargs)
    at = check_at(at if at is not None else (0,) * len(out_shape), out_shape)
    output = layer.forward(x, params, **forward_kwargs)
    if isinstance(output, tuple):
        output = output[0]
    nd = layer.nd  # type: ignore[attr-defined]
    batched = len(out_shape) == nd + 2
    xb = x if batched else x[None]
    n = at[0] if batched else 0
    channel, spatial = at[-nd - 1], tuple(at[-nd:])
    explanation = Explanation(
        kind=kind, layer=repr(layer), input_shape=tuple(x.shape), output_shape=tuple(out_shape),
        at=at, batch=at[0] if batched else None, channel=channel, spatial=spatial,
        kernel_size=tuple(layer.kernel_size),  # type: ignore[attr-defined]
        forward=float(output[at]),
    )
    if kind == "conv":
        _explain_conv(explanation, layer, xb[n], params, view)
        if explanation.matmul is not None:
            channel_dim = len(at) - nd - 1
            explanation.matmul_forward = [
                float(output[(*at[:channel_dim], o, *spatial)]) for o in explanation.matmul_channels
            ]
            magnitudes = [
                abs(w * v) for term in explanation.matmul for row in term.weight for w, v in zip(row, term.pixel)
            ]
            if params.get("bias") is not None:
                magnitudes += [abs(float(params["bias"][o])) for o in explanation.matmul_channels]
            tolerance = _tolerance(x.dtype, magnitudes, len(magnitudes))
            explanation.agrees = explanation.agrees and all(
                _close(a, b, tolerance) for a, b in zip(explanation.matmul_total, explanation.matmul_forward)
            )
    elif kind == "transposed":
        _explain_transposed(explanation, layer, xb[n], params)
    elif kind == "max":
        _explain_max(explanation, layer, xb, n)
    else:
        _explain_avg(explanation, layer, xb[n])
    return explanation


# -- convolution ----------------------------------------------------------------------------------


def _axis_window(start: int, kernel: int, dilation: int, size: int, pad_right: int, mode: str = "zeros") -> AxisWindow:
    positions = [start + t * dilation for t in range(kernel)]
    kinds = [_kind(p, size, pad_right) for p in positions]
    source: list[int | None] = [None] * kernel
    if mode != "zeros":
        from ..kernels.conv.padding import source_index  # the forward kernel's own rule for padded reads

        read = source_index(np.array(positions), size, mode).tolist()
        source = [int(r) if k != "input" else None for r, k in zip(read, kinds)]
    holes: list[int] = []
    for a, b in zip(positions, positions[1:]):
        if len(holes) >= HOLES_LISTED:
            break
        holes += range(a + 1, min(b, a + 1 + HOLES_LISTED - len(holes)))
    return AxisWindow(size, positions, kinds, source, holes, (kernel - 1) * (dilation - 1))


def _kind(position: int, size: int, pad_right: int) -> str:
    if 0 <= position < size:
        return "input"
    return "overhang" if position >= size + pad_right else "padding"


def _window_block(planes: np.ndarray, axes: list[AxisWindow], fill: float) -> np.ndarray:
    """The window's tap values over a stack of input planes, as float64 of shape
    (planes, *kernel); padding reads ``fill`` unless the padding mode gives it a source cell."""
    reads, inside = [], []
    for axis in axes:
        index = [p if k == "input" else (src if src is not None else -1)
                 for p, k, src in zip(axis.positions, axis.kinds, axis.source)]
        read = np.array(index, dtype=np.int64)
        inside.append(read >= 0)
        reads.append(np.maximum(read, 0))
    block = np.asarray(planes[(slice(None), *np.ix_(*reads))], dtype=np.float64)
    mask = inside[0]
    for more in inside[1:]:
        mask = np.multiply.outer(mask, more)
    return np.where(mask, block, fill)


def _window_values(plane: np.ndarray, axes: list[AxisWindow], fill: float) -> list[float]:
    """The tap values of one input plane, in C order of the taps."""
    return _window_block(plane[None], axes, fill).ravel().tolist()


def _tolerance(dtype: np.dtype, magnitudes: Any, count: int) -> float:
    eps = float(np.finfo(dtype).eps) if np.issubdtype(dtype, np.floating) else 0.0
    values = np.abs(np.asarray(magnitudes, dtype=np.float64).ravel())
    finite = values[np.isfinite(values)]
    scale = math.fsum(finite.tolist()) if finite.size <= 1 << 16 else float(finite.sum())
    return (count + 2) * eps * scale


def _close(total: float, forward: float, tolerance: float) -> bool:
    if not (math.isfinite(total) and math.isfinite(forward)):
        return total == forward or (math.isnan(total) and math.isnan(forward))
    return abs(total - forward) <= tolerance


def _sum(values: Sequence[float]) -> float:
    if len(values) > 4096:  # a million channel sums: float64's rounding is far below float32's
        return float(np.sum(np.asarray(values, dtype=np.float64)))
    if all(math.isfinite(v) for v in values):
        return math.fsum(values)  # exact, so the only rounding left is the forward pass's
    return float(sum(values))


def _channel_sums(products: np.ndarray) -> list[float]:
    """Each row's sum: exact (fsum) up to 4096 rows, float64 sums past them (a million channels
    took seconds one fsum at a time; their rounding is far below the forward pass's)."""
    if len(products) <= 4096:
        return [_sum(row) for row in products.tolist()]
    return products.sum(axis=1).tolist()


def _terms(e: Explanation, channels: Sequence[int], values: np.ndarray, weights: np.ndarray,
           bias: Any) -> np.ndarray:
    """Fill ``e``'s terms (the first TERMS_LISTED channels), other_channels, bias and total from
    per-channel rows of tap values and weights; returns the products (for the tolerance)."""
    products = values * weights
    sums = _channel_sums(products)
    for j, ci in enumerate(channels[:TERMS_LISTED]):
        e.terms.append(ChannelTerm(ci, values[j].tolist(), weights[j].tolist(), products[j].tolist(), sums[j]))
    if len(channels) > TERMS_LISTED:
        e.other_channels = OtherChannels(channels[TERMS_LISTED], channels[-1], len(channels) - TERMS_LISTED,
                                         _sum(sums[TERMS_LISTED:]))
    e.bias = None if bias is None else float(np.asarray(bias)[e.channel])
    e.total = _sum(sums + ([e.bias] if e.bias is not None else []))
    return products


def _group_info(layer: Any, channel: int) -> GroupInfo:
    groups = layer.groups
    in_per, out_per = layer.in_channels // groups, layer.out_channels // groups
    group = channel // out_per
    return GroupInfo(
        group, groups, list(range(group * in_per, (group + 1) * in_per)),
        list(range(group * out_per, (group + 1) * out_per)),
        groups > 1 and groups == layer.in_channels,
    )


def _explain_conv(e: Explanation, layer: Any, image: np.ndarray, params: dict[str, Any], view: str) -> None:
    weight = np.asarray(params["weight"])
    bias = params.get("bias")
    group = _group_info(layer, e.channel)
    e.group = group
    e.axes = [
        _axis_window(o * s - left, k, d, size, right, layer.padding_mode)
        for o, s, (left, right), k, d, size in zip(
            e.spatial, layer.stride, layer.pads, layer.kernel_size, layer.dilation, image.shape[1:]
        )
    ]
    local_out = e.channel - group.out_channels[0]
    ins = group.in_channels
    values = _window_block(image[ins[0] : ins[-1] + 1], e.axes, 0.0).reshape(len(ins), -1)
    weights = np.asarray(weight[e.channel], dtype=np.float64).reshape(len(ins), -1)
    products = _terms(e, ins, values, weights, bias)
    magnitudes = np.concatenate([products.ravel(), [e.bias] if e.bias is not None else []])
    e.agrees = _close(e.total, e.forward, _tolerance(image.dtype, magnitudes, magnitudes.size))
    if any(kind != "input" for axis in e.axes for kind in axis.kinds):
        mode = layer.padding_mode
        e.notes.append(
            "padding cells read 0" if mode == "zeros" else f"padding cells read the input ({mode} padding)"
        )
    if view == "matmul":
        _matmul_view(e, layer, image, weight, bias, group, local_out)


def _matmul_view(
    e: Explanation, layer: Any, image: np.ndarray, weight: np.ndarray, bias: Any, group: GroupInfo, local_out: int
) -> None:
    outs, ins = group.out_channels, group.in_channels
    e.matmul, e.matmul_channels = [], list(outs)
    totals = [0.0] * len(outs)
    columns = {ci: _window_values(image[ci], e.axes, 0.0) for ci in ins}
    for flat, taps in enumerate(itertools.product(*(range(k) for k in layer.kernel_size))):
        w = weight[outs[0] : outs[-1] + 1][(slice(None), slice(None), *taps)]
        pixel = [columns[ci][flat] for ci in ins]
        product = [math.fsum(float(a) * b for a, b in zip(row, pixel)) for row in w.tolist()]
        totals = [t + p for t, p in zip(totals, product)]
        e.matmul.append(MatmulTerm(
            list(taps), [axis.positions[t] for axis, t in zip(e.axes, taps)],
            any(axis.kinds[t] != "input" for axis, t in zip(e.axes, taps)),
            [[float(v) for v in row] for row in w.tolist()], pixel, product,
        ))
    if bias is not None:
        totals = [t + float(np.asarray(bias)[o]) for t, o in zip(totals, outs)]
    e.matmul_total = totals


# -- transposed convolution -----------------------------------------------------------------------


def _explain_transposed(e: Explanation, layer: Any, image: np.ndarray, params: dict[str, Any]) -> None:
    weight = np.asarray(params["weight"])
    group = _group_info(layer, e.channel)
    e.group = group
    local_out = e.channel - group.out_channels[0]
    # Along each dim, the (input position, tap) pairs with i·stride + tap·dilation − padding = y.
    per_axis = []
    for y, s, p, d, k, size in zip(e.spatial, layer.stride, layer.padding, layer.dilation, layer.kernel_size,
                                   image.shape[1:]):
        pairs = []
        for tap in range(k):
            reach = y + p - tap * d
            if reach % s == 0 and 0 <= reach // s < size:
                pairs.append((reach // s, tap))
        per_axis.append(pairs)
    combos = list(itertools.product(*per_axis))
    ins = group.in_channels
    positions = tuple(np.array([c[a][0] for c in combos], dtype=np.int64) for a in range(len(per_axis)))
    taps = tuple(np.array([c[a][1] for c in combos], dtype=np.int64) for a in range(len(per_axis)))
    planes = image[ins[0] : ins[-1] + 1]
    values = np.asarray(planes[(slice(None), *positions)], dtype=np.float64).reshape(len(ins), len(combos))
    kernels = weight[ins[0] : ins[-1] + 1, local_out]
    weights = np.asarray(kernels[(slice(None), *taps)], dtype=np.float64).reshape(len(ins), len(combos))
    products = _terms(e, ins, values, weights, params.get("bias"))
    for term in e.terms:
        for (position, tap), value, w, product in zip(
            ((list(p for p, _ in c), list(t for _, t in c)) for c in combos), term.values, term.weights, term.products
        ):
            e.scatter.append(ScatterTerm(term.channel, position, tap, value, w, product))
    if e.other_channels is not None:
        e.other_channels.scatter = e.other_channels.count * len(combos)
    magnitudes = np.concatenate([products.ravel(), [e.bias] if e.bias is not None else []])
    e.agrees = _close(e.total, e.forward, _tolerance(image.dtype, magnitudes, magnitudes.size))
    if not combos:
        e.notes.append("no input cell scatters here: the element is the bias alone" if e.bias is not None
                       else "no input cell scatters here: the element is 0")


# -- pooling ----------------------------------------------------------------------------------------


def _pool_axes(e: Explanation, layer: Any, sizes: Sequence[int], dilations: Sequence[int]) -> list[AxisWindow]:
    return [
        _axis_window(o * s - p, k, d, size, p)
        for o, s, p, k, d, size in zip(e.spatial, layer.stride, layer.padding, layer.kernel_size, dilations, sizes)
    ]


def _explain_max(e: Explanation, layer: Any, batch: np.ndarray, n: int) -> None:
    from ..kernels.pooling import max_pool_nd

    plane = batch[n][e.channel]
    e.axes = _pool_axes(e, layer, plane.shape, layer.dilation)
    values = _window_values(plane, e.axes, -math.inf)
    read = [
        i for i, taps in enumerate(itertools.product(*(range(len(a.positions)) for a in e.axes)))
        if all(a.kinds[t] == "input" for a, t in zip(e.axes, taps))
    ]
    # torch keeps the first maximum in tap order, and a NaN wins over any number.
    chosen = None
    for i in read:
        if chosen is None or values[i] > values[chosen] or (math.isnan(values[i]) and not math.isnan(values[chosen])):
            chosen = i
    detail = PoolDetail("max", values)
    if chosen is not None:
        taps = np.unravel_index(chosen, tuple(len(a.positions) for a in e.axes))
        position = [a.positions[t] for a, t in zip(e.axes, taps)]
        detail.chosen = chosen
        detail.flat_index = int(np.ravel_multi_index(position, plane.shape))
        e.total = values[chosen]
    else:
        e.total = -math.inf
    _, indices = max_pool_nd(batch, layer.kernel_size, layer.stride, layer.padding, layer.dilation,
                             layer.ceil_mode, True)
    detail.forward_index = int(indices[(n, e.channel, *e.spatial)])
    e.pool = detail
    # A window over padding alone has no maximum of its own; its index is whatever the kernel left.
    same_index = chosen is None or detail.forward_index == detail.flat_index
    e.agrees = _close(e.total, e.forward, 0.0) and same_index
    if chosen is None:
        e.notes.append("every cell of this window is outside the input (dilation can do that): −inf")
    if any(k != "input" for a in e.axes for k in a.kinds):
        e.notes.append("cells outside the input are never the maximum (torch pads with −inf)")


def _explain_avg(e: Explanation, layer: Any, image: np.ndarray) -> None:
    plane = image[e.channel]
    e.axes = _pool_axes(e, layer, plane.shape, (1,) * layer.nd)
    values = _window_values(plane, e.axes, 0.0)
    total_sum = _sum(values)
    divisor = layer.divisor(e.spatial, plane.shape)  # the layer's one divisor rule
    e.pool = PoolDetail("avg", values, sum=total_sum, divisor=divisor,
                        divisor_reason=_divisor_reason(layer, e.axes, e.spatial, plane.shape))
    e.total = total_sum / divisor
    e.agrees = _close(e.total, e.forward, _tolerance(image.dtype, values, len(values)) / abs(divisor) + (
        float(np.finfo(image.dtype).eps) * abs(e.total) if np.issubdtype(image.dtype, np.floating) else 0.0))


def _divisor_reason(layer: Any, axes: list[AxisWindow], index: Sequence[int], sizes: Sequence[int]) -> list[str]:
    reasons = []
    if layer.divisor_override is not None:
        reasons.append(f"divisor_override={layer.divisor_override} replaces the window's own count")
    factors = []
    for axis, (window, i, size) in enumerate(zip(axes, index, sizes)):
        factor = layer.divisor_factor(axis, i, size)
        factors.append(factor)
        inputs = window.kinds.count("input")
        padding = window.kinds.count("padding")
        overhang = window.kinds.count("overhang")
        text = f"dim {axis}: {inputs} input cell{'s' if inputs != 1 else ''}"
        if padding:
            counted = "counted" if layer.count_include_pad else "not counted (count_include_pad=False)"
            text += f" + {padding} padding {counted}"
        if overhang:
            text += f"; {overhang} cell{'s' if overhang != 1 else ''} past the padding (ceil_mode overhang) never counted"
        reasons.append(f"{text} → {factor}")
    if layer.divisor_override is None:
        reasons.append(f"divisor = {' × '.join(map(str, factors))} = {math.prod(factors)}")
    return reasons
