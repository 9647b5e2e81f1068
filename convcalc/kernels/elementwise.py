"""Normalisations, activations, padding and rearrangements of ``torch.nn.functional`` in NumPy.

Every function keeps the input's float dtype and follows torch's formula closely enough that
NaN and ±inf land in the same cells as torch's (``softshrink(nan)`` is NaN, ``gelu(+inf)`` is
NaN in float32 as torch's erf kernel makes it, ``hardswish(-inf)`` is NaN). Where torch's own
formula overflows harmlessly (sigmoid's exp(−x) far below zero gives 1/inf = 0), so does this
one, silently: no NumPy warning escapes.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import math
from typing import Sequence

import numpy as np

from ..arith import ConvRule
from ..errors import ConvcalcError
from ._common import per_dim, row_buffering
from ._common import silent as _silent
from .slices import apply_affine, instance_planes, normalise, softmax
from .slices import log_softmax  # noqa: F401 - the activation layers look their kernel up here by name
from .threads import in_region, parallel_map, parallel_spans


# ----------------------------------------------------------------------------- normalisation


def _in_pieces(function):
    """Run an element-wise ``function(x, *scalars)`` on a large contiguous float ``x`` in
    ranges of rows side by side on the thread pool (one range: the function itself, on ``x``),
    each range in one call: a function that takes ``out=`` writes there, any other's result is
    copied into place. One call a range, not a loop over cache-sized pieces: each NumPy call of
    a thread hands the GIL over to the other threads and back, about 10 µs each way on the
    2-core development VM, which small pieces pay many times over. Rows are long (see
    ``_row_length``): NumPy's loops lose their speed on short inner dims."""
    takes_out = "out" in inspect.signature(function).parameters

    @functools.wraps(function)
    def run(x, *args, out=None, **kwargs):
        if out is not None:  # a function that takes out= (x itself: in place), given it
            kwargs["out"] = out
        if not (isinstance(x, np.ndarray) and x.ndim and x.dtype.kind == "f" and x.flags.c_contiguous):
            return function(x, *args, **kwargs)
        row = _row_length(x)
        spans = _row_spans(x, row)
        if len(spans) == 1 or not (out is None or out.flags.c_contiguous):
            return function(x, *args, **kwargs)
        rows = x.reshape(-1, row)
        result = np.empty_like(rows) if out is None else out.reshape(rows.shape)

        def range_of_rows(span: slice) -> None:
            if takes_out:
                function(rows[span], *args, **{**kwargs, "out": result[span]})
            else:
                result[span] = function(rows[span], *args, **kwargs)

        parallel_map(range_of_rows, spans)
        return result.reshape(x.shape) if out is None else out

    return run


_SHORTEST_ROW = 256


