"""Nash-MD (Munos et al., "Nash Learning from Human Feedback", §5), tabular, closed form.

One step with step size η_t (``docs/theory.md`` §4; NLHF Thm. 1):

    log π_t^μ   = (1 − η_t τ) log π_t + η_t τ log μ          (normalised; the regularised opponent)
    log π_{t+1} = log π_t^μ + η_t P π_t^μ                    (normalised)

i.e. π_{t+1} = argmax_π [η_t P(π ≻ π_t^μ) − KL(π‖π_t^μ)].  NLHF's theorem:
KL(π*‖π_{t+1}) ≤ (1 − η_t τ) KL(π*‖π_t) + 2η_t², so with η_t = 2/(τ(t+2)) (the default)

    KL(π*_τ ‖ π_T) ≤ 8 / (τ² (T + 1))        (last iterate, any number of actions).

With a *constant* η the fixed point is biased: it solves π ∝ μ exp(P π^μ / τ) with the mixture
π^μ inside, not π ∝ μ exp(Pπ/τ) — see :func:`nash_md_fixed_point`, which measures the bias.

Two flavours: ``samples=None`` uses the exact vector P(y ≻ π_t^μ) = (P π_t^μ)(y); ``samples=m``
estimates it from m opponents y' ∼ π_t^μ per step (seeded): P̂(y ≻ π_t^μ) = (1/m) Σ_i P(y ≻ y'_i).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike

from ..games import GameLike
from ..optim import nash_md_schedule
from ..policies import log_softmax, matvec, softmax
from ._common import (
    Trajectory,
    batched_arrays,
    check_steps,
    check_tau,
    context_tau,
    finish,
    init_logits,
    residual_fn,
    run_loop,
    sample_categorical,
)

__all__ = ["nash_md", "nash_md_bound", "nash_md_fixed_point", "nash_md_step"]


def nash_md_step(
    logpi: np.ndarray,
    P: np.ndarray,
    logmu: np.ndarray,
    tau: float,
    eta: float,
    *,
    opponent_value: np.ndarray | None = None,
) -> np.ndarray:
    """One exact Nash-MD step on a batch: log π_{t+1} from log π_t (``[c, n]``).

    ``opponent_value`` replaces (P π_t^μ) by an estimate (the sampled flavour).
    """
    et = eta * tau
    if np.ndim(et) == 0:
        if not 0.0 < et <= 1.0:
            raise ValueError(f"eta * tau = {et:g}, must be in (0, 1] (mixture weight)")
    elif not np.all((0.0 < et) & (et <= 1.0)):  # one τ (and η) per context
        bad = np.ravel(et)[~np.ravel((0.0 < et) & (et <= 1.0))][0]
        raise ValueError(f"eta * tau = {bad:g}, must be in (0, 1] (mixture weight)")
    logmix = log_softmax((1.0 - eta * tau) * logpi + eta * tau * logmu)
    v = matvec(P, np.exp(logmix)) if opponent_value is None else opponent_value
    return log_softmax(logmix + eta * v)


def nash_md(
    game: GameLike,
    tau: float,
    *,
    steps: int = 1000,
    eta: None | float | Callable[[int], float] = None,
    samples: int | None = None,
    seed: int = 0,
    init: ArrayLike | None = None,
    mu: ArrayLike | None = None,
    record_every: int | None = None,
    tol: float | None = None,
    check_every: int = 100,
    until: Callable[[np.ndarray], bool] | None = None,
) -> Trajectory:
    """Run Nash-MD for ``steps`` steps (or until the game residual ‖F‖∞ ≤ ``tol``).

    Args:
        game: a PreferenceGame (single or batch of contexts) or a matrix P.
        tau: regularisation τ > 0, or one τ per context ``[c]``
            (:func:`~prefgame.dynamics._common.context_tau`: each context as its own run).
        eta: None → the theorem's η_t = 2/(τ(t+2)); a number → constant η; or a schedule t ↦ η_t.
            Every η_t τ must lie in (0, 1].
        samples: None → exact expectation; m → m sampled opponents per step and context.
        init: starting policy (default μ).  record_every: keep every k-th iterate in ``history``.
        tol: stop once the game's fixed-point residual ‖F(π_t)‖∞ ≤ tol (checked every
            ``check_every`` steps).
        until: exact flavour without recording only — a callable on π_t (``[c, n]``), checked every
            ``check_every`` steps, that stops the run when it returns True (used to *measure* how
            many steps it takes to come within a distance of a known π*).
    Returns:
        a :class:`Trajectory`; ``extra["eta_last"]`` is the last step size used.
    """
    per_context = np.ndim(tau) > 0
    tau = tau if per_context else check_tau(tau)
    steps = check_steps(steps)
    P, logmu, single = batched_arrays(game, mu)
    if per_context:  # one τ per context [c, 1]; η_t = 2/(τ(t+2)) per context, as nash_md_schedule
        tau = context_tau(tau, P.shape[0])
        if until is not None:
            raise ValueError("until= needs one tau for every context")
    sched = (
        (lambda t: 2.0 / (tau * (t + 2.0)))
        if eta is None and per_context
        else nash_md_schedule(tau)
        if eta is None
        else (eta if callable(eta) else (lambda t, e=float(eta): e))
    )
    if samples is not None:
        samples = check_steps(samples, "samples", 1)
    rng = np.random.default_rng(seed)
    last = {"eta": None}

    def step(z: np.ndarray, t):
        e = sched(t)
        e = float(e) if np.ndim(e) == 0 else e
        last["eta"] = e
        logpi = log_softmax(z)
        v = None
        if samples is not None:
            logmix = log_softmax((1.0 - e * tau) * logpi + e * tau * logmu)
            ys = sample_categorical(rng, logmix, samples)  # [c, m] opponents
            v = np.take_along_axis(P, ys[:, None, :], axis=2).mean(axis=-1)  # P̂(y ≻ π^μ) [c, n]
        return nash_md_step(logpi, P, logmu, tau, e, opponent_value=v)

    if until is not None and (samples is not None or record_every is not None):
        raise ValueError("until= works with the exact flavour without record_every")
    if samples is None and record_every is None and not per_context:
        z, it, conv = _exact_loop(
            P, logmu, tau, sched, init_logits(init, logmu), steps, tol, check_every, until
        )
        last["eta"] = float(sched(it - 1)) if it else None
        hist = np.stack([softmax(init_logits(init, logmu)), softmax(z)])
        return finish(
            z, hist, np.array([0, it]), it, conv, single, "nash_md", tau, {"eta_last": last["eta"]}
        )
    z, hist, rec, it, conv = run_loop(
        step,
        init_logits(init, logmu),
        steps,
        record_every=record_every,
        stationarity=residual_fn(P, logmu, tau),
        tol=tol,
        check_every=check_every,
    )
    return finish(z, hist, rec, it, conv, single, "nash_md", tau, {"eta_last": last["eta"]})


def _exact_loop(P, logmu, tau, sched, z, steps, tol, check_every, until=None):
    """The exact flavour without recording, written tight (long runs need ~10⁵–10⁶ steps)."""
    res = residual_fn(P, logmu, tau)
    logpi = log_softmax(z)
    exp, log, mx = np.exp, np.log, np.max
    for t in range(steps):
        e = float(sched(t))
        if not 0.0 < e * tau <= 1.0:
            raise ValueError(
                f"eta * tau = {e * tau:g} at step {t}, must be in (0, 1] (mixture weight)"
            )
        a = (1.0 - e * tau) * logpi + (e * tau) * logmu
        a = a - mx(a, axis=-1, keepdims=True)
        m = exp(a)
        s = m.sum(axis=-1, keepdims=True)
        mix = m / s
        b = a - log(s) + e * matvec(P, mix)
        b = b - mx(b, axis=-1, keepdims=True)
        logpi = b - log(exp(b).sum(axis=-1, keepdims=True))
        if (t + 1) % check_every == 0 and (
            (tol is not None and np.all(res(logpi) <= tol))
            or (until is not None and until(exp(logpi)))
        ):
            return logpi - logpi.mean(axis=-1, keepdims=True), t + 1, True
    conv = tol is not None and bool(np.all(res(logpi) <= tol))
    return logpi - logpi.mean(axis=-1, keepdims=True), steps, conv


def nash_md_bound(tau: float, t: np.ndarray) -> np.ndarray:
    """NLHF's last-iterate bound 8 / (τ² (t + 1)) on KL(π*_τ ‖ π_t) for η_t = 2/(τ(t+2))."""
    tau = check_tau(tau)  # 8/τ/τ, not 8/τ²: τ² overflows for τ > 1.3e154
    return 8.0 / tau / tau / (np.asarray(t, dtype=np.float64) + 1.0)


def nash_md_fixed_point(
    game: GameLike,
    tau: float,
    eta: float,
    *,
    mu: ArrayLike | None = None,
    tol: float = 1e-13,
    max_steps: int = 200_000,
) -> np.ndarray:
    """The fixed point of constant-step Nash-MD: π = softmax(log π^μ + η P π^μ),
    π^μ ∝ π^{1−ητ} μ^{ητ}.

    Eliminating π: π ∝ μ exp(P π^μ / τ) — the *biased* equation (π^μ inside, not π).  Found by
    iterating the Nash-MD map itself (a contraction for the step sizes it is used with) until the
    update moves log π by less than ``tol``.  Returns ``[n]`` or ``[c, n]``.
    """
    tau = check_tau(tau)
    P, logmu, single = batched_arrays(game, mu)
    z = logmu.copy()
    for _ in range(check_steps(max_steps)):
        z_new = nash_md_step(z, P, logmu, tau, float(eta))
        d = np.max(np.abs(z_new - z))
        z = z_new
        if d < tol:
            break
    pi = softmax(z)
    return pi[0] if single else pi
