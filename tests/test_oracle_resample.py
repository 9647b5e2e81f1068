"""Upsample, UpsamplingNearest2d and UpsamplingBilinear2d against torch (F.interpolate's rules)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oracle import assert_agrees, torch
from strategies import examples, int_tuple

import convcalc

pytestmark = pytest.mark.oracle

MODES = ["nearest", "linear", "bilinear", "bicubic", "trilinear", "area", "nearest-exact"]
SPATIAL_DIMS = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}

RULES = [
    # (class, args, kwargs, input shape): one row per validity rule of torch's and probing
    ("Upsample", (), {"scale_factor": 2}, (1, 3, 5)),
    ("Upsample", (), {"scale_factor": 2}, (1, 3, 4, 5)),
    ("Upsample", (), {"scale_factor": 2}, (1, 3, 2, 4, 5)),
    ("Upsample", (), {"scale_factor": 2}, (3, 5)),  # no unbatched form
    ("Upsample", (), {"scale_factor": 2}, (1, 1, 1, 2, 4, 5)),
    ("Upsample", (), {"size": 7}, (1, 3, 4, 5)),
    ("Upsample", (), {"size": (7, 3)}, (1, 3, 4, 5)),
    ("Upsample", (), {"size": [7, 3]}, (1, 3, 4, 5)),
    ("Upsample", (), {"size": (7,)}, (1, 3, 4, 5)),  # one entry per spatial dim
    ("Upsample", (), {"size": (7, 3, 2)}, (1, 3, 4, 5)),
    ("Upsample", (), {"scale_factor": (2.0, 3.0)}, (1, 3, 4, 5)),
    ("Upsample", (), {"scale_factor": (2.0,)}, (1, 3, 4, 5)),
    ("Upsample", (), {"scale_factor": ()}, (1, 3, 4, 5)),
    ("Upsample", (), {"size": ()}, (1, 3, 4, 5)),
    ("Upsample", (), {"size": 4, "scale_factor": 2}, (1, 3, 4, 5)),  # exactly one of them
    ("Upsample", (), {}, (1, 3, 4, 5)),
    ("Upsample", (), {"size": 4, "scale_factor": 0}, (1, 3, 4, 5)),  # a zero scale is "unset"
    ("Upsample", (), {"size": 4, "scale_factor": (0.0,)}, (1, 3, 5)),  # ...but not in a tuple
    ("Upsample", (), {"scale_factor": 0.0}, (1, 3, 4, 5)),
    ("Upsample", (), {"scale_factor": (0.0, 2.0)}, (1, 3, 4, 5)),
    ("Upsample", (), {"scale_factor": -1.0}, (1, 3, 4, 5)),
    ("Upsample", (), {"scale_factor": math.nan}, (1, 3, 4, 5)),
    ("Upsample", (), {"scale_factor": math.inf}, (1, 3, 4, 5)),
    ("Upsample", (), {"size": 0}, (1, 3, 4, 5)),
    ("Upsample", (), {"size": -1}, (1, 3, 4, 5)),
    ("Upsample", (), {"size": 0, "mode": "area"}, (1, 3, 4, 5)),  # torch: empty tensor
    ("Upsample", (), {"size": (4.0, 4)}, (1, 3, 4, 5)),
    # out = floor(L·scale) in double precision; every output dim >= 1
    ("Upsample", (), {"scale_factor": 1.5}, (1, 3, 7)),
    ("Upsample", (), {"scale_factor": 0.29}, (1, 1, 100)),  # 100·0.29 = 28.999999999999996
    ("Upsample", (), {"scale_factor": 1 / 3}, (1, 1, 9)),
    ("Upsample", (), {"scale_factor": 0.1}, (1, 1, 30)),
    ("Upsample", (), {"scale_factor": 0.2}, (1, 1, 3)),
    ("Upsample", (), {"scale_factor": 0.2}, (1, 1, 5)),
    ("Upsample", (), {"scale_factor": 0.2, "mode": "area"}, (1, 1, 3)),  # torch: empty
    ("Upsample", (), {"scale_factor": 0.5, "mode": "area"}, (1, 1, 5)),
    ("Upsample", (), {"scale_factor": 0.29, "mode": "area"}, (1, 1, 100)),
    # mode vs dims
    ("Upsample", (), {"scale_factor": 2, "mode": "linear"}, (1, 3, 5)),
    ("Upsample", (), {"scale_factor": 2, "mode": "linear"}, (1, 3, 4, 5)),
    ("Upsample", (), {"scale_factor": 2, "mode": "bilinear"}, (1, 3, 4, 5)),
    ("Upsample", (), {"scale_factor": 2, "mode": "bilinear"}, (1, 3, 5)),
    ("Upsample", (), {"scale_factor": 2, "mode": "bilinear"}, (1, 3, 2, 4, 5)),
    ("Upsample", (), {"scale_factor": 2, "mode": "bicubic"}, (1, 3, 4, 5)),
    ("Upsample", (), {"scale_factor": 2, "mode": "bicubic"}, (1, 3, 5)),
    ("Upsample", (), {"scale_factor": 2, "mode": "trilinear"}, (1, 3, 2, 4, 5)),
    ("Upsample", (), {"scale_factor": 2, "mode": "trilinear"}, (1, 3, 4, 5)),
    ("Upsample", (), {"scale_factor": 2, "mode": "area"}, (1, 3, 2, 4, 5)),
    ("Upsample", (), {"scale_factor": 2, "mode": "nearest-exact"}, (1, 3, 5)),
    ("Upsample", (), {"size": (3, 4), "mode": "linear"}, (1, 3, 5)),
    ("Upsample", (), {"scale_factor": 2, "mode": "lanczos"}, (1, 3, 4, 5)),
    ("Upsample", (), {"scale_factor": 2, "mode": "cubic"}, (1, 3, 4, 5)),
    # align_corners only with interpolating modes, False included
    ("Upsample", (), {"scale_factor": 2, "mode": "bilinear", "align_corners": True}, (1, 3, 4, 5)),
    ("Upsample", (), {"scale_factor": 2, "mode": "linear", "align_corners": False}, (1, 3, 5)),
    ("Upsample", (), {"scale_factor": 2, "align_corners": False}, (1, 3, 4, 5)),
    ("Upsample", (), {"scale_factor": 2, "mode": "area", "align_corners": True}, (1, 3, 4, 5)),
    ("Upsample", (), {"size": 3, "mode": "nearest-exact", "align_corners": False}, (1, 3, 5)),
    # recompute_scale_factor: meaningless with a size
    ("Upsample", (), {"size": 4, "recompute_scale_factor": True}, (1, 3, 4, 5)),
    ("Upsample", (), {"size": 4, "recompute_scale_factor": False}, (1, 3, 4, 5)),
    ("Upsample", (), {"scale_factor": 1.5, "recompute_scale_factor": True}, (1, 3, 4, 5)),
    ("Upsample", (), {"scale_factor": 1.5, "mode": "bicubic", "recompute_scale_factor": False},
     (1, 3, 4, 5)),
    # the fixed-mode classes
    ("UpsamplingNearest2d", (), {"scale_factor": 2}, (1, 3, 4, 5)),
    ("UpsamplingNearest2d", (), {"scale_factor": 2}, (1, 3, 5)),  # not limited to 4-D
    ("UpsamplingNearest2d", (), {"size": (2, 3, 4)}, (1, 3, 1, 1, 1)),
    ("UpsamplingNearest2d", (), {}, (1, 3, 4, 5)),
    ("UpsamplingBilinear2d", (), {"size": (7, 9)}, (1, 3, 4, 5)),
    ("UpsamplingBilinear2d", (), {"scale_factor": 2}, (1, 3, 5)),
    ("UpsamplingBilinear2d", (), {"scale_factor": 0.4}, (1, 3, 2, 5)),
    ("UpsamplingBilinear2d", (), {"size": 3, "scale_factor": 2}, (1, 3, 4, 5)),
]


def check(name: str, args: tuple, kwargs: dict, shape: tuple) -> None:
    got = assert_agrees(name, args, kwargs, shape)
    if got[0] == "ok":
        layer = getattr(convcalc, name)(*args, **kwargs)
        assert repr(layer) == repr(getattr(torch.nn, name)(*args, **kwargs))
        assert layer.macs(shape) == 0
        rules = layer.size_rules(shape)
        assert tuple(rule.out(size) for (_, rule), size in zip(rules, shape[2:])) == got[1][2:]


@pytest.mark.parametrize("name,args,kwargs,shape", RULES)
def test_rule_table(name, args, kwargs, shape):
    check(name, args, kwargs, shape)


@st.composite
def upsample_configs(draw):
    name = draw(st.sampled_from(["Upsample"] * 4 + ["UpsamplingNearest2d", "UpsamplingBilinear2d"]))
    kwargs: dict = {}
    mode = {"UpsamplingNearest2d": "nearest", "UpsamplingBilinear2d": "bilinear"}.get(name)
    if name == "Upsample":
        mode = draw(st.sampled_from(MODES)) if draw(st.integers(0, 30)) else "lanczos"
        kwargs["mode"] = mode
        if mode in SPATIAL_DIMS or not draw(st.integers(0, 8)):
            kwargs["align_corners"] = draw(st.sampled_from([None, True, False]))
        kwargs["recompute_scale_factor"] = draw(st.sampled_from([None] * 4 + [True, False]))
    if mode in SPATIAL_DIMS and draw(st.integers(0, 3)):
        spatial = SPATIAL_DIMS[mode]
    else:
        spatial = draw(st.sampled_from([1, 2, 3] * 4 + [0, 4]))
    shape = int_tuple(draw, spatial + 2, 1, 6)

    def entries(values):
        if draw(st.booleans()):
            return draw(values)
        count = spatial if draw(st.integers(0, 6)) else draw(st.integers(0, 4))
        return tuple(draw(values) for _ in range(count))

    sizes = st.integers(1, 8) if draw(st.integers(0, 15)) else st.integers(-1, 0)
    scales = st.sampled_from([0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 0.29, 1 / 3, 0.7, 0.2, 2])
    if not draw(st.integers(0, 15)):
        scales = st.sampled_from([0.0, 0, -1.0, math.nan, math.inf])
    choices = [(1, 0)] * 10 + [(0, 1)] * 10 + [(1, 1), (0, 0)]  # size, scale_factor, both, neither
    given_size, given_scale = draw(st.sampled_from(choices))
    if given_size:
        kwargs["size"] = entries(sizes)
    if given_scale:
        kwargs["scale_factor"] = entries(scales)
    return name, (), kwargs, shape


@examples(300)
@given(upsample_configs())
def test_upsample_hypothesis(config):
    check(*config)
