"""SPO, self-play preference optimisation (Swamy et al. 2024, "A Minimaximalist Approach to
Reinforcement Learning from Human Feedback", https://arxiv.org/abs/2401.04056).

SPO scores each response by its win rate against the policy's own samples, r_t(y) = P(y ≻ π_t)
(the sampled flavour: the fraction of m draws y'_i ∼ π_t that y beats, in expectation), and hands
these rewards to a no-regret policy optimiser.  Exact tabular form with follow-the-regularised-
leader / exponential weights and the anytime step η_k = η/√k
(derivation: ``docs/algorithms.md`` §6):

    π_{t+1}(y) ∝ π_0(y) exp(η_{t+1} Σ_{s≤t} r_s(y)).

With a constant step this is SPPO/DNO's Hedge map; the decreasing step makes the guarantee hold
for every horizon without knowing it.  τ = 0: μ enters only as the start π_0.

Fixed point: as t → ∞ the average iterate, not π_t, is what is claimed to converge — to a Minimax
(von Neumann) Winner, the τ = 0 LP solution.

Claimed rate (Swamy et al. Thm. 2.2 + the anytime Hedge bound): R_T ≤ D/η_T + Σ_{k≤T} η_k/8 with
D = log(1/min π_0), hence gap_0(π̄_T) ≤ 2R_T/T ≤ 2D/(η√T) + η/(2√T) = O(1/√T); default η = 2√D.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..games import GameLike
from ..policies import log_softmax
from ._common import Trajectory, batched_arrays, check_steps, init_logits
from ._iterate import Monitor, check_eta, opponent_value, run_learner

__all__ = ["spo", "spo_bound", "spo_step"]


def spo_step(logpi0: np.ndarray, cum_reward: np.ndarray, eta_next: float) -> np.ndarray:
    """log π_{t+1} = normalise(log π_0 + η_{t+1} Σ_{s≤t} r_s), batched ``[c, n]``."""
    return log_softmax(logpi0 + eta_next * cum_reward)


def spo_bound(T: np.ndarray, eta: float, D: float) -> np.ndarray:
    """The claimed bound 2R_T/T on gap_0(π̄_T), R_T = D√T/η + (η/8) Σ_{k≤T} 1/√k."""
    T = np.atleast_1d(np.asarray(T, dtype=np.int64))
    csum = np.cumsum(1.0 / np.sqrt(np.arange(1, int(T.max()) + 1)))
    R = D * np.sqrt(T) / eta + eta / 8.0 * csum[T - 1]
    return 2.0 * R / T


def spo(
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
    """Run SPO with exponential-weights FTRL, step η_k = η/√k; arguments as :func:`.sppo`.

    eta: None → 2√(log(1/min π_0)).  ``extra["average"]`` is π̄_T (SPO's output), ``extra["D"]`` the
    constant of :func:`spo_bound`.
    """
    steps = check_steps(steps)
    P, logmu, single = batched_arrays(game, mu)
    z0 = log_softmax(init_logits(init, logmu))
    D = float(np.max(-np.min(z0, axis=-1)))
    eta = 2.0 * np.sqrt(max(D, 1e-12)) if eta is None else check_eta(eta)
    if samples is not None:
        samples = check_steps(samples, "samples", 1)
    rng = np.random.default_rng(seed)

    def step(state, t):
        logpi, cum = state
        cum = cum + opponent_value(P, logpi, rng, samples)
        return spo_step(z0, cum, eta / np.sqrt(t + 1.0)), cum

    return run_learner(
        "spo",
        P,
        logmu,
        single,
        0.0,
        (z0, np.zeros_like(z0)),
        step,
        steps=steps,
        record_every=record_every,
        check_every=check_every,
        tol=tol,
        monitor=monitor,
        extra={"eta": float(eta), "D": D},
    )
