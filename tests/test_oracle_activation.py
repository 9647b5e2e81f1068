"""Activations and dropouts against torch: class list, signatures, reprs, accept/reject, shapes."""

from __future__ import annotations

import inspect
import math
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oracle import assert_agrees, torch
from strategies import examples

import convcalc
from convcalc.layers import activation, dropout, softmax

pytestmark = pytest.mark.oracle

NAN, INF = math.nan, math.inf
FLOAT32_MAX = activation.FLOAT32_MAX
LAYER_CLASSES = activation.LAYERS + softmax.LAYERS + dropout.LAYERS
# An attention block with projections, not an activation; convcalc leaves it out on purpose.
NOT_ACTIVATIONS = {"MultiheadAttention"}


def torch_classes() -> list[str]:
    names = torch.nn.modules.activation.__all__ + torch.nn.modules.dropout.__all__
    return [name for name in names if name not in NOT_ACTIVATIONS]


def test_every_torch_activation_and_dropout_is_covered():
    assert sorted(cls.__name__ for cls in LAYER_CLASSES) == sorted(torch_classes())


@pytest.mark.parametrize("name", torch_classes())
def test_signature_matches_torch(name):
    def params(cls):
        return [
            (p.name, p.default)
            for p in list(inspect.signature(cls.__init__).parameters.values())[1:]
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]

    assert params(getattr(convcalc, name)) == params(getattr(torch.nn, name))


# (class, args, kwargs): every class with its defaults, then with non-default arguments.
CASES = [
    ("ReLU", (), {}),
    ("ReLU", (True,), {}),
    ("ReLU6", (), {}),
    ("ReLU6", (), {"inplace": True}),
    ("LeakyReLU", (), {}),
    ("LeakyReLU", (0.2,), {"inplace": True}),
    ("LeakyReLU", (-3,), {}),
    ("PReLU", (), {}),
    ("PReLU", (1, 0.1), {}),
    ("PReLU", (), {"init": 2}),
    ("RReLU", (), {}),
    ("RReLU", (0.1, 0.3, True), {}),
    ("RReLU", (-1, 2), {}),
    ("RReLU", (0.2, 0.2), {}),
    ("Threshold", (0.1, 20.0), {}),
    ("Threshold", (1, -2, True), {}),
    ("Hardtanh", (), {}),
    ("Hardtanh", (-2.0, 3.0, True), {}),
    ("Hardtanh", (), {"min_value": -3.0}),
    ("Hardtanh", (), {"max_value": 4, "min_val": 0}),
    ("ELU", (), {}),
    ("ELU", (0.5, True), {}),
    ("ELU", (), {"alpha": 0}),
    ("CELU", (), {}),
    ("CELU", (2,), {"inplace": True}),
    ("CELU", (-0.5,), {}),
    ("SELU", (), {}),
    ("SELU", (True,), {}),
    ("GELU", (), {}),
    ("GELU", ("tanh",), {}),
    ("GELU", (), {"approximate": "none"}),
    ("Sigmoid", (), {}),
    ("LogSigmoid", (), {}),
    ("Hardsigmoid", (), {}),
    ("Hardsigmoid", (True,), {}),
    ("Tanh", (), {}),
    ("SiLU", (), {}),
    ("SiLU", (), {"inplace": True}),
    ("Mish", (), {}),
    ("Mish", (True,), {}),
    ("Hardswish", (), {}),
    ("Hardswish", (), {"inplace": True}),
    ("Softplus", (), {}),
    ("Softplus", (2, 10), {}),
    ("Softplus", (), {"beta": 0.5, "threshold": -1.0}),
    ("Softsign", (), {}),
    ("Hardshrink", (), {}),
    ("Hardshrink", (1,), {}),
    ("Hardshrink", (-0.5,), {}),
    ("Softshrink", (), {}),
    ("Softshrink", (0,), {}),
    ("Softshrink", (), {"lambd": 2.5}),
    ("Tanhshrink", (), {}),
    ("GLU", (), {}),
    ("GLU", (0,), {}),
    ("GLU", (), {"dim": -2}),
    ("Softmax", (), {}),
    ("Softmax", (1,), {}),
    ("Softmax", (), {"dim": -1}),
    ("Softmin", (), {}),
    ("Softmin", (0,), {}),
    ("LogSoftmax", (), {}),
    ("LogSoftmax", (), {"dim": 2}),
    ("Softmax2d", (), {}),
    ("Dropout", (), {}),
    ("Dropout", (0.2, True), {}),
    ("Dropout", (0,), {}),
    ("Dropout", (), {"p": 1}),
    ("Dropout1d", (), {}),
    ("Dropout1d", (0.3,), {"inplace": True}),
    ("Dropout2d", (), {}),
    ("Dropout2d", (0.1,), {}),
    ("Dropout3d", (), {}),
    ("Dropout3d", (1.0, True), {}),
    ("AlphaDropout", (), {}),
    ("AlphaDropout", (0.05,), {}),
    ("FeatureAlphaDropout", (), {}),
    ("FeatureAlphaDropout", (), {"p": 0.0, "inplace": True}),
]

