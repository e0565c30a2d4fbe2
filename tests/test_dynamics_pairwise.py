"""Pairwise learners: gradients equal autograd of the shared losses; fixed points match the
theory."""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import preference_matrices

from prefgame import games as G
from prefgame import losses as L
from prefgame.dynamics import (
    expected_gradient,
    ipo_md,
    ipo_md_mixture,
    offline_dpo,
    offline_ipo,
    offline_ipo_optimum,
    online_dpo,
    online_ipo,
    preference_optimisation,
    rlhf_policy,
)
from prefgame.dynamics.pairwise import LOSS_DERIVATIVES, autograd_loss_derivative
from prefgame.equilibrium import duality_gap, solve


def _torch_expected_grad(z, P, logmu, tau, loss, sampler, beta):
    """Independent computation: autograd of E_{w⊗w}[shared loss] with w detached."""
    zt = torch.tensor(z, requires_grad=True)
    lm = torch.tensor(logmu)
    logpi = torch.log_softmax(zt, -1)
    if sampler == "online":
        logw = logpi.detach()
    elif sampler == "offline":
        logw = lm
    else:
        logw = torch.log_softmax((1 - beta) * logpi.detach() + beta * lm, -1)
    w = torch.exp(logw)
    u = logpi - lm
    h = L.log_ratio_margin(
        logpi[..., :, None], logpi[..., None, :], lm[..., :, None], lm[..., None, :]
    )
    assert torch.allclose(h, u[..., :, None] - u[..., None, :])
    val = (w[..., :, None] * w[..., None, :] * L.LOSSES[loss](h, torch.tensor(P), tau=tau)).sum()
    (g,) = torch.autograd.grad(val, zt)
    return g.numpy()


@pytest.mark.parametrize("loss", ["ipo", "dpo", "slic"])
@pytest.mark.parametrize("sampler,beta", [("online", 0.0), ("offline", 0.0), ("mixture", 0.3)])
def test_expected_gradient_equals_autograd_of_the_shared_loss(loss, sampler, beta):
    g = G.random_intransitive(5, seed=3, contexts=4)
    rng = np.random.default_rng(1)
    z = rng.normal(size=(4, 5))
    logmu = np.log(rng.dirichlet(np.ones(5), size=4))
    tau = 0.3
    ours = expected_gradient(z, g.P, logmu, tau, loss=loss, sampler=sampler, beta=beta)
    ref = _torch_expected_grad(z, g.P, logmu, tau, loss, sampler, beta)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("loss", ["ipo", "dpo", "slic"])
def test_closed_form_loss_derivatives_equal_autograd(loss):
    rng = np.random.default_rng(0)
    h = rng.normal(scale=4, size=200)
    h = h[np.abs(np.abs(0.7 * h) - 1) > 1e-6]  # away from the hinge's kinks
    p = rng.uniform(size=h.shape)
    np.testing.assert_allclose(
        LOSS_DERIVATIVES[loss](h, p, 0.7),
        autograd_loss_derivative(L.LOSSES[loss])(h, p, 0.7),
        rtol=1e-12,
        atol=1e-12,
    )


def test_natural_direction_of_ipo_is_the_gradient_over_2w():
    """The O(n²) IPO fast path d = 2[u − E_w u − (Pw − ½)/τ] equals (∂L/∂z)/(2w)."""
    from prefgame.dynamics import natural_direction

    g = G.random_intransitive(6, seed=5, contexts=3)
    rng = np.random.default_rng(2)
    z, logmu = rng.normal(size=(3, 6)), np.log(rng.dirichlet(np.ones(6), size=3))
    for sampler, beta in [("online", 0), ("mixture", 0.4), ("offline", 0)]:
        fast = natural_direction(
            z,
            g.P,
            logmu,
            0.2,
            dh=LOSS_DERIVATIVES["ipo"],
            loss_name="ipo",
            sampler=sampler,
            beta=beta,
        )
        generic = natural_direction(
            z,
            g.P,
            logmu,
            0.2,
            dh=LOSS_DERIVATIVES["ipo"],
            loss_name="generic",
            sampler=sampler,
            beta=beta,
        )
        from prefgame.dynamics.pairwise import _log_sampler

        w = np.exp(_log_sampler(z, logmu, sampler, beta))
        grad = expected_gradient(z, g.P, logmu, 0.2, loss="ipo", sampler=sampler, beta=beta)
        np.testing.assert_allclose(fast, generic, atol=1e-12)
        np.testing.assert_allclose(fast, grad / (2 * w), atol=1e-10)


