"""Executable proof of statement 1 (regularized_equilibrium.md): NLHF Prop. 1.

Theory: ``docs/theory.md`` §2–§3.
"""

import numpy as np
import pytest
from _proof_helpers import best_response, games, kl, random_P, random_policy, softmax, solve_pi
from scipy.optimize import minimize, root

from prefgame.equilibrium import duality_gap, solve
from prefgame.games import PreferenceGame

GAMES = games()


def f(P: np.ndarray, mu: np.ndarray, tau: float, pi: np.ndarray, pi2: np.ndarray) -> float:
    """P_τ(π ≻ π′) = πᵀPπ′ − τ KL(π‖μ) + τ KL(π′‖μ)."""
    return pi @ P @ pi2 - tau * kl(pi, mu) + tau * kl(pi2, mu)


@pytest.mark.parametrize("seed", range(len(GAMES)))
def test_step1_skew_symmetry(seed):
    P, mu, tau, rng = GAMES[seed]
    n = len(mu)
    for _ in range(20):
        a, b = random_policy(n, rng), random_policy(n, rng)
        assert a @ P @ b + b @ P @ a == pytest.approx(1.0, abs=1e-14)
        assert f(P, mu, tau, a, b) == pytest.approx(1 - f(P, mu, tau, b, a), abs=1e-13)
    # The step uses P + Pᵀ = 1: break it and the identity fails.
    Q = P.copy()
    Q[0, -1] += 0.1
    a, b = random_policy(n, rng), random_policy(n, rng)
    assert abs(a @ Q @ b + b @ Q @ a - 1.0) > 1e-4


