"""Executable proof of statement 4 (prop_4_1_online_ipo_fixed_point.md): Prop. 4.1.

Theory: ``docs/theory.md`` §6, §12.
"""
# ruff: noqa: B023  (closures here are called inside the loop iteration that defines them)

import numpy as np
import pytest
from _proof_helpers import (
    best_response,
    games,
    grad,
    minimise,
    population_loss,
    random_policy,
    softmax,
    solve_pi,
)

from prefgame.dynamics import pairwise as pw
from prefgame.games import PreferenceGame, rock_paper_scissors

GAMES = games(range(8))


@pytest.mark.parametrize("seed", range(4))
def test_a_minimiser_is_the_best_response_to_the_sampler(seed):
    P, mu, tau, rng = GAMES[seed]
    nu = random_policy(len(mu), rng)
    found = softmax(minimise(lambda z: population_loss(z, P, mu, tau, nu), np.zeros(len(mu))))
    br = best_response(P, nu, tau, mu)
    np.testing.assert_allclose(found, br, atol=1e-8)
    assert np.abs(br - nu).max() > 1e-3


@pytest.mark.parametrize("seed", range(len(GAMES)))
def test_b_self_consistent_minimiser_is_the_equilibrium(seed):
    P, mu, tau, rng = GAMES[seed]
    n = len(mu)
    star = solve_pi(P, mu, tau)
    g = grad(lambda z: population_loss(z, P, mu, tau, star), np.log(star))
    assert np.abs(g).max() < 1e-10
    found = softmax(minimise(lambda z: population_loss(z, P, mu, tau, star), np.zeros(n)))
    np.testing.assert_allclose(found, star, atol=1e-8)
    for _ in range(20):  # anywhere else the expected online gradient is not zero
        pi = random_policy(n, rng)
        g = grad(lambda z: population_loss(z, P, mu, tau, pi), np.log(pi))
        assert np.abs(g).max() > 1e-4


def test_b_library_online_ipo_reaches_the_equilibrium():
    from prefgame.equilibrium import duality_gap

    for P, mu, tau, _ in GAMES[:4]:
        game = PreferenceGame(P, mu)
        traj = pw.online_ipo(game, tau, steps=3000, tol=1e-12)
        pi = np.asarray(traj.policy)
        assert duality_gap(game, pi, tau) < 1e-10


def _br_logit_jacobian(P, mu, tau, z, eps=1e-6):
    n = len(z)
    f = lambda zz: np.log(best_response(P, softmax(zz), tau, mu))
    J = np.empty((n, n))
    for k in range(n):
        e = np.zeros(n)
        e[k] = eps
        J[:, k] = (f(z + e) - f(z - e)) / (2 * eps)
    C = np.eye(n) - 1.0 / n
    return C @ J


@pytest.mark.parametrize("tau", [0.2, 0.289, 0.4, 1.0])
def test_c_best_response_iteration_spectral_radius(tau):
    g = rock_paper_scissors()
    J = _br_logit_jacobian(g.P, g.mu, tau, np.zeros(3))
    mod = np.sort(np.abs(np.linalg.eigvals(J)))
    np.testing.assert_allclose(mod, [0, np.sqrt(3) / (6 * tau), np.sqrt(3) / (6 * tau)], atol=1e-7)


def test_c_best_response_iteration_cycles_below_sqrt3_over_6():
    g = rock_paper_scissors()
    start = softmax(np.array([0.01, -0.005, 0.0]))
    for tau, diverges in ((0.2, True), (0.4, False)):
        pi = start
        d0 = np.abs(pi - 1 / 3).max()
        for _ in range(200):
            pi = best_response(g.P, pi, tau, g.mu)
        d = np.abs(pi - 1 / 3).max()
        if diverges:
            assert d > 10 * d0
        else:
            assert d < 1e-10
