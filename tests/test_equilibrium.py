import nashpy
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit, logit, logsumexp
from strategies import policies, preference_matrices

from prefgame import games as G
from prefgame.equilibrium import (
    best_response,
    duality_gap,
    fixed_point_residual,
    kl,
    residual_floor,
    solve,
    solve_regularized,
    solve_unregularized,
)

TAUS = [10.0, 1.0, 0.1, 0.01, 0.001]


@pytest.mark.parametrize("game", [G.rock_paper_scissors(), G.intransitive_dice(), G.cyclic(7)])
@pytest.mark.parametrize("tau", TAUS + [0.0])
def test_balanced_cycles_have_uniform_equilibria(game, tau):
    res = solve(game, tau)
    assert res.converged
    np.testing.assert_allclose(res.policy, np.full(game.n_actions, 1 / game.n_actions), atol=1e-12)
    assert res.duality_gap <= 1e-12


@pytest.mark.parametrize("eps", [-0.3, -0.1, 0.0, 0.05, 0.2, 1 / 3])
def test_three_rater_types_known_equilibrium(eps):
    game = G.three_rater_types(eps)
    known = np.array([1 / 3 + eps / 2, 1 / 3 + eps / 2, 1 / 3 - eps])
    np.testing.assert_allclose(solve(game, 0.0).policy, known, atol=1e-9)
    # The regularised equilibria approach it as τ → 0: linearly in τ for an interior
    # equilibrium; more slowly at ε = 1/3, where y3 leaves the support.
    taus = (1e-2, 1e-3, 1e-4)
    errs = [np.abs(solve(game, t).policy - known).max() for t in taus]
    if abs(eps) < 1 / 3:
        assert all(e <= 5 * t for e, t in zip(errs, taus))
    assert errs[2] <= 5e-3
    if eps != 0.0:
        assert errs[0] > errs[1] > errs[2]


@settings(max_examples=40, deadline=None)
@given(p=st.floats(0, 1), m=st.floats(0.01, 0.99), tau=st.sampled_from(TAUS))
def test_two_actions_closed_form(p, m, tau):
    """π*(y1) = σ(logit μ(y1) + (p − ½)/τ), since (Pπ)(y1) − (Pπ)(y2) = p − ½ for any π."""
    game = G.PreferenceGame([[0.5, p], [1 - p, 0.5]], [m, 1 - m])
    res = solve(game, tau)
    assert res.converged
    assert res.policy[0] == pytest.approx(expit(logit(m) + (p - 0.5) / tau), abs=1e-12)


def test_large_tau_tends_to_the_reference():
    game = G.random_intransitive(7, seed=5).with_mu([0.05, 0.1, 0.15, 0.2, 0.25, 0.15, 0.1])
    for tau in (10.0, 100.0, 1000.0):
        d = np.abs(solve(game, tau).policy - game.mu).max()
        assert d <= 1.0 / tau  # |π* − μ| = O(1/τ)
    assert np.abs(solve(game, 1.0).policy - game.mu).max() > 1e-2


@pytest.mark.parametrize("seed", range(6))
def test_lp_agrees_with_nashpy(seed):
    game = G.random_intransitive(7, seed=seed)
    A = game.P - 0.5
    row, _ = nashpy.Game(A, -A).linear_program()
    ours = solve_unregularized(game)
    assert ours.duality_gap <= 1e-9
    assert duality_gap(game, np.clip(row, 0, None), 0.0) <= 1e-9
    # Generic random tournaments have a unique equilibrium, so the policies agree.
    np.testing.assert_allclose(ours.policy, row, atol=1e-8)


