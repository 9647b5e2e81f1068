"""Upsample, UpsamplingNearest2d and UpsamplingBilinear2d's forward pass against torch.nn modules.

The table pins every mode and torch's ``scales`` rule: with scale_factor given and
recompute_scale_factor not True, torch maps output cells back with 1/scale_factor rather than
in/out, which moves the sampled positions whenever the output size was rounded. The
Hypothesis test reuses the configuration strategy of test_oracle_resample.py.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from layer_oracle import accepted, agree, torch_forward
from strategies import DTYPE_NAMES as DTYPES
from strategies import dtype_names, examples, int_tuple, seeds
from test_oracle_resample import MODES, SPATIAL_DIMS, upsample_configs

import convcalc

# a NumPy warning escaping a layer (inf·0 in a weighted sum) is a bug: torch is silent
pytestmark = [pytest.mark.oracle, pytest.mark.filterwarnings("error::RuntimeWarning")]


TABLE = [
    # (class, kwargs, input shape)
    ("Upsample", {"scale_factor": 2}, (2, 3, 5)),
    ("Upsample", {"scale_factor": 2}, (2, 3, 4, 5)),
    ("Upsample", {"scale_factor": (2.0, 3.0, 1.5)}, (1, 2, 2, 3, 4)),
    ("Upsample", {"scale_factor": 1.7}, (1, 2, 6, 7)),  # 1/1.7 is not in/out = 6/10
    ("Upsample", {"scale_factor": 1.7, "recompute_scale_factor": True}, (1, 2, 6, 7)),
    ("Upsample", {"scale_factor": 0.29}, (1, 2, 100)),
    ("Upsample", {"scale_factor": 2.5}, (1, 5, 1, 1)),  # channels-last-like: torch's other path
    ("Upsample", {"size": (7, 3)}, (2, 3, 4, 5)),
    ("Upsample", {"size": 200}, (1, 2, 9, 50)),  # a large output: the generic nearest path
    ("Upsample", {"scale_factor": 1.7, "mode": "nearest-exact"}, (1, 2, 6, 7)),
    ("Upsample", {"size": (5, 9, 4), "mode": "nearest-exact"}, (1, 2, 3, 4, 5)),
    ("Upsample", {"scale_factor": 2.5, "mode": "linear"}, (2, 3, 7)),
    ("Upsample", {"size": 4, "mode": "linear", "align_corners": True}, (2, 3, 7)),
    ("Upsample", {"scale_factor": 1.7, "mode": "bilinear"}, (2, 3, 6, 7)),
    ("Upsample", {"scale_factor": 1.7, "mode": "bilinear", "recompute_scale_factor": True}, (2, 3, 6, 7)),
    ("Upsample", {"scale_factor": 1.7, "mode": "bilinear", "recompute_scale_factor": False}, (2, 3, 6, 7)),
    ("Upsample", {"scale_factor": (0.5, 1.5), "mode": "bilinear", "align_corners": True}, (1, 3, 6, 7)),
    ("Upsample", {"size": (6, 7), "mode": "bilinear"}, (1, 3, 6, 7)),  # same size: a copy
    ("Upsample", {"scale_factor": 1.7, "mode": "bicubic"}, (2, 3, 6, 7)),
    ("Upsample", {"size": (9, 4), "mode": "bicubic", "align_corners": True}, (2, 3, 6, 7)),
    ("Upsample", {"scale_factor": (1.5, 2.0, 0.5), "mode": "trilinear"}, (1, 2, 3, 4, 6)),
    ("Upsample", {"size": (4, 5, 6), "mode": "trilinear", "align_corners": True}, (1, 2, 3, 4, 5)),
    ("Upsample", {"scale_factor": 0.5, "mode": "area"}, (2, 3, 7, 9)),
    ("Upsample", {"size": (5, 4, 3), "mode": "area"}, (1, 2, 7, 6, 9)),
    ("Upsample", {"scale_factor": 3, "mode": "area"}, (2, 3, 5)),
    ("UpsamplingNearest2d", {"scale_factor": 2}, (2, 3, 4, 5)),
    ("UpsamplingNearest2d", {"size": (2, 3, 4)}, (1, 3, 1, 2, 3)),  # not limited to 4-D
    ("UpsamplingNearest2d", {"scale_factor": 1.5}, (1, 3, 5)),
    ("UpsamplingBilinear2d", {"size": (7, 9)}, (2, 3, 4, 5)),
    ("UpsamplingBilinear2d", {"scale_factor": 1.7}, (2, 3, 4, 5)),
    ("UpsamplingBilinear2d", {"scale_factor": 0.4}, (1, 3, 5, 8)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kwargs,shape", TABLE)
def test_table(name, kwargs, shape, dtype):
    agree(name, (), kwargs, shape, dtype=dtype)


@pytest.mark.parametrize("mode", ["nearest", "bilinear", "bicubic"])
def test_the_given_scale_maps_coordinates(mode):
    """Without recompute_scale_factor torch samples at 1/scale steps, not at in/out steps."""
    x = np.random.default_rng(4).standard_normal((1, 1, 6, 7))
    given = convcalc.Upsample(scale_factor=1.7, mode=mode).forward(x)
    recomputed = convcalc.Upsample(scale_factor=1.7, mode=mode, recompute_scale_factor=True).forward(x)
    assert given.shape == recomputed.shape == (1, 1, 10, 11)
    assert not np.allclose(given, recomputed)
    sized = torch_forward("Upsample", (), {"size": (10, 11), "mode": mode}, x)
    np.testing.assert_allclose(recomputed, sized, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "kwargs,shape",
    [
        ({"scale_factor": 1.7, "mode": "bilinear"}, (2, 3, 6, 7)),
        ({"scale_factor": 2.5, "mode": "bicubic", "align_corners": True}, (1, 2, 5, 6)),
        ({"size": 9, "mode": "nearest"}, (2, 3, 5)),
        ({"size": (3, 4), "mode": "area"}, (2, 3, 7, 9)),
    ],
)
def test_nan_and_inf_land_where_torch_puts_them(kwargs, shape, dtype):
    agree("Upsample", (), kwargs, shape, dtype=dtype, kind="special", seed=5)


@examples(300)
@given(upsample_configs(), dtype_names, seeds)
def test_upsample_hypothesis(config, dtype, seed):
    if accepted(*config):
        agree(*config, dtype=dtype, seed=seed)


@st.composite
def valid_configs(draw, mode):
    """Configurations torch accepts, for one mode: the oracle's strategy above reaches some
    modes only a handful of times in a few hundred examples."""
    dims = SPATIAL_DIMS.get(mode) or draw(st.integers(1, 3))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 5)), *int_tuple(draw, dims, 1, 9))
    kwargs = {"mode": mode}
    if mode in SPATIAL_DIMS:
        kwargs["align_corners"] = draw(st.sampled_from([None, False, True]))
    if draw(st.booleans()):
        kwargs["size"] = int_tuple(draw, dims, 1, 12)
    else:
        scales = [draw(st.sampled_from([0.5, 0.7, 1.0, 4 / 3, 1.5, 1.7, 2.0, 2.5, 3.0])) for _ in range(dims)]
        if draw(st.booleans()):
            scales = scales[:1] * dims
        # at least one output cell per dim
        scales = [scale if size * scale >= 1 else 1.0 for scale, size in zip(scales, shape[2:])]
        kwargs["scale_factor"] = scales[0] if len(set(scales)) == 1 else tuple(scales)
        kwargs["recompute_scale_factor"] = draw(st.sampled_from([None, False, True]))
    return "Upsample", (), kwargs, shape


@pytest.mark.parametrize("mode", MODES)
@examples(40)
@given(data=st.data(), dtype=dtype_names, seed=seeds)
def test_every_mode_hypothesis(mode, data, dtype, seed):
    config = data.draw(valid_configs(mode))
    assert accepted(*config), config
    agree(*config, dtype=dtype, seed=seed)
