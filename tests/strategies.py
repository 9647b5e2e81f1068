"""Hypothesis pieces shared by the test modules: tuples of ints, settings, dtypes, input kinds,
seeds, and the conv / pooling configurations the naive reference is checked on.

Torch-free: test_reference_kernels runs on it without torch.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from hypothesis import HealthCheck, assume, settings
from hypothesis import strategies as st

# -- small pieces -------------------------------------------------------------------------------

DTYPES = (np.float32, np.float64)
"""The float types every forward pass is compared in, as NumPy types."""

DTYPE_NAMES = ("float32", "float64")
"""The same, by name (what torch and ``np.dtype`` both take)."""

KINDS = ("normal", "ties", "special")
"""forward_compare.sample's input kinds; ``FINITE_KINDS`` leaves out NaN and ±inf."""
FINITE_KINDS = KINDS[:2]

float_dtypes = st.sampled_from(DTYPES)
dtype_names = st.sampled_from(DTYPE_NAMES)
kinds = st.sampled_from(KINDS)
finite_kinds = st.sampled_from(FINITE_KINDS)
seeds = st.integers(0, 2**32 - 1)
"""A seed for ``np.random.default_rng``: the arrays themselves are not shrunk, their seed is."""
small_seeds = st.integers(0, 2**16)

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")

SLOW = (HealthCheck.too_slow,)
FILTERED = (HealthCheck.filter_too_much,)


def examples(n: int, suppress: Sequence[HealthCheck] = SLOW) -> settings:
    """Settings for ``n`` examples without a deadline (the first call into torch or a kernel
    warms caches and can take a second), with the ``suppress`` health checks off."""
    return settings(max_examples=n, deadline=None, suppress_health_check=list(suppress))


def int_tuple(draw, n: int, lo: int | Sequence[int], hi: int | Sequence[int]) -> tuple[int, ...]:
    """``n`` ints drawn in turn, the i-th from ``[lo, hi]``; a sequence bound gives each
    position its own (``int_tuple(draw, nd, 0, [k // 2 for k in kernel])``); ``()`` for n <= 0.

    The same draws, in the same order, as ``tuple(draw(st.integers(lo, hi)) for _ in range(n))``.
    """
    n = max(n, 0)
    los = tuple(lo) if isinstance(lo, Sequence) else (lo,) * n
    his = tuple(hi) if isinstance(hi, Sequence) else (hi,) * n
    assert len(los) == len(his) == n, (n, lo, hi)
    return tuple(draw(st.integers(low, high)) for low, high in zip(los, his))


# -- configurations for the naive reference (test_reference_kernels, test_reference_oracle) -------
#
# Small shapes: the reference loops over output positions in Python. Every configuration drawn
# here is valid for torch, so none is rejected after drawing but for the few rules (reflect and
# circular padding sizes, a transposed conv's output size) that are simpler to check than to
# draw around.


def _sizes(draw, nd: int, reach: Sequence[int], padded_by: Sequence[int]) -> tuple[int, ...]:
    """Spatial sizes the windows fit: at least ``reach − padding``, a few more at most (fewer
    in 3-d, where every extra cell multiplies the positions the reference loops over)."""
    lows = [max(1, r - p) for r, p in zip(reach, padded_by)]
    extra = 6 if nd < 3 else 3
    return int_tuple(draw, nd, lows, [low + extra for low in lows])