GAMES = {
    "rps": lambda: G.rock_paper_scissors(),
    "dice": lambda: G.intransitive_dice(),
    "three_raters": lambda: G.three_rater_types(0.2),
    "near_cyclic": lambda: G.near_cyclic(),
    "bt": lambda: G.random_transitive(5, seed=4),
    "random10_mu": lambda: G.random_intransitive(10, seed=7).with_mu(np.arange(1, 11) / 55),
}


@pytest.mark.parametrize("name", sorted(GAMES))
@pytest.mark.parametrize("tau", [0.1, 0.03])
def test_online_ipo_reaches_the_regularised_equilibrium(name, tau):
    """Prop. 4.1: exact online IPO converges to π*_τ (start away from μ, so it has to move)."""
    g = GAMES[name]()
    init = np.linspace(1, 2, g.n_actions) ** 3
    run = online_ipo(g, tau, steps=60_000, tol=1e-12, init=init / init.sum())
    star = solve(g, tau).policy
    assert run.converged
    assert np.max(np.abs(run.policy - star)) <= 1e-8
    assert run.duality_gap(g) <= 1e-14


def test_online_ipo_on_a_batch_of_games_matches_each_game():
    g = G.random_intransitive(8, seed=11, contexts=5)
    run = online_ipo(g, 0.1, steps=20_000, tol=1e-12)
    np.testing.assert_allclose(run.policy, solve(g, 0.1).policy, atol=1e-9)
    assert run.policy.shape == (5, 8)


@given(P=preference_matrices(2, 6), seed=st.integers(0, 1000))
@settings(max_examples=15, deadline=None)
def test_online_ipo_reaches_pistar_on_any_valid_matrix(P, seed):
    mu = np.random.default_rng(seed).dirichlet(np.ones(len(P)))
    g = G.PreferenceGame(P, mu)
    run = online_ipo(g, 0.2, steps=50_000, tol=1e-12)
    assert np.max(np.abs(run.policy - solve(g, 0.2).policy)) <= 1e-8


@pytest.mark.parametrize("beta", [0.25, 0.5, 0.75])
def test_ipo_md_mixture_is_pistar_at_tau_over_one_minus_beta(beta):
    """Prop. 5.2 on a game with a non-uniform equilibrium and non-uniform μ."""
    g = G.random_intransitive(6, seed=2).with_mu([0.3, 0.1, 0.2, 0.15, 0.05, 0.2])
    tau = 0.1
    run = ipo_md(g, tau, beta, steps=50_000, tol=1e-12)
    mix = ipo_md_mixture(run.policy, g.mu, beta)
    np.testing.assert_allclose(run.extra["sampler_policy"], mix, atol=1e-14)
    np.testing.assert_allclose(mix, solve(g, tau / (1 - beta)).policy, atol=1e-9)
    # and the policy itself is NOT π*_τ (the claim is about the mixture)
    assert np.max(np.abs(run.policy - solve(g, tau).policy)) > 1e-3


def test_offline_ipo_reaches_its_population_optimum():
    g = G.near_cyclic().with_mu([0.5, 0.3, 0.2])
    run = offline_ipo(g, 0.1, steps=20_000, tol=1e-12)
    np.testing.assert_allclose(run.policy, offline_ipo_optimum(g, 0.1), atol=1e-10)
    assert np.max(np.abs(run.policy - solve(g, 0.1).policy)) > 1e-2


