"""Convolution and transposed convolution forward passes, written once for any number of dims.

``conv_nd`` computes what ``torch.nn.functional.conv{1,2,3}d`` computes (after ``F.pad`` for the
non-zero padding modes); ``conv_transpose_nd`` what ``F.conv_transpose{1,2,3}d`` computes. Both
take batched arrays (N, C, *spatial) and already-validated arguments.

How a convolution is computed (``method=``; "auto" picks per call, see ``_choose_method``):

- ``"gemm"``: im2col then GEMM. The column matrix is copied out of a strided sliding-window view
  of the padded input (through the input's stride phases when strided, so that the copies read
  whole rows), then one matmul per image and group, with the bias as an extra row of ones.
  Any stride and dilation.
- ``"rows"``: stride 1, im2col along the first spatial dim only. The k₀ taps of the first
  kernel dim are k₀ contiguous copies of each channel's flattened padded input, so the
  column matrix has k₀·C_in/g rows instead of im2col's k·C_in/g; one GEMM per group gives,
  for every (output channel, tap of the other dims), that tap's partial sum on the *wide*
  grid (see "taps"), and the output is the sum of those rows, each shifted by its tap's
  offset. For 3×3 that is 3 copies, a GEMM and 2 shifted additions where im2col makes 9
  copies and a depthwise multiply-add per tap makes 18 passes: the fastest measured for
  stride-1 2-D convs, dense, grouped and depthwise alike. Zero padding that keeps every dim
  but the first (3×3 with padding 1, "same") runs on the *narrow* grid instead, the input's
  own: see ``_conv_rows_narrow``.
- ``"taps"``: stride 1, no column matrix at all: the sum over kernel taps of
  (C_out×C_in)·(C_in×pixels) GEMMs reading shifted slabs of the padded input in place. The
  outputs are computed on the *wide* grid, every column of the padded input's rows (the few
  past the last valid column are dropped at the end), which makes each tap's input one
  contiguous run of the flattened input.
- ``"fma"``: depthwise convs (one input channel per group): a loop over kernel taps of
  multiply-adds on the shifted slabs (strided views for strides > 1), no GEMM, in chunks of
  channels small enough to stay in cache.
- ``"winograd"`` (on request only; see ``_choose_method``): kernels of size 3 in every dim,
  stride 1, no dilation. Winograd's minimal filtering F(2, 3) per dim (Lavin & Gray, 2016):
  tiles of 4 input pixels per dim make 2 output pixels per dim with 4/9 (2-D) or 8/27 (3-D)
  of the multiplications, all in one GEMM per tile value; the input and output transforms are
  whole-array additions, one dim at a time.

(Also tried, never faster: im2col on the wide grid built from contiguous copies, and one GEMM
of all taps' weights stacked followed by the shifted sum over taps.)

Transposed convolutions are the col2im scatter of one GEMM; see ``conv_transpose_nd``.

Work is chunked over the batch, then over groups, then over output rows, so the scratch
buffers (padded input slab, column matrix, accumulators) stay under ``max_buffer_bytes``
(default ``DEFAULT_BUFFER_BYTES``); peak memory is then the output plus that bound. Each thread
also keeps its scratch buffers between calls while they total at most ``KEEP_BYTES``
(``release_scratch`` frees them). BLAS uses
every core in the GEMMs; NumPy's own passes run on one. (Python threads over cache-sized
chunks, or over halves of single big passes, were tried on the 2-core benchmark machine: no
faster, and slower under load, so the kernels stay single-threaded outside BLAS. Two threads
each running "rows" on half the channels of a depthwise conv took longer than one thread doing
both halves: their small GEMMs contend inside OpenBLAS and their passes share the L3 cache.)
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import threading
from collections.abc import Iterator, Sequence
from itertools import product
from typing import Literal, NamedTuple

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..arith import ConvRule, TransposedRule
from ._common import row_buffering

DEFAULT_BUFFER_BYTES = 16 * 2**20
"""Upper bound on one chunk's scratch memory (all temporaries together), in bytes. Also the
fastest chunk size measured: a chunk's im2col matrix and GEMM output then share the L3 cache
(16 MiB beat 32 MiB by 5-15% on batched 3×3 convs)."""

CACHE_BYTES = {"fma": 2**20, "taps": 2**21, "rows": 2**23}
"""Chunk size for the methods made of many whole-array passes (per method, in bytes), measured
best on a core with 1 MiB of L2 and a shared 32 MiB L3: "fma" and "taps" chunks stay in L2
between passes; "rows" makes few passes, and smaller chunks lost more to per-chunk overhead
than they won in cache."""

Method = Literal["auto", "gemm", "rows", "taps", "fma", "winograd"]
METHODS = ("gemm", "rows", "taps", "fma", "winograd")

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _tuple(value: int | Sequence[int], nd: int) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)):
        return (int(value),) * nd
    values = tuple(int(v) for v in value)
    return values * nd if len(values) == 1 else values


def _pairs(pads: int | Sequence[int] | Sequence[Sequence[int]], nd: int) -> tuple[tuple[int, int], ...]:
    """``pads`` as one (left, right) pair per spatial dim; ints mean symmetric padding."""
    if isinstance(pads, (int, np.integer)):
        return ((int(pads), int(pads)),) * nd
    pairs = []
    for pad in pads:
        if isinstance(pad, (int, np.integer)):
            pairs.append((int(pad), int(pad)))
        else:
            left, right = pad
            pairs.append((int(left), int(right)))
    if len(pairs) == 1:
        pairs *= nd
    return tuple(pairs)


def _float_dtype(*arrays: np.ndarray) -> np.dtype:
    """The dtype to compute in: float32 stays float32, float64 stays float64; float16 computes
    in float32 (BLAS has no half precision) and integers in float64."""
    return np.result_type(*(a.dtype for a in arrays), np.float32)


def _in_result_dtype(result: np.ndarray, *arrays: np.ndarray) -> np.ndarray:
    """``result`` in the dtype torch returns for these operands: their common float type, so
    float16 comes back float16; integers (which torch refuses) give the computing dtype."""
    common = np.result_type(*(a.dtype for a in arrays))
    return result.astype(common, copy=False) if common.kind == "f" else result


def _source_index(positions: np.ndarray, size: int, mode: str) -> np.ndarray:
    """Where each padded position reads from, for torch's non-zero padding modes."""
    if mode == "reflect":
        period = 2 * (size - 1)
        if period == 0:
            return np.zeros_like(positions)
        folded = np.mod(positions, period)
        return np.where(folded < size, folded, period - folded)
    if mode == "replicate":
        return np.clip(positions, 0, size - 1)
    return np.mod(positions, size)  # circular


KEEP_BYTES = DEFAULT_BUFFER_BYTES
"""Scratch a thread keeps between calls, per dtype (see ``_Scratch.kept``). The buffers grow as
calls of other shapes and methods use them; a call that ends with more than this in them frees
them all."""

_KEPT = threading.local()