# Scalars, 1-D (size 1, odd, even), 2-D to 6-D, batched and not.
SHAPES = [(), (1,), (5,), (6,), (2, 6), (3, 4, 6), (2, 3, 4, 6), (2, 3, 2, 4, 6), (1, 2, 1, 2, 3, 2)]


def test_cases_cover_every_class():
    assert {name for name, _, _ in CASES} == {cls.__name__ for cls in LAYER_CLASSES}


@pytest.mark.parametrize("name,args,kwargs", CASES)
def test_repr_matches_torch(name, args, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Hardtanh's deprecated min_value/max_value
        expected = repr(getattr(torch.nn, name)(*args, **kwargs))
    assert repr(getattr(convcalc, name)(*args, **kwargs)) == expected


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name,args,kwargs", CASES)
def test_every_class_on_every_rank(name, args, kwargs, shape):
    assert_agrees(name, args, kwargs, shape)


@pytest.mark.parametrize("name,args,kwargs", CASES)
def test_counts_are_shape_consistent(name, args, kwargs):
    layer = getattr(convcalc, name)(*args, **kwargs)
    shape = (2, 6, 4)  # a rank every class takes
    out = layer.output_shape(shape)
    assert layer.macs(shape) == 0
    per_element = layer.flops_per_element
    if name == "GELU" and layer.approximate == "tanh":
        per_element = layer.flops_per_element_tanh
    assert layer.flops(shape) == per_element * math.prod(out)


@pytest.mark.parametrize("rank", range(7))
@pytest.mark.parametrize("name", ["Softmax", "Softmin", "LogSoftmax"])
def test_implicit_dim_is_torchs(name, rank):
    shape = tuple(range(2, 2 + rank))  # distinct sizes, so only one dim gives torch's result
    x = torch.randn(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the implicit choice is deprecated
        implicit = getattr(torch.nn, name)()(x)
    dim = getattr(convcalc, name)().softmax_dim(shape)
    assert torch.equal(implicit, getattr(torch.nn, name)(dim=dim)(x))
    for other in set(range(rank)) - {dim}:
        assert not torch.allclose(implicit, getattr(torch.nn, name)(dim=other)(x))


RULES = [
    # (class, args, kwargs, input shape): one row per rule, valid and invalid sides.
    # dropout probability in [0, 1], nan refused (torch's RuntimeError), checked for every kind
    ("Dropout", (-0.1,), {}, (2, 3)),
    ("Dropout", (1.5,), {}, (2, 3)),
    ("Dropout", (NAN,), {}, (2, 3)),
    ("Dropout", (INF,), {}, (2, 3)),
    ("Dropout2d", (-0.01,), {}, (2, 3, 4, 4)),
    ("AlphaDropout", (1.01,), {}, (2, 3)),
    ("FeatureAlphaDropout", (NAN,), {}, (2, 3)),
    ("Dropout3d", (2,), {}, (2, 3, 4, 4, 4)),
    ("Dropout1d", (-1,), {}, (2, 3, 4)),
    # Dropout1d: 2-D or 3-D only, even in inference
    ("Dropout1d", (), {}, (3,)),
    ("Dropout1d", (), {}, ()),
    ("Dropout1d", (), {}, (2, 3)),
    ("Dropout1d", (), {}, (2, 3, 4)),
    ("Dropout1d", (), {}, (2, 3, 4, 5)),
    # Dropout2d/3d and FeatureAlphaDropout: any rank in inference (torch only warns)
    ("Dropout2d", (), {}, ()),
    ("Dropout2d", (), {}, (2, 3, 4)),
    ("Dropout2d", (), {}, (1, 2, 3, 4, 5)),
    ("Dropout3d", (), {}, (3,)),
    ("Dropout3d", (), {}, (2, 3, 4, 5)),
    ("FeatureAlphaDropout", (), {}, (7,)),
    # Softmax family: dim within [-n, n-1] (a scalar takes 0 and -1); None is torch's implicit dim
    ("Softmax", (2,), {}, (2, 3)),
    ("Softmax", (-3,), {}, (2, 3)),
    ("Softmax", (-2,), {}, (2, 3)),
    ("Softmax", (1,), {}, (2, 3)),
    ("Softmax", (0,), {}, ()),
    ("Softmax", (-1,), {}, ()),
    ("Softmax", (1,), {}, ()),
    ("Softmax", (-2,), {}, ()),
    ("Softmin", (3,), {}, (2, 3, 4)),
    ("LogSoftmax", (-4,), {}, (2, 3, 4)),
    ("LogSoftmax", (-3,), {}, (2, 3, 4)),
    ("Softmax", (None,), {}, (2, 3, 4, 5, 6)),
    # Softmax2d: 3-D or 4-D input
    ("Softmax2d", (), {}, (3, 4, 5)),
    ("Softmax2d", (), {}, (1, 3, 4, 5)),
    ("Softmax2d", (), {}, (3, 4)),
    ("Softmax2d", (), {}, (1, 1, 3, 4, 5)),
    # GLU: no scalars, dim in range, the halved dim even
    ("GLU", (), {}, ()),
    ("GLU", (0,), {}, ()),
    ("GLU", (), {}, (1,)),
    ("GLU", (), {}, (2,)),
    ("GLU", (), {}, (4, 5)),
    ("GLU", (0,), {}, (4, 5)),
    ("GLU", (1,), {}, (4, 6)),
    ("GLU", (2,), {}, (4, 6)),
    ("GLU", (-3,), {}, (4, 6)),
    ("GLU", (-2,), {}, (3, 6)),
    # PReLU: one shared slope fits anything; several must equal the channels at dim 1
    ("PReLU", (3,), {}, (2, 3)),
    ("PReLU", (3,), {}, (2, 4)),
    ("PReLU", (3,), {}, (2, 3, 5, 5)),
    ("PReLU", (3,), {}, (3, 2, 5, 5)),
    ("PReLU", (3,), {}, (3,)),  # 1-D counts as one channel, not 3
    ("PReLU", (1,), {}, (3,)),
    ("PReLU", (3,), {}, ()),
    ("PReLU", (1,), {}, ()),
    ("PReLU", (3,), {}, (1, 3)),
    ("PReLU", (0,), {}, (2, 3)),
    ("PReLU", (0,), {}, (1,)),
    ("PReLU", (-1,), {}, (2, 3)),
    ("PReLU", (2, 1e39), {}, (2, 2)),
    # Hardtanh: max_val > min_val (nan bounds pass, as in torch); deprecated spellings win
    ("Hardtanh", (1.0, 1.0), {}, (2, 3)),
    ("Hardtanh", (2.0, 1.0), {}, (2, 3)),
    ("Hardtanh", (NAN, 1.0), {}, (2, 3)),
    ("Hardtanh", (-INF, INF), {}, (2, 3)),
    ("Hardtanh", (), {"max_value": -2.0}, (2, 3)),
    ("Hardtanh", (), {"min_value": 2.0}, (2, 3)),
    ("Hardtanh", (5.0, 6.0), {"min_value": -1.0}, (2, 3)),
    # RReLU: finite bounds, lower <= upper (checked in inference too); negative slopes fine
    ("RReLU", (0.5, 0.1), {}, (2, 3)),
    ("RReLU", (0.3, 0.3), {}, (2, 3)),
    ("RReLU", (-1.0, 2.0), {}, (2, 3)),
    ("RReLU", (NAN, 0.1), {}, (2, 3)),
    ("RReLU", (0.1, INF), {}, (2, 3)),
    ("RReLU", (-INF, 0.1), {}, (2, 3)),
    ("RReLU", (0.1, INF, True), {}, (2, 3)),  # in-place skips the finiteness check ...
    ("RReLU", (-INF, INF, True), {}, (2, 3)),
    ("RReLU", (NAN, 0.1, True), {}, (2, 3)),  # ... but nan still fails lower <= upper
    ("RReLU", (0.1, NAN, True), {}, (2, 3)),
    ("RReLU", (0.5, 0.1, True), {}, (2, 3)),
    # CELU divides by alpha; ELU does not
    ("CELU", (0.0,), {}, (2, 3)),
    ("CELU", (-0.0,), {}, (2, 3)),
    ("CELU", (1e-320,), {}, (2, 3)),
    ("CELU", (NAN,), {}, (2, 3)),
    ("ELU", (0.0,), {}, (2, 3)),
    # ... and hands 1/alpha to the float32 kernel: overflow below 1/FLOAT32_MAX, unless 1/alpha
    # is already inf in double
    ("CELU", (1e-64,), {}, (2, 3)),
    ("CELU", (-1e-64,), {}, (2, 3)),
    ("CELU", (2.9e-39,), {}, (2, 3)),
    ("CELU", (2.94e-39,), {}, (2, 3)),
    ("CELU", (1 / FLOAT32_MAX,), {}, (2, 3)),
    ("CELU", (math.nextafter(1 / FLOAT32_MAX, 0),), {}, (2, 3)),
    ("CELU", (1e-310,), {}, (2, 3)),
    ("ELU", (1e-64,), {}, (2, 3)),
    # Softshrink: 0 <= lambd <= float32 max; Hardshrink takes anything that fits float32
    ("Softshrink", (-0.1,), {}, (2, 3)),
    ("Softshrink", (NAN,), {}, (2, 3)),
    ("Softshrink", (INF,), {}, (2, 3)),
    ("Softshrink", (FLOAT32_MAX,), {}, (2, 3)),
    ("Softshrink", (math.nextafter(FLOAT32_MAX, INF),), {}, (2, 3)),
    ("Hardshrink", (-0.1,), {}, (2, 3)),
    ("Hardshrink", (NAN,), {}, (2, 3)),
    ("Hardshrink", (INF,), {}, (2, 3)),
    # GELU: approximate is 'none' or 'tanh'
    ("GELU", ("foo",), {}, (2, 3)),
    ("GELU", ("None",), {}, (2, 3)),
    # every scalar argument must fit float32 (inf and nan do, 1e39 does not)
    ("LeakyReLU", (1e39,), {}, (2, 3)),
    ("LeakyReLU", (INF,), {}, (2, 3)),
    ("LeakyReLU", (NAN,), {}, (2, 3)),
    ("LeakyReLU", (-(10**40),), {}, (2, 3)),
    ("ELU", (-1e39,), {}, (2, 3)),
    ("CELU", (1e39,), {}, (2, 3)),
    ("Threshold", (1e39, 0.0), {}, (2, 3)),
    ("Threshold", (0.0, -1e39), {}, (2, 3)),
    ("Threshold", (INF, NAN), {}, (2, 3)),
    ("Hardtanh", (-1e39, 0.0), {}, (2, 3)),
    ("Hardtanh", (0.0, 1e39), {}, (2, 3)),
    ("Hardtanh", (NAN, 1e39), {}, (2, 3)),  # a nan bound makes torch skip the other's check
    ("Hardtanh", (-1e39, NAN, True), {}, (2, 3)),
    ("Threshold", (NAN, 1e39), {}, (2, 3)),  # but not for Threshold
    ("Softplus", (1e39,), {}, (2, 3)),
    ("Softplus", (1.0, -1e39), {}, (2, 3)),
    ("Softplus", (0.0, NAN), {}, (2, 3)),
    ("Softplus", (-1.0, INF), {}, (2, 3)),
    ("Hardshrink", (1e39,), {}, (2, 3)),
    ("RReLU", (-1e39, 0.0), {}, (2, 3)),  # inference only converts (lower+upper)/2 ...
    ("RReLU", (-1e39, 1e39), {}, (2, 3)),
    ("RReLU", (-FLOAT32_MAX, 1e39), {}, (2, 3)),
    ("RReLU", (0.0, 2 * FLOAT32_MAX), {}, (2, 3)),
    ("RReLU", (0.0, math.nextafter(2 * FLOAT32_MAX, INF)), {}, (2, 3)),
    ("RReLU", (1e38, 6.7e38, True), {}, (2, 3)),
    # ... and Python ints must fit a 64-bit integer
    ("RReLU", (-(10**40), 10**40), {}, (2, 3)),
    ("Hardtanh", (NAN, 2**64), {}, (2, 3)),
    ("Hardtanh", (-(2**63), NAN), {}, (2, 3)),
    ("Hardtanh", (NAN, 2**63 - 1), {}, (2, 3)),
    ("Hardtanh", (-(2**63) - 1, NAN), {}, (2, 3)),
    ("PReLU", (1, FLOAT32_MAX), {}, (2, 3)),
    ("PReLU", (1, -INF), {}, (2, 3)),
]


@pytest.mark.parametrize("name,args,kwargs,shape", RULES)
def test_rule_table(name, args, kwargs, shape):
    assert_agrees(name, args, kwargs, shape)


def test_unsigned_64_bit_ints_are_refused_on_purpose():
    # torch takes 2**63..2**64-1 as unsigned 64-bit Scalars: alone they work, but mixed with a
    # signed one they fail ("Promotion for uint16, uint32, uint64 types is not supported").
    with pytest.raises(convcalc.ConvcalcError, match="64-bit integer"):
        convcalc.Hardtanh(NAN, 2**63)
    assert assert_agrees("RReLU", (0, 2**63), {}, (2, 3))[0] == "error"


@pytest.mark.parametrize(
    "name,args,kwargs,shape,words",
    [
        ("Dropout", (1.5,), {}, (2,), ["p", "1.5", "[0, 1]"]),
        ("Hardtanh", (1.0, 0.5), {}, (2,), ["max_val", "min_val=1.0", "max_val > 1.0"]),
        ("RReLU", (0.5, 0.1), {}, (2,), ["lower=0.5", "upper=0.1", "swap"]),
        ("CELU", (0,), {}, (2,), ["alpha", "alpha=1.0"]),
        ("CELU", (1e-40,), {}, (2,), ["alpha=1e-40", "1/alpha", "|alpha| >="]),
        ("Softshrink", (-1,), {}, (2,), ["lambd=-1", "non-negative"]),
        ("LeakyReLU", (1e39,), {}, (2,), ["negative_slope=1e+39", "float32"]),
        ("PReLU", (3,), {}, (2, 4), ["4 channels", "num_parameters=3", "num_parameters=4"]),
        ("PReLU", (3,), {}, (4,), ["1-D", "num_parameters=1"]),
        ("GLU", (1,), {}, (2, 5), ["dim=1", "odd size 5"]),
        ("Softmax", (2,), {}, (2, 5), ["dim=2", "from -2 to 1"]),
        ("Softmax2d", (), {}, (2, 5), ["3-D or 4-D", "got 2-D"]),
        ("Dropout1d", (), {}, (5,), ["2-D or 3-D", "got 1-D"]),
    ],
)
def test_messages_name_parameter_values_and_fix(name, args, kwargs, shape, words):
    with pytest.raises(convcalc.ConvcalcError) as info:
        getattr(convcalc, name)(*args, **kwargs).output_shape(shape)
    message = str(info.value)
    assert message.startswith(name + ":")
    for word in words:
        assert word in message, message


# -- Hypothesis ---------------------------------------------------------------------------

SETTINGS = examples(250)

shapes = st.lists(st.integers(1, 5), min_size=0, max_size=5).map(tuple)
# Ordinary values plus every special case the rules care about.
scalars = st.one_of(
    st.floats(-4, 4, allow_nan=False),
    st.integers(-3, 3),
    st.sampled_from([0.0, -0.0, NAN, INF, -INF, FLOAT32_MAX, -FLOAT32_MAX, 1e39, -1e39]),
    st.sampled_from([1e-64, -2.9e-39, 2.94e-39, 1e-310]),  # CELU's 1/alpha
    st.sampled_from([2**63 - 1, -(2**63), -(2**63) - 1, 2**64, 10**40]),  # 64-bit ints
)


@st.composite
def softmax_configs(draw):
    name = draw(st.sampled_from(["Softmax", "Softmin", "LogSoftmax", "Softmax2d"]))
    shape = draw(shapes)
    if name == "Softmax2d":
        return name, (), {}, shape
    dim = draw(st.one_of(st.none(), st.integers(-7, 6)))
    return name, (dim,), {}, shape


@SETTINGS
@given(softmax_configs())
def test_softmax_hypothesis(config):
    assert_agrees(*config)


@st.composite
def glu_configs(draw):
    shape = draw(st.lists(st.integers(1, 6), min_size=0, max_size=5).map(tuple))
    dim = draw(st.integers(-6, 5))
    return "GLU", (dim,), {}, shape


@SETTINGS
@given(glu_configs())
def test_glu_hypothesis(config):
    assert_agrees(*config)


@st.composite
def prelu_configs(draw):
    shape = draw(shapes)
    channels = shape[1] if len(shape) >= 2 else 1
    num = draw(st.one_of(st.just(1), st.just(channels), st.integers(0, 6)))
    init = draw(scalars)
    return "PReLU", (num, init), {}, shape


@SETTINGS
@given(prelu_configs())
def test_prelu_hypothesis(config):
    assert_agrees(*config)


@st.composite
def dropout_configs(draw):
    name = draw(st.sampled_from([cls.__name__ for cls in dropout.LAYERS]))
    p = draw(
        st.one_of(
            st.floats(0, 1),
            st.sampled_from([0, 1, -0.0, NAN, INF]),
            st.floats(-2, 3, allow_nan=False),
        )
    )
    return name, (p, draw(st.booleans())), {}, draw(shapes)


@SETTINGS
@given(dropout_configs())
def test_dropout_hypothesis(config):
    assert_agrees(*config)


# Arguments of the classes with scalar parameters, drawn from `scalars`.
SCALAR_ARGS = {
    "LeakyReLU": 1,
    "RReLU": 2,
    "Threshold": 2,
    "Hardtanh": 2,
    "ELU": 1,
    "CELU": 1,
    "Softplus": 2,
    "Hardshrink": 1,
    "Softshrink": 1,
}


@st.composite
def scalar_activation_configs(draw):
    name = draw(st.sampled_from(sorted(SCALAR_ARGS)))
    args = tuple(draw(scalars) for _ in range(SCALAR_ARGS[name]))
    takes_inplace = name not in ("Softplus", "Hardshrink", "Softshrink")
    kwargs = {"inplace": draw(st.booleans())} if takes_inplace else {}
    return name, args, kwargs, draw(shapes)


@SETTINGS
@given(scalar_activation_configs())
def test_scalar_arguments_hypothesis(config):
    name, args, kwargs, shape = config
    got = assert_agrees(*config)
    if got[0] == "ok":
        # Values are kept as given, so the repr is torch's to the digit.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert repr(getattr(convcalc, name)(*args, **kwargs)) == repr(
                getattr(torch.nn, name)(*args, **kwargs)
            )


# The rest: classes whose only arguments are inplace or GELU's approximate.
PLAIN = sorted(
    cls.__name__
    for cls in activation.LAYERS + softmax.LAYERS
    if cls.__name__ not in SCALAR_ARGS
    and cls.__name__ not in ("PReLU", "GLU", "Softmax", "Softmin", "LogSoftmax", "Softmax2d")
)


@st.composite
def plain_configs(draw):
    name = draw(st.sampled_from(PLAIN))
    params = inspect.signature(getattr(convcalc, name).__init__).parameters
    kwargs = {}
    if "inplace" in params:
        kwargs["inplace"] = draw(st.booleans())
    if "approximate" in params:
        kwargs["approximate"] = draw(st.sampled_from(["none", "tanh", "exact"]))
    return name, (), kwargs, draw(shapes)


@SETTINGS
@given(plain_configs())
def test_plain_activations_hypothesis(config):
    assert_agrees(*config)
