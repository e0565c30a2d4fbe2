"""Executable checks of INPO (Zhang et al. 2024) — ``docs/algorithms.md`` §4."""
# ruff: noqa: B023  (closures here are called inside the loop iteration that defines them)

import numpy as np
import pytest
import torch
from _learner_checks import fitted_factor, map_radius
from _proof_helpers import games, kl, minimise, random_policy, softmax, solve_pi, t64

from prefgame.dynamics import inpo, inpo_step
from prefgame.dynamics._iterate import payoff_scale
from prefgame.games import rock_paper_scissors

GAMES = games(range(10))


@pytest.mark.parametrize("seed", range(3))
def test_a_population_minimiser_of_the_loss_is_the_update(seed):
    """INPO's loss with soft labels, pairs from π_t: E[(h_t(y, y') − η(P(y ≻ y') − ½))²] with
    h_t = log π(y)/π(y') − ητ log μ(y)/μ(y') − (1 − ητ) log π_t(y)/π_t(y'); its minimiser over
    the logits of π (L-BFGS, torch) equals the closed-form update."""
    P, mu, tau, rng = GAMES[seed]
    pi_t, eta = random_policy(len(mu), rng), 0.5 / tau
    W = t64(np.outer(pi_t, pi_t))
    off = t64(eta * tau * np.log(mu) + (1 - eta * tau) * np.log(pi_t))
    target = t64(eta * (P - 0.5))

    def loss(z):
        u = torch.log_softmax(z, 0) - off
        h = u[:, None] - u[None, :]
        return torch.sum(W * (h - target) ** 2)

    z = minimise(loss, np.zeros(len(mu)))
    new = np.exp(inpo_step(np.log(pi_t)[None], P[None], np.log(mu)[None], tau, eta))[0]
    np.testing.assert_allclose(softmax(z), new, atol=1e-8)


def test_b_fixed_point_is_the_regularised_equilibrium():
    for P, mu, tau, _ in GAMES:
        star = solve_pi(P, mu, tau)
        for eta in (0.1, 0.5 / tau, 1 / tau):
            out = np.exp(inpo_step(np.log(star)[None], P[None], np.log(mu)[None], tau, eta))[0]
            assert np.max(np.abs(out - star)) < 1e-13


def test_c_kl_bound_and_rate_on_random_games():
    """KL(π*‖π_{t+1}) ≤ (1 − ητ)^t KL(π*‖π_1) at η = τ/(L² + τ²); ρ(J)² ≤ 1 − ητ; fit = ρ(J)."""
    fits = 0
    for P, mu, tau, rng in GAMES:
        star = solve_pi(P, mu, tau)
        run = inpo(P, tau, mu=mu, steps=400, init=random_policy(len(mu), rng), record_every=1)
        eta = run.extra["eta"]
        assert eta == pytest.approx(tau / (payoff_scale(P) ** 2 + tau**2))
        K = kl(star, run.history)
        bound = (1 - eta * tau) ** (run.steps[1:] - 1.0) * K[1]
        ok = bound > 1e-20
        assert np.all(K[1:][ok] <= bound[ok] * (1 + 1e-9))
        rho_j = map_radius(
            lambda z: inpo_step(z[None], P[None], np.log(mu)[None], tau, eta)[0], np.log(star)
        )
        assert rho_j**2 <= 1 - eta * tau + 1e-9
        dist = np.abs(run.history - star).max(-1)
        if dist[-1] < 1e-9 and rho_j > 0.6:  # enough points in the fitting window
            assert fitted_factor(dist) == pytest.approx(rho_j, rel=0.03, abs=0.01)
            fits += 1
    assert fits >= 3


def test_d_at_eta_tau_one_it_is_best_response_iteration_and_cycles():
    """ητ = 1 makes the update π ∝ μ exp(Pπ/τ) (best-response iteration), outside the theorem's
    η ≤ τ/(L² + τ²): on rock–paper–scissors at τ = 0.1 it cycles instead of converging."""
    g = rock_paper_scissors()
    run = inpo(g, 0.1, eta=10.0, steps=2000, init=[0.5, 0.3, 0.2], record_every=1)
    assert np.min(np.abs(run.history[1000:] - 1 / 3).max(-1)) > 0.1
    assert np.max(np.abs(inpo(g, 0.1, steps=2000, init=[0.5, 0.3, 0.2]).policy - 1 / 3)) < 1e-10
