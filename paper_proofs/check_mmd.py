"""Executable checks of magnetic mirror descent (Sokota et al. 2023) — ``docs/algorithms.md`` §1."""
# ruff: noqa: B023  (closures here are called inside the loop iteration that defines them)

import numpy as np
import pytest
from _learner_checks import fitted_factor, map_radius
from _proof_helpers import games, kl, random_policy, softmax, solve_pi
from scipy.optimize import minimize

from prefgame.dynamics import inpo_step, mmd, mmd_step
from prefgame.dynamics._iterate import payoff_scale
from prefgame.games import rock_paper_scissors

GAMES = games(range(10))


@pytest.mark.parametrize("seed", range(3))
def test_a_closed_form_is_the_argmax(seed):
    """log π' = [log π + ητ log μ + ηPπ]/(1+ητ) maximises ηπ'ᵀPπ − ητ KL(π'‖μ) − KL(π'‖π)."""
    P, mu, tau, rng = GAMES[seed]
    pi, eta = random_policy(len(mu), rng), 0.8 / tau
    new = np.exp(mmd_step(np.log(pi)[None], P[None], np.log(mu)[None], tau, eta))[0]
    obj = lambda z: (
        -(eta * softmax(z) @ P @ pi - eta * tau * kl(softmax(z), mu) - kl(softmax(z), pi))
    )
    res = minimize(obj, np.zeros(len(mu)), method="BFGS", options={"gtol": 1e-12})
    np.testing.assert_allclose(softmax(res.x), new, atol=1e-6)


def test_a_same_map_as_inpo_with_a_rescaled_step():
    """MMD(η) = INPO(η') with η' = η/(1 + ητ), for every η (docs/algorithms.md §4)."""
    for P, mu, tau, rng in GAMES:
        pi = random_policy(len(mu), rng)
        for eta in (0.01, 1.0, 30.0):
            a = mmd_step(np.log(pi)[None], P[None], np.log(mu)[None], tau, eta)
            b = inpo_step(np.log(pi)[None], P[None], np.log(mu)[None], tau, eta / (1 + eta * tau))
            np.testing.assert_allclose(a, b, atol=1e-12)


def test_b_fixed_point_is_the_regularised_equilibrium():
    for P, mu, tau, _ in GAMES:
        star = solve_pi(P, mu, tau)
        for eta in (0.1, 1.0, 10.0):
            out = np.exp(mmd_step(np.log(star)[None], P[None], np.log(mu)[None], tau, eta))[0]
            assert np.max(np.abs(out - star)) < 1e-13


def test_c_kl_bound_and_rate_on_random_games():
    """KL(π*‖π_{t+1}) ≤ (1+ητ)^{-t} KL(π*‖π_1) at η = τ/L² (checked where the bound is above the
    floating-point floor), and the fitted distance factor ρ matches the Jacobian's spectral radius
    with ρ² ≤ 1/(1+ητ): the theorem's factor bounds KL, which is quadratic in the distance."""
    fits = 0
    for P, mu, tau, rng in GAMES:
        star = solve_pi(P, mu, tau)
        init = random_policy(len(mu), rng)
        run = mmd(P, tau, mu=mu, steps=400, init=init, record_every=1)
        eta = run.extra["eta"]
        assert eta == pytest.approx(tau / payoff_scale(P) ** 2)
        K = kl(star, run.history)
        q = 1 / (1 + eta * tau)
        bound = q ** (run.steps[1:] - 1.0) * K[1]
        ok = bound > 1e-20
        assert np.all(K[1:][ok] <= bound[ok] * (1 + 1e-9))
        rho_j = map_radius(
            lambda z: mmd_step(z[None], P[None], np.log(mu)[None], tau, eta)[0], np.log(star)
        )
        assert rho_j**2 <= q + 1e-9
        dist = np.abs(run.history - star).max(-1)
        if dist[-1] < 1e-9 and rho_j > 0.6:  # enough points in the fitting window
            assert fitted_factor(dist) == pytest.approx(rho_j, rel=0.03, abs=0.01)
            fits += 1
    assert fits >= 3


@pytest.mark.parametrize("tau", [0.1, 0.3, 1.0])
def test_c_rate_against_step_size_and_tau(tau):
    """Sweep η ∈ {¼, ½, 1}·τ/L²: the measured KL factor ρ² is below the claim 1/(1+ητ) and
    decreases with η (larger steps, faster)."""
    P, mu, _, _ = GAMES[3]
    star = solve_pi(P, mu, tau)
    eta0 = tau / payoff_scale(P) ** 2
    rhos = []
    for f in (0.25, 0.5, 1.0):
        rho = map_radius(
            lambda z: mmd_step(z[None], P[None], np.log(mu)[None], tau, f * eta0)[0], np.log(star)
        )
        assert rho**2 <= 1 / (1 + f * eta0 * tau) + 1e-9
        rhos.append(rho)
    assert rhos[0] > rhos[1] > rhos[2]


def test_d_beyond_the_step_condition_it_can_cycle():
    """The hypothesis η ≤ τ/L² matters: on rock–paper–scissors at τ = 0.1, η = 10⁴ (≈ best-response
    iteration, locally unstable since ρ(AS*/τ) = √3/(6τ) > 1) never settles, while η = τ/L² does."""
    g = rock_paper_scissors()
    init = np.array([0.5, 0.3, 0.2])
    good = mmd(g, 0.1, steps=2000, init=init)
    bad = mmd(g, 0.1, eta=1e4, steps=2000, init=init, record_every=1)
    assert np.max(np.abs(good.policy - 1 / 3)) < 1e-10
    assert np.min(np.abs(bad.history[1000:] - 1 / 3).max(-1)) > 0.1
