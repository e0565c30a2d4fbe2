"""SPPO (Wu et al. 2024, https://arxiv.org/abs/2405.00675) and DNO (Rosset et al. 2024,
https://arxiv.org/abs/2404.03715): Hedge self-play on the unregularised game (τ = 0).

Exact-expectation tabular updates (derivation: ``docs/algorithms.md`` §5).  With the win rate
r_t(y) = P(y ≻ π_t) = (Pπ_t)(y):

    SPPO:  π_{t+1}(y) ∝ π_t(y) exp(η (r_t(y) − ½))      (the population minimiser of SPPO's
           square loss E_{y∼π_t}(log π(y)/π_t(y) − η(r_t(y) − ½))² when its log-normaliser is η/2)
    DNO:   π_{t+1} = argmax_π E_{y∼π}[r_t(y)] − η KL(π‖π_t)  ⇒  π_{t+1}(y) ∝ π_t(y) exp(r_t(y)/η)

The same map (multiplicative weights / Hedge against the current policy): DNO(η) = SPPO(1/η),
iterate for iterate; the ½ is absorbed by the normaliser.  μ enters only as the start π_0.

Fixed points: every π with (Pπ)(y) = ½ on its support — an interior von Neumann winner (and every
pure action).  Not π*_τ: there is no KL to μ.

Claimed rate (Hedge regret, SPPO Thm. 4.1 / DNO's no-regret argument): with payoffs in [0, 1],
regret R_T ≤ D/η + ηT/8, D = KL(π‖π_0) ≤ log(1/min π_0), and π_tᵀPπ_t = ½, so the average iterate
π̄_T = (1/T) Σ_{t<T} π_t has τ = 0 duality gap

    gap_0(π̄_T) = 2 max_y (Pπ̄_T)(y) − 1 ≤ 2D/(ηT) + η/4,

O(1/√T) with η = √(8D/T) (the default, tuned to the horizon T = ``steps``).  Nothing is claimed
for the last iterate, which cycles outward on rock–paper–scissors.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..games import GameLike
from ..policies import log_softmax
from ._common import Trajectory, batched_arrays, check_steps, init_logits
from ._iterate import Monitor, check_eta, opponent_value, run_learner

__all__ = ["dno", "hedge_default_eta", "hedge_step", "sppo", "sppo_regression_step"]


def hedge_step(
    logpi: np.ndarray, P: np.ndarray, eta: float, *, opponent_value: np.ndarray | None = None
) -> np.ndarray:
    """log π_{t+1} = normalise(log π_t + η (Pπ_t − ½)), batched ``[c, n]``."""
    v = np.matmul(P, np.exp(logpi)[..., None])[..., 0] if opponent_value is None else opponent_value
    return log_softmax(logpi + eta * (v - 0.5))


def sppo_regression_step(P: np.ndarray, pi_t: np.ndarray, eta: float) -> np.ndarray:
    """The distribution that minimises SPPO's square loss over *all* distributions π (one
    context, ``[n]``):

        π_{t+1} = argmin_π Σ_y π_t(y) (log π(y)/π_t(y) − η((Pπ_t)(y) − ½))².

    What a policy that can represent every distribution reaches when it fits one SPPO
    iteration exactly (samples from π_t, win rates unbiased for Pπ_t).  It is the Hedge step
    :func:`hedge_step` only when the Hedge step's log-normaliser is η/2 (SPPO's assumption);
    otherwise the normalisation constraint Σ_y π(y) = 1 bends it: the stationarity condition
    is u(y) − a(y) = c e^{u(y)} with u = log π/π_t, a = η(Pπ_t − ½) and one c for all y.
    Solved by BFGS on the logits (gradient exact) to ‖∇‖∞ ≤ 1e-12.
    """
    from scipy.optimize import minimize

    pi_t = np.asarray(pi_t, dtype=np.float64)
    b = np.log(pi_t) + eta * (P @ pi_t - 0.5)  # the target log π(y)

    def f(z: np.ndarray) -> tuple[float, np.ndarray]:
        logpi = log_softmax(z)
        d = logpi - b
        wd = pi_t * d
        return float(wd @ d), 2.0 * (wd - np.exp(logpi) * wd.sum())

    res = minimize(f, b.copy(), jac=True, method="BFGS", options={"gtol": 1e-12, "maxiter": 10_000})
    return np.exp(log_softmax(res.x))


def hedge_default_eta(logpi0: np.ndarray, steps: int) -> float:
    """η = √(8D/T) with D = log(1/min π_0) (max over contexts), T = max(steps, 1)."""
    D = float(np.max(-np.min(logpi0, axis=-1)))
    return float(np.sqrt(8.0 * max(D, 1e-12) / max(steps, 1)))


def _hedge(
    method,
    game,
    eta_sppo,
    *,
    steps,
    init,
    mu,
    samples,
    seed,
    record_every,
    tol,
    check_every,
    monitor,
    extra,
) -> Trajectory:
    steps = check_steps(steps)
    P, logmu, single = batched_arrays(game, mu)
    z0 = log_softmax(init_logits(init, logmu))
    eta = hedge_default_eta(z0, steps) if eta_sppo is None else eta_sppo
    if samples is not None:
        samples = check_steps(samples, "samples", 1)
    rng = np.random.default_rng(seed)

    def step(state, t):
        (logpi,) = state
        return (hedge_step(logpi, P, eta, opponent_value=opponent_value(P, logpi, rng, samples)),)

    return run_learner(
        method,
        P,
        logmu,
        single,
        0.0,
        (z0,),
        step,
        steps=steps,
        record_every=record_every,
        check_every=check_every,
        tol=tol,
        monitor=monitor,
        extra={**extra, "hedge_eta": eta},
    )


def sppo(
    game: GameLike,
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
    """Run SPPO's exact (or sampled, ``samples=m`` opponents) update; no τ (targets τ = 0).

    eta: None → √(8 log(1/min π_0)/steps).  init: π_0 (default μ, SPPO's π_ref).  tol: stop once
    the τ = 0 duality gap of the average iterate ≤ tol.  ``extra["average"]`` is π̄_T.
    """
    eta = None if eta is None else check_eta(eta)
    run = _hedge(
        "sppo",
        game,
        eta,
        steps=steps,
        init=init,
        mu=mu,
        samples=samples,
        seed=seed,
        record_every=record_every,
        tol=tol,
        check_every=check_every,
        monitor=monitor,
        extra={},
    )
    run.extra["eta"] = run.extra["hedge_eta"]
    return run


def dno(
    game: GameLike,
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
    """Run DNO's soft policy iteration π_{t+1} ∝ π_t exp(r_t/η); arguments as :func:`sppo`.

    eta: DNO's KL weight; None → 1/√(8 log(1/min π_0)/steps) (= 1 / SPPO's default step).
    """
    if eta is not None:
        eta = check_eta(eta)
    run = _hedge(
        "dno",
        game,
        None if eta is None else 1.0 / eta,
        steps=steps,
        init=init,
        mu=mu,
        samples=samples,
        seed=seed,
        record_every=record_every,
        tol=tol,
        check_every=check_every,
        monitor=monitor,
        extra={},
    )
    run.extra["eta"] = 1.0 / run.extra["hedge_eta"]
    return run