class _Scratch:
    """Grow-only flat buffers, reused by every chunk of a call and, up to ``KEEP_BYTES``, by the
    thread's next calls (``kept``)."""

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype
        self.buffers: dict[str, np.ndarray] = {}
        # buffer name -> the layout its constant parts (zero padding, a row of ones) were written
        # for: chunks of the same layout leave them in place.
        self.filled: dict[str, object] = {}

    def get(self, name: str, shape: Sequence[int], zero: bool = False) -> np.ndarray:
        size = math.prod(shape)
        flat = self.buffers.get(name)
        if flat is None or flat.size < size:
            flat = np.empty(size, self.dtype)
            self.buffers[name] = flat
            self.filled.pop(name, None)
        array = flat[:size].reshape(shape)
        if zero:
            array.fill(0)
        return array

    @staticmethod
    @contextlib.contextmanager
    def kept(dtype: np.dtype) -> Iterator[_Scratch]:
        """This thread's scratch for ``dtype``, as its last call left it: the buffers and the
        constant parts written into them (zero padding, a row of ones) survive from call to
        call, as oneDNN keeps its scratchpad. A layer run on a batch of small inputs otherwise
        pays for allocating and filling them on every call (a depthwise 3×3 conv at 56²: 8%).

        The scratch is taken off the thread's shelf for the call and put back after it, unless
        the call failed or its buffers outgrew ``KEEP_BYTES``: a call that starts while another
        runs on the same thread (from a signal handler) gets buffers of its own.
        """
        if not hasattr(_KEPT, "shelf"):
            _KEPT.shelf = {}
        scratch = _KEPT.shelf.pop(dtype) if dtype in _KEPT.shelf else _Scratch(dtype)
        yield scratch
        if sum(flat.nbytes for flat in scratch.buffers.values()) <= KEEP_BYTES:
            _KEPT.shelf[dtype] = scratch


def release_scratch() -> None:
    """Free the scratch buffers the calling thread keeps between calls (each thread keeps its
    own, up to ``KEEP_BYTES`` per dtype).

    >>> release_scratch()
    """
    getattr(_KEPT, "shelf", {}).clear()


class _ConvGeometry:
    """Sizes of one convolution, and how a chunk of it maps onto the padded input."""

    def __init__(
        self,
        in_shape: Sequence[int],
        weight_shape: Sequence[int],
        stride: tuple[int, ...],
        pads: tuple[tuple[int, int], ...],
        dilation: tuple[int, ...],
        groups: int,
    ) -> None:
        self.batch, self.in_channels, *spatial = in_shape
        self.spatial = tuple(spatial)
        self.out_channels, self.in_per_group, *kernel = weight_shape
        self.kernel = tuple(kernel)
        self.nd = len(self.kernel)
        self.stride, self.pads, self.dilation, self.groups = stride, pads, dilation, groups
        self.out_per_group = self.out_channels // groups
        self.rules = tuple(
            ConvRule(k, s, left, right, d)
            for k, s, (left, right), d in zip(self.kernel, stride, pads, dilation)
        )
        self.out_spatial = tuple(rule.out(size) for rule, size in zip(self.rules, self.spatial))
        # Padded extent actually read: trailing padding a stride never reaches is not materialised.
        self.extents = tuple(
            (o - 1) * s + rule.effective_kernel
            for o, s, rule in zip(self.out_spatial, stride, self.rules)
        )
        self.taps = math.prod(self.kernel)

    def subset(self, groups: int) -> _ConvGeometry:
        """The same convolution restricted to ``groups`` of its groups (a chunk of channels)."""
        part = copy.copy(self)
        part.groups = groups
        part.in_channels = groups * self.in_per_group
        part.out_channels = groups * self.out_per_group
        return part

    narrow: bool = False
    """Whether "rows" runs on the input's own grid (see ``_narrow_fits``)."""

    prepared_weight: np.ndarray | None = None
    """The weight as the "rows" and "winograd" methods multiply it, groups first: made once per
    call, not once per chunk."""

    def slab_rows(self, rows: int) -> int:
        """Padded input rows (first spatial dim) that ``rows`` output rows read."""
        return (rows - 1) * self.stride[0] + self.rules[0].effective_kernel

    def row_pixels(self) -> int:
        """Output pixels in one output row (all spatial dims but the first)."""
        return math.prod(self.out_spatial[1:])

    def slab_row_pixels(self) -> int:
        return math.prod(self.extents[1:])


def conv_nd(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int | Sequence[int] = 1,
    pads: int | Sequence[int] | Sequence[Sequence[int]] = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    *,
    max_buffer_bytes: int | None = None,
    method: Method = "auto",
) -> np.ndarray:
    """Cross-correlation of ``x`` (N, C_in, *spatial) with ``weight`` (C_out, C_in/groups, *k).

    ``pads`` holds a (left, right) pair per spatial dim (an int or one int per dim means
    symmetric padding); ``padding_mode`` pads as ``F.pad`` does ("zeros", "reflect",
    "replicate", "circular") before a zero-padding convolution, as torch does.

    >>> x = np.arange(5.0).reshape(1, 1, 5)
    >>> conv_nd(x, np.ones((1, 1, 3)), np.array([0.5]), pads=((1, 1),)).tolist()
    [[[1.5, 3.5, 6.5, 9.5, 7.5]]]
    >>> conv_nd(x, np.ones((1, 1, 3)), pads=((1, 1),), padding_mode="circular").tolist()
    [[[5.0, 3.0, 6.0, 9.0, 7.0]]]
    """
    x_given = x = np.asarray(x)
    weight_given = weight = np.asarray(weight)
    nd = x.ndim - 2
    if nd < 1 or weight.ndim != nd + 2:
        raise ValueError(f"conv_nd needs x (N, C, *spatial) and a weight with {nd} kernel dims")
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode={padding_mode!r} is not one of {PADDING_MODES}")
    dtype = _float_dtype(x, weight)
    geo = _ConvGeometry(
        x.shape, weight.shape, _tuple(stride, nd), _pairs(pads, nd), _tuple(dilation, nd), groups
    )
    if geo.in_channels != geo.in_per_group * groups or geo.out_channels % groups:
        raise ValueError(
            f"weight {weight.shape} with groups={groups} does not fit {geo.in_channels} input channels"
        )
    if min(geo.out_spatial) < 1:
        raise ValueError(f"the kernel does not fit the padded input: output size {geo.out_spatial}")
    if method == "auto":
        method = _choose_method(geo)
    elif method in ("taps", "rows") and any(s != 1 for s in geo.stride):
        raise ValueError(f"method={method!r} needs stride 1")
    elif method == "fma" and geo.in_per_group != 1:
        raise ValueError("method='fma' is for depthwise convs (one input channel per group)")
    elif method == "winograd" and not _winograd_fits(geo):
        raise ValueError("method='winograd' needs kernel size 3, stride 1 and dilation 1 in every dim")

    x = np.ascontiguousarray(x, dtype=dtype)
    weight = np.ascontiguousarray(weight, dtype=dtype)
    out = np.empty((geo.batch, geo.out_channels, *geo.out_spatial), dtype)
    if bias is not None:
        bias = np.asarray(bias, dtype=dtype)

    bound = DEFAULT_BUFFER_BYTES if max_buffer_bytes is None else max_buffer_bytes
    compute = {
        "gemm": _conv_gemm, "rows": _conv_rows, "taps": _conv_taps, "fma": _conv_fma, "winograd": _conv_winograd
    }[method]
    if method == "winograd":
        geo.prepared_weight = _winograd_weight(weight, geo)
    elif method == "rows":
        # Torch multiplies the zero padding by the weights: 0·inf and 0·NaN give NaN there, which
        # the narrow grid's zeroed edges would not (it never multiplies padding along the other dims).
        geo.narrow = padding_mode == "zeros" and _narrow_fits(geo) and bool(np.isfinite(weight).all())
        bias_tap = _unshifted_tap(geo) if geo.narrow else 0
        geo.prepared_weight = _rows_weight(weight, None if bias_tap is None else bias, geo, bias_tap)
        if bias_tap is not None:
            bias = None
    parts = {groups: geo}  # the geometry of a chunk of g groups, by g: chunks are mostly alike
    with _Scratch.kept(dtype) as scratch, row_buffering(math.prod(geo.out_spatial)):
        for n0, n1, g0, g1, r0, r1 in _conv_chunks(geo, method, dtype.itemsize, bound):
            if g1 - g0 not in parts:
                parts[g1 - g0] = geo.subset(g1 - g0)
            part = parts[g1 - g0]
            if part is not geo and geo.prepared_weight is not None:
                part.prepared_weight = geo.prepared_weight[g0:g1]
            in_rows = slice(g0 * geo.in_per_group, g1 * geo.in_per_group)
            out_rows = slice(g0 * geo.out_per_group, g1 * geo.out_per_group)
            chunk_bias = None if bias is None else bias[out_rows]
            dest = out[n0:n1, out_rows, r0:r1]
            if geo.narrow:  # reads x itself: no padded copy
                _conv_rows_narrow(x[n0:n1, in_rows], part, r0, r1, dest, scratch)
                _add_bias(dest, chunk_bias)  # when no tap could carry it (see _unshifted_tap)
                continue
            slab = _padded_slab(x, part, n0, n1, in_rows, r0, r1, padding_mode, scratch, method)
            compute(slab, weight[out_rows], chunk_bias, part, r1 - r0, dest, scratch)
    return _in_result_dtype(out, x_given, weight_given)