def test_gap_formulas_agree():
    """2[τ lse(log μ + Pπ/τ) + τ KL(π‖μ)] − 1 = 2τ KL(π‖BR(π)) = 2τ[KL(π‖π*) + KL(π*‖BR(π))]."""
    rng = np.random.default_rng(0)
    for seed in range(5):
        game = G.random_intransitive(6, seed=seed).with_mu(rng.dirichlet(np.ones(6)))
        for tau in (0.05, 0.5, 3.0):
            pi = rng.dirichlet(np.ones(6))
            direct = (
                2
                * (
                    tau * logsumexp(np.log(game.mu) + game.P @ pi / tau)
                    + tau * np.sum(pi * np.log(pi / game.mu))
                )
                - 1
            )
            star = solve(game, tau).policy
            br = best_response(game, pi, tau)
            cert = 2 * tau * (kl(pi, star) + kl(star, br))
            assert duality_gap(game, pi, tau) == pytest.approx(direct, rel=1e-9, abs=1e-13)
            assert cert == pytest.approx(direct, rel=1e-9, abs=1e-13)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), P=preference_matrices(), tau=st.sampled_from([0.003, 0.05, 0.3, 2.0]))
def test_properties_on_random_games(data, P, tau):
    n = P.shape[0]
    mu = data.draw(policies(n))
    game = G.PreferenceGame(P, mu)
    res = solve(game, tau)
    assert res.converged
    assert res.duality_gap <= 1e-12
    assert fixed_point_residual(game, res.policy, tau) <= 1e-9
    # Any other policy is exploitable: gap = 2τ[KL(π‖π*) + KL(π*‖BR(π))] ≥ 2τ KL(π‖π*) ≥
    # τ‖π − π*‖₁² (Pinsker) — a lower bound from π*, not from the gap's own formula.
    other = data.draw(policies(n, min_prob=0.0))
    dist = np.abs(other - res.policy).sum()
    assert duality_gap(game, other, tau) >= tau * dist**2 - 1e-8
    # Relabelling the actions relabels the solution.
    perm = np.asarray(data.draw(st.permutations(range(n))))
    np.testing.assert_allclose(solve(game.permuted(perm), tau).policy, res.policy[perm], atol=1e-9)


def _best_opponent_value(P, mu, pi, tau):
    """max_{π'} P_τ(π' ≻ π) = max_{π'} π'ᵀPπ − τ KL(π'‖μ) + τ KL(π‖μ), found numerically:
    BFGS over the logits of π' (the objective is strictly concave in π') for τ > 0, the LP
    max π'ᵀ(Pπ) over the simplex (HiGHS) for τ = 0.  Independent of ``duality_gap``'s formula."""
    from scipy.optimize import linprog, minimize
    from scipy.special import log_softmax as lsm
    from scipy.special import xlogy

    v = P @ pi
    if tau == 0:
        n = len(pi)
        lp = linprog(-v, A_eq=np.ones((1, n)), b_eq=[1.0], bounds=[(0, None)] * n, method="highs")
        return -lp.fun
    own = tau * np.sum(xlogy(pi, pi) - pi * np.log(mu))

    def neg(z):
        q = np.exp(lsm(z))
        val = q @ v - tau * np.sum(q * (lsm(z) - np.log(mu)))
        grad_q = v - tau * (lsm(z) - np.log(mu) + 1)
        return -val, -(q * (grad_q - q @ grad_q))

    best = max(
        -minimize(neg, z0, jac=True, method="BFGS", options={"gtol": 1e-13, "maxiter": 10_000}).fun
        for z0 in (np.log(mu), np.zeros(len(pi)))
    )
    return best + own


@settings(max_examples=30, deadline=None)
@given(data=st.data(), P=preference_matrices(max_n=6), tau=st.sampled_from([0.0, 0.1, 0.5, 2.0]))
def test_gap_is_twice_the_best_opponents_advantage(data, P, tau):
    """gap(π) = 2 max_{π'} P_τ(π' ≻ π) − 1 (docs/theory.md §3, the definition), with the max
    computed by an optimiser / LP rather than by the closed form the library uses."""
    n = P.shape[0]
    mu = data.draw(policies(n))
    pi = data.draw(policies(n, min_prob=0.0))  # zeros too: KL must count q off π's support
    expected = 2 * _best_opponent_value(P, mu, pi, tau) - 1
    assert duality_gap(G.PreferenceGame(P, mu), pi, tau) == pytest.approx(expected, abs=1e-8)


