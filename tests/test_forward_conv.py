"""Conv-type forward kernels against torch: values of conv, transposed conv, linear, bilinear.

Every formulation of ``conv_nd`` (``method=``) is checked, not only the one "auto" picks, and
chunking is checked to change nothing.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from forward_compare import assert_close
from strategies import FILTERED, PADDING_MODES, SLOW, examples, float_dtypes, int_tuple

torch = pytest.importorskip("torch")
torch.set_num_threads(1)
F = torch.nn.functional

from convcalc.arith import ConvRule, TransposedRule  # noqa: E402
from convcalc.kernels.conv import METHODS, conv_nd, conv_transpose_nd  # noqa: E402
from convcalc.kernels.linear import bilinear, linear  # noqa: E402

pytestmark = pytest.mark.oracle

def random(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def kernel_pads(nd, kernel, padding, dilation):
    """(left, right) per dim as torch.nn.ConvNd pads: 'same' puts the odd extra on the right."""
    if padding == "valid":
        return ((0, 0),) * nd
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        return tuple((t // 2, t - t // 2) for t in totals)
    return tuple((p, p) for p in padding)


def applicable_methods(stride, in_per_group, groups, kernel=(), dilation=()):
    methods = ["auto", "gemm"]
    if all(s == 1 for s in stride):
        methods += ["rows", "taps"]
        if all(k == 3 for k in kernel) and all(d == 1 for d in dilation):
            methods.append("winograd")
    if in_per_group == 1 and groups > 1:
        methods.append("depthwise")
    return methods


def check_conv(nd, cin, cout, kernel, stride, padding, dilation, groups, mode, spatial, batch,
               dtype=np.float32, bias=True, methods=None, max_buffer_bytes=None):
    kernel, stride, dilation = (tuple(v) * (nd // len(v)) for v in (kernel, stride, dilation))
    if not isinstance(padding, str):
        padding = tuple(padding) * (nd // len(padding))
    x = random((batch, cin, *spatial), dtype, 1)
    module = getattr(torch.nn, f"Conv{nd}d")(
        cin, cout, kernel, stride, padding, dilation, groups, bias, mode, dtype=torch.float64
    ).eval()
    weight = module.weight.detach().numpy().astype(dtype)
    bias_ = module.bias.detach().numpy().astype(dtype) if bias else None
    module = module.to(torch.float32 if dtype == np.float32 else torch.float64)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch warns that 'same' with an even kernel copies the input
        module.weight.copy_(torch.from_numpy(weight))
        want = module(torch.from_numpy(x)).numpy()
    pads = kernel_pads(nd, kernel, padding, dilation)
    for method in methods or applicable_methods(stride, cin // groups, groups, kernel, dilation):
        got = conv_nd(x, weight, bias_, stride, pads, dilation, groups, mode,
                      method=method, max_buffer_bytes=max_buffer_bytes)
        assert_close(got, want)


CONV_TABLE = [
    # nd, cin, cout, kernel, stride, padding, dilation, groups, padding_mode, spatial, batch
    (2, 3, 8, (3,), (1,), (1,), (1,), 1, "zeros", (9, 10), 2),
    (2, 3, 8, (3,), (1,), (1,), (1,), 1, "reflect", (9, 10), 2),
    (2, 3, 8, (3,), (1,), (2,), (1,), 1, "replicate", (9, 10), 2),
    (2, 3, 8, (3,), (1,), (3,), (1,), 1, "circular", (9, 10), 2),
    (2, 3, 8, (3, 5), (2, 1), (2, 1), (1,), 1, "reflect", (9, 10), 2),
    (2, 3, 8, (3, 5), (2, 3), (3, 4), (1,), 1, "circular", (5, 4), 1),  # pad == size wraps once
    (2, 3, 8, (3, 5), (3, 2), (4, 0), (1,), 1, "replicate", (6, 7), 1),
    (2, 4, 6, (4,), (1,), "same", (1,), 1, "zeros", (8, 9), 2),  # asymmetric (1, 2) pads
    (2, 4, 6, (4, 2), (1,), "same", (1,), 1, "reflect", (8, 9), 2),
    (2, 4, 6, (4, 3), (1,), "same", (2, 1), 2, "circular", (8, 9), 1),
    (2, 4, 6, (2,), (1,), "same", (3,), 2, "replicate", (8, 9), 1),
    (2, 4, 6, (3,), (1,), "valid", (1,), 1, "zeros", (8, 9), 1),
    (2, 4, 6, (3,), (2,), (2,), (2,), 1, "zeros", (11, 12), 2),
    (2, 4, 6, (3, 2), (1, 3), (0, 1), (3, 2), 2, "zeros", (11, 12), 2),
    (2, 6, 9, (3,), (1,), (1,), (1,), 3, "zeros", (7, 8), 2),
    (2, 8, 8, (3,), (1,), (1,), (1,), 8, "zeros", (7, 8), 2),  # depthwise
    (2, 8, 16, (3,), (2,), (1,), (1,), 8, "reflect", (7, 8), 2),  # depthwise, multiplier 2
    (2, 8, 24, (5, 3), (1, 2), (2, 1), (2, 1), 8, "zeros", (9, 8), 1),
    (2, 8, 8, (3,), (2,), (0,), (1,), 8, "zeros", (9, 10), 2),  # unpadded: the input is the slab
    (2, 40, 36, (3,), (1,), (1,), (1,), 1, "zeros", (6, 7), 2),  # wide channels ("taps")
    (2, 64, 64, (3,), (1,), (1,), (1,), 2, "zeros", (5, 5), 1),
    (2, 5, 7, (1,), (1,), (0,), (1,), 1, "zeros", (6, 7), 2),  # 1×1: x is its own im2col
    (2, 5, 7, (1,), (2,), (0,), (1,), 1, "zeros", (7, 7), 2),
    (2, 5, 7, (1,), (1,), (1,), (1,), 1, "zeros", (3, 3), 1),  # 1×1 with padding
    (2, 3, 4, (5, 6), (1,), (0,), (1,), 1, "zeros", (5, 6), 2),  # kernel = input: 1×1 output
    (2, 3, 4, (3,), (4,), (0,), (1,), 1, "zeros", (10, 10), 1),  # stride skips trailing pixels
    (1, 6, 4, (3,), (1,), (1,), (1,), 1, "zeros", (20,), 3),
    (1, 6, 4, (5,), (2,), (3,), (2,), 2, "circular", (20,), 2),
    (1, 6, 6, (3,), (1,), "same", (1,), 6, "reflect", (9,), 2),
    (3, 4, 6, (3,), (1,), (1,), (1,), 1, "zeros", (4, 5, 6), 2),
    (3, 4, 6, (3, 1, 2), (2, 1, 1), (1, 0, 1), (1, 1, 2), 2, "replicate", (5, 5, 6), 1),
    (3, 4, 4, (3,), (1,), "same", (1,), 4, "circular", (4, 5, 3), 2),
    (3, 4, 8, (2,), (1,), "same", (2,), 1, "zeros", (4, 5, 6), 1),
    (2, 16, 24, (3,), (1,), (1,), (1,), 1, "zeros", (29, 30), 2),  # Winograd over several tiles
    (2, 16, 24, (3,), (1,), (0,), (1,), 2, "reflect", (8, 7), 1),  # odd output sizes
    (3, 6, 4, (3,), (1,), (1, 0, 2), (1,), 1, "replicate", (3, 4, 5), 2),
    (1, 6, 4, (3,), (1,), (2,), (1,), 2, "zeros", (11,), 2),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("row", CONV_TABLE, ids=lambda row: f"{row[0]}d-k{row[3]}-s{row[4]}-p{row[5]}-d{row[6]}-g{row[7]}-{row[8]}")
def test_conv_table(row, dtype):
    check_conv(*row, dtype=dtype)


def test_conv_without_bias_and_chunked():
    check_conv(2, 4, 6, (3,), (1,), (1,), (1,), 2, "reflect", (9, 7), 3, bias=False, max_buffer_bytes=1)


def small_integers(shape, seed):
    """Integer-valued floats: every sum is exact, so any summation order gives the same bits."""
    return np.random.default_rng(seed).integers(-4, 5, shape).astype(np.float64)


@pytest.mark.parametrize("method", METHODS)
def test_chunking_changes_nothing(method):
    """A tiny bound cuts every image into one-row chunks: the values must not change.

    BLAS may sum in another order for another matrix width, hence integer-valued data.
    """
    groups = 12 if method == "depthwise" else 2
    weight = small_integers((12, 12 // groups, 3, 3), 2)
    x = small_integers((3, 12, 9, 11), 3)
    bias = small_integers((12,), 4)
    stride = 2 if method in ("gemm", "depthwise") else 1
    if method == "winograd":  # its transforms halve: keep the values exact with even weights
        weight *= 2
    whole = conv_nd(x, weight, bias, stride, 1, 1, groups, method=method)
    chunked = conv_nd(x, weight, bias, stride, 1, 1, groups, method=method, max_buffer_bytes=1)
    np.testing.assert_array_equal(chunked, whole)
    mid = conv_nd(x, weight, bias, stride, 1, 1, groups, method=method, max_buffer_bytes=30_000)
    np.testing.assert_array_equal(mid, whole)


def test_transposed_chunking_changes_nothing():
    x = small_integers((4, 6, 5, 7), 5)
    weight = small_integers((6, 2, 3, 4), 6)
    whole = conv_transpose_nd(x, weight, None, 2, 1, 1, 1, 3)
    np.testing.assert_array_equal(conv_transpose_nd(x, weight, None, 2, 1, 1, 1, 3, max_buffer_bytes=1), whole)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_dtype_is_kept(dtype):
    x, w = random((1, 2, 5, 5), dtype), random((3, 2, 3, 3), dtype)
    assert conv_nd(x, w).dtype == dtype
    assert conv_transpose_nd(x, random((2, 3, 3, 3), dtype)).dtype == dtype
    assert linear(random((2, 5), dtype), random((3, 5), dtype)).dtype == dtype
    assert bilinear(random((2, 5), dtype), random((2, 4), dtype), random((3, 5, 4), dtype)).dtype == dtype


def test_float16_matches_torch():
    """Half precision computes in float32 and rounds once at the end, as torch's CPU conv does."""
    x, w, b = random((2, 3, 9, 9), np.float16, 1), random((4, 3, 3, 3), np.float16, 2), random((4,), np.float16, 3)
    want = F.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), padding=1).numpy()
    np.testing.assert_allclose(conv_nd(x, w, b, 1, 1).astype(np.float32), want.astype(np.float32), rtol=2e-3, atol=2e-3)
    xl, wl = random((5, 7), np.float16, 4), random((3, 7), np.float16, 5)
    want = F.linear(torch.from_numpy(xl), torch.from_numpy(wl)).numpy()
    np.testing.assert_allclose(linear(xl, wl).astype(np.float32), want.astype(np.float32), rtol=2e-3, atol=2e-3)


