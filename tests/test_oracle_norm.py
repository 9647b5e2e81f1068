"""BatchNorm, InstanceNorm, GroupNorm, LayerNorm, RMSNorm and LocalResponseNorm against torch (eval mode)."""

from __future__ import annotations


import pytest
from hypothesis import given
from hypothesis import strategies as st

import convcalc
from oracle import assert_agrees, torch, assert_same_repr
from strategies import examples, int_tuple

pytestmark = pytest.mark.oracle



RULES = [
    # (class, args, kwargs, input shape)
    # BatchNorm: dims per class, channels when a tensor is sized by num_features, eps, and
    # the batch-statistics path when there are no running statistics.
    ("BatchNorm1d", (4,), {}, (2, 4)),
    ("BatchNorm1d", (4,), {}, (1, 4)),  # batch of 1 is fine with running statistics
    ("BatchNorm1d", (4,), {}, (2, 4, 3)),
    ("BatchNorm1d", (4,), {}, (4,)),
    ("BatchNorm1d", (4,), {}, (2, 4, 3, 3)),
    ("BatchNorm1d", (4,), {}, (2, 5)),
    ("BatchNorm1d", (4,), {}, (2, 3, 4)),  # (N, L, C) is not (N, C, L)
    ("BatchNorm2d", (4,), {}, (2, 4, 3, 3)),
    ("BatchNorm2d", (4,), {}, (4, 3, 3)),  # no unbatched form
    ("BatchNorm2d", (4,), {}, (1, 4, 1, 1)),
    ("BatchNorm2d", (4,), {}, (1, 2, 4, 3, 3)),
    ("BatchNorm3d", (4,), {}, (1, 4, 1, 1, 1)),
    ("BatchNorm3d", (4,), {}, (4, 2, 2, 2)),
    ("SyncBatchNorm", (4,), {}, (2, 4)),  # any rank from 2, in eval mode
    ("SyncBatchNorm", (4,), {}, (2, 4, 3, 3, 2, 2)),
    ("SyncBatchNorm", (4,), {}, (4,)),
    ("SyncBatchNorm", (4,), {}, (2, 5, 3)),
    ("SyncBatchNorm", (4,), {"affine": False, "bias": False}, (1, 4, 3)),
    ("BatchNorm2d", (4,), {"affine": False}, (1, 5, 3, 3)),  # running stats still sized
    ("BatchNorm2d", (4,), {"track_running_stats": False}, (2, 5, 3, 3)),  # weight sized
    ("BatchNorm2d", (4,), {"affine": False, "track_running_stats": False}, (2, 5, 3, 3)),
    ("BatchNorm2d", (4,), {"affine": False, "track_running_stats": False}, (1, 4, 1, 1)),
    ("BatchNorm2d", (4,), {"affine": False, "track_running_stats": False}, (2, 4, 1, 1)),
    ("BatchNorm1d", (4,), {"track_running_stats": False}, (1, 4)),
    ("BatchNorm1d", (4,), {"track_running_stats": False}, (1, 4, 2)),
    ("BatchNorm1d", (4,), {"track_running_stats": False}, (1, 4, 1)),
    ("BatchNorm2d", (4,), {"bias": False}, (2, 4, 3, 3)),
    ("BatchNorm2d", (4,), {"affine": False, "bias": False}, (2, 4, 3, 3)),
    ("BatchNorm2d", (4,), {"eps": 0.0}, (2, 4, 3, 3)),
    ("BatchNorm2d", (4,), {"eps": -1.0}, (2, 4, 3, 3)),
    ("BatchNorm2d", (4,), {"eps": 0.0, "track_running_stats": False}, (2, 4, 3, 3)),
    ("BatchNorm2d", (4,), {"eps": 1e-3, "track_running_stats": False}, (2, 4, 3, 3)),
    ("BatchNorm2d", (4,), {"momentum": None}, (2, 4, 3, 3)),
    ("BatchNorm2d", (4,), {"momentum": -3.0}, (2, 4, 3, 3)),  # unchecked, unused in eval
    ("BatchNorm2d", (0,), {}, (2, 4, 3, 3)),
    ("BatchNorm2d", (-1,), {}, (2, 4, 3, 3)),
    ("BatchNorm2d", (-1,), {"affine": False, "track_running_stats": False}, (2, 4, 3, 3)),
    ("BatchNorm2d", (0,), {"affine": False, "track_running_stats": False}, (2, 4, 3, 3)),
    # InstanceNorm: batched or unbatched; num_features only matters with affine or tracking.
    ("InstanceNorm1d", (4,), {}, (2, 4, 3)),
    ("InstanceNorm1d", (4,), {}, (4, 3)),
    ("InstanceNorm1d", (4,), {}, (4,)),
    ("InstanceNorm1d", (4,), {}, (2, 4, 3, 3)),
    ("InstanceNorm1d", (4,), {}, (2, 5, 3)),  # torch only warns
    ("InstanceNorm1d", (4,), {}, (5, 3)),
    ("InstanceNorm1d", (4,), {"affine": True}, (2, 5, 3)),
    ("InstanceNorm1d", (4,), {"affine": True}, (5, 3)),
    ("InstanceNorm1d", (4,), {"track_running_stats": True}, (2, 5, 3)),
    ("InstanceNorm1d", (4,), {"track_running_stats": True}, (5, 3)),
    ("InstanceNorm1d", (8,), {"track_running_stats": True}, (2, 4, 3)),  # N·C == num_features
    ("InstanceNorm1d", (4,), {"track_running_stats": True}, (1, 4, 1)),  # running stats: 1 ok
    ("InstanceNorm1d", (4,), {}, (2, 4, 1)),  # instance stats need > 1 spatial element
    ("InstanceNorm1d", (4,), {}, (4, 1)),
    ("InstanceNorm2d", (4,), {}, (2, 4, 1, 1)),
    ("InstanceNorm2d", (4,), {}, (4, 1, 2)),
    ("InstanceNorm2d", (4,), {}, (2, 4, 3)),  # unbatched, 2 channels: torch only warns
    ("InstanceNorm3d", (4,), {}, (4, 2, 2, 2)),
    ("InstanceNorm3d", (4,), {}, (2, 4, 2, 2, 2)),
    ("InstanceNorm3d", (4,), {}, (2, 4, 2, 2, 2, 2)),
    ("InstanceNorm1d", (4,), {"eps": -1.0}, (2, 4, 3)),  # no eps check
    ("InstanceNorm1d", (4,), {"eps": -1.0, "track_running_stats": True}, (2, 4, 3)),
    ("InstanceNorm1d", (0,), {}, (2, 4, 3)),
    ("InstanceNorm1d", (-1,), {}, (2, 4, 3)),
    ("InstanceNorm1d", (0,), {"affine": True}, (2, 4, 3)),
    ("InstanceNorm1d", (-1,), {"track_running_stats": True}, (2, 4, 3)),
    ("InstanceNorm1d", (4,), {"affine": True, "bias": False}, (2, 4, 3)),
    ("InstanceNorm1d", (4,), {"affine": True, "track_running_stats": True}, (2, 4, 3)),
    # GroupNorm: no unbatched form, dim 1 is always C.
    ("GroupNorm", (2, 4), {}, (2, 4, 3)),
    ("GroupNorm", (2, 4), {}, (2, 4)),
    ("GroupNorm", (2, 4), {}, (4, 3)),  # read as N=4, C=3
    ("GroupNorm", (2, 4), {}, (4,)),
    ("GroupNorm", (2, 4), {}, (1, 4, 1)),
    ("GroupNorm", (4, 4), {}, (1, 4)),  # N·(C/G)·spatial must exceed 1
    ("GroupNorm", (4, 4), {}, (2, 4)),
    ("GroupNorm", (4, 4), {}, (1, 4, 1, 1, 1, 1)),
    ("GroupNorm", (4, 4), {}, (1, 4, 2)),
    ("GroupNorm", (4, 4), {}, (2, 4, 1)),
    ("GroupNorm", (1, 1), {}, (1, 1, 1)),
    ("GroupNorm", (2, 4), {}, (1, 6, 3)),  # affine sizes the channels
    ("GroupNorm", (2, 4), {}, (1, 5, 3)),
    ("GroupNorm", (2, 4), {"affine": False}, (1, 6, 3)),
    ("GroupNorm", (2, 4), {"affine": False}, (1, 5, 3)),
    ("GroupNorm", (2, 4), {"affine": False}, (1, 2, 1)),
    ("GroupNorm", (2, 4), {"affine": False}, (3, 2, 1)),
    ("GroupNorm", (3, 4), {}, (1, 4, 3)),
    ("GroupNorm", (8, 4), {"affine": False}, (1, 4, 3)),
    ("GroupNorm", (0, 4), {}, (1, 4, 3)),
    ("GroupNorm", (-2, 4), {}, (1, 4, 3)),
    ("GroupNorm", (2, 0), {}, (1, 4, 3)),
    ("GroupNorm", (2, -4), {}, (1, 4, 3)),
    ("GroupNorm", (2, -4), {"affine": False}, (1, 4, 3)),  # only divisibility is checked
    ("GroupNorm", (3, -4), {"affine": False}, (1, 3, 3)),
    ("GroupNorm", (2, 0), {"affine": False}, (1, 4, 3)),
    ("GroupNorm", (2, 4), {"eps": -1.0}, (1, 4, 3)),
    ("GroupNorm", (2, 4), {"bias": False}, (1, 4, 3)),
    # LayerNorm: trailing dims.
    ("LayerNorm", (4,), {}, (2, 4)),
    ("LayerNorm", (4,), {}, (4,)),
    ("LayerNorm", (4,), {}, (4, 3)),
    ("LayerNorm", ((3, 4),), {}, (2, 3, 4)),
    ("LayerNorm", ((3, 4),), {}, (3, 4)),
    ("LayerNorm", ((3, 4),), {}, (4,)),
    ("LayerNorm", ((3, 4),), {}, (2, 4, 3)),
    ("LayerNorm", ([3, 4],), {}, (5, 3, 4)),
    ("LayerNorm", ((),), {}, (2, 4)),
    ("LayerNorm", (0,), {}, (2, 4)),
    ("LayerNorm", (-1,), {}, (2, 4)),
    ("LayerNorm", (-1,), {"elementwise_affine": False}, (2, 4)),
    ("LayerNorm", (4,), {"elementwise_affine": False}, (2, 5)),
    ("LayerNorm", (4,), {"bias": False}, (2, 4)),
    ("LayerNorm", (4,), {"elementwise_affine": False, "bias": False}, (2, 4)),
    ("LayerNorm", (4,), {"eps": -1.0}, (2, 4)),
    ("LayerNorm", ((1, 1),), {}, (1, 1)),  # one element is fine
    # RMSNorm: LayerNorm's trailing dims, eps None (the dtype's epsilon) or a number, no bias
    ("RMSNorm", (4,), {}, (2, 4)),
    ("RMSNorm", ((3, 4),), {}, (2, 3, 4)),
    ("RMSNorm", ([3, 4],), {"eps": 1e-6}, (3, 4)),
    ("RMSNorm", (4,), {"elementwise_affine": False}, (2, 5)),
    ("RMSNorm", (4,), {}, (2, 5)),
    ("RMSNorm", ((),), {}, (2, 4)),
    ("RMSNorm", (0,), {}, (2, 4)),
    ("RMSNorm", (-1,), {}, (2, 4)),
    ("RMSNorm", ((1, 1),), {}, (1, 1)),
    # LocalResponseNorm: 3+ dims, any channel count, window >= 1.
    ("LocalResponseNorm", (2,), {}, (2, 4, 3)),
    ("LocalResponseNorm", (2,), {}, (4, 3)),
    ("LocalResponseNorm", (2,), {}, (2, 4, 3, 3, 3, 3)),
    ("LocalResponseNorm", (2,), {}, (1, 1, 1)),
    ("LocalResponseNorm", (100,), {}, (2, 4, 3, 3)),
    ("LocalResponseNorm", (1,), {}, (2, 4, 3)),
    ("LocalResponseNorm", (0,), {}, (2, 4, 3)),
    ("LocalResponseNorm", (-1,), {}, (2, 4, 3, 3)),
    ("LocalResponseNorm", (-5,), {}, (2, 8, 3, 3)),
    ("LocalResponseNorm", (2,), {"alpha": -1.0, "beta": -2.0, "k": -1.0}, (2, 4, 3)),
]


