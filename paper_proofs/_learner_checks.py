"""Shared measurements for the post-paper learners' checks (``post_paper_learners.md``).

* :func:`fixed_point_defect` — how far π*_τ moves under one exact step of a learner;
* :func:`map_radius`        — spectral radius of a learner's map at π*, by central finite
  differences in centred logits (an independent prediction of the linear rate);
* :func:`fitted_factor`     — least-squares contraction factor of a distance curve.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from _proof_helpers import log_softmax


def centred(z: np.ndarray) -> np.ndarray:
    return z - z.mean(axis=-1, keepdims=True)


def jacobian_radius(
    step: Callable[[np.ndarray], np.ndarray], z_star: np.ndarray, eps: float = 1e-6
) -> float:
    """ρ(J) of a map x ↦ fun(x) at x (``[d]``), J by central differences.  ``fun`` must remove the
    normalisation directions itself (centre its output), so they show up as zero eigenvalues."""
    d = len(z_star)
    J = np.empty((d, d))
    for k in range(d):
        e = np.zeros(d)
        e[k] = eps
        J[:, k] = (step(z_star + e) - step(z_star - e)) / (2 * eps)
    return float(np.max(np.abs(np.linalg.eigvals(J))))


def map_radius(
    step: Callable[[np.ndarray], np.ndarray], logpi_star: np.ndarray, eps: float = 1e-6
) -> float:
    """ρ(J) of a one-vector learner map log π ↦ log π' at π*, inputs normalised first."""
    return jacobian_radius(lambda z: centred(step(log_softmax(z))), logpi_star, eps)


def fitted_factor(dist: np.ndarray, lo: float = 1e-12, hi: float = 1e-4) -> float:
    """ρ in dist_t ≈ C ρ^t, fitted on the points with lo < dist < hi."""
    t = np.arange(len(dist))
    sel = (dist > lo) & (dist < hi)
    assert sel.sum() >= 3, "too few points in the fitting window"
    return float(np.exp(np.polyfit(t[sel], np.log(dist[sel]), 1)[0]))
