"""Tabular softmax policies: logits ↔ probabilities, log-ratios and geometric mixtures.

A policy over n actions is stored as logits z (``[..., n]``), π = softmax(z).  Everything is
computed in log space with ``logsumexp`` so nothing underflows.  Notation as in
``docs/notation.md`` (the mixtures: ``docs/theory.md`` §4, §7):

* log-ratio        u(y) = log π(y) − log μ(y)
* margin           h(y, y') = u(y) − u(y')
* mixture          π^{1−β} μ^β / Z  (IPO-MD, Nash-MD-PG); for β = ητ it is Nash-MD's π_t^μ.

The same quantities for a transformer policy over sequences, log π(y | x) summed over tokens,
are in :mod:`prefgame.llm.policy` (``sequence_logprobs``) and the token-level mixture in
:mod:`prefgame.llm.sampling`; the losses of :mod:`prefgame.losses` take either.
"""

from __future__ import annotations

import numpy as np

from ._validate import check_beta

__all__ = [
    "geometric_mixture",
    "log_geometric_mixture",
    "log_ratio",
    "log_softmax",
    "logits_from_policy",
    "margins",
    "matvec",
    "softmax",
]


def log_softmax(z: np.ndarray) -> np.ndarray:
    """log π = z − logsumexp(z) over the last axis (shifted by max z, so nothing overflows)."""
    z = np.asarray(z, dtype=np.float64)
    s = z - z.max(axis=-1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


def softmax(z: np.ndarray) -> np.ndarray:
    """π = exp(z) / Σ exp(z) over the last axis."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def matvec(P: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """(Pπ)[..., y] = Σ_y' P[..., y, y'] π[..., y'] — P(y ≻ π) for every y, batched."""
    return np.matmul(P, pi[..., None])[..., 0]


def logits_from_policy(pi: np.ndarray) -> np.ndarray:
    """Centred logits z = log π − mean(log π), so softmax(z) = π.  Needs full support."""
    pi = np.asarray(pi, dtype=np.float64)
    if np.any(pi <= 0):
        raise ValueError("logits_from_policy needs a full-support policy (every entry > 0)")
    z = np.log(pi)
    return z - z.mean(axis=-1, keepdims=True)


def log_ratio(z: np.ndarray, logmu: np.ndarray) -> np.ndarray:
    """u(y) = log π(y) − log μ(y) with π = softmax(z)."""
    return log_softmax(z) - logmu


def margins(u: np.ndarray) -> np.ndarray:
    """h[..., y, y'] = u(y) − u(y'), the log-ratio margin of every pair,
    ``[..., n] → [..., n, n]``."""
    return u[..., :, None] - u[..., None, :]


def log_geometric_mixture(logpi: np.ndarray, logmu: np.ndarray, beta: float) -> np.ndarray:
    """log of the normalised geometric mixture π^{1−β} μ^β / Z (β ∈ [0, 1])."""
    beta = check_beta(beta)
    return log_softmax((1.0 - beta) * logpi + beta * logmu)


def geometric_mixture(pi: np.ndarray, mu: np.ndarray, beta: float) -> np.ndarray:
    """π^{1−β} μ^β / Z, the sampling policy of IPO-MD (``docs/theory.md`` §7)."""
    with np.errstate(divide="ignore"):
        return np.exp(log_geometric_mixture(np.log(pi), np.log(mu), beta))