@pytest.mark.parametrize("name,args,kwargs,shape", RULES)
def test_rule_table(name, args, kwargs, shape):
    assert_agrees(name, args, kwargs, shape)
    assert_same_repr(name, args, kwargs)


# -- Hypothesis ------------------------------------------------------------------------------


def _count(draw, lo: int, hi: int) -> int:
    """Mostly a valid count, sometimes 0 or negative."""
    return draw(st.integers(lo, hi) if draw(st.integers(0, 12)) else st.integers(-2, 0))


def _channels(draw, wanted: int) -> int:
    return max(wanted, 1) if draw(st.integers(0, 6)) else draw(st.integers(1, 6))


@st.composite
def channel_norm_configs(draw, kind: str):
    nd = draw(st.integers(1, 3))
    num_features = _count(draw, 1, 4)
    kwargs = {
        "affine": draw(st.booleans()),
        "track_running_stats": draw(st.booleans()),
        "bias": draw(st.booleans()),
        "eps": draw(st.sampled_from([1e-5, 1e-5, 0.1, 0.0, -1e-3])),
        "momentum": draw(st.sampled_from([0.1, None, 0.5])),
    }
    if kind == "BatchNorm":
        dims = draw(st.sampled_from({1: [2, 3], 2: [4], 3: [5]}[nd] * 4 + [nd + 1, nd + 3, 1]))
        batch = draw(st.integers(1, 2))
        shape = (batch, _channels(draw, num_features)) + int_tuple(draw, dims - 2, 1, 3)
        shape = shape[:dims]
    else:
        batched = draw(st.booleans())
        dims = nd + 1 + int(batched) if draw(st.integers(0, 8)) else draw(st.integers(1, 5))
        spatial = int_tuple(draw, dims - 1 - int(batched), 1, 3)
        shape = ((draw(st.integers(1, 2)),) if batched else ()) + (_channels(draw, num_features),) + spatial
        shape = shape[:dims]
    return f"{kind}{nd}d", (num_features,), kwargs, shape


