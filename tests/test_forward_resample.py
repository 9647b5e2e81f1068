"""NumPy interpolate against torch's F.interpolate: every mode, size or scale factor, align_corners."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from forward_compare import assert_close, read_only, sample
from strategies import FILTERED, examples, float_dtypes, int_tuple, seeds

torch = pytest.importorskip("torch")
F = torch.nn.functional
torch.set_num_threads(1)

from convcalc.kernels import _common  # noqa: E402
from convcalc.kernels.resample import interpolate  # noqa: E402

# a NumPy warning escaping a kernel (overflow, inf − inf) is a bug: torch is silent
pytestmark = [pytest.mark.oracle, pytest.mark.filterwarnings("error::RuntimeWarning")]

SETTINGS = examples(300, FILTERED)
MODE_DIMS = {
    "nearest": (1, 2, 3), "nearest-exact": (1, 2, 3), "area": (1, 2, 3),
    "linear": (1,), "bilinear": (2,), "bicubic": (2,), "trilinear": (3,),
}
INTERPOLATING = ("linear", "bilinear", "bicubic", "trilinear")


def run_both(x: np.ndarray, mode: str, *, size=None, scale_factor=None, align_corners=None, recompute=None):
    """(ours, torch's) for one F.interpolate call; None when torch rejects it."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = F.interpolate(
                torch.from_numpy(x), size=size, scale_factor=scale_factor, mode=mode,
                align_corners=align_corners, recompute_scale_factor=recompute,
            ).numpy()
    except (RuntimeError, ValueError):
        return None
    if 0 in expected.shape:
        return None
    nd = x.ndim - 2
    scales = None
    if scale_factor is not None and not recompute and mode != "area":
        scales = scale_factor if isinstance(scale_factor, tuple) else (scale_factor,) * nd
    return interpolate(x, expected.shape[2:], mode, align_corners, scales), expected


@st.composite
def resample_configs(draw):
    mode = draw(st.sampled_from(sorted(MODE_DIMS)))
    nd = draw(st.sampled_from(MODE_DIMS[mode]))
    # large sizes reach torch's generic nearest kernel (2-d outputs with height + width > 128)
    large = nd <= 2 and draw(st.integers(0, 3)) == 0
    spatial = int_tuple(draw, nd, 40, 90) if large else int_tuple(draw, nd, 1, 12)
    if draw(st.booleans()):
        size, recompute = int_tuple(draw, nd, 1, 120 if large else 25), None
        scale = None
    else:
        size, recompute = None, draw(st.sampled_from([None, False, True]))
        factor = st.sampled_from([0.5, 1.0, 1.2, 1.5, 2.0, 3.0, 1 / 3, 0.37, 2.7]) | st.floats(0.15, 4.0)
        scale = draw(factor) if draw(st.booleans()) else tuple(draw(factor) for _ in range(nd))
    return dict(
        x_shape=(draw(st.integers(1, 2)), draw(st.integers(1, 3)), *spatial), mode=mode, size=size,
        scale=scale, recompute=recompute,
        align_corners=draw(st.booleans()) if mode in INTERPOLATING else None,
        dtype=draw(float_dtypes), seed=draw(seeds),
    )


@SETTINGS
@given(resample_configs())
def test_interpolate_hypothesis(c):
    x = sample(np.random.default_rng(c["seed"]), c["x_shape"], c["dtype"], "normal")
    both = run_both(x, c["mode"], size=c["size"], scale_factor=c["scale"],
                    align_corners=c["align_corners"], recompute=c["recompute"])
    assume(both is not None)
    assert_close(*both, str(c))


