"""Executable proof of statement 3 (ipo_optimum.md): IPO population optimum; IPO vs DPO.

Theory: ``docs/theory.md`` §5.
"""
# ruff: noqa: B023  (closures here are called inside the loop iteration that defines them)

import numpy as np
import pytest
import sympy as sp
import torch
from _proof_helpers import (
    fd_grad,
    games,
    grad,
    minimise,
    population_loss,
    random_policy,
    softmax,
    t64,
)

from prefgame import losses as L
from prefgame.dynamics import pairwise as pw

GAMES = games(range(6))


def test_a_soft_label_identity_sympy_and_library():
    h, p = sp.symbols("h p", real=True)
    tau = sp.symbols("tau", positive=True)
    lhs = p * (h - 1 / (2 * tau)) ** 2 + (1 - p) * (-h - 1 / (2 * tau)) ** 2
    rhs = (
        (h - (p - sp.Rational(1, 2)) / tau) ** 2
        + 1 / (4 * tau**2)
        - (p - sp.Rational(1, 2)) ** 2 / tau**2
    )
    assert sp.expand(lhs - rhs) == 0
    assert sp.expand(lhs - (h - (p - sp.Rational(1, 2)) / tau) ** 2).has(
        p
    )  # the constant is not zero
    f = sp.lambdify((h, p, tau), rhs)
    rng = np.random.default_rng(0)
    hh, pp, tt = rng.normal(scale=3, size=50), rng.uniform(size=50), np.exp(rng.normal(size=50))
    for a, b, c in zip(hh, pp, tt):
        lib = L.ipo_soft_loss(a, b, tau=c)
        assert lib == pytest.approx(f(a, b, c), rel=1e-12, abs=1e-12)
        bern = b * L.ipo_loss(a, tau=c) + (1 - b) * L.ipo_loss(-a, tau=c)
        assert lib == pytest.approx(bern, rel=1e-14)


def _analytic_u_grad(u, P, nu, tau):
    return 4 * nu * (u - nu @ u - (P @ nu - 0.5) / tau)


@pytest.mark.parametrize("seed", range(len(GAMES)))
def test_b_gradient_hessian_and_minimiser(seed):
    P, mu, tau, rng = GAMES[seed]
    n = len(mu)
    for nu in (mu, random_policy(n, rng)):
        fun = lambda z: population_loss(z, P, mu, tau, nu)
        z0 = rng.normal(size=n)
        u0 = np.log(softmax(z0)) - np.log(mu)
        g_auto = grad(fun, z0)
        g_fd = fd_grad(fun, z0)
        g_ana = _analytic_u_grad(u0, P, nu, tau)
        np.testing.assert_allclose(g_auto, g_fd, atol=1e-6 * (1 + np.abs(g_auto).max()))
        np.testing.assert_allclose(g_auto, g_ana, atol=1e-11 * (1 + np.abs(g_ana).max()))
        assert abs(g_ana.sum()) < 1e-10 * (1 + np.abs(g_ana).max())
        # Hessian in u (u as a free vector)
        G = t64((P - 0.5) / tau)

        def in_u(u):
            h = u[:, None] - u[None, :]
            return torch.sum(t64(np.outer(nu, nu)) * (h - G) ** 2)

        H = torch.autograd.functional.hessian(in_u, t64(u0)).numpy()
        np.testing.assert_allclose(H, 4 * (np.diag(nu) - np.outer(nu, nu)), atol=1e-12)
        # minimiser
        closed = softmax(np.log(mu) + P @ nu / tau)
        found = softmax(minimise(fun, np.zeros(n)))
        np.testing.assert_allclose(found, closed, atol=1e-8)
        # falsifier: the policy's own value P π in place of P ν is not the minimiser (unless ν = π)
        wrong = softmax(np.log(mu) + P @ closed / tau)
        assert np.abs(wrong - closed).max() > 1e-4


def test_b_library_offline_optimum():
    from prefgame.games import PreferenceGame

    for P, mu, tau, _ in GAMES:
        closed = softmax(np.log(mu) + P @ mu / tau)
        np.testing.assert_allclose(
            pw.offline_ipo_optimum(PreferenceGame(P, mu), tau), closed, atol=1e-12
        )


def _two(p):
    return np.array([[0.5, p], [1 - p, 0.5]])


@pytest.mark.parametrize("tau", [0.1, 1.0, 10.0])
@pytest.mark.parametrize("p", [0.6, 0.9, 1.0])
def test_c_two_actions_ipo(p, tau):
    mu = np.array([0.5, 0.5])
    found = softmax(minimise(lambda z: population_loss(z, _two(p), mu, tau, mu), np.zeros(2)))
    sig = 1 / (1 + np.exp(-(p - 0.5) / tau))
    assert found[0] == pytest.approx(sig, abs=1e-8)
    if p == 1.0:
        assert found[0] == pytest.approx(1 / (1 + np.exp(-1 / (2 * tau))), abs=1e-8)


def test_c_dpo_derivative_sympy():
    h, p = sp.symbols("h p", real=True)
    tau = sp.symbols("tau", positive=True)
    sig = lambda x: 1 / (1 + sp.exp(-x))
    ell = -p * sp.log(sig(tau * h)) - (1 - p) * sp.log(sig(-tau * h))
    d = sp.diff(ell, h)
    assert sp.simplify(d - tau * (sig(tau * h) - p)) == 0
    # at p = 1 the derivative is −τ σ(−τh) < 0 for all h: no stationary point
    assert sp.simplify(d.subs(p, 1) + tau * sig(-tau * h)) == 0


@pytest.mark.parametrize("tau", [0.1, 1.0, 10.0])
def test_c_two_actions_dpo(tau):
    mu = np.array([0.5, 0.5])
    for p in (0.6, 0.9):
        found = softmax(
            minimise(lambda z: population_loss(z, _two(p), mu, tau, mu, "dpo"), np.zeros(2))
        )
        assert found[0] == pytest.approx(1 / (1 + np.exp(-np.log(p / (1 - p)) / tau)), abs=1e-7)
    # p = 1: dℓ/dh < 0 on a grid; gradient descent pushes π(y1) → 1 whatever τ
    hs = torch.linspace(-50, 50, 201, dtype=torch.float64, requires_grad=True)
    (d,) = torch.autograd.grad(
        L.dpo_soft_loss(hs, torch.tensor(1.0, dtype=torch.float64), tau=tau).sum(), hs
    )
    assert (d < 0).all()
    z = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.SGD([z], lr=1.0 / tau)
    probs, margins = [], []
    for _ in range(300):
        opt.zero_grad()
        loss = population_loss(z, _two(1.0), mu, tau, mu, "dpo")
        loss.backward()
        opt.step()
        probs.append(torch.softmax(z, 0)[0].item())
        margins.append((z[0] - z[1]).item())
    assert np.all(np.diff(margins) > 0)  # log π(y1)/π(y2) grows at every step, without bound
    if tau <= 1:
        assert probs[-1] > 0.95
    ipo = 1 / (1 + np.exp(-1 / (2 * tau)))
    assert probs[-1] > ipo  # DPO overshoots IPO's regularised answer
