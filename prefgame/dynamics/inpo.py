"""INPO, iterative Nash policy optimisation (Zhang et al. 2024, https://arxiv.org/abs/2407.00617).

Exact-expectation tabular update (derivation: ``docs/algorithms.md`` §4).  INPO runs online mirror
descent on the KL-regularised payoff ℓ_t(π) = P(π ≻ π_t) − τ KL(π‖μ), linearising the KL term at
π_t; its loss regresses the margin h_t(y, y') = log π(y)/π(y') − ητ log μ(y)/μ(y')
− (1 − ητ) log π_t(y)/π_t(y') on η(P(y ≻ y') − ½), whose population minimiser is

    log π_{t+1} = (1 − ητ) log π_t + ητ log μ + η P π_t                (normalised),

the update of :func:`prefgame.dynamics.online_mirror_descent` (ητ ≤ 1).

Fixed point: π ∝ μ exp(Pπ/τ) = π*_τ.

Claimed rate: last-iterate linear convergence to π*_τ.  INPO(η) is exactly MMD(η') with
η' = η/(1 − ητ) (``docs/algorithms.md`` §4), so MMD's theorem transfers: for η ≤ τ/(L² + τ²),

    KL(π*_τ ‖ π_{t+1}) ≤ (1 − ητ)^t KL(π*_τ ‖ π_1).

At τ = 0 it is Hedge self-play — SPPO's map (:mod:`.self_play_hedge`), average iterate only.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..games import GameLike
from ..policies import log_softmax
from ._common import Trajectory, batched_arrays, check_steps, check_tau, init_logits
from ._iterate import Monitor, check_eta, opponent_value, payoff_scale, run_learner

__all__ = ["inpo", "inpo_default_eta", "inpo_step"]


def inpo_step(
    logpi: np.ndarray,
    P: np.ndarray,
    logmu: np.ndarray,
    tau: float,
    eta: float,
    *,
    opponent_value: np.ndarray | None = None,
) -> np.ndarray:
    """log π_{t+1} = normalise((1 − ητ) log π_t + ητ log μ + η Pπ_t), batched ``[c, n]``."""
    v = np.matmul(P, np.exp(logpi)[..., None])[..., 0] if opponent_value is None else opponent_value
    return log_softmax((1.0 - eta * tau) * logpi + eta * tau * logmu + eta * v)


def inpo_default_eta(P: np.ndarray, tau: float) -> float:
    """η = τ / (L² + τ²), the largest step MMD's theorem covers (L = max|P − ½|).

    Computed as 1/(τ + L²/τ) (τ² overflows for τ > 1.3e154) and rounded down, if need be, so
    that ητ ≤ 1 holds in floating point too (INPO refuses ητ > 1).
    """
    L = payoff_scale(P)
    eta = 1.0 / (tau + L * (L / tau))
    while eta * tau > 1.0:
        eta = float(np.nextafter(eta, 0.0))
    return eta


def inpo(
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
    """Run INPO's exact (or sampled, ``samples=m``) update; arguments as :func:`.mmd`.

    eta: None → τ/(L² + τ²); must satisfy ητ ≤ 1.
    """
    tau = check_tau(tau)
    P, logmu, single = batched_arrays(game, mu)
    eta = inpo_default_eta(P, tau) if eta is None else check_eta(eta)
    if eta * tau > 1:
        raise ValueError(f"eta * tau = {eta * tau:g}, must be <= 1 (weight of log mu)")
    if samples is not None:
        samples = check_steps(samples, "samples", 1)
    rng = np.random.default_rng(seed)

    def step(state, t):
        (logpi,) = state
        return (
            inpo_step(
                logpi, P, logmu, tau, eta, opponent_value=opponent_value(P, logpi, rng, samples)
            ),
        )

    z0 = log_softmax(init_logits(init, logmu))
    return run_learner(
        "inpo",
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