TABLE = [
    # (input shape, mode, size, scale_factor, align_corners)
    ((1, 64, 56, 56), "bilinear", None, 2.0, False),  # ResNet/FPN-style upsampling
    ((1, 64, 56, 56), "bilinear", None, 2.0, True),
    ((1, 64, 56, 56), "nearest", None, 2.0, None),
    ((1, 3, 1000), "nearest", None, 1.777, None),  # float32 coordinates over a long dim
    ((1, 3, 1000), "nearest-exact", None, 0.613, None),
    ((1, 3, 997), "linear", (1777,), None, False),
    ((1, 2, 4, 4), "bilinear", None, 1.2, False),  # out == in: torch copies despite the scale
    ((1, 2, 5, 7), "bicubic", (1, 1), None, True),  # align_corners with a single output cell
    ((1, 2, 5, 7), "bicubic", (11, 3), None, False),  # clamped border taps, downscaling
    ((1, 2, 6, 6), "bicubic", None, (0.5, 2.5), False),
    ((1, 2, 3, 4, 5), "trilinear", None, (2.0, 1.0, 0.7), False),
    ((1, 2, 3, 4, 5), "nearest", (7, 4, 2), None, None),
    ((2, 3, 9, 10), "area", (4, 3), None, None),
    ((1, 1, 3), "nearest", None, 1 / 3 * 7, None),
    ((1, 2, 70, 70), "nearest", None, 1.01, None),  # generic kernel: no out == in shortcut
    ((1, 2, 70, 70), "nearest", None, 2.01, None),  # generic kernel: no out == 2·in shortcut
    ((1, 2, 30, 30), "nearest", None, 1.01, None),  # channels-last kernel (small output): copy
    ((1, 5, 1, 1), "nearest", (70, 90), None, None),  # 1×1 input with C > 3 counts as channels-last
    ((1, 5, 1, 1, 1), "nearest-exact", (3, 4, 5), None, None),
    ((2, 3, 1, 1, 1), "nearest", (3, 4, 5), None, None),
    ((1, 2, 90, 50), "nearest-exact", None, 0.77, None),
]


@pytest.mark.parametrize("shape, mode, size, scale, align", TABLE)
def test_interpolate_table(shape, mode, size, scale, align):
    x = sample(np.random.default_rng(5), shape, np.float32, "normal")
    got, expected = run_both(x, mode, size=size, scale_factor=scale, align_corners=align)
    assert_close(got, expected)


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "bilinear", "bicubic", "area"])
def test_chunks_and_layouts(monkeypatch, mode):
    monkeypatch.setattr(_common, "CHUNK_BYTES", 5000)
    x = sample(np.random.default_rng(6), (3, 5, 9, 8), np.float64, "normal").transpose(0, 1, 3, 2)
    align = False if mode in INTERPOLATING else None
    got, expected = run_both(x.copy(), mode, size=(13, 6), align_corners=align)
    assert_close(interpolate(x, (13, 6), mode, align), expected)
    assert_close(got, expected)


def test_nan_and_inf_spread_like_torch():
    x = sample(np.random.default_rng(7), (1, 2, 6, 6), np.float32, "special")
    for mode, align in (("nearest", None), ("bilinear", False), ("bicubic", True), ("area", None)):
        got, expected = run_both(x, mode, scale_factor=1.5, align_corners=align)
        assert_close(got, expected, mode)


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact", "bilinear", "bicubic"])
def test_float64_large_generic_kernel(mode):
    x = sample(np.random.default_rng(8), (1, 2, 97, 61), np.float64, "normal")
    align = False if mode in INTERPOLATING else None
    for scale in (0.37, 1.01, 1.7, 2.0):
        got, expected = run_both(x, mode, scale_factor=scale, align_corners=align)
        assert_close(got, expected, f"scale {scale}")


def test_dtype_is_kept():
    x = np.zeros((1, 1, 3, 3), dtype=np.float32)
    assert interpolate(x, (5, 5), "bicubic", False).dtype == np.float32
    assert interpolate(x.astype(np.float64), (5, 5), "bilinear", True).dtype == np.float64


def test_inputs_are_never_written():
    x = read_only(sample(np.random.default_rng(13), (1, 2, 5, 6), np.float32, "normal"))
    for mode in ("nearest", "nearest-exact", "bilinear", "bicubic", "area"):
        align = False if mode in INTERPOLATING else None
        for size in ((5, 6), (10, 12), (3, 2)):
            interpolate(x, size, mode, align)
