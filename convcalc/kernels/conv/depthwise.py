"""Method "depthwise": one input channel per group, any stride and dilation.

Each channel gets a column matrix of its own (one row per kernel tap, one column per output
pixel) and one matrix-vector product with its taps' weights: a GEMM with K = taps and M = the
channel multiplier, per channel. The rows are contiguous copies, not gathers: with stride 1
each tap is a run of the flattened input (on the input's own *narrow* grid for "same" zero
padding, else the *wide* grid of a padded slab, see ``grid``); with a larger stride the input
is first split into its stride *phases* (every s-th pixel from offset p, per dim), on whose
grid each tap is again a contiguous run of one phase. So a stride-2 conv pays one
de-interleaving pass over its input and then works on output-sized runs, where strided views
would make every tap's pass a gather.

Measured against a multiply-add per tap on the same runs (9 multiplies and 8 additions for
3×3, each a pass over the output): the copies and the products make fewer passes, and BLAS's
products run at memory speed. Stride 1 goes a block of channels at a time, so that a block's
copies are still in cache for its product (``BLOCK_BYTES``).
"""

from __future__ import annotations

import functools
import math
from itertools import product
from typing import NamedTuple

import numpy as np

from .geometry import ConvGeometry
from .grid import flat_runs, narrow_shifts, store, strided
from .scratch import Scratch


class PhaseTaps(NamedTuple):
    """The taps that read one stride phase: a grid of them, copied into the columns at once."""

    phase: int  # which phase (flattened over the dims)
    counts: tuple[int, ...]  # taps per dim
    start: int  # where the first tap's run starts in the phase, flattened
    steps: tuple[int, ...]  # per dim: how far apart consecutive taps' runs start, flattened


class PhaseLayout(NamedTuple):
    """How the taps of a conv read the stride phases of a padded slab of one size."""

    used: tuple[tuple[int, ...], ...]  # per dim, the phases some tap reads (all of them: 0..s-1)
    extents: tuple[int, ...]  # each phase's size per spatial dim
    taps: tuple[PhaseTaps, ...]  # the column matrix's rows, phase by phase

    @property
    def phases(self) -> int:
        """How many phases the taps read."""
        return math.prod(map(len, self.used))


