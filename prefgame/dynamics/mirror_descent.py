"""Online mirror descent (multiplicative weights) against the *current* policy, tabular.

One step with step size η (``docs/theory.md`` §4), the opponent being π_t itself (not Nash-MD's
mixture π_t^μ):

    log π_{t+1} = (1 − ητ) log π_t + ητ log μ + η P π_t        (normalised).

Its fixed point is exactly π*_τ (magnetic mirror descent to first order), but only its *average*
iterate is guaranteed to converge: with τ = 0 (Hedge in self-play) the last iterate spirals away
from the equilibrium of rock–paper–scissors, and with τ > 0 it is stable only while
η < 2τ / (τ² + ρ(A S*)²) (linearisation; A = P − ½, S* = diag π* − π*π*ᵀ).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..games import GameLike
from ..policies import log_softmax, matvec
from ._common import (
    Trajectory,
    batched_arrays,
    check_steps,
    check_tau,
    finish,
    init_logits,
    residual_fn,
    run_loop,
    sample_categorical,
)

__all__ = ["omd_step", "online_mirror_descent"]


def omd_step(
    logpi: np.ndarray,
    P: np.ndarray,
    logmu: np.ndarray,
    tau: float,
    eta: float,
    *,
    opponent_value: np.ndarray | None = None,
) -> np.ndarray:
    """log π_{t+1} = normalise((1 − ητ) log π_t + ητ log μ + η P π_t), batched ``[c, n]``.

    ``opponent_value`` replaces (P π_t) by an estimate (the sampled flavour).
    """
    v = matvec(P, np.exp(logpi)) if opponent_value is None else opponent_value
    return log_softmax((1.0 - eta * tau) * logpi + eta * tau * logmu + eta * v)


def online_mirror_descent(
    game: GameLike,
    tau: float,
    *,
    eta: float = 0.1,
    steps: int = 1000,
    init: ArrayLike | None = None,
    mu: ArrayLike | None = None,
    samples: int | None = None,
    seed: int = 0,
    record_every: int | None = None,
    tol: float | None = None,
    check_every: int = 100,
) -> Trajectory:
    """Run online mirror descent (τ = 0 allowed: unregularised Hedge self-play).

    ``samples=m``: estimate P(y ≻ π_t) from m opponents y' ∼ π_t per step (seeded by ``seed``).

    ``extra["average"]`` holds the average iterate (1/T) Σ_t π_t, which is what converges.
    """
    tau = check_tau(tau, allow_zero=True)
    eta = float(eta)
    if not eta > 0 or (tau > 0 and eta * tau > 1):
        raise ValueError(f"eta = {eta}, must be > 0 with eta * tau <= 1")
    P, logmu, single = batched_arrays(game, mu)
    total = {"sum": np.zeros(logmu.shape), "n": 0}
    if samples is not None:
        samples = check_steps(samples, "samples", 1)
    rng = np.random.default_rng(seed)

    def step(z: np.ndarray, t):
        logpi = log_softmax(z)
        total["sum"] += np.exp(logpi)
        total["n"] += 1
        v = None
        if samples is not None:
            ys = sample_categorical(rng, logpi, samples)  # [c, m] opponents
            v = np.take_along_axis(P, ys[:, None, :], axis=2).mean(axis=-1)  # P̂(y ≻ π_t)
        return omd_step(logpi, P, logmu, tau, eta, opponent_value=v)

    stat = residual_fn(P, logmu, tau) if tau > 0 else None
    z, hist, rec, it, conv = run_loop(
        step,
        init_logits(init, logmu),
        check_steps(steps),
        record_every=record_every,
        stationarity=stat,
        tol=tol,
        check_every=check_every,
    )
    avg = total["sum"] / max(total["n"], 1)
    return finish(z, hist, rec, it, conv, single, "online_mirror_descent", tau, {"average": avg})