@settings(max_examples=15, deadline=None)
@given(P=preference_matrices(min_n=3, max_n=6, batch=4), tau=st.sampled_from([0.01, 0.2, 1.0]))
def test_a_batch_equals_each_context_alone(P, tau):
    game = G.PreferenceGame(P, rho=[0.1, 0.2, 0.3, 0.4])
    res = solve(game, tau)
    assert res.converged and res.policy.shape == P.shape[:2]
    for k in range(4):
        alone = solve(game.context(k), tau)
        np.testing.assert_allclose(res.policy[k], alone.policy, atol=1e-10)
    assert res.total_gap(game.rho) <= 1e-12


@pytest.mark.parametrize("tau", [1.0, 0.1, 0.01, 0.001])
def test_thousand_actions_to_machine_precision(tau):
    game = G.random_intransitive(1000, seed=0)
    res = solve(game, tau)
    assert res.converged and res.duality_gap <= 1e-12 and res.residual <= 1e-9


def test_non_convergence_is_reported_not_hidden():
    game = G.random_intransitive(40, seed=1)
    res = solve_regularized(game, 0.001, max_iter=1)
    assert not res.converged
    assert res.duality_gap > 1e-12 or res.residual > 1e-9


def test_plain_best_response_iteration_cycles_on_rps_below_the_threshold():
    """§9: π ← BR(π) diverges from the uniform equilibrium when τ < √3/6 ≈ 0.289."""
    game = G.rock_paper_scissors()
    start = np.array([0.34, 0.33, 0.33])
    for tau, grows in ((0.2, True), (0.4, False)):
        pi = start
        for _ in range(50):
            pi = best_response(game, pi, tau)
        assert (np.abs(pi - 1 / 3).max() > 0.01) == grows


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: solve(G.rock_paper_scissors(), -0.1), r"tau = -0.1, must be a finite number >= 0"),
        (lambda: solve(G.rock_paper_scissors(), float("nan")), r"tau = nan"),
        (lambda: solve([[0.5, 0.9], [0.2, 0.5]], 1.0), r"P\[0,1\] \+ P\[1,0\] = 1.1, must be 1"),
        (lambda: solve(G.rock_paper_scissors(), 1.0, mu=[0.5, 0.5, 0.0]), r"mu\[2\] = 0"),
        (lambda: duality_gap(G.rock_paper_scissors(), [0.5, 0.5], 1.0), r"policy has 2 entries"),
        (lambda: duality_gap(G.rock_paper_scissors(), [0.5, 0.6, 0.1], 1.0), r"sum of policy"),
    ],
)
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------- no false failures


@pytest.mark.parametrize("tau", [1e-4, 1e-5, 1e-6])
def test_entries_of_pi_that_underflow_to_zero_are_still_certified(tau):
    """A dominated action gets π(y) ≈ exp(−0.4/τ) = 0.0 in float64: log 0 must not make the
    residual NaN and the correct equilibrium 'not converged'."""
    P = np.array([[0.5, 0.0, 0.5], [1.0, 0.5, 0.9], [0.5, 0.1, 0.5]])
    res = solve(P, tau)
    assert np.min(res.policy) == 0.0  # the case under test: an exact underflow
    assert np.isfinite(res.residual) and res.duality_gap <= 1e-12
    assert res.converged
    np.testing.assert_allclose(res.policy, [0.0, 1.0, 0.0], atol=1e-300)


