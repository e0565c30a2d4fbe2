"""The online-IPO = Nash-MD equivalence study (Calandriello et al. §4–§5; ``docs/theory.md`` §6–§7).

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

Each method's entry has ``policy``, ``duality_gap`` (in the game at τ), ``max_abs_diff``
(max |π − π*_τ|), ``steps``, ``seconds``, ``at_equilibrium`` (max |π − π*_τ| ≤
:data:`AT_EQUILIBRIUM_TOL`) and, for the
learners, ``stopped`` — why the run ended: "step below tol" (the iterate stopped moving, which
is *not* the same as being at π*_τ: online DPO and RLHF stop far from it), "target reached" or
"max_steps".  ``converged`` is kept for old readers and is **deprecated**: for the learners it
means only that the run stopped before ``max_steps``; read ``stopped`` and ``at_equilibrium``.

``methods=(...)`` adds the post-paper learners of :data:`prefgame.dynamics.LEARNERS` (``mmd``,
``omwu``, ``extragradient``, ``inpo``, ``sppo``, ``dno``, ``spo``; derivations in
``docs/algorithms.md``), one entry each from :func:`learner_entry`: each runs from the same start
until the iterate its theory promises (last or average) is within ``target_tol`` (1e-8) of its
target — π*_τ, or the τ = 0 LP solution for a learner whose ``target`` is ``"nash_0"`` — or
``max_steps``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ._validate import MAX_TAU, check_beta, check_tau
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
from .dynamics.registry import LEARNERS
from .equilibrium import duality_gap, kl, solve
from .games import PreferenceGame

__all__ = [
    "LEARNER_METHODS",
    "METHODS",
    "TARGET_TOL",
    "equivalence_study",
    "fit_rate",
    "learner_entry",
    "method_entry",
]

#: The methods of the study, in report order.
METHODS = ("exact", "nash_md", "online_ipo", "ipo_md", "online_dpo", "rlhf")
#: The post-paper learners ``--methods`` accepts, in report order.
LEARNER_METHODS = tuple(LEARNERS)
#: "Reached the target" means max |π − π_target| ≤ this.
TARGET_TOL = 1e-8
#: ``at_equilibrium`` means max |π − π*_τ| ≤ this.
AT_EQUILIBRIUM_TOL = 1e-6


def _total_gap(game: PreferenceGame, pi: np.ndarray, tau: float) -> float:
    g = np.atleast_1d(duality_gap(game, pi, tau))
    w = np.ones(1) if game.rho is None else game.rho
    return float(w @ g)


def method_entry(
    game: PreferenceGame, tau: float, star: np.ndarray, pi: np.ndarray, **extra: Any
) -> dict:
    """{"policy", "duality_gap", "max_abs_diff", "at_equilibrium", **extra} for one method's
    policy."""
    pi = np.asarray(pi, dtype=np.float64)
    d = float(np.max(np.abs(pi - star)))
    return {
        "policy": pi.tolist(),
        "duality_gap": _total_gap(game, pi, tau),
        "max_abs_diff": d,
        "at_equilibrium": bool(d <= AT_EQUILIBRIUM_TOL),
        **extra,
    }


def _stopped(run) -> str:
    """Why a learner's run ended: its own step tolerance met, or the step cap."""
    return "step below tol" if run.converged else "max_steps"


def _run_entry(
    game: PreferenceGame, tau: float, star: np.ndarray, run: Any, secs: float, **extra: Any
) -> dict:
    """:func:`method_entry` of a learner's run that stops on its own step tolerance."""
    return method_entry(
        game,
        tau,
        star,
        run.policy,
        steps=run.iterations,
        converged=bool(run.converged),
        stopped=_stopped(run),
        seconds=secs,
        **extra,
    )


def _timed(f: Callable):
    t0 = time.perf_counter()
    out = f()
    return out, time.perf_counter() - t0


def fit_rate(steps: np.ndarray, dist: np.ndarray, kind: str) -> float | None:
    """Fitted rate of a distance curve (least squares on its tail above 1e-13).

    kind "linear": the per-step contraction factor ρ in dist ≈ C ρ^t (fit of log dist on t over
    the points with 1e-13 < dist < 1e-2).  kind "power": the exponent p in dist ≈ C t^p (fit of
    log dist on log t over the last decade of steps).  None when too few points qualify.
    """
    steps, dist = np.asarray(steps, dtype=np.float64), np.asarray(dist, dtype=np.float64)
    if kind == "linear":
        sel = (dist > 1e-13) & (dist < 1e-2)
        if sel.sum() < 3:
            return None
        return float(np.exp(np.polyfit(steps[sel], np.log(dist[sel]), 1)[0]))
    sel = (steps >= steps.max() / 10) & (dist > 1e-13) & (steps > 0)
    if sel.sum() < 3:
        return None
    return float(np.polyfit(np.log(steps[sel]), np.log(dist[sel]), 1)[0])


