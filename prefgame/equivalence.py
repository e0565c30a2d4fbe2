"""The online-IPO = Nash-MD equivalence study (Calandriello et al. §4–§5, theory.md §2–§5).

:func:`equivalence_study` runs, on one game at one τ, the exact solver and five learners to
convergence (exact-expectation flavours) and measures each against π*_τ:

* ``online_ipo``   — reaches π*_τ (Prop. 4.1) to ≤ 1e-8 in max-abs;
* ``nash_md``      — the theorem's η_t = 2/(τ(t+2)); run until within ``nash_md_target`` of π*_τ
  (the distance is only measured, the learner never sees π*), reporting its step count, KL and
  the bound 8/(τ²(T+1)); ``nash_md_constant`` shows the *bias* of constant-step Nash-MD, whose
  fixed point solves π ∝ μ exp(P π^μ/τ);
* ``ipo_md``       — its stationary point is not π*_τ, but its mixture (π*_β)^{1−β} μ^β is π* of the
  same game at τ/(1−β) (Prop. 5.2), reported under ``mixture``;
* ``online_dpo`` and ``rlhf`` — do not reach π*_τ on intransitive or Bradley–Terry games (with
  rock–paper–scissors under uniform μ as the exception).

Each method's entry has ``policy``, ``duality_gap`` (in the game at τ), ``max_abs_diff`` (max |π − π*_τ|),
``steps``, ``converged`` and ``seconds``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from .dynamics import (
    ipo_md,
    ipo_md_mixture,
    nash_md,
    nash_md_bound,
    nash_md_fixed_point,
    online_dpo,
    online_ipo,
    rlhf,
)
from .equilibrium import duality_gap, kl, solve
from .games import PreferenceGame

__all__ = ["METHODS", "equivalence_study", "method_entry"]

#: The methods of the study, in report order.
METHODS = ("exact", "nash_md", "online_ipo", "ipo_md", "online_dpo", "rlhf")


def _total_gap(game: PreferenceGame, pi: np.ndarray, tau: float) -> float:
    g = np.atleast_1d(duality_gap(game, pi, tau))
    w = np.ones(1) if game.rho is None else game.rho
    return float(w @ g)


def method_entry(game: PreferenceGame, tau: float, star: np.ndarray, pi: np.ndarray, **extra) -> dict:
    """{"policy", "duality_gap", "max_abs_diff", **extra} for one method's policy."""
    pi = np.asarray(pi, dtype=np.float64)
    return {"policy": pi.tolist(), "duality_gap": _total_gap(game, pi, tau),
            "max_abs_diff": float(np.max(np.abs(pi - star))), **extra}


def _timed(f: Callable):
    t0 = time.perf_counter()
    out = f()
    return out, time.perf_counter() - t0


def equivalence_study(game: PreferenceGame, tau: float, beta: float = 0.25, *, init=None,
                      max_steps: int = 1_000_000, nash_md_target: float = 1e-6,
                      constant_etas: tuple[float, ...] = (1.0, 0.1, 0.01)) -> dict:
    """Run the study (module docstring) and return one JSON-ready dict.

    Args:
        game: a PreferenceGame (single or batched).  tau: τ > 0.  beta: IPO-MD's β ∈ [0, 1).
        init: start policy of every learner (default μ).
        max_steps: cap on each learner's steps.  nash_md_target: Nash-MD stops once its max-abs
            distance to π*_τ is ≤ this (a measurement; the step count is reported).
    """
    if not isinstance(game, PreferenceGame):
        raise TypeError("equivalence_study needs a PreferenceGame")
    tau = float(tau)
    if not (np.isfinite(tau) and tau > 0):
        raise ValueError(f"tau = {tau}, must be a finite number > 0 (the learners need τ > 0)")
    beta = float(beta)
    if not 0.0 <= beta < 1.0:
        raise ValueError(f"beta = {beta}, must be in [0, 1)")
    eq, secs = _timed(lambda: solve(game, tau))
    star = np.asarray(eq.policy)
    out: dict = {"game": game.name, "n": game.n_actions, "tau": tau, "beta": beta}
    out["exact"] = method_entry(game, tau, star, star, steps=int(eq.iterations),
                                converged=bool(eq.converged), residual=float(np.max(eq.residual)),
                                seconds=secs)

    # Nash-MD, theorem step sizes, until within the target (measured against π*).
    def close(pi):
        return bool(np.max(np.abs(pi.reshape(star.shape) - star)) <= nash_md_target)
    run, secs = _timed(lambda: nash_md(game, tau, steps=max_steps, init=init, check_every=100, until=close))
    T = run.iterations
    out["nash_md"] = method_entry(
        game, tau, star, run.policy, steps=T, converged=bool(run.converged), seconds=secs,
        schedule="eta_t = 2/(tau (t+2))", target=nash_md_target,
        kl=float(np.max(kl(star, run.policy))), kl_bound=float(nash_md_bound(tau, T)))
    biased = []
    for eta in constant_etas:
        if eta * tau > 1:
            continue
        fp, s = _timed(lambda eta=eta: nash_md_fixed_point(game, tau, eta))
        biased.append({"eta": eta, "max_abs_diff": float(np.max(np.abs(fp - star))),
                       "policy": np.asarray(fp).tolist(), "seconds": s})
    out["nash_md_constant"] = biased

    run, secs = _timed(lambda: online_ipo(game, tau, steps=max_steps, tol=1e-12, init=init))
    out["online_ipo"] = method_entry(game, tau, star, run.policy, steps=run.iterations,
                                     converged=bool(run.converged), seconds=secs)

    run, secs = _timed(lambda: ipo_md(game, tau, beta, steps=max_steps, tol=1e-12, init=init))
    mix = ipo_md_mixture(run.policy, game.mu, beta)
    star_b = np.asarray(solve(game, tau / (1.0 - beta)).policy)
    out["ipo_md"] = method_entry(game, tau, star, run.policy, steps=run.iterations,
                                 converged=bool(run.converged), seconds=secs,
                                 mixture=mix.tolist(), mixture_tau=tau / (1.0 - beta),
                                 mixture_max_abs_diff=float(np.max(np.abs(mix - star_b))))

    run, secs = _timed(lambda: online_dpo(game, tau, steps=min(max_steps, 200_000), tol=1e-11, init=init))
    out["online_dpo"] = method_entry(game, tau, star, run.policy, steps=run.iterations,
                                     converged=bool(run.converged), seconds=secs)

    run, secs = _timed(lambda: rlhf(game, tau, steps=min(max_steps, 10_000), tol=1e-13, init=init))
    out["rlhf"] = method_entry(game, tau, star, run.policy, steps=run.iterations,
                               converged=bool(run.converged), seconds=secs,
                               reward=np.asarray(run.extra["reward"]).tolist())
    return out
