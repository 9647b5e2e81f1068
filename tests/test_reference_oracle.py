"""The naive reference (tests/reference.py) against torch, so that the torch-free checks of
test_reference_kernels stand on a reference that is itself right. Skipped without torch."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import reference as ref
from forward_compare import assert_close, assert_same_indices, sample
from strategies import examples, reference_adaptive, reference_convs, reference_pools, reference_transposed

torch = pytest.importorskip("torch")
torch.set_num_threads(1)
F = torch.nn.functional

pytestmark = [pytest.mark.oracle, pytest.mark.filterwarnings("ignore::RuntimeWarning")]

TORCH_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}


def T(a):
    return None if a is None else torch.from_numpy(np.ascontiguousarray(a))


def torch_conv(x, weight, bias, stride, padding, dilation, groups, padding_mode):
    """torch's conv: 'same' through the module (which pads as torch resolves it), (left, right)
    pairs through F.pad (last dim first) and an unpadded conv."""
    nd = x.ndim - 2
    if padding == "same":
        module = getattr(torch.nn, f"Conv{nd}d")(
            x.shape[1], weight.shape[0], weight.shape[2:], stride, "same", dilation, groups, bias is not None,
            padding_mode, dtype=T(x).dtype,
        )
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an even kernel's 'same' warns that it copies the input
            module.weight.copy_(T(weight))
            if bias is not None:
                module.bias.copy_(T(bias))
            return module(T(x)).numpy()
    flat = [side for left, right in reversed(padding) for side in (left, right)]
    padded = F.pad(T(x), flat, TORCH_PAD_MODES[padding_mode])
    return getattr(F, f"conv{nd}d")(padded, T(weight), T(bias), stride, 0, dilation, groups).numpy()


def operands(c):
    rng = np.random.default_rng(c["seed"])
    x = rng.standard_normal(c["shape"]).astype(c["dtype"])
    weight = rng.standard_normal(c["weight_shape"]).astype(c["dtype"])
    transposed = "output_padding" in c
    out_channels = c["weight_shape"][1] * c["groups"] if transposed else c["weight_shape"][0]
    return x, weight, rng.standard_normal(out_channels).astype(c["dtype"]) if c["bias"] else None


@examples(80)
@given(reference_convs())
def test_reference_conv_is_torchs(c):
    x, weight, bias = operands(c)
    args = (c["stride"], c["padding"], c["dilation"], c["groups"], c["padding_mode"])
    assert_close(ref.conv(x, weight, bias, *args), torch_conv(x, weight, bias, *args), str(c))


@examples(80)
@given(reference_transposed())
def test_reference_transposed_conv_is_torchs(c):
    x, weight, bias = operands(c)
    nd = x.ndim - 2
    want = getattr(F, f"conv_transpose{nd}d")(
        T(x), T(weight), T(bias), c["stride"], c["padding"], c["output_padding"], c["groups"], c["dilation"]
    ).numpy()
    assert_close(ref.conv_transpose(x, weight, bias, c["stride"], c["padding"], c["output_padding"],
                                    c["dilation"], c["groups"]), want, str(c))


def pool_input(c, positive=False):
    x = sample(np.random.default_rng(c["seed"]), c["shape"], c["dtype"], c["kind"])
    return np.abs(x) + x.dtype.type(0.5) if positive else x


@examples(80)
@given(reference_pools())
def test_reference_max_pool_is_torchs(c):
    x = pool_input(c)
    nd = x.ndim - 2
    args = (c["kernel"], c["stride"], c["padding"], c["dilation"], c["ceil_mode"])
    values, indices = getattr(F, f"max_pool{nd}d")(T(x), *args, return_indices=True)
    want_values, want_indices = ref.max_pool(x, *args)
    assert_close(want_values, values.numpy(), str(c), tolerance=0)
    assert_same_indices(want_indices, indices.numpy(), str(c))


@examples(80)
@given(reference_pools(dilation=False, average=True), st.booleans(), st.sampled_from([None, None, 1, 2, 5, -3]))
def test_reference_avg_pool_is_torchs(c, count_include_pad, divisor_override):
    x = pool_input(c)
    nd = x.ndim - 2
    args = (c["kernel"], c["stride"], c["padding"], c["ceil_mode"], count_include_pad)
    if nd == 1:  # avg_pool1d takes no divisor_override
        divisor_override = None
    extra = (divisor_override,) if nd > 1 else ()
    want = getattr(F, f"avg_pool{nd}d")(T(x), *args, *extra).numpy()
    assert_close(ref.avg_pool(x, *args, divisor_override), want, f"{c} {divisor_override}")


@examples(80)
@given(reference_pools(dilation=False, padding=False, average=True), st.sampled_from([1, 2, 3, 1.5, 0.5, 4, math.inf, -math.inf]))
def test_reference_lp_pool_is_torchs(c, norm_type):
    x = pool_input(c, positive=norm_type not in (2, 4))
    nd = x.ndim - 2
    kernel = c["kernel"][0] if nd == 1 else c["kernel"]  # lp_pool1d takes an int kernel only
    want = getattr(F, f"lp_pool{nd}d")(T(x), norm_type, kernel, c["stride"], c["ceil_mode"]).numpy()
    assert_close(ref.lp_pool(x, norm_type, c["kernel"], c["stride"], c["ceil_mode"]), want, f"{c} p={norm_type}")


@examples(80)
@given(reference_adaptive())
def test_reference_adaptive_pools_are_torchs(c):
    x = pool_input(c)
    nd = x.ndim - 2
    outs = c["output_size"]
    if nd == 1:  # the 1-d functions take neither None nor a tuple holding it
        outs = x.shape[2] if outs[0] is None else outs[0]
    assert_close(ref.adaptive_avg_pool(x, outs), getattr(F, f"adaptive_avg_pool{nd}d")(T(x), outs).numpy(), str(c))
    values, indices = getattr(F, f"adaptive_max_pool{nd}d")(T(x), outs, True)
    want_values, want_indices = ref.adaptive_max_pool(x, outs)
    assert_close(want_values, values.numpy(), str(c), tolerance=0)
    assert_same_indices(want_indices, indices.numpy(), str(c))


@pytest.mark.parametrize(
    "shape, args",
    [
        ((1, 1, 1), (2, 1, 1, 2, False)),  # the dilated taps miss the one cell: −inf at index 1
        ((1, 2, 2, 3), (2, 1, 1, (2, 1), False)),  # the same along the first dim only
        ((1, 1, 5), (3, 3, 1, 1, True)),  # ceil mode drops a window starting in the right padding
        ((2, 1, 3, 3), (3, 2, 1, 1, True)),
    ],
)
@pytest.mark.parametrize("kind", ["ties", "special"])
def test_reference_max_pool_edges_are_torchs(shape, args, kind):
    x = sample(np.random.default_rng(5), shape, np.float64, kind)
    values, indices = getattr(F, f"max_pool{len(shape) - 2}d")(T(x), *args, return_indices=True)
    want_values, want_indices = ref.max_pool(x, *args)
    assert_close(want_values, values.numpy(), str(args), tolerance=0)
    assert_same_indices(want_indices, indices.numpy(), str(args))
