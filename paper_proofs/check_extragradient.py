"""Executable checks of extragradient / EGPO (Zhou, Fazel & Du 2025) — ``docs/algorithms.md`` §3."""
# ruff: noqa: B023  (closures here are called inside the loop iteration that defines them)

import numpy as np
import pytest
from _learner_checks import fitted_factor, map_radius
from _proof_helpers import (
    games,
    grad,
    kl,
    minimise,
    population_loss,
    random_policy,
    softmax,
    solve_pi,
)

from prefgame.dynamics import extragradient, extragradient_step, inpo_step
from prefgame.dynamics._iterate import payoff_scale
from prefgame.equilibrium import best_response
from prefgame.games import random_intransitive, rock_paper_scissors

GAMES = games(range(10))


def test_a_two_inpo_steps_prediction_then_correction():
    """π_{t+½} is an INPO step from π_t; π_{t+1} is the same base step with value Pπ_{t+½}."""
    for P, mu, tau, rng in GAMES[:4]:
        pi, eta = random_policy(len(mu), rng), 0.7 / (tau + 0.5)
        lp, lm = np.log(pi)[None], np.log(mu)[None]
        new, half = extragradient_step(lp, P[None], lm, tau, eta)
        np.testing.assert_allclose(half, inpo_step(lp, P[None], lm, tau, eta), atol=1e-13)
        expect = softmax(
            (1 - eta * tau) * np.log(pi) + eta * tau * np.log(mu) + eta * P @ np.exp(half[0])
        )
        np.testing.assert_allclose(np.exp(new[0]), expect, atol=1e-13)


def test_b_fixed_point_is_the_regularised_equilibrium():
    for P, mu, tau, _ in GAMES:
        star = solve_pi(P, mu, tau)
        new, half = extragradient_step(
            np.log(star)[None], P[None], np.log(mu)[None], tau, 1 / (tau + 0.5)
        )
        assert np.max(np.abs(np.exp(new[0]) - star)) < 1e-13
        assert np.max(np.abs(np.exp(half[0]) - star)) < 1e-13


def test_c_kl_bound_and_rate_on_random_games():
    """KL(π*‖π_t) ≤ (1 − ητ)^t KL(π*‖π_0) at η = 1/(τ + L); ρ(J)² ≤ 1 − ητ; fit = ρ(J)."""
    fits = 0
    for P, mu, tau, rng in GAMES:
        star = solve_pi(P, mu, tau)
        run = extragradient(
            P, tau, mu=mu, steps=300, init=random_policy(len(mu), rng), record_every=1
        )
        eta = run.extra["eta"]
        assert eta == pytest.approx(1 / (tau + payoff_scale(P)))
        K = kl(star, run.history)
        bound = (1 - eta * tau) ** run.steps * K[0]
        ok = bound > 1e-20
        assert np.all(K[ok] <= bound[ok] * (1 + 1e-9))
        rho_j = map_radius(
            lambda z: extragradient_step(z[None], P[None], np.log(mu)[None], tau, eta)[0][0],
            np.log(star),
        )
        assert rho_j**2 <= 1 - eta * tau + 1e-9
        dist = np.abs(run.history - star).max(-1)
        if dist[-1] < 1e-9 and rho_j > 0.6:  # enough points in the fitting window
            assert fitted_factor(dist) == pytest.approx(rho_j, rel=0.03, abs=0.01)
            fits += 1
    assert fits >= 3


@pytest.mark.parametrize("tau", [0.1, 0.3, 1.0])
def test_c_rate_against_step_size_and_tau(tau):
    """η ∈ {¼, ½, 1}/(τ + L): ρ(J)² below the claim 1 − ητ, and smaller for larger η."""
    P, mu, _, _ = GAMES[3]
    star = solve_pi(P, mu, tau)
    rhos = []
    for f in (0.25, 0.5, 1.0):
        eta = f / (tau + payoff_scale(P))
        rho = map_radius(
            lambda z: extragradient_step(z[None], P[None], np.log(mu)[None], tau, eta)[0][0],
            np.log(star),
        )
        assert rho**2 <= 1 - eta * tau + 1e-9
        rhos.append(rho)
    assert rhos[0] > rhos[1] > rhos[2]


