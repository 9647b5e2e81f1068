"""The slice norms' float32 arithmetic on long slices, against float64 on the same values:
the run sums, the x·a + b form for slices near 0, the centred form for slices far from it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from convcalc.kernels import slices
from convcalc.kernels.slices import _centre_rows, group_norm, instance_planes, layer_norm, row_sums

RNG = np.random.default_rng(21)


@pytest.mark.parametrize("length", [1, 768, 2047, 10007, 25088, 100352])
@pytest.mark.parametrize("squared", [False, True])
def test_row_sums_keep_float32_precision(length, squared):
    rows = (RNG.standard_normal((3, length)) * 2 + 5).astype(np.float32)
    expected = [math.fsum(float(v) ** 2 if squared else float(v) for v in row) for row in rows]
    got = row_sums(rows, squared=squared)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-6)  # a few float32 ulps
    np.testing.assert_allclose(row_sums(rows, squared=squared, exact=True), expected, rtol=1e-13)


def test_row_sums_of_near_constant_rows_in_one_call():
    """Reproducer: 4 rows of 2,047 equal values summed in one BLAS run were 1.4e-6 off."""
    rows = np.full((4, 2047), np.float32(0.131))
    expected = math.fsum([float(np.float32(0.131))] * 2047)
    np.testing.assert_allclose(row_sums(rows), expected, rtol=3e-7)
    np.testing.assert_allclose(row_sums(rows, squared=True), expected * float(np.float32(0.131)), rtol=3e-7)


def test_run_lengths_divide_the_row_where_they_can():
    for length in (300, 768, 25088, 100352, 3 * 5 * 7 * 11 * 13):
        run = slices._run_length(length)
        assert length % run == 0 and (run == length or slices._RUN // 2 <= run < 2 * slices._RUN)
    for prime in (2047, 10007):  # the values past the last whole run are added alone
        assert slices._run_length(prime) == slices._RUN


def _reference(x: np.ndarray, axes: tuple[int, ...], eps: float = 1e-5) -> np.ndarray:
    wide = x.astype(np.float64)
    mean = wide.mean(axis=axes, keepdims=True)
    return (wide - mean) / np.sqrt(((wide - mean) ** 2).mean(axis=axes, keepdims=True) + eps)


# |mean| / spread: 0 and 1.9 take the x·a + b form, 2.1, 50 and 1000 are centred first
@pytest.mark.parametrize("offset", [0.0, 1.9, 2.1, 50.0, 1000.0])
def test_long_slices_agree_with_float64(offset, monkeypatch):
    x = (RNG.standard_normal((2, 8, 40, 40)) * 0.5 + 0.5 * offset).astype(np.float32)
    centred = []
    monkeypatch.setattr(slices, "_centre_rows", lambda *args: centred.append(1) or _centre_rows(*args))
    checks = [
        (group_norm(x, 2), _reference(x.reshape(2, 2, -1), (2,)).reshape(x.shape)),
        (instance_planes(x), _reference(x, (2, 3))),
        (layer_norm(x, (40, 40)), _reference(x, (2, 3))),
    ]
    assert len(centred) == (0 if offset < 2 else 3)
    # rows of 40 scatter about the offset: some blocks take each form
    checks.append((layer_norm(x.reshape(-1, 40), 40), _reference(x.reshape(-1, 40), (1,))))
    for got, expected in checks:
        assert got.dtype == np.float32
        assert np.abs(got - expected).max() <= 2e-6 * np.abs(expected).max()


def test_a_constant_ish_row_on_the_fast_form():
    """Reproducer: |mean| = 1.87σ over 2,047 values, 4 rows a block: 1.4e-5 off torch."""
    row = np.where(np.arange(2047) % 9 < 7, np.float32(0.18196392), np.float32(0))
    x = np.tile(row, (4, 1))
    expected = _reference(x, (1,))
    assert np.abs(layer_norm(x, 2047) - expected).max() <= 2e-6 * np.abs(expected).max()


def test_a_nan_row_leaves_its_blocks_other_rows_alone():
    """Reproducer: a NaN in one row switched off the mean's correction for every row."""
    x = (100 + 0.01 * np.random.default_rng(1).standard_normal((8, 768))).astype(np.float32)
    clean = layer_norm(x, 768)
    x[7, 5] = np.nan
    poisoned = layer_norm(x, 768)
    assert np.isnan(poisoned[7]).all() and np.array_equal(poisoned[:7], clean[:7])
    expected = _reference(x[:7], (1,))
    assert np.abs(poisoned[:7] - expected).max() <= 2e-6 * np.abs(expected).max()


