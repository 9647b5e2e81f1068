"""Convolution and transposed convolution forward passes, written once for any number of dims.

``conv_nd`` computes what ``torch.nn.functional.conv{1,2,3}d`` computes (after ``F.pad`` for the
non-zero padding modes); ``conv_transpose_nd`` what ``F.conv_transpose{1,2,3}d`` computes. Both
take batched arrays (N, C, *spatial) and already-validated arguments.

How a convolution is computed (``method=``; "auto" picks per call, see ``_choose_method``):

- ``"gemm"``: im2col then GEMM. The column matrix is copied out of a strided sliding-window view
  of the padded input, then one matmul per image and group. Any stride and dilation.
- ``"wide"``: im2col then GEMM for stride 1, on the *wide* grid: outputs are computed for every
  column of the padded input's rows (the few past the last valid column are dropped at the end),
  which makes each kernel tap a contiguous slab of the flattened input, so the column matrix is
  built from long contiguous copies.
- ``"taps"``: stride 1, no column matrix at all: the sum over kernel taps of
  (C_out×C_in)·(C_in×pixels) GEMMs reading the shifted slabs of the wide grid in place.
- ``"fma"``: depthwise convs (one input channel per group): a loop over kernel taps of
  multiply-adds on strided views, no GEMM.

Work is chunked over the batch, and over output rows when one image is too big, so the scratch
buffers (padded input slab, column matrix, accumulators) stay under ``max_buffer_bytes``
(default ``DEFAULT_BUFFER_BYTES``); that bounds peak memory to the output plus the bound.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from itertools import product
from typing import Literal

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..arith import ConvRule, TransposedRule

DEFAULT_BUFFER_BYTES = 32 * 2**20
"""Upper bound on one chunk's scratch memory (all temporaries together), in bytes."""

CACHE_BYTES = 2**20
"""Chunks are cut to about this size when that costs no GEMM efficiency: they stay in cache."""

Method = Literal["auto", "gemm", "wide", "taps", "fma"]
METHODS = ("gemm", "wide", "taps", "fma")

_NUMPY_PAD_MODES = ("zeros", "reflect", "replicate", "circular")


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
    """float32 stays float32, float64 stays float64; integers compute in float64."""
    return np.result_type(*(a.dtype for a in arrays), np.float32)


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


class _Scratch:
    """Grow-only flat buffers, reused by every chunk of one call."""

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype
        self.buffers: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: Sequence[int], zero: bool = False) -> np.ndarray:
        size = math.prod(shape)
        flat = self.buffers.get(name)
        if flat is None or flat.size < size:
            flat = np.empty(size, self.dtype)
            self.buffers[name] = flat
        array = flat[:size].reshape(shape)
        if zero:
            array.fill(0)
        return array


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
    x = np.asarray(x)
    weight = np.asarray(weight)
    nd = x.ndim - 2
    if nd < 1 or weight.ndim != nd + 2:
        raise ValueError(f"conv_nd needs x (N, C, *spatial) and a weight with {nd} kernel dims")
    if padding_mode not in _NUMPY_PAD_MODES:
        raise ValueError(f"padding_mode={padding_mode!r} is not one of {_NUMPY_PAD_MODES}")
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
    elif method in ("wide", "taps") and any(s != 1 for s in geo.stride):
        raise ValueError(f"method={method!r} needs stride 1")
    elif method == "fma" and geo.in_per_group != 1:
        raise ValueError("method='fma' is for depthwise convs (one input channel per group)")

    x = np.ascontiguousarray(x, dtype=dtype)
    weight = np.ascontiguousarray(weight, dtype=dtype)
    out = np.empty((geo.batch, geo.out_channels, *geo.out_spatial), dtype)
    bias_view = None
    if bias is not None:
        bias_view = np.asarray(bias, dtype=dtype).reshape((geo.out_channels,) + (1,) * nd)

    bound = DEFAULT_BUFFER_BYTES if max_buffer_bytes is None else max_buffer_bytes
    scratch = _Scratch(dtype)
    compute = {"gemm": _conv_gemm, "wide": _conv_wide, "taps": _conv_taps, "fma": _conv_fma}[method]
    for n0, n1, r0, r1 in _conv_chunks(geo, method, dtype.itemsize, bound):
        slab = _padded_slab(x, geo, n0, n1, r0, r1, padding_mode, scratch)
        dest = out[n0:n1, :, r0:r1]
        compute(slab, weight, geo, r1 - r0, dest, scratch)
        if bias_view is not None:
            np.add(dest, bias_view, out=dest)
    return out


def _choose_method(geo: _ConvGeometry) -> str:
    """The fastest formulation for this shape, from timings on an AVX-512 / OpenBLAS machine."""
    unit_stride = all(s == 1 for s in geo.stride)
    if geo.in_per_group == 1 and geo.groups > 1:
        return "fma"
    if unit_stride and geo.taps > 1:
        return "taps" if geo.in_per_group >= 32 else "wide"
    return "gemm"