def _log_grid(t: np.ndarray, keep: int = 200) -> np.ndarray:
    """Indices of about ``keep`` points of an increasing step array, log-spaced, first and last
    kept."""
    if len(t) <= keep:
        return np.arange(len(t))
    want = np.unique(np.geomspace(1, len(t), keep).astype(int) - 1)
    return np.unique(np.r_[0, want, len(t) - 1])


def learner_entry(
    game: PreferenceGame,
    tau: float,
    name: str,
    *,
    star: np.ndarray | None = None,
    target: np.ndarray | None = None,
    init: ArrayLike | None = None,
    max_steps: int = 100_000,
    target_tol: float = TARGET_TOL,
    check_every: int = 1,
    curve: bool = False,
) -> dict:
    """Run one post-paper learner (``LEARNERS[name]``) and measure it against its target.

    The learner runs (exact expectation) until the iterate its guarantee covers is within
    ``target_tol`` (max-abs) of its target — π*_τ, or the τ = 0 LP solution for τ-free learners —
    checked every ``check_every`` steps, or for ``max_steps``.  ``star`` (π*_τ) and ``target`` may
    be passed to avoid re-solving.  Returns the :func:`method_entry` fields (against π*_τ) plus
    ``target``, ``target_tau``, ``target_max_abs_diff``, ``target_duality_gap``, ``average_policy``,
    ``average_max_abs_diff``, ``average_duality_gap`` (both against the target), ``steps_to_target``
    (first step each iterate was within ``target_tol``, or None), ``stopped``, ``guarantee``,
    ``rate`` (the claim), ``fitted_rate`` (:func:`fit_rate` of the promised iterate's curve:
    the distance contraction factor ρ per step for "last", the power-law exponent for "average"),
    for last-iterate learners ``claimed_kl_factor`` (the theorem's factor on KL(π*‖π_t), which
    is quadratic in the distance, so it is to be compared with ρ²), ``eta``,
    ``source``, and with ``curve=True`` the distance curve (about 200 log-spaced points).
    """
    if name not in LEARNERS:
        raise ValueError(f"unknown method {name!r}; known: {', '.join(LEARNERS)}")
    spec = LEARNERS[name]
    tau = float(tau)
    if star is None:
        star = np.asarray(solve(game, tau).policy)
    ttau = spec.target_tau(tau)
    if target is None:
        target = star if ttau == tau else np.asarray(solve(game, ttau).policy)
    tgt = np.asarray(target).reshape(-1, game.n_actions)
    first: dict[str, int | None] = {"last": None, "average": None}
    ts, d_last, d_avg = [0], [], []
    pi0 = np.broadcast_to(
        np.asarray(game.mu if init is None else init, dtype=np.float64), star.shape
    )
    d0 = float(np.max(np.abs(pi0.reshape(tgt.shape) - tgt)))
    d_last.append(d0)
    d_avg.append(d0)

    def monitor(t, pi, avg):
        dl, da = float(np.max(np.abs(pi - tgt))), float(np.max(np.abs(avg - tgt)))
        ts.append(t)
        d_last.append(dl)
        d_avg.append(da)
        for k, d in (("last", dl), ("average", da)):
            if first[k] is None and d <= target_tol:
                first[k] = t
        return first[spec.guarantee] is not None

    run, secs = _timed(
        lambda: spec.run(
            game, tau, steps=max_steps, init=init, check_every=check_every, monitor=monitor
        )
    )
    avg = np.asarray(run.extra["average"])
    promised = run.policy if spec.guarantee == "last" else avg
    reached = bool(np.max(np.abs(np.atleast_2d(promised) - tgt)) <= target_tol)
    ts_a, dl_a, da_a = np.asarray(ts), np.asarray(d_last), np.asarray(d_avg)
    out = method_entry(
        game,
        tau,
        star,
        run.policy,
        steps=run.iterations,
        converged=reached,
        stopped="target reached" if reached else "max_steps",
        seconds=secs,
        eta=float(run.extra["eta"]),
        guarantee=spec.guarantee,
        rate=spec.rate,
        source=spec.source,
        target=spec.target_label,
        target_tau=ttau,
        target_max_abs_diff=float(np.max(np.abs(np.atleast_2d(run.policy) - tgt))),
        target_duality_gap=_total_gap(game, run.policy, ttau),
        average_policy=avg.tolist(),
        average_max_abs_diff=float(np.max(np.abs(np.atleast_2d(avg) - tgt))),
        average_duality_gap=_total_gap(game, avg, ttau),
        steps_to_target=first,
        fitted_rate=fit_rate(
            ts_a,
            dl_a if spec.guarantee == "last" else da_a,
            "linear" if spec.guarantee == "last" else "power",
        ),
    )
    if spec.claimed_factor is not None:
        out["claimed_kl_factor"] = float(spec.claimed_factor(out["eta"], tau))
    if curve:
        k = _log_grid(ts_a)
        out["curve"] = {
            "steps": ts_a[k].tolist(),
            "last": dl_a[k].tolist(),
            "average": da_a[k].tolist(),
        }
    return out


