"""Nash-MD, online mirror descent, policy-gradient learners, RLHF and the optimisers."""

import numpy as np
import pytest
import torch

from prefgame import games as G
from prefgame import losses as L
from prefgame.dynamics import (
    fit_bradley_terry,
    nash_md,
    nash_md_bound,
    nash_md_fixed_point,
    nash_md_pg,
    nash_md_pg_gradient,
    nash_md_step,
    online_mirror_descent,
    rlhf,
    rlhf_policy,
    self_play_pg,
)
from prefgame.dynamics.pairwise import expected_gradient
from prefgame.equilibrium import best_response, kl, solve
from prefgame.optim import SGD, Adam, cosine, inverse_time, nash_md_schedule


def test_nash_md_step_is_the_argmax_of_its_objective():
    """π_{t+1} maximises η P(π ≻ π^μ) − KL(π‖π^μ): compare with a brute-force optimiser."""
    from scipy.optimize import minimize

    g = G.random_intransitive(4, seed=2).with_mu([0.1, 0.2, 0.3, 0.4])
    logpi = np.log(np.array([[0.4, 0.3, 0.2, 0.1]]))
    eta, tau = 0.7, 0.5
    new = np.exp(nash_md_step(logpi, g.P[None], np.log(g.mu)[None], tau, eta))[0]
    mix = np.exp((1 - eta * tau) * logpi[0] + eta * tau * np.log(g.mu))
    mix /= mix.sum()

    def neg(z):
        p = np.exp(z - z.max())
        p /= p.sum()
        return -(eta * p @ g.P @ mix - kl(p, mix))

    res = minimize(neg, np.zeros(4), method="BFGS", options={"gtol": 1e-12})
    p = np.exp(res.x - res.x.max())
    p /= p.sum()
    np.testing.assert_allclose(new, p, atol=1e-6)


@pytest.mark.parametrize(
    "game",
    [
        G.three_rater_types(0.2),
        G.near_cyclic(),
        G.random_intransitive(12, seed=5).with_mu(np.arange(1, 13) / 78),
    ],
)
def test_nash_md_last_iterate_kl_is_within_the_theorem_bound(game):
    tau = 0.1
    star = solve(game, tau).policy
    run = nash_md(game, tau, steps=2000, record_every=1)
    K = kl(star, run.history)
    assert np.all(K <= nash_md_bound(tau, run.steps))
    # and the bound is not vacuous here: the KL really does decrease to ~0
    assert K[-1] < 1e-3 * K[1]


def test_nash_md_one_step_inequality_holds_on_random_instances():
    """The theorem's key lemma KL(π*‖π_{t+1}) ≤ (1 − ητ) KL(π*‖π_t) + 2η², checked at random
    games, μ, τ, η and π_t — plus a mutant (the opponent's mixture weight doubled) that breaks
    it."""
    rng = np.random.default_rng(0)
    worst, mutant_viol = -np.inf, 0
    for k in range(300):
        n = int(rng.integers(2, 7))
        g = G.random_intransitive(n, seed=k).with_mu(rng.dirichlet(np.ones(n)))
        tau = float(rng.choice([0.05, 0.2, 1.0]))
        eta = float(rng.uniform(0.01, 1 / tau))
        star = solve(g, tau).policy
        pi = rng.dirichlet(np.full(n, 0.5)) + 1e-3
        pi /= pi.sum()
        lp, P, lm = np.log(pi)[None], g.P[None], np.log(g.mu)[None]
        rhs = (1 - eta * tau) * kl(star, pi) + 2 * eta**2
        worst = max(worst, kl(star, np.exp(nash_md_step(lp, P, lm, tau, eta))[0]) - rhs)
        # mutant: step from log π_t + η P π_t^μ (drops the mixture from the base measure)
        mix = np.exp((1 - eta * tau) * lp + eta * tau * lm)
        mix /= mix.sum()
        bad = np.exp(lp + eta * P @ mix[0])[0]
        mutant_viol += kl(star, bad / bad.sum()) > rhs
    assert worst <= 1e-12
    assert mutant_viol > 0


