"""Learners that move their own reference: MPO's magnet refresh, COMAL's proximal point, and
Nash-MP's mirror prox (derivations: ``docs/algorithms.md`` §7).

**MPO** (Wang et al. 2024, https://arxiv.org/abs/2410.16714): magnetic mirror descent
(:func:`.mmd_step`) towards a magnet m_k that is moved to the current policy every ``refresh``
steps,

    log π_{t+1} = normalise([log π_t + ητ log m_k + η Pπ_t] / (1 + ητ)),   m_{k+1} = π_{(k+1)K}.

Inside a period MMD contracts towards π*_τ(m_k), the equilibrium of the game regularised
towards the magnet; each refresh is then (approximately) one step of the proximal point method
m_{k+1} = π*_τ(m_k) on the *unregularised* game, whose last iterate converges to a τ = 0
equilibrium.  τ is the proximal strength, not the target's regularisation.

**COMAL** (Liu et al. 2024, https://arxiv.org/abs/2410.23223): the same outer loop with each
inner game solved exactly, π_{k+1} = π*_τ(P, μ = π_k) (here by the certified Newton solver);
its claim is last-iterate convergence to a τ = 0 equilibrium.

**Nash-MP** (Tiapkin et al. 2025, https://arxiv.org/abs/2505.19731): mirror prox on the
τ-regularised game with the KL to μ kept exact (proximal), two opponent evaluations per step:

    log π_{t+½} = normalise([log π_t + ητ log μ + η Pπ_t] / (1 + ητ))        (an MMD step)
    log π_{t+1} = normalise([log π_t + ητ log μ + η Pπ_{t+½}] / (1 + ητ))    (from π_t again)

Fixed point π*_τ (at π_{t+½} = π_t both lines are the MMD fixed-point equation).  An MMD step
with η is an INPO/OMD step with η/(1 + ητ), so this is extragradient (EGPO) with η/(1 + ητ),
iterate for iterate.  Claimed rate
(the paper's abstract): last-iterate linear convergence, KL(π*_τ‖π_t) of order (1 + 2τ)^{−N/2}
in the number N = 2t of preference queries, independent of the number of actions; the
equivalence study fits the measured factor at this module's step η = 1/L.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from ..games import GameLike
from ..policies import log_softmax, matvec
from ._common import Trajectory, batched_arrays, check_steps, check_tau, init_logits
from ._iterate import Monitor, check_eta, opponent_value, payoff_scale, run_learner
from .magnetic_mirror_descent import mmd_default_eta, mmd_step

__all__ = ["comal", "mpo", "nash_mp", "nash_mp_step"]


def mpo(
    game: GameLike,
    tau: float,
    *,
    eta: float | None = None,
    refresh: int | None = None,
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
    """Run MPO: MMD towards a magnet refreshed to π_t every ``refresh`` steps (module doc).

    Args:
        tau: the magnet's strength τ > 0 (the proximal weight; the target is τ = 0).
        eta: MMD's step; None → τ/L² (:func:`.mmd_default_eta`).
        refresh: steps per magnet period K; None → max(2, ⌈3/log(1 + ητ)⌉), so that MMD's
            factor 1/(1 + ητ) per step brings the inner error down by e^{-3} or more per period.
            K = 1 would refresh before every step: log π_{t+1} = log π_t + η/(1 + ητ) Pπ_t,
            Hedge, whose last iterate cycles.
        tol: stop once the *last iterate's* τ = 0 duality gap ≤ tol.
        init: the start π_0 (default μ, which is also the first magnet); the other arguments
            as :func:`.mmd`.
    Returns:
        a :class:`Trajectory` (``tau`` = the magnet strength); ``extra``: ``average``, ``eta``,
        ``refresh``, ``magnet`` (the last magnet).
    """
    tau = check_tau(tau)
    P, logmu, single = batched_arrays(game, mu)
    eta = mmd_default_eta(P, tau) if eta is None else check_eta(eta)
    if refresh is None:
        refresh = max(2, int(np.ceil(3.0 / np.log1p(eta * tau))))
    refresh = check_steps(refresh, "refresh", 1)
    if samples is not None:
        samples = check_steps(samples, "samples", 1)
    rng = np.random.default_rng(seed)

    def step(state, t):
        logpi, logm = state
        if t and t % refresh == 0:
            logm = logpi
        value = opponent_value(P, logpi, rng, samples)
        return mmd_step(logpi, P, logm, tau, eta, opponent_value=value), logm

    z0 = log_softmax(init_logits(init, logmu))
    run = run_learner(
        "mpo", P, logmu, single, tau, (z0, logmu), step, steps=steps,
        record_every=record_every, check_every=check_every, tol=tol, monitor=monitor,
        extra={"eta": eta, "refresh": refresh}, stop_on="last_gap0",
    )  # fmt: skip
    return run


def comal(
    game: GameLike,
    tau: float,
    *,
    steps: int = 100,
    init: ArrayLike | None = None,
    mu: ArrayLike | None = None,
    record_every: int | None = None,
    tol: float | None = None,
    check_every: int = 1,
    monitor: Monitor | None = None,
) -> Trajectory:
    """Run COMAL's conceptual proximal point: π_{k+1} = π*_τ(P, reference π_k), each solved by
    :func:`prefgame.equilibrium.solve_regularized` (certified to gap 1e-12); a step is one
    outer iteration.  ``tol``: stop once the last iterate's τ = 0 duality gap ≤ tol.
    ``extra["eta"]`` is 1/τ (the proximal step)."""
    from ..equilibrium import solve_regularized

    tau = check_tau(tau)
    P, logmu, single = batched_arrays(game, mu)

    def step(state, t):
        (logpi,) = state
        eq = solve_regularized(P, tau, np.exp(logpi))
        if not np.all(eq.converged):
            raise RuntimeError(f"COMAL: the inner solve at step {t} did not converge")
        return (
            log_softmax(np.log(np.maximum(np.asarray(eq.policy).reshape(logpi.shape), 1e-300))),
        )

    z0 = log_softmax(init_logits(init, logmu))
    return run_learner(
        "comal", P, logmu, single, tau, (z0,), step, steps=steps, record_every=record_every,
        check_every=check_every, tol=tol, monitor=monitor, extra={"eta": 1.0 / tau},
        stop_on="last_gap0",
    )  # fmt: skip


def nash_mp_step(
    logpi: np.ndarray,
    P: np.ndarray,
    logmu: np.ndarray,
    tau: float,
    eta: float,
    *,
    value: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(log π_{t+1}, log π_{t+½}) of Nash mirror prox from log π_t, batched ``[c, n]``;
    ``value(logq) -> P(· ≻ q)`` (default exact: Pq)."""
    value = (lambda lq: matvec(P, np.exp(lq))) if value is None else value
    half = mmd_step(logpi, P, logmu, tau, eta, opponent_value=value(logpi))
    return mmd_step(logpi, P, logmu, tau, eta, opponent_value=value(half)), half


def nash_mp_default_eta(P: np.ndarray, tau: float) -> float:
    """η = 1/L (L = max|P − ½|; 1/τ if L = 0): mirror prox's step for an L-Lipschitz operator."""
    L = payoff_scale(P)
    return 1.0 / L if L > 0 else 1.0 / tau


def nash_mp(
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
    """Run Nash-MP (module doc); arguments as :func:`.mmd`; eta: None → 1/L."""
    tau = check_tau(tau)
    P, logmu, single = batched_arrays(game, mu)
    eta = nash_mp_default_eta(P, tau) if eta is None else check_eta(eta)
    if samples is not None:
        samples = check_steps(samples, "samples", 1)
    rng = np.random.default_rng(seed)

    def value(lq):
        return opponent_value(P, lq, rng, samples)

    def step(state, t):
        return (nash_mp_step(state[0], P, logmu, tau, eta, value=value)[0],)

    z0 = log_softmax(init_logits(init, logmu))
    return run_learner(
        "nash_mp", P, logmu, single, tau, (z0,), step, steps=steps, record_every=record_every,
        check_every=check_every, tol=tol, monitor=monitor, extra={"eta": eta},
    )  # fmt: skip