def test_two_actions_dpo_collapses_while_ipo_keeps_sigma_of_one_over_two_tau():
    P = np.array([[0.5, 1.0], [0.0, 0.5]])
    tau = 0.5
    ipo = offline_ipo(P, tau, steps=5000, tol=1e-12)
    assert ipo.policy[0] == pytest.approx(1 / (1 + np.exp(-1 / (2 * tau))), abs=1e-10)
    dpo = offline_dpo(P, tau, steps=5000, lr=1.0)
    assert dpo.policy[1] < 1e-3  # heads to (1, 0) ...
    later = offline_dpo(P, tau, steps=20000, lr=1.0)
    assert later.policy[1] < dpo.policy[1] / 3  # ... and keeps going


@pytest.mark.parametrize("seed", [0, 1])
def test_online_dpo_on_bradley_terry_is_the_rlhf_solution_not_pistar(seed):
    """Calandriello App. F: under BT preferences online DPO's stationary point is μ exp(r/τ)/Z."""
    g = G.random_transitive(5, seed=seed, scale=1.0)
    tau = 0.5
    run = online_dpo(g, tau, steps=50_000, tol=1e-12)
    assert run.converged
    np.testing.assert_allclose(run.policy, rlhf_policy(g, tau), atol=1e-9)
    assert np.max(np.abs(run.policy - solve(g, tau).policy)) > 1e-2
    assert run.duality_gap(g) > 1e-4


def test_online_dpo_misses_pistar_on_intransitive_games_but_not_on_rps():
    tau = 0.1
    for g in (G.three_rater_types(0.2), G.near_cyclic()):
        run = online_dpo(g, tau, steps=50_000, tol=1e-11)
        assert np.max(np.abs(run.policy - solve(g, tau).policy)) > 1e-2
    rps = G.rock_paper_scissors()
    run = online_dpo(rps, tau, steps=50_000, tol=1e-11, init=[0.5, 0.3, 0.2])
    assert np.max(np.abs(run.policy - 1 / 3)) <= 1e-8


def test_sampled_online_ipo_is_seeded_and_approaches_pistar():
    g = G.three_rater_types(0.2)
    a = online_ipo(g, 0.5, samples=64, steps=300, lr=0.1, seed=3)
    b = online_ipo(g, 0.5, samples=64, steps=300, lr=0.1, seed=3)
    c = online_ipo(g, 0.5, samples=64, steps=300, lr=0.1, seed=4)
    np.testing.assert_array_equal(a.policy, b.policy)
    assert not np.array_equal(a.policy, c.policy)
    assert np.max(np.abs(a.policy - solve(g, 0.5).policy)) < 0.03


def test_sampled_gradient_is_unbiased():
    """Mean of many sampled directions = the exact natural direction (hard labels too)."""
    from prefgame.dynamics.pairwise import natural_direction

    g = G.random_intransitive(4, seed=1).with_mu([0.1, 0.2, 0.3, 0.4])
    z0 = np.array([0.3, -0.2, 0.5, 0.0])
    tau = 0.5
    exact = natural_direction(
        z0[None], g.P[None], np.log(g.mu)[None], tau, dh=LOSS_DERIVATIVES["dpo"], loss_name="dpo"
    )[0]
    for labels in ("soft", "hard"):
        runs = preference_optimisation(
            G.PreferenceGame(np.broadcast_to(g.P, (4000, 4, 4)), g.mu),
            tau,
            loss="dpo",
            samples=50,
            steps=1,
            lr=1.0,
            init=np.exp(z0) / np.exp(z0).sum(),
            labels=labels,
            seed=0,
        )
        z1 = runs.logits
        zc = z0 - z0.mean()
        est = -(z1 - zc).mean(axis=0)
        assert np.max(np.abs(est - (exact - exact.mean()))) < 0.02


def test_bad_input_raises_clear_errors():
    g = G.rock_paper_scissors()
    with pytest.raises(ValueError, match="tau"):
        online_ipo(g, 0.0)
    with pytest.raises(ValueError, match="beta"):
        ipo_md(g, 0.1, 1.5)
    with pytest.raises(ValueError, match="unknown loss"):
        preference_optimisation(g, 0.1, loss="kto")
    with pytest.raises(ValueError, match="sampler"):
        preference_optimisation(g, 0.1, sampler="sideways")
    with pytest.raises(ValueError, match="samples"):
        online_ipo(g, 0.1, samples=0, lr=0.1)
    with pytest.raises(ValueError, match="auto"):
        online_ipo(g, 0.1, samples=10)
    with pytest.raises(ValueError, match="P"):
        online_ipo(np.array([[0.5, 0.9], [0.9, 0.5]]), 0.1)


