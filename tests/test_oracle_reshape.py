"""Flatten, Unflatten, PixelShuffle/Unshuffle, ChannelShuffle, the padding layers, Fold and Unfold against torch."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oracle import assert_agrees, convcalc_outcome, torch, torch_outcome
from strategies import examples, int_tuple

import convcalc

pytestmark = pytest.mark.oracle

F = torch.nn.functional

PAD_CLASSES = [
    f"{kind}Pad{nd}d"
    for kind in ("Zero", "Constant", "Reflection", "Replication", "Circular")
    for nd in (1, 2, 3)
]

RULES = [
    # (class, args, kwargs, input shape): one row per rule, valid and invalid
    # Flatten: dims wrap like torch's, a scalar counts as 1-D, start must not follow end.
    ("Flatten", (), {}, (2, 3, 4, 5)),
    ("Flatten", (), {}, (2, 3)),
    ("Flatten", (), {}, (5,)),  # start_dim=1 does not exist
    ("Flatten", (0, -1), {}, ()),  # a scalar flattens to (1,)
    ("Flatten", (-1, 0), {}, ()),
    ("Flatten", (1, 1), {}, (2, 3, 4)),
    ("Flatten", (-2, -1), {}, (2, 3, 4, 5)),
    ("Flatten", (2, 1), {}, (2, 3, 4)),  # start after end
    ("Flatten", (-1, -2), {}, (2, 3, 4)),
    ("Flatten", (0, 5), {}, (2, 3, 4, 5)),
    ("Flatten", (-5, -1), {}, (2, 3, 4, 5)),
    # Unflatten: sizes multiply to the dim, one -1 inferred, no scalar.
    ("Unflatten", (1, (2, 3)), {}, (4, 6)),
    ("Unflatten", (1, (2, 3)), {}, (4, 6, 5)),
    ("Unflatten", (-1, (2, 3)), {}, (6,)),
    ("Unflatten", (0, (2, 3)), {}, ()),
    ("Unflatten", (1, (-1, 3)), {}, (4, 6)),
    ("Unflatten", (1, (4, -1)), {}, (4, 6)),  # 4 does not divide 6
    ("Unflatten", (1, (-1, -1)), {}, (4, 6)),
    ("Unflatten", (1, (2, -2)), {}, (4, 6)),
    ("Unflatten", (1, (2, 2)), {}, (4, 6)),
    ("Unflatten", (1, (6,)), {}, (4, 6)),
    ("Unflatten", (1, (-1,)), {}, (4, 6)),
    ("Unflatten", (1, (1, 6, 1)), {}, (4, 6)),
    ("Unflatten", (1, ()), {}, (4, 6)),
    ("Unflatten", (1, (0, -1)), {}, (4, 6)),
    ("Unflatten", (2, (2, 3)), {}, (4, 6)),
    ("Unflatten", (-3, (2, 2)), {}, (4, 6, 5)),
    ("Unflatten", (1, 6), {}, (4, 6)),  # an int is not a tuple of sizes
    # PixelShuffle / PixelUnshuffle: >= 3 dims, divisibility, factor >= 1.
    # ChannelShuffle: more than 2 dims, channels divisible by groups, groups >= 1
    ("ChannelShuffle", (2,), {}, (1, 4, 3, 3)),
    ("ChannelShuffle", (3,), {}, (2, 6, 5)),
    ("ChannelShuffle", (1,), {}, (1, 4, 2, 2, 2)),
    ("ChannelShuffle", (4,), {}, (1, 4, 1)),
    ("ChannelShuffle", (2,), {}, (1, 3, 2)),
    ("ChannelShuffle", (2,), {}, (1, 4)),
    ("ChannelShuffle", (2,), {}, (4,)),
    ("ChannelShuffle", (0,), {}, (1, 4, 2)),
    ("ChannelShuffle", (-1,), {}, (1, 4, 2)),
    ("PixelShuffle", (2,), {}, (1, 8, 4, 6)),
    ("PixelShuffle", (2,), {}, (8, 4, 6)),  # unbatched
    ("PixelShuffle", (2,), {}, (2, 3, 8, 4, 6)),  # any leading dims
    ("PixelShuffle", (2,), {}, (8, 4)),
    ("PixelShuffle", (2,), {}, (1, 9, 4, 6)),
    ("PixelShuffle", (3,), {}, (1, 9, 4, 6)),
    ("PixelShuffle", (1,), {}, (1, 5, 4, 6)),
    ("PixelShuffle", (0,), {}, (1, 8, 4, 6)),
    ("PixelShuffle", (-1,), {}, (1, 8, 4, 6)),
    ("PixelUnshuffle", (2,), {}, (1, 2, 8, 12)),
    ("PixelUnshuffle", (2,), {}, (3, 8, 12)),
    ("PixelUnshuffle", (2,), {}, (2, 2, 3, 8, 12)),
    ("PixelUnshuffle", (2,), {}, (1, 2, 7, 12)),
    ("PixelUnshuffle", (2,), {}, (1, 2, 8, 11)),
    ("PixelUnshuffle", (2,), {}, (8, 12)),
    ("PixelUnshuffle", (0,), {}, (1, 2, 8, 12)),
    # Padding: an int covers the class's dims; a tuple's length decides the padded dims.
    ("ZeroPad2d", (1,), {}, (1, 3, 5, 5)),
    ("ZeroPad2d", (1,), {}, (3, 5, 5)),
    ("ZeroPad2d", (1,), {}, (5, 5)),  # constant padding takes any rank >= padded dims
    ("ZeroPad2d", (1,), {}, (1, 1, 1, 5, 5)),
    ("ZeroPad2d", (1,), {}, (5,)),
    ("ZeroPad2d", ((1, 2),), {}, (5,)),
    ("ZeroPad2d", ((1, 2, 3),), {}, (3, 5, 5)),  # odd length
    ("ZeroPad2d", ((),), {}, ()),  # nothing to pad: identity, even on a scalar
    ("ZeroPad1d", ((1, 1, 1, 1, 1, 1, 1, 1),), {}, (1, 2, 3, 4)),
    ("ZeroPad1d", ((-2, -1),), {}, (1, 2, 4)),  # negative crops
    ("ZeroPad1d", ((-2, -2),), {}, (1, 2, 4)),  # nothing left
    ("ZeroPad1d", ((-5, 3),), {}, (1, 2, 4)),  # crops more than the dim
    ("ZeroPad1d", ((3, -5),), {}, (1, 2, 4)),
    ("ZeroPad1d", ((-4, 3),), {}, (1, 2, 4)),
    ("ConstantPad2d", ((3, 0, 2, 1), 3.5), {}, (1, 2, 2)),
    ("ConstantPad3d", (1, -1.5), {}, (2, 3, 4, 5)),
    ("ConstantPad3d", (1, 2), {}, (3, 4, 5)),
    ("ReflectionPad1d", (2,), {}, (1, 2, 3)),
    ("ReflectionPad1d", (3,), {}, (1, 2, 3)),  # pad must be smaller than the size
    ("ReflectionPad1d", ((2, 3),), {}, (2, 3)),
    ("ReflectionPad1d", ((-2, 2),), {}, (2, 3)),  # reflect may crop
    ("ReflectionPad1d", ((-3, 2),), {}, (2, 3)),
    ("ReflectionPad1d", ((-2, -1),), {}, (2, 3)),  # nothing left
    ("ReflectionPad1d", (1,), {}, (3,)),  # 1-D input: too few dims
    ("ReflectionPad1d", (1,), {}, (1, 1, 2, 3)),  # 4-D: too many
    ("ReflectionPad2d", ((1, 2),), {}, (3, 4)),  # a 2-tuple pads one dim of a 2/3-D input
    ("ReflectionPad2d", ((1, 2),), {}, (1, 3, 4)),
    ("ReflectionPad2d", ((1, 2),), {}, (1, 2, 3, 4)),
    ("ReflectionPad2d", ((1, 1, 1, 1, 1, 1),), {}, (1, 2, 3, 4)),
    ("ReflectionPad2d", ((),), {}, (1, 2, 3, 4)),
    ("ReflectionPad2d", ((1,) * 8,), {}, (1, 2, 3, 4, 5)),
    ("ReflectionPad2d", ((1, 1, 3, 0),), {}, (1, 3, 4)),
    ("ReflectionPad3d", (1,), {}, (1, 2, 2, 2)),
    ("ReflectionPad3d", (2,), {}, (1, 2, 3, 3)),
    ("ReplicationPad1d", (9,), {}, (1, 2, 3)),  # no limit
    ("ReplicationPad1d", ((-3, 1),), {}, (1, 2, 3)),
    ("ReplicationPad1d", ((-3, 0),), {}, (1, 2, 3)),
    ("ReplicationPad2d", ((-9, 9),), {}, (1, 2, 3)),
    ("ReplicationPad3d", ((1, 1, 1, 1, -1, -1),), {}, (2, 3, 4, 5)),
    ("ReplicationPad3d", (1,), {}, (2, 3, 4)),
    ("CircularPad1d", (3,), {}, (1, 2, 3)),
    ("CircularPad1d", (4,), {}, (1, 2, 3)),  # wraps more than once
    ("CircularPad1d", ((-1, 2),), {}, (1, 2, 3)),
    ("CircularPad1d", ((2, -2),), {}, (1, 2, 3)),
    ("CircularPad1d", ((-3, 0),), {}, (1, 2, 3)),
    ("CircularPad1d", (1,), {}, (4,)),  # the module wants 2-D or 3-D
    ("CircularPad1d", (1,), {}, (1, 1, 1, 4)),
    ("CircularPad2d", ((1, 2),), {}, (2, 3, 4)),  # 2 values on a 3-D input: pads W only
    ("CircularPad2d", ((1, 2),), {}, (3, 4)),  # the module still wants 3-D or 4-D
    ("CircularPad2d", ((1, 2),), {}, (1, 2, 3, 4)),
    ("CircularPad2d", ((1, 1, 1, 1, 1, 1),), {}, (1, 2, 3, 4)),
    ("CircularPad3d", ((1, 1, 2, 2, 3, 3),), {}, (1, 2, 3, 3)),
    # Unfold: 3-D or 4-D input, pairs of exactly 2, at least one block per dim.
    ("Unfold", (2,), {}, (2, 3, 4, 4)),
    ("Unfold", (2,), {}, (3, 4, 4)),
    ("Unfold", (2,), {}, (4, 4)),
    ("Unfold", (2,), {}, (1, 2, 3, 4, 4)),
    ("Unfold", ((2, 3),), {}, (1, 3, 2, 9)),
    ("Unfold", ((2,),), {}, (1, 3, 4, 4)),
    ("Unfold", ((2, 2, 2),), {}, (1, 3, 4, 4)),
    ("Unfold", (2,), {"stride": (1,)}, (1, 3, 4, 4)),
    ("Unfold", (5,), {}, (1, 3, 4, 4)),
    ("Unfold", (5,), {"padding": 1}, (1, 3, 4, 4)),
    ("Unfold", (3,), {"padding": 5}, (1, 3, 4, 4)),  # no half-kernel limit
    ("Unfold", (3,), {"dilation": 2, "stride": 2}, (1, 3, 9, 7)),
    ("Unfold", (0,), {}, (1, 3, 4, 4)),
    ("Unfold", (2,), {"padding": -1}, (1, 3, 4, 4)),
    ("Unfold", (2,), {"stride": 0}, (1, 3, 4, 4)),
    ("Unfold", (2,), {"dilation": 0}, (1, 3, 4, 4)),
    # Fold: (N, C·∏k, L) or (C·∏k, L), divisibility, L == number of blocks.
    ("Fold", (4, 2), {}, (1, 4, 9)),
    ("Fold", (4, 2), {}, (4, 9)),
    ("Fold", (4, 2), {}, (2, 12, 9)),
    ("Fold", (4, 2), {}, (1, 4, 12)),
    ("Fold", (4, 2), {}, (1, 9, 9)),
    ("Fold", (4, 2), {}, (9,)),
    ("Fold", (4, 2), {}, (1, 1, 4, 9)),
    ("Fold", ((4, 5), 2), {}, (1, 4, 12)),
    ("Fold", (4, 2), {"stride": 2}, (1, 4, 4)),
    ("Fold", ((4,), 2), {}, (1, 4, 9)),
    ("Fold", (4, (2, 2, 2)), {}, (1, 4, 9)),
    ("Fold", (1, 3), {}, (1, 9, 1)),  # no block fits
    ("Fold", (1, 3), {"padding": 1}, (1, 9, 1)),
    ("Fold", (3, 2), {"padding": 3}, (1, 4, 64)),
    ("Fold", (0, 1), {}, (1, 1, 1)),
    ("Fold", (4, 2), {"dilation": 2}, (1, 4, 4)),
    ("Fold", (4, 2), {"padding": -1}, (1, 4, 1)),
    ("Fold", (4, 0), {}, (1, 4, 9)),
]


def _pads(name: str, padding) -> tuple:
    if isinstance(padding, int):
        return (padding,) * (2 * int(name[-2]))
    return tuple(padding)


def _circular_is_defined(pads: tuple, shape: tuple) -> bool:
    """torch's own verdict on the two well-defined steps of circular padding: crop, then wrap.

    torch's one-step kernel copies between overlapping slices of its output. Where the wrap
    is longer than what is left after cropping, it raises or not depending on the memory
    layout (batch size, other dims) and reads cells it has not written yet; convcalc rejects
    those configurations.
    """
    try:
        cropped = F.pad(torch.zeros(shape), [min(p, 0) for p in pads])
        if 0 in cropped.shape:
            return False
        padded = F.pad(cropped, [max(p, 0) for p in pads], mode="circular")
    except RuntimeError:
        return False
    return 0 not in padded.shape


def check(name: str, args: tuple, kwargs: dict, shape: tuple) -> None:
    expected = torch_outcome(name, args, kwargs, shape)
    if name.startswith("Circular") and expected[0] == "ok":
        if not _circular_is_defined(_pads(name, args[0]), shape):
            got = convcalc_outcome(name, args, kwargs, shape)
            assert got[0] == "error", f"{name}{args} on {shape}: undefined in torch, got {got}"
            return
    got = assert_agrees(name, args, kwargs, shape)
    if got[0] == "ok":
        layer = getattr(convcalc, name)(*args, **kwargs)
        assert repr(layer) == repr(getattr(torch.nn, name)(*args, **kwargs))
        assert layer.macs(shape) == 0


@pytest.mark.parametrize("name,args,kwargs,shape", RULES)
def test_rule_table(name, args, kwargs, shape):
    check(name, args, kwargs, shape)


@pytest.mark.parametrize(
    "shape,pads",
    [
        ((1, 1, 2), (-1, 2)),  # torch raises on this layout...
        ((2, 1, 2), (-1, 2)),  # ...and returns unwritten cells on this one
        ((1, 1, 3, 2), (-1, 2, 0, 0)),
        ((1, 1, 3), (-3, 3)),  # crops everything, then "wraps" nothing
        ((1, 1, 1), (-1, 1)),
    ],
)
def test_circular_layout_dependent_cases_are_rejected(shape, pads):
    assert not _circular_is_defined(pads, shape)
    name = f"CircularPad{len(pads) // 2}d"
    assert convcalc_outcome(name, (pads,), {}, shape)[0] == "error"


def test_pad_size_rules_follow_input_order():
    layer = convcalc.ZeroPad2d((1, 2, 3, 4))
    assert [(s, r.out(10)) for s, r in layer.size_rules()] == [("H", 17), ("W", 13)]
    assert layer.output_shape((1, 1, 10, 10)) == (1, 1, 17, 13)


# -- Hypothesis --------------------------------------------------------------------------


def _shape(draw, lo_rank: int, hi_rank: int, hi: int = 5) -> tuple:
    return int_tuple(draw, draw(st.integers(lo_rank, hi_rank)), 1, hi)


def _dim(draw, rank: int) -> int:
    """A dim index of a rank-``rank`` tensor, now and then one that does not exist."""
    if rank and draw(st.integers(0, 4)):
        return draw(st.integers(-rank, rank - 1))
    return draw(st.integers(-6, 5))


@st.composite
def flatten_configs(draw):
    shape = _shape(draw, 0, 5, 4)
    args = (_dim(draw, len(shape)), _dim(draw, len(shape)))
    return "Flatten", args, {}, shape


@st.composite
def unflatten_configs(draw):
    shape = _shape(draw, 0, 4, 12)
    dim = _dim(draw, len(shape))
    if shape and draw(st.integers(0, 3)):
        # a factorisation of the chosen dim's size, sometimes with one entry inferred
        size = shape[dim % len(shape)]
        sizes = []
        while size > 1 and len(sizes) < 3:
            factor = draw(st.sampled_from([f for f in range(1, size + 1) if size % f == 0]))
            sizes.append(factor)
            size //= factor
        sizes.append(size)
        if draw(st.booleans()):
            sizes[draw(st.integers(0, len(sizes) - 1))] = -1
        if not draw(st.integers(0, 6)):
            sizes.append(draw(st.integers(-2, 3)))
    else:
        sizes = list(int_tuple(draw, draw(st.integers(0, 3)), -2, 6))
    return "Unflatten", (dim, tuple(sizes)), {}, shape


@st.composite
def pixel_shuffle_configs(draw):
    name = draw(st.sampled_from(["PixelShuffle", "PixelUnshuffle"]))
    factor = draw(st.integers(-1, 3)) if not draw(st.integers(0, 15)) else draw(st.integers(1, 3))
    shape = list(_shape(draw, 3, 5, 4) if draw(st.integers(0, 5)) else _shape(draw, 0, 2, 4))
    if len(shape) >= 3 and draw(st.integers(0, 4)) and factor > 0:
        if name == "PixelShuffle":
            shape[-3] *= factor * factor
        else:
            shape[-1] *= factor
            shape[-2] *= factor
    return name, (factor,), {}, tuple(shape)


@st.composite
def pad_configs(draw):
    name = draw(st.sampled_from(PAD_CLASSES))
    nd = int(name[-2])
    if draw(st.booleans()):
        padding = draw(st.integers(-3, 4))
    else:
        length = 2 * nd if draw(st.integers(0, 3)) else draw(st.integers(0, 8))
        padding = int_tuple(draw, length, -4, 4)
    args = (padding, draw(st.sampled_from([0.0, 1.5, -2]))) if "Constant" in name else (padding,)
    rank = nd + draw(st.integers(1, 2)) if draw(st.integers(0, 4)) else draw(st.integers(0, 6))
    shape = int_tuple(draw, rank, 1, 5)
    return name, args, {}, shape


def _pair_arg(draw, lo: int, hi: int):
    choice = draw(st.integers(0, 20))
    if choice == 0:
        return int_tuple(draw, draw(st.sampled_from([1, 3])), lo, hi)
    if choice < 10:
        return draw(st.integers(lo, hi))
    return int_tuple(draw, 2, lo, hi)


def _window_kwargs(draw) -> dict:
    bad = not draw(st.integers(0, 20))
    return {
        "dilation": _pair_arg(draw, 0 if bad else 1, 2),
        "padding": _pair_arg(draw, -1 if bad else 0, 3),
        "stride": _pair_arg(draw, 0 if bad else 1, 3),
    }


def _as_pair(value):
    return (value, value) if isinstance(value, int) else value


@st.composite
def unfold_configs(draw):
    kernel = _pair_arg(draw, 0 if not draw(st.integers(0, 20)) else 1, 4)
    kwargs = _window_kwargs(draw)
    rank = draw(st.sampled_from([3, 3, 3, 4, 4, 4, 2, 5]))
    shape = _shape(draw, rank, rank, 9)
    return "Unfold", (kernel,), kwargs, shape


@st.composite
def fold_configs(draw):
    kernel = _pair_arg(draw, 0 if not draw(st.integers(0, 20)) else 1, 3)
    output_size = _pair_arg(draw, 0 if not draw(st.integers(0, 20)) else 1, 8)
    kwargs = _window_kwargs(draw)
    channels = draw(st.integers(1, 3))
    planes, blocks = channels, 1
    pairs = [_as_pair(v) for v in (kernel, output_size, *kwargs.values())]
    if all(len(p) == 2 for p in pairs):
        (k, o, d, p, s) = pairs
        planes = channels * k[0] * k[1]
        blocks = 1
        for axis in range(2):
            # the generator aims at valid block counts; torch decides what is valid
            blocks *= (o[axis] + 2 * p[axis] - d[axis] * (k[axis] - 1) - 1) // max(s[axis], 1) + 1
    if draw(st.integers(0, 5)) == 0:
        planes += draw(st.integers(1, 2))
    if draw(st.integers(0, 5)) == 0 or blocks < 1:
        blocks = draw(st.integers(1, 20))
    batched = draw(st.integers(0, 10))
    shape = ((draw(st.integers(1, 2)),) if batched > 3 else ()) + (planes, blocks)
    if batched == 0:
        shape = (1,) + shape
    return "Fold", (output_size, kernel), kwargs, shape


FAMILY = {
    "flatten": flatten_configs(),
    "unflatten": unflatten_configs(),
    "pixel_shuffle": pixel_shuffle_configs(),
    "pad": pad_configs(),
    "unfold": unfold_configs(),
    "fold": fold_configs(),
}


@pytest.mark.parametrize("family", sorted(FAMILY))
@examples(250)
@given(data=st.data())
def test_reshape_hypothesis(family, data):
    check(*data.draw(FAMILY[family]))


@pytest.mark.parametrize("kind", ["Zero", "Reflection", "Replication", "Circular"])
def test_pad_one_dim_grid(kind):
    # Every (left, right) pair around a small size: the per-dim limits of each mode, exactly.
    for size in range(1, 5):
        for left in range(-size - 2, size + 3):
            for right in range(-size - 2, size + 3):
                check(f"{kind}Pad1d", ((left, right),), {}, (1, 1, size))
