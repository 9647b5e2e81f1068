"""Layer.forward against torch modules (values, with random parameters), family by family."""

from __future__ import annotations

import pytest

from oracle import assert_forward_agrees

pytestmark = pytest.mark.oracle


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_identity(dtype):
    assert_forward_agrees("Identity", (), {}, (2, 3, 4), dtype=dtype)
