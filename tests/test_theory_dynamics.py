"""The theory, measured: rates, sampling error and momentum on preference cycles."""

import numpy as np
import pytest

from prefgame import games as G
from prefgame.dynamics import nash_md, nash_md_bound, online_ipo
from prefgame.equilibrium import kl, solve
from prefgame.optim import SGD, Adam


def test_nash_md_kl_decays_like_one_over_t_squared_far_inside_the_bound():
    """docs/notation.md: with η_t = 2/(τ(t+2)) the KL falls ≈ 1/T² (the bound only promises 1/T)."""
    g = G.random_intransitive(8, seed=3).with_mu(np.arange(1, 9) / 36)
    tau = 0.2
    star = solve(g, tau).policy
    ts = np.array([1000, 4000, 16000])
    K = np.array([kl(star, nash_md(g, tau, steps=int(t)).policy) for t in ts])
    slope = np.polyfit(np.log(ts), np.log(K), 1)[0]
    assert -2.3 < slope < -1.7
    assert np.all(K < 1e-3 * nash_md_bound(tau, ts))


def test_sampled_online_ipo_error_shrinks_like_one_over_root_samples():
    g = G.three_rater_types(0.2)
    tau, reps = 0.5, 48
    star = solve(g, tau).policy
    batch = G.PreferenceGame(np.broadcast_to(g.P, (reps, 3, 3)), g.mu)
    ms = np.array([4, 16, 64])
    err = []
    for m in ms:
        run = online_ipo(batch, tau, samples=int(m), steps=600, lr=0.05, seed=1, record_every=50)
        err.append(np.sqrt(((run.history[-4:] - star) ** 2).sum(-1).mean()))
    slope = np.polyfit(np.log(ms), np.log(err), 1)[0]
    assert -0.65 < slope < -0.35, slope
    # and the exact flavour with the same step has no such floor
    exact = online_ipo(g, tau, steps=600, lr=0.05)
    assert np.max(np.abs(exact.policy - star)) < 1e-3 * err[-1]


@pytest.mark.parametrize("game,tau", [(G.rock_paper_scissors(), 0.1), (G.near_cyclic(), 0.1)])
def test_adam_momentum_makes_the_last_iterate_orbit_the_cycle(game, tau):
    star = solve(game, tau).policy
    init = [0.6, 0.3, 0.1]

    def tail_error(beta1):
        run = online_ipo(
            game, tau, optimizer=Adam(lr=0.01, beta1=beta1), steps=3000, init=init, record_every=10
        )
        return np.max(np.abs(run.history[-50:] - star))

    assert tail_error(0.0) < 1e-6  # β1 = 0 settles on π*_τ
    assert tail_error(0.9) > 1e-2  # β1 = 0.9 keeps orbiting it


def test_heavy_ball_momentum_slows_the_last_iterate_on_a_cycle():
    g, tau = G.rock_paper_scissors(), 0.1
    init = [0.6, 0.3, 0.1]

    def err(m):
        run = online_ipo(
            g, tau, optimizer=SGD(lr=0.05 * (1 - m), momentum=m), steps=1500, init=init
        )
        return np.max(np.abs(run.policy - 1 / 3))

    assert err(0.0) < 1e-8 and err(0.9) > 100 * err(0.0)


@pytest.mark.parametrize("tau,cycles", [(0.2, True), (0.25, True), (0.35, False), (0.5, False)])
def test_best_response_iteration_cycles_below_root3_over_6_on_rps(tau, cycles):
    """docs/notation.md: π ← BR(π) (online IPO solved exactly each round = natural step lr ½) is
    stable on RPS iff ρ(A S*/τ) = √3/(6τ) < 1, i.e. τ > √3/6 ≈ 0.289."""
    run = online_ipo(
        G.rock_paper_scissors(), tau, lr=0.5, steps=400, init=[0.34, 0.33, 0.33], record_every=1
    )
    err = np.max(np.abs(run.history[-20:] - 1 / 3))
    assert (err > 1e-3) if cycles else (err < 1e-10)
    # while the auto step converges at every τ
    ok = online_ipo(G.rock_paper_scissors(), tau, steps=5000, init=[0.5, 0.3, 0.2], tol=1e-12)
    assert np.max(np.abs(ok.policy - 1 / 3)) < 1e-10
