"""One definition of each preference-optimisation loss.

Every function here is written against the array API (via ``array_api_compat``), so the *same*
code runs on NumPy arrays (the tabular core) and on torch tensors (the LLM backend, with
autograd).  Nothing else in prefgame re-implements these formulas.

Theory: ``docs/theory.md`` §5 (pairwise losses, soft labels), §9 (policy-gradient surrogates),
§10 (SPPO).  Notation (``docs/notation.md``; Azar et al. 2023, arXiv:2310.12036; Calandriello
et al. 2024, arXiv:2403.08635):

* ``h``   -- log-ratio margin  h_π(y, y') = log π(y)/μ(y) − log π(y')/μ(y'),  shape ``[...]``.
* ``p``   -- soft preference label p = P(y ≻ y') ∈ [0, 1], broadcastable against ``h``.
* ``tau`` -- the KL-regularisation strength τ > 0 (DPO's β, IPO's τ).
* ``u``   -- per-sample log-ratio u(y) = log π(y)/μ(y).

All losses are returned element-wise (no reduction); callers average with the weights they need.

Example — the soft-label IPO loss is a shifted square in h, minimised at (p − ½)/τ
(``docs/theory.md`` §5); soft DPO at h = 0 is log 2 whatever the label:

>>> import numpy as np
>>> from prefgame.losses import dpo_soft_loss, ipo_soft_loss, ipo_soft_target
>>> float(ipo_soft_target(0.9, tau=0.5))
0.8
>>> ipo_soft_loss(np.array([-1.0, 0.0, 0.8, 2.0]), 0.9, tau=0.5)
array([3.6 , 1.  , 0.36, 1.8 ])
>>> dpo_soft_loss(np.array([0.0]), 0.9, tau=1.0)
array([0.69314718])

References:
    Azar et al. (2023), "A General Theoretical Paradigm to Understand Learning from Human
    Preferences" (IPO, eq. 17).  Rafailov et al. (2023), DPO.  Zhao et al. (2023), SLiC-HF.
    Calandriello et al. (2024), "Human Alignment of LLMs through Online Preference Optimisation"
    (soft labels, online IPO, IPO-MD).  Munos et al. (2023), "Nash Learning from Human Feedback"
    (Nash-MD-PG).  Wu et al. (2024), "Self-Play Preference Optimization" (SPPO square loss).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import array_api_compat

from ._validate import check_positive, check_tau

Array = Any

__all__ = [
    "LOSSES",
    "dpo_loss",
    "dpo_soft_loss",
    "ipo_loss",
    "ipo_soft_loss",
    "ipo_soft_target",
    "log_ratio_margin",
    "nash_md_pg_loss",
    "nash_md_pg_token_loss",
    "policy_gradient_loss",
    "regularised_pg_token_loss",
    "slic_loss",
    "slic_soft_loss",
    "soft_label_loss",
    "sppo_loss",
    "stop_gradient",
]


def _xp(*arrays: Array):
    return array_api_compat.array_namespace(*arrays)


def stop_gradient(x: Array) -> Array:
    """sg(x): the value of ``x`` with no gradient flowing back (identity for NumPy)."""
    return x.detach() if hasattr(x, "detach") else x


def log_ratio_margin(logp_y: Array, logp_y2: Array, ref_y: Array, ref_y2: Array) -> Array:
    """h(y, y') = [log π(y) − log μ(y)] − [log π(y') − log μ(y')]."""
    return (logp_y - ref_y) - (logp_y2 - ref_y2)


# --- hard-label losses L(h) for a pair (y_w, y_l) with margin h = h(y_w, y_l) ------------------


def ipo_loss(h: Array, *, tau: float) -> Array:
    """IPO: L(h) = (h − 1/(2τ))²."""
    tau = check_tau(tau)
    return (h - 1.0 / (2.0 * tau)) ** 2


def dpo_loss(h: Array, *, tau: float) -> Array:
    """DPO: L(h) = −log σ(τ h) = log(1 + exp(−τ h))  (computed as logaddexp(0, −τh))."""
    tau = check_tau(tau)
    xp = _xp(h)
    return xp.logaddexp(xp.zeros_like(h), -tau * h)


def slic_loss(h: Array, *, tau: float) -> Array:
    """SLiC (hinge): L(h) = max(0, 1 − τ h)."""
    tau = check_tau(tau)
    xp = _xp(h)
    return xp.clip(1.0 - tau * h, min=0.0)


# --- soft-label forms ------------------------------------------------------------------------


def soft_label_loss(loss: Callable[..., Array], h: Array, p: Array, *, tau: float) -> Array:
    """Soft-label loss: p · L(h(y, y')) + (1 − p) · L(h(y', y)),  with h(y', y) = −h(y, y')."""
    return p * loss(h, tau=tau) + (1.0 - p) * loss(-h, tau=tau)


def ipo_soft_loss(h: Array, p: Array, *, tau: float) -> Array:
    """Soft-label IPO: p (h − 1/(2τ))² + (1 − p)(−h − 1/(2τ))².

    Equals (h − (p − ½)/τ)² + (1/(4τ²) − (p − ½)²/τ²), so its minimiser in h is (p − ½)/τ
    (see :func:`ipo_soft_target`; proved symbolically in ``paper_proofs``).
    """
    return soft_label_loss(ipo_loss, h, p, tau=tau)


def ipo_soft_target(p: Array, *, tau: float) -> Array:
    """The margin that minimises the soft-label IPO loss: h*(p) = (p − ½)/τ."""
    tau = check_tau(tau)
    return (p - 0.5) / tau


def dpo_soft_loss(h: Array, p: Array, *, tau: float) -> Array:
    """Soft-label DPO: −p log σ(τh) − (1 − p) log σ(−τh)."""
    return soft_label_loss(dpo_loss, h, p, tau=tau)


def slic_soft_loss(h: Array, p: Array, *, tau: float) -> Array:
    """Soft-label SLiC: p max(0, 1 − τh) + (1 − p) max(0, 1 + τh)."""
    return soft_label_loss(slic_loss, h, p, tau=tau)


# --- policy-gradient surrogates -------------------------------------------------------------


def policy_gradient_loss(logp: Array, advantage: Array) -> Array:
    """REINFORCE surrogate: −sg(A) · log π(y); its gradient is −A ∇log π(y)."""
    return -stop_gradient(advantage) * logp


def nash_md_pg_loss(logp: Array, u: Array, p: Array, *, tau: float) -> Array:
    """Nash-MD-PG surrogate (NLHF §7), one sample y ∼ π against y' ∼ π'_β:

    loss = −sg(P(y ≻ y') − ½ − τ u(y)) · log π(y),   u(y) = log π(y)/μ(y),

    so −∇loss = ∇log π(y) [P(y ≻ y') − ½ − τ log(π(y)/μ(y))] is the paper's estimator ĝ.
    """
    tau = check_tau(tau)
    return policy_gradient_loss(logp, p - 0.5 - tau * stop_gradient(u))


def regularised_pg_token_loss(
    token_logp: Array, token_u: Array, advantage: Array, mask: Array, *, tau: float
) -> Array:
    """Token-level KL-regularised policy gradient, shape ``[batch, T] -> [batch]``.

    Each token's score is credited with the sequence advantage and with the KL log-ratios from
    its own position on (reward-to-go of the penalty −τ log π/μ):

        A_t = A − τ Σ_{s ≥ t} m_s u_s,      loss = −Σ_t m_t sg(A_t) log π(y_t | y_<t),

    with m the completion mask and u_s = log π(y_s|y_<s) − log μ(y_s|y_<s).  RL with a reward
    model uses A = r(y) − baseline; Nash-MD-PG uses A = P(y ≻ y') − ½.
    """
    tau = check_tau(tau)
    xp = _xp(token_logp, token_u, mask)
    u = stop_gradient(token_u) * mask
    to_go = xp.flip(xp.cumulative_sum(xp.flip(u, axis=-1), axis=-1), axis=-1)
    if not hasattr(advantage, "shape"):
        advantage = xp.asarray(advantage, dtype=token_logp.dtype)
    adv = advantage[..., None] - tau * to_go
    return xp.sum(-stop_gradient(adv) * token_logp * mask, axis=-1)


def nash_md_pg_token_loss(
    token_logp: Array, token_u: Array, p: Array, mask: Array, *, tau: float
) -> Array:
    """Token-level Nash-MD-PG surrogate for sequences, shape ``[batch, T] -> [batch]``.

    Token t's score is credited with the preference and with the log-ratios from its own
    position on (reward-to-go of the KL penalty):

        A_t = P(y ≻ y') − ½ − τ Σ_{s ≥ t} m_s u_s,      loss = −Σ_t m_t sg(A_t) log π(y_t | y_<t),

    i.e. :func:`regularised_pg_token_loss` with advantage P(y ≻ y') − ½.  Summed over t the KL
    term equals the sequence-level −τ u(y) · log π(y) only in expectation, as in the paper.
    """
    return regularised_pg_token_loss(token_logp, token_u, p - 0.5, mask, tau=tau)


def sppo_loss(u: Array, p: Array, *, eta: float) -> Array:
    """SPPO's square loss (Wu et al. 2024, arXiv:2405.00675; ``docs/theory.md`` §10):

        ℓ(u, p) = (u − η (p − ½))²,   u = log π(y)/π_t(y),   p ≈ P(y ≻ π_t).

    Here ``u`` is the log-ratio to the *previous* policy π_t (or to μ for one round from μ) and
    ``p`` estimates P(y ≻ π_t).  The loss is zero exactly at u(y) = η(P(y ≻ π_t) − ½) for every y;
    normalised, that is the Hedge step π(y) ∝ π_t(y) exp(η P(y ≻ π_t)) of
    :func:`prefgame.dynamics.sppo` (SPPO takes the log-normaliser to be η/2).
    """
    eta = check_positive(eta, "eta")
    return (u - eta * (p - 0.5)) ** 2


def inpo_loss(h: Array, p: Array, *, eta: float) -> Array:
    """INPO's square loss (Zhang et al. 2024, arXiv:2407.00617; ``docs/algorithms.md`` §4):

        ℓ(h, p) = (h − η (p − ½))²,
        h = log π(y)/π(y') − ητ log μ(y)/μ(y') − (1 − ητ) log π_t(y)/π_t(y'),

    i.e. the log-ratio margin against the anchor ρ = μ^{ητ} π_t^{1−ητ}.  Its zero is
    h(y, y') = η(P(y ≻ π_t) − P(y' ≻ π_t)) in expectation over y' ~ π_t, whose normalised
    solution is the INPO step log π_{t+1} = (1 − ητ) log π_t + ητ log μ + η Pπ_t
    (:func:`prefgame.dynamics.inpo_step`).  ``h`` is computed by the caller against ρ.
    """
    eta = check_positive(eta, "eta")
    return (h - eta * (p - 0.5)) ** 2


#: Pairwise soft-label losses by name, each ``f(h, p, *, tau)``.
LOSSES: dict[str, Callable[..., Array]] = {
    "ipo": ipo_soft_loss,
    "dpo": dpo_soft_loss,
    "slic": slic_soft_loss,
}