@examples(300)
@given(channel_norm_configs("BatchNorm"))
def test_batchnorm_hypothesis(config):
    assert_agrees(*config)
    assert_same_repr(*config[:3])


@examples(300)
@given(channel_norm_configs("InstanceNorm"))
def test_instancenorm_hypothesis(config):
    assert_agrees(*config)
    assert_same_repr(*config[:3])


@st.composite
def group_norm_configs(draw):
    groups = _count(draw, 1, 4)
    per_group = draw(st.integers(1, 3)) if draw(st.integers(0, 8)) else draw(st.integers(-2, 0))
    num_channels = groups * per_group if draw(st.integers(0, 6)) else _count(draw, 1, 8)
    kwargs = {
        "affine": draw(st.booleans()),
        "bias": draw(st.booleans()),
        "eps": draw(st.sampled_from([1e-5, 0.0, -1.0])),
    }
    dims = draw(st.integers(2, 5)) if draw(st.integers(0, 10)) else 1
    channels = _channels(draw, num_channels)
    shape = (draw(st.integers(1, 2)), channels) + int_tuple(draw, dims - 2, 1, 2)
    return "GroupNorm", (groups, num_channels), kwargs, shape[:dims]


@examples(300)
@given(group_norm_configs())
def test_groupnorm_hypothesis(config):
    assert_agrees(*config)
    assert_same_repr(*config[:3])