def test_constant_step_nash_md_has_a_biased_fixed_point_that_shrinks_with_eta():
    g = G.random_intransitive(5, seed=0)
    tau = 0.1
    star = solve(g, tau).policy
    bias = []
    for eta in (1.0, 0.1, 0.01):
        fp = nash_md_fixed_point(g, tau, eta)
        mix = fp ** (1 - eta * tau) * g.mu ** (eta * tau)
        mix /= mix.sum()
        # it solves the equation with the mixture inside ...
        np.testing.assert_allclose(fp, best_response(g.P, mix, tau, g.mu), atol=1e-11)
        bias.append(np.max(np.abs(fp - star)))
    # ... which is not π*: the bias is real and shrinks with η
    assert bias[0] > 1e-4
    assert bias[0] > 5 * bias[1] > 25 * bias[2] > 0


def test_nash_md_with_decreasing_steps_gets_within_1e6():
    g = G.three_rater_types(0.2)
    star = solve(g, 1.0).policy
    run = nash_md(
        g, 1.0, steps=200_000, check_every=100, until=lambda pi: np.max(np.abs(pi - star)) <= 1e-6
    )
    assert run.converged and run.iterations < 200_000
    # the stopping rule is only a measurement: running twice as long gets closer still
    longer = nash_md(g, 1.0, steps=2 * run.iterations)
    assert np.max(np.abs(longer.policy - star)) < 0.7e-6


def test_sampled_nash_md_is_seeded_and_close():
    g = G.three_rater_types(0.2)
    a = nash_md(g, 0.5, steps=500, samples=100, seed=1)
    b = nash_md(g, 0.5, steps=500, samples=100, seed=1)
    np.testing.assert_array_equal(a.policy, b.policy)
    assert np.max(np.abs(a.policy - solve(g, 0.5).policy)) < 0.01


def test_nash_md_converges_on_rps_while_mirror_descent_and_self_play_cycle():
    g = G.rock_paper_scissors()
    init = np.array([0.5, 0.3, 0.2])
    d0 = np.max(np.abs(init - 1 / 3))
    md = nash_md(g, 0.1, steps=2000, init=init)
    assert np.max(np.abs(md.policy - 1 / 3)) < 1e-3 * d0
    # unregularised Hedge self-play: the last iterate moves *away* from the equilibrium ...
    omd = online_mirror_descent(g, 0.0, eta=0.1, steps=2000, init=init, record_every=10)
    dist = np.max(np.abs(omd.history - 1 / 3), axis=-1)
    assert dist[-1] > d0 and dist.min() > 0.5 * d0
    # ... while its average iterate converges
    assert np.max(np.abs(omd.extra["average"] - 1 / 3)) < 0.1 * d0
    # self-play policy gradient (τ = 0) does not converge either
    sp = self_play_pg(g, 0.0, lr=0.1, steps=2000, init=init, record_every=10)
    assert np.max(np.abs(sp.history - 1 / 3), axis=-1).min() > 0.5 * d0
    # and OMD with τ > 0 but a step beyond its stability limit keeps cycling where Nash-MD,
    # with the same constant step, converges
    eta = 6.0
    omd = online_mirror_descent(g, 0.1, eta=eta, steps=2000, init=init, record_every=1)
    assert np.max(np.abs(omd.history[-50:] - 1 / 3)) > 0.1
    md = nash_md(g, 0.1, eta=eta, steps=2000, init=init)
    assert np.max(np.abs(md.policy - 1 / 3)) < 1e-8


def test_online_mirror_descent_fixed_point_is_pistar():
    g = G.near_cyclic().with_mu([0.2, 0.5, 0.3])
    run = online_mirror_descent(g, 0.2, eta=0.5, steps=20_000, tol=1e-12)
    np.testing.assert_allclose(run.policy, solve(g, 0.2).policy, atol=1e-10)