def _row_spans(x: np.ndarray, row: int) -> list[slice]:
    """The ranges of ``row``-long rows of ``x`` that ``_in_pieces`` runs side by side (one
    range, the whole: the function runs as it is).

    >>> _row_spans(np.zeros((4, 100)), 100)
    [slice(None, None, None)]
    """
    return parallel_spans(x.size // row, 2 * x.nbytes) if row >= _SHORTEST_ROW else [slice(None)]


def _row_length(x: np.ndarray) -> int:
    """The length of the rows ``_in_pieces`` cuts ``x`` into: its trailing dims but the first
    while they fit the zeros block (``_zeros_for``: a range of flat cells would turn max(x, 0)
    into NumPy's slow loop against a scalar), or, when that makes short rows (a 1-d input), the
    largest power of two up to 4096 that divides the size.

    >>> _row_length(np.zeros((2, 64, 112, 112))), _row_length(np.zeros(10 ** 6))
    (12544, 64)
    """
    row = 1
    for size in reversed(x.shape[1:]):
        if row * size > _ZEROS_BLOCK:
            break
        row *= size
    return max(row, math.gcd(x.size, 4096))


def prepared_in_place(kernel, x: np.ndarray, args: tuple = ()):
    """``lambda x: kernel(x, *args, out=x)`` for float inputs of ``x``'s shape and dtype (a
    network's plan calls it on a fresh output): where the work makes one piece (one thread,
    or too little for the pool) the kernel's own function runs with no check, and ReLU's
    zeros are made once. A few µs a call, a good part of a small activation's.

    >>> x = np.array([-1.0, 2.0])
    >>> prepared_in_place(relu, x)(x), x
    (array([0., 2.]), array([0., 2.]))
    """
    whole = getattr(kernel, "__wrapped__", None)  # the function without _in_pieces
    if whole is None:
        return lambda x: kernel(x, *args, out=x)
    if kernel is relu:
        zeros = _zeros_for(x)
        zeros.flags.writeable = False
        whole = lambda x, out: np.maximum(x, zeros, out=out)  # noqa: E731
    row = _row_length(x)

    def run(x: np.ndarray) -> np.ndarray:  # _in_pieces's choice, its row length worked out once
        if not x.flags.c_contiguous or len(_row_spans(x, row)) == 1:
            return whole(x, *args, out=x)
        return kernel(x, *args, out=x)

    return run


def _channel_shape(x: np.ndarray) -> tuple[int, ...]:
    """Shape that broadcasts a per-channel vector over ``x`` (channels at dim 1)."""
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def _affine_per_channel(x: np.ndarray, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``x·scale + shift`` with per-channel (dim 1) vectors, in two in-place passes (on the
    thread pool, channel ranges side by side, when ``x`` is large)."""
    shape = _channel_shape(x)
    scale, shift = scale.astype(x.dtype).reshape(shape), shift.astype(x.dtype).reshape(shape)
    spans = parallel_spans(x.shape[1], 2 * x.nbytes) if x.ndim >= 2 else [slice(None)]
    with row_buffering(math.prod(x.shape[2:])), _silent():
        if len(spans) == 1:
            out = np.multiply(x, scale)
            out += shift
            return out
        out = np.empty(x.shape, np.result_type(x, scale))

        def channels(span: slice) -> None:
            part = out[:, span]
            np.multiply(x[:, span], scale[:, span], out=part)
            part += shift[:, span]

        parallel_map(channels, spans)
    return out


def batch_norm(
    x: np.ndarray,
    running_mean: np.ndarray | None,
    running_var: np.ndarray | None,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    eps: float = 1e-5,
) -> np.ndarray:
    """``F.batch_norm`` in inference: ``(x − mean)/√(var + ε)·w + b`` per channel (dim 1).

    Without running statistics (``track_running_stats=False``) torch normalises with the
    batch's own statistics even in eval mode; so does this.

    >>> batch_norm(np.array([[1.0, 4.0]]), np.array([0.0, 2.0]), np.array([1.0, 4.0]), eps=0.0)
    array([[1., 1.]])
    """
    if running_mean is None or running_var is None:
        # centre first: x·α + β would cancel when the batch mean is large next to its spread
        y = normalise(x, (0, *range(2, x.ndim)), eps)
        return apply_affine(y, weight, bias, _channel_shape(x))
    return _affine_per_channel(x, *batch_norm_affine(running_mean, running_var, weight, bias, eps))


def batch_norm_affine(running_mean, running_var, weight=None, bias=None, eps: float = 1e-5) -> tuple[np.ndarray, np.ndarray]:
    """Inference batch norm as ``x·scale + shift`` per channel: ``(scale, shift)`` in float64.

    >>> [v.tolist() for v in batch_norm_affine(np.array([1.0]), np.array([4.0]), np.array([2.0]), None, 0.0)]
    [[1.0], [-1.0]]
    """
    mean = np.asarray(running_mean, dtype=np.float64)
    var = np.asarray(running_var, dtype=np.float64)
    with _silent():
        scale = 1.0 / np.sqrt(var + eps)
        if weight is not None:
            scale = scale * np.asarray(weight, dtype=np.float64)
        shift = -mean * scale
        if bias is not None:
            shift = shift + np.asarray(bias, dtype=np.float64)
    return scale, shift


def instance_norm(
    x: np.ndarray,
    running_mean: np.ndarray | None = None,
    running_var: np.ndarray | None = None,
    weight: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    use_input_stats: bool = True,
    eps: float = 1e-5,
) -> np.ndarray:
    """``F.instance_norm``: each (sample, channel) plane normalised over its spatial dims.

    ``use_input_stats=False`` (an InstanceNorm tracking running stats, in eval) uses the
    running statistics per channel instead, like batch_norm.
    """
    if not use_input_stats:
        return batch_norm(x, running_mean, running_var, weight, bias, eps)
    return instance_planes(x, weight, bias, eps)


def rms_norm(x: np.ndarray, normalized_shape: int | Sequence[int], weight=None, eps: float | None = None) -> np.ndarray:
    """``F.rms_norm``: ``x/√(mean(x²) + ε)·w`` over the trailing dims; ε defaults to the dtype's eps."""
    count = 1 if isinstance(normalized_shape, (int, np.integer)) else len(normalized_shape)
    axes = tuple(range(x.ndim - count, x.ndim))
    eps = float(np.finfo(x.dtype).eps) if eps is None else eps
    with _silent():
        mean_square = np.mean(np.square(x, dtype=np.float64), axis=axes, keepdims=True)
        y = (x / np.sqrt(mean_square + eps)).astype(x.dtype, copy=False)
    return apply_affine(y, weight, None, x.shape[x.ndim - count :])


def local_response_norm(x: np.ndarray, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> np.ndarray:
    """``F.local_response_norm``: ``x / (k + α·mean of x² over nearby channels)^β``.

    The channel window spans ``size//2`` channels before and ``(size−1)//2`` after, zero
    beyond the ends, and is always divided by ``size``, as torch's average pooling does.
    """
    squares = np.square(x)
    channels = x.shape[1]
    # Window positions beyond the channels on either side read only the zero padding: a size
    # over 2·channels adds nothing but zeros, so the padding stops at channels − 1 a side.
    before, after = min(size // 2, channels - 1), min((size - 1) // 2, channels - 1)
    padded = np.zeros((x.shape[0], channels + before + after, *x.shape[2:]), dtype=x.dtype)
    padded[:, before : before + channels] = squares
    total = padded[:, :channels].copy()
    for offset in range(1, before + after + 1):
        total += padded[:, offset : offset + channels]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        return x / (total / x.dtype.type(size) * alpha + k) ** beta


# ------------------------------------------------------------------------------- activations


# Two NumPy costs shape the activations below. np.where (and masked copies) branch per cell,
# so a random sign pattern costs ~4 ns a cell through mispredictions: piecewise functions are
# written as max/min arithmetic instead, with exactly torch's products and sums. And
# maximum/minimum against a scalar take a slow loop, so they run against a zeros block that
# covers the trailing dims (one long inner loop per plane).
_ZEROS_BLOCK = 1 << 16


def _zeros_for(x: np.ndarray) -> np.ndarray:
    """Zeros shaped like ``x``'s trailing dims (at most ``_ZEROS_BLOCK`` cells), to broadcast."""
    start = x.ndim
    while start > 0 and math.prod(x.shape[start - 1 :]) <= _ZEROS_BLOCK:
        start -= 1
    return np.zeros(x.shape[start:], dtype=x.dtype)


def _positive_part(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """max(x, 0): NaN stays NaN."""
    return np.maximum(x, _zeros_for(x), out=out)


def _negative_part(x: np.ndarray) -> np.ndarray:
    """min(x, 0): NaN stays NaN."""
    return np.minimum(x, _zeros_for(x))


def _finite(*coefficients) -> bool:
    return all(np.isfinite(c).all() for c in coefficients)


def _piecewise_linear(x: np.ndarray, slope) -> np.ndarray:
    """``x > 0 ? x : slope·x`` as ``max(x, 0) + slope·min(x, 0)``: each branch's exact value.

    An infinite or NaN slope would turn the unused branch's 0·slope into NaN, so it takes
    torch's branch literally instead (rare: only a caller's non-finite slope gets there).
    """
    if not _finite(slope):
        with _silent():
            return np.where(x > 0, x, x * slope)
    with _silent():  # slope 0 times −inf is NaN, as in torch
        out = _negative_part(x)
        out *= slope
        out += _positive_part(x)
    return out


def _exponential_linear(x: np.ndarray, alpha: float, scale: float = 1.0, input_scale: float = 1.0) -> np.ndarray:
    """torch's ELU family: ``x < 0 ? alpha·scale·expm1(input_scale·x) : scale·x``.

    Zeros take the linear branch, which only shows with a non-finite coefficient (torch's
    ELU(alpha=inf) keeps ±0); such coefficients, which would also spoil the unused branch
    (0·inf), take the branches literally.
    """
    if not _finite(alpha * scale, input_scale):
        with _silent():
            return np.where(x < 0, np.expm1(x * input_scale) * (alpha * scale), x * scale)
    with _silent():  # large coefficients overflow to ±inf, silently as in torch
        out = np.expm1(_negative_part(x) * input_scale)
        out *= alpha * scale
        positive = _positive_part(x)
        if scale != 1.0:
            positive *= scale
        out += positive
    return out


@_in_pieces
def relu(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``F.relu`` (NaN stays NaN); into ``out`` when given (``x`` itself: in place).

    >>> relu(np.array([-1.0, 2.0]))
    array([0., 2.])
    """
    return _positive_part(x, out)


@_in_pieces
def hardtanh(x: np.ndarray, min_val: float = -1.0, max_val: float = 1.0, out: np.ndarray | None = None) -> np.ndarray:
    return np.clip(x, min_val, max_val, out=out)


@_in_pieces
def relu6(x: np.ndarray) -> np.ndarray:
    return hardtanh(x, 0.0, 6.0)


@_in_pieces
def leaky_relu(x: np.ndarray, negative_slope: float = 0.01) -> np.ndarray:
    return _piecewise_linear(x, float(negative_slope))


def prelu(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``F.prelu``: one slope, or one per channel (dim 1; inputs under 2-d have no channels)."""
    weight = np.asarray(weight, dtype=x.dtype)
    if weight.size > 1:
        weight = weight.reshape(_channel_shape(x))
    else:
        weight = weight.reshape(())
    return _piecewise_linear(x, weight)


@_in_pieces
def rrelu(x: np.ndarray, lower: float = 1.0 / 8, upper: float = 1.0 / 3) -> np.ndarray:
    """``F.rrelu`` in eval mode: a leaky ReLU with the mean slope ``(lower + upper)/2``."""
    return leaky_relu(x, (lower + upper) / 2)


@_in_pieces
def elu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    return _exponential_linear(x, float(alpha))


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


@_in_pieces
def selu(x: np.ndarray) -> np.ndarray:
    return _exponential_linear(x, SELU_ALPHA, SELU_SCALE)


@_in_pieces
def celu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    return _exponential_linear(x, float(alpha), input_scale=1.0 / alpha)


@_in_pieces
def sigmoid(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Logistic function as torch computes it, ``1/(1 + exp(−x))``.

    Far below zero exp(−x) overflows to inf and the result is 0, never NaN, so the plain
    form is safe; it also rounds as torch's does.
    """
    with _silent():
        # explicit out=: on a 0-d input a ufunc would return a scalar, which out= cannot take
        denominator = np.negative(x, out=np.empty_like(x) if out is None else out)
        np.exp(denominator, out=denominator)
        denominator += 1
        return np.reciprocal(denominator, out=denominator)


@_in_pieces
def logsigmoid(x: np.ndarray) -> np.ndarray:
    """``log σ(x) = min(x, 0) − log1p(exp(−|x|))``, exact for large |x|."""
    return _negative_part(x) - np.log1p(np.exp(-np.abs(x)))


@_in_pieces
def softplus(x: np.ndarray, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
    """``log1p(exp(β·x))/β``, and ``x`` itself where ``β·x > threshold`` (torch's switch)."""
    with _silent():  # exp overflows harmlessly in the branch where the switch picks x
        scaled = x * float(beta)
        smooth = np.log1p(np.exp(scaled)) / float(beta)
    return np.where(scaled > threshold, x, smooth)  # rarely true: branches predict well


def _softplus_stable(x: np.ndarray) -> np.ndarray:
    return _positive_part(x) + np.log1p(np.exp(-np.abs(x)))


@_in_pieces
def silu(x: np.ndarray) -> np.ndarray:
    with _silent():  # −inf · 0 is NaN, as in torch
        return x * sigmoid(x)


@_in_pieces
def mish(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return x * np.tanh(_softplus_stable(x))


@_in_pieces
def tanh(x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    return np.tanh(x, out=out)


@_in_pieces
def hardsigmoid(x: np.ndarray) -> np.ndarray:
    return np.clip(x + 3, 0, 6) / 6


@_in_pieces
def hardswish(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return x * np.clip(x + 3, 0, 6) / 6


@_in_pieces
def hardshrink(x: np.ndarray, lambd: float = 0.5) -> np.ndarray:
    """0 where ``−λ <= x <= λ``, else x (NaN stays NaN: NaN·0 is NaN).

    λ = NaN keeps everything and λ = inf zeroes ±inf too, so those take torch's test literally.
    """
    if not math.isfinite(lambd):
        return np.where((x >= -lambd) & (x <= lambd), x.dtype.type(0), x)
    return x * (np.abs(x) > lambd)


@_in_pieces
def softshrink(x: np.ndarray, lambd: float = 0.5) -> np.ndarray:
    """``x − λ`` above λ, ``x + λ`` below −λ, 0 between: ``x − clip(x, −λ, λ)`` (NaN stays NaN)."""
    with np.errstate(invalid="ignore"):
        return x - np.clip(x, -lambd, lambd)


@_in_pieces
def tanhshrink(x: np.ndarray) -> np.ndarray:
    return x - np.tanh(x)


@_in_pieces
def softsign(x: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return x / (1 + np.abs(x))


@_in_pieces
def threshold(x: np.ndarray, threshold: float, value: float) -> np.ndarray:
    """``F.threshold``: ``value`` where ``x <= threshold`` (NaN is kept)."""
    return np.where(x <= threshold, np.asarray(value, dtype=x.dtype), x)


def glu(x: np.ndarray, dim: int = -1) -> np.ndarray:
    """``F.glu``: first half times the sigmoid of the second half along ``dim``."""
    first, second = np.split(x, 2, axis=dim)
    with np.errstate(invalid="ignore"):
        return first * sigmoid(second)


# erf is not in NumPy: piecewise Chebyshev interpolants of math.erf, fitted on first use.
# |x| < 2: erf(x) = x·P(x²); 2 <= |x| < 6: erf(x) = 1 − exp(−x²)·Q(|x|); beyond, ±1.
# Degrees reach about 1e-15 (float64) and, evaluated in float32, ~2e-7 (float32) absolute error.
_ERF_SPLIT, _ERF_END = 2.0, 6.0
_ERF_CHUNK = 1 << 14  # 128 KB of float64: larger temporaries are mmap-ed and page-faulted afresh
# Beside other threads (a range of a threaded gelu), 8× longer pieces: each NumPy call passes the
# GIL to the other thread and back, and 2^14 cells a call made 2 threads twice as slow as one
# (a 64×112×112 float32 gelu on the 2-core VM: 1 thread 11.3 ms, 2 threads 22.3, with 2^17: 8.1).
_ERF_CHUNK_BESIDE_OTHERS = 1 << 17
_ERF_DEGREES = {np.dtype(np.float64): (18, 28), np.dtype(np.float32): (9, 14)}


@functools.lru_cache(maxsize=4)
def _erf_fits(dtype: np.dtype):
    """(inner, outer) as (offset, scale, coefficients) in ``dtype``: t = offset + scale·argument."""
    from numpy.polynomial import Chebyshev

    erf, erfc = np.vectorize(math.erf), np.vectorize(math.erfc)
    inner_degree, outer_degree = _ERF_DEGREES[dtype]
    inner = Chebyshev.interpolate(lambda u: erf(np.sqrt(u)) / np.sqrt(u), inner_degree, domain=[0, _ERF_SPLIT**2])
    outer = Chebyshev.interpolate(lambda a: erfc(a) * np.exp(a * a), outer_degree, domain=[_ERF_SPLIT, _ERF_END])
    real = dtype.type
    return tuple(
        (real(fit.mapparms()[0]), real(fit.mapparms()[1]), fit.coef.astype(dtype)) for fit in (inner, outer)
    )


def _chebyshev(argument: np.ndarray, fit) -> np.ndarray:
    """Clenshaw's recurrence for a Chebyshev series (in the argument's dtype)."""
    offset, scale, coef = fit
    t = argument * scale + offset
    twice = t + t
    later, latest = np.zeros_like(t), np.full_like(t, coef[-1])
    for c in coef[-2:0:-1]:
        later, latest = latest, twice * latest - later + c
    return t * latest - later + coef[0]


def _erf(x: np.ndarray) -> np.ndarray:
    """The error function, to a few ulp in float64 and ~1e-7 in float32 (x's dtype)."""
    if x.dtype not in _ERF_DEGREES:
        x = x.astype(np.float64)
    inner, outer = _erf_fits(x.dtype)
    real = x.dtype.type
    magnitude = np.abs(x)
    out = np.empty_like(x)
    near = magnitude < _ERF_SPLIT
    xs = x[near]
    out[near] = xs * _chebyshev(xs * xs, inner)
    far = ~near
    a = np.minimum(magnitude[far], real(_ERF_END))
    out[far] = np.copysign(real(1) - np.exp(-a * a) * _chebyshev(a, outer), x[far])
    return out


@_in_pieces
def gelu(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """``F.gelu``: ``x·Φ(x)`` exactly (``'none'``) or with torch's tanh approximation.

    >>> gelu(np.array([0.0, 1.0])).round(6)
    array([0.      , 0.841345])
    """
    with np.errstate(invalid="ignore"):
        if approximate == "tanh":
            inner = math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)
            return 0.5 * x * (1 + np.tanh(inner))
        if approximate != "none":
            raise ConvcalcError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
        out = np.empty(x.shape, dtype=x.dtype)
        flat, flat_out = x.reshape(-1), out.reshape(-1)
        # cache-sized pieces: the erf's ~30 float64 temporaries then never leave the cache
        step = _ERF_CHUNK_BESIDE_OTHERS if in_region() else _ERF_CHUNK
        for start in range(0, flat.size, step):
            piece = flat[start : start + step]
            flat_out[start : start + step] = piece * 0.5 * (1.0 + _erf(piece * math.sqrt(0.5)))
        # gelu(+inf) is +inf, as torch's scalar path and its AVX2 kernel give; its AVX-512
        # float32 kernel gives NaN there, a backend difference not worth copying
        return out


def softmin(x: np.ndarray, dim: int) -> np.ndarray:
    return softmax(-x, dim)


def softmax2d(x: np.ndarray) -> np.ndarray:
    """``nn.Softmax2d``: softmax over the channels of a (N, C, H, W) or (C, H, W) input."""
    return softmax(x, -3)


# ------------------------------------------------------------------------------------ lookup


def embedding(indices: np.ndarray, weight: np.ndarray, max_norm: float | None = None, norm_type: float = 2.0) -> np.ndarray:
    """``F.embedding``: the rows of ``weight`` at integer ``indices`` (any shape), a copy.

    With ``max_norm`` torch first rescales, inside its weight, each distinct looked-up row
    whose ``norm_type``-norm exceeds max_norm by max_norm/(norm + 1e-7); the output here is
    the same, but ``weight`` is left as it was.

    >>> embedding(np.array([[1, 0]]), np.array([[3.0, 4.0], [0.3, 0.4]]), max_norm=1.0).round(6)
    array([[[0.3, 0.4],
            [0.6, 0.8]]])
    """
    weight = np.asarray(weight)
    if max_norm is None:
        return np.take(weight, indices, axis=0)
    rows, inverse = np.unique(indices, return_inverse=True)
    table = weight[rows]
    with _silent():  # negative norm_type on zero entries: 0^−p = inf, as in torch
        norms = np.linalg.norm(table, ord=norm_type, axis=1).astype(np.float64)
        factor = np.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
        # rows within the bound are multiplied by exactly 1, which keeps every value
        table *= factor.astype(weight.dtype)[:, None]
    return table[inverse.reshape(np.shape(indices))]


# ----------------------------------------------------------------------------------- padding

PAD_MODES = ("constant", "reflect", "replicate", "circular")


def _pad_index(size: int, before: int, after: int, mode: str) -> np.ndarray:
    """Source cell of every output cell along one padded dim."""
    out = np.arange(size + before + after)
    if mode == "circular":
        # torch crops negative pads first and wraps within what is left
        start = max(-before, 0)
        kept = size - start - max(-after, 0)
        return start + (out - max(before, 0)) % kept
    coord = out - before
    if mode == "replicate":
        return np.clip(coord, 0, size - 1)
    # reflect about the edges of the original input (no edge repeat); torch needs pad < size
    period = 2 * (size - 1)
    if period == 0:
        return np.zeros_like(coord)
    coord = np.abs(coord) % period
    return np.where(coord >= size, period - coord, coord)


def pad(x: np.ndarray, pads: Sequence[int], mode: str = "constant", value: float | None = None) -> np.ndarray:
    """``F.pad``: ``pads`` lists (before, after) pairs from the last dim backwards.

    Negative pads crop. ``reflect`` mirrors without repeating the edge, ``replicate`` repeats
    it, ``circular`` wraps around.

    >>> pad(np.arange(4.0), (2, -1), "reflect")
    array([2., 1., 0., 1., 2.])
    """
    pads = tuple(int(p) for p in pads)
    if len(pads) % 2 or len(pads) // 2 > x.ndim:
        raise ConvcalcError(f"pad: pads needs (before, after) pairs for at most {x.ndim} dims, got {pads}")
    pairs = [(x.ndim - 1 - i, pads[2 * i], pads[2 * i + 1]) for i in range(len(pads) // 2)]
    if mode == "constant":
        shape = list(x.shape)
        target, source = [slice(None)] * x.ndim, [slice(None)] * x.ndim
        for axis, before, after in pairs:
            size = x.shape[axis]
            shape[axis] = size + before + after
            start, stop = max(-before, 0), size - max(-after, 0)
            source[axis] = slice(start, max(start, stop))
            target[axis] = slice(max(before, 0), max(before, 0) + max(0, stop - start))
        out = np.full(shape, 0 if value is None else value, dtype=x.dtype)
        out[tuple(target)] = x[tuple(source)]
        return out
    if mode not in PAD_MODES:
        raise ConvcalcError(f"pad: unknown mode {mode!r}; use one of {', '.join(PAD_MODES)}")
    out = x
    for axis, before, after in pairs:
        out = np.take(out, _pad_index(x.shape[axis], before, after, mode), axis=axis)
    return out if out is not x else x.copy()


# ---------------------------------------------------------------------------- rearrangement


def pixel_shuffle(x: np.ndarray, upscale_factor: int) -> np.ndarray:
    """``F.pixel_shuffle``: (*, C·r², H, W) → (*, C, H·r, W·r)."""
    r = int(upscale_factor)
    *lead, channels, height, width = x.shape
    blocks = x.reshape(*lead, channels // (r * r), r, r, height, width)
    n = len(lead)
    order = (*range(n), n, n + 3, n + 1, n + 4, n + 2)
    return blocks.transpose(order).reshape(*lead, channels // (r * r), height * r, width * r)


def pixel_unshuffle(x: np.ndarray, downscale_factor: int) -> np.ndarray:
    """``F.pixel_unshuffle``: (*, C, H·r, W·r) → (*, C·r², H, W)."""
    r = int(downscale_factor)
    *lead, channels, height, width = x.shape
    blocks = x.reshape(*lead, channels, height // r, r, width // r, r)
    n = len(lead)
    order = (*range(n), n, n + 2, n + 4, n + 1, n + 3)
    return blocks.transpose(order).reshape(*lead, channels * r * r, height // r, width // r)


def _block_rules(nd, kernel_size, dilation, padding, stride) -> list[ConvRule]:
    kernel = per_dim(kernel_size, nd, "kernel_size")
    dilation = per_dim(dilation, nd, "dilation")
    padding = per_dim(padding, nd, "padding")
    stride = per_dim(stride, nd, "stride")
    return [ConvRule(kernel=k, stride=s, pad_left=p, pad_right=p, dilation=d)
            for k, d, p, s in zip(kernel, dilation, padding, stride)]


def _spatial_nd(kernel_size) -> int:
    return 2 if isinstance(kernel_size, (int, np.integer)) else len(kernel_size)


def unfold(x: np.ndarray, kernel_size, dilation=1, padding=0, stride=1) -> np.ndarray:
    """``F.unfold`` (im2col): (N, C, *spatial) → (N, C·∏k, blocks); unbatched (C, *spatial) too.

    Rows run over channels, then kernel positions in row-major order; columns over block
    positions in row-major order, as torch lays them out.

    >>> unfold(np.arange(9.0).reshape(1, 1, 3, 3), 2)[0]
    array([[0., 1., 3., 4.],
           [1., 2., 4., 5.],
           [3., 4., 6., 7.],
           [4., 5., 7., 8.]])
    """
    nd = _spatial_nd(kernel_size)
    if x.ndim == nd + 1:
        return unfold(x[None], kernel_size, dilation, padding, stride)[0]
    rules = _block_rules(nd, kernel_size, dilation, padding, stride)
    padded = np.pad(x, [(0, 0), (0, 0)] + [(r.pad_left, r.pad_right) for r in rules])
    spatial = tuple(range(2, 2 + nd))
    windows = np.lib.stride_tricks.sliding_window_view(padded, [r.effective_kernel for r in rules], axis=spatial)
    blocks = [r.out(size) for r, size in zip(rules, x.shape[2:])]
    index = (slice(None), slice(None))
    index += tuple(slice(0, (b - 1) * r.stride + 1, r.stride) for b, r in zip(blocks, rules))
    index += tuple(slice(None, None, r.dilation) for r in rules)
    windows = windows[index]  # (N, C, *blocks, *kernel)
    order = (0, 1, *range(2 + nd, 2 + 2 * nd), *range(2, 2 + nd))
    kernel_cells = math.prod(r.kernel for r in rules)
    return windows.transpose(order).reshape(x.shape[0], x.shape[1] * kernel_cells, math.prod(blocks))


def fold(x: np.ndarray, output_size, kernel_size, dilation=1, padding=0, stride=1) -> np.ndarray:
    """``F.fold`` (col2im): sums (N, C·∏k, blocks) columns back into (N, C, *output_size).

    Overlapping cells add up in kernel-position order, as torch's col2im does.
    """
    nd = _spatial_nd(kernel_size)
    if x.ndim == 2:
        return fold(x[None], output_size, kernel_size, dilation, padding, stride)[0]
    rules = _block_rules(nd, kernel_size, dilation, padding, stride)
    output_size = per_dim(output_size, nd, "output_size")
    blocks = [r.out(size) for r, size in zip(rules, output_size)]
    kernel = [r.kernel for r in rules]
    channels = x.shape[1] // math.prod(kernel)
    columns = x.reshape(x.shape[0], channels, *kernel, *blocks)
    padded = np.zeros((x.shape[0], channels, *(s + 2 * r.pad_left for s, r in zip(output_size, rules))), dtype=x.dtype)
    with np.errstate(invalid="ignore", over="ignore"):
        for tap in itertools.product(*(range(k) for k in kernel)):
            target = (slice(None), slice(None)) + tuple(
                slice(t * r.dilation, t * r.dilation + (b - 1) * r.stride + 1, r.stride)
                for t, r, b in zip(tap, rules, blocks)
            )
            padded[target] += columns[(slice(None), slice(None), *tap)]
    crop = (slice(None), slice(None)) + tuple(slice(r.pad_left, r.pad_left + s) for r, s in zip(rules, output_size))
    return padded[crop].copy()