@st.composite
def reference_convs(draw):
    """A conv as the kernel takes it: (left, right) pads or 'same', any padding mode, groups,
    bias; now and then a 3×…×3 stride-1 conv, the only kind "winograd" takes."""
    nd = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin, cout = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    if draw(st.integers(0, 3)) == 0:
        kernel, stride, dilation = (3,) * nd, (1,) * nd, (1,) * nd
    else:
        kernel, stride, dilation = int_tuple(draw, nd, 1, 3), int_tuple(draw, nd, 1, 3), int_tuple(draw, nd, 1, 2)
    if all(s == 1 for s in stride) and draw(st.booleans()):
        padding = "same"
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        pads = tuple((t // 2, t - t // 2) for t in totals)
    else:
        pads = tuple(zip(int_tuple(draw, nd, 0, 2), int_tuple(draw, nd, 0, 2)))
        padding = pads
    mode = draw(st.sampled_from(PADDING_MODES))
    reach = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    spatial = _sizes(draw, nd, reach, [left + right for left, right in pads])
    for size, (left, right) in zip(spatial, pads):
        assume(mode != "reflect" or max(left, right) < size)
        assume(mode != "circular" or max(left, right) <= size)
    return dict(
        shape=(draw(st.integers(1, 2)), cin, *spatial), weight_shape=(cout, cin // groups, *kernel),
        bias=draw(st.booleans()), stride=stride, padding=padding, pads=pads, dilation=dilation,
        groups=groups, padding_mode=mode, dtype=draw(float_dtypes), seed=draw(seeds),
        max_buffer_bytes=draw(st.sampled_from([None, None, 1, 3000])),
    )


@st.composite
def reference_transposed(draw):
    nd = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel, stride, dilation = int_tuple(draw, nd, 1, 3), int_tuple(draw, nd, 1, 3), int_tuple(draw, nd, 1, 2)
    padding = int_tuple(draw, nd, 0, 2)
    output_padding = int_tuple(draw, nd, 0, [max(s, d) - 1 for s, d in zip(stride, dilation)])
    spatial = int_tuple(draw, nd, 1, 5 if nd < 3 else 3)
    for size, k, s, p, d, op in zip(spatial, kernel, stride, padding, dilation, output_padding):
        assume((size - 1) * s - 2 * p + d * (k - 1) + op + 1 >= 1)
    return dict(
        shape=(draw(st.integers(1, 2)), cin, *spatial), weight_shape=(cin, cout // groups, *kernel),
        bias=draw(st.booleans()), stride=stride, padding=padding, output_padding=output_padding,
        dilation=dilation, groups=groups, dtype=draw(float_dtypes), seed=draw(seeds),
        max_buffer_bytes=draw(st.sampled_from([None, None, 1])),
    )


@st.composite
def reference_pools(draw, *, padding: bool = True, dilation: bool = True, average: bool = False):
    """A max / avg / LP pool's window: kernel, stride (None: the kernel), padding up to k // 2,
    dilation, ceil mode; and an input it fits, of any kind. ``average``: avg_pool3d's rule
    too (which LP pooling goes through), a 3-D input at least a kernel wide without padding."""
    nd = draw(st.integers(1, 3))
    kernel = int_tuple(draw, nd, 1, 3 if nd == 3 else 4)
    stride = draw(st.none() | st.builds(tuple, st.lists(st.integers(1, 3), min_size=nd, max_size=nd)))
    pads = int_tuple(draw, nd, 0, [k // 2 for k in kernel]) if padding else (0,) * nd
    dilations = int_tuple(draw, nd, 1, 2) if dilation else (1,) * nd
    reach = [d * (k - 1) + 1 for k, d in zip(kernel, dilations)]
    spatial = _sizes(draw, nd, reach, [0 if average and nd == 3 else 2 * p for p in pads])
    return dict(
        shape=(draw(st.integers(1, 2)), draw(st.integers(1, 3)), *spatial), kernel=kernel, stride=stride,
        padding=pads, dilation=dilations, ceil_mode=draw(st.booleans()), dtype=draw(float_dtypes),
        kind=draw(kinds), seed=draw(seeds),
    )


@st.composite
def reference_adaptive(draw):
    """Adaptive pooling: any input size, each output size from 0 (empty) to past the input,
    or None (keep the dim)."""
    nd = draw(st.integers(1, 3))
    most = 9 if nd < 3 else 5
    spatial = int_tuple(draw, nd, 1, most)
    outs = tuple(draw(st.none() | st.integers(0, most + 2)) for _ in range(nd))
    return dict(
        shape=(draw(st.integers(1, 2)), draw(st.integers(1, 3)), *spatial), output_size=outs,
        dtype=draw(float_dtypes), kind=draw(kinds), seed=draw(seeds),
    )