def test_nash_md_pg_gradient_equals_autograd_of_the_shared_surrogate():
    g = G.random_intransitive(5, seed=4)
    rng = np.random.default_rng(0)
    z, logmu, tau, beta = rng.normal(size=5), np.log(rng.dirichlet(np.ones(5))), 0.3, 0.4
    zt = torch.tensor(z, requires_grad=True)
    lm = torch.tensor(logmu)
    logpi = torch.log_softmax(zt, 0)
    pi = torch.exp(logpi).detach()
    w = torch.softmax((1 - beta) * logpi.detach() + beta * lm, 0)
    surrogate = sum(
        pi[y]
        * w[y2]
        * L.nash_md_pg_loss(logpi[y], logpi[y] - lm[y], torch.tensor(g.P[y, y2]), tau=tau)
        for y in range(5)
        for y2 in range(5)
    )
    (grad,) = torch.autograd.grad(surrogate, zt)
    ours = nash_md_pg_gradient(z[None], g.P[None], logmu[None], tau, beta)[0]
    np.testing.assert_allclose(ours, -grad.numpy(), atol=1e-12)


def test_self_play_gradient_is_a_positive_multiple_of_online_ipo_gradient():
    """Prop. 4.2: ∇ online IPO = −(4/τ) × self-play PG gradient."""
    g = G.random_intransitive(6, seed=9, contexts=3)
    rng = np.random.default_rng(5)
    z, logmu, tau = rng.normal(size=(3, 6)), np.log(rng.dirichlet(np.ones(6), size=3)), 0.25
    ipo = expected_gradient(z, g.P, logmu, tau, loss="ipo", sampler="online")
    sp = nash_md_pg_gradient(z, g.P, logmu, tau, 0.0)
    np.testing.assert_allclose(ipo, -(4 / tau) * sp, atol=1e-10)


def test_prop_5_1_gradients_differ_off_the_fixed_point_for_beta_positive():
    """The caution in docs/notation.md: IPO-MD's gradient is not a multiple of Nash-MD-PG(β)'s."""
    g = G.random_intransitive(5, seed=1)
    rng = np.random.default_rng(3)
    z, logmu, tau, beta = rng.normal(size=(1, 5)), np.log(np.full((1, 5), 0.2)), 0.2, 0.5
    a = expected_gradient(z, g.P[None], logmu, tau, loss="ipo", sampler="mixture", beta=beta)[0]
    b = nash_md_pg_gradient(z, g.P[None], logmu, tau, beta)[0]
    cos = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    assert abs(cos) < 1 - 1e-4


def test_nash_md_pg_fixed_point_matches_ipo_md():
    g = G.near_cyclic().with_mu([0.4, 0.4, 0.2])
    from prefgame.dynamics import ipo_md

    a = nash_md_pg(g, 0.2, 0.5, lr=0.1, steps=50_000, tol=1e-12)
    b = ipo_md(g, 0.2, 0.5, steps=50_000, tol=1e-12)
    np.testing.assert_allclose(a.policy, b.policy, atol=1e-9)


def test_bradley_terry_fit_recovers_true_scores_and_rlhf_reaches_its_optimum():
    r = np.array([0.5, -1.0, 2.0, 0.0])
    g = G.bradley_terry(r)
    np.testing.assert_allclose(fit_bradley_terry(g), r - r.mean(), atol=1e-10)
    run = rlhf(g, 0.3, steps=500, tol=1e-13)
    expect = g.mu * np.exp(r / 0.3)
    np.testing.assert_allclose(run.policy, expect / expect.sum(), atol=1e-12)
    np.testing.assert_allclose(rlhf_policy(g, 0.3), expect / expect.sum(), atol=1e-10)


def test_rlhf_on_three_raters_jumps_with_the_sign_of_eps():
    for eps, winner in ((0.1, 0), (-0.1, 1)):
        pi = rlhf_policy(G.three_rater_types(eps), 0.01)
        assert np.argmax(pi) == winner and pi[winner] > 0.99


