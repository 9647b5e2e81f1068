"""``conv_transpose_nd``: the transposed convolution, as the col2im scatter of one GEMM.

Computed as torch defines it, the gradient of a convolution: one GEMM per image and group
gives every input pixel's contribution to each kernel tap, a loop over taps scatter-adds them
into a phase-major canvas (``_scatter``), and a last pass crops and interleaves the canvas into
the output (``_crop_into``). ``_TransposedGeometry`` holds the sizes of both.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import NamedTuple
from itertools import product

import numpy as np

from ...arith import TransposedRule
from .._common import DEFAULT_BUFFER_BYTES, float_dtype, in_result_dtype, row_buffering
from ..threads import blas_threads, even_spans, least_chunk_bytes, parallel_map, thread_count
from .geometry import spatial_dims, spatial_tuple
from .scratch import Scratch

_EVERYTHING = (slice(None), slice(None))  # the image and channel axes, whole


class _TransposedGeometry:
    """Sizes of one transposed convolution, and of the canvas its taps are scattered into."""

    def __init__(
        self,
        in_shape: Sequence[int],
        weight_shape: Sequence[int],
        stride: int | Sequence[int],
        padding: int | Sequence[int],
        output_padding: int | Sequence[int],
        dilation: int | Sequence[int],
        groups: int,
    ) -> None:
        nd = self.nd = len(in_shape) - 2
        self.batch, self.in_channels, *spatial = in_shape
        _, self.out_per_group, *kernel = weight_shape
        if weight_shape[0] != self.in_channels or self.in_channels % groups:
            raise ValueError(
                f"weight {tuple(weight_shape)} with groups={groups} does not fit {self.in_channels} input channels"
            )
        self.spatial, self.kernel, self.groups = tuple(spatial), tuple(kernel), groups
        self.stride, self.padding = spatial_tuple(stride, nd), spatial_tuple(padding, nd)
        self.dilation = spatial_tuple(dilation, nd)
        rules = [
            TransposedRule(k, s, p, d, op)
            for k, s, p, d, op in zip(kernel, self.stride, self.padding, self.dilation, spatial_tuple(output_padding, nd))
        ]
        self.out_spatial = tuple(rule.out(size) for rule, size in zip(rules, spatial))
        if min(self.out_spatial) < 1:
            raise ValueError(f"transposed conv output size {self.out_spatial} is empty")
        self.out_channels = self.out_per_group * groups
        self.in_per_group = self.in_channels // groups
        self.taps = math.prod(kernel)
        self._canvas_sizes()

    def _canvas_sizes(self) -> None:
        # The scatter covers (L−1)·s + d·(k−1) + 1; output_padding can reach past it (zeros there).
        full = tuple(
            max((size - 1) * s + d * (k - 1) + 1, p + out)
            for size, s, d, k, p, out in zip(
                self.spatial, self.stride, self.dilation, self.kernel, self.padding, self.out_spatial
            )
        )
        # The canvas is phase-major: full position s·j + φ lives in plane φ at j, so every tap adds
        # into one plane at a fixed shift, over contiguous memory; the final copy interleaves the
        # planes into the output. Planes get one slack row (see below).
        plane = tuple(-(-f // s) for f, s in zip(full, self.stride))
        self.plane_shape = (plane[0] + 1, *plane[1:])
        # The GEMM runs on the input widened to the planes' row length (zeros on the right), so a
        # tap's contributions are one contiguous run of a flattened plane: the zeros that wrap past
        # a row's end land in the next row's start or the slack row, adding nothing.
        self.wide_spatial = (self.spatial[0], *plane[1:])
        self.wide_pixels = math.prod(self.wide_spatial)
        self.plane_pixels = math.prod(self.plane_shape)
        self.row_step = [math.prod(plane[i + 1 :]) for i in range(self.nd)]

    def image_bytes(self, itemsize: int) -> int:
        """Scratch of one image (widened input, GEMM output, canvas)."""
        return (
            self.in_channels * self.wide_pixels
            + self.out_channels * self.taps * self.wide_pixels
            + self.out_channels * math.prod(self.stride) * self.plane_pixels
        ) * itemsize

    def images_per_chunk(self, itemsize: int, bound: int) -> int:
        """Images whose scratch fits in ``bound`` bytes (at least one)."""
        return max(1, min(self.batch, bound // max(self.image_bytes(itemsize), 1)))

    def parts(self, images: int, threads: int) -> list[_Part]:
        """The channel parts a chunk of ``images`` images is cut into for ``threads`` threads:
        whole groups, or with one group, ranges of output channels (each reads every input
        channel); one part (everything) when the chunks of images already keep the threads
        busy or the work is too small to share."""
        chunks = -(-self.batch // images)
        work = images * self.image_bytes(4)
        pieces = 1 if chunks >= threads else min(-(-threads // chunks), max(1, work // max(1, least_chunk_bytes())))
        if self.groups > 1:
            return [self._part(span, slice(None)) for span in even_spans(self.groups, pieces)]
        return [self._part(slice(0, 1), span) for span in even_spans(self.out_per_group, pieces)]

    def _part(self, groups: slice, outputs: slice) -> _Part:
        part = copy.copy(self)
        part.groups = groups.stop - groups.start
        o0, o1 = (0, self.out_per_group) if outputs.start is None else (outputs.start, outputs.stop)
        part.out_per_group = o1 - o0
        part.in_channels, part.out_channels = part.groups * self.in_per_group, part.groups * part.out_per_group
        channels = slice(groups.start * self.in_per_group, groups.stop * self.in_per_group)
        if part.groups == self.groups and o1 - o0 == self.out_per_group:
            targets = slice(None)
        elif outputs.start is None:
            targets = slice(groups.start * self.out_per_group, groups.stop * self.out_per_group)
        else:
            targets = slice(o0, o1)
        return _Part(part, groups, slice(o0 * self.taps, o1 * self.taps), channels, targets)


class _Part(NamedTuple):
    """A chunk's channels: its geometry, groups, rows of the (group, row, input) weight, input
    channels and output channels."""

    geo: _TransposedGeometry
    groups: slice
    rows: slice
    in_channels: slice
    out_channels: slice


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
    x_given, weight_given = np.asarray(x), np.asarray(weight)
    spatial_dims(x_given.shape, weight_given.shape, "conv_transpose_nd")
    dtype = float_dtype(x_given, weight_given)
    geo = _TransposedGeometry(x_given.shape, weight_given.shape, stride, padding, output_padding, dilation, groups)
    # (G, C_out/g · taps, C_in/g): row (o, tap) gathers what input channel i sends to output o at
    # tap. BLAS reads the transposed view as is.
    weight_t = (
        np.asarray(weight_given, dtype=dtype)
        .reshape(groups, geo.in_per_group, geo.out_per_group * geo.taps)
        .transpose(0, 2, 1)
    )
    out = np.empty((geo.batch, geo.out_channels, *geo.out_spatial), dtype)
    bias_view = None
    if bias is not None:
        bias_view = np.asarray(bias, dtype=dtype).reshape((geo.out_channels,) + (1,) * geo.nd)
    bound = DEFAULT_BUFFER_BYTES if max_buffer_bytes is None else max_buffer_bytes
    threads = thread_count()
    if threads > 1:  # a chunk per thread, each under its share of the bound
        bound = max(min(bound, geo.image_bytes(dtype.itemsize) * geo.batch // threads), 1)
    images = geo.images_per_chunk(dtype.itemsize, bound)
    parts = geo.parts(images, threads)
    chunks = [(n0, min(geo.batch, n0 + images), part) for n0 in range(0, geo.batch, images) for part in parts]

    def run(chunk: tuple[int, int, _Part]) -> None:
        n0, n1, part = chunk
        with Scratch.kept(dtype) as scratch, row_buffering(geo.wide_pixels):
            source = _widened_input(x_given[n0:n1, part.in_channels], part.geo, dtype, scratch)
            planes = _scatter(weight_t[part.groups, part.rows], source, part.geo, scratch)
            bias_part = None if bias_view is None else bias_view[part.out_channels]
            _crop_into(out[n0:n1, part.out_channels], planes, part.geo, bias_part)

    with blas_threads():
        parallel_map(run, chunks, gemm=True)
    return in_result_dtype(out, x_given, weight_given)


def _widened_input(x: np.ndarray, geo: _TransposedGeometry, dtype: np.dtype, scratch: Scratch) -> np.ndarray:
    """``x`` in ``dtype``, each row widened with zeros to the canvas planes' row length."""
    if geo.wide_spatial == geo.spatial:
        return np.ascontiguousarray(x, dtype=dtype)
    source = scratch.get("source", (x.shape[0], geo.in_channels, *geo.wide_spatial), zero=True)
    source[(*_EVERYTHING, *(slice(0, size) for size in geo.spatial))] = x
    return source


