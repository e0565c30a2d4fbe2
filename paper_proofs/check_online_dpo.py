"""Executable proof of statement 8 (online_dpo.md): online DPO's stationary points.

Theory: ``docs/theory.md`` §8 (Calandriello et al. App. F).
"""

import numpy as np
import pytest
import sympy as sp
from _proof_helpers import fd_grad, games, grad, population_loss, random_policy, softmax, solve_pi
from scipy.optimize import root
from scipy.special import expit

from prefgame.dynamics import pairwise as pw
from prefgame.games import (
    PreferenceGame,
    bradley_terry,
    cyclic,
    intransitive_dice,
    rock_paper_scissors,
)

GAMES = games(range(6))


def residual_r(
    u: np.ndarray, P: np.ndarray, mu: np.ndarray, tau: float
) -> tuple[np.ndarray, np.ndarray]:
    """r(y) = Σ_y' π(y') [σ(τ(u(y) − u(y'))) − P(y ≻ y')], π = μ e^u / Z."""
    pi = softmax(np.log(mu) + u)
    return (expit(tau * (u[:, None] - u[None, :])) - P) @ pi, pi


def stationary_point(
    P: np.ndarray, mu: np.ndarray, tau: float, u0: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Online DPO's stationary point (π, u) by root finding on r = 0 (gauge: mean u = 0)."""
    n = len(mu)
    u0 = np.zeros(n) if u0 is None else u0
    # πᵀr = 0 makes one equation redundant and u is defined up to a constant: fix the gauge.
    eqs = lambda u: np.r_[u.mean(), residual_r(u, P, mu, tau)[0][1:]]
    sol = root(eqs, u0, method="hybr", tol=1e-14)
    r, pi = residual_r(sol.x, P, mu, tau)
    assert np.abs(r).max() < 1e-11
    return pi, sol.x


@pytest.mark.parametrize("seed", range(len(GAMES)))
def test_a_gradient_is_two_tau_pi_r(seed):
    P, mu, tau, rng = GAMES[seed]
    z = rng.normal(size=len(mu))
    pi = softmax(z)
    fun = lambda zz: population_loss(zz, P, mu, tau, pi, "dpo")
    r, _ = residual_r(np.log(pi) - np.log(mu), P, mu, tau)
    auto = grad(fun, z)
    np.testing.assert_allclose(auto, fd_grad(fun, z), atol=1e-7)
    np.testing.assert_allclose(auto, 2 * tau * pi * r, atol=1e-12)
    assert abs(pi @ r) < 1e-14


def test_b_sympy_logit_dominates():
    p = sp.symbols("p", positive=True)
    phi_prime = sp.diff(sp.log(p / (1 - p)) - (p - sp.Rational(1, 2)), p)
    assert sp.simplify(phi_prime - 3 - (2 * p - 1) ** 2 / (p * (1 - p))) == 0


@pytest.mark.parametrize("tau", [0.1, 1.0, 5.0])
@pytest.mark.parametrize("mu1", [0.5, 0.2])
def test_b_two_actions_fail_unless_half(tau, mu1):
    mu = np.array([mu1, 1 - mu1])
    for p in (0.05, 0.3, 0.5, 0.7, 0.95):
        P = np.array([[0.5, p], [1 - p, 0.5]])
        h_dpo = np.log(p / (1 - p)) / tau
        r, pi = residual_r(np.array([h_dpo / 2, -h_dpo / 2]), P, mu, tau)
        assert np.abs(r).max() < 1e-15
        # unique: r(y1) has the sign of h − h_dpo (σ is increasing), on a grid of margins
        for d in (-5, -2, -0.5, 0.5, 2, 5):
            h = h_dpo + d
            r1 = residual_r(np.array([h / 2, -h / 2]), P, mu, tau)[0][0]
            assert np.sign(r1) == np.sign(d) and r1 != 0
        star = solve_pi(P, mu, tau)
        h_nash = np.log(star[0] / mu[0]) - np.log(star[1] / mu[1])
        assert h_nash == pytest.approx((p - 0.5) / tau, abs=1e-9)
        if p == 0.5:
            np.testing.assert_allclose(pi, star, atol=1e-12)
        else:
            assert abs(h_dpo) > abs(h_nash)
            assert np.abs(pi - star).max() > 1e-3


@pytest.mark.parametrize("seed", range(4))
def test_c_bradley_terry_gives_the_rlhf_policy(seed):
    rng = np.random.default_rng(seed)
    n, tau = 5, 0.5
    scores = rng.normal(size=n)
    P = bradley_terry(scores).P
    mu = random_policy(n, rng)
    rlhf = softmax(np.log(mu) + scores / tau)
    r, _ = residual_r(np.log(rlhf / mu), P, mu, tau)
    assert np.abs(r).max() < 1e-15
    for _ in range(3):  # online-DPO dynamics (preconditioned steps) from random starts
        u = rng.normal(size=n)
        for _ in range(3000):
            u = u - 2.0 * residual_r(u, P, mu, tau)[0]
        np.testing.assert_allclose(softmax(np.log(mu) + u), rlhf, atol=1e-9)
    assert np.abs(rlhf - solve_pi(P, mu, tau)).max() > 0.05


def test_c_library_online_dpo_on_bradley_terry():
    rng = np.random.default_rng(7)
    scores = rng.normal(size=4)
    mu = random_policy(4, rng)
    tau = 0.5
    traj = pw.online_dpo(PreferenceGame(bradley_terry(scores).P, mu), tau, steps=4000)
    np.testing.assert_allclose(
        np.asarray(traj.policy), softmax(np.log(mu) + scores / tau), atol=1e-6
    )


@pytest.mark.parametrize(
    "game", [rock_paper_scissors(), intransitive_dice(), cyclic(5)], ids=["rps", "dice", "cyclic5"]
)
@pytest.mark.parametrize("tau", [0.05, 0.3, 2.0])
def test_d_the_exception(game, tau):
    P, mu = game.P, game.mu
    np.testing.assert_allclose(P @ mu, 0.5, atol=1e-15)
    r, _ = residual_r(np.zeros(len(mu)), P, mu, tau)
    assert np.abs(r).max() < 1e-15
    np.testing.assert_allclose(solve_pi(P, mu, tau), mu, atol=1e-12)


def test_d_exception_needs_p_mu_half():
    P = rock_paper_scissors().P
    mu = np.array([0.5, 0.3, 0.2])
    tau = 0.3
    pi, _ = stationary_point(P, mu, tau, u0=np.log(solve_pi(P, mu, tau) / mu))
    assert np.abs(pi - solve_pi(P, mu, tau)).max() > 1e-2
