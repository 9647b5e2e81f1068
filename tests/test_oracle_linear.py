"""Linear, Bilinear, Embedding and Identity against torch: accept/reject, every shape, the repr."""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

import convcalc
from oracle import assert_agrees, convcalc_outcome, torch, assert_same_repr
from strategies import examples

pytestmark = pytest.mark.oracle


def _torch_run(name: str, args: tuple, kwargs: dict, make_inputs):
    """oracle.torch_outcome for layers whose forward takes other inputs than one float tensor."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = getattr(torch.nn, name)(*args, **kwargs).eval()
            with torch.no_grad():
                out = module(*make_inputs())
    except Exception as exc:
        return ("error", f"{type(exc).__name__}: {exc}".splitlines()[0])
    params = {k: tuple(v.shape) for k, v in module.named_parameters()}
    buffers = {k: tuple(v.shape) for k, v in module.named_buffers()}
    return ("ok", tuple(out.shape), params, buffers)


def _compare(expected, got, call: str) -> None:
    if expected[0] == "ok" and 0 in expected[1]:
        assert got[0] == "error", f"{call}: torch gives empty {expected[1]}, convcalc must reject: {got}"
    elif expected[0] == "error" or got[0] == "error":
        assert expected[0] == got[0], f"{call}: torch says {expected}, convcalc says {got}"
    else:
        assert got[1:] == expected[1:], f"{call}: convcalc {got[1:]} != torch {expected[1:]}"


def assert_bilinear_agrees(args: tuple, kwargs: dict, shape1: tuple, shape2: tuple | None) -> None:
    """Torch runs on two inputs; convcalc gets the second as input2_shape (or its default)."""
    second = shape2 if shape2 is not None else (*shape1[:-1], args[1])
    expected = _torch_run("Bilinear", args, kwargs, lambda: (torch.zeros(shape1), torch.zeros(second)))
    forward = {} if shape2 is None else {"input2_shape": shape2}
    got = convcalc_outcome("Bilinear", args, kwargs, shape1, forward)
    _compare(expected, got, f"Bilinear(*{args}, **{kwargs}) on {shape1} and {second}")


def assert_embedding_agrees(args: tuple, kwargs: dict, shape: tuple) -> None:
    """Index 0 is the one index valid for every non-empty table."""
    expected = _torch_run("Embedding", args, kwargs, lambda: (torch.zeros(shape, dtype=torch.long),))
    got = convcalc_outcome("Embedding", args, kwargs, shape)
    _compare(expected, got, f"Embedding(*{args}, **{kwargs}) on {shape}")



RULES = [
    # (class, args, kwargs, input shape)
    ("Linear", (5, 3), {}, (2, 5)),
    ("Linear", (5, 3), {}, (5,)),  # 1-D input
    ("Linear", (5, 3), {}, (2, 3, 4, 5)),  # any leading dims
    ("Linear", (5, 3), {}, (4,)),  # last dim != in_features
    ("Linear", (5, 3), {}, (2, 5, 4)),  # channels-first is not features-last
    ("Linear", (400, 120), {}, (1, 16, 5, 5)),  # forgot to flatten
    ("Linear", (5, 3), {}, ()),  # 0-D
    ("Linear", (5, 3), {"bias": False}, (1, 1, 1, 5)),
    ("Linear", (5, 0), {}, (2, 5)),  # empty output
    ("Linear", (0, 3), {}, (2, 3)),
    ("Linear", (-1, 3), {}, (2, 5)),
    ("Linear", (5, -2), {}, (2, 5)),
    ("Identity", (), {}, (2, 3)),
    ("Identity", (3, 4), {"foo": 4, "bar": None}, (2, 3, 5)),  # arguments ignored
    ("Identity", (), {}, ()),  # a scalar passes through
]


@pytest.mark.parametrize("name,args,kwargs,shape", RULES)
def test_rule_table(name, args, kwargs, shape):
    assert_agrees(name, args, kwargs, shape)
    assert_same_repr(name, args, kwargs)


BILINEAR_RULES = [
    # (args, kwargs, input1 shape, input2 shape or None for the default)
    ((2, 3, 4), {}, (5, 2), (5, 3)),
    ((2, 3, 4), {}, (5, 2), None),
    ((2, 3, 4), {}, (2,), (3,)),  # 1-D inputs
    ((2, 3, 4), {}, (6, 5, 2), (6, 5, 3)),
    ((2, 3, 4), {"bias": False}, (6, 5, 2), (6, 5, 3)),
    ((2, 3, 4), {}, (5, 2), (1, 3)),  # leading dims must match, no broadcasting
    ((2, 3, 4), {}, (1, 2), (5, 3)),
    ((2, 3, 4), {}, (3, 5, 2), (5, 3, 3)),
    ((2, 3, 4), {}, (5, 2), (5, 4)),  # in2_features mismatch
    ((2, 3, 4), {}, (5, 3), (5, 3)),  # in1_features mismatch
    ((2, 3, 4), {}, (5, 3), None),
    ((2, 3, 4), {}, (5, 2), (3,)),  # different numbers of dims
    ((2, 3, 4), {}, (6, 5, 2), (30, 3)),
    ((2, 3, 4), {}, (), ()),  # 0-D
    ((0, 3, 4), {}, (5, 2), (5, 3)),  # torch: in1_features must be > 0
    ((2, 0, 4), {}, (5, 2), (5, 3)),
    ((2, 3, 0), {}, (5, 2), (5, 3)),  # empty output
    ((2, -3, 4), {}, (5, 2), (5, 3)),
]


@pytest.mark.parametrize("args,kwargs,shape1,shape2", BILINEAR_RULES)
def test_bilinear_rule_table(args, kwargs, shape1, shape2):
    assert_bilinear_agrees(args, kwargs, shape1, shape2)
    assert_same_repr("Bilinear", args, kwargs)


EMBEDDING_RULES = [
    ((10, 3), {}, (2, 5)),
    ((10, 3), {}, ()),  # a single index
    ((10, 3), {}, (2, 3, 4, 5)),
    ((0, 3), {}, (2, 5)),  # no row to look up
    ((10, 0), {}, (2, 5)),  # empty output
    ((-1, 3), {}, (2, 5)),
    ((10, -3), {}, (2, 5)),
    ((10, 3), {"padding_idx": 9}, (2,)),
    ((10, 3), {"padding_idx": 10}, (2,)),
    ((10, 3), {"padding_idx": -10}, (2,)),  # counts from the end
    ((10, 3), {"padding_idx": -11}, (2,)),
    ((10, 3), {"padding_idx": 0}, (2,)),
    ((1, 3), {"padding_idx": -1}, (2,)),
    ((10, 3), {"max_norm": 1.0}, (2, 4)),
    ((10, 3), {"max_norm": -1.0, "norm_type": 1}, (2, 4)),  # torch checks neither
    ((10, 3), {"scale_grad_by_freq": True, "sparse": True}, (2, 4)),
    ((10, 3), {"_freeze": True}, (2, 4)),
]


@pytest.mark.parametrize("args,kwargs,shape", EMBEDDING_RULES)
def test_embedding_rule_table(args, kwargs, shape):
    assert_embedding_agrees(args, kwargs, shape)
    assert_same_repr("Embedding", args, kwargs)


@pytest.mark.parametrize("table", [(10, 3), (10, 4), (3, 10), (10,)])
def test_embedding_weight_shape(table):
    # torch's private _weight (used by from_pretrained) must match the table's shape.
    assert_embedding_agrees((10, 3), {"_weight": torch.zeros(table)}, (2, 4))


# -- Hypothesis ------------------------------------------------------------------------------



@st.composite
def linear_configs(draw):
    in_features = draw(st.integers(1, 6) if draw(st.integers(0, 15)) else st.integers(-1, 0))
    out_features = draw(st.integers(1, 6) if draw(st.integers(0, 15)) else st.integers(-1, 0))
    kwargs = {"bias": draw(st.booleans())}
    lead = tuple(draw(st.lists(st.integers(1, 3), max_size=3)))
    last = max(in_features, 1) if draw(st.integers(0, 5)) else draw(st.integers(1, 7))
    shape = (*lead, last) if draw(st.integers(0, 20)) else ()
    return "Linear", (in_features, out_features), kwargs, shape


@examples(250)
@given(linear_configs())
def test_linear_hypothesis(config):
    assert_agrees(*config)
    assert_same_repr(*config[:3])


@st.composite
def bilinear_configs(draw):
    features = [
        draw(st.integers(1, 4) if draw(st.integers(0, 15)) else st.integers(-1, 0)) for _ in range(3)
    ]
    kwargs = {"bias": draw(st.booleans())}
    lead = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    last1 = max(features[0], 1) if draw(st.integers(0, 6)) else draw(st.integers(1, 5))
    shape1 = (*lead, last1)
    if draw(st.integers(0, 3)) == 0:
        return tuple(features), kwargs, shape1, None
    lead2 = lead if draw(st.integers(0, 5)) else tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    last2 = max(features[1], 1) if draw(st.integers(0, 6)) else draw(st.integers(1, 5))
    return tuple(features), kwargs, shape1, (*lead2, last2)


@examples(250)
@given(bilinear_configs())
def test_bilinear_hypothesis(config):
    assert_bilinear_agrees(*config)
    assert_same_repr("Bilinear", config[0], config[1])


@st.composite
def embedding_configs(draw):
    count = draw(st.integers(1, 8) if draw(st.integers(0, 15)) else st.integers(-1, 0))
    dim = draw(st.integers(1, 5) if draw(st.integers(0, 15)) else st.integers(-1, 0))
    kwargs = {}
    if draw(st.booleans()):
        kwargs["padding_idx"] = draw(st.integers(-10, 10))
    if draw(st.booleans()):
        kwargs["max_norm"] = draw(st.sampled_from([1.0, 0.5, 3, -1.0]))
    if draw(st.booleans()):
        kwargs["norm_type"] = draw(st.sampled_from([2.0, 1.0, 1, float("inf")]))
    kwargs["scale_grad_by_freq"] = draw(st.booleans())
    kwargs["sparse"] = draw(st.booleans())
    shape = tuple(draw(st.lists(st.integers(1, 4), max_size=4)))
    return (count, dim), kwargs, shape


@examples(250)
@given(embedding_configs())
def test_embedding_hypothesis(config):
    assert_embedding_agrees(*config)
    assert_same_repr("Embedding", config[0], config[1])


@examples(100, suppress=())
@given(
    st.lists(st.integers(-3, 9), max_size=3),
    st.dictionaries(st.sampled_from(["a", "in_features", "bias"]), st.integers(0, 3), max_size=2),
    st.lists(st.integers(1, 4), max_size=5),
)
def test_identity_hypothesis(args, kwargs, shape):
    assert_agrees("Identity", tuple(args), kwargs, tuple(shape))
    assert_same_repr("Identity", tuple(args), kwargs)
