"""Method "rows": stride 1, im2col along the first spatial dim only, then a shifted tap sum.

The k₀ taps of the first kernel dim are k₀ contiguous copies of each channel's flattened padded
input, so the column matrix has k₀·C_in/g rows instead of im2col's k·C_in/g; one GEMM per group
gives, for every (output channel, tap of the other dims), that tap's partial sum on the *wide*
grid (see ``grid``), and the output is the sum of those rows, each shifted by its tap's offset.
For 3×3 that is 3 copies, a GEMM and 2 shifted additions where im2col makes 9 copies and a
depthwise multiply-add per tap makes 18 passes: the fastest measured for stride-1 2-D convs,
dense, grouped and depthwise alike.

Zero padding that keeps every dim but the first (3×3 with padding 1, "same") runs on the
*narrow* grid instead, the input's own, with no padded copy: ``conv_rows_narrow``.
``prepare_rows`` picks the grid and rearranges the weight once per call.
"""

from __future__ import annotations

import math

import numpy as np

from .geometry import ConvGeometry
from .grid import flat_runs, narrow_fits, narrow_shifts, narrow_taps, strided, tap_offsets, unwide, wide_length
from .scratch import Scratch


def prepare_rows(
    weight: np.ndarray, bias: np.ndarray | None, geo: ConvGeometry, padding_mode: str
) -> np.ndarray | None:
    """Pick the grid (``geo.narrow``) and rearrange the weight (``geo.prepared_weight``, with
    the bias as a column when a tap can carry it). Returns the bias the chunks must still add:
    None when the prepared weight carries it."""
    # Torch multiplies the zero padding by the weights: 0·inf and 0·NaN give NaN there, which
    # the narrow grid's zeroed edges would not (it never multiplies padding along the other dims).
    geo.narrow = padding_mode == "zeros" and narrow_fits(geo) and bool(np.isfinite(weight).all())
    bias_tap = _unshifted_tap(geo) if geo.narrow else 0
    geo.prepared_weight = _rows_weight(weight, None if bias_tap is None else bias, geo, bias_tap)
    return bias if bias_tap is None else None


def conv_rows(
    slab: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray | None,
    geo: ConvGeometry,
    rows: int,
    dest: np.ndarray,
    scratch: Scratch,
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
    length = wide_length(geo, slab, rows)
    flat = flat_runs(slab)
    offsets = tap_offsets(geo, slab)
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
        strided(
            flat,
            (n, geo.groups, geo.in_per_group, first, run),
            (flat.strides[0], geo.in_per_group * flat.strides[1], flat.strides[1], row_step * flat.itemsize, flat.itemsize),
        ),
    )
    _constant_rows(columns, geo.in_per_group * first, scratch)
    per_tap = scratch.get("per_tap", (n, geo.groups, geo.out_per_group * rest, run))
    np.matmul(weights, columns, out=per_tap)
    per_tap = per_tap.reshape(n, geo.out_channels, rest * run)
    # The sum runs on the compact grid, straight into the destination: a pass on the wide grid
    # followed by a compacting copy was slower.
    _sum_into(dest, [unwide(per_tap, geo, slab, rows, tap * run + offset) for tap, offset in enumerate(rest_offsets)])


def _constant_rows(
    columns: np.ndarray, taps_rows: int, scratch: Scratch, first: int = 1, zero_runs: tuple[tuple[int, int, int], ...] = ()
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


def conv_rows_narrow(
    x: np.ndarray, geo: ConvGeometry, r0: int, r1: int, dest: np.ndarray, scratch: Scratch
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
    for index, tap in enumerate(narrow_taps(other, geo.kernel[1:], geo.dilation[1:], geo.pads[1:])):
        for edge in tap.edges:  # the sums that feed an output across an edge of the other dims
            per_tap[(slice(None), slice(None), index) + edge] = 0
        terms.append(flat_taps[:, :, index, tap.start : tap.start + rows * plane])
    total = dest.reshape(n, geo.out_channels, rows * plane)  # a view: each channel's rows are whole
    assert np.may_share_memory(total, dest), "the tap sum must write the output itself"
    _sum_into(total, terms)


def _unshifted_tap(geo: ConvGeometry) -> int | None:
    """The tap of the other dims that no narrow-grid edge zeroing touches (its shift is 0 in
    every dim), which carries the bias; None when there is none."""
    shifts = narrow_shifts(geo.kernel[1:], geo.dilation[1:], geo.pads[1:])
    return shifts.index((0,) * (geo.nd - 1)) if (0,) * (geo.nd - 1) in shifts else None


def _rows_weight(weight: np.ndarray, bias: np.ndarray | None, geo: ConvGeometry, bias_tap: int = 0) -> np.ndarray:
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
