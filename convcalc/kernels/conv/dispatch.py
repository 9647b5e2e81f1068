"""``conv_nd``, the convolution's entry point, and the choice of method.

``prepared_conv`` checks the arguments, picks a method (``choose_method`` for "auto") and
prepares the weight for the methods that rearrange it, once for inputs of one shape; each call
then runs the method's kernel (``KERNELS``) on every chunk that ``chunks.conv_chunks`` cuts
(``chunk_lists``, once per thread count). ``conv_nd`` is one such call. A new method needs a kernel with
the same signature in a module of its own, an entry in ``KERNELS`` and ``METHODS``, and its
scratch formula in ``chunks.chunk_bytes``.

(Also tried, never faster: im2col on the wide grid built from contiguous copies, and one GEMM
of all taps' weights stacked followed by the shifted sum over taps.)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np

from .._common import DEFAULT_BUFFER_BYTES, float_dtype, result_dtype, row_buffering
from ..threads import blas_threads, least_chunk_bytes, parallel_map, thread_count
from .chunks import chunk_bytes, conv_chunks
from .depthwise import conv_depthwise, conv_depthwise_input, depthwise_weight
from .gemm import conv_gemm, gemm_weight
from .geometry import ConvGeometry, pad_pairs, spatial_dims, spatial_tuple
from .grid import add_bias, narrow_fits
from .padding import PADDING_MODES, padded_slab
from .rows import conv_rows, conv_rows_narrow, prepare_rows
from .scratch import Scratch
from .taps import conv_taps
from .winograd import conv_winograd, winograd_fits, winograd_weight

Method = Literal["auto", "gemm", "rows", "taps", "depthwise", "winograd"]
Chunk = tuple[int, int, int, int, int, int]  # (n0, n1, g0, g1, r0, r1): see chunks.conv_chunks
METHODS = ("gemm", "rows", "taps", "depthwise", "winograd")

KERNELS: dict[str, Callable[..., None]] = {
    "gemm": conv_gemm, "rows": conv_rows, "taps": conv_taps, "depthwise": conv_depthwise, "winograd": conv_winograd
}
"""Each method's kernel: ``kernel(slab, weight, bias, geo, rows, dest, scratch)`` writes the
output rows of one chunk (``dest``) from its padded input (``slab``, see ``padded_slab``)."""

NARROW_KERNELS: dict[str, Callable[..., None]] = {"rows": conv_rows_narrow, "depthwise": conv_depthwise_input}
"""The methods that may read the input itself, with no padded slab (``geo.narrow``: "rows" and
stride-1 "depthwise" on the narrow grid, see ``grid``; strided "depthwise" splitting the input
into its stride phases): ``kernel(x, geo, r0, r1, dest, scratch)`` writes output rows [r0, r1)
of a chunk."""


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
    x = np.asarray(x)
    conv = prepared_conv(x.shape, x.dtype, weight, bias, stride, pads, dilation, groups, padding_mode,
                         max_buffer_bytes=max_buffer_bytes, method=method)
    return conv(x)


def prepared_conv(
    x_shape: Sequence[int],
    x_dtype: np.dtype,
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
) -> Callable[[np.ndarray], np.ndarray]:
    """``lambda x: conv_nd(x, weight, bias, ...)`` for inputs of ``x_shape`` and ``x_dtype``,
    with everything that does not depend on the values of ``x`` done once: the checks, the
    geometry, the method, the weight laid out for it, and each thread count's chunks. A
    network's plan keeps it; ``conv_nd`` makes one per call.

    >>> x = np.arange(5.0).reshape(1, 1, 5)
    >>> conv = prepared_conv(x.shape, x.dtype, np.ones((1, 1, 3)), np.array([0.5]), 1, ((1, 1),))
    >>> conv(x).tolist(), conv(2 * x).tolist()
    ([[[1.5, 3.5, 6.5, 9.5, 7.5]]], [[[2.5, 6.5, 12.5, 18.5, 14.5]]])
    """
    weight_given = np.asarray(weight)
    nd = spatial_dims(x_shape, weight_given.shape, "conv_nd")
    if padding_mode not in PADDING_MODES:
        raise ValueError(f"padding_mode={padding_mode!r} is not one of {PADDING_MODES}")
    dtype = float_dtype(x_dtype, weight_given)
    geo = ConvGeometry(
        x_shape, weight_given.shape, spatial_tuple(stride, nd), pad_pairs(pads, nd), spatial_tuple(dilation, nd), groups
    )
    _check_fit(geo, weight_given.shape)
    method = _checked_method(method, geo)
    weight = np.ascontiguousarray(weight_given, dtype=dtype)
    if bias is not None:
        bias = np.asarray(bias, dtype=dtype)
    bias = _prepare_weight(method, weight, bias, geo, padding_mode)
    bound = DEFAULT_BUFFER_BYTES if max_buffer_bytes is None else max_buffer_bytes
    out_shape = (geo.batch, geo.out_channels, *geo.out_spatial)
    result = result_dtype(x_dtype, weight_given)  # float16 comes back float16
    schedules: dict[tuple[int, int], list[list[Chunk]]] = {}  # (threads, least chunk bytes) -> chunk_lists's

    def conv(x: np.ndarray) -> np.ndarray:
        out = np.empty(out_shape, dtype)
        threads = thread_count()
        key = (threads, least_chunk_bytes())
        lists = schedules.get(key)
        if lists is None:
            lists = schedules[key] = chunk_lists(method, geo, dtype.itemsize, bound, threads)
        _run_chunks(method, np.ascontiguousarray(x, dtype=dtype), weight, bias, geo, padding_mode, out, lists)
        return out if result is None else out.astype(result, copy=False)

    return conv


def _check_fit(geo: ConvGeometry, weight_shape: tuple[int, ...]) -> None:
    """Refuse a weight that does not fit the input's channels, or a kernel larger than the
    padded input."""
    if geo.in_channels != geo.in_per_group * geo.groups or geo.out_channels % geo.groups:
        raise ValueError(
            f"weight {weight_shape} with groups={geo.groups} does not fit {geo.in_channels} input channels"
        )
    if min(geo.out_spatial) < 1:
        raise ValueError(f"the kernel does not fit the padded input: output size {geo.out_spatial}")


def _checked_method(method: str, geo: ConvGeometry) -> str:
    """The method to run: ``choose_method``'s for "auto", else the one asked for if it fits."""
    if method == "auto":
        return choose_method(geo)
    if method in ("taps", "rows") and any(s != 1 for s in geo.stride):
        raise ValueError(f"method={method!r} needs stride 1")
    if method == "depthwise" and geo.in_per_group != 1:
        raise ValueError("method='depthwise' is for depthwise convs (one input channel per group)")
    if method == "winograd" and not winograd_fits(geo):
        raise ValueError("method='winograd' needs kernel size 3, stride 1 and dilation 1 in every dim")
    return method


