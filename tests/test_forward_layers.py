"""Layer.forward against torch modules (values, with random parameters), family by family."""

from __future__ import annotations

import pytest

from hypothesis import given

from forward_compare import assert_close
from oracle import assert_forward_agrees, convcalc_outcome, torch_outcome
from strategies import examples
from test_oracle_conv import conv_configs

pytestmark = pytest.mark.oracle


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_identity(dtype):
    assert_forward_agrees("Identity", (), {}, (2, 3, 4), dtype=dtype)


CONV_CASES = [
    ("Conv2d", (3, 8, 5), {}, (2, 3, 12, 12)),
    ("Conv2d", (3, 8, 5), {}, (3, 12, 12)),
    ("Conv2d", (4, 8, 3), {"stride": 2, "padding": 1, "groups": 2, "bias": False}, (1, 4, 9, 9)),
    ("Conv2d", (6, 6, 3), {"groups": 6, "padding": "same", "dilation": 2}, (1, 6, 10, 10)),
    ("Conv2d", (2, 4, 4), {"padding": "same", "padding_mode": "reflect"}, (1, 2, 8, 8)),
    ("Conv2d", (2, 4, 3), {"padding": 2, "padding_mode": "circular"}, (1, 2, 5, 6)),
    ("Conv2d", (2, 4, 3), {"padding": 3, "padding_mode": "replicate"}, (1, 2, 5, 6)),
    ("Conv1d", (3, 5, 3), {"stride": 2, "dilation": 2}, (2, 3, 20)),
    ("Conv3d", (2, 4, (1, 3, 3)), {"padding": (0, 1, 1)}, (1, 2, 4, 6, 6)),
    ("ConvTranspose2d", (4, 6, 4), {"stride": 2, "padding": 1}, (1, 4, 5, 5)),
    ("ConvTranspose2d", (4, 6, 3), {"stride": 2, "output_padding": 1, "groups": 2, "dilation": 2}, (2, 4, 4, 5)),
    ("ConvTranspose1d", (3, 2, 5), {"stride": 3, "padding": 2}, (3, 7)),
    ("ConvTranspose3d", (2, 2, 3), {"stride": 2}, (1, 2, 3, 3, 3)),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,args,kwargs,shape", CONV_CASES)
def test_conv_layers(name, args, kwargs, shape, dtype):
    assert_forward_agrees(name, args, kwargs, shape, dtype=dtype)


def test_transposed_conv_output_size():
    assert_forward_agrees("ConvTranspose2d", (2, 3, 3), {"stride": 2}, (1, 2, 4, 4), {"output_size": (10, 9)})


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_linear_and_bilinear(dtype):
    assert_forward_agrees("Linear", (6, 4), {}, (2, 3, 6), dtype=dtype)
    assert_forward_agrees("Linear", (6, 4), {"bias": False}, (6,), dtype=dtype)
    import numpy as np
    import torch

    rng = np.random.default_rng(1)
    x1, x2 = rng.standard_normal((5, 3)).astype(dtype), rng.standard_normal((5, 4)).astype(dtype)
    torch_layer = torch.nn.Bilinear(3, 4, 2).to(getattr(torch, dtype))
    import convcalc

    params = {k: v.detach().numpy() for k, v in torch_layer.state_dict().items()}
    expected = torch_layer(torch.from_numpy(x1), torch.from_numpy(x2)).detach().numpy()
    got = convcalc.Bilinear(3, 4, 2).forward(x1, params, input2=x2)
    assert_close(got, expected, f"Bilinear in {dtype}", tolerance=1e-5, scale_floor=0)


@examples(120)
@given(conv_configs(transposed=False))
def test_conv_values_hypothesis(config):
    if convcalc_outcome(*config)[0] == "ok" and torch_outcome(*config)[0] == "ok":
        assert_forward_agrees(*config)


@examples(120)
@given(conv_configs(transposed=True))
def test_conv_transpose_values_hypothesis(config):
    if convcalc_outcome(*config)[0] == "ok" and torch_outcome(*config)[0] == "ok":
        assert_forward_agrees(*config)