def _chunk_bytes(geo: _ConvGeometry, method: str, images: int, rows: int, itemsize: int) -> int:
    """Scratch memory of a chunk of ``images`` images × ``rows`` output rows."""
    slab = geo.in_channels * geo.slab_rows(rows) * geo.slab_row_pixels()
    wide_out = geo.out_channels * rows * geo.slab_row_pixels()
    compact_out = geo.out_channels * rows * geo.row_pixels()
    if method == "gemm":
        work = geo.in_channels * geo.taps * rows * geo.row_pixels() + compact_out
    elif method == "wide":
        work = geo.in_channels * geo.taps * rows * geo.slab_row_pixels() + wide_out
    elif method == "taps":
        work = 2 * wide_out
    else:  # fma keeps an accumulator and a product, on the wide grid or the compact one
        work = 2 * max(wide_out, compact_out)
    return images * (slab + work) * itemsize


def _conv_chunks(
    geo: _ConvGeometry, method: str, itemsize: int, bound: int
) -> Iterator[tuple[int, int, int, int]]:
    """(n0, n1, r0, r1): batch and output-row ranges whose scratch fits ``bound``."""
    rows = geo.out_spatial[0]
    per_image = _chunk_bytes(geo, method, 1, rows, itemsize)
    if per_image <= bound:
        images = max(1, min(geo.batch, bound // per_image))
        for n0 in range(0, geo.batch, images):
            yield n0, min(geo.batch, n0 + images), 0, rows
        return
    # One image is too big: cut it into bands of output rows (scratch is affine in rows).
    fixed = _chunk_bytes(geo, method, 1, 1, itemsize)
    per_row = _chunk_bytes(geo, method, 1, 2, itemsize) - fixed
    band = max(1, 1 + (bound - fixed) // max(per_row, 1))
    for n in range(geo.batch):
        for r0 in range(0, rows, band):
            yield n, n + 1, r0, min(rows, r0 + band)


def _padded_slab(
    x: np.ndarray,
    geo: _ConvGeometry,
    n0: int,
    n1: int,
    r0: int,
    r1: int,
    mode: str,
    scratch: _Scratch,
) -> np.ndarray:
    """The padded input that output rows [r0, r1) of images [n0, n1) read, C-contiguous.

    Its first spatial dim starts at padded row ``r0·stride``; the others at padded index 0.
    Without padding this is a view of ``x``.
    """
    starts = (r0 * geo.stride[0],) + (0,) * (geo.nd - 1)
    extents = (geo.slab_rows(r1 - r0),) + geo.extents[1:]
    if not any(left for left, _ in geo.pads) and all(
        start + extent <= size for start, extent, size in zip(starts, extents, geo.spatial)
    ):
        if all(extent == size for extent, size in zip(extents[1:], geo.spatial[1:])):
            return x[n0:n1, :, starts[0] : starts[0] + extents[0]]
    shape = (n1 - n0, geo.in_channels, *extents)
    if mode != "zeros":
        index = [
            _source_index(np.arange(start, start + extent) - left, size, mode)
            for start, extent, (left, _), size in zip(starts, extents, geo.pads, geo.spatial)
        ]
        grids = np.ix_(*index)
        slab = scratch.get("slab", shape)
        slab[...] = x[(slice(n0, n1), slice(None), *grids)]
        return slab
    slab = scratch.get("slab", shape, zero=True)
    src: list[slice] = [slice(n0, n1), slice(None)]
    dst: list[slice] = [slice(None), slice(None)]
    for start, extent, (left, _), size in zip(starts, extents, geo.pads, geo.spatial):
        lo, hi = max(start - left, 0), min(start + extent - left, size)
        if hi <= lo:  # the chunk reads padding only
            return slab
        src.append(slice(lo, hi))
        dst.append(slice(lo + left - start, hi + left - start))
    slab[tuple(dst)] = x[tuple(src)]
    return slab


def _tap_offsets(geo: _ConvGeometry, slab: np.ndarray) -> list[int]:
    """Element offset of each kernel tap in the flattened slab, taps in weight order."""
    steps = [d * st // slab.itemsize for d, st in zip(geo.dilation, slab.strides[2:])]
    return [sum(t * step for t, step in zip(tap, steps)) for tap in product(*map(range, geo.kernel))]


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


def _store(result: np.ndarray, dest: np.ndarray) -> None:
    if result is not dest:
        np.copyto(dest, result.reshape(dest.shape) if result.shape != dest.shape else result)


def _conv_gemm(
    slab: np.ndarray, weight: np.ndarray, geo: _ConvGeometry, rows: int, dest: np.ndarray, scratch: _Scratch
) -> None:
    n = slab.shape[0]
    sizes = (rows,) + geo.out_spatial[1:]
    pixels = math.prod(sizes)
    spatial_strides = slab.strides[2:]
    if geo.taps == 1 and all(s == 1 for s in geo.stride) and slab.flags.c_contiguous:
        cols = slab.reshape(n, geo.groups, geo.in_per_group, pixels)  # 1×1 conv: x is im2col
    else:
        window = as_strided(
            slab,
            (n, geo.in_channels, *geo.kernel, *sizes),
            (
                slab.strides[0],
                slab.strides[1],
                *(d * st for d, st in zip(geo.dilation, spatial_strides)),
                *(s * st for s, st in zip(geo.stride, spatial_strides)),
            ),
        )
        cols = scratch.get("cols", window.shape)
        np.copyto(cols, window)
        cols = cols.reshape(n, geo.groups, geo.in_per_group * geo.taps, pixels)
    grouped = (n, geo.groups, geo.out_per_group, pixels)
    if dest.flags.c_contiguous:
        np.matmul(_grouped_weight(weight, geo), cols, out=dest.reshape(grouped))
    else:
        result = np.matmul(_grouped_weight(weight, geo), cols, out=scratch.get("result", grouped))
        np.copyto(dest, result.reshape(dest.shape))


def _conv_wide(
    slab: np.ndarray, weight: np.ndarray, geo: _ConvGeometry, rows: int, dest: np.ndarray, scratch: _Scratch
) -> None:
    n = slab.shape[0]
    length = _wide_length(geo, slab, rows)
    flat = _flat(slab)
    item = slab.itemsize
    steps = [d * st for d, st in zip(geo.dilation, slab.strides[2:])]
    window = as_strided(
        flat, (n, geo.in_channels, *geo.kernel, length), (flat.strides[0], flat.strides[1], *steps, item)
    )
    cols = scratch.get("cols", window.shape)
    np.copyto(cols, window)
    cols = cols.reshape(n, geo.groups, geo.in_per_group * geo.taps, length)
    wide = scratch.get("wide", (n, geo.groups, geo.out_per_group, length))
    np.matmul(_grouped_weight(weight, geo), cols, out=wide)
    np.copyto(dest, _unwide(wide.reshape(n, geo.out_channels, length), geo, slab, rows))


def _conv_taps(
    slab: np.ndarray, weight: np.ndarray, geo: _ConvGeometry, rows: int, dest: np.ndarray, scratch: _Scratch
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
    np.copyto(dest, _unwide(wide.reshape(n, geo.out_channels, length), geo, slab, rows))


def _conv_fma(
    slab: np.ndarray, weight: np.ndarray, geo: _ConvGeometry, rows: int, dest: np.ndarray, scratch: _Scratch
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
        np.copyto(dest, _unwide(acc.reshape(n, geo.out_channels, pixel_shape[0]), geo, slab, rows))
    else:
        np.copyto(dest, acc.reshape(dest.shape))


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
    x = np.asarray(x)
    weight = np.asarray(weight)
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
    pixels = math.prod(spatial)

    x = np.ascontiguousarray(x, dtype=dtype)
    # (G, C_out/g · taps, C_in/g): row (o, tap) gathers what input channel i sends to output o at tap.
    weight_t = np.ascontiguousarray(
        np.asarray(weight, dtype=dtype)
        .reshape(groups, in_per_group, out_per_group * taps)
        .transpose(0, 2, 1)
    )
    out = np.empty((batch, out_channels, *out_spatial), dtype)
    itemsize = dtype.itemsize
    per_image = (out_channels * taps * pixels + out_channels * math.prod(full)) * itemsize
    bound = DEFAULT_BUFFER_BYTES if max_buffer_bytes is None else max_buffer_bytes
    images = max(1, min(batch, bound // max(per_image, 1)))
    scratch = _Scratch(dtype)
    crop = tuple(slice(p, p + o) for p, o in zip(padding_, out_spatial))
    for n0 in range(0, batch, images):
        n1 = min(batch, n0 + images)
        n = n1 - n0
        cols = scratch.get("cols", (n, groups, out_per_group * taps, pixels))
        np.matmul(weight_t, x[n0:n1].reshape(n, groups, in_per_group, pixels), out=cols)
        cols_by_tap = cols.reshape(n, out_channels, *kernel, *spatial)
        canvas = scratch.get("canvas", (n, out_channels, *full), zero=True)
        for tap in product(*map(range, kernel)):
            region = tuple(
                slice(t * d, t * d + (size - 1) * s + 1, s)
                for t, d, size, s in zip(tap, dilation_, spatial, stride_)
            )
            target = canvas[(slice(None), slice(None), *region)]
            np.add(target, cols_by_tap[(slice(None), slice(None), *tap)], out=target)
        np.copyto(out[n0:n1], canvas[(slice(None), slice(None), *crop)])
    if bias is not None:
        np.add(out, np.asarray(bias, dtype=dtype).reshape((out_channels,) + (1,) * nd), out=out)
    return out
