"""Optimistic multiplicative weights (OMWU) on the regularised game, in the single-call form of
Cen, Wei & Chi 2021 (https://arxiv.org/abs/2105.15186), with KL to μ in place of entropy.

Update (derivation: ``docs/algorithms.md`` §2).  With base b_t = (1 − ητ) log π_t + ητ log μ and a
second sequence π̄_t (π̄_0 = π_0):

    log π̄_{t+1} = b_t + η P π̄_t                (normalised; optimistic guess, reuses last value)
    log π_{t+1} = b_t + η P π̄_{t+1}             (normalised)

One new opponent evaluation (P π̄_{t+1}) per step — extragradient with the prediction's value
taken from the previous step.  Fixed point: π = π̄ ∝ μ exp(Pπ/τ), π*_τ.

Claimed rate (Cen et al. Thm. 2): for η ≤ min{1/(2τ + 2L), 1/(4L)}, L = max|P − ½|,

    KL(π*_τ ‖ π_t) ≤ 2 (1 − ητ)^t KL(π*_τ ‖ π_0)                      (last iterate, linear).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..games import GameLike
from ..policies import log_softmax, matvec
from ._common import Trajectory, batched_arrays, check_steps, check_tau, init_logits
from ._iterate import Monitor, check_eta, opponent_value, payoff_scale, run_learner

__all__ = ["omwu", "omwu_default_eta", "omwu_step"]


def omwu_step(
    logpi: np.ndarray,
    v_bar: np.ndarray,
    P: np.ndarray,
    logmu: np.ndarray,
    tau: float,
    eta: float,
    *,
    value: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(log π_{t+1}, P π̄_{t+1}) from log π_t and v̄_t = P π̄_t, batched ``[c, n]``."""
    value = (lambda lq: matvec(P, np.exp(lq))) if value is None else value
    base = (1.0 - eta * tau) * logpi + eta * tau * logmu
    v_new = value(log_softmax(base + eta * v_bar))
    return log_softmax(base + eta * v_new), v_new


def omwu_default_eta(P: np.ndarray, tau: float) -> float:
    """η = min{1/(2τ + 2L), 1/(4L)} (the theorem's largest step; L = max|P − ½|)."""
    L = payoff_scale(P)
    return min(1.0 / (2 * tau + 2 * L), 1.0 / (4 * L)) if L > 0 else 1.0 / (2 * tau)


def omwu(
    game: GameLike,
    tau: float,
    *,
    eta: float | None = None,
    steps: int = 1000,
    init: ArrayLike | None = None,
    mu: ArrayLike | None = None,
    samples: int | None = None,
    seed: int = 0,
    record_every: int | None = None,
    tol: float | None = None,
    check_every: int = 10,
    monitor: Monitor | None = None,
) -> Trajectory:
    """Run optimistic MWU on the τ-regularised game; arguments as :func:`.mmd`.

    τ = 0 is allowed (unregularised OMWU).  eta: None → min{1/(2τ + 2L), 1/(4L)}; needs ητ ≤ 1.
    """
    tau = check_tau(tau, allow_zero=True)
    P, logmu, single = batched_arrays(game, mu)
    eta = omwu_default_eta(P, tau) if eta is None else check_eta(eta)
    if eta * tau > 1:
        raise ValueError(f"eta * tau = {eta * tau:g}, must be <= 1 (weight of log mu)")
    if samples is not None:
        samples = check_steps(samples, "samples", 1)
    rng = np.random.default_rng(seed)

    def value(lq):
        return opponent_value(P, lq, rng, samples)

    def step(state, t):
        return omwu_step(state[0], state[1], P, logmu, tau, eta, value=value)

    z0 = log_softmax(init_logits(init, logmu))
    return run_learner(
        "omwu",
        P,
        logmu,
        single,
        tau,
        (z0, value(z0)),
        step,
        steps=steps,
        record_every=record_every,
        check_every=check_every,
        tol=tol,
        monitor=monitor,
        extra={"eta": eta},
    )
