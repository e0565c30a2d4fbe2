"""Shared plumbing for the tabular learners: the result type, input checks, sampling, the loop.

Every learner works on a batch of c games (contexts) at once: P ``[c, n, n]``, log μ ``[c, n]``,
logits z ``[c, n]``.  A single game is a batch of one, squeezed again on output.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from .._validate import check_beta, check_tau
from ..equilibrium import duality_gap, fixed_point_residual
from ..games import GameLike, batched_arrays, validate_policy
from ..policies import log_softmax, matvec, softmax

__all__ = [
    "Trajectory",
    "batched_arrays",
    "check_beta",
    "check_steps",
    "check_tau",
    "context_beta",
    "context_tau",
    "run_loop",
    "sample_categorical",
]


@dataclass(frozen=True)
class Trajectory:
    """What a learner returns.

    Attributes:
        policy: the last iterate π_T, ``[n]`` (single game) or ``[c, n]`` (batch).
        logits: its centred logits z_T (same shape).
        history: recorded iterates ``[k, n]`` or ``[k, c, n]`` (always includes π_0 and π_T).
        steps: the step index of each recorded iterate ``[k]``.
        iterations: number of updates performed.
        converged: whether the stopping tolerance (if any) was met in every context.
        method: the learner's name; tau: the regularisation strength (``[c]`` where the learner
            was given one τ per context).
        extra: learner-specific numbers (e.g. the mixture policy of IPO-MD, the fitted reward).
    """

    policy: np.ndarray
    logits: np.ndarray
    history: np.ndarray
    steps: np.ndarray
    iterations: int
    converged: bool
    method: str
    tau: float
    extra: dict = field(default_factory=dict)

    def duality_gap(self, game: GameLike, tau: float | None = None) -> np.ndarray | float:
        """gap(π_T) in ``game`` at ``tau`` (default: the learner's τ)."""
        return duality_gap(game, self.policy, self.tau if tau is None else tau)

    def residual(self, game: GameLike, tau: float | None = None) -> np.ndarray | float:
        """The game's fixed-point residual ‖F(π_T)‖∞ (linear in the distance to π*_τ)."""
        return fixed_point_residual(game, self.policy, self.tau if tau is None else tau)


def check_steps(steps: int, name: str = "steps", minimum: int = 0) -> int:
    if isinstance(steps, bool) or int(steps) != steps or steps < minimum:
        raise ValueError(f"{name} = {steps!r}, must be an integer >= {minimum}")
    return int(steps)


def context_tau(tau: ArrayLike, c: int) -> np.ndarray:
    """One τ per context: c values, each checked by :func:`check_tau`, as ``[c, 1]`` (so that it
    broadcasts over the actions).

    A learner given such a τ runs context k with exactly the floating-point operations of a
    single-τ run at τ_k (every operation is elementwise or per context), so a batch over a τ grid
    returns, context by context, what one run per τ returns — at about the cost of one run for
    small n (the explorer's τ slider).
    """
    t = np.asarray(tau, dtype=np.float64).reshape(-1)
    if t.shape[0] != c:
        raise ValueError(f"tau: {t.shape[0]} values for a batch of {c} contexts (one per context)")
    return np.array([check_tau(float(x)) for x in t], dtype=np.float64)[:, None]


def context_beta(beta: ArrayLike, c: int) -> np.ndarray:
    """One mixture weight β per context (as :func:`context_tau`): c values, each checked by
    :func:`check_beta`, as ``[c, 1]``."""
    b = np.asarray(beta, dtype=np.float64).reshape(-1)
    if b.shape[0] != c:
        raise ValueError(f"beta: {b.shape[0]} values for a batch of {c} contexts (one per context)")
    return np.array([check_beta(float(x)) for x in b], dtype=np.float64)[:, None]


def init_logits(init: ArrayLike | None, logmu: np.ndarray) -> np.ndarray:
    """Centred starting logits: μ by default, else the given policy ``[n]`` or ``[c, n]``."""
    if init is None:
        z = logmu.copy()
    else:
        pi = validate_policy(init, logmu.shape[-1], name="init")
        z = np.log(np.broadcast_to(pi, logmu.shape)).copy()
    return z - z.mean(axis=-1, keepdims=True)


def sample_categorical(rng: np.random.Generator, logw: np.ndarray, m: int) -> np.ndarray:
    """m i.i.d. draws from each row of exp(logw) ``[c, n]`` → indices ``[c, m]`` (inverse CDF)."""
    cdf = np.cumsum(softmax(logw), axis=-1)
    u = rng.random((logw.shape[0], m)) * cdf[:, -1:]
    c, n = logw.shape
    if c * m * n <= 4_000_000:  # small n: one vectorised comparison against the CDF
        idx = (u[:, :, None] >= cdf[:, None, :]).sum(axis=-1)
    else:
        idx = np.empty((c, m), dtype=np.intp)
        for k in range(c):  # searchsorted is per row
            idx[k] = np.searchsorted(cdf[k], u[k], side="right")
    return np.minimum(idx, logw.shape[-1] - 1)


def run_loop(
    step: Callable[[np.ndarray, int], np.ndarray],
    z0: np.ndarray,
    steps: int,
    *,
    record_every: int | None,
    stationarity: Callable[[np.ndarray], np.ndarray] | None = None,
    tol: float | None = None,
    check_every: int = 10,
    on_check: Callable[[int, np.ndarray], None] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, bool]:
    """Iterate z ← step(z, t) for t = 0 … steps−1, recording every ``record_every`` steps.

    If ``tol`` is given, stop once ``stationarity(z) <= tol`` in every context (checked every
    ``check_every`` steps).  Returns (z_T, history of π, recorded steps, iterations, converged).
    """
    z = z0
    hist, rec = [softmax(z)], [0]
    converged = False
    t = 0
    if tol is not None and stationarity is not None and np.all(stationarity(z) <= tol):
        converged = True
    while t < steps and not converged:
        z = step(z, t)
        z = z - z.mean(axis=-1, keepdims=True)
        t += 1
        if record_every and t % record_every == 0:
            hist.append(softmax(z))
            rec.append(t)
        if tol is not None and stationarity is not None and t % check_every == 0:
            s = stationarity(z)
            if on_check is not None:
                on_check(t, s)
            converged = bool(np.all(s <= tol))
    if rec[-1] != t:
        hist.append(softmax(z))
        rec.append(t)
    if not np.all(np.isfinite(z)):
        raise FloatingPointError("the learner diverged (non-finite logits); lower the step size")
    return z, np.stack(hist), np.asarray(rec), t, converged


def finish(
    z: np.ndarray,
    hist: np.ndarray,
    rec: np.ndarray,
    it: int,
    conv: bool,
    single: bool,
    method: str,
    tau: float,
    extra: dict | None = None,
) -> Trajectory:
    """Pack a :class:`Trajectory`, squeezing the context axis of a single game."""
    pi = softmax(z)
    tau = float(tau) if np.ndim(tau) == 0 else np.asarray(tau, dtype=np.float64).reshape(-1)
    if single:
        z, pi, hist = z[0], pi[0], hist[:, 0]
        extra = {
            k: (v[0] if isinstance(v, np.ndarray) and v.ndim >= 1 and v.shape[0] == 1 else v)
            for k, v in (extra or {}).items()
        }
    return Trajectory(pi, z, hist, rec, it, conv, method, tau, dict(extra or {}))


def residual_fn(P: np.ndarray, logmu: np.ndarray, tau: float) -> Callable[[np.ndarray], np.ndarray]:
    """z ↦ ‖F(z)‖∞ per context, F = log π − log μ − Pπ/τ centred (zero iff π = π*_τ)."""

    def res(z: np.ndarray):
        pi = softmax(z)
        F = log_softmax(z) - logmu - matvec(P, pi) / tau
        F = F - F.mean(axis=-1, keepdims=True)
        return np.max(np.abs(F), axis=-1)

    return res