@functools.lru_cache(maxsize=64)
def tap_order(kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[int, ...]:
    """Each column-matrix row's tap, in weight order (the taps sorted by the phase they read).

    >>> tap_order((3, 3), (2, 2), (1, 1))
    (0, 2, 6, 8, 1, 7, 3, 5, 4)
    """
    sizes = [math.prod(kernel[d + 1 :]) for d in range(len(kernel))]
    return tuple(
        sum(t * size for t, size in zip(taps, sizes))
        for per_dim in product(*map(_phase_taps, kernel, stride, dilation))
        for taps in product(*per_dim)
    )


def _phase_taps(kernel: int, stride: int, dilation: int) -> list[list[int]]:
    """Along one dim, the taps reading each phase that any tap reads (tap t reads d·t mod s),
    phases in order. A stride larger than the kernel leaves most phases unread: they are
    never made.

    >>> _phase_taps(3, 2, 1), _phase_taps(3, 1000, 1)
    ([[0, 2], [1]], [[0], [1], [2]])
    """
    by_phase: dict[int, list[int]] = {}
    for t in range(kernel):
        by_phase.setdefault(dilation * t % stride, []).append(t)
    return [by_phase[p] for p in sorted(by_phase)]


@functools.lru_cache(maxsize=64)
def phase_layout(
    slab: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...]
) -> PhaseLayout:
    """Tap t (per dim) reads padded index s·o + d·t: phase d·t mod s at index o + d·t div s.
    The taps reading one phase are evenly spaced, so their runs are too.

    >>> layout = phase_layout((7, 7), (3, 3), (2, 2), (1, 1))
    >>> layout.extents, layout.taps[0], layout.taps[-1]
    ((4, 4), PhaseTaps(phase=0, counts=(2, 2), start=0, steps=(4, 1)), PhaseTaps(phase=3, counts=(1, 1), start=0, steps=(0, 0)))
    """
    extents = tuple(-(-size // s) for size, s in zip(slab, stride))
    steps = [math.prod(extents[d + 1 :]) for d in range(len(extents))]
    by_dim = [_phase_taps(k, s, d) for k, s, d in zip(kernel, stride, dilation)]
    used = tuple(tuple(taps[0] * d % s for taps in phases) for phases, s, d in zip(by_dim, stride, dilation))
    phase_steps = [math.prod(map(len, used[d + 1 :])) for d in range(len(used))]
    rows = []
    for per_phase in product(*(enumerate(phases) for phases in by_dim)):
        per_dim = [taps for _, taps in per_phase]
        reach = [[t * d for t in taps] for taps, d in zip(per_dim, dilation)]
        rows.append(PhaseTaps(
            phase=sum(index * step for (index, _), step in zip(per_phase, phase_steps)),
            counts=tuple(len(taps) for taps in per_dim),
            start=sum(r[0] // s * step for r, s, step in zip(reach, stride, steps)),
            steps=tuple((r[1] - r[0]) // s * step if len(r) > 1 else 0 for r, s, step in zip(reach, stride, steps)),
        ))
    return PhaseLayout(used, extents, tuple(rows))


def depthwise_weight(weight: np.ndarray, bias: np.ndarray | None, geo: ConvGeometry) -> np.ndarray | None:
    """Lay the weight out as the column matrix's rows are (``geo.prepared_weight``: (G, C_out/G,
    taps), taps in ``tap_order``); on the narrow grid of stride 1, with the bias as one more
    column (the column matrix then has a row of ones). Returns the bias the chunks must still add.

    >>> geo = ConvGeometry((1, 2, 5, 5), (2, 1, 3, 1), (2, 1), ((1, 1), (0, 0)), (1, 1), 2)
    >>> depthwise_weight(np.arange(6.0).reshape(2, 1, 3, 1), None, geo), geo.prepared_weight.tolist()
    (None, [[[0.0, 2.0, 1.0]], [[3.0, 5.0, 4.0]]])
    """
    per_tap = weight.reshape(geo.groups, geo.out_per_group, geo.taps)
    if geo.narrow and bias is not None and all(s == 1 for s in geo.stride):
        prepared = np.empty((geo.groups, geo.out_per_group, geo.taps + 1), weight.dtype)
        prepared[..., :-1] = per_tap
        prepared[..., -1] = bias.reshape(geo.groups, geo.out_per_group)
        geo.prepared_weight = prepared
        return None
    order = tap_order(geo.kernel, geo.stride, geo.dilation)
    geo.prepared_weight = per_tap if order == tuple(range(geo.taps)) else np.ascontiguousarray(per_tap[:, :, order])
    return bias


def conv_depthwise(
    slab: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    geo: ConvGeometry,
    rows: int,
    dest: np.ndarray,
    scratch: Scratch,
) -> None:
    """out[c·m + j] = Σ_taps w[c·m + j, tap] · x[c] at the tap, m = the channel multiplier,
    from a padded slab. The weight comes prepared (``depthwise_weight``) in
    ``geo.prepared_weight``."""
    ranges = tuple((0, size) for size in slab.shape[2:])
    _by_blocks(slab, ranges, geo, rows, dest, bias, scratch)


def conv_depthwise_input(
    x: np.ndarray, geo: ConvGeometry, r0: int, r1: int, dest: np.ndarray, scratch: Scratch
) -> None:
    """Zero padding, read from the input itself (``geo.narrow``): stride 1 on the narrow grid
    (``conv_depthwise_narrow``); a larger stride splits the input into its phases directly,
    the padding never copied."""
    if all(s == 1 for s in geo.stride):
        conv_depthwise_narrow(x, geo, r0, r1, dest, scratch)
        return
    rows = r1 - r0
    starts = (r0 * geo.stride[0],) + (0,) * (geo.nd - 1)  # the padded slab's origin
    extents = (geo.slab_rows(rows),) + geo.extents[1:]
    ranges = tuple(
        (start - left, start - left + extent) for start, extent, (left, _) in zip(starts, extents, geo.pads)
    )
    _by_blocks(x, ranges, geo, rows, dest, None, scratch)  # the chunks add the bias


def _by_blocks(
    source: np.ndarray,
    ranges: tuple[tuple[int, int], ...],
    geo: ConvGeometry,
    rows: int,
    dest: np.ndarray,
    bias: np.ndarray | None,
    scratch: Scratch,
) -> None:
    """The padded input ``ranges`` of ``source`` (see ``_phases``) through ``_wide_products``;
    with stride 1 a block of channels at a time, so that its column matrix and products stay
    in cache."""
    n, groups = source.shape[:2]
    extents = tuple(stop - start for start, stop in ranges)
    layout = phase_layout(extents, geo.kernel, geo.stride, geo.dilation)
    unit = all(s == 1 for s in geo.stride)  # a slab of stride 1 is its own single phase
    pixels = math.prod(layout.extents)
    per_channel = n * (geo.taps + geo.out_per_group) * pixels * source.itemsize
    multiplier = geo.out_per_group
    # Strided: one block, the whole chunk. Each block's phases are a copy of their own, and in
    # blocks their set-up outweighed what the cache gave back (96 channels at 112², stride 2:
    # 2.0 ms in blocks against 1.3 whole at two threads).
    for block in channel_blocks(groups, per_channel) if unit else [slice(0, groups)]:
        part = source[:, block]
        flat = flat_runs(part) if unit else _phases(part, ranges, geo.stride, layout, scratch)
        channels = slice(block.start * multiplier, block.stop * multiplier)
        _wide_products(flat, layout, geo, geo.prepared_weight[block], rows, dest[:, channels],
                       None if bias is None else bias[channels], scratch)


def _wide_products(
    flat: np.ndarray,
    layout: PhaseLayout,
    geo: ConvGeometry,
    weights: np.ndarray,
    rows: int,
    dest: np.ndarray,
    bias: np.ndarray | None,
    scratch: Scratch,
) -> None:
    """The column matrix of every tap's run on the phases' *wide* grid, its products with
    ``weights`` (the channels' part of ``geo.prepared_weight``), and the valid ones stored in
    ``dest``."""
    n, groups = flat.shape[:2]
    out_sizes = (rows,) + geo.out_spatial[1:]
    steps = [math.prod(layout.extents[d + 1 :]) for d in range(geo.nd)]
    length = 1 + sum((o - 1) * step for o, step in zip(out_sizes, steps))
    columns = scratch.get("depthwise_columns", (n, groups, geo.taps, length))
    scratch.filled.pop("depthwise_columns", None)  # its row of ones, if any, is overwritten
    plane, item = math.prod(layout.extents), flat.itemsize
    row = 0
    for taps in layout.taps:
        count = math.prod(taps.counts)
        runs = strided(
            flat,
            (n, groups, *taps.counts, length),
            (flat.strides[0], flat.strides[1], *(step * item for step in taps.steps), item),
            taps.phase * plane + taps.start,
        )
        np.copyto(columns[:, :, row : row + count].reshape(runs.shape), runs)
        row += count
    wide = scratch.get("depthwise_wide", (n, groups, geo.out_per_group, length))
    np.matmul(weights, columns, out=wide)
    compact = strided(
        wide,
        (n, groups * geo.out_per_group, *out_sizes),
        (wide.strides[0], wide.strides[2], *(step * wide.itemsize for step in steps)),
    )
    store(dest, compact, bias)


BLOCK_BYTES = 1 << 22
"""The most scratch a block of channels takes in a stride-1 depthwise conv (its input's copy,
column matrix and products): what stays in cache between the copy that writes it and the
product that reads it. On the 2-core development VM (1 MiB of L2 a core, 32 MiB of L3), 144
channels at 56², one thread: 1.07 ms in 4 MiB blocks, 1.09 in 2 MiB, 1.21 in 8 MiB, 1.4-1.6 in
512 KiB or 1 MiB ones (more calls), 1.7-2.4 in one piece; the same order at two threads."""


def channel_blocks(channels: int, per_channel: int) -> list[slice]:
    """``range(channels)`` in consecutive blocks of ``BLOCK_BYTES`` of scratch at most (one
    channel at least), all of one size but the last.

    >>> channel_blocks(10, BLOCK_BYTES // 4)
    [slice(0, 4, None), slice(4, 8, None), slice(8, 10, None)]
    """
    step = max(1, BLOCK_BYTES // max(per_channel, 1))
    return [slice(start, min(start + step, channels)) for start in range(0, channels, step)]


def _phases(
    source: np.ndarray,
    ranges: tuple[tuple[int, int], ...],
    stride: tuple[int, ...],
    layout: PhaseLayout,
    scratch: Scratch,
) -> np.ndarray:
    """The padded input split into the stride phases its taps read, (n, C, phases · phase
    pixels): phase p holds padded pixel s·i + p (per dim) at i. Padded pixel j is ``source``'s pixel
    ranges[d][0] + j, zero outside ``source``; places past a phase's end (its size rounded up)
    are zero too, read only by the wide grid's dropped columns. The zeros stay from chunk to
    chunk of one layout."""
    n, channels = source.shape[:2]
    shape = (n, channels, layout.phases, *layout.extents)
    phases = scratch.get("depthwise_phases", shape)
    copies = _phase_copies(ranges, stride, layout.used, source.shape[2:])
    key = (shape, copies)
    if scratch.filled.get("depthwise_phases") != key:
        # Zero what the copies leave (a pass over all of the buffer cost as much as the copies
        # when a network's depthwise layers take turns with it).
        for into, _ in copies:
            for axis, part in enumerate(into[3:]):
                lead = into[:3] + (slice(None),) * axis
                phases[lead + (slice(0, part.start),)] = 0
                phases[lead + (slice(part.stop, None),)] = 0
        scratch.filled["depthwise_phases"] = key
    for into, take in copies:
        if all(part.stop > part.start for part in into[3:]):
            phases[into] = source[take]
    return phases.reshape(n, channels, -1)


@functools.lru_cache(maxsize=64)
def _phase_copies(
    ranges: tuple[tuple[int, int], ...],
    stride: tuple[int, ...],
    used: tuple[tuple[int, ...], ...],
    sizes: tuple[int, ...],
) -> tuple[tuple[tuple[slice, ...], tuple[slice, ...]], ...]:
    """Per phase read (see ``_phases``): where its copy goes in the phase buffer (from the
    phase dim on) and what it takes from the source (from the spatial dims on). Cached: every
    chunk of a call asks again."""
    copies = []
    for index, offsets in enumerate(product(*used)):
        into: list[slice | int] = [slice(None), slice(None), index]
        take = [slice(None), slice(None)]
        for p, s, (origin, stop), size in zip(offsets, stride, ranges, sizes):
            # index i reads source pixel origin + s·i + p: copied where that lies in the source
            lo = max(0, -(-(max(0, origin) - origin - p) // s))
            hi = max(lo, -(-(min(size, stop) - origin - p) // s))
            into.append(slice(lo, hi))
            take.append(slice(origin + s * lo + p, origin + s * (hi - 1) + p + 1 if hi > lo else 0, s))
        copies.append((tuple(into), tuple(take)))
    return tuple(copies)


def conv_depthwise_narrow(
    x: np.ndarray, geo: ConvGeometry, r0: int, r1: int, dest: np.ndarray, scratch: Scratch
) -> None:
    """Stride 1 with zero padding that keeps every dim but the first, on the input's own grid.

    Tap t of output pixel p reads flattened input pixel p + shift(t), and shift is affine in
    t: copied once into a buffer with zeros before and after (the first dim's padding), every
    tap's row of the column matrix is one run of it, and one strided copy makes them all. A
    shift along the other dims makes the pixels at their edges read the neighbouring row's
    pixels instead of padding: those entries are zeroed. No padded copy of the whole input, no
    compaction: the products (bias included, as a column) go straight to ``dest``; a block of
    channels at a time (``channel_blocks``), so that each block's copies stay in cache for its
    product."""
    n, groups = x.shape[:2]
    other = geo.spatial[1:]
    plane = math.prod(other)
    size, total = (r1 - r0) * plane, geo.spatial[0] * plane
    steps = (plane, *(math.prod(other[d + 1 :]) for d in range(len(other))))
    first = sum(-left * step for (left, _), step in zip(geo.pads, steps)) + r0 * plane  # tap 0's shift
    reach = sum((k - 1) * d * step for k, d, step in zip(geo.kernel, geo.dilation, steps))
    weights = geo.prepared_weight
    depth, item = weights.shape[-1], x.itemsize
    blocks = channel_blocks(groups, n * (reach + size + depth * size) * item)
    width = blocks[0].stop
    padded = scratch.get("depthwise_source", (n, width, reach + size))
    lo, hi = min(max(first, 0), total), max(min(first + reach + size, total), 0)
    padded[..., : lo - first] = 0  # the first dim's padding: the blocks' copies go between
    padded[..., max(hi, lo) - first :] = 0
    columns = scratch.get("depthwise_columns", (n, width, depth, size))
    if depth == geo.taps:  # no bias: the copies overwrite where a row of ones was
        scratch.filled.pop("depthwise_columns", None)
    elif scratch.filled.get("depthwise_columns") != columns.shape:
        columns[:, :, -1] = 1  # the bias column's row: stays from block to block, call to call
        scratch.filled["depthwise_columns"] = columns.shape
    runs = strided(
        padded,
        (n, width, *geo.kernel, size),
        (padded.strides[0], padded.strides[1], *(d * step * item for d, step in zip(geo.dilation, steps)), item),
    )
    rest = geo.taps // geo.kernel[0]
    edges = [
        (slice(None),) * 3 + (index, slice(None)) + edge  # for every first-dim tap at once
        for index, tap_edges in enumerate(_narrow_edges(other, geo.kernel[1:], geo.dilation[1:], geo.pads[1:]))
        for edge in tap_edges
    ]
    source = x.reshape(n, groups, total)
    out = dest.reshape(n, groups, geo.out_per_group, size)
    assert np.may_share_memory(out, dest), "the products must write the output itself"
    for block in blocks:
        count = block.stop - block.start
        if hi > lo:
            np.copyto(padded[:, :count, lo - first : hi - first], source[:, block, lo:hi])
        part = columns[:, :count]
        taps = part[:, :, : geo.taps]
        np.copyto(taps.reshape(n, count, *geo.kernel, size), runs[:, :count])
        by_pixel = taps.reshape(n, count, geo.kernel[0], rest, r1 - r0, *other)
        for edge in edges:
            by_pixel[edge] = 0
        np.matmul(weights[block], part, out=out[:, block])


@functools.lru_cache(maxsize=64)
def _narrow_edges(
    other: tuple[int, ...], kernel: tuple[int, ...], dilation: tuple[int, ...], pads: tuple[tuple[int, int], ...]
) -> tuple[tuple[tuple[slice, ...], ...], ...]:
    """Per tap of the dims after the first (weight order): the bands of output pixels (index
    from the dim after the first on) whose reads cross an edge of those dims.

    >>> _narrow_edges((4,), (3,), (1,), ((1, 1),))
    (((slice(0, 1, None),),), (), ((slice(3, 4, None),),))
    """
    return tuple(
        tuple(
            (slice(None),) * axis + (slice(0, min(-shift, size)) if shift < 0 else slice(max(size - shift, 0), size),)
            for axis, (shift, size) in enumerate(zip(shifts, other))
            if shift
        )
        for shifts in narrow_shifts(kernel, dilation, pads)
    )
