"""Policy-gradient learners: Nash-MD-PG(β), self-play PG, and RLHF with a fitted Bradley–Terry
reward.

**Nash-MD-PG(β)** (NLHF §7; ``docs/theory.md`` §9): y ∼ π, y' ∼ sg(π^{1−β} μ^β), ascend

    ĝ = ∇log π(y) [P(y ≻ y') − ½ − τ u(y)],     u = log π/μ,

the gradient of the shared surrogate :func:`prefgame.losses.nash_md_pg_loss` (negated).  In exact
expectation (w the mixture, S = diag π − ππᵀ):  g = S (P w − ½ − τ u)  (= −∇_z E_π[loss]).
β = 0 is **self-play PG**; by Prop. 4.2 (``docs/theory.md`` §6) its expected gradient is −τ/4
times online IPO's.
Stationary point: π ∝ μ exp(P w / τ), the IPO-MD equation.  With τ = 0 self-play only ascends
P(π ≻ sg π) and cycles on rock–paper–scissors.

**RLHF** (``docs/theory.md`` §9): fit a Bradley–Terry reward r by minimising the soft-label logistic
loss E_{y,y'∼ν}[dpo_soft_loss(r(y) − r(y'), P(y ≻ y'); τ = 1)] (the shared DPO loss with the reward
margin in place of h; ν = μ by default), then ascend E_π[r] − τ KL(π‖μ) by policy gradient
(advantage r − τu, :func:`prefgame.losses.policy_gradient_loss`).  Its optimum is μ exp(r/τ)/Z.

Updates use the natural (Fisher-preconditioned) direction g/π (= advantage − E_π advantage),
z ← z + lr·g/π, unless ``precondition=False``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..games import GameLike
from ..optim import SGD, Adam
from ..policies import log_softmax, matvec, softmax
from ._common import (
    Trajectory,
    batched_arrays,
    check_beta,
    check_steps,
    check_tau,
    finish,
    init_logits,
    run_loop,
    sample_categorical,
)
from .pairwise import LOSS_DERIVATIVES

__all__ = [
    "fit_bradley_terry",
    "nash_md_pg",
    "nash_md_pg_gradient",
    "rlhf",
    "rlhf_policy",
    "self_play_pg",
]


def nash_md_pg_gradient(
    z: np.ndarray, P: np.ndarray, logmu: np.ndarray, tau: float, beta: float
) -> np.ndarray:
    """Exact ascent direction g = S (P w − ½ − τ u), w ∝ π^{1−β} μ^β (sg), ``[c, n]``.

    Equal to −∇_z Σ_y π(y) Σ_{y'} w(y') nash_md_pg_loss(log π(y), u(y), P(y, y')) with sg(π) weights
    (checked against torch autograd in the tests).
    """
    logpi = log_softmax(z)
    pi = np.exp(logpi)
    w = softmax((1.0 - beta) * logpi + beta * logmu)
    adv = matvec(P, w) - 0.5 - tau * (logpi - logmu)
    return pi * (adv - (pi * adv).sum(axis=-1, keepdims=True))


def _pg_loop(
    P,
    logmu,
    tau,
    advantage: Callable,
    *,
    steps,
    lr,
    optimizer,
    precondition,
    samples,
    opponent_logw: Callable | None,
    seed,
    init,
    record_every,
    tol,
    check_every,
):
    rng = np.random.default_rng(seed)
    if optimizer is None:
        optimizer = SGD(lr=lr)
    state = optimizer.init(np.zeros_like(logmu))

    def direction(z: np.ndarray):
        logpi = log_softmax(z)
        pi = np.exp(logpi)
        if samples is None:
            adv = advantage(z, None, None)  # [c, n]
            g = pi * (adv - (pi * adv).sum(axis=-1, keepdims=True))
        else:
            c, n = z.shape
            ys = sample_categorical(rng, logpi, samples)
            ys2 = sample_categorical(rng, opponent_logw(z), samples) if opponent_logw else None
            a = advantage(z, ys, ys2) / samples  # [c, m]
            rows = np.arange(c)[:, None] * n
            g = np.bincount((rows + ys).ravel(), a.ravel(), c * n).reshape(c, n) - pi * a.sum(
                -1, keepdims=True
            )
        return g / pi if precondition else g

    def step(z: np.ndarray, t):
        nonlocal state
        delta, state = optimizer.update(-direction(z), state, t)  # optimisers minimise
        return z + delta

    def stat(z: np.ndarray):
        logpi = log_softmax(z)
        pi = np.exp(logpi)
        adv = advantage(z, None, None)
        return np.max(np.abs(adv - (pi * adv).sum(axis=-1, keepdims=True)), axis=-1)

    return run_loop(
        step,
        init_logits(init, logmu),
        check_steps(steps),
        record_every=record_every,
        stationarity=stat if samples is None else None,
        tol=tol,
        check_every=check_every,
    )


def nash_md_pg(
    game: GameLike,
    tau: float,
    beta: float = 0.0,
    *,
    steps: int = 1000,
    lr: float | Callable = 0.1,
    optimizer: SGD | Adam | None = None,
    precondition: bool = True,
    samples: int | None = None,
    seed: int = 0,
    init: ArrayLike | None = None,
    mu: ArrayLike | None = None,
    record_every: int | None = None,
    tol: float | None = None,
    check_every: int = 10,
) -> Trajectory:
    """Nash-MD-PG(β) (module docstring); τ = 0 allowed (unregularised self-play).

    ``samples=m``: m pairs y ∼ π, y' ∼ mixture per step and context, advantage
    P(y ≻ y') − ½ − τu(y).
    ``tol`` stops when the natural direction's max-norm is ≤ tol (exact flavour).
    """
    tau = check_tau(tau, allow_zero=True)
    beta = check_beta(beta)
    P, logmu, single = batched_arrays(game, mu)
    if samples is not None:
        samples = check_steps(samples, "samples", 1)

    def mix(z: np.ndarray):
        return log_softmax((1.0 - beta) * log_softmax(z) + beta * logmu)

    def advantage(z: np.ndarray, ys, ys2):
        u = log_softmax(z) - logmu
        if ys is None:
            return matvec(P, np.exp(mix(z))) - 0.5 - tau * u
        c = z.shape[0]
        return P[np.arange(c)[:, None], ys, ys2] - 0.5 - tau * np.take_along_axis(u, ys, -1)

    z, hist, rec, it, conv = _pg_loop(
        P,
        logmu,
        tau,
        advantage,
        steps=steps,
        lr=lr,
        optimizer=optimizer,
        precondition=precondition,
        samples=samples,
        opponent_logw=mix,
        seed=seed,
        init=init,
        record_every=record_every,
        tol=tol,
        check_every=check_every,
    )
    return finish(
        z,
        hist,
        rec,
        it,
        conv,
        single,
        "nash_md_pg" if beta > 0 else "self_play_pg",
        tau,
        {"beta": beta, "mixture": np.exp(mix(z))},
    )


def self_play_pg(game: GameLike, tau: float, **kw: Any) -> Trajectory:
    """Self-play policy gradient: Nash-MD-PG with β = 0 (opponent = the current policy)."""
    return nash_md_pg(game, tau, 0.0, **kw)


def fit_bradley_terry(
    game: GameLike,
    *,
    weights: ArrayLike | None = None,
    mu: ArrayLike | None = None,
    max_iter: int = 100,
    tol: float = 1e-12,
) -> np.ndarray:
    """Bradley–Terry reward r (centred, ``[n]`` or ``[c, n]``) fitted to P by maximum likelihood.

    Minimises Σ_{y,y'} ν(y) ν(y') [−P log σ(r(y) − r(y')) − (1 − P) log σ(r(y') − r(y))]
    (= the shared ``dpo_soft_loss`` with τ = 1 and margin r(y) − r(y')), ν = ``weights`` (default
    μ), by Newton's method: the gradient is 2 ν ⊙ (G ν) with G = σ(r(y) − r(y')) − P, the Hessian
    a weighted graph Laplacian (convex).  On a Bradley–Terry game it recovers the true scores.
    Deterministic preferences between transitive actions make the MLE infinite: the iteration
    then stops at ``max_iter`` with large but finite scores.
    """
    P, logmu, single = batched_arrays(game, mu)
    nu = (
        np.exp(logmu)
        if weights is None
        else np.broadcast_to(np.asarray(weights, dtype=np.float64), logmu.shape)
    )
    dh = LOSS_DERIVATIVES["dpo"]
    c, n = logmu.shape
    r = np.zeros((c, n))
    for _ in range(check_steps(max_iter)):
        h = r[:, :, None] - r[:, None, :]
        G = dh(h, P, 1.0)  # σ(h) − P
        g = 2.0 * nu * matvec(G, nu)
        s = 0.5 * (1.0 + np.tanh(0.5 * h))
        Wt = nu[:, :, None] * nu[:, None, :] * s * (1 - s)  # Laplacian weights
        H = 2.0 * (np.eye(n) * Wt.sum(-1)[:, :, None] - Wt) + 1e-12 * np.eye(n)
        step = np.linalg.solve(H + np.ones((n, n)) / n, g[..., None])[..., 0]  # shift mode fixed
        r = r - step
        r = r - r.mean(axis=-1, keepdims=True)
        if np.max(np.abs(g)) < tol:
            break
    return r[0] if single else r


def rlhf_policy(
    game: GameLike, tau: float, reward: ArrayLike | None = None, mu: ArrayLike | None = None
) -> np.ndarray:
    """The RLHF optimum π = μ exp(r/τ)/Z for the fitted (or given) reward r."""
    tau = check_tau(tau)
    _, logmu, single = batched_arrays(game, mu)
    r = fit_bradley_terry(game, mu=mu) if reward is None else np.asarray(reward, dtype=np.float64)
    r = np.broadcast_to(r, logmu.shape)
    pi = softmax(logmu + r / tau)
    return pi[0] if single else pi


def rlhf(
    game: GameLike,
    tau: float,
    *,
    reward: ArrayLike | None = None,
    steps: int = 1000,
    lr: float | Callable | None = None,
    optimizer: SGD | Adam | None = None,
    precondition: bool = True,
    samples: int | None = None,
    seed: int = 0,
    init: ArrayLike | None = None,
    mu: ArrayLike | None = None,
    record_every: int | None = None,
    tol: float | None = None,
    check_every: int = 10,
) -> Trajectory:
    """RLHF: policy gradient on E_π[r] − τ KL(π‖μ) with a Bradley–Terry reward fitted to P.

    Default lr = 0.5/τ (natural direction r − τu − const: halves the error every step).
    ``extra["reward"]`` is the fitted reward.
    """
    tau = check_tau(tau)
    P, logmu, single = batched_arrays(game, mu)
    r = fit_bradley_terry(game, mu=mu) if reward is None else np.asarray(reward, dtype=np.float64)
    rb = np.broadcast_to(r if np.ndim(r) == 2 or not single else r[None], logmu.shape)
    if samples is not None:
        samples = check_steps(samples, "samples", 1)
    lr = 0.5 / tau if lr is None else lr

    def advantage(z: np.ndarray, ys, ys2):
        a = rb - tau * (log_softmax(z) - logmu)
        return a if ys is None else np.take_along_axis(a, ys, -1)

    z, hist, rec, it, conv = _pg_loop(
        P,
        logmu,
        tau,
        advantage,
        steps=steps,
        lr=lr,
        optimizer=optimizer,
        precondition=precondition,
        samples=samples,
        opponent_logw=None,
        seed=seed,
        init=init,
        record_every=record_every,
        tol=tol,
        check_every=check_every,
    )
    return finish(z, hist, rec, it, conv, single, "rlhf", tau, {"reward": np.asarray(rb)})
