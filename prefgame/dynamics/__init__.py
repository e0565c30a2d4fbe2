"""Learning dynamics on tabular preference games.

Theory: ``docs/theory.md`` §4 (Nash-MD), §6–§9 (online IPO, IPO-MD, online DPO / SLiC, RLHF and
Nash-MD-PG); post-paper learners: ``docs/algorithms.md``; notation: ``docs/notation.md``.  Papers:
Munos et al. 2023, arXiv:2312.00886; Calandriello et al. 2024, arXiv:2403.08635.

Every learner takes a game — a :class:`~prefgame.games.PreferenceGame` (single, or a batch of
contexts ``[c, n, n]``) or a bare matrix P (with ``mu=``) — and τ, runs on softmax logits for a
batch of games at once, and returns a :class:`Trajectory` (``policy``, ``logits``, ``history``,
``steps``, ``iterations``, ``converged``, ``extra``; methods ``duality_gap(game)``,
``residual(game)``).  Each has an *exact-expectation* flavour (default, deterministic) and a
*sampled* flavour (``samples=m`` pairs/opponents per step and context, seeded by ``seed=``).
Common keywords: ``steps``, ``init`` (start policy, default μ), ``record_every``, ``tol``.

Public API (names are stable; the notebooks import them):

=====================================  ======================================================
``nash_md(game, tau, *, eta=None)``      Nash-MD, closed form; η_t = 2/(τ(t+2)) by default
``nash_md_step(logpi, P, logmu, tau, eta)`` one batched step
``nash_md_fixed_point(game, tau, eta)``   biased fixed point of constant-step Nash-MD
``nash_md_bound(tau, t)``                 the theorem's bound 8/(τ²(t+1)) on KL(π*‖π_t)
``online_mirror_descent(game, tau, *, eta)`` OMD / Hedge against the current policy (τ = 0 ok)
``online_ipo(game, tau)``                 online IPO, y, y' ∼ sg(π)          → π*_τ
``ipo_md(game, tau, beta)``               IPO-MD, y, y' ∼ sg(π^{1−β}μ^β) → mixture = π*_{τ/(1−β)}
``offline_ipo(game, tau)``                IPO with pairs from μ               → μ exp(Pμ/τ)/Z
``online_dpo / offline_dpo(game, tau)``   DPO, online or from μ
``online_slic / offline_slic(game, tau)`` SLiC hinge, online or from μ
``preference_optimisation(game, tau, *, loss, sampler, beta)`` the general pairwise learner
``nash_md_pg(game, tau, beta)``           Nash-MD-PG(β) policy gradient
``self_play_pg(game, tau)``               Nash-MD-PG with β = 0 (τ = 0: unregularised self-play)
``rlhf(game, tau)``                       PG on a Bradley–Terry reward fitted to P → μ exp(r/τ)/Z
``fit_bradley_terry(game)``, ``rlhf_policy(game, tau)``, ``offline_ipo_optimum(game, tau)``,
``ipo_md_mixture(pi, mu, beta)``          closed forms
=====================================  ======================================================

Post-paper learners (one module each; ``LEARNERS`` maps the CLI names to them with their claims;
derivations in ``docs/algorithms.md``).  Each returns ``extra["average"]``, the average iterate.

=====================================  ======================================================
``mmd(game, tau, *, eta)``                magnetic mirror descent, magnet μ         → π*_τ (last)
``omwu(game, tau, *, eta)``               optimistic MWU on the regularised game    → π*_τ (last)
``extragradient(game, tau, *, eta)``      extragradient / EGPO                      → π*_τ (last)
``inpo(game, tau, *, eta)``               INPO (= OMD; = MMD with η/(1 − ητ))       → π*_τ (last)
``sppo(game, *, eta)``                    SPPO: Hedge self-play                     → τ=0 (average)
``dno(game, *, eta)``                     DNO: the same map as SPPO with η ↔ 1/η    → τ=0 (average)
``spo(game, *, eta)``                     SPO: FTRL on its own win rates, η/√k      → τ=0 (average)
``nash_mp(game, tau, *, eta)``            Nash-MP: mirror prox, KL to μ kept exact  → π*_τ (last)
``mpo(game, tau, *, eta, refresh)``       MPO: MMD, magnet ← π every K steps        → τ=0 (last)
``comal(game, tau)``                      COMAL: proximal point, each prox solved    → τ=0 (last)
``sppo_regression_step(P, pi_t, eta)``    what an exact fit of SPPO's loss reaches (one step)
=====================================  ======================================================

Optimisers and schedules (``optimizer=SGD(lr, momentum)`` / ``Adam(lr, beta1, beta2)``,
``lr=`` a number or a schedule t ↦ lr_t) live in :mod:`prefgame.optim`; gradient-based learners
take their gradient from the shared losses in :mod:`prefgame.losses` (closed forms proved equal
to torch autograd in ``tests/test_dynamics_*.py``).

Example::

    >>> from prefgame.games import three_rater_types
    >>> from prefgame.equilibrium import solve
    >>> from prefgame.dynamics import online_ipo
    >>> g = three_rater_types(0.1)
    >>> run = online_ipo(g, 0.1, steps=5000, tol=1e-12)
    >>> bool(abs(run.policy - solve(g, 0.1).policy).max() < 1e-10)
    True
"""

from ._common import Trajectory
from .extragradient import extragradient, extragradient_step
from .inpo import inpo, inpo_step
from .magnetic_mirror_descent import mmd, mmd_step
from .mirror_descent import omd_step, online_mirror_descent
from .nash_md import nash_md, nash_md_bound, nash_md_fixed_point, nash_md_step
from .optimistic import omwu, omwu_step
from .pairwise import (
    LOSS_DERIVATIVES,
    expected_gradient,
    expected_loss,
    ipo_md,
    ipo_md_mixture,
    natural_direction,
    offline_dpo,
    offline_ipo,
    offline_ipo_optimum,
    offline_slic,
    online_dpo,
    online_ipo,
    online_slic,
    preference_optimisation,
)
from .policy_gradient import (
    fit_bradley_terry,
    nash_md_pg,
    nash_md_pg_gradient,
    rlhf,
    rlhf_policy,
    self_play_pg,
)
from .proximal import comal, mpo, nash_mp, nash_mp_step
from .registry import LEARNERS, LearnerSpec
from .self_play_hedge import dno, hedge_step, sppo, sppo_regression_step
from .spo import spo, spo_bound, spo_step

__all__ = [
    "LEARNERS",
    "LOSS_DERIVATIVES",
    "LearnerSpec",
    "Trajectory",
    "comal",
    "dno",
    "expected_gradient",
    "expected_loss",
    "extragradient",
    "extragradient_step",
    "fit_bradley_terry",
    "hedge_step",
    "inpo",
    "inpo_step",
    "ipo_md",
    "ipo_md_mixture",
    "mmd",
    "mmd_step",
    "mpo",
    "nash_md",
    "nash_md_bound",
    "nash_md_fixed_point",
    "nash_md_pg",
    "nash_md_pg_gradient",
    "nash_md_step",
    "nash_mp",
    "nash_mp_step",
    "natural_direction",
    "offline_dpo",
    "offline_ipo",
    "offline_ipo_optimum",
    "offline_slic",
    "omd_step",
    "omwu",
    "omwu_step",
    "online_dpo",
    "online_ipo",
    "online_mirror_descent",
    "online_slic",
    "preference_optimisation",
    "rlhf",
    "rlhf_policy",
    "self_play_pg",
    "spo",
    "spo_bound",
    "spo_step",
    "sppo",
    "sppo_regression_step",
]