# --------------------------------------------------------------------------- custom losses


def _scaled_ipo(h, p, *, tau):
    """A custom loss: 3 × soft IPO (same minimiser in h, (p − ½)/τ)."""
    return 3.0 * L.ipo_soft_loss(h, p, tau=tau)


def _scaled_ipo_dh(h, p, tau):
    return 6.0 * (h - (p - 0.5) / tau)


def _sq_logit(h, p, *, tau):
    """A custom loss whose stationary point is not π*_τ: (σ(τh) − p)² (σ written with tanh)."""
    t = 0.5 * tau * h
    return (0.5 * (1.0 + (t.tanh() if hasattr(t, "tanh") else np.tanh(t))) - p) ** 2


def test_custom_loss_numpy_derivative_matches_autograd_and_needs_no_torch_warning():
    game = G.random_intransitive(4, seed=2).with_mu([0.1, 0.2, 0.3, 0.4])
    P, logmu = game.P[None], np.log(game.mu)[None]
    z = np.random.default_rng(0).normal(size=(1, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the read-only P must not trigger torch's warning
        g_auto = expected_gradient(z, P, logmu, 0.3, loss=_scaled_ipo)
        g_np = expected_gradient(z, P, logmu, 0.3, loss=_scaled_ipo, dloss=_scaled_ipo_dh)
        g_sq = expected_gradient(z, P, logmu, 0.3, loss=_sq_logit)
    np.testing.assert_allclose(g_np, g_auto, rtol=1e-12, atol=1e-14)
    # 3 × IPO: exactly three times the built-in IPO gradient, at π ≠ μ, h ≠ 0.
    np.testing.assert_allclose(
        g_np, 3 * expected_gradient(z, P, logmu, 0.3, loss="ipo"), rtol=1e-12
    )
    assert np.abs(g_sq).max() > 1e-3


def test_custom_loss_reaches_pi_star_only_if_its_stationary_point_is_pi_star():
    game = G.near_cyclic().with_mu([0.5, 0.3, 0.2])
    tau = 0.2
    star = solve(game, tau).policy
    run = preference_optimisation(
        game, tau, loss=_scaled_ipo, dloss=_scaled_ipo_dh, steps=20_000, tol=1e-12
    )
    assert run.converged and np.abs(run.policy - star).max() < 1e-9
    assert run.method == "online__scaled_ipo"
    # (σ(τh) − p)² stops (its update vanishes) away from π*_τ: converged, yet a positive gap.
    other = preference_optimisation(game, tau, loss=_sq_logit, steps=20_000, tol=1e-10)
    assert other.converged
    assert duality_gap(game, other.policy, tau) > 1e-6


def test_dloss_needs_a_callable_loss():
    with pytest.raises(ValueError, match="dloss"):
        preference_optimisation(G.rock_paper_scissors(), 0.1, loss="ipo", dloss=_scaled_ipo_dh)


def test_a_numpy_only_loss_without_dloss_names_the_way_out():
    """np.tanh on a tensor fails inside torch ("Can't call numpy() on Tensor"); the error says to
    pass dloss= (issue 24)."""
    pytest.importorskip("torch")

    def np_loss(h, p, *, tau):
        return np.tanh(h - (p - 0.5) / tau) ** 2

    with pytest.raises(TypeError, match=r"could not differentiate np_loss.*dloss="):
        preference_optimisation(G.rock_paper_scissors(), 0.5, loss=np_loss, steps=5)
    # with its derivative it runs (and needs no torch)
    run = preference_optimisation(
        G.rock_paper_scissors(),
        0.5,
        loss=np_loss,
        dloss=lambda h, p, tau: (
            2 * np.tanh(h - (p - 0.5) / tau) * (1 - np.tanh(h - (p - 0.5) / tau) ** 2)
        ),
        steps=5,
    )
    assert np.all(np.isfinite(run.policy))
