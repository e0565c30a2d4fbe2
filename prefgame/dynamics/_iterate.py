"""The loop shared by the post-paper learners (MMD, OMWU, extragradient, INPO, SPPO/DNO, SPO).

Unlike :func:`._common.run_loop` it carries a *state tuple* (a learner may need a second vector:
OMWU's last opponent value, SPO's cumulative reward), keeps the running *average iterate*
π̄_T = (1/T) Σ_{t<T} π_t (the policies played at rounds 0 … T−1), and calls an optional
``monitor(t, π_t, π̄_t) -> bool`` every ``check_every`` steps (True stops the run) — how the
equivalence study *measures* the steps to a known π* without the learner ever seeing it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._validate import check_positive
from ..policies import matvec
from ._common import Trajectory, check_steps, sample_categorical

__all__ = ["Monitor", "iterate", "opponent_value", "payoff_scale", "run_learner"]

#: ``monitor(t, pi_t, average_t) -> stop?``, arrays ``[c, n]``.
Monitor = Callable[[int, np.ndarray, np.ndarray], bool]


def payoff_scale(P: np.ndarray) -> float:
    """L = max |P(y ≻ y') − ½| over the batch: the Lipschitz constant of π ↦ Pπ from ‖·‖₁ to ‖·‖∞
    on differences of policies (Σ d = 0 ⇒ ‖P d‖∞ = ‖(P − ½) d‖∞ ≤ L ‖d‖₁).  L ≤ ½."""
    return float(np.max(np.abs(np.asarray(P) - 0.5)))


def opponent_value(
    P: np.ndarray, logq: np.ndarray, rng: np.random.Generator | None, samples: int | None
) -> np.ndarray:
    """P(y ≻ q) for every y, ``[c, n]``: exact (Pq) or, with ``samples=m``, the win rate of y
    against m opponents y'_i ∼ q: (1/m) Σ_i P(y ≻ y'_i)."""
    if samples is None:
        return matvec(P, np.exp(logq))
    ys = sample_categorical(rng, logq, samples)  # [c, m]
    return np.take_along_axis(P, ys[:, None, :], axis=2).mean(axis=-1)


def iterate(
    step: Callable[[tuple, int], tuple],
    state: tuple,
    steps: int,
    *,
    record_every: int | None = None,
    check_every: int = 10,
    stop: Callable[[np.ndarray, np.ndarray], bool] | None = None,
    monitor: Monitor | None = None,
) -> tuple[tuple, np.ndarray, np.ndarray, np.ndarray, int, bool]:
    """Run ``state ← step(state, t)`` for t = 0 … steps − 1; ``state[0]`` is log π_t ``[c, n]``.

    Every ``check_every`` steps: ``stop(π_t, π̄_t)`` (the learner's own stopping rule, sets
    ``converged``) and ``monitor(t, π_t, π̄_t)`` (an outside measurement) may end the run.
    Returns (state_T, average π̄_T, history of π, recorded steps, iterations, converged).
    """
    steps = check_steps(steps)
    check_every = check_steps(check_every, "check_every", 1)
    pi = np.exp(state[0])
    total = np.zeros_like(pi)
    hist, rec = [pi], [0]
    converged = False
    t = 0
    while t < steps:
        total += pi
        state = step(state, t)
        pi = np.exp(state[0])
        t += 1
        if record_every and t % record_every == 0:
            hist.append(pi)
            rec.append(t)
        if t % check_every == 0:
            avg = total / t
            if stop is not None and stop(pi, avg):
                converged = True
                break
            if monitor is not None and monitor(t, pi, avg):
                break
    avg = total / t if t else pi.copy()
    if stop is not None and not converged:
        converged = bool(stop(pi, avg))
    if not np.all(np.isfinite(state[0])):
        raise FloatingPointError(
            "the learner diverged (non-finite log-policy); lower the step size"
        )
    if rec[-1] != t:
        hist.append(pi)
        rec.append(t)
    return state, avg, np.stack(hist), np.asarray(rec), t, converged


def _unregularised_gap(P: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """π ↦ 2 max_y (Pπ)(y) − 1 per context: the τ = 0 duality gap (0 iff π is a von Neumann
    winner)."""

    def gap(pi):
        v = matvec(P, pi)
        return 2.0 * np.max(v - np.sum(pi * v, axis=-1, keepdims=True), axis=-1)

    return gap


def run_learner(
    method: str,
    P: np.ndarray,
    logmu: np.ndarray,
    single: bool,
    tau: float,
    state0: tuple,
    step: Callable[[tuple, int], tuple],
    *,
    steps: int,
    record_every: int | None,
    check_every: int,
    tol: float | None,
    monitor: Monitor | None,
    extra: dict,
    stop_on: str = "default",
) -> Trajectory:
    """Iterate a learner and pack its :class:`~._common.Trajectory` (``extra["average"]`` = π̄_T).

    ``tol`` (the learner's own stopping rule): for τ > 0 stop once the last iterate's game
    residual ‖F(π_t)‖∞ ≤ tol (F = log π − log μ − Pπ/τ, centred; zero iff π = π*_τ); for τ = 0
    stop once the τ = 0 duality gap of the *average* iterate ≤ tol (what no-regret guarantees);
    ``stop_on="last_gap0"``: stop once the *last* iterate's τ = 0 gap ≤ tol (MPO, COMAL).
    """
    from ._common import finish, residual_fn

    stop = None
    if tol is not None:
        if stop_on == "last_gap0":  # a learner with τ > 0 that targets the τ = 0 equilibrium
            gap0 = _unregularised_gap(P)

            def stop(pi, avg):
                return bool(np.all(gap0(pi) <= tol))
        elif tau > 0:
            res = residual_fn(P, logmu, tau)

            def stop(pi, avg):
                return bool(np.all(res(np.log(pi)) <= tol))
        else:
            gap = _unregularised_gap(P)

            def stop(pi, avg):
                return bool(np.all(gap(avg) <= tol))

    state, avg, hist, rec, it, conv = iterate(
        step,
        state0,
        steps,
        record_every=record_every,
        check_every=check_every,
        stop=stop,
        monitor=monitor,
    )
    z = state[0] - state[0].mean(axis=-1, keepdims=True)
    extra = {**extra, "average": avg}
    return finish(z, hist, rec, it, conv, single, method, tau, extra)


def check_eta(eta: Any, name: str = "eta") -> float:
    """A finite step size > 0."""
    return check_positive(eta, name)