@pytest.mark.parametrize("n, tau", [(50, 1e-5), (50, 1e-6), (120, 1e-6)])
def test_small_tau_is_converged_up_to_the_residual_rounding_floor(n, tau):
    """At τ = 1e-6 the Jacobian J = I − A S/τ has norm ≈ 1e5, so no float64 π has a residual
    below ≈ 1e-7; the gap (≈ 1e-21 here) certifies the answer."""
    game = G.random_intransitive(n, seed=0)
    res = solve(game, tau)
    assert res.duality_gap <= 1e-12 and np.isfinite(res.residual)
    assert res.converged
    A = np.asarray(game.P) - 0.5
    floor = residual_floor(A, np.log(game.mu), tau, res.policy)
    assert res.residual <= max(1e-9, floor)
    # and the floor is a floor: one ulp of change in the logits moves the residual by about it
    z = np.log(np.maximum(res.policy, 1e-300))
    support = res.policy > 1e-3
    z2 = np.where(support, np.nextafter(z, np.inf), z)
    r2 = fixed_point_residual(game, np.exp(z2) / np.exp(z2).sum(), tau)
    assert r2 > 1e-3 * floor


def test_a_bad_policy_is_still_not_converged_at_small_tau():
    """The looser floor does not let a wrong answer through: the gap still judges."""
    game = G.random_intransitive(50, seed=0)
    res = solve_regularized(game, 1e-6, max_iter=1)
    assert not res.converged


@pytest.mark.parametrize("tol", [float("nan"), -1.0, 0.0, float("inf")])
def test_bad_tolerance_is_refused(tol):
    with pytest.raises(ValueError, match="tol = "):
        solve(G.rock_paper_scissors(), 0.1, tol=tol)
    with pytest.raises(ValueError, match="tol = "):
        solve(G.rock_paper_scissors(), 0.0, tol=tol)


# --------------------------------------------------------------------------- Newton–Krylov


@pytest.mark.parametrize("tau", [1.0, 0.01, 0.001])
def test_krylov_path_matches_the_dense_path(tau):
    """The matrix-free path (forced on at n = 300) finds the dense path's π*_τ to 1e-10 and
    certifies it the same way; it reports its cost in products with P."""
    game = G.random_intransitive(300, seed=3)
    kry = solve(game, tau, krylov=True)
    dense = solve(game, tau, krylov=False)
    assert kry.converged and kry.duality_gap <= 1e-12 and kry.residual <= 1e-9
    np.testing.assert_allclose(kry.policy, dense.policy, atol=1e-10, rtol=0)
    assert 0 < kry.matvecs < 600 and dense.matvecs is None
    assert kry.to_dict()["matvecs"] == kry.matvecs and "matvecs" not in dense.to_dict()


def test_krylov_path_on_a_batch_of_contexts_with_a_reference():
    game = G.random_intransitive(200, seed=4, contexts=3)
    mu = np.random.default_rng(0).dirichlet(np.full(200, 5.0), size=3)
    kry = solve(game.P, 0.01, mu, krylov=True)
    dense = solve(game.P, 0.01, mu, krylov=False)
    assert kry.converged and kry.policy.shape == (3, 200)
    assert np.all(kry.duality_gap <= 1e-12)
    np.testing.assert_allclose(kry.policy, dense.policy, atol=1e-10, rtol=0)
    gap = duality_gap(game.P, kry.policy, 0.01, mu)  # the public gap, same formula
    np.testing.assert_allclose(kry.duality_gap, gap, rtol=0, atol=1e-20)


def test_krylov_path_is_chosen_above_the_threshold(monkeypatch):
    import prefgame.equilibrium as E

    monkeypatch.setattr(E, "KRYLOV_ABOVE", 50)
    assert solve(G.random_intransitive(60, seed=0), 0.1).matvecs is not None
    assert solve(G.random_intransitive(50, seed=0), 0.1).matvecs is None


def test_krylov_non_convergence_is_reported_and_init_is_used():
    game = G.random_intransitive(100, seed=1)
    assert not solve_regularized(game, 0.001, max_iter=1, krylov=True).converged
    star = solve(game, 0.01, krylov=True)
    warm = solve(game, 0.01, krylov=True, init=star.policy)
    assert warm.converged and warm.iterations <= 1 and warm.matvecs <= 3