def _choose_method(geo: _ConvGeometry) -> str:
    """The fastest formulation for this shape, from timings on the benchmark machine.

    "rows" wins every stride-1 2-D conv measured (dense, dilated, grouped, depthwise 3×3 to
    7×7) except where its overheads grow: a tap sum over many taps (3-D kernels: the GEMM's
    output is that many times the output) or narrow images (the wide grid's extra columns).
    Otherwise thin groups make im2col's GEMMs tiny and its copy dominant: depthwise convs
    multiply-add per tap, thin groups sum per-tap GEMMs. Winograd, the fastest for large 3×3
    convs with one BLAS thread, lost to im2col with two (its transforms are NumPy passes on
    one core), so it is never picked automatically.
    """
    unit_stride = all(s == 1 for s in geo.stride)
    if unit_stride and geo.nd >= 2 and geo.taps > 1:
        tap_sum = geo.taps // geo.kernel[0]
        wide_grid = geo.slab_row_pixels() / geo.row_pixels()
        if tap_sum <= 7 and wide_grid <= 1.25:
            return "rows"
    if geo.in_per_group == 1 and geo.groups > 1:
        return "fma"
    if unit_stride and geo.taps > 1 and geo.groups > 1 and geo.in_per_group < 16:
        return "taps"
    return "gemm"