@st.composite
def layer_norm_configs(draw):
    trailing = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    if draw(st.integers(0, 10)) == 0:
        normalized = tuple(draw(st.lists(st.integers(-1, 3), max_size=2)))
    else:
        normalized = trailing
    if len(normalized) == 1 and draw(st.booleans()):
        normalized = normalized[0]
    elif draw(st.booleans()):
        normalized = list(normalized)
    lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    if draw(st.integers(0, 6)) == 0:
        trailing = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    kwargs = {
        "elementwise_affine": draw(st.booleans()),
        "bias": draw(st.booleans()),
        "eps": draw(st.sampled_from([1e-5, 1e-6, 0.0])),
    }
    return "LayerNorm", (normalized,), kwargs, lead + trailing


@examples(300)
@given(layer_norm_configs())
def test_layernorm_hypothesis(config):
    assert_agrees(*config)
    assert_same_repr(*config[:3])


@examples(200)
@given(layer_norm_configs())
def test_rmsnorm_hypothesis(config):
    _, args, kwargs, shape = config
    eps = None if kwargs["eps"] == 1e-5 else kwargs["eps"]  # None (the default), 1e-6 and 0.0
    rms = ("RMSNorm", args, {"elementwise_affine": kwargs["elementwise_affine"], "eps": eps}, shape)
    assert_agrees(*rms)
    assert_same_repr(*rms[:3])


@st.composite
def lrn_configs(draw):
    size = _count(draw, 1, 7)
    kwargs = {
        "alpha": draw(st.sampled_from([1e-4, 1.0, 0.0])),
        "beta": draw(st.sampled_from([0.75, 1.0, 2])),
        "k": draw(st.sampled_from([1.0, 2.0, 0.5])),
    }
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=6)))
    return "LocalResponseNorm", (size,), kwargs, shape


@examples(200)
@given(lrn_configs())
def test_lrn_hypothesis(config):
    assert_agrees(*config)
    assert_same_repr(*config[:3])
