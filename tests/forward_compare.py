"""Comparing a NumPy forward result with torch's, or the naive reference's (torch-free: takes
arrays on both sides)."""

from __future__ import annotations

import numpy as np

# max |error| allowed, relative to max |expected| over finite cells (floored at 1 by default)
TOLERANCE = {np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def assert_close(got, expected, context: str = "", tolerance: float | None = None, *,
                 scale_floor: float = 1.0) -> None:
    """Same shape and dtype, NaN and ±inf in the same cells, finite cells within tolerance.

    Every forward comparison of the tests goes through here. The finite cells may differ by
    ``tolerance`` (default: ``TOLERANCE`` for the dtype) times the scale
    ``max(scale_floor, max |finite expected|)``. The floor of 1 lets outputs near 0 carry the
    absolute rounding of their inputs' magnitude; a floor near 0 makes the bar relative to the
    output's own largest value, stricter for small outputs (oracle.assert_forward_agrees).
    Non-float results must be equal.
    """
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.shape == expected.shape, f"{context}: shape {got.shape} != expected {expected.shape}"
    assert got.dtype == expected.dtype, f"{context}: dtype {got.dtype} != expected {expected.dtype}"
    if expected.dtype.kind != "f":
        assert np.array_equal(got, expected), f"{context}: {got} != expected {expected}"
        return
    nan = np.isnan(expected)
    assert np.array_equal(np.isnan(got), nan), f"{context}: NaN cells differ\n{got}\n!= expected\n{expected}"
    infinite = np.isinf(expected)
    assert np.array_equal(got[infinite], expected[infinite]) and not np.isinf(got[~infinite]).any(), (
        f"{context}: infinite cells differ\n{got}\n!= expected\n{expected}"
    )
    finite = ~(nan | infinite)
    if not finite.any():
        return
    scale = max(scale_floor, float(np.abs(expected[finite]).max()))
    error = float(np.abs(got[finite].astype(np.float64) - expected[finite]).max())
    limit = (TOLERANCE[expected.dtype] if tolerance is None else tolerance) * scale
    assert error <= limit, f"{context}: max |error| {error:.3g} > {limit:.3g}"


def gelu_reference(x, expected):
    """torch's GELU result with +inf at +inf inputs, whatever its CPU kernel gave there.

    torch's vectorised float32 GELU gives NaN for +inf on CPUs where it runs AVX-512 and +inf
    (the limit, and what its scalar path gives) elsewhere; convcalc always gives +inf.
    """
    expected = np.array(expected, copy=True)
    expected[np.asarray(x) == np.inf] = np.inf
    return expected


def assert_same_indices(got, expected, context: str = "") -> None:
    got, expected = np.asarray(got), np.asarray(expected)
    assert got.dtype == np.int64, f"{context}: indices dtype {got.dtype}, want int64"
    assert got.shape == expected.shape, f"{context}: indices shape {got.shape} != torch {expected.shape}"
    wrong = np.argwhere(got != expected)
    assert not len(wrong), f"{context}: {len(wrong)} indices differ, first at {tuple(wrong[0])}: {got[tuple(wrong[0])]} != torch {expected[tuple(wrong[0])]}"


def sample(rng: np.random.Generator, shape, dtype, kind: str = "normal") -> np.ndarray:
    """Test input: 'normal', 'ties' (small integers, many equal), 'special' (ties + NaN/±inf)."""
    if kind == "normal":
        return rng.standard_normal(shape).astype(dtype)
    x = rng.integers(-3, 4, size=shape).astype(dtype)
    if kind == "special":
        pick = rng.random(shape)
        x[pick < 0.06] = np.nan
        x[(pick >= 0.06) & (pick < 0.1)] = -np.inf
        x[(pick >= 0.1) & (pick < 0.12)] = np.inf
    return x


def read_only(x: np.ndarray) -> np.ndarray:
    """A read-only copy: a kernel writing into its input then raises instead of passing."""
    x = x.copy()
    x.flags.writeable = False
    return x
