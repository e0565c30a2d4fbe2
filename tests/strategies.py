"""Valid preference games for tests: the one generator of valid P (hypothesis and seeded).

Every valid preference matrix is built the same way (``docs/theory.md`` §1): a random upper
triangle, 1 − its transpose below, ½ on the diagonal (:func:`preference_matrix_from_upper`).
The hypothesis strategy :func:`preference_matrices` draws the upper triangle; seeded callers
(``paper_proofs/_proof_helpers.random_P``) pass a ``numpy`` draw.  Importable from ``tests/``
and ``paper_proofs/`` (pytest's ``pythonpath`` holds ``tests``).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays


def preference_matrix_from_upper(U: np.ndarray) -> np.ndarray:
    """P with U's strict upper triangle, 1 − Uᵀ below it and ½ on the diagonal (``[..., n, n]``).

    Valid for any U with entries in [0, 1]: P + Pᵀ = 1 and diag P = ½ hold exactly.
    """
    U = np.asarray(U, dtype=np.float64)
    n = U.shape[-1]
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    return np.where(upper, U, np.where(upper.T, 1.0 - np.swapaxes(U, -1, -2), 0.5))


@st.composite
def preference_matrices(
    draw: st.DrawFn, min_n: int = 2, max_n: int = 8, batch: int | None = None
) -> np.ndarray:
    """A valid P ``[n, n]`` (or ``[batch, n, n]``) with n in [min_n, max_n]."""
    n = draw(st.integers(min_n, max_n))
    shape = (n, n) if batch is None else (batch, n, n)
    return preference_matrix_from_upper(
        draw(arrays(np.float64, shape, elements=st.floats(0.0, 1.0)))
    )


@st.composite
def policies(draw: st.DrawFn, n: int, min_prob: float = 1e-3) -> np.ndarray:
    """A policy on n actions (full support when ``min_prob`` > 0)."""
    w = draw(arrays(np.float64, (n,), elements=st.floats(min_prob, 1.0)))
    if w.sum() == 0:
        w[draw(st.integers(0, n - 1))] = 1.0
    return w / w.sum()
