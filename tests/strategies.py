"""Hypothesis strategies for valid preference games (shared by the test modules)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays


@st.composite
def preference_matrices(draw, min_n: int = 2, max_n: int = 8, batch: int | None = None):
    """A valid P: random upper triangle in [0, 1], 1 − transpose below, ½ on the diagonal."""
    n = draw(st.integers(min_n, max_n))
    shape = (n, n) if batch is None else (batch, n, n)
    U = draw(arrays(np.float64, shape, elements=st.floats(0.0, 1.0)))
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    return np.where(upper, U, np.where(upper.T, 1.0 - np.swapaxes(U, -1, -2), 0.5))


@st.composite
def policies(draw, n: int, min_prob: float = 1e-3):
    """A policy on n actions (full support when ``min_prob`` > 0)."""
    w = draw(arrays(np.float64, (n,), elements=st.floats(min_prob, 1.0)))
    if w.sum() == 0:
        w[draw(st.integers(0, n - 1))] = 1.0
    return w / w.sum()