def test_values_whose_float32_squares_overflow():
    x = (RNG.standard_normal((3, 768)) * 1e19).astype(np.float32)
    expected = _reference(x, (1,))
    assert np.abs(layer_norm(x, 768) - expected).max() <= 2e-6 * np.abs(expected).max()


def test_no_slices_give_an_empty_result():
    assert layer_norm(np.zeros((0, 4, 3), np.float32), (3,)).shape == (0, 4, 3)
    assert group_norm(np.zeros((0, 4, 3), np.float32), 2).shape == (0, 4, 3)


def test_affine_per_slice_and_per_position():
    x = (RNG.standard_normal((3, 6, 50)) + 0.3).astype(np.float32)
    weight, bias = RNG.standard_normal(6).astype(np.float32), RNG.standard_normal(6).astype(np.float32)
    expected = _reference(x.reshape(3, 3, -1), (2,)).reshape(x.shape) * weight[:, None] + bias[:, None]
    assert np.abs(group_norm(x, 3, weight, bias) - expected).max() < 1e-5
    weight2, bias2 = RNG.standard_normal((6, 50)).astype(np.float32), RNG.standard_normal((6, 50)).astype(np.float32)
    expected = _reference(x, (1, 2)) * weight2 + bias2
    assert np.abs(layer_norm(x, (6, 50), weight2, bias2) - expected).max() < 1e-5
    # 200 rows of 40: 153 of them joined into each inner loop of the weight and bias, 47 alone
    rows = (RNG.standard_normal((200, 40)) - 0.2).astype(np.float32)
    weight3, bias3 = RNG.standard_normal(40).astype(np.float32), RNG.standard_normal(40).astype(np.float32)
    expected = _reference(rows, (1,)) * weight3 + bias3
    assert np.abs(layer_norm(rows, 40, weight3, bias3) - expected).max() < 1e-5


def test_a_negative_eps_adds_the_squares_in_float64():
    """var + ε cancels for ε near −var: float32 squares would be off by 1e-3 here."""
    x = RNG.standard_normal((1, 4096)).astype(np.float32)
    variance = float(np.var(x.astype(np.float64)))
    eps = -variance * (1 - 1e-4)
    expected = _reference(x, (1,), eps)
    got = layer_norm(x, 4096, eps=eps)
    assert np.abs(got - expected).max() <= 1e-5 * np.abs(expected).max()


@pytest.mark.parametrize("threads", [1, 2])
def test_many_blocks_on_the_thread_pool(threads, monkeypatch):
    """Blocks of 2 groups or 4 planes, out of step with the 3 groups and 6 channels a sample
    has, so each block picks its own affine entries; one sample's last group is far from 0, so
    its block centres first."""
    from convcalc.kernels.threads import use_threads

    monkeypatch.setattr(slices, "_BLOCK_BYTES", 480)  # a group is 2 × 30 float32s, a plane 30
    x = (RNG.standard_normal((5, 6, 30)) + 0.1).astype(np.float32)
    x[2, 4:] += 40.0
    weight, bias = RNG.standard_normal(6).astype(np.float32), RNG.standard_normal(6).astype(np.float32)
    with use_threads(threads, least_chunk_bytes=0):
        got = group_norm(x, 3, weight, bias)
        planes = instance_planes(x, weight, bias)
    expected = _reference(x.reshape(5, 3, -1), (2,)).reshape(x.shape) * weight[:, None] + bias[:, None]
    assert np.abs(got - expected).max() < 1e-5
    expected = _reference(x, (2,)) * weight[:, None] + bias[:, None]
    assert np.abs(planes - expected).max() < 1e-5