@pytest.mark.parametrize("seed", range(4))
def test_step2_gibbs_variational_principle(seed):
    _, mu, tau, rng = GAMES[seed]
    n = len(mu)
    v = rng.normal(size=n)
    closed = tau * np.log(np.sum(mu * np.exp(v / tau)))
    pv = softmax(np.log(mu) + v / tau)
    obj = lambda z: -(softmax(z) @ v - tau * kl(softmax(z), mu))
    res = minimize(obj, np.zeros(n), method="BFGS", options={"gtol": 1e-12})
    assert -res.fun == pytest.approx(closed, abs=1e-7)  # optimiser accuracy
    assert -res.fun <= closed + 1e-12  # and never above the closed-form maximum
    np.testing.assert_allclose(softmax(res.x), pv, atol=1e-5)
    for _ in range(10):  # exact decomposition  πᵀv − τKL(π‖μ) = τ log Z − τ KL(π‖π_v)
        pi = random_policy(n, rng)
        assert pi @ v - tau * kl(pi, mu) == pytest.approx(closed - tau * kl(pi, pv), abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_step3_strict_concavity(seed):
    P, mu, tau, rng = GAMES[seed]
    n = len(mu)
    b = random_policy(n, rng)
    for _ in range(10):
        a = random_policy(n, rng, conc=5.0)
        d = rng.normal(size=n)
        d -= d.mean()
        d *= 0.1 * a.min() / np.abs(d).max()
        e = 1e-3
        second = (
            f(P, mu, tau, a + e * d, b) - 2 * f(P, mu, tau, a, b) + f(P, mu, tau, a - e * d, b)
        ) / e**2
        exact = -tau * np.sum(d * d / a)
        assert second < 0
        assert second == pytest.approx(exact, rel=1e-4)


@pytest.mark.parametrize("seed", range(len(GAMES)))
def test_steps5_6_unique_symmetric_saddle_point_is_the_fixed_point(seed):
    P, mu, tau, rng = GAMES[seed]
    n = len(mu)
    star = solve_pi(P, mu, tau)
    np.testing.assert_allclose(best_response(P, star, tau, mu), star, atol=1e-10)
    assert f(P, mu, tau, star, star) == pytest.approx(0.5, abs=1e-14)
    for _ in range(200):
        a = random_policy(n, rng, conc=0.5)
        assert f(P, mu, tau, a, star) <= 0.5 + 1e-12  # max player cannot gain
        assert f(P, mu, tau, star, a) >= 0.5 - 1e-12  # min player cannot gain
    # Uniqueness of the fixed point: root-finding from random starts lands on the same point.
    Fz = lambda z: (
        z - np.log(mu) - P @ softmax(z) / tau - (z - np.log(mu) - P @ softmax(z) / tau).mean()
    )
    for _ in range(20):
        z0 = rng.normal(scale=3, size=n)
        sol = root(Fz, z0, method="hybr", tol=1e-13)
        if np.max(np.abs(Fz(sol.x))) < 1e-10:
            np.testing.assert_allclose(softmax(sol.x), star, atol=1e-8)
    # Local uniqueness: J = I − A S/τ with S = diag π − ππᵀ ⪰ 0.  AS = (A S^½) S^½ has the same
    # non-zero eigenvalues as the skew-symmetric S^½ A S^½, so they are purely imaginary and
    # every eigenvalue of J has real part 1: J is never singular.
    A = P - 0.5
    S = np.diag(star) - np.outer(star, star)
    w, V = np.linalg.eigh(S)
    R = V @ np.diag(np.sqrt(np.clip(w, 0, None))) @ V.T
    K = R @ A @ R
    np.testing.assert_allclose(K, -K.T, atol=1e-15)
    ev_AS = np.sort_complex(np.linalg.eigvals(A @ S))
    ev_K = np.sort_complex(np.linalg.eigvals(K))
    np.testing.assert_allclose(np.sort(np.abs(ev_AS)), np.sort(np.abs(ev_K)), atol=1e-8)
    assert np.max(np.abs(ev_K.real)) < 1e-13
    assert np.min(np.abs(np.linalg.eigvals(np.eye(n) - A @ S / tau))) >= 1 - 1e-6


@pytest.mark.parametrize("seed", range(len(GAMES)))
def test_step7_gap_formulas_agree(seed):
    P, mu, tau, rng = GAMES[seed]
    n = len(mu)
    for _ in range(10):
        pi = random_policy(n, rng)
        br = best_response(P, pi, tau, mu)
        # definition: max_π' f(π', π) − min_π' f(π, π'), each attained at BR(π) (Step 2 and Step 1)
        by_definition = f(P, mu, tau, br, pi) - f(P, mu, tau, pi, br)
        logZ = np.log(np.sum(mu * np.exp(P @ pi / tau)))
        log_partition = 2 * (tau * logZ + tau * kl(pi, mu)) - 1
        two_tau_kl = 2 * tau * kl(pi, br)
        lib = duality_gap(PreferenceGame(P, mu), pi, tau)
        assert by_definition == pytest.approx(two_tau_kl, abs=1e-12)
        assert log_partition == pytest.approx(two_tau_kl, abs=1e-12)
        assert lib == pytest.approx(two_tau_kl, abs=1e-12)
        assert two_tau_kl > 0


def test_remark_tau_zero_is_not_unique():
    P = np.full((3, 3), 0.5)  # every comparison a tie
    for pi in (np.array([1.0, 0, 0]), np.array([0.2, 0.3, 0.5])):
        assert duality_gap(PreferenceGame(P), pi, 0.0) == 0.0
    # while at τ > 0 the equilibrium is μ itself and any other policy has a positive gap
    mu = np.array([0.2, 0.3, 0.5])
    assert solve(PreferenceGame(P, mu), 0.1).policy == pytest.approx(mu, abs=1e-12)
    assert duality_gap(PreferenceGame(P, mu), np.array([0.3, 0.3, 0.4]), 0.1) > 1e-3


def test_random_P_is_valid_and_not_trivial():
    P = random_P(5, np.random.default_rng(1))
    np.testing.assert_allclose(P + P.T, 1.0)
    assert np.std(P) > 0.1