def test_optimisers_and_schedules():
    assert nash_md_schedule(0.5)(0) == pytest.approx(2.0)
    assert inverse_time(1.0, 10)(10) == pytest.approx(0.5)
    assert cosine(1.0, 100)(100) == pytest.approx(0.0)
    # Adam's first step has size lr in every coordinate, whatever the gradient's scale
    opt = Adam(lr=0.1, beta1=0.9)
    d, _ = opt.update(np.array([1e-3, -5.0]), opt.init(np.zeros(2)), 0)
    np.testing.assert_allclose(d, [-0.1, 0.1], rtol=1e-4)
    # SGD momentum accumulates
    opt = SGD(lr=1.0, momentum=0.5)
    s = opt.init(np.zeros(1))
    d1, s = opt.update(np.ones(1), s, 0)
    d2, s = opt.update(np.ones(1), s, 1)
    assert d1[0] == -1.0 and d2[0] == -1.5
    with pytest.raises(ValueError, match="beta1"):
        Adam(beta1=1.0)
    with pytest.raises(ValueError, match="momentum"):
        SGD(momentum=-0.1)
    with pytest.raises(ValueError, match="eta"):
        nash_md(G.rock_paper_scissors(), 0.1, eta=20.0, steps=2)


def _autograd_pg(z, adv_fn):
    """−∇_z Σ_y sg(π(y)) policy_gradient_loss(log π(y), A(y)) by torch autograd."""
    zt = torch.tensor(z, requires_grad=True)
    logpi = torch.log_softmax(zt, -1)
    loss = (
        torch.exp(logpi).detach()
        * L.policy_gradient_loss(logpi, torch.tensor(adv_fn(logpi.detach().numpy())))
    ).sum()
    (g,) = torch.autograd.grad(loss, zt)
    return -g.numpy()


@pytest.mark.parametrize("which", ["rlhf", "nash_md_pg"])
def test_policy_gradient_steps_follow_autograd_of_the_shared_surrogate(which):
    """One plain SGD step (lr = 1, no preconditioning) moves the logits by the autograd gradient."""
    g = G.random_intransitive(4, seed=8).with_mu([0.1, 0.2, 0.3, 0.4])
    tau, beta = 0.3, 0.25
    init = np.array([0.4, 0.3, 0.2, 0.1])
    z0 = np.log(init) - np.log(init).mean()
    logmu = np.log(g.mu)
    if which == "rlhf":
        r = fit_bradley_terry(g)
        run = rlhf(g, tau, reward=r, steps=1, lr=1.0, precondition=False, init=init)
        adv = lambda lp: r - tau * (lp - logmu)
    else:
        run = nash_md_pg(g, tau, beta, steps=1, lr=1.0, precondition=False, init=init)

        def adv(lp):
            w = np.exp((1 - beta) * lp + beta * logmu)
            return g.P @ (w / w.sum()) - 0.5 - tau * (lp - logmu)

    expect = z0 + _autograd_pg(z0, adv)
    np.testing.assert_allclose(run.logits, expect - expect.mean(), atol=1e-12)


def test_sampled_nash_md_pg_is_unbiased():
    g = G.random_intransitive(4, seed=2)
    reps, tau, beta = 4000, 0.3, 0.5
    init = np.array([0.4, 0.3, 0.2, 0.1])
    batch = G.PreferenceGame(np.broadcast_to(g.P, (reps, 4, 4)), g.mu)
    one = nash_md_pg(batch, tau, beta, steps=1, lr=1.0, samples=20, seed=0, init=init)
    exact = nash_md_pg(g, tau, beta, steps=1, lr=1.0, init=init)
    np.testing.assert_allclose(one.logits.mean(axis=0), exact.logits, atol=0.01)


def test_the_api_overview_example_runs():
    import doctest

    import prefgame.dynamics as D

    res = doctest.testmod(D)
    assert res.attempted >= 5 and res.failed == 0


def test_sampled_mirror_descent_is_seeded_and_close():
    g = G.near_cyclic()
    a = online_mirror_descent(g, 0.5, eta=0.2, steps=1000, samples=200, seed=5)
    b = online_mirror_descent(g, 0.5, eta=0.2, steps=1000, samples=200, seed=5)
    np.testing.assert_array_equal(a.policy, b.policy)
    assert np.max(np.abs(a.policy - solve(g, 0.5).policy)) < 0.02
