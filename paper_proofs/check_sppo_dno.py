"""Executable checks of SPPO (Wu et al. 2024) and DNO (Rosset et al. 2024).

Theory: ``docs/algorithms.md`` §5.
"""
# ruff: noqa: B023  (closures here are called inside the loop iteration that defines them)

import numpy as np
import pytest
import torch
from _proof_helpers import games, kl, minimise, random_policy, softmax, t64
from scipy.optimize import minimize

from prefgame.dynamics import dno, hedge_step, sppo
from prefgame.equilibrium import duality_gap, solve
from prefgame.games import cyclic, rock_paper_scissors

GAMES = games(range(12))


def test_a_dno_and_sppo_are_the_same_map():
    """DNO(η) and SPPO(1/η) produce the same iterates (and the same average), on random games."""
    for P, mu, _, rng in GAMES[:6]:
        init = random_policy(len(mu), rng)
        for eta in (0.5, 4.0):
            a = sppo(P, mu=mu, eta=1 / eta, steps=200, init=init, record_every=1)
            b = dno(P, mu=mu, eta=eta, steps=200, init=init, record_every=1)
            np.testing.assert_allclose(a.history, b.history, atol=1e-13)
            np.testing.assert_allclose(a.extra["average"], b.extra["average"], atol=1e-13)


@pytest.mark.parametrize("seed", range(3))
def test_a_dno_step_is_the_argmax_of_its_objective(seed):
    """π_{t+1} = argmax_π E_{y∼π}[P(y ≻ π_t)] − η KL(π‖π_t) (BFGS) is π_t exp(Pπ_t/η)/Z."""
    P, mu, _, rng = GAMES[seed]
    pi, eta = random_policy(len(mu), rng), 0.7
    obj = lambda z: -(softmax(z) @ P @ pi - eta * kl(softmax(z), pi))
    res = minimize(obj, np.zeros(len(mu)), method="BFGS", options={"gtol": 1e-12})
    np.testing.assert_allclose(
        softmax(res.x), np.exp(hedge_step(np.log(pi)[None], P[None], 1 / eta)[0]), atol=1e-6
    )


def test_a_sppo_square_loss_minimiser_is_hedge_only_to_third_order():
    """SPPO's loss E_{y∼π_t}(log π(y)/π_t(y) − η(P(y ≻ π_t) − ½))², minimised over normalised π
    (L-BFGS), is *not* exactly the Hedge step: the gap is nonzero and shrinks like η³ (ratio ≈ 8
    per halving of η).  At an interior von Neumann winner both leave π_t unchanged."""
    P, mu, _, rng = GAMES[1]
    pi = random_policy(len(mu), rng)
    gaps = []
    for eta in (1.0, 0.5, 0.25):
        a, w, lp = t64(eta * (P @ pi - 0.5)), t64(pi), t64(np.log(pi))
        z = minimise(lambda z: torch.sum(w * (torch.log_softmax(z, 0) - lp - a) ** 2), np.log(pi))
        gaps.append(
            np.abs(softmax(z) - np.exp(hedge_step(np.log(pi)[None], P[None], eta)[0])).max()
        )
    assert gaps[0] > 1e-6
    assert 6 < gaps[0] / gaps[1] < 10 and 6 < gaps[1] / gaps[2] < 10
    g = cyclic(5)  # uniform is the interior winner
    u = np.full(5, 0.2)
    assert np.abs(np.exp(hedge_step(np.log(u)[None], g.P[None], 1.0)[0]) - u).max() < 1e-15


def test_b_fixed_points_are_the_unregularised_equilibria_not_pi_star_tau():
    """Hedge fixes an interior LP solution exactly; it moves π*_τ (τ > 0) unless π*_τ is the
    winner."""
    for P, mu, tau, _ in GAMES:
        lp = solve(P, 0.0).policy
        star = solve(P, tau, mu).policy
        if lp.min() > 1e-9:  # interior winner: (P π)(y) = ½ for every y
            out = np.exp(hedge_step(np.log(lp)[None], P[None], 1.0)[0])
            assert np.max(np.abs(out - lp)) < 1e-9
        out = np.exp(hedge_step(np.log(star)[None], P[None], 1.0)[0])
        assert np.max(np.abs(out - star)) > 1e-6


def test_c_average_iterate_gap_bound():
    """gap_0(π̄_T) ≤ 2D/(ηT) + η/4 with D = log(1/min π_0), at the default η = √(8D/T) and at a
    fixed η = 0.1, T ∈ {100, 1000}, on random games; the bound is within a factor 20 of tight."""
    ratios = []
    for P, mu, _, rng in GAMES:
        init = random_policy(len(mu), rng)
        D = -np.log(init.min())
        for T in (100, 1000):
            for eta in (None, 0.1):
                run = sppo(P, mu=mu, eta=eta, steps=T, init=init)
                e = run.extra["eta"]
                ratios.append(duality_gap(P, run.extra["average"], 0.0) / (2 * D / (e * T) + e / 4))
    assert max(ratios) <= 1.0
    assert max(ratios) > 0.05


def test_c_average_converges_at_least_like_one_over_sqrt_t():
    """With η tuned to T the gap of π̄_T falls at least like T^{-1/2} (fitted over T = 10² … 10⁴)."""
    g = cyclic(5, margin=0.4)
    init = np.array([0.4, 0.3, 0.15, 0.1, 0.05])
    Ts = np.array([100, 300, 1000, 3000, 10000])
    gaps = [duality_gap(g, sppo(g, steps=int(T), init=init).extra["average"], 0.0) for T in Ts]
    slope = np.polyfit(np.log(Ts), np.log(gaps), 1)[0]
    assert slope <= -0.45


def test_d_last_iterate_moves_away_on_rock_paper_scissors():
    """No last-iterate claim, and none holds: on rock–paper–scissors Hedge's KL(π*‖π_t) to the
    uniform winner increases at every step (the game that breaks last-iterate convergence)."""
    g = rock_paper_scissors()
    run = sppo(g, eta=0.1, steps=3000, init=[0.5, 0.3, 0.2], record_every=1)
    K = kl(np.full(3, 1 / 3), run.history)
    assert np.all(np.diff(K) > 0)
    assert K[-1] > 5 * K[0]