def equivalence_study(
    game: PreferenceGame,
    tau: float,
    beta: float = 0.25,
    *,
    init: ArrayLike | None = None,
    max_steps: int = 1_000_000,
    nash_md_target: float = 1e-6,
    constant_etas: tuple[float, ...] = (1.0, 0.1, 0.01),
    methods: tuple[str, ...] | list[str] = (),
) -> dict:
    """Run the study (module docstring) and return one JSON-ready dict.

    Args:
        game: a PreferenceGame (single or batched).  tau: τ > 0.  beta: IPO-MD's β ∈ [0, 1).
        init: start policy of every learner (default μ).
        max_steps: cap on each learner's steps.  nash_md_target: Nash-MD stops once its max-abs
            distance to π*_τ is ≤ this (a measurement; the step count is reported).
        methods: names from :data:`LEARNER_METHODS` to add (one entry each, :func:`learner_entry`).
    """
    if not isinstance(game, PreferenceGame):
        raise TypeError("equivalence_study needs a PreferenceGame")
    tau = check_tau(tau)  # the learners need τ > 0
    beta = check_beta(beta, allow_one=False)
    if tau / (1.0 - beta) > MAX_TAU:  # IPO-MD's mixture is compared with π* at τ/(1 − β)
        raise ValueError(
            f"tau / (1 - beta) = {tau / (1.0 - beta):g} (IPO-MD's mixture game) is too large, "
            f"must be <= {MAX_TAU:g}; lower tau or beta"
        )
    for m in methods:
        if m not in LEARNERS:
            raise ValueError(f"unknown method {m!r}; known: {', '.join(LEARNERS)}")
    eq, secs = _timed(lambda: solve(game, tau))
    star = np.asarray(eq.policy)
    out: dict = {"game": game.name, "n": game.n_actions, "tau": tau, "beta": beta}
    out["exact"] = method_entry(
        game,
        tau,
        star,
        star,
        steps=int(eq.iterations),
        converged=bool(eq.converged),
        residual=float(np.max(eq.residual)),
        seconds=secs,
    )

    # Nash-MD, theorem step sizes, until within the target (measured against π*).
    def close(pi):
        return bool(np.max(np.abs(pi.reshape(star.shape) - star)) <= nash_md_target)

    run, secs = _timed(
        lambda: nash_md(game, tau, steps=max_steps, init=init, check_every=100, until=close)
    )
    T = run.iterations
    out["nash_md"] = method_entry(
        game,
        tau,
        star,
        run.policy,
        steps=T,
        converged=bool(run.converged),
        seconds=secs,
        stopped="target reached" if run.converged else "max_steps",
        schedule="eta_t = 2/(tau (t+2))",
        target=nash_md_target,
        kl=float(np.max(kl(star, run.policy))),
        kl_bound=float(nash_md_bound(tau, T)),
    )
    biased = []
    for eta in constant_etas:
        if eta * tau > 1:
            continue
        fp, s = _timed(lambda eta=eta: nash_md_fixed_point(game, tau, eta))
        biased.append(
            {
                "eta": eta,
                "max_abs_diff": float(np.max(np.abs(fp - star))),
                "policy": np.asarray(fp).tolist(),
                "seconds": s,
            }
        )
    out["nash_md_constant"] = biased

    run, secs = _timed(lambda: online_ipo(game, tau, steps=max_steps, tol=1e-12, init=init))
    out["online_ipo"] = _run_entry(game, tau, star, run, secs)

    run, secs = _timed(lambda: ipo_md(game, tau, beta, steps=max_steps, tol=1e-12, init=init))
    mix = ipo_md_mixture(run.policy, game.mu, beta)
    star_b = np.asarray(solve(game, tau / (1.0 - beta)).policy)
    out["ipo_md"] = _run_entry(
        game,
        tau,
        star,
        run,
        secs,
        mixture=mix.tolist(),
        mixture_tau=tau / (1.0 - beta),
        mixture_max_abs_diff=float(np.max(np.abs(mix - star_b))),
    )

    run, secs = _timed(
        lambda: online_dpo(game, tau, steps=min(max_steps, 200_000), tol=1e-11, init=init)
    )
    out["online_dpo"] = _run_entry(game, tau, star, run, secs)

    run, secs = _timed(lambda: rlhf(game, tau, steps=min(max_steps, 10_000), tol=1e-13, init=init))
    out["rlhf"] = _run_entry(
        game,
        tau,
        star,
        run,
        secs,
        reward=np.asarray(run.extra["reward"]).tolist(),
    )
    lp = None
    for m in methods:
        if LEARNERS[m].target == "nash_0" and lp is None:
            lp = np.asarray(solve(game, 0.0).policy)
        out[m] = learner_entry(
            game,
            tau,
            m,
            star=star,
            target=star if LEARNERS[m].target == "nash" else lp,
            init=init,
            max_steps=max_steps,
        )
    return out