def test_d_unregularised_last_iterate_converges_polynomially_or_faster():
    """EGPO's τ = 0 claim: the last iterate converges to the unregularised equilibrium.  Measured on
    rock–paper–scissors and a random 6-action game (unique interior or sparse LP solution): the
    τ = 0 duality gap of the last iterate falls below 1e-6 within 20 000 steps."""
    from prefgame.equilibrium import duality_gap

    for g in (rock_paper_scissors(), random_intransitive(6, seed=1)):
        run = extragradient(
            g,
            0.0,
            steps=20_000,
            init=np.arange(1, g.n_actions + 1) / np.arange(1, g.n_actions + 1).sum(),
        )
        assert duality_gap(g, run.policy, 0.0) < 1e-6


def test_c_rate_is_exactly_one_minus_eta_tau_for_even_n():
    """ρ(J) = 1 − ητ exactly for **even** n, and below it for odd n (at η = 1/(τ + L)).

    Linearised at π*, the step is J = (1 − ητ)(I + ηM) + η²M² in centred logits, with M the game's
    part: similar to a real skew-symmetric matrix on the simplex's tangent space, of dimension
    n − 1.  For even n that dimension is odd, so M is singular and J has the eigenvalue 1 − ητ
    exactly; for odd n it generically has none and ρ < 1 − ητ.  (The docs once said it the other
    way round; measured on 6 random games for each n = 3…10: |ρ/(1 − ητ) − 1| ≤ 1e-9 for even n,
    ρ/(1 − ητ) between 0.988 and 1 − 5e-8 for odd n.)
    """
    for n in range(3, 11):
        for P, mu, tau, _ in games(range(6), n=n):
            star = solve_pi(P, mu, tau)
            eta = 1 / (tau + payoff_scale(P))
            rho = map_radius(
                lambda z: extragradient_step(z[None], P[None], np.log(mu)[None], tau, eta)[0][0],
                np.log(star),
            )
            ratio = rho / (1 - eta * tau)
            if n % 2 == 0:
                assert abs(ratio - 1) < 1e-8, (n, ratio)
            else:
                assert ratio < 1 - 1e-8, (n, ratio)


@pytest.mark.parametrize("seed", range(3))
def test_a_egpo_loss_one_step_is_the_update_its_minimiser_is_the_best_response(seed):
    """EGPO's online-IPO loss L_ν (pairs from a fixed ν, no gradient through it): its population
    minimiser is BR_τ(ν), the regularised best response — for ν = π_t not the extragradient
    step — while **one** natural-gradient step on it from π_t, log π' = log π_t − α ∇L_ν / (4ν)
    with α = ητ, is the prediction (ν = π_t) and then the correction (ν = π_{t+½})."""
    P, mu, tau, rng = GAMES[seed]
    pi_t, eta = random_policy(len(mu), rng), 0.7 / (tau + payoff_scale(P))
    new, half = extragradient_step(np.log(pi_t)[None], P[None], np.log(mu)[None], tau, eta)
    new, half = np.exp(new[0]), np.exp(half[0])

    def one_step(nu):
        g = grad(lambda z: population_loss(z, P, mu, tau, nu), np.log(pi_t))
        return softmax(np.log(pi_t) - eta * tau * g / (4 * nu))

    np.testing.assert_allclose(one_step(pi_t), half, atol=1e-12)
    np.testing.assert_allclose(one_step(half), new, atol=1e-12)
    z = minimise(lambda z: population_loss(z, P, mu, tau, pi_t), np.zeros(len(mu)))
    br = best_response(P, pi_t, tau, mu)
    np.testing.assert_allclose(softmax(z), br, atol=1e-7)
    assert np.abs(br - new).max() > 1e-3  # the minimiser is not the update