def choose_method(geo: ConvGeometry) -> str:
    """The fastest formulation for this shape, from timings on the benchmark machine.

    Depthwise convs (one input channel per group) take "depthwise", any stride: on stride 1 it
    matched "rows" on one thread and beat it on two (its chunks split over channels), and on
    stride 2 it takes half the time of a multiply-add per tap on strided views. "rows" wins
    every other stride-1 2-D conv measured (dense, dilated, grouped) except where its
    overheads grow: a tap sum over many taps (3-D kernels: the GEMM's output is that many
    times the output) or narrow images (the wide grid's extra columns). Otherwise thin groups
    make im2col's GEMMs tiny and its copy dominant: they sum per-tap GEMMs. Winograd, the
    fastest for large 3×3 convs with one BLAS thread, lost to im2col with two (its transforms
    are NumPy passes on one core), so it is never picked automatically.
    """
    if geo.in_per_group == 1 and geo.groups > 1:
        return "depthwise"
    unit_stride = all(s == 1 for s in geo.stride)
    if unit_stride and geo.nd >= 2 and geo.taps > 1:
        tap_sum = geo.taps // geo.kernel[0]
        wide_grid = geo.slab_row_pixels() / geo.row_pixels()
        if tap_sum <= 7 and wide_grid <= 1.25:
            return "rows"
    if unit_stride and geo.taps > 1 and geo.groups > 1 and geo.in_per_group < 16:
        return "taps"
    return "gemm"


