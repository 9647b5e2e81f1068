"""Conv and ConvTranspose, 1-D to 3-D, against torch: accept/reject and every shape."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oracle import assert_agrees, torch
from strategies import examples, int_tuple

pytestmark = pytest.mark.oracle

RULES = [
    # (class, args, kwargs, input shape): one row per validity rule of torch's
    ("Conv2d", (3, 8, 5), {}, (1, 3, 32, 32)),
    ("Conv2d", (3, 8, 5), {}, (3, 32, 32)),  # unbatched
    ("Conv2d", (4, 8, 3), {"groups": 0}, (1, 4, 8, 8)),
    ("Conv2d", (4, 8, 3), {"groups": 3}, (1, 4, 8, 8)),
    ("Conv2d", (6, 8, 3), {"groups": 3}, (1, 6, 8, 8)),
    ("Conv2d", (4, 8, 3), {"groups": 2}, (1, 4, 8, 8)),
    ("Conv2d", (4, 8, 3), {"padding": "full"}, (1, 4, 8, 8)),
    ("Conv2d", (4, 8, 3), {"padding": "same", "stride": 2}, (1, 4, 8, 8)),
    ("Conv2d", (4, 8, 4), {"padding": "same"}, (1, 4, 8, 8)),
    ("Conv2d", (4, 8, 4), {"padding": "same", "dilation": 3}, (1, 4, 9, 9)),
    ("Conv2d", (4, 8, 3), {"padding": "valid"}, (1, 4, 8, 8)),
    ("Conv2d", (4, 8, 3), {"padding_mode": "mirror"}, (1, 4, 8, 8)),
    ("Conv2d", (4, 8, 0), {}, (1, 4, 8, 8)),
    ("Conv2d", (4, 8, 3), {"stride": 0}, (1, 4, 8, 8)),
    ("Conv2d", (4, 8, 3), {"dilation": 0}, (1, 4, 8, 8)),
    ("Conv2d", (4, 8, 3), {"padding": -1}, (1, 4, 8, 8)),
    ("Conv2d", (4, 0, 3), {}, (1, 4, 8, 8)),
    ("Conv2d", (4, 8, 3), {}, (4, 8)),  # too few dims
    ("Conv2d", (4, 8, 3), {}, (1, 1, 4, 8, 8)),  # too many dims
    ("Conv2d", (4, 8, 3), {}, (1, 5, 8, 8)),  # channel mismatch
    ("Conv1d", (4, 8, 3), {}, (1, 10, 4)),  # channels-last 1-D input
    ("Conv2d", (4, 8, 5), {}, (1, 4, 4, 8)),  # kernel larger than input
    ("Conv2d", (4, 8, 5), {"padding": 1}, (1, 4, 3, 8)),
    ("Conv2d", (4, 8, 3), {"dilation": 4}, (1, 4, 8, 8)),
    ("Conv2d", (4, 8, (3,)), {}, (1, 4, 8, 8)),  # 1-tuple kernel is not expanded
    ("Conv2d", (4, 8, (3, 3, 3)), {}, (1, 4, 8, 8)),
    ("Conv2d", (4, 8, 3), {"stride": (2,)}, (1, 4, 8, 8)),  # 1-tuple stride is expanded
    ("Conv2d", (4, 8, 3), {"stride": (2, 1, 1)}, (1, 4, 8, 8)),
    ("Conv2d", (4, 8, 3), {"padding": 4, "padding_mode": "reflect"}, (1, 4, 4, 8)),
    ("Conv2d", (4, 8, 3), {"padding": 3, "padding_mode": "reflect"}, (1, 4, 4, 8)),
    ("Conv2d", (4, 8, 3), {"padding": 4, "padding_mode": "circular"}, (1, 4, 4, 8)),
    ("Conv2d", (4, 8, 3), {"padding": 5, "padding_mode": "circular"}, (1, 4, 4, 8)),
    ("Conv2d", (4, 8, 3), {"padding": 9, "padding_mode": "replicate"}, (1, 4, 4, 8)),
    ("Conv2d", (4, 8, 4), {"padding": "same", "padding_mode": "reflect"}, (1, 4, 8, 8)),
    ("Conv3d", (2, 4, (1, 3, 3)), {"stride": (1, 2, 2), "bias": False}, (2, 2, 4, 16, 16)),
    ("Conv1d", (2, 4, 3), {"padding": "same", "padding_mode": "circular"}, (2, 8)),
    ("ConvTranspose2d", (16, 8, 4), {"stride": 2, "padding": 1}, (1, 16, 16, 16)),
    ("ConvTranspose2d", (16, 8, 4), {"stride": 2, "padding": 1, "groups": 4}, (1, 16, 16, 16)),
    ("ConvTranspose2d", (16, 8, 3), {"stride": 2, "output_padding": 1}, (1, 16, 5, 5)),
    ("ConvTranspose2d", (16, 8, 3), {"stride": 2, "output_padding": 2}, (1, 16, 5, 5)),
    ("ConvTranspose2d", (16, 8, 3), {"stride": 1, "dilation": 2, "output_padding": 1}, (1, 16, 5, 5)),
    ("ConvTranspose2d", (16, 8, 3), {"padding_mode": "reflect"}, (1, 16, 5, 5)),
    ("ConvTranspose2d", (16, 8, 3), {"padding": "same"}, (1, 16, 5, 5)),
    ("ConvTranspose2d", (16, 8, 1), {"padding": 1}, (1, 16, 1, 1)),  # output size < 1
    ("ConvTranspose2d", (16, 8, 9), {}, (1, 16, 2, 2)),  # kernel larger than input is fine
    ("ConvTranspose1d", (4, 6, 3), {"groups": 4}, (1, 4, 5)),
    ("ConvTranspose3d", (2, 2, 3), {"stride": 2}, (2, 3, 3, 3)),
]


@pytest.mark.parametrize("name,args,kwargs,shape", RULES)
def test_rule_table(name, args, kwargs, shape):
    assert_agrees(name, args, kwargs, shape)


@pytest.mark.parametrize(
    "output_size",
    [(9, 9), (10, 10), (11, 11), (8, 8), (12, 12), (1, 3, 10, 9), (3, 10, 10), (10,), (10, 9, 9)],
)
def test_transposed_output_size(output_size):
    assert_agrees("ConvTranspose2d", (2, 3, 3), {"stride": 2}, (1, 2, 4, 4), {"output_size": output_size})


def test_transposed_output_size_ignores_dilation_in_range():
    # min = 3·2 + 2·2 + 1 = 11; PyTorch allows up to min + stride − 1 = 12 whatever the dilation.
    for size in (10, 11, 12, 13, 14):
        assert_agrees("ConvTranspose1d", (1, 1, 3), {"stride": 2, "dilation": 2}, (1, 1, 4), {"output_size": (size,)})


def _tuple_or_int(draw, nd, lo, hi):
    if draw(st.booleans()):
        return draw(st.integers(lo, hi))
    return int_tuple(draw, nd, lo, hi)


@st.composite
def conv_configs(draw, transposed: bool):
    nd = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin = groups * draw(st.integers(1, 3))
    cout = groups * draw(st.integers(1, 3))
    kwargs = {
        "stride": _tuple_or_int(draw, nd, 0 if draw(st.integers(0, 30)) == 0 else 1, 3),
        "dilation": _tuple_or_int(draw, nd, 1, 3),
        "groups": groups,
        "bias": draw(st.booleans()),
    }
    kernel = _tuple_or_int(draw, nd, 1, 5)
    if transposed:
        kwargs["padding"] = _tuple_or_int(draw, nd, 0, 3)
        kwargs["output_padding"] = _tuple_or_int(draw, nd, 0, 2)
    else:
        kwargs["padding"] = draw(
            st.one_of(st.just("same"), st.just("valid"), st.builds(lambda: _tuple_or_int(draw, nd, 0, 3)))
        )
        kwargs["padding_mode"] = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    batched = draw(st.booleans())
    spatial = int_tuple(draw, nd, 1, 9)
    channels = cin if draw(st.integers(0, 10)) else cin + 1
    shape = ((draw(st.integers(1, 2)),) if batched else ()) + (channels,) + spatial
    name = ("ConvTranspose" if transposed else "Conv") + f"{nd}d"
    return name, (cin, cout, kernel), kwargs, shape


@examples(300)
@given(conv_configs(transposed=False))
def test_conv_hypothesis(config):
    assert_agrees(*config)


@examples(300)
@given(conv_configs(transposed=True))
def test_conv_transpose_hypothesis(config):
    assert_agrees(*config)


@examples(200)
@given(st.booleans().flatmap(lambda transposed: conv_configs(transposed=transposed)))
def test_conv_flops_match_torch_flop_counter(config):
    # torch counts 2 FLOPs per multiply-accumulate of a (transposed) conv and leaves the bias out.
    from torch.utils.flop_counter import FlopCounterMode

    import convcalc
    from oracle import convcalc_outcome, torch_outcome

    name, args, kwargs, shape = config
    if convcalc_outcome(*config)[0] != "ok" or torch_outcome(*config)[0] != "ok":
        return
    module = getattr(torch.nn, name)(*args, **kwargs)
    with FlopCounterMode(display=False) as counter:
        module(torch.zeros(shape))
    assert 2 * getattr(convcalc, name)(*args, **kwargs).macs(shape) == counter.get_total_flops()


@pytest.mark.parametrize("output_size", [(17, 17), (4, 17, 17), (1, 4, 17, 17), (18, 18)])
def test_transposed_output_size_unbatched(output_size):
    assert_agrees("ConvTranspose2d", (4, 4, 3), {"stride": 2}, (4, 8, 8), {"output_size": output_size})
