"""Magnetic mirror descent (MMD), Sokota et al. 2023, https://arxiv.org/abs/2206.05825, magnet μ.

Update (derivation: ``docs/algorithms.md`` §1).  Against the current policy, with step η and
regularisation τ (the magnet is the reference policy μ):

    π_{t+1} = argmax_π  η P(π ≻ π_t) − ητ KL(π‖μ) − KL(π‖π_t)
    log π_{t+1} = [log π_t + ητ log μ + η P π_t] / (1 + ητ)          (normalised)

i.e. π_{t+1} ∝ (π_t μ^{ητ} exp(η Pπ_t))^{1/(1+ητ)} — the reference code's one-liner, in log space.

Fixed point: π ∝ μ exp(Pπ/τ), exactly π*_τ (for every η > 0).

Claimed rate (Sokota et al., Thm. 3.4, with ψ = negative entropy, strongly convex in ‖·‖₁, and
L = max|P − ½| the Lipschitz constant of π ↦ Pπ, ‖·‖₁ → ‖·‖∞): for η ≤ τ/L²,

    KL(π*_τ ‖ π_{t+1}) ≤ (1 + ητ)^{−t} KL(π*_τ ‖ π_1)                 (last iterate, linear).

Same map as INPO / online mirror descent with step η' = η/(1 + ητ) (``docs/algorithms.md`` §4);
with a very large η it becomes best-response iteration, which cycles on rock–paper–scissors for
τ < √3/6 (``paper_proofs/post_paper_learners.md``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ..games import GameLike
from ..policies import log_softmax
from ._common import Trajectory, batched_arrays, check_steps, check_tau, init_logits
from ._iterate import Monitor, check_eta, opponent_value, payoff_scale, run_learner

__all__ = ["mmd", "mmd_default_eta", "mmd_step"]


def mmd_step(
    logpi: np.ndarray,
    P: np.ndarray,
    logmu: np.ndarray,
    tau: float,
    eta: float,
    *,
    opponent_value: np.ndarray | None = None,
) -> np.ndarray:
    """log π_{t+1} = normalise([log π_t + ητ log μ + η Pπ_t] / (1 + ητ)), batched ``[c, n]``.

    ``opponent_value`` replaces Pπ_t by an estimate (the sampled flavour).
    """
    v = np.matmul(P, np.exp(logpi)[..., None])[..., 0] if opponent_value is None else opponent_value
    w = eta * tau
    with np.errstate(over="ignore", invalid="ignore"):
        z = (logpi + w * logmu + eta * v) / (1.0 + w)
    if not np.all(np.isfinite(z)):  # ητ beyond float range (τ ≳ 1e154): the same weights, stably
        z = logpi / (1.0 + w) + logmu / (1.0 / w + 1.0) + v / (1.0 / eta + tau)
    return log_softmax(z)


def mmd_default_eta(P: np.ndarray, tau: float) -> float:
    """The largest step of the theorem, η = τ / L² with L = max|P − ½| (1/τ if L = 0)."""
    L = payoff_scale(P)
    return tau / L**2 if L > 0 else 1.0 / tau


def mmd(
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
    """Run magnetic mirror descent with magnet μ (module docstring) on a game or a batch.

    Args:
        game: a PreferenceGame (single or batch of contexts) or a matrix P (with ``mu=``).
        tau: regularisation τ > 0 (the magnet strength).
        eta: step size; None → τ/L² (the theorem's largest step).
        samples: None → exact Pπ_t; m → the win rate against m opponents y' ∼ π_t (seeded).
        tol: stop once the game residual ‖F(π_t)‖∞ ≤ tol.  monitor: see :mod:`._iterate`.
    Returns:
        a :class:`Trajectory`; ``extra["average"]`` the average iterate, ``extra["eta"]`` the step.
    """
    tau = check_tau(tau)
    P, logmu, single = batched_arrays(game, mu)
    eta = mmd_default_eta(P, tau) if eta is None else check_eta(eta)
    if samples is not None:
        samples = check_steps(samples, "samples", 1)
    rng = np.random.default_rng(seed)

    def step(state, t):
        (logpi,) = state
        return (
            mmd_step(
                logpi, P, logmu, tau, eta, opponent_value=opponent_value(P, logpi, rng, samples)
            ),
        )

    z0 = log_softmax(init_logits(init, logmu))
    return run_learner(
        "mmd",
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