def check_transposed(nd, cin, cout, kernel, stride, padding, output_padding, dilation, groups,
                     spatial, batch, dtype=np.float32, bias=True):
    kernel, stride, padding, output_padding, dilation = (
        tuple(v) * (nd // len(v)) for v in (kernel, stride, padding, output_padding, dilation)
    )
    x = random((batch, cin, *spatial), dtype, 7)
    weight = random((cin, cout // groups, *kernel), dtype, 8)
    bias_ = random((cout,), dtype, 9) if bias else None
    conv = getattr(F, f"conv_transpose{nd}d")
    want = conv(torch.from_numpy(x), torch.from_numpy(weight), None if bias_ is None else torch.from_numpy(bias_),
                stride, padding, output_padding, groups, dilation).numpy()
    got = conv_transpose_nd(x, weight, bias_, stride, padding, output_padding, dilation, groups)
    assert_close(got, want)


TRANSPOSED_TABLE = [
    # nd, cin, cout, kernel, stride, padding, output_padding, dilation, groups, spatial, batch
    (2, 4, 6, (3,), (1,), (0,), (0,), (1,), 1, (5, 6), 2),
    (2, 4, 6, (4,), (2,), (1,), (0,), (1,), 1, (5, 6), 2),
    (2, 4, 6, (3,), (2,), (1,), (1,), (1,), 1, (5, 6), 1),
    (2, 4, 6, (3,), (3,), (0,), (2,), (1,), 1, (4, 3), 1),  # output_padding past the scatter
    (2, 4, 6, (3,), (1,), (2,), (1,), (2,), 2, (5, 6), 2),  # output_padding < dilation
    (2, 4, 6, (2,), (2,), (0,), (0,), (1,), 2, (5, 6), 1),  # stride = kernel: no overlap
    (2, 4, 4, (3,), (2,), (1,), (1,), (1,), 4, (5, 6), 2),  # depthwise
    (2, 3, 5, (3, 4), (2, 3), (1, 2), (1, 0), (2, 1), 1, (4, 5), 2),
    (2, 2, 3, (9,), (1,), (0,), (0,), (1,), 1, (2, 2), 1),  # kernel larger than input
    (1, 6, 4, (5,), (3,), (2,), (2,), (1,), 2, (7,), 3),
    (3, 4, 6, (3,), (2,), (1,), (1,), (1,), 2, (3, 4, 3), 2),
    (3, 2, 4, (2, 3, 1), (1, 2, 3), (0, 1, 0), (0, 1, 2), (3, 1, 1), 1, (3, 3, 2), 1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("row", TRANSPOSED_TABLE, ids=lambda row: f"{row[0]}d-k{row[3]}-s{row[4]}-p{row[5]}-op{row[6]}-d{row[7]}-g{row[8]}")
def test_transposed_table(row, dtype):
    check_transposed(*row, dtype=dtype)


@st.composite
def valid_convs(draw):
    nd = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin = groups * draw(st.integers(1, 3))
    cout = groups * draw(st.integers(1, 3))
    kernel, dilation = int_tuple(draw, nd, 1, 4), int_tuple(draw, nd, 1, 3)
    stride = int_tuple(draw, nd, 1, 3)
    mode = draw(st.sampled_from(PADDING_MODES))
    if all(s == 1 for s in stride) and draw(st.booleans()):
        padding = "same"
    else:
        padding = int_tuple(draw, nd, 0, 3)
    spatial = int_tuple(draw, nd, 1, 9)
    pads = kernel_pads(nd, kernel, padding, dilation)
    for size, (left, right), k, s, d in zip(spatial, pads, kernel, stride, dilation):
        assume(ConvRule(k, s, left, right, d).numerator(size) >= 0)
        assume(mode != "reflect" or max(left, right) < size)
        assume(mode != "circular" or max(left, right) <= size)
    batch = draw(st.integers(1, 3))
    dtype = draw(float_dtypes)
    bound = draw(st.sampled_from([None, None, 1, 3000]))
    methods = applicable_methods(stride, cin // groups, groups, kernel, dilation)
    method = draw(st.sampled_from(methods))
    return dict(nd=nd, cin=cin, cout=cout, kernel=kernel, stride=stride, padding=padding,
                dilation=dilation, groups=groups, mode=mode, spatial=spatial, batch=batch,
                dtype=dtype, bias=draw(st.booleans()), methods=[method], max_buffer_bytes=bound)


@examples(250, SLOW + FILTERED)
@given(valid_convs())
def test_conv_hypothesis(config):
    check_conv(**config)


@st.composite
def same_width_convs(draw):
    """Zero-padded stride-1 convs that keep every dim but the first: "rows" on the narrow grid."""
    nd = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 2, 4]))
    cin = groups * draw(st.integers(1, 3))
    cout = groups * draw(st.integers(1, 2))
    kernel, dilation = int_tuple(draw, nd, 1, 4), int_tuple(draw, nd, 1, 3)
    spatial = int_tuple(draw, nd, 2, 9)
    pads = kernel_pads(nd, kernel, "same", dilation)
    return dict(nd=nd, cin=cin, cout=cout, kernel=kernel, stride=(1,), padding="same",
                dilation=dilation, groups=groups, mode="zeros", spatial=spatial,
                batch=draw(st.integers(1, 2)), dtype=draw(float_dtypes),
                bias=draw(st.booleans()), methods=["rows"], max_buffer_bytes=draw(st.sampled_from([None, 1, 2000])))


@examples(150, SLOW + FILTERED)
@given(same_width_convs())
def test_rows_on_the_narrow_grid(config):
    check_conv(**config)


def test_narrow_grid_shift_past_a_whole_dim():
    """A later dim's padding larger than the dim: the edge to zero is the whole dim."""
    x, weight = random((1, 1, 4, 5, 2), np.float64, 1), random((1, 1, 1, 1, 3), np.float64, 2)
    pads, dilation = ((0, 0), (0, 0), (3, 3)), (1, 1, 3)
    want = F.conv3d(F.pad(torch.from_numpy(x), (3, 3)), torch.from_numpy(weight), dilation=dilation).numpy()
    assert_close(conv_nd(x, weight, None, 1, pads, dilation, method="rows"), want)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
@pytest.mark.parametrize("method", ["auto", "rows", "gemm"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_weights_and_inputs_spread_as_in_torch(method, bad):
    """Torch multiplies the zero padding by the weights (0·inf = NaN) and sums NaN inputs in."""
    x, weight = random((1, 4, 16, 16), np.float32, 1), random((4, 4, 3, 3), np.float32, 2)
    bias = random((4,), np.float32, 3)
    weight[0, 0, 1, 2] = bad
    x[0, 1, 5, 0] = bad
    want = F.conv2d(torch.from_numpy(x), torch.from_numpy(weight), torch.from_numpy(bias), padding=1).numpy()
    got = conv_nd(x, weight, bias, 1, 1, method=method)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kernel, dilation, groups", [((3, 3), (1, 1), 8), ((2, 4), (1, 2), 1), ((5, 3), (2, 1), 2)])
def test_same_convs_take_the_narrow_grid(kernel, dilation, groups):
    """The case the narrow grid exists for is taken (so the tests above check it), exactly."""
    from convcalc.kernels.conv.geometry import ConvGeometry
    from convcalc.kernels.conv.grid import narrow_fits

    pads = kernel_pads(2, kernel, "same", dilation)
    geo = ConvGeometry((1, 8, 7, 9), (8, 8 // groups, *kernel), (1, 1), pads, dilation, groups)
    assert narrow_fits(geo)
    x, weight = small_integers((2, 8, 7, 9), 1), small_integers((8, 8 // groups, *kernel), 2)
    bias = small_integers((8,), 3)
    want = conv_nd(x, weight, bias, 1, pads, dilation, groups, method="gemm")
    np.testing.assert_array_equal(conv_nd(x, weight, bias, 1, pads, dilation, groups, method="rows"), want)


@st.composite
def valid_transposed(draw):
    nd = draw(st.integers(1, 3))
    groups = draw(st.sampled_from([1, 1, 2, 3]))
    cin = groups * draw(st.integers(1, 3))
    cout = groups * draw(st.integers(1, 3))
    kernel, stride, dilation = int_tuple(draw, nd, 1, 4), int_tuple(draw, nd, 1, 3), int_tuple(draw, nd, 1, 3)
    padding = int_tuple(draw, nd, 0, 3)
    output_padding = int_tuple(draw, nd, 0, [max(s, d) - 1 for s, d in zip(stride, dilation)])
    spatial = int_tuple(draw, nd, 1, 6)
    for size, k, s, p, d, op in zip(spatial, kernel, stride, padding, dilation, output_padding):
        assume(TransposedRule(k, s, p, d, op).out(size) >= 1)
    return dict(nd=nd, cin=cin, cout=cout, kernel=kernel, stride=stride, padding=padding,
                output_padding=output_padding, dilation=dilation, groups=groups, spatial=spatial,
                batch=draw(st.integers(1, 3)), dtype=draw(float_dtypes),
                bias=draw(st.booleans()))


@examples(200, SLOW + FILTERED)
@given(valid_transposed())
def test_transposed_hypothesis(config):
    check_transposed(**config)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lead", [(), (3,), (2, 4)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear(lead, dtype, bias):
    x, weight = random((*lead, 7), dtype, 10), random((5, 7), dtype, 11)
    bias_ = random((5,), dtype, 12) if bias else None
    want = F.linear(torch.from_numpy(x), torch.from_numpy(weight),
                    None if bias_ is None else torch.from_numpy(bias_)).numpy()
    assert_close(linear(x, weight, bias_), want)


@pytest.mark.parametrize("lead", [(3,), (2, 5), (200,)])
def test_linear_big_weight(lead):
    """Few rows against a big weight take the W·xᵀ path."""
    x, weight, bias_ = random((*lead, 512), np.float32, 17), random((600, 512), np.float32, 18), random((600,), np.float32, 19)
    want = F.linear(torch.from_numpy(x), torch.from_numpy(weight), torch.from_numpy(bias_)).numpy()
    got = linear(x, weight, bias_)
    assert got.flags.c_contiguous
    assert_close(got, want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lead", [(), (3,), (2, 4)])
@pytest.mark.parametrize("features", [(3, 6), (6, 3)])
@pytest.mark.parametrize("bound", [None, 1])
def test_bilinear(lead, dtype, features, bound):
    in1, in2 = features
    x1, x2 = random((*lead, in1), dtype, 13), random((*lead, in2), dtype, 14)
    weight, bias = random((4, in1, in2), dtype, 15), random((4,), dtype, 16)
    want = F.bilinear(*(torch.from_numpy(a) for a in (x1, x2, weight, bias))).numpy()
    assert_close(bilinear(x1, x2, weight, bias, max_buffer_bytes=bound), want)


def test_scratch_kept_between_calls_changes_no_result():
    """Each thread keeps its scratch buffers between calls, with the constant parts a call
    wrote into them (a row of ones for the bias, zero padding). Calls whose buffers have the
    same shapes but other constants must still rewrite them: here a 1×3 conv with a bias and
    one input channel per group, then one without a bias and two (its copies overwrite the
    row of ones), then the first again; and the padded-slab methods in between."""
    x1, x2 = random((1, 4, 6, 7), np.float32, 1), random((1, 8, 6, 7), np.float32, 2)
    w1, w2, b1 = random((4, 1, 1, 3), np.float32, 3), random((4, 2, 1, 3), np.float32, 4), random((4,), np.float32, 5)
    pads = ((0, 0), (1, 1))
    want1 = F.conv2d(torch.from_numpy(x1), torch.from_numpy(w1), torch.from_numpy(b1), padding=(0, 1), groups=4).numpy()
    want2 = F.conv2d(torch.from_numpy(x2), torch.from_numpy(w2), padding=(0, 1), groups=4).numpy()
    w3 = random((4, 1, 3, 3), np.float32, 6)
    want3 = F.conv2d(torch.from_numpy(x1), torch.from_numpy(w3), torch.from_numpy(b1), padding=1, groups=4).numpy()
    for method in ("rows", "rows", "gemm", "rows", "taps", "winograd", "rows", "depthwise", "rows"):
        if method == "winograd":  # 1×3 kernels do not fit it
            assert_close(conv_nd(x1, w3, b1, 1, 1, 1, 4, method=method), want3)
            continue
        assert_close(conv_nd(x1, w1, b1, 1, pads, 1, 4, method=method), want1)
        if method != "depthwise":
            assert_close(conv_nd(x2, w2, None, 1, pads, 1, 4, method=method), want2)


def test_depthwise_bias_row_survives_a_call_without_bias():
    """The stride-1 depthwise kernel keeps its column matrix's row of ones (the bias column's)
    from call to call; a call without a bias whose taps fill the same buffer overwrites it,
    and the next call with a bias must write it again."""
    x = random((1, 8, 14, 14), np.float32, 1)
    weight, bias = random((8, 1, 3, 3), np.float32, 2), random((8,), np.float32, 3)
    tx, tw, tb = torch.from_numpy(x), torch.from_numpy(weight), torch.from_numpy(bias)
    for with_bias in (True, False, True, False, True):
        b, tb_ = (bias, tb) if with_bias else (None, None)
        want = F.conv2d(tx, tw, tb_, 1, 1, 1, 8).numpy()
        assert_close(conv_nd(x, weight, b, 1, 1, 1, 8, method="depthwise"), want, f"bias={with_bias}")


def test_scratch_past_the_keep_bound_is_freed(monkeypatch):
    """A call that needed more scratch than KEEP_BYTES frees it; release_scratch frees it all."""
    from convcalc.kernels.conv import scratch as kept

    monkeypatch.setattr(kept, "KEEP_BYTES", 1000)
    x, weight = random((1, 4, 16, 16), np.float32, 1), random((4, 4, 3, 3), np.float32, 2)
    conv_nd(x, weight, None, 1, 1)
    with kept.Scratch.kept(np.dtype(np.float32)) as scratch:
        assert scratch.buffers == {}
    monkeypatch.setattr(kept, "KEEP_BYTES", 2**30)
    conv_nd(x, weight, None, 1, 1)
    with kept.Scratch.kept(np.dtype(np.float32)) as scratch:
        assert scratch.buffers != {}
    kept.release_scratch()
    with kept.Scratch.kept(np.dtype(np.float32)) as scratch:
        assert scratch.buffers == {} and scratch.filled == {}


def test_a_call_made_during_another_on_the_same_thread_has_its_own_scratch(monkeypatch):
    """A signal handler may run a conv between two bytecodes of another conv on the same
    thread: here one runs inside the first's tap sum. Neither result may change."""
    from convcalc.kernels.conv import rows

    x, weight = random((2, 4, 9, 9), np.float32, 1), random((4, 4, 3, 3), np.float32, 2)
    x2, weight2 = random((1, 4, 9, 9), np.float32, 3), random((4, 2, 3, 3), np.float32, 4)
    want = F.conv2d(torch.from_numpy(x), torch.from_numpy(weight), padding=1).numpy()
    want2 = F.conv2d(torch.from_numpy(x2), torch.from_numpy(weight2), padding=1, groups=2).numpy()
    inner, running = [], []
    sum_into = rows._sum_into

    def interrupted(dest, terms):
        if not running:  # the inner call's own tap sums run undisturbed
            running.append(True)
            inner.append(conv_nd(x2, weight2, None, 1, 1, 1, 2, method="rows", max_buffer_bytes=3000))
            running.pop()
        sum_into(dest, terms)

    monkeypatch.setattr(rows, "_sum_into", interrupted)
    assert_close(conv_nd(x, weight, None, 1, 1, method="rows", max_buffer_bytes=3000), want)
    assert inner
    for got in inner:
        assert_close(got, want2)


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("mode", ["zeros", "reflect", "circular"])
@pytest.mark.parametrize("block_bytes", [None, 1])
def test_depthwise_method_every_stride_dilation_and_padding(nd, mode, block_bytes, monkeypatch):
    """Method "depthwise" against torch: strides 1-3 (its stride phases, read from the input
    itself with zero padding or from the padded slab otherwise), dilations 1-2 (a phase read by
    every tap), channel multipliers 1-2, with and without bias, whole and cut into chunks of
    rows; and with stride 1 in blocks of one channel (``BLOCK_BYTES``) as well as whole."""
    import itertools

    from convcalc.kernels.conv import depthwise

    if block_bytes is not None:
        monkeypatch.setattr(depthwise, "BLOCK_BYTES", block_bytes)

    spatial = (9, 11, 7)[:nd] if nd < 3 else (6, 7, 5)
    kernel = 3 if nd < 3 else 2
    rng = np.random.default_rng(nd)
    for stride, dilation, multiplier, pad, bias in itertools.product((1, 2, 3), (1, 2), (1, 2), (0, 1, 2), (True, False)):
        x = rng.standard_normal((2, 4, *spatial)).astype(np.float32)
        weight = rng.standard_normal((4 * multiplier, 1, *(kernel,) * nd)).astype(np.float32)
        b = rng.standard_normal(4 * multiplier).astype(np.float32) if bias else None
        tx = torch.from_numpy(x) if mode == "zeros" else F.pad(torch.from_numpy(x), (pad,) * 2 * nd, mode=mode)
        torch_conv = getattr(F, f"conv{nd}d")
        want = torch_conv(tx, torch.from_numpy(weight), None if b is None else torch.from_numpy(b), stride,
                          pad if mode == "zeros" else 0, dilation, 4).numpy()
        for bound in (None, 1):
            got = conv_nd(x, weight, b, stride, pad, dilation, 4, mode, method="depthwise", max_buffer_bytes=bound)
            assert_close(got, want)


def test_depthwise_stride_far_past_the_kernel_makes_only_the_phases_read():
    """A stride of 1000 over a 3-tap kernel reads 3 phases along that dim, not 1000, and is
    exact."""
    from convcalc.kernels.conv.depthwise import phase_layout

    assert phase_layout((2002, 7), (3, 3), (1000, 1), (1, 1)).phases == 3
    x = random((1, 2, 2000, 5), np.float32, 1)
    weight = random((2, 1, 3, 3), np.float32, 2)
    got = conv_nd(x, weight, None, (1000, 1), 1, 1, 2, method="depthwise")
    want = F.conv2d(torch.from_numpy(x), torch.from_numpy(weight), None, (1000, 1), 1, 1, 2).numpy()
    assert_close(got, want)
