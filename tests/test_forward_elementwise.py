"""NumPy normalisations, activations, padding and rearrangements against torch.nn.functional."""

from __future__ import annotations

import math
import warnings
import zlib

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from forward_compare import assert_close, gelu_reference, read_only, sample
from strategies import DTYPES, FILTERED, examples, float_dtypes, int_tuple, seeds

torch = pytest.importorskip("torch")
F = torch.nn.functional
torch.set_num_threads(1)

from convcalc.kernels import elementwise as E  # noqa: E402
from convcalc.kernels import slices as S  # noqa: E402
from convcalc.layers.softmax import implicit_softmax_dim  # noqa: E402

# a NumPy warning escaping a kernel (overflow, inf − inf) is a bug: torch is silent
pytestmark = [pytest.mark.oracle, pytest.mark.filterwarnings("error::RuntimeWarning")]

SETTINGS = examples(200, FILTERED)
T = torch.from_numpy


def torch_or_none(fn, *args, **kwargs):
    try:
        out = fn(*args, **kwargs)
    except (RuntimeError, ValueError, IndexError):
        return None
    return out.numpy()


def _legacy_softmax(t):
    """torch's softmax with ``dim=None``: its deprecated implicit choice of dim."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return F.softmax(t, None)


# (name, ours, torch's): each called on one array
ACTIVATIONS = [
    ("relu", E.relu, F.relu),
    ("relu6", E.relu6, F.relu6),
    ("hardtanh", lambda x: E.hardtanh(x, -0.5, 2.0), lambda t: F.hardtanh(t, -0.5, 2.0)),
    ("leaky_relu", lambda x: E.leaky_relu(x, 0.2), lambda t: F.leaky_relu(t, 0.2)),
    ("rrelu", E.rrelu, lambda t: F.rrelu(t, training=False)),
    ("rrelu_range", lambda x: E.rrelu(x, 0.1, 0.6), lambda t: F.rrelu(t, 0.1, 0.6, training=False)),
    ("elu", lambda x: E.elu(x, 0.7), lambda t: F.elu(t, 0.7)),
    ("selu", E.selu, F.selu),
    ("celu", lambda x: E.celu(x, 1.7), lambda t: F.celu(t, 1.7)),
    ("gelu", E.gelu, lambda t: T(gelu_reference(t.numpy(), F.gelu(t).numpy()))),
    ("gelu_tanh", lambda x: E.gelu(x, "tanh"), lambda t: F.gelu(t, approximate="tanh")),
    ("silu", E.silu, F.silu),
    ("mish", E.mish, F.mish),
    ("sigmoid", E.sigmoid, torch.sigmoid),
    ("logsigmoid", E.logsigmoid, F.logsigmoid),
    ("tanh", E.tanh, torch.tanh),
    ("hardswish", E.hardswish, F.hardswish),
    ("hardsigmoid", E.hardsigmoid, F.hardsigmoid),
    ("hardshrink", lambda x: E.hardshrink(x, 0.8), lambda t: F.hardshrink(t, 0.8)),
    ("softshrink", lambda x: E.softshrink(x, 0.3), lambda t: F.softshrink(t, 0.3)),
    ("tanhshrink", E.tanhshrink, F.tanhshrink),
    ("softplus", E.softplus, F.softplus),
    ("softplus_beta", lambda x: E.softplus(x, 2.0, 3.0), lambda t: F.softplus(t, 2.0, 3.0)),
    ("softsign", E.softsign, F.softsign),
    ("threshold", lambda x: E.threshold(x, 0.5, -2.0), lambda t: F.threshold(t, 0.5, -2.0)),
    ("glu", E.glu, F.glu),
    ("glu_dim1", lambda x: E.glu(x, 1), lambda t: F.glu(t, 1)),
    ("softmax", lambda x: E.softmax(x, 1), lambda t: F.softmax(t, 1)),
    ("softmax_last", lambda x: E.softmax(x, -1), lambda t: F.softmax(t, -1)),
    ("softmin", lambda x: E.softmin(x, 0), lambda t: F.softmin(t, 0)),
    ("log_softmax", lambda x: E.log_softmax(x, -1), lambda t: F.log_softmax(t, -1)),
    ("softmax_implicit", lambda x: E.softmax(x, implicit_softmax_dim(x.ndim)), lambda t: _legacy_softmax(t)),
    ("softmax2d", E.softmax2d, torch.nn.Softmax2d()),
]


def _wide(rng, shape, dtype):
    """Values over a wide range (tails of exp, softplus thresholds, erf saturation)."""
    return (rng.standard_normal(shape) * 10).astype(dtype)


@pytest.mark.parametrize("name, ours, theirs", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["normal", "wide", "special"])
def test_activation(name, ours, theirs, dtype, kind):
    rng = np.random.default_rng(abs(hash((name, kind))) % 2**32)
    shape = (2, 4, 6, 8)
    x = _wide(rng, shape, dtype) if kind == "wide" else sample(rng, shape, dtype, kind)
    assert_close(ours(x), theirs(T(x)).numpy(), name)


@SETTINGS
@given(
    st.sampled_from(ACTIVATIONS),
    st.lists(st.integers(1, 5), min_size=3, max_size=5),
    float_dtypes,
    st.sampled_from(["normal", "wide", "special"]),
    seeds,
)
def test_activation_hypothesis(activation, shape, dtype, kind, seed):
    name, ours, theirs = activation
    if name.startswith("glu"):
        shape[1] = shape[-1] = 2 * shape[-1]
    if name == "softmax2d":
        shape = shape[:4]
    rng = np.random.default_rng(seed)
    x = _wide(rng, shape, dtype) if kind == "wide" else sample(rng, shape, dtype, kind)
    expected = torch_or_none(theirs, T(x))
    assume(expected is not None)
    assert_close(ours(x), expected, name)


@pytest.mark.parametrize("dtype", DTYPES)
def test_prelu(dtype):
    rng = np.random.default_rng(9)
    x = sample(rng, (2, 3, 4, 5), dtype, "special")
    for weight in (np.array([0.25], dtype), rng.standard_normal(3).astype(dtype)):
        assert_close(E.prelu(x, weight), F.prelu(T(x), T(weight)).numpy())
    vector = sample(rng, (7,), dtype, "normal")
    assert_close(E.prelu(vector, np.array([0.1], dtype)), F.prelu(T(vector), T(np.array([0.1], dtype))).numpy())


def test_gelu_erf_accuracy():
    """The float64 erf behind gelu agrees with math.erf to a few ulp, including the tails."""
    x = np.concatenate([np.linspace(-8, 8, 20001), np.geomspace(1e-300, 1, 300)])
    expected = np.array([math.erf(v) for v in x])
    assert np.abs(E._erf(x) - expected).max() < 1e-14


@st.composite
def norm_inputs(draw, min_dims=2, max_dims=5):
    ndim = draw(st.integers(min_dims, max_dims))
    shape = int_tuple(draw, ndim, 1, 5)
    dtype = draw(float_dtypes)
    rng = np.random.default_rng(draw(seeds))
    x = (rng.standard_normal(shape) * draw(st.sampled_from([0.1, 1.0, 30.0])) + draw(st.sampled_from([0.0, 5.0]))).astype(dtype)
    return x, rng


def assert_norm_close(got, expected, context: str = ""):
    """Normalisations divide rounding residue by √ε (up to 316×): float64 gets 1e-10, not 1e-12.

    A one-element group has variance 0; torch's float64 statistics leave ~1e-13 there.
    """
    assert_close(got, expected, context, tolerance=1e-10 if expected.dtype == np.float64 else None)


def reference(fn, x: np.ndarray, *arrays, **kwargs):
    """torch's result for ``fn(x, *arrays)``; NaN-free float32 data is run in float64 by torch.

    Normalising data whose spread is small next to its mean is ill-conditioned: torch's
    float32 statistics then drift past 1e-5 (mean 5, spread 0.1: 2e-5), while these kernels
    accumulate statistics in float64. The float64 answer, rounded, is the fair reference.
    """
    wide = x.dtype == np.float32
    as_t = lambda a: None if a is None else T(a.astype(np.float64) if wide else a)  # noqa: E731
    out = torch_or_none(fn, as_t(x), *(as_t(a) if isinstance(a, np.ndarray) or a is None else a for a in arrays), **kwargs)
    return None if out is None else out.astype(x.dtype)


@SETTINGS
@given(norm_inputs(), st.booleans(), st.booleans(), st.sampled_from([1e-5, 1e-3, 0.1]))
def test_batch_norm(inputs, affine, running, eps):
    x, rng = inputs
    c = x.shape[1]
    mean = rng.standard_normal(c).astype(x.dtype) if running else None
    var = rng.uniform(0.1, 3.0, c).astype(x.dtype) if running else None
    weight = rng.standard_normal(c).astype(x.dtype) if affine else None
    bias = rng.standard_normal(c).astype(x.dtype) if affine else None
    expected = reference(F.batch_norm, x, mean, var, weight, bias, not running, 0.1, eps)
    assume(expected is not None)
    assert_norm_close(E.batch_norm(x, mean, var, weight, bias, eps), expected, f"running={running} affine={affine}")


@SETTINGS
@given(norm_inputs(min_dims=3), st.booleans(), st.booleans())
def test_instance_norm(inputs, affine, use_input_stats):
    x, rng = inputs
    c = x.shape[1]
    mean, var = rng.standard_normal(c).astype(x.dtype), rng.uniform(0.1, 3.0, c).astype(x.dtype)
    weight = rng.standard_normal(c).astype(x.dtype) if affine else None
    bias = rng.standard_normal(c).astype(x.dtype) if affine else None
    expected = reference(F.instance_norm, x, mean, var, weight, bias, use_input_stats)
    assume(expected is not None)
    assert_norm_close(E.instance_norm(x, mean, var, weight, bias, use_input_stats), expected)


@SETTINGS
@given(norm_inputs(), st.integers(1, 5), st.booleans())
def test_group_norm(inputs, groups, affine):
    x, rng = inputs
    assume(x.shape[1] % groups == 0)
    weight = rng.standard_normal(x.shape[1]).astype(x.dtype) if affine else None
    bias = rng.standard_normal(x.shape[1]).astype(x.dtype) if affine else None
    expected = reference(F.group_norm, x, groups, weight, bias, 1e-5)
    assume(expected is not None)
    assert_norm_close(S.group_norm(x, groups, weight, bias), expected)


@SETTINGS
@given(norm_inputs(min_dims=1), st.integers(1, 3), st.booleans(), st.booleans())
def test_layer_and_rms_norm(inputs, count, affine, with_bias):
    x, rng = inputs
    assume(count <= x.ndim)
    normalized = x.shape[x.ndim - count :]
    weight = rng.standard_normal(normalized).astype(x.dtype) if affine else None
    bias = rng.standard_normal(normalized).astype(x.dtype) if affine and with_bias else None
    assert_norm_close(S.layer_norm(x, normalized, weight, bias), reference(F.layer_norm, x, normalized, weight, bias))
    # rms_norm's default eps is the input dtype's, so torch must see the real dtype here
    as_t = lambda a: None if a is None else T(a)  # noqa: E731
    assert_norm_close(E.rms_norm(x, normalized, weight), F.rms_norm(T(x), normalized, as_t(weight)).numpy(), "rms")
    assert_norm_close(E.rms_norm(x, normalized, weight, 1e-3), reference(F.rms_norm, x, normalized, weight, 1e-3), "rms eps")


@pytest.mark.parametrize("dtype", DTYPES)
def test_norms_match_torch_in_its_own_dtype(dtype):
    """Well-conditioned data: torch in the same dtype agrees within the plain tolerance."""
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 6, 5, 7)).astype(dtype)
    w, b = rng.standard_normal(6).astype(dtype), rng.standard_normal(6).astype(dtype)
    assert_norm_close(E.batch_norm(x, None, None, w, b), F.batch_norm(T(x), None, None, T(w), T(b), True).numpy())
    assert_norm_close(E.instance_norm(x, weight=w, bias=b), F.instance_norm(T(x), weight=T(w), bias=T(b)).numpy())
    assert_norm_close(S.group_norm(x, 3, w, b), F.group_norm(T(x), 3, T(w), T(b)).numpy())
    assert_norm_close(S.layer_norm(x, (5, 7)), F.layer_norm(T(x), (5, 7)).numpy())


@SETTINGS
@given(norm_inputs(min_dims=3), st.integers(1, 7), st.sampled_from([(1e-4, 0.75, 1.0), (0.5, 0.3, 2.0), (1.0, 1.5, 0.5)]))
def test_local_response_norm(inputs, size, params):
    x, _ = inputs
    alpha, beta, k = params
    expected = F.local_response_norm(T(x), size, alpha, beta, k).numpy()
    assert_norm_close(E.local_response_norm(x, size, alpha, beta, k), expected)


@st.composite
def pad_configs(draw):
    mode = draw(st.sampled_from(E.PAD_MODES))
    ndim = draw(st.integers(1, 5) if mode == "constant" else st.integers(2, 5))
    shape = int_tuple(draw, ndim, 1, 6)
    pairs = draw(st.integers(1, min(ndim, 3) if mode != "constant" else ndim))
    pads = int_tuple(draw, 2 * pairs, -3, 4)
    return mode, shape, pads, draw(float_dtypes), draw(seeds)


@SETTINGS
@given(pad_configs(), st.sampled_from([None, 0.0, -1.5, math.inf]))
def test_pad(config, value):
    mode, shape, pads, dtype, seed = config
    if mode == "circular":
        # torch checks each pad against the uncropped size; a wrap longer than what is left
        # after cropping copies uninitialised memory, so no answer exists to compare with
        for i in range(len(pads) // 2):
            kept = shape[-1 - i] - max(-pads[2 * i], 0) - max(-pads[2 * i + 1], 0)
            assume(max(pads[2 * i], pads[2 * i + 1]) <= kept)
    x = sample(np.random.default_rng(seed), shape, dtype, "normal")
    kwargs = {"value": value} if mode == "constant" and value is not None else {}
    expected = torch_or_none(F.pad, T(x), pads, mode, **kwargs)
    assume(expected is not None and 0 not in expected.shape)
    assert_close(E.pad(x, pads, mode, value if mode == "constant" else None), expected, f"{mode} {shape} {pads}")


@SETTINGS
@given(st.integers(1, 3), st.lists(st.integers(1, 3), min_size=0, max_size=2), st.integers(1, 3), st.integers(1, 4), st.integers(1, 4))
def test_pixel_shuffle(r, lead, channels, height, width):
    x = np.random.default_rng(r + height).standard_normal((*lead, channels * r * r, height, width)).astype(np.float32)
    shuffled = E.pixel_shuffle(x, r)
    assert_close(shuffled, F.pixel_shuffle(T(x), r).numpy())
    assert_close(E.pixel_unshuffle(shuffled, r), F.pixel_unshuffle(T(shuffled), r).numpy())
    np.testing.assert_array_equal(E.pixel_unshuffle(shuffled, r), x)


@st.composite
def block_configs(draw):
    kernel = int_tuple(draw, 2, 1, 3)
    dilation = int_tuple(draw, 2, 1, 2)
    padding = int_tuple(draw, 2, 0, 2)
    stride = int_tuple(draw, 2, 1, 3)
    size = int_tuple(draw, 2, 1, 8)
    batched = draw(st.booleans())
    channels = draw(st.integers(1, 3))
    return kernel, dilation, padding, stride, size, batched, channels, draw(float_dtypes), draw(seeds)


@SETTINGS
@given(block_configs())
def test_unfold_and_fold(config):
    kernel, dilation, padding, stride, size, batched, channels, dtype, seed = config
    rng = np.random.default_rng(seed)
    shape = ((2,) if batched else ()) + (channels, *size)
    x = rng.standard_normal(shape).astype(dtype)
    expected = torch_or_none(F.unfold, T(x), kernel, dilation, padding, stride)
    assume(expected is not None and 0 not in expected.shape)
    columns = E.unfold(x, kernel, dilation, padding, stride)
    assert_close(columns, expected, "unfold")
    columns = rng.standard_normal(columns.shape).astype(dtype)
    expected = F.fold(T(columns), size, kernel, dilation, padding, stride).numpy()
    assert_close(E.fold(columns, size, kernel, dilation, padding, stride), expected, "fold")


def test_batch_norm_resnet_size_and_dtype():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((1, 64, 56, 56)).astype(np.float32)
    mean, var = rng.standard_normal(64).astype(np.float32), rng.uniform(0.5, 2, 64).astype(np.float32)
    weight, bias = rng.standard_normal(64).astype(np.float32), rng.standard_normal(64).astype(np.float32)
    got = E.batch_norm(x, mean, var, weight, bias)
    assert got.dtype == np.float32
    assert_close(got, F.batch_norm(T(x), T(mean), T(var), T(weight), T(bias)).numpy())


def test_inputs_are_never_written():
    rng = np.random.default_rng(14)
    x = read_only(sample(rng, (2, 4, 6, 6), np.float32, "special"))
    stats = read_only(rng.uniform(0.5, 2, 4).astype(np.float32))
    for _, ours, _ in ACTIVATIONS:
        ours(x)
    E.prelu(x, stats)
    E.batch_norm(x, stats, stats, stats, stats)
    E.batch_norm(x, None, None)
    E.instance_norm(x, weight=stats, bias=stats)
    S.group_norm(x, 2, stats, stats)
    S.layer_norm(x, (6, 6))
    E.rms_norm(x, 6)
    E.local_response_norm(x, 3)
    for mode in E.PAD_MODES:
        E.pad(x, (1, 1, 0, 0) if mode == "constant" else (1, 1), mode)
        E.pad(x, (0, 0), mode)
    E.pixel_unshuffle(E.pixel_shuffle(x, 2), 2)
    E.fold(read_only(E.unfold(x, 3, padding=1)), (6, 6), 3, padding=1)


# Non-finite coefficients: the branch-free forms would turn the unused branch's 0·inf into NaN.
NON_FINITE = [
    ("leaky_relu_inf", lambda x: E.leaky_relu(x, math.inf), lambda t: F.leaky_relu(t, math.inf)),
    ("leaky_relu_nan", lambda x: E.leaky_relu(x, math.nan), lambda t: F.leaky_relu(t, math.nan)),
    ("leaky_relu_-inf", lambda x: E.leaky_relu(x, -math.inf), lambda t: F.leaky_relu(t, -math.inf)),
    ("prelu_inf", lambda x: E.prelu(x, np.array([math.inf, 0.5, math.nan], x.dtype)),
     lambda t: F.prelu(t, torch.tensor([math.inf, 0.5, math.nan], dtype=t.dtype))),
    ("elu_inf", lambda x: E.elu(x, math.inf), lambda t: F.elu(t, math.inf)),
    ("elu_nan", lambda x: E.elu(x, math.nan), lambda t: F.elu(t, math.nan)),
    ("elu_-inf", lambda x: E.elu(x, -math.inf), lambda t: F.elu(t, -math.inf)),
    ("celu_tiny", lambda x: E.celu(x, 1e-310), lambda t: F.celu(t, 1e-310)),  # 1/alpha = inf
    ("celu_inf", lambda x: E.celu(x, math.inf), lambda t: F.celu(t, math.inf)),
    ("celu_nan", lambda x: E.celu(x, math.nan), lambda t: F.celu(t, math.nan)),
    ("softplus_threshold_nan", lambda x: E.softplus(x, 1.0, math.nan), lambda t: F.softplus(t, 1.0, math.nan)),
    ("softplus_beta_0", lambda x: E.softplus(x, 0.0), lambda t: F.softplus(t, 0.0)),
    ("softplus_beta_inf", lambda x: E.softplus(x, math.inf), lambda t: F.softplus(t, math.inf)),
    ("softplus_beta_-inf", lambda x: E.softplus(x, -math.inf, -math.inf), lambda t: F.softplus(t, -math.inf, -math.inf)),
    ("hardshrink_nan", lambda x: E.hardshrink(x, math.nan), lambda t: F.hardshrink(t, math.nan)),
    ("hardshrink_inf", lambda x: E.hardshrink(x, math.inf), lambda t: F.hardshrink(t, math.inf)),
    ("hardshrink_-inf", lambda x: E.hardshrink(x, -math.inf), lambda t: F.hardshrink(t, -math.inf)),
    ("hardtanh_nan", lambda x: E.hardtanh(x, math.nan, 1.0), lambda t: F.hardtanh(t, math.nan, 1.0)),
    ("threshold_inf_nan", lambda x: E.threshold(x, math.inf, math.nan), lambda t: F.threshold(t, math.inf, math.nan)),
]


@pytest.mark.parametrize("name, ours, theirs", NON_FINITE, ids=[a[0] for a in NON_FINITE])
@pytest.mark.parametrize("dtype", DTYPES)
def test_non_finite_coefficients(name, ours, theirs, dtype):
    rng = np.random.default_rng(zlib.crc32(name.encode()))  # str hashes vary between runs
    x = sample(rng, (2, 3, 40), dtype, "special")
    x[0, 0, :4] = [0.0, -0.0, 1e-30, -1e-30]  # zeros pick a branch; tiny values overflow scales
    assert_close(ours(x), theirs(T(x)).numpy(), name)


@pytest.mark.parametrize("name, ours, theirs", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activations_take_0d_inputs(name, ours, theirs):
    if name.startswith("glu") or name == "softmax2d" or name == "softmax":
        pytest.skip("needs a dim of its own")
    for value in (0.7, -2.5, math.inf, -math.inf, math.nan):
        x = np.array(value)
        assert_close(ours(x), theirs(T(x)).numpy(), f"{name}({value})")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("max_norm", [None, 1.0, 0.5, 0.0, -1.0, math.inf, math.nan, 3])
@pytest.mark.parametrize("norm_type", [2.0, 1, 0.5, 0.0, -1.0, math.inf, -math.inf, math.nan])
def test_embedding(dtype, max_norm, norm_type):
    rng = np.random.default_rng(15)
    weight = (rng.standard_normal((6, 4)) * rng.choice([0.1, 1.0, 3.0], (6, 1))).astype(dtype)
    weight[2] = 0  # zero rows: norm 0, and 0^−p = inf for negative norm_type
    weight[4, :2] = 0
    indices = rng.integers(0, 6, (3, 5))
    indices[0, :3] = [2, 4, 2]  # repeated rows are rescaled once
    theirs = T(weight.copy())
    expected = F.embedding(T(indices), theirs, max_norm=max_norm, norm_type=norm_type).numpy()
    got = E.embedding(indices, read_only(weight), max_norm, norm_type)
    assert_close(got, expected, f"max_norm={max_norm} norm_type={norm_type}")


def test_embedding_max_norm_is_torchs_first_call():
    """torch rescales its weight in place, so its output can change from call to call where a
    rescale cannot bring the norm within max_norm (norm_type=0 counts non-zeros); convcalc
    leaves the weight alone and always answers as a freshly loaded module does."""
    weight = np.array([[3.0, 4.0], [0.3, 0.4]])
    theirs = T(weight.copy())
    first = F.embedding(torch.tensor([0, 1]), theirs, max_norm=1.0, norm_type=0).numpy()
    second = F.embedding(torch.tensor([0, 1]), theirs, max_norm=1.0, norm_type=0).numpy()
    assert not np.allclose(first, second)
    for _ in range(2):
        assert_close(E.embedding(np.array([0, 1]), weight, 1.0, 0), first)


def test_embedding_of_a_single_index_is_a_copy():
    weight = np.arange(6.0).reshape(3, 2)
    row = E.embedding(np.array(1), weight)
    assert row.shape == (2,)
    row[0] = -1
    assert weight[1, 0] == 2


@pytest.mark.parametrize("shape", [(), (1,), (1, 1, 1), (2,), (3, 5)])
@pytest.mark.parametrize("dtype", DTYPES)
def test_gelu_of_inf_by_size(shape, dtype):
    """gelu(+inf) is +inf at every size; torch gives +inf or, in its AVX-512 float32 kernel, NaN."""
    x = np.full(shape, np.inf, dtype)
    got = E.gelu(x)
    assert got.shape == x.shape and got.dtype == x.dtype and (got == np.inf).all()
    theirs = F.gelu(T(x)).numpy()
    assert ((theirs == np.inf) | np.isnan(theirs)).all()
