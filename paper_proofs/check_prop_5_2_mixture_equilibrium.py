"""Executable proof of statement 7 (prop_5_2_mixture_equilibrium.md): Prop. 5.2.

Theory: ``docs/theory.md`` §7.
"""
# ruff: noqa: B023  (closures here are called inside the loop iteration that defines them)

import numpy as np
import pytest
import sympy as sp
from _proof_helpers import best_response, games, grad, mixture, population_loss, softmax, solve_pi
from scipy.optimize import root

from prefgame.dynamics import pairwise as pw
from prefgame.games import PreferenceGame

GAMES = games(range(8))
BETAS = [0.0, 0.125, 0.5, 0.9]


def test_exponent_identity_sympy():
    beta, tau = sp.symbols("beta tau", positive=True)
    lmu, v = sp.symbols("lmu v", real=True)
    assert (
        sp.simplify((1 - beta) * (lmu + v / tau) + beta * lmu - (lmu + v / (tau / (1 - beta)))) == 0
    )


@pytest.mark.parametrize("seed", range(len(GAMES)))
def test_mixture_is_equilibrium_at_tau_over_one_minus_beta(seed):
    P, mu, tau, rng = GAMES[seed]
    n = len(mu)
    for beta in BETAS:
        m_star = solve_pi(P, mu, tau / (1 - beta))
        pi = best_response(P, m_star, tau, mu)
        m = mixture(pi, mu, beta)
        np.testing.assert_allclose(m, m_star, atol=1e-10)
        F = np.log(pi) - np.log(mu) - P @ m / tau
        assert np.abs(F - F.mean()).max() < 1e-10
        g = grad(lambda z: population_loss(z, P, mu, tau, m), np.log(pi))
        assert np.abs(g).max() < 1e-9

        def eq(z):
            p = softmax(z)
            F = z - np.log(mu) - P @ mixture(p, mu, beta) / tau
            return F - F.mean()

        for _ in range(10):
            sol = root(eq, rng.normal(scale=2, size=n), method="hybr", tol=1e-13)
            if np.abs(eq(sol.x)).max() < 1e-10:
                np.testing.assert_allclose(softmax(sol.x), pi, atol=1e-8)
        if beta > 0:
            assert np.abs(m - solve_pi(P, mu, tau)).max() > 1e-6
            assert np.abs(m - solve_pi(P, mu, tau * (1 - beta))).max() > 1e-6


def test_beta_one_is_offline_ipo():
    for P, mu, tau, _ in GAMES:
        pi = best_response(P, mu, tau, mu)  # mixture at β = 1 is μ whatever π is
        assert np.allclose(mixture(pi, mu, 1.0), mu)
        np.testing.assert_allclose(pi, softmax(np.log(mu) + P @ mu / tau), atol=1e-14)


def test_library_ipo_md_learner():
    for P, mu, tau, _ in GAMES[:3]:
        for beta in (0.125, 0.5):
            m_star = solve_pi(P, mu, tau / (1 - beta))
            target = best_response(P, m_star, tau, mu)
            traj = pw.ipo_md(PreferenceGame(P, mu), tau, beta, steps=3000, tol=1e-12)
            np.testing.assert_allclose(np.asarray(traj.policy), target, atol=1e-8)
            np.testing.assert_allclose(np.asarray(traj.extra["sampler_policy"]), m_star, atol=1e-8)


def test_library_nash_md_pg_has_the_same_fixed_point():
    """Nash-MD-PG(β) (on-policy y, opponent from the mixture) stops at the same π*_β as IPO-MD."""
    from prefgame.dynamics import nash_md_pg

    for P, mu, tau, _ in GAMES[:3]:
        for beta in (0.125, 0.5):
            target = best_response(P, solve_pi(P, mu, tau / (1 - beta)), tau, mu)
            traj = nash_md_pg(
                PreferenceGame(P, mu), tau, beta, steps=20000, lr=0.5 / tau, tol=1e-11
            )
            np.testing.assert_allclose(np.asarray(traj.policy), target, atol=1e-7)
