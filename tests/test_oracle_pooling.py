"""Max, average, power-average, unpool and adaptive pools, 1-D to 3-D, against torch."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oracle import assert_agrees
from strategies import examples, int_tuple

import torch  # noqa: E402 - after oracle, which skips the module when torch is absent

import convcalc  # noqa: E402

pytestmark = pytest.mark.oracle

INF = float("inf")

RULES = [
    # (class, args, kwargs, input shape): one row per validity rule of torch's and per
    # behaviour found by probing torch 2.13.
    # MaxPool: shapes, dims, batched and unbatched
    ("MaxPool2d", (2,), {}, (1, 3, 8, 8)),
    ("MaxPool2d", (2,), {}, (3, 8, 8)),
    ("MaxPool1d", (3,), {}, (4, 9)),
    ("MaxPool3d", (2,), {}, (2, 5, 5, 5)),
    ("MaxPool1d", (3,), {}, (5,)),
    ("MaxPool1d", (3,), {}, (1, 1, 1, 5)),
    ("MaxPool2d", (3,), {}, (5, 5)),
    ("MaxPool2d", (3,), {}, (1, 1, 1, 5, 5)),
    ("MaxPool3d", (1,), {}, (5, 5, 5)),
    ("MaxPool3d", (1,), {}, (1, 1, 1, 5, 5, 5)),
    # MaxPool: k, s, d >= 1; stride None or () means kernel_size
    ("MaxPool2d", (0,), {}, (1, 1, 8, 8)),
    ("MaxPool2d", (0,), {"stride": 1}, (1, 1, 8, 8)),
    ("MaxPool1d", (-1,), {"stride": 1}, (1, 1, 8)),
    ("MaxPool2d", (3,), {"stride": 0}, (1, 1, 8, 8)),
    ("MaxPool1d", (3,), {"stride": -1}, (1, 1, 8)),
    ("MaxPool2d", (3,), {"dilation": 0}, (1, 1, 8, 8)),
    ("MaxPool3d", (3,), {"stride": ()}, (1, 1, 8, 8, 8)),
    ("MaxPool1d", (3,), {"stride": ()}, (1, 1, 8)),
    # MaxPool: 0 <= p <= k // 2, dilation does not relax it
    ("MaxPool2d", (3,), {"padding": -1}, (1, 1, 8, 8)),
    ("MaxPool2d", (3,), {"padding": 1}, (1, 1, 8, 8)),
    ("MaxPool2d", (3,), {"padding": 2}, (1, 1, 8, 8)),
    ("MaxPool1d", (3,), {"padding": 2}, (1, 1, 8)),
    ("MaxPool3d", (3,), {"padding": 2}, (1, 1, 8, 8, 8)),
    ("MaxPool2d", (4,), {"padding": 2}, (1, 1, 8, 8)),
    ("MaxPool2d", (3,), {"padding": 2, "dilation": 3}, (1, 1, 8, 8)),
    ("MaxPool2d", ((3, 4),), {"padding": (1, 2)}, (1, 1, 8, 8)),
    ("MaxPool2d", ((3, 4),), {"padding": (2, 1)}, (1, 1, 8, 8)),
    # MaxPool: out >= 1, ceil mode and its last-window correction
    ("MaxPool2d", (5,), {}, (1, 1, 4, 8)),
    ("MaxPool2d", (5,), {"padding": 1}, (1, 1, 3, 8)),
    ("MaxPool1d", (3,), {"dilation": 2}, (1, 1, 4)),
    ("MaxPool1d", (3,), {"dilation": 2, "padding": 1}, (1, 1, 3)),
    ("MaxPool1d", (3,), {"stride": 3, "padding": 1, "ceil_mode": True}, (1, 5)),
    ("MaxPool1d", (3,), {"stride": 3, "padding": 1, "ceil_mode": False}, (1, 5)),
    ("MaxPool2d", (3,), {"stride": 2, "ceil_mode": True}, (1, 1, 8, 2)),
    ("MaxPool3d", (3,), {"stride": 2, "ceil_mode": True}, (1, 1, 2, 8, 8)),
    ("MaxPool1d", (2,), {"stride": 2, "ceil_mode": True}, (1, 1, 5)),
    ("MaxPool1d", (2,), {"dilation": 5, "padding": 1}, (1, 1, 4)),  # a window of padding only
    # MaxPool: tuple arguments (1 or nd entries; a 1-tuple is expanded)
    ("MaxPool2d", ((3,),), {}, (1, 1, 8, 8)),
    ("MaxPool2d", ((3, 2, 1),), {}, (1, 1, 8, 8)),
    ("MaxPool2d", ((),), {}, (1, 1, 8, 8)),
    ("MaxPool1d", ((3,),), {}, (1, 1, 8)),
    ("MaxPool1d", ((3, 2),), {}, (1, 1, 8)),
    ("MaxPool3d", ((3, 3),), {}, (1, 1, 8, 8, 8)),
    ("MaxPool3d", (3,), {"stride": (1, 2)}, (1, 1, 8, 8, 8)),
    ("MaxPool2d", (3,), {"padding": (1,)}, (1, 1, 8, 8)),
    ("MaxPool2d", (3,), {"padding": (1, 1, 1)}, (1, 1, 8, 8)),
    ("MaxPool2d", (3,), {"padding": ()}, (1, 1, 8, 8)),
    ("MaxPool2d", (3,), {"dilation": (2,)}, (1, 1, 8, 8)),
    ("MaxPool2d", (3,), {"dilation": (1, 1, 1)}, (1, 1, 8, 8)),
    ("MaxPool2d", (2.0,), {}, (1, 1, 8, 8)),
    ("MaxPool2d", (3,), {"return_indices": True}, (1, 1, 8, 8)),
    # AvgPool: the MaxPool rules with d = 1
    ("AvgPool1d", (3,), {}, (2, 8)),
    ("AvgPool1d", (3,), {}, (8,)),
    ("AvgPool1d", (3,), {}, (1, 1, 1, 8)),
    ("AvgPool2d", (3,), {}, (2, 8, 8)),
    ("AvgPool2d", (3,), {}, (8, 8)),
    ("AvgPool2d", (3,), {}, (1, 1, 1, 8, 8)),
    ("AvgPool3d", (3,), {}, (8, 8, 8)),
    ("AvgPool1d", (0,), {"stride": 1}, (1, 1, 8)),
    ("AvgPool3d", (0,), {"stride": 1}, (1, 1, 8, 8, 8)),
    ("AvgPool2d", (3,), {"stride": 0}, (1, 1, 8, 8)),
    ("AvgPool1d", (3,), {"stride": -1}, (1, 1, 8)),
    ("AvgPool2d", (3,), {"stride": ()}, (1, 1, 8, 8)),
    ("AvgPool1d", (3,), {"padding": -1}, (1, 1, 8)),
    ("AvgPool1d", (3,), {"padding": 2}, (1, 1, 8)),
    ("AvgPool2d", (3,), {"padding": 2}, (1, 1, 8, 8)),
    ("AvgPool3d", (3,), {"padding": 2}, (1, 1, 8, 8, 8)),
    ("AvgPool2d", (5,), {}, (1, 1, 4, 8)),
    ("AvgPool1d", (3,), {"padding": 1}, (1, 1, 2)),
    ("AvgPool2d", (3,), {"padding": 1}, (1, 1, 2, 8)),  # 2-D: smaller than the kernel is fine
    ("AvgPool2d", (3,), {"stride": 3, "padding": 1, "ceil_mode": True}, (1, 1, 5, 5)),
    ("AvgPool1d", ((3, 3),), {}, (1, 1, 8)),
    ("AvgPool1d", (3,), {"padding": (1, 1)}, (1, 1, 8)),
    ("AvgPool2d", ((3,),), {"stride": (1,)}, (1, 1, 8, 8)),
    ("AvgPool3d", ((3, 3),), {}, (1, 1, 8, 8, 8)),
    # AvgPool: divisor_override != 0 (negative is fine)
    ("AvgPool2d", (3,), {"divisor_override": 0}, (1, 1, 8, 8)),
    ("AvgPool3d", (3,), {"divisor_override": 0}, (1, 1, 8, 8, 8)),
    ("AvgPool2d", (3,), {"divisor_override": -2}, (1, 1, 8, 8)),
    ("AvgPool3d", (3,), {"divisor_override": 5}, (1, 1, 8, 8, 8)),
    # AvgPool3d: every input dim >= k, padding or not, ceil mode or not
    ("AvgPool3d", (3,), {}, (1, 1, 2, 8, 8)),
    ("AvgPool3d", (3,), {"padding": 1}, (1, 1, 2, 8, 8)),
    ("AvgPool3d", (3,), {"padding": 1}, (1, 1, 3, 8, 8)),
    ("AvgPool3d", (3,), {"stride": 2, "ceil_mode": True}, (1, 1, 2, 8, 8)),
    ("AvgPool3d", ((1, 3, 3),), {"padding": (0, 1, 1)}, (1, 1, 1, 3, 2)),
    # LPPool: an avg pool of x^p with padding 0, or a max pool of |x| when p = ±inf
    ("LPPool2d", (2, 3), {}, (1, 1, 8, 8)),
    ("LPPool2d", (0, 3), {}, (1, 1, 8, 8)),
    ("LPPool1d", (0.0, 3), {}, (1, 8)),
    ("LPPool2d", (-1, 3), {}, (1, 1, 8, 8)),
    ("LPPool2d", (0.5, 3), {}, (1, 1, 8, 8)),
    ("LPPool2d", (INF, 3), {}, (1, 1, 8, 8)),
    ("LPPool2d", (-INF, 3), {}, (1, 1, 8, 8)),
    ("LPPool1d", (2, 3), {}, (1, 8)),
    ("LPPool1d", (2, 3), {}, (8,)),
    ("LPPool1d", (2, 3), {}, (1, 1, 1, 8)),
    ("LPPool2d", (2, 3), {}, (8, 8)),
    ("LPPool2d", (INF, 3), {}, (8, 8)),
    ("LPPool3d", (2, 3), {}, (1, 8, 8, 8)),
    ("LPPool3d", (2, 3), {}, (8, 8, 8)),
    ("LPPool1d", (2, (3,)), {}, (1, 1, 8)),  # the average is multiplied by the kernel: an int
    ("LPPool1d", (INF, (3,)), {}, (1, 1, 8)),
    ("LPPool1d", (2, 3), {"stride": (2,)}, (1, 1, 8)),
    ("LPPool1d", (2, (3, 3)), {}, (1, 1, 8)),
    ("LPPool2d", (2, (3,)), {}, (1, 1, 8, 8)),  # kernel unpacked into exactly nd ints
    ("LPPool2d", (INF, (3,)), {}, (1, 1, 8, 8)),
    ("LPPool2d", (2, (3, 2)), {}, (1, 1, 8, 8)),
    ("LPPool2d", (2, 3), {"stride": (2,)}, (1, 1, 8, 8)),
    ("LPPool2d", (2, 3), {"stride": (1, 2, 3)}, (1, 1, 8, 8)),
    ("LPPool3d", (2, (3, 3)), {}, (1, 1, 8, 8, 8)),
    ("LPPool3d", (2, (3, 3, 2)), {}, (1, 1, 8, 8, 8)),
    ("LPPool2d", (2, 3), {"stride": ()}, (1, 1, 8, 8)),
    ("LPPool1d", (2, 3), {"stride": 0}, (1, 1, 8)),
    ("LPPool2d", (2, 0), {"stride": 1}, (1, 1, 8, 8)),
    ("LPPool2d", (2, 3), {"ceil_mode": True}, (1, 1, 2, 8)),
    ("LPPool1d", (2, 3), {"ceil_mode": True}, (1, 1, 2)),
    ("LPPool1d", (2, 3), {}, (1, 1, 2)),
    ("LPPool3d", (2, 3), {"stride": 1}, (1, 1, 2, 8, 8)),  # AvgPool3d's input >= k rule
    ("LPPool3d", (2, 3), {"stride": 2, "ceil_mode": True}, (1, 1, 2, 8, 8)),
    ("LPPool3d", (INF, 3), {"stride": 2, "ceil_mode": True}, (1, 1, 2, 8, 8)),  # max pool: no rule
]


@pytest.mark.parametrize("name,args,kwargs,shape", RULES)
def test_rule_table(name, args, kwargs, shape):
    assert_agrees(name, args, kwargs, shape)


def _unpool_forward(shape, output_size="absent", index_shape=None):
    forward = {"indices": torch.zeros(index_shape or shape, dtype=torch.long)}
    if output_size != "absent":
        forward["output_size"] = output_size
    return forward


UNPOOL_RULES = [
    # (class, args, kwargs, input shape, output_size or "absent", indices shape or None)
    ("MaxUnpool2d", (2,), {}, (1, 1, 4, 4), "absent", None),
    ("MaxUnpool2d", (2,), {}, (1, 4, 4), "absent", None),
    ("MaxUnpool2d", (2,), {}, (4, 4), "absent", None),
    ("MaxUnpool2d", (2,), {}, (1, 1, 1, 4, 4), "absent", None),
    ("MaxUnpool1d", (2,), {}, (1, 4), "absent", None),
    ("MaxUnpool1d", (2,), {}, (4,), "absent", None),
    ("MaxUnpool1d", (2,), {}, (1, 1, 1, 4), "absent", None),
    ("MaxUnpool3d", (2,), {}, (1, 4, 4, 4), "absent", None),
    ("MaxUnpool3d", (2,), {}, (4, 4, 4), "absent", None),
    ("MaxUnpool2d", (3,), {"stride": 2, "padding": 1}, (1, 1, 4, 5), "absent", None),
    # kernel, stride and padding only set the default size: PyTorch checks little of them
    ("MaxUnpool2d", (0,), {}, (1, 1, 4, 4), "absent", None),  # empty output
    ("MaxUnpool2d", (0,), {"stride": 1}, (1, 1, 4, 4), "absent", None),
    ("MaxUnpool1d", (-1,), {"stride": 2}, (1, 1, 4), "absent", None),
    ("MaxUnpool2d", (2,), {"stride": 0}, (1, 1, 4, 4), "absent", None),
    ("MaxUnpool2d", (2,), {"stride": -1}, (1, 1, 4, 4), "absent", None),
    ("MaxUnpool2d", (2,), {"stride": -1}, (1, 1, 1, 1), "absent", None),
    ("MaxUnpool3d", (2,), {"stride": 0}, (1, 1, 4, 4, 4), "absent", None),
    ("MaxUnpool3d", (0,), {}, (1, 1, 4, 4, 4), "absent", None),
    ("MaxUnpool3d", (0,), {"stride": 1}, (1, 1, 4, 4, 4), "absent", None),
    ("MaxUnpool2d", (2,), {"padding": -1}, (1, 1, 4, 4), "absent", None),
    ("MaxUnpool3d", (2,), {"padding": 3}, (1, 1, 4, 4, 4), "absent", None),
    ("MaxUnpool2d", (2,), {"padding": 4}, (1, 1, 4, 4), "absent", None),  # size 0
    ("MaxUnpool2d", (2,), {"padding": 5}, (1, 1, 4, 4), "absent", None),  # negative size
    # tuple arguments: one int or exactly nd entries
    ("MaxUnpool2d", ((2,),), {}, (1, 1, 4, 4), "absent", None),
    ("MaxUnpool2d", ((2, 3, 4),), {}, (1, 1, 4, 4), "absent", None),
    ("MaxUnpool2d", ((2, 3),), {}, (1, 1, 4, 4), "absent", None),
    ("MaxUnpool2d", ((2, 3),), {"stride": ()}, (1, 1, 4, 4), "absent", None),
    ("MaxUnpool2d", (2,), {"stride": (1,)}, (1, 1, 4, 4), "absent", None),
    ("MaxUnpool2d", (2,), {"padding": (1,)}, (1, 1, 4, 4), "absent", None),
    ("MaxUnpool1d", ((2,),), {}, (1, 1, 4), "absent", None),
    ("MaxUnpool1d", ((2, 3),), {}, (1, 1, 4), "absent", None),
    ("MaxUnpool3d", ((2, 3),), {}, (1, 1, 4, 4, 4), "absent", None),
    ("MaxUnpool1d", (2,), {"stride": (2, 3)}, (1, 1, 4), "absent", None),  # 1-d, 2-d: extras unread
    ("MaxUnpool2d", (2,), {"padding": (1, 1, 1, 1)}, (1, 1, 4, 4), "absent", None),
    ("MaxUnpool3d", (2,), {"stride": (2, 2, 2, 2)}, (1, 1, 4, 4, 4), "absent", None),
    ("MaxUnpool3d", (2,), {"padding": (0, 0, 0, 0)}, (1, 1, 4, 4, 4), "absent", None),
    ("MaxUnpool1d", (2,), {"padding": ()}, (1, 1, 4), "absent", None),
    # output_size: nd or nd+2 entries, strictly between default − s and default + s
    ("MaxUnpool2d", (2,), {}, (1, 1, 4, 4), (7, 7), None),
    ("MaxUnpool2d", (2,), {}, (1, 1, 4, 4), (8, 9), None),
    ("MaxUnpool2d", (2,), {}, (1, 1, 4, 4), (6, 8), None),
    ("MaxUnpool2d", (2,), {}, (1, 1, 4, 4), (8, 10), None),
    ("MaxUnpool2d", (2,), {}, (1, 1, 4, 4), (5, 7, 9, 9), None),  # leading entries ignored
    ("MaxUnpool2d", (2,), {}, (1, 4, 4), (5, 7, 9, 9), None),
    ("MaxUnpool2d", (2,), {}, (1, 4, 4), (1, 9, 9), None),  # nd+1 is refused even unbatched
    ("MaxUnpool2d", (2,), {}, (1, 1, 4, 4), (9,), None),
    ("MaxUnpool2d", (2,), {}, (1, 1, 4, 4), [9, 9], None),
    ("MaxUnpool1d", (2,), {}, (1, 1, 2), (3,), None),
    ("MaxUnpool1d", (2,), {}, (1, 2), (1, 1, 4), None),
    ("MaxUnpool1d", (2,), {}, (1, 2), (1, 4), None),
    ("MaxUnpool3d", (2,), {}, (1, 4, 4, 4), (1, 8, 8, 8), None),
    ("MaxUnpool3d", (2,), {}, (1, 1, 4, 4, 4), (9, 9, 7), None),
    ("MaxUnpool1d", (1,), {"stride": 1}, (1, 1, 1), (0,), None),
    ("MaxUnpool1d", (2,), {"padding": 1}, (1, 1, 2), (1,), None),  # default 2, so 1 reachable
    ("MaxUnpool2d", (1,), {"stride": 1}, (1, 1, 4, 4), (4, 5), None),
    ("MaxUnpool2d", (2,), {"stride": 0}, (1, 1, 4, 4), (2, 2), None),
    # indices must have the input's shape
    ("MaxUnpool2d", (2,), {}, (1, 1, 4, 4), "absent", (1, 1, 4, 5)),
    ("MaxUnpool2d", (2,), {}, (1, 1, 4, 4), "absent", (1, 4, 4)),
]


@pytest.mark.parametrize("name,args,kwargs,shape,output_size,index_shape", UNPOOL_RULES)
def test_unpool_rule_table(name, args, kwargs, shape, output_size, index_shape):
    assert_agrees(name, args, kwargs, shape, _unpool_forward(shape, output_size, index_shape))


ADAPTIVE_RULES = [
    # (class, output_size, input shape): out = output_size, None keeps a dim, 0 allowed
    ("AdaptiveAvgPool1d", 3, (1, 2, 5)),
    ("AdaptiveAvgPool1d", 3, (2, 5)),
    ("AdaptiveAvgPool1d", 3, (5,)),
    ("AdaptiveAvgPool1d", 3, (1, 1, 1, 5)),
    ("AdaptiveAvgPool1d", 30, (1, 1, 5)),
    ("AdaptiveAvgPool1d", 0, (1, 2, 5)),
    ("AdaptiveAvgPool1d", (0,), (1, 2, 5)),
    ("AdaptiveAvgPool1d", -1, (1, 2, 5)),
    ("AdaptiveAvgPool1d", None, (1, 2, 5)),
    ("AdaptiveAvgPool1d", (None,), (1, 2, 5)),
    ("AdaptiveAvgPool1d", (3,), (1, 2, 5)),
    ("AdaptiveAvgPool1d", [3], (1, 2, 5)),
    ("AdaptiveAvgPool1d", (3, 3), (1, 2, 5)),
    ("AdaptiveAvgPool1d", (), (1, 2, 5)),
    ("AdaptiveAvgPool1d", 3.0, (1, 2, 5)),
    ("AdaptiveMaxPool1d", 3, (2, 5)),
    ("AdaptiveMaxPool1d", -1, (1, 2, 5)),
    ("AdaptiveMaxPool1d", (None,), (1, 2, 5)),
    ("AdaptiveMaxPool1d", 0, (1, 2, 5)),
    ("AdaptiveAvgPool2d", 3, (1, 2, 5, 6)),
    ("AdaptiveAvgPool2d", 3, (2, 5, 6)),
    ("AdaptiveAvgPool2d", 3, (5, 6)),
    ("AdaptiveAvgPool2d", 3, (1, 1, 1, 5, 6)),
    ("AdaptiveAvgPool2d", 0, (1, 2, 5, 6)),
    ("AdaptiveAvgPool2d", (0, 3), (1, 2, 5, 6)),
    ("AdaptiveAvgPool2d", -1, (1, 2, 5, 6)),
    ("AdaptiveAvgPool2d", (3, -1), (1, 2, 5, 6)),
    ("AdaptiveAvgPool2d", None, (1, 2, 5, 6)),
    ("AdaptiveAvgPool2d", (None, 3), (1, 2, 5, 6)),
    ("AdaptiveAvgPool2d", (None, None), (2, 5, 6)),
    ("AdaptiveAvgPool2d", (None, 3), (5, 6)),
    ("AdaptiveAvgPool2d", (3,), (1, 2, 5, 6)),  # a 1-tuple is not expanded
    ("AdaptiveAvgPool2d", (None,), (1, 2, 5, 6)),
    ("AdaptiveAvgPool2d", (3, 3, 3), (1, 2, 5, 6)),
    ("AdaptiveAvgPool2d", (2, None, None), (1, 2, 5, 6)),
    ("AdaptiveAvgPool2d", (9, 13), (1, 2, 5, 6)),  # larger than the input
    ("AdaptiveMaxPool2d", (None, 3), (2, 5, 6)),
    ("AdaptiveMaxPool2d", (3,), (1, 2, 5, 6)),
    ("AdaptiveMaxPool2d", (3, -1), (1, 2, 5, 6)),
    ("AdaptiveMaxPool2d", (0, 3), (1, 2, 5, 6)),
    ("AdaptiveMaxPool2d", 3, (5, 6)),
    ("AdaptiveAvgPool3d", (None, 3, None), (2, 5, 6, 7)),
    ("AdaptiveAvgPool3d", (0, 3, 3), (1, 2, 5, 6, 7)),
    ("AdaptiveAvgPool3d", (3, 3), (1, 2, 5, 6, 7)),
    ("AdaptiveAvgPool3d", (3, 3, 3, 3), (1, 2, 5, 6, 7)),
    ("AdaptiveAvgPool3d", 3, (5, 6, 7)),
    ("AdaptiveMaxPool3d", 1, (1, 2, 5, 6, 7)),
    ("AdaptiveMaxPool3d", -1, (1, 2, 5, 6, 7)),
    ("AdaptiveMaxPool3d", (None, None), (1, 2, 5, 6, 7)),
    ("AdaptiveMaxPool3d", (1, None, 0), (2, 5, 6, 7)),
    # an all-ones average takes PyTorch's mean shortcut: any rank from nd (nd+1 for a tuple)
    ("AdaptiveAvgPool2d", 1, (5, 6)),
    ("AdaptiveAvgPool2d", 1, (1, 1, 2, 5, 6)),
    ("AdaptiveAvgPool2d", 1, (5,)),
    ("AdaptiveAvgPool2d", (1, 1), (5, 6)),
    ("AdaptiveAvgPool2d", (1, 1), (1, 1, 1, 2, 5, 6)),
    ("AdaptiveAvgPool2d", (1, None), (1, 1, 2, 5, 1)),
    ("AdaptiveAvgPool2d", (1, None), (1, 1, 2, 5, 6)),
    ("AdaptiveAvgPool3d", 1, (2, 5, 6)),
    ("AdaptiveAvgPool3d", 1, (5, 6)),
    ("AdaptiveAvgPool3d", (1, 1, 1), (2, 5, 6)),
    ("AdaptiveAvgPool3d", (1, 1, 1), (1, 1, 2, 5, 6, 7)),
    ("AdaptiveAvgPool1d", 1, (1, 1, 5, 6)),
    ("AdaptiveMaxPool2d", 1, (5, 6)),
    ("AdaptiveMaxPool3d", 1, (1, 1, 2, 5, 6, 7)),
]


def _explicit_zero(output_size) -> bool:
    sizes = output_size if isinstance(output_size, (tuple, list)) else (output_size,)
    return 0 in sizes


@pytest.mark.parametrize("name,output_size,shape", ADAPTIVE_RULES)
def test_adaptive_rule_table(name, output_size, shape):
    assert_agrees(name, (output_size,), {}, shape, allow_empty=_explicit_zero(output_size))


def test_adaptive_max_return_indices():
    assert_agrees("AdaptiveMaxPool2d", ((2, 3), True), {}, (1, 4, 7, 7))


# -- repr: the same text torch prints ------------------------------------------------------

REPRS = [
    ("MaxPool2d", (2,), {}),
    ("MaxPool2d", ((2, 3),), {"padding": (1, 0), "ceil_mode": True}),
    ("MaxPool1d", (3, 2, 1, 2), {"return_indices": True}),
    ("MaxPool3d", ((3,),), {"stride": ()}),
    ("AvgPool1d", (3,), {}),
    ("AvgPool1d", ((3,),), {"stride": 2, "padding": 1}),
    ("AvgPool2d", (2,), {"count_include_pad": False}),
    ("AvgPool3d", ((1, 2, 2),), {"stride": 1, "divisor_override": 3}),
    ("LPPool1d", (2, 3), {}),
    ("LPPool2d", (2.0, (3, 2), 1), {"ceil_mode": True}),
    ("LPPool3d", (INF, 2), {}),
    ("MaxUnpool1d", (2,), {}),
    ("MaxUnpool2d", ((2, 3),), {"padding": 1}),
    ("MaxUnpool3d", (2, 1), {}),
    ("AdaptiveAvgPool1d", (3,), {}),
    ("AdaptiveAvgPool2d", ((None, 7),), {}),
    ("AdaptiveMaxPool2d", (7, True), {}),
    ("AdaptiveMaxPool3d", ((1, None, 2),), {}),
]


@pytest.mark.parametrize("name,args,kwargs", REPRS)
def test_repr_matches_torch(name, args, kwargs):
    assert repr(getattr(convcalc, name)(*args, **kwargs)) == repr(getattr(torch.nn, name)(*args, **kwargs))


# -- the average pool's divisor, read back from torch on an all-ones input -----------------


@st.composite
def avg_divisor_configs(draw):
    nd = draw(st.integers(1, 2))
    kernel = int_tuple(draw, nd, 1, 4)
    kwargs = {
        "stride": int_tuple(draw, nd, 1, 3),
        "padding": int_tuple(draw, nd, 0, [k // 2 for k in kernel]),
        "ceil_mode": draw(st.booleans()),
        "count_include_pad": draw(st.booleans()),
    }
    if nd == 2 and draw(st.integers(0, 4)) == 0:
        kwargs["divisor_override"] = draw(st.sampled_from([-3, 1, 5]))
    spatial = int_tuple(draw, nd, kernel, [k + 6 for k in kernel])
    return f"AvgPool{nd}d", kernel, kwargs, spatial


@examples(150, suppress=())
@given(avg_divisor_configs())
def test_avg_divisor_matches_torch(config):
    name, kernel, kwargs, spatial = config
    pool = getattr(convcalc, name)(kernel, **kwargs)
    out = getattr(torch.nn, name)(kernel, **kwargs)(torch.ones((1, *spatial), dtype=torch.float64))[0]
    for index in torch.cartesian_prod(*(torch.arange(n) for n in out.shape)).reshape(-1, len(spatial)):
        index = tuple(int(i) for i in index)
        # an all-ones window sums to the input cells it covers, counted here by brute force
        covered = math.prod(
            len(range(max(o * s - p, 0), min(o * s - p + k, size)))
            for o, s, p, k, size in zip(index, pool.stride, pool.padding, pool.kernel_size, spatial)
        )
        assert covered / pool.divisor(index, spatial) == pytest.approx(float(out[index])), (config, index)


# -- Hypothesis: valid and invalid configurations of every family --------------------------


def _size_arg(draw, nd, lo, hi, bad=()):
    """An int or a tuple for a size argument: mostly valid, sometimes a bad value or length."""

    def value():
        if bad and draw(st.integers(0, 20)) == 7:  # not a bound, which Hypothesis favours
            return draw(st.sampled_from(bad))
        return draw(st.sampled_from(range(lo, hi + 1)))  # uniform: integers() favours bounds

    kind = draw(st.sampled_from(["int"] * 6 + ["tuple"] * 4 + ["one", "wrong"]))
    if kind == "int":
        return value()
    if kind == "one":
        return (value(),)
    length = nd if kind == "tuple" else draw(st.sampled_from([n for n in (0, 2, 3, 4) if n != nd]))
    return tuple(value() for _ in range(length))


def _stride(draw, nd, lo=1, hi=3, bad=(0, -1)):
    choice = draw(st.integers(0, 9))
    if choice < 3:
        return None
    if choice == 3:
        return ()
    return _size_arg(draw, nd, lo, hi, bad)


def _input_shape(draw, nd, lo=1, hi=12):
    spatial = tuple(draw(st.sampled_from(range(lo, hi + 1))) for _ in range(nd))
    kind = draw(st.sampled_from(["batched"] * 4 + ["unbatched"] * 3 + ["short", "long"]))
    channels = draw(st.integers(1, 3))
    if kind == "batched":
        return (draw(st.integers(1, 2)), channels, *spatial)
    if kind == "unbatched":
        return (channels, *spatial)
    if kind == "short":
        return spatial
    return (1, 1, channels, *spatial)


@st.composite
def max_pool_configs(draw):
    nd = draw(st.integers(1, 3))
    kernel = _size_arg(draw, nd, 1, 5, bad=(0, -1))
    kwargs = {
        "stride": _stride(draw, nd),
        "padding": _size_arg(draw, nd, 0, 1, bad=(-1, 2, 3)),
        "dilation": _size_arg(draw, nd, 1, 2, bad=(0, 3)),
        "return_indices": draw(st.booleans()),
        "ceil_mode": draw(st.booleans()),
    }
    return f"MaxPool{nd}d", (kernel,), kwargs, _input_shape(draw, nd)


@st.composite
def avg_pool_configs(draw):
    nd = draw(st.integers(1, 3))
    kernel = _size_arg(draw, nd, 1, 5, bad=(0, -1))
    kwargs = {
        "stride": _stride(draw, nd),
        "padding": _size_arg(draw, nd, 0, 1, bad=(-1, 2, 3)),
        "ceil_mode": draw(st.booleans()),
        "count_include_pad": draw(st.booleans()),
    }
    if nd > 1:
        kwargs["divisor_override"] = draw(st.sampled_from([None, None, None, 0, -2, 1, 7]))
    return f"AvgPool{nd}d", (kernel,), kwargs, _input_shape(draw, nd)


@st.composite
def lp_pool_configs(draw):
    nd = draw(st.integers(1, 3))
    norm_type = draw(st.sampled_from([1, 2, 2, 2.0, 3.5, 0.5, -1, 0, INF, -INF]))
    kernel = _size_arg(draw, nd, 1, 5, bad=(0, -1))
    kwargs = {"stride": _stride(draw, nd), "ceil_mode": draw(st.booleans())}
    return f"LPPool{nd}d", (norm_type, kernel), kwargs, _input_shape(draw, nd)


def _as_tuple(value, nd):
    if isinstance(value, tuple):
        return value if len(value) == nd else None
    return (value,) * nd


@st.composite
def max_unpool_configs(draw):
    nd = draw(st.integers(1, 3))
    kernel = _size_arg(draw, nd, 1, 4, bad=(0, -1))
    stride = None if draw(st.booleans()) else _size_arg(draw, nd, 1, 3, bad=(0, -1))
    padding = _size_arg(draw, nd, 0, 2, bad=(-1, 3))
    shape = _input_shape(draw, nd, 1, 5)
    forward = {"indices": torch.zeros(shape, dtype=torch.long)}
    if draw(st.integers(0, 20)) == 0:
        forward["indices"] = torch.zeros((*shape[:-1], shape[-1] + 1), dtype=torch.long)
    if draw(st.booleans()):
        k, p = _as_tuple(kernel, nd), _as_tuple(padding, nd)
        s = k if stride is None else _as_tuple(stride, nd)
        if k and s and p:
            sizes = tuple(
                (n - 1) * si + ki - 2 * pi + draw(st.integers(-si - 1, si + 1)) if si > 0 else 3
                for n, ki, si, pi in zip(shape[-nd:], k, s, p)
            )
        else:
            sizes = int_tuple(draw, nd, 1, 12)
        lead = draw(st.sampled_from([0, 0, 0, 2, 2, 1]))
        forward["output_size"] = (*int_tuple(draw, lead, 1, 3), *sizes)
    return f"MaxUnpool{nd}d", (kernel,), {"stride": stride, "padding": padding}, shape, forward


@examples(300)
@given(max_pool_configs())
def test_max_pool_hypothesis(config):
    assert_agrees(*config)


@examples(300)
@given(avg_pool_configs())
def test_avg_pool_hypothesis(config):
    assert_agrees(*config)


@examples(250)
@given(lp_pool_configs())
def test_lp_pool_hypothesis(config):
    assert_agrees(*config)


@examples(250)
@given(max_unpool_configs())
def test_max_unpool_hypothesis(config):
    assert_agrees(*config)


@st.composite
def adaptive_configs(draw, kind):
    nd = draw(st.integers(1, 3))
    entry = st.one_of(st.integers(-1, 10), st.none()) if nd > 1 else st.integers(-1, 10)
    choice = draw(st.integers(0, 9))
    if choice < 4:
        output_size = draw(st.integers(-1, 10))
    elif choice < 8:
        output_size = tuple(draw(entry) for _ in range(nd))
    elif choice == 8:
        output_size = (draw(entry),)
    else:
        output_size = draw(st.sampled_from([None, (), (3,) * (nd + 1)]))
    args = (output_size,)
    if kind == "Max" and draw(st.booleans()):
        args = (output_size, True)
    return f"Adaptive{kind}Pool{nd}d", args, _input_shape(draw, nd)


@examples(250)
@given(adaptive_configs("Avg"))
def test_adaptive_avg_pool_hypothesis(config):
    name, args, shape = config
    assert_agrees(name, args, {}, shape, allow_empty=_explicit_zero(args[0]))


@examples(250)
@given(adaptive_configs("Max"))
def test_adaptive_max_pool_hypothesis(config):
    name, args, shape = config
    assert_agrees(name, args, {}, shape, allow_empty=_explicit_zero(args[0]))
