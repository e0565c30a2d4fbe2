"""Executable checks of optimistic MWU on the regularised game (Cen et al. 2021) —
``docs/algorithms.md`` §2."""

import numpy as np
import pytest
from _learner_checks import centred, fitted_factor, jacobian_radius
from _proof_helpers import games, kl, log_softmax, random_policy, softmax, solve_pi

from prefgame.dynamics import omwu, omwu_step
from prefgame.dynamics._iterate import payoff_scale
from prefgame.games import rock_paper_scissors

GAMES = games(range(10))


def _pair_map(P, mu, tau, eta):
    """(log π_t, log π̄_t) ↦ (log π_{t+1}, log π̄_{t+1}), both centred: the OMWU map on its state."""
    n = len(mu)

    def f(x):
        lp, lb = log_softmax(x[:n]), log_softmax(x[n:])
        base = (1 - eta * tau) * lp + eta * tau * np.log(mu)
        nb = log_softmax(base + eta * P @ np.exp(lb))
        npi = log_softmax(base + eta * P @ np.exp(nb))
        return np.r_[centred(npi), centred(nb)]

    return f


def test_a_update_restated():
    for P, mu, tau, rng in GAMES[:4]:
        pi, bar, eta = random_policy(len(mu), rng), random_policy(len(mu), rng), 0.4
        new, v = omwu_step(np.log(pi)[None], (P @ bar)[None], P[None], np.log(mu)[None], tau, eta)
        b = softmax((1 - eta * tau) * np.log(pi) + eta * tau * np.log(mu) + eta * P @ bar)
        np.testing.assert_allclose(v[0], P @ b, atol=1e-13)
        expect = softmax((1 - eta * tau) * np.log(pi) + eta * tau * np.log(mu) + eta * P @ b)
        np.testing.assert_allclose(np.exp(new[0]), expect, atol=1e-13)


def test_b_fixed_point_is_the_regularised_equilibrium():
    for P, mu, tau, _ in GAMES:
        star = solve_pi(P, mu, tau)
        new, v = omwu_step(
            np.log(star)[None], (P @ star)[None], P[None], np.log(mu)[None], tau, 0.3
        )
        assert np.max(np.abs(np.exp(new[0]) - star)) < 1e-13
        assert np.max(np.abs(v[0] - P @ star)) < 1e-13


def test_c_kl_bound_and_rate_on_random_games():
    """KL(π*‖π_t) ≤ 2(1 − ητ)^t KL(π*‖π_0) at η = min(1/(2τ + 2L), 1/(4L)); the pair map's
    spectral radius ρ(J) satisfies ρ² ≤ 1 − ητ, and the fitted distance factor equals ρ(J)."""
    fits = 0
    worst = 0.0
    for P, mu, tau, rng in GAMES:
        star = solve_pi(P, mu, tau)
        run = omwu(P, tau, mu=mu, steps=600, init=random_policy(len(mu), rng), record_every=1)
        eta = run.extra["eta"]
        L = payoff_scale(P)
        assert eta == pytest.approx(min(1 / (2 * tau + 2 * L), 1 / (4 * L)))
        K = kl(star, run.history)
        bound = (1 - eta * tau) ** run.steps * K[0]
        ok = bound > 1e-20
        worst = max(worst, float(np.max(K[ok] / bound[ok])))
        rho_j = jacobian_radius(_pair_map(P, mu, tau, eta), np.r_[np.log(star), np.log(star)])
        assert rho_j**2 <= 1 - eta * tau + 1e-9
        dist = np.abs(run.history - star).max(-1)
        if dist[-1] < 1e-9 and rho_j > 0.6:  # enough points in the fitting window
            assert fitted_factor(dist) == pytest.approx(rho_j, rel=0.03, abs=0.01)
            fits += 1
    assert worst <= 2.0
    assert fits >= 3


def test_d_unregularised_last_iterate_on_rock_paper_scissors():
    """At τ = 0 OMWU's last iterate still converges on rock–paper–scissors (unique interior
    equilibrium), unlike plain Hedge (SPPO/DNO), whose last iterate moves away."""
    g = rock_paper_scissors()
    run = omwu(g, 0.0, eta=0.2, steps=20_000, init=[0.5, 0.3, 0.2])
    assert np.max(np.abs(run.policy - 1 / 3)) < 1e-6
