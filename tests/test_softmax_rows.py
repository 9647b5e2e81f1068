"""Softmax along the last dim, a block of rows sharing one shift: rows far below the block's
largest value, rows past float32's exp range and rows holding ±inf or NaN get their own shift,
and every row agrees with a float64 softmax shifted by its own largest value."""

from __future__ import annotations

import numpy as np
import pytest

from convcalc.kernels import slices
from convcalc.kernels.slices import softmax
from convcalc.kernels.threads import use_threads

RNG = np.random.default_rng(5)


def _reference(x: np.ndarray) -> np.ndarray:
    wide = x.astype(np.float64)
    with np.errstate(invalid="ignore"):
        exps = np.exp(wide - wide.max(axis=-1, keepdims=True))
        return exps / exps.sum(axis=-1, keepdims=True)


def _assert_rows_agree(got: np.ndarray, expected: np.ndarray, tolerance: float = 3e-6) -> None:
    assert got.dtype == np.float32
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    finite = ~np.isnan(expected)
    assert np.abs(got[finite] - expected[finite]).max(initial=0.0) <= tolerance


@pytest.mark.parametrize("offset", [0.0, -25.0, -60.0, 79.0, 85.0, 300.0])
def test_rows_far_apart_in_one_block(offset):
    """Rows 4 apart in level: with the block's largest near 0 the low rows are 60 below it."""
    rows = (RNG.standard_normal((16, 197)) * 3 + offset - 4 * np.arange(16)[:, None]).astype(np.float32)
    _assert_rows_agree(softmax(rows, 1), _reference(rows))


def test_rows_whose_exps_would_overflow_unshifted():
    rows = np.full((2, 20000), 79.5, np.float32)  # 20000·e^79.5 is past float32's largest
    rows[1, 0] = 0.0
    _assert_rows_agree(softmax(rows, -1), _reference(rows), 1e-9)


def test_infinities_and_nan_in_a_block_with_finite_rows():
    rows = RNG.standard_normal((7, 9)).astype(np.float32)
    rows[1, 3] = np.inf
    rows[2, :] = -np.inf
    rows[3, 0] = np.nan
    rows[4, [0, 5]] = np.inf
    rows[5, 2] = -np.inf
    got = softmax(rows, 1)
    _assert_rows_agree(got, _reference(rows))
    assert np.isnan(got[1:5]).all() and not np.isnan(got[[0, 5, 6]]).any() and got[5, 2] == 0.0


@pytest.mark.parametrize("threads", [1, 2])
def test_many_blocks_and_threads(threads, monkeypatch):
    monkeypatch.setattr(slices, "_BLOCK_BYTES", 4096)  # blocks of 5 rows
    ranges = []
    parallel_map = slices.parallel_map
    monkeypatch.setattr(slices, "parallel_map", lambda f, spans, **kw: ranges.append(len(spans)) or parallel_map(f, spans, **kw))
    x = (RNG.standard_normal((3, 4, 37, 197)) * 4).astype(np.float32)
    x[1, 2] -= 200.0  # whole blocks of rows far below the others
    with use_threads(threads, least_chunk_bytes=0):
        _assert_rows_agree(softmax(x, -1), _reference(x))
    assert ranges == [1 if threads == 1 else 2 * threads]


def test_float64_rows_stay_float64():
    x = RNG.standard_normal((5, 33)) * 10
    got = softmax(x, -1)
    assert got.dtype == np.float64 and np.abs(got - _reference(x)).max() < 1e-14
