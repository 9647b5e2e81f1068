"""Strides as torch lays a tensor out: whether ``view`` is accepted, and whether ``reshape``,
``flatten`` and ``contiguous()`` are views or copies, which decides what a later in-place write
reaches. Checked against torch on generated views, and through recipes end to end."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import convcalc
from convcalc.errors import ConvcalcError
from convcalc.network.layout import contiguous_strides, is_contiguous, probed_strides, view_strides


@st.composite
def strided_tensors(draw):
    """(shape, steps, order, starts): a contiguous tensor of ``shape`` sliced with ``steps``
    from ``starts``, then permuted by ``order``."""
    rank = draw(st.integers(1, 4))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank)))
    starts = tuple(draw(st.integers(0, size - 1)) for size in shape)
    steps = tuple(draw(st.integers(1, 2)) for _ in shape)
    order = tuple(draw(st.permutations(range(rank))))
    return shape, starts, steps, order


def _factorisation(draw, numel: int) -> tuple[int, ...]:
    sizes = []
    while numel > 1:
        divisors = [d for d in range(2, numel + 1) if numel % d == 0]
        size = draw(st.sampled_from(divisors))
        sizes.append(size)
        numel //= size
    ones = draw(st.integers(0, 2))
    for _ in range(ones):
        sizes.insert(draw(st.integers(0, len(sizes))), 1)
    return tuple(sizes) or (1,)


def _numpy_view(starts, steps, order):
    return lambda a: a[tuple(slice(start, None, step) for start, step in zip(starts, steps))].transpose(order)


def _significant(shape, strides):
    return [stride for size, stride in zip(shape, strides) if size != 1]


@settings(max_examples=300, deadline=None)
@given(strided_tensors(), st.data())
def test_view_strides_accept_and_refuse_as_torch_does(case, data):
    torch = pytest.importorskip("torch")
    shape, starts, steps, order = case
    base = torch.zeros(shape)
    tensor = base[tuple(slice(start, None, step) for start, step in zip(starts, steps))].permute(order)
    strides = probed_strides(shape, contiguous_strides(shape), _numpy_view(starts, steps, order))
    assert tuple(tensor.shape) == tuple(np.zeros(shape)[tuple(slice(s, None, t) for s, t in zip(starts, steps))]
                                        .transpose(order).shape)
    assert _significant(tensor.shape, strides) == _significant(tensor.shape, tensor.stride())
    assert is_contiguous(tuple(tensor.shape), strides) == tensor.is_contiguous()
    target = _factorisation(data.draw, tensor.numel())
    ours = view_strides(tuple(tensor.shape), strides, target)
    try:
        viewed = tensor.view(target)
    except RuntimeError as exc:
        assert "view size is not compatible" in str(exc)
        assert ours is None, (tuple(tensor.shape), strides, target)
    else:
        assert ours is not None, (tuple(tensor.shape), strides, target)
        assert _significant(target, ours) == _significant(target, viewed.stride())


@pytest.mark.parametrize("shape, strides, target, want", [
    ((2, 3, 4), (12, 4, 1), (6, 4), (4, 1)),
    ((2, 3, 4), (12, 1, 3), (2, 12), None),  # the last two dims transposed
    ((2, 3, 4), (12, 1, 3), (2, 3, 2, 2), (12, 1, 6, 3)),  # only a dim split: a view
    ((3, 4), (8, 1), (12,), None),  # every other row: the rows are not one run
    ((3, 4), (8, 1), (3, 2, 2), (8, 2, 1)),
    ((1, 4), (99, 1), (4, 1), (1, 1)),  # a size-1 dim's stride does not matter
    ((), (), (1, 1), (1, 1)),
])
def test_view_strides_table(shape, strides, target, want):
    assert view_strides(shape, strides, target) == want


ALIASES = "Net(\n  (conv): Conv2d(3, 4, kernel_size=(1, 1), stride=(1, 1))\n  (act): ReLU(inplace=True)\n)\n"


def _network(body: str):
    return convcalc.parse_network(f"class Net:\n    def forward(self, x):\n        y = self.conv(x)\n        {body}\n\n" + ALIASES)


@pytest.mark.parametrize("body, reference", [
    # a copy in torch: the write over the permuted tensor does not reach it
    ("p = y.permute(0, 2, 3, 1)\n        c = p.contiguous()\n        p += 1\n        return c",
     lambda y: (lambda p: (lambda c: (p.add_(1), c)[1])(p.contiguous()))(y.permute(0, 2, 3, 1))),
    ("p = y.permute(0, 2, 3, 1)\n        c = p.reshape(1, -1)\n        p += 1\n        return c",
     lambda y: (lambda p: (lambda c: (p.add_(1), c)[1])(p.reshape(1, -1)))(y.permute(0, 2, 3, 1))),
    ("c = y[:, :, 1:4].flatten(1)\n        y += 1\n        return c",
     lambda y: (lambda c: (y.add_(1), c)[1])(y[:, :, 1:4].flatten(1))),
    ("c = y.transpose(2, 3).contiguous().view(1, -1)\n        y += 1\n        return c * 2",
     lambda y: (lambda c: (y.add_(1), c * 2)[1])(y.transpose(2, 3).contiguous().view(1, -1))),
])
def test_reshape_and_contiguous_copy_where_torch_copies(body, reference):
    """A reshape of a permuted tensor, or contiguous() of one, is a copy in torch, and a write
    over the permuted tensor does not reach it: these were refused while convcalc did not
    follow strides (it could not tell a copy from a view)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((1, 3, 5, 5)).astype(np.float32)
    params = {"conv.weight": rng.standard_normal((4, 3, 1, 1)).astype(np.float32),
              "conv.bias": rng.standard_normal(4).astype(np.float32)}
    y = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(params["conv.weight"]),
                                   torch.from_numpy(params["conv.bias"]))
    want = reference(y).numpy()
    np.testing.assert_allclose(_network(body).forward(x, params), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("body", [
    "c = y[:, 1:3].reshape(1, -1)\n        y += 1\n        return c",  # a view of a channel slice
    "c = y.permute(0, 2, 3, 1).flatten(0, 1)\n        y += 1\n        return c",  # a batch of one: one run
    "c = y[:, 1:3].reshape(1, -1)\n        c += 1\n        return y",  # written through the view
])
def test_a_reshape_that_torch_views_is_followed_to_a_refusal(body):
    with pytest.raises(ConvcalcError, match="cannot compute this network's values as torch does: .*wrote over"):
        _network(body).forward(np.ones((1, 3, 5, 5), np.float32),
                               {"conv.weight": np.ones((4, 3, 1, 1), np.float32), "conv.bias": np.zeros(4, np.float32)})


@pytest.mark.parametrize("body, accepted", [
    ("return y.permute(0, 2, 3, 1).view(1, -1)", False),
    ("return y.transpose(1, 2).view(1, 4, 25)", False),
    ("return y[:, :, :, :3].view(1, 4, 15)", False),
    ("return y[:, :, :3].view(1, 4, 15)", True),  # whole rows: still one run
    ("return y.permute(0, 2, 3, 1).view(1, 5, 5, 2, 2)", True),
    ("return y[:, :2].view(1, 2, 25)", True),
    ("return y.transpose(2, 3).contiguous().view(1, -1)", True),
    ("return y.transpose(2, 3).contiguous().transpose(2, 3).view(1, -1)", False),
    ("return y.permute(0, 2, 3, 1).reshape(1, -1)", True),
])
def test_view_is_refused_where_torch_refuses_it(body, accepted):
    """``x.permute(...).view(...)`` was accepted, where torch raises."""
    net = _network(body)
    if accepted:
        assert net.summary((1, 3, 5, 5)).output_shape
    else:
        with pytest.raises(ConvcalcError, match=r"torch's view refuses it; use \.reshape\(\.\.\.\)"):
            net.summary((1, 3, 5, 5))
    torch = pytest.importorskip("torch")
    y = torch.zeros(1, 4, 5, 5)
    code = body.replace("return ", "")
    if accepted:
        eval(code, {"y": y})
    else:
        with pytest.raises(RuntimeError, match="view size is not compatible"):
            eval(code, {"y": y})