def _chunk_bytes(geo: _ConvGeometry, method: str, images: int, groups: int, rows: int, itemsize: int) -> int:
    """Scratch memory of a chunk of ``images`` images × ``groups`` groups × ``rows`` output rows."""
    in_channels, out_channels = groups * geo.in_per_group, groups * geo.out_per_group
    # The narrow grid reads the input itself: no padded slab.
    slab = 0 if geo.narrow else in_channels * geo.slab_rows(rows) * geo.slab_row_pixels()
    wide_out = out_channels * rows * geo.slab_row_pixels()
    compact_out = out_channels * rows * geo.row_pixels()
    if method == "gemm":
        work = in_channels * geo.taps * rows * geo.row_pixels() + compact_out
    elif method == "taps":
        work = 2 * wide_out
    elif method == "rows":  # the row copies (+ a row of ones), the GEMM's rows, the tap sum
        first, rest = geo.kernel[0], geo.taps // geo.kernel[0]
        run = (geo.slab_rows(rows) + 2) * geo.slab_row_pixels()  # an upper bound on their length
        work = (groups * (geo.in_per_group * first + 1) + out_channels * (rest + 1)) * run
    elif method == "winograd":  # 4^nd transformed values per tile of 2^nd outputs, in and out
        tiles = math.prod(-(-o // 2) for o in (rows, *geo.out_spatial[1:]))
        values = 4**geo.nd * tiles
        work = 2 * in_channels * values + out_channels * (values + 2**geo.nd * tiles)
    else:  # fma keeps an accumulator and a product, on the wide grid or the compact one
        work = 2 * max(wide_out, compact_out)
    return images * (slab + work) * itemsize


def _conv_chunks(
    geo: _ConvGeometry, method: str, itemsize: int, bound: int
) -> Iterator[tuple[int, int, int, int, int, int]]:
    """(n0, n1, g0, g1, r0, r1): image, group and output-row ranges whose scratch fits.

    Whole images when they fit, else whole groups of one image, else bands of output rows of
    one group. Methods made of many passes aim at ``CACHE_BYTES`` when that is smaller.
    """
    if method in ("fma", "rows") or (method == "taps" and geo.groups > 1):
        bound = min(bound, CACHE_BYTES[method])
    rows, groups = geo.out_spatial[0], geo.groups
    per_image = _chunk_bytes(geo, method, 1, groups, rows, itemsize)
    if per_image <= bound:
        for n0, n1 in _even_steps(geo.batch, bound // per_image):
            yield n0, n1, 0, groups, 0, rows
        return
    per_group = _chunk_bytes(geo, method, 1, 1, rows, itemsize)
    if per_group <= bound:
        for n in range(geo.batch):
            for g0, g1 in _even_steps(groups, bound // per_group):
                yield n, n + 1, g0, g1, 0, rows
        return
    # One group of one image is too big: bands of output rows (scratch is affine in rows).
    fixed = _chunk_bytes(geo, method, 1, 1, 1, itemsize)
    per_row = _chunk_bytes(geo, method, 1, 1, 2, itemsize) - fixed
    band = max(1, 1 + (bound - fixed) // max(per_row, 1))
    if method == "winograd":  # whole tiles: bands of an even number of rows
        band = max(2, band - band % 2)
    for n in range(geo.batch):
        for g in range(groups):
            for r0 in range(0, rows, band):
                yield n, n + 1, g, g + 1, r0, min(rows, r0 + band)


def _even_steps(total: int, most: int) -> list[tuple[int, int]]:
    """[start, end) ranges covering ``range(total)`` in as few steps of at most ``most`` items
    as possible, of sizes differing by at most one: a short last step would pay a whole step's
    overhead for little work.

    >>> _even_steps(144, 67)
    [(0, 48), (48, 96), (96, 144)]
    """
    count = -(-total // max(1, most))
    return [(total * i // count, total * (i + 1) // count) for i in range(count)]


def _padded_slab(
    x: np.ndarray,
    geo: _ConvGeometry,
    n0: int,
    n1: int,
    channels: slice,
    r0: int,
    r1: int,
    mode: str,
    scratch: _Scratch,
    method: str = "gemm",
) -> np.ndarray:
    """The padded input that output rows [r0, r1) of images [n0, n1) read, in ``channels``.

    Its first spatial dim starts at padded row ``r0·stride``; the others at padded index 0.
    Without padding this is a view of ``x``. Winograd tiles read one pixel past an odd output
    size (the padding mode's value there only reaches the dropped output).
    """
    starts = (r0 * geo.stride[0],) + (0,) * (geo.nd - 1)
    extents = (geo.slab_rows(r1 - r0),) + geo.extents[1:]
    if method == "winograd":
        extents = tuple(2 * -(-o // 2) + 2 for o in (r1 - r0, *geo.out_spatial[1:]))
    if not any(left for left, _ in geo.pads) and all(
        start + extent <= size for start, extent, size in zip(starts, extents, geo.spatial)
    ):
        # The tap sums address the slab as one flat run per channel: only whole rows will do.
        flat = method in ("taps", "rows") or (method == "fma" and all(s == 1 for s in geo.stride))
        if not flat or all(extent == size for extent, size in zip(extents[1:], geo.spatial[1:])):
            return x[(slice(n0, n1), channels, *(slice(a, a + e) for a, e in zip(starts, extents)))]
    shape = (n1 - n0, geo.in_channels, *extents)
    if mode != "zeros":
        index = [
            _source_index(np.arange(start, start + extent) - left, size, mode)
            for start, extent, (left, _), size in zip(starts, extents, geo.pads, geo.spatial)
        ]
        grids = np.ix_(*index)
        slab = scratch.get("slab", shape)
        slab[...] = x[(slice(n0, n1), channels, *grids)]
        scratch.filled.pop("slab", None)
        return slab
    slab = scratch.get("slab", shape)
    src: list[slice] = [slice(n0, n1), channels]
    dst: list[slice] = [slice(None), slice(None)]
    for start, extent, (left, _), size in zip(starts, extents, geo.pads, geo.spatial):
        lo, hi = max(start - left, 0), min(start + extent - left, size)
        if hi <= lo:  # the chunk reads padding only
            scratch.filled.pop("slab", None)
            slab.fill(0)
            return slab
        src.append(slice(lo, hi))
        dst.append(slice(lo + left - start, hi + left - start))
    # The padding stays zero from one chunk to the next when the layout is the same: only the
    # inside is written again (zeroing every chunk's slab costs a pass of its own).
    layout = (shape, tuple(dst))
    if scratch.filled.get("slab") != layout:
        slab.fill(0)
        scratch.filled["slab"] = layout
    slab[tuple(dst)] = x[tuple(src)]
    return slab


def _tap_offsets(geo: _ConvGeometry, slab: np.ndarray) -> list[int]:
    """Element offset of each kernel tap in the flattened slab, taps in weight order."""
    steps = tuple(d * st // slab.itemsize for d, st in zip(geo.dilation, slab.strides[2:]))
    return _offsets(geo.kernel, steps)


@functools.lru_cache(maxsize=64)
def _offsets(kernel: tuple[int, ...], steps: tuple[int, ...]) -> list[int]:
    # Cached: every chunk of a call asks again, and a 3-D kernel has many taps.
    return [sum(t * step for t, step in zip(tap, steps)) for tap in product(*map(range, kernel))]


def _wide_length(geo: _ConvGeometry, slab: np.ndarray, rows: int) -> int:
    """Length of the wide output: from the first output pixel to the last, in slab strides."""
    sizes = (rows,) + geo.out_spatial[1:]
    return 1 + sum((o - 1) * st // slab.itemsize for o, st in zip(sizes, slab.strides[2:]))


def _flat(slab: np.ndarray) -> np.ndarray:
    """(n, C, L) view of a slab whose spatial block is C-contiguous (rows may be a slice)."""
    n, channels = slab.shape[:2]
    length = math.prod(slab.shape[2:])
    return as_strided(slab, (n, channels, length), (slab.strides[0], slab.strides[1], slab.itemsize))


def _unwide(wide: np.ndarray, geo: _ConvGeometry, slab: np.ndarray, rows: int) -> np.ndarray:
    """The valid outputs (n, C_out, rows, *out[1:]) as a strided view of the wide output."""
    n, channels = wide.shape[0], wide.shape[1]
    item = wide.itemsize
    pixel_strides = tuple(st // slab.itemsize * item for st in slab.strides[2:])
    return as_strided(
        wide,
        (n, channels, rows, *geo.out_spatial[1:]),
        (wide.strides[0], wide.strides[1], *pixel_strides),
    )


def _grouped_weight(weight: np.ndarray, geo: _ConvGeometry) -> np.ndarray:
    return weight.reshape(geo.groups, geo.out_per_group, geo.in_per_group * geo.taps)


def _add_bias(dest: np.ndarray, bias: np.ndarray | None) -> None:
    if bias is not None:
        np.add(dest, bias.reshape((-1,) + (1,) * (dest.ndim - 2)), out=dest)


def _store(dest: np.ndarray, result: np.ndarray, bias: np.ndarray | None) -> None:
    """dest = result (+ bias per channel, in the same pass)."""
    if bias is None:
        np.copyto(dest, result)
    else:
        np.add(result, bias.reshape((-1,) + (1,) * (dest.ndim - 2)), out=dest)


def _conv_gemm(
    slab: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    geo: _ConvGeometry,
    rows: int,
    dest: np.ndarray,
    scratch: _Scratch,
) -> None:
    n = slab.shape[0]
    sizes = (rows,) + geo.out_spatial[1:]
    pixels = math.prod(sizes)
    weights = _grouped_weight(weight, geo)
    if geo.taps == 1 and all(s == 1 for s in geo.stride) and slab.flags.c_contiguous:
        cols = slab.reshape(n, geo.groups, geo.in_per_group, pixels)  # 1×1 conv: x is im2col
    else:
        # The bias rides along in the GEMM: a row of ones in the columns, a column in the weights.
        depth = geo.in_per_group * geo.taps + (bias is not None)
        cols = scratch.get("cols", (n, geo.groups, depth, pixels))
        # Views only (a reshape that merged the group and channel axes would copy).
        taps_part = cols[:, :, : geo.in_per_group * geo.taps].reshape(
            n, geo.groups, geo.in_per_group, *geo.kernel, *sizes
        )
        grouped_slab = slab.reshape(n, geo.groups, geo.in_per_group, *slab.shape[2:])
        _im2col(grouped_slab, geo, sizes, taps_part, scratch)
        if bias is not None:
            cols[:, :, -1] = 1
            weights = np.concatenate((weights, bias.reshape(geo.groups, geo.out_per_group, 1)), axis=2)
            bias = None
    grouped = (n, geo.groups, geo.out_per_group, pixels)
    if dest.flags.c_contiguous:
        np.matmul(weights, cols, out=dest.reshape(grouped))
    else:
        result = np.matmul(weights, cols, out=scratch.get("result", grouped))
        np.copyto(dest, result.reshape(dest.shape))
    _add_bias(dest, bias)


def _im2col(slab: np.ndarray, geo: _ConvGeometry, sizes: tuple[int, ...], cols: np.ndarray, scratch: _Scratch) -> None:
    """cols[..., tap..., pixel...] = slab[..., stride·pixel + dilation·tap], leading axes as is.

    With a stride, the slab is first split into its stride phases (one copy of the input), so
    that each tap's copy reads whole contiguous rows instead of every s-th element.
    """
    nd = geo.nd
    lead = slab.shape[:-nd]
    everything = (slice(None),) * len(lead)
    strides = slab.strides[-nd:]
    if all(s == 1 for s in geo.stride) or geo.taps == 1:  # phases pay off when taps share them
        window = as_strided(
            slab,
            (*lead, *geo.kernel, *sizes),
            (
                *slab.strides[:-nd],
                *(d * st for d, st in zip(geo.dilation, strides)),
                *(s * st for s, st in zip(geo.stride, strides)),
            ),
        )
        np.copyto(cols, window)
        return
    extents = [-(-e // s) for e, s in zip(slab.shape[-nd:], geo.stride)]
    phases = scratch.get("phases", (math.prod(geo.stride), *lead, *extents))
    phase_index = {phase: i for i, phase in enumerate(product(*map(range, geo.stride)))}
    filled = set()
    for tap in product(*map(range, geo.kernel)):
        reach = [t * d for t, d in zip(tap, geo.dilation)]
        phase = tuple(r % s for r, s in zip(reach, geo.stride))
        plane = phases[phase_index[phase]]
        if phase not in filled:
            part = slab[(*everything, *(slice(p, None, s) for p, s in zip(phase, geo.stride)))]
            np.copyto(plane[(*everything, *(slice(0, e) for e in part.shape[-nd:]))], part)
            filled.add(phase)
        start = [r // s for r, s in zip(reach, geo.stride)]
        np.copyto(
            cols[(*everything, *tap)],
            plane[(*everything, *(slice(a, a + o) for a, o in zip(start, sizes)))],
        )


def _conv_rows(
    slab: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    geo: _ConvGeometry,
    rows: int,
    dest: np.ndarray,
    scratch: _Scratch,
) -> None:
    """Stride 1: a GEMM over the first kernel dim's taps, then a shifted sum over the others'.

    The first spatial dim's taps are whole shifted runs of the flattened slab, so copying them
    (k₀ contiguous copies) makes a column matrix of k₀·C_in/g rows, far smaller than im2col's
    k·C_in/g. One GEMM per group multiplies it by the weights of every (output channel, tap of
    the other dims) pair; output pixel p then sums, over those taps, that tap's row at p plus
    the tap's offset. For a 3×3 kernel that is 3 copies, 1 GEMM and 2 shifted additions
    instead of 9 copies; a depthwise conv then runs several times faster than a multiply-add
    per tap, which makes 18 passes over the data. The weight (and the bias, as a column) come
    prepared in ``geo.prepared_weight``; ``weight`` and ``bias`` are unused.
    """
    n = slab.shape[0]
    length = _wide_length(geo, slab, rows)
    flat = _flat(slab)
    offsets = _tap_offsets(geo, slab)
    first = geo.kernel[0]
    rest = geo.taps // first
    rest_offsets = offsets[:rest]  # the taps with first-dim index 0, in weight order
    run = length + rest_offsets[-1]  # the GEMM's columns: every pixel a shifted tap reads
    weights = geo.prepared_weight
    depth = weights.shape[-1]
    columns = scratch.get("columns", (n, geo.groups, depth, run))
    row_step = offsets[rest] if first > 1 else 0  # one step along the first kernel dim
    np.copyto(
        columns[:, :, : geo.in_per_group * first].reshape(n, geo.groups, geo.in_per_group, first, run),
        as_strided(
            flat,
            (n, geo.groups, geo.in_per_group, first, run),
            (flat.strides[0], geo.in_per_group * flat.strides[1], flat.strides[1], row_step * flat.itemsize, flat.itemsize),
        ),
    )
    _constant_rows(columns, geo.in_per_group * first, scratch)
    per_tap = scratch.get("per_tap", (n, geo.groups, geo.out_per_group * rest, run))
    np.matmul(weights, columns, out=per_tap)
    per_tap = per_tap.reshape(n, geo.out_channels, rest, run)
    # The sum runs on the compact grid, straight into the destination: a pass on the wide grid
    # followed by a compacting copy was slower.
    _sum_into(dest, [_unwide(per_tap[:, :, tap, offset:], geo, slab, rows) for tap, offset in enumerate(rest_offsets)])


def _constant_rows(
    columns: np.ndarray, taps_rows: int, scratch: _Scratch, first: int = 1, zero_runs: tuple[tuple[int, int, int], ...] = ()
) -> None:
    """Write the parts of the column matrix that no copy writes, unless the buffer holds them
    for this layout already: the row of ones the bias column multiplies (when the prepared
    weight has one, the column matrix has a row past its ``taps_rows``) and ``zero_runs``,
    (first-dim tap, start, stop) runs of zeros in every input channel's rows of that tap."""
    # Every chunk's copies rewrite all of the taps' rows outside the zero runs, so these fix
    # where the constants lie (first: how the rows split into channels × first-dim taps).
    layout = (columns.shape, taps_rows, first, zero_runs)
    if scratch.filled.get("columns") == layout:
        return
    if columns.shape[2] > taps_rows:
        columns[:, :, -1] = 1
    by_tap = columns[:, :, :taps_rows].reshape(*columns.shape[:2], -1, first, columns.shape[-1])
    for tap, start, stop in zero_runs:
        by_tap[..., tap, start:stop] = 0
    scratch.filled["columns"] = layout


def _sum_into(dest: np.ndarray, terms: list[np.ndarray]) -> None:
    """dest = Σ terms, in order (one term: a copy)."""
    if len(terms) == 1:
        np.copyto(dest, terms[0])
        return
    np.add(terms[0], terms[1], out=dest)
    for term in terms[2:]:
        np.add(dest, term, out=dest)


def _conv_rows_narrow(
    x: np.ndarray, geo: _ConvGeometry, r0: int, r1: int, dest: np.ndarray, scratch: _Scratch
) -> None:
    """"rows" on the input's own grid, for zero padding that keeps every dim but the first.

    Only the first dim is padded, so each first-dim tap's row of the column matrix is one
    contiguous copy of each input channel, at an offset, between zeros: no padded copy of the
    input is made. The other dims are not padded: a tap's shift then makes the pixels near an
    edge read the neighbouring row's (or plane's) pixels instead of padding. Each partial sum
    feeds exactly one output, so zeroing the partial sums that would cross an edge makes the
    result exact, and the tap sum writes the contiguous destination directly, with no
    compacting pass.
    """
    n = x.shape[0]
    rows = r1 - r0
    first = geo.kernel[0]
    rest = geo.taps // first
    other = geo.spatial[1:]
    plane = math.prod(other)  # one step along the first dim
    grid = (rows + 2) * plane  # the output rows and a slack one each side, which shifts reach
    weights = geo.prepared_weight
    depth = weights.shape[-1]
    columns = scratch.get("columns", (n, geo.groups, depth, grid))
    grouped = columns[:, :, : geo.in_per_group * first].reshape(n, geo.groups, geo.in_per_group, first, grid)
    # Grid row j + 1 holds, for first-dim tap t0, input row r0 + j + t0·dilation − padding.
    runs = []
    for t0 in range(first):
        top = r0 + t0 * geo.dilation[0] - geo.pads[0][0] - 1  # the input row on grid row 0
        lo, hi = max(top, 0), min(top + rows + 2, geo.spatial[0])
        runs.append((lo - top, max(hi - lo, 0), lo))
    # The first dim's padding (and the slack rows past the input): zeros around each copy.
    zero_runs = tuple(
        (t0, start, stop)
        for t0, (at, count, _) in enumerate(runs)
        for start, stop in ((0, at * plane), ((at + count) * plane, grid))
        if stop > start
    )
    _constant_rows(columns, geo.in_per_group * first, scratch, first, zero_runs)
    source = x.reshape(n, geo.groups, geo.in_per_group, -1)
    for t0, (at, count, lo) in enumerate(runs):
        if count:
            np.copyto(grouped[..., t0, at * plane : (at + count) * plane], source[..., lo * plane : (lo + count) * plane])
    per_tap = scratch.get("per_tap", (n, geo.groups, geo.out_per_group * rest, grid))
    np.matmul(weights, columns, out=per_tap)
    per_tap = per_tap.reshape(n, geo.out_channels, rest, rows + 2, *other)
    flat_taps = per_tap.reshape(n, geo.out_channels, rest, -1)
    terms = []
    for index, tap in enumerate(_narrow_taps(other, geo.kernel[1:], geo.dilation[1:], geo.pads[1:])):
        for edge in tap.edges:  # the sums that feed an output across an edge of the other dims
            per_tap[(slice(None), slice(None), index) + edge] = 0
        terms.append(flat_taps[:, :, index, tap.start : tap.start + rows * plane])
    total = dest.reshape(n, geo.out_channels, rows * plane)  # a view: each channel's rows are whole
    assert np.may_share_memory(total, dest), "the tap sum must write the output itself"
    _sum_into(total, terms)


def _narrow_fits(geo: _ConvGeometry) -> bool:
    """Whether every dim but the first keeps its size and its shifts stay within one slice of
    the first dim (the narrow grid's slack)."""
    other = geo.spatial[1:]
    if geo.out_spatial[1:] != other:
        return False
    reach = sum(max(left, right) * math.prod(other[d + 1 :]) for d, (left, right) in enumerate(geo.pads[1:]))
    return reach <= math.prod(other)


def _narrow_shifts(
    kernel: tuple[int, ...], dilation: tuple[int, ...], pads: tuple[tuple[int, int], ...]
) -> tuple[tuple[int, ...], ...]:
    """Per tap of the dims after the first (weight order; their kernel, dilation and pads
    given): how far, along each of those dims, the input it reads lies from the output pixel
    on the narrow grid (negative: before it)."""
    return tuple(
        tuple(t * dil - left for t, dil, (left, _) in zip(taps, dilation, pads))
        for taps in product(*map(range, kernel))
    )


class _NarrowTap(NamedTuple):
    """One tap of the dims after the first, on the narrow grid."""

    edges: tuple[tuple[slice, ...], ...]  # index (from the grid's row dim on) of each band to zero
    start: int  # where the tap's term starts on the flat grid


@functools.lru_cache(maxsize=64)
def _narrow_taps(
    other: tuple[int, ...], kernel: tuple[int, ...], dilation: tuple[int, ...], pads: tuple[tuple[int, int], ...]
) -> tuple[_NarrowTap, ...]:
    """Per tap of the dims after the first (sizes ``other``): the edge bands whose sums would
    cross an edge, and where its term starts. Cached: every chunk of every call of this
    geometry asks again."""
    steps = [math.prod(other[d + 1 :]) for d in range(len(other))]
    taps = []
    for shifts in _narrow_shifts(kernel, dilation, pads):
        edges = []
        for axis, (shift, size) in enumerate(zip(shifts, other)):
            if shift:
                band = slice(0, min(shift, size)) if shift > 0 else slice(max(size + shift, 0), size)
                edges.append((slice(None),) * (axis + 1) + (band,))
        start = math.prod(other) + sum(shift * step for shift, step in zip(shifts, steps))
        taps.append(_NarrowTap(tuple(edges), start))
    return tuple(taps)


def _unshifted_tap(geo: _ConvGeometry) -> int | None:
    """The tap of the other dims that no narrow-grid edge zeroing touches (its shift is 0 in
    every dim), which carries the bias; None when there is none."""
    shifts = _narrow_shifts(geo.kernel[1:], geo.dilation[1:], geo.pads[1:])
    return shifts.index((0,) * (geo.nd - 1)) if (0,) * (geo.nd - 1) in shifts else None


def _rows_weight(weight: np.ndarray, bias: np.ndarray | None, geo: _ConvGeometry, bias_tap: int = 0) -> np.ndarray:
    """(G, C_out/g · rest, C_in/g · k₀ [+ 1]): row (o, tap of the other dims), column (i, tap
    of the first dim), and with a bias one more column holding it on tap ``bias_tap``'s rows."""
    first = geo.kernel[0]
    rest = geo.taps // first
    rows = weight.reshape(geo.groups, geo.out_per_group, geo.in_per_group, first, rest).transpose(0, 1, 4, 2, 3)
    if bias is None:
        return np.ascontiguousarray(rows.reshape(geo.groups, geo.out_per_group * rest, -1))
    prepared = np.zeros((geo.groups, geo.out_per_group, rest, geo.in_per_group * first + 1), weight.dtype)
    prepared[..., :-1] = rows.reshape(geo.groups, geo.out_per_group, rest, -1)
    prepared[:, :, bias_tap, -1] = bias.reshape(geo.groups, geo.out_per_group)
    return prepared.reshape(geo.groups, geo.out_per_group * rest, -1)


def _conv_taps(
    slab: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    geo: _ConvGeometry,
    rows: int,
    dest: np.ndarray,
    scratch: _Scratch,
) -> None:
    n = slab.shape[0]
    length = _wide_length(geo, slab, rows)
    flat = _flat(slab)
    per_tap = np.ascontiguousarray(
        weight.reshape(geo.groups, geo.out_per_group, geo.in_per_group, geo.taps).transpose(3, 0, 1, 2)
    )
    grouped = (n, geo.groups, geo.out_per_group, length)
    wide = scratch.get("wide", grouped)
    product_ = scratch.get("product", grouped) if geo.taps > 1 else wide
    for tap, offset in enumerate(_tap_offsets(geo, slab)):
        shifted = flat[:, :, offset : offset + length].reshape(n, geo.groups, geo.in_per_group, length)
        if tap == 0:
            np.matmul(per_tap[tap], shifted, out=wide)
        else:
            np.matmul(per_tap[tap], shifted, out=product_)
            np.add(wide, product_, out=wide)
    _store(dest, _unwide(wide.reshape(n, geo.out_channels, length), geo, slab, rows), bias)


def _conv_fma(
    slab: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    geo: _ConvGeometry,
    rows: int,
    dest: np.ndarray,
    scratch: _Scratch,
) -> None:
    """Depthwise: out[c·m + j] = Σ_taps w[c·m + j, tap] · shifted x[c], m = channel multiplier."""
    n = slab.shape[0]
    multiplier = geo.out_per_group
    per_tap = weight.reshape(geo.groups, multiplier, geo.taps)
    unit_stride = all(s == 1 for s in geo.stride)
    if unit_stride:
        length = _wide_length(geo, slab, rows)
        flat = _flat(slab)
        pixel_shape: tuple[int, ...] = (length,)
        views = (
            flat[:, :, None, offset : offset + length] for offset in _tap_offsets(geo, slab)
        )
    else:
        pixel_shape = (rows,) + geo.out_spatial[1:]
        strides = slab.strides[2:]
        views = (
            as_strided(
                slab[(slice(None), slice(None), *(slice(t * d, None) for t, d in zip(tap, geo.dilation)))],
                (n, geo.groups, 1, *pixel_shape),
                (slab.strides[0], slab.strides[1], 0, *(s * st for s, st in zip(geo.stride, strides))),
            )
            for tap in product(*map(range, geo.kernel))
        )
    acc_shape = (n, geo.groups, multiplier, *pixel_shape)
    acc = scratch.get("wide", acc_shape)
    product_ = scratch.get("product", acc_shape)
    weight_shape = (geo.groups, multiplier) + (1,) * len(pixel_shape)
    for tap, view in enumerate(views):
        w_tap = per_tap[:, :, tap].reshape(weight_shape)
        if tap == 0:
            np.multiply(view, w_tap, out=acc)
        else:
            np.multiply(view, w_tap, out=product_)
            np.add(acc, product_, out=acc)
    if unit_stride:
        _store(dest, _unwide(acc.reshape(n, geo.out_channels, pixel_shape[0]), geo, slab, rows), bias)
    else:
        _store(dest, acc.reshape(dest.shape), bias)


# Winograd F(2, 3): Y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A per dim; the transforms' entries are 0, ±1, ±½,
# so they add no rounding of their own beyond the sums.
_WINOGRAD_BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=np.float64)
_WINOGRAD_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], dtype=np.float64)
_WINOGRAD_AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=np.float64)


def _winograd_fits(geo: _ConvGeometry) -> bool:
    return all(k == 3 for k in geo.kernel) and all(s == 1 for s in geo.stride) and all(
        d == 1 for d in geo.dilation
    )


def _transform_axis(matrix: np.ndarray, source: np.ndarray, out: np.ndarray) -> None:
    """``out[i] = Σ_j matrix[i, j] · source[j]`` along axis 0, for entries 0 and ±1 (Bᵀ, Aᵀ)."""
    for i, row in enumerate(matrix):
        plus = [source[j] for j in np.flatnonzero(row > 0)]
        minus = [source[j] for j in np.flatnonzero(row < 0)]
        target = out[i]
        first = plus.pop(0)  # every row of Bᵀ and Aᵀ has a positive entry
        if plus:
            np.add(first, plus.pop(0), out=target)
        elif minus:
            np.subtract(first, minus.pop(0), out=target)
        else:
            np.copyto(target, first)
        for term in plus:
            np.add(target, term, out=target)
        for term in minus:
            np.subtract(target, term, out=target)


def _winograd_weight(weight: np.ndarray, geo: _ConvGeometry) -> np.ndarray:
    """(G, 4^nd, C_out/g, C_in/g): every weight slice transformed to the tile domain (G g Gᵀ)."""
    transform = _WINOGRAD_G
    for _ in range(geo.nd - 1):
        transform = np.kron(transform, _WINOGRAD_G)
    # Taps first (one transposing copy), then one GEMM: BLAS is slow on the transposed view.
    taps_first = np.ascontiguousarray(weight.reshape(geo.out_channels * geo.in_per_group, geo.taps).T)
    product_ = transform.astype(weight.dtype) @ taps_first
    # Groups first, as every prepared weight is, so that conv_nd slices a chunk's groups alike;
    # _conv_winograd swaps the axes back (a view) for its per-tile-value GEMMs.
    return product_.reshape(4**geo.nd, geo.groups, geo.out_per_group, geo.in_per_group).swapaxes(0, 1)


def _tile_view(a: np.ndarray, axis: int) -> np.ndarray:
    """``a`` with dim ``axis`` (size 2·T + 2) cut into T overlapping tiles of 4: a new axis 0 of
    size 4 for the position in the tile, and dim ``axis`` (shifted by one) counting tiles."""
    tiles = (a.shape[axis] - 2) // 2
    shape = (4,) + a.shape[:axis] + (tiles,) + a.shape[axis + 1 :]
    strides = (a.strides[axis],) + a.strides[:axis] + (2 * a.strides[axis],) + a.strides[axis + 1 :]
    return as_strided(a, shape, strides)


def _conv_winograd(
    slab: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    geo: _ConvGeometry,
    rows: int,
    dest: np.ndarray,
    scratch: _Scratch,
) -> None:
    n, nd = slab.shape[0], geo.nd
    sizes = (rows,) + geo.out_spatial[1:]
    tiles = tuple(-(-o // 2) for o in sizes)
    count, values = math.prod(tiles), 4**nd
    # Input transform Bᵀ d B, one spatial dim at a time: (C, n, E₀, …) becomes
    # (4, …, 4, C, n, T₀, …). Dims not yet transformed stay whole rows, so the passes stream
    # through contiguous memory; images sit next to the tiles so that one GEMM per tile value
    # covers the whole chunk.
    current = slab.swapaxes(0, 1)
    for axis in range(nd):
        tiled = _tile_view(current, 2 * axis + 2)  # axes: e_axis, e₀…, C, n, T₀…T_axis, E_axis+1…
        result = scratch.get(f"in{axis % 2}", (4,) * (axis + 1) + tiled.shape[axis + 1 :])
        _transform_axis(_WINOGRAD_BT, tiled, np.moveaxis(result, axis, 0))
        current = result
    columns = current.reshape(values, geo.groups, geo.in_per_group, n * count)
    products = scratch.get("product", (values, geo.groups, geo.out_per_group, n * count))
    np.matmul(geo.prepared_weight.swapaxes(0, 1), columns, out=products)
    # Output transform Aᵀ m A, last dim first: each pass writes its two outputs per tile
    # interleaved (output η of tile t at 2t + η), the final pass straight into the destination.
    current = products.reshape((4,) * nd + (geo.out_channels, n) + tiles)
    for axis in reversed(range(nd)):
        moved = np.moveaxis(current, axis, 0)  # (4, ξ₀…, C, n, T₀…T_axis, 2T_axis+1…)
        spot = 2 * axis + 2  # where T_axis sits in moved[j]
        if axis == 0:
            target = dest.swapaxes(0, 1)  # (C, n, O₀, O₁, …)
            moved = moved[(Ellipsis, *(slice(0, o) for o in sizes[1:]))]
        else:
            rest = moved.shape[1:]
            target = scratch.get(f"out{axis % 2}", rest[:spot] + (2 * tiles[axis],) + rest[spot + 1 :])
        for parity in range(2):
            outputs = target[(slice(None),) * spot + (slice(parity, None, 2),)]
            used = moved[(slice(None),) * (spot + 1) + (slice(0, outputs.shape[spot]),)]
            _transform_axis(_WINOGRAD_AT[parity : parity + 1], used, outputs[None])
        current = target
    _add_bias(dest, bias)


# ---------------------------------------------------------------------------------------------
# Transposed convolution


def conv_transpose_nd(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None = None,
    stride: int | Sequence[int] = 1,
    padding: int | Sequence[int] = 0,
    output_padding: int | Sequence[int] = 0,
    dilation: int | Sequence[int] = 1,
    groups: int = 1,
    *,
    max_buffer_bytes: int | None = None,
) -> np.ndarray:
    """Transposed convolution of ``x`` (N, C_in, *spatial) with ``weight`` (C_in, C_out/groups, *k).

    Computed as torch defines it, the gradient of a convolution: one GEMM per image and group
    gives every input pixel's contribution to each kernel tap (C_out/groups × taps rows), then a
    loop over taps scatter-adds them (col2im) at ``stride·i + dilation·tap``; ``padding`` crops
    the result and ``output_padding`` extends it at the end.

    >>> x = np.array([[[1.0, 2.0]]])
    >>> conv_transpose_nd(x, np.array([[[1.0, 10.0, 100.0]]]), stride=2).tolist()
    [[[1.0, 10.0, 102.0, 20.0, 200.0]]]
    """
    x_given = x = np.asarray(x)
    weight_given = weight = np.asarray(weight)
    nd = x.ndim - 2
    if nd < 1 or weight.ndim != nd + 2:
        raise ValueError(f"conv_transpose_nd needs x (N, C, *spatial) and a weight with {nd} kernel dims")
    dtype = _float_dtype(x, weight)
    batch, in_channels, *spatial = x.shape
    _, out_per_group, *kernel = weight.shape
    if weight.shape[0] != in_channels or in_channels % groups:
        raise ValueError(f"weight {weight.shape} with groups={groups} does not fit {in_channels} input channels")
    stride_, padding_, dilation_ = _tuple(stride, nd), _tuple(padding, nd), _tuple(dilation, nd)
    output_padding_ = _tuple(output_padding, nd)
    rules = [
        TransposedRule(k, s, p, d, op)
        for k, s, p, d, op in zip(kernel, stride_, padding_, dilation_, output_padding_)
    ]
    out_spatial = tuple(rule.out(size) for rule, size in zip(rules, spatial))
    if min(out_spatial) < 1:
        raise ValueError(f"transposed conv output size {out_spatial} is empty")
    # The scatter covers (L−1)·s + d·(k−1) + 1; output_padding can reach past it (zeros there).
    full = tuple(
        max((size - 1) * s + d * (k - 1) + 1, p + out)
        for size, s, d, k, p, out in zip(spatial, stride_, dilation_, kernel, padding_, out_spatial)
    )
    out_channels = out_per_group * groups
    in_per_group = in_channels // groups
    taps = math.prod(kernel)
    # The canvas is phase-major: full position s·j + φ lives in plane φ at j, so every tap adds
    # into one plane at a fixed shift, over contiguous memory; the final copy interleaves the
    # planes into the output. Planes get one slack row (see below).
    plane = tuple(-(-f // s) for f, s in zip(full, stride_))
    plane_shape = (plane[0] + 1, *plane[1:])
    # The GEMM runs on the input widened to the planes' row length (zeros on the right), so a
    # tap's contributions are one contiguous run of a flattened plane: the zeros that wrap past
    # a row's end land in the next row's start or the slack row, adding nothing.
    wide_spatial = (spatial[0], *plane[1:])
    wide_pixels = math.prod(wide_spatial)
    plane_pixels = math.prod(plane_shape)
    row_step = [math.prod(plane[i + 1 :]) for i in range(nd)]

    # (G, C_out/g · taps, C_in/g): row (o, tap) gathers what input channel i sends to output o at
    # tap. BLAS reads the transposed view as is.
    weight_t = (
        np.asarray(weight, dtype=dtype).reshape(groups, in_per_group, out_per_group * taps).transpose(0, 2, 1)
    )
    out = np.empty((batch, out_channels, *out_spatial), dtype)
    bias_view = None
    if bias is not None:
        bias_view = np.asarray(bias, dtype=dtype).reshape((out_channels,) + (1,) * nd)
    per_image = (
        in_channels * wide_pixels
        + out_channels * taps * wide_pixels
        + out_channels * math.prod(stride_) * plane_pixels
    ) * dtype.itemsize
    bound = DEFAULT_BUFFER_BYTES if max_buffer_bytes is None else max_buffer_bytes
    images = max(1, min(batch, bound // max(per_image, 1)))
    everything = (slice(None), slice(None))
    widened = tuple(wide_spatial) != tuple(spatial)
    with _Scratch.kept(dtype) as scratch, row_buffering(wide_pixels):
        for n0 in range(0, batch, images):
            n1 = min(batch, n0 + images)
            n = n1 - n0
            if widened:
                source = scratch.get("source", (n, in_channels, *wide_spatial), zero=True)
                source[(*everything, *(slice(0, size) for size in spatial))] = x[n0:n1]
            else:
                source = np.ascontiguousarray(x[n0:n1], dtype=dtype)
            cols = scratch.get("cols", (n, groups, out_per_group * taps, wide_pixels))
            np.matmul(weight_t, source.reshape(n, groups, in_per_group, wide_pixels), out=cols)
            cols_by_tap = cols.reshape(n, out_channels, taps, wide_pixels)
            canvas = scratch.get("canvas", (*stride_, n, out_channels, plane_pixels), zero=True)
            for tap, offsets in enumerate(product(*map(range, kernel))):
                reach = [t * d for t, d in zip(offsets, dilation_)]
                phase = tuple(r % s for r, s in zip(reach, stride_))
                start = sum(r // s * step for r, s, step in zip(reach, stride_, row_step))
                target = canvas[(*phase, *everything, slice(start, start + wide_pixels))]
                np.add(target, cols_by_tap[:, :, tap], out=target)
            planes = canvas.reshape(*stride_, n, out_channels, *plane_shape)
            # Output position y is full position y + padding: crop and interleave, phase by phase.
            for first in product(*(range(min(s, o)) for s, o in zip(stride_, out_spatial))):
                shifted = [f + p for f, p in zip(first, padding_)]
                phase = tuple(v % s for v, s in zip(shifted, stride_))
                rows = tuple(
                    slice(v // s, v // s + len(range(f, o, s)))
                    for v, s, f, o in zip(shifted, stride_, first, out_spatial)
                )
                source_rows = planes[(*phase, *everything, *rows)]
                dest = out[(slice(n0, n1), slice(None), *(slice(f, None, s) for f, s in zip(first, stride_)))]
                if bias_view is None:
                    np.copyto(dest, source_rows)
                else:
                    np.add(source_rows, bias_view, out=dest)
    return _in_result_dtype(out, x_given, weight_given)