def _scatter(weight_t: np.ndarray, source: np.ndarray, geo: _TransposedGeometry, scratch: Scratch) -> np.ndarray:
    """The canvas (*stride phases, n, C_out, *plane): one GEMM gives every input pixel's
    contribution to each tap, and each tap's contributions are added into their phase's plane
    at the tap's shift (col2im)."""
    n = source.shape[0]
    cols = scratch.get("cols", (n, geo.groups, geo.out_per_group * geo.taps, geo.wide_pixels))
    np.matmul(weight_t, source.reshape(n, geo.groups, geo.in_per_group, geo.wide_pixels), out=cols)
    cols_by_tap = cols.reshape(n, geo.out_channels, geo.taps, geo.wide_pixels)
    canvas = scratch.get("canvas", (*geo.stride, n, geo.out_channels, geo.plane_pixels), zero=True)
    for tap, offsets in enumerate(product(*map(range, geo.kernel))):
        reach = [t * d for t, d in zip(offsets, geo.dilation)]
        phase = tuple(r % s for r, s in zip(reach, geo.stride))
        start = sum(r // s * step for r, s, step in zip(reach, geo.stride, geo.row_step))
        target = canvas[(*phase, *_EVERYTHING, slice(start, start + geo.wide_pixels))]
        np.add(target, cols_by_tap[:, :, tap], out=target)
    return canvas.reshape(*geo.stride, n, geo.out_channels, *geo.plane_shape)


def _crop_into(out: np.ndarray, planes: np.ndarray, geo: _TransposedGeometry, bias_view: np.ndarray | None) -> None:
    """out = the canvas planes cropped by the padding and interleaved (+ bias), phase by phase:
    output position y is full position y + padding."""
    for first in product(*(range(min(s, o)) for s, o in zip(geo.stride, geo.out_spatial))):
        shifted = [f + p for f, p in zip(first, geo.padding)]
        phase = tuple(v % s for v, s in zip(shifted, geo.stride))
        rows = tuple(
            slice(v // s, v // s + len(range(f, o, s)))
            for v, s, f, o in zip(shifted, geo.stride, first, geo.out_spatial)
        )
        source_rows = planes[(*phase, *_EVERYTHING, *rows)]
        dest = out[(*_EVERYTHING, *(slice(f, None, s) for f, s in zip(first, geo.stride)))]
        if bias_view is None:
            np.copyto(dest, source_rows)
        else:
            np.add(source_rows, bias_view, out=dest)
