"""Extragradient on the regularised game: EGPO (Zhou, Fazel & Du 2025, https://arxiv.org/abs/2503.08942),
the KL-to-μ form of the predictive update of Cen et al. 2021 (https://arxiv.org/abs/2105.15186).

Update (derivation: ``docs/algorithms.md`` §3).  With base b_t = (1 − ητ) log π_t + ητ log μ:

    log π_{t+½} = b_t + η P π_t                 (normalised; an INPO/OMD step: the prediction)
    log π_{t+1} = b_t + η P π_{t+½}             (normalised; the same step against the prediction)

Two opponent evaluations per step.  Fixed point: π_{t+½} = π_t = π with π ∝ μ exp(Pπ/τ), π*_τ.

Claimed rate (EGPO, after Cen et al. Thm. 1): for η ≤ 1/(τ + L), L = max|P − ½|,

    KL(π*_τ ‖ π_t) ≤ (1 − ητ)^t KL(π*_τ ‖ π_0)                        (last iterate, linear),

and, at τ = 0, polynomial last-iterate convergence to the unregularised equilibrium.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..games import GameLike
from ..policies import log_softmax, matvec
from ._common import Trajectory, batched_arrays, check_steps, check_tau, init_logits
from ._iterate import Monitor, check_eta, opponent_value, payoff_scale, run_learner

__all__ = ["extragradient", "extragradient_default_eta", "extragradient_step"]


def extragradient_step(
    logpi: np.ndarray,
    P: np.ndarray,
    logmu: np.ndarray,
    tau: float,
    eta: float,
    *,
    value: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(log π_{t+1}, log π_{t+½}) from log π_t, batched ``[c, n]``.

    ``value(logq) -> P(· ≻ q)`` estimates an opponent's value (default exact: P q).
    """
    value = (lambda lq: matvec(P, np.exp(lq))) if value is None else value
    base = (1.0 - eta * tau) * logpi + eta * tau * logmu
    half = log_softmax(base + eta * value(logpi))
    return log_softmax(base + eta * value(half)), half


def extragradient_default_eta(P: np.ndarray, tau: float) -> float:
    """η = 1 / (τ + L), L = max|P − ½| (the theorem's largest step)."""
    return 1.0 / (tau + payoff_scale(P))


def extragradient(
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
    """Run extragradient / EGPO's exact (or sampled) update; arguments as :func:`.mmd`.

    τ = 0 is allowed (the unregularised game).  eta: None → 1/(τ + L); needs ητ ≤ 1.
    """
    tau = check_tau(tau, allow_zero=True)
    P, logmu, single = batched_arrays(game, mu)
    eta = extragradient_default_eta(P, tau) if eta is None else check_eta(eta)
    if eta * tau > 1:
        raise ValueError(f"eta * tau = {eta * tau:g}, must be <= 1 (weight of log mu)")
    if samples is not None:
        samples = check_steps(samples, "samples", 1)
    rng = np.random.default_rng(seed)

    def step(state, t):
        new, _ = extragradient_step(
            state[0], P, logmu, tau, eta, value=lambda lq: opponent_value(P, lq, rng, samples)
        )
        return (new,)

    z0 = log_softmax(init_logits(init, logmu))
    return run_learner(
        "extragradient",
        P,
        logmu,
        single,
        tau,
        (z0,),
        step,
        steps=steps,
        record_every=record_every,
        check_every=check_every,
        tol=tol,
        monitor=monitor,
        extra={"eta": eta},
    )