def _prepare_weight(
    method: str, weight: np.ndarray, bias: np.ndarray | None, geo: ConvGeometry, padding_mode: str
) -> np.ndarray | None:
    """Rearrange the weight once per call (into ``geo.prepared_weight``) for the methods that
    multiply it rearranged. Returns the bias the chunks must still add (None when the prepared
    weight carries it)."""
    if method == "winograd":
        geo.prepared_weight = winograd_weight(weight, geo)
    elif method == "rows":
        bias = prepare_rows(weight, bias, geo, padding_mode)
    elif method == "gemm" and bias is not None and (geo.taps > 1 or any(s > 1 for s in geo.stride)):
        geo.prepared_weight = gemm_weight(weight, bias, geo)  # 1×1: x itself is im2col, no ones row
    elif method == "depthwise":
        geo.narrow = padding_mode == "zeros" and (any(s > 1 for s in geo.stride) or narrow_fits(geo))
        bias = depthwise_weight(weight, bias, geo)
    return bias


def chunk_lists(method: str, geo: ConvGeometry, itemsize: int, bound: int, threads: int) -> list[list[Chunk]]:
    """The chunks of a call at ``threads`` threads, each one's scratch under ``bound`` bytes,
    as ``parallel_map``'s items: one list of them all at one thread, else one chunk an item.

    With several threads, about two chunks per thread when the work is large enough and splits
    into images or groups (so that a thread held up by another process leaves its second chunk
    to the others; a lone chunk runs inline, its GEMM on BLAS's threads).

    >>> geo = ConvGeometry((2, 4, 8, 8), (4, 4, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1)
    >>> chunk_lists("gemm", geo, 4, 1 << 24, 1)
    [[(0, 2, 0, 1, 0, 8)]]
    """
    if threads > 1:
        rows = geo.out_spatial[0]
        whole = chunk_bytes(geo, method, geo.batch, geo.groups, rows, itemsize)
        # Images and groups split cleanly; bands of rows would each recompute the rows their
        # kernel overlaps (40% more GEMM for 5-row bands of a 14-row image): a single image
        # of one group stays whole, its GEMM on BLAS's threads.
        whole_group = chunk_bytes(geo, method, 1, 1, rows, itemsize)
        bound = max(min(bound, whole // (2 * threads)), least_chunk_bytes(), min(bound, whole_group))
    chunks = list(conv_chunks(geo, method, itemsize, bound))
    return [chunks] if threads == 1 else [[chunk] for chunk in chunks]


def _run_chunks(
    method: str,
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    geo: ConvGeometry,
    padding_mode: str,
    out: np.ndarray,
    lists: list[list[Chunk]],
) -> None:
    """Compute ``out`` chunk by chunk with ``method``'s kernel: ``lists`` (``chunk_lists``'s),
    on the pool when there are several."""
    run = _ChunkRun(method, x, weight, bias, geo, padding_mode, out)
    with blas_threads():
        parallel_map(run, lists, gemm=True)


class _ChunkRun:
    """Runs a list of chunks of one ``conv_nd`` call, on whichever thread calls it, with that
    thread's scratch."""

    def __init__(
        self,
        method: str,
        x: np.ndarray,
        weight: np.ndarray,
        bias: np.ndarray | None,
        geo: ConvGeometry,
        padding_mode: str,
        out: np.ndarray,
    ) -> None:
        self.method, self.x, self.weight, self.bias, self.geo = method, x, weight, bias, geo
        self.padding_mode, self.out = padding_mode, out

    def __call__(self, chunks: list[Chunk]) -> None:
        geo, out, bias = self.geo, self.out, self.bias
        compute = KERNELS[self.method]
        parts = {geo.groups: geo}  # the geometry of a chunk of g groups, by g: chunks are mostly alike
        with Scratch.kept(out.dtype) as scratch, row_buffering(math.prod(geo.out_spatial), out.size):
            for n0, n1, g0, g1, r0, r1 in chunks:
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
                    NARROW_KERNELS[self.method](self.x[n0:n1, in_rows], part, r0, r1, dest, scratch)
                    add_bias(dest, chunk_bias)  # when the prepared weight does not carry it
                    continue
                slab = padded_slab(self.x, part, n0, n1, in_rows, r0, r1, self.padding_mode, scratch, self.method)
                compute(slab, self.weight[out_rows], chunk_bias, part, r1 - r0, dest, scratch)
