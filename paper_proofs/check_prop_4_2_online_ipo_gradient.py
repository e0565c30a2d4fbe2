"""Executable proof of statement 5 (prop_4_2_online_ipo_gradient.md): Prop. 4.2, line by line.

Theory: ``docs/theory.md`` §6.
"""

import numpy as np
import pytest
import torch
from _proof_helpers import games, random_policy, t64

from prefgame import losses as L
from prefgame.dynamics import pairwise as pw

GAMES = games(range(8))


def _models(n, rng):
    """Two parametrisations θ ↦ logits: the identity (softmax) and a small non-linear map."""
    W1, W2 = t64(rng.normal(size=(4, 4))), t64(rng.normal(size=(n, 4)))
    return [
        ("softmax", lambda th: th, rng.normal(size=n)),
        ("mlp", lambda th: W2 @ torch.tanh(W1 @ th), rng.normal(size=4)),
    ]


def _setup(P, mu, tau, model, th0, sampler=None):
    th = t64(th0).requires_grad_(True)
    logpi = torch.log_softmax(model(th), 0)
    pi = logpi.exp().detach().numpy()
    nu = pi if sampler is None else sampler
    # per-action score ∇θ log π(y): [n, dim θ]
    J = torch.autograd.functional.jacobian(
        lambda t: torch.log_softmax(model(t), 0), t64(th0)
    ).numpy()
    u = logpi.detach().numpy() - np.log(mu)
    return th, logpi, pi, nu, J, u


def _loss(logpi, mu, P, tau, nu):
    u = logpi - t64(np.log(mu))
    h = u[:, None] - u[None, :]
    return torch.sum(t64(np.outer(nu, nu)) * L.ipo_soft_loss(h, t64(P), tau=tau))


@pytest.mark.parametrize("seed", range(len(GAMES)))
def test_every_line(seed):
    P, mu, tau, rng = GAMES[seed]
    n = len(mu)
    for name, model, th0 in _models(n, rng):
        th, logpi, pi, nu, J, u = _setup(P, mu, tau, model, th0)
        (auto,) = torch.autograd.grad(_loss(logpi, mu, P, tau, nu), th)
        auto = auto.numpy()
        scale = 1 + np.abs(auto).max()
        # finite differences of the same loss (the sampler held fixed = stop-gradient)
        eps, fd = 1e-6, np.empty_like(th0)
        for k in range(len(th0)):
            e = np.zeros_like(th0)
            e[k] = eps
            fp = _loss(torch.log_softmax(model(t64(th0 + e)), 0), mu, P, tau, nu).item()
            fm = _loss(torch.log_softmax(model(t64(th0 - e)), 0), mu, P, tau, nu).item()
            fd[k] = (fp - fm) / (2 * eps)
        np.testing.assert_allclose(fd, auto, atol=1e-6 * scale)
        g = (P - 0.5) / tau
        hg = u[:, None] - u[None, :] - g
        w = np.outer(nu, nu)
        L1 = 2 * np.einsum("ij,ij,ijk->k", w, hg, J[:, None, :] - J[None, :, :])
        L1_wrong = 2 * np.einsum("ij,ij,ijk->k", w, hg, J[:, None, :] + J[None, :, :])
        L2 = 4 * np.einsum("ij,ij,ik->k", w, hg, J)
        L3 = 4 * np.einsum("i,i,ik->k", nu, u - nu @ u - (P @ nu - 0.5) / tau, J)
        L4 = 4 * np.einsum("i,i,ik->k", pi, u - P @ pi / tau, J)
        G_formula = np.einsum("i,i,ik->k", pi, P @ pi - 0.5 - tau * u, J)
        L5 = -4 / tau * G_formula
        for line in (L1, L2, L3, L4, L5):
            np.testing.assert_allclose(line, auto, atol=1e-11 * scale, err_msg=name)
        assert np.abs(L1_wrong - auto).max() > 1e-6 * scale
        # G from the library's Nash-MD-PG surrogate: −∇ E_{y∼π, y'∼π}[nash_md_pg_loss]
        th2 = t64(th0).requires_grad_(True)
        lp = torch.log_softmax(model(th2), 0)
        uu = lp - t64(np.log(mu))
        surrogate = torch.sum(
            t64(np.outer(pi, pi)) * L.nash_md_pg_loss(lp[:, None], uu[:, None], t64(P), tau=tau)
        )
        (gs,) = torch.autograd.grad(surrogate, th2)
        np.testing.assert_allclose(-gs.numpy(), G_formula, atol=1e-11 * scale)
        # L6: G is the gradient of P(π ≻ sg π_θ) − τ KL(π‖μ)
        th3 = t64(th0).requires_grad_(True)
        lp3 = torch.log_softmax(model(th3), 0)
        obj = torch.sum(lp3.exp() * t64(P @ pi)) - tau * torch.sum(
            lp3.exp() * (lp3 - t64(np.log(mu)))
        )
        (g6,) = torch.autograd.grad(obj, th3)
        np.testing.assert_allclose(g6.numpy(), G_formula, atol=1e-11 * scale)
        # positive multiple: cosine 1 and ratio 4/τ
        if np.linalg.norm(G_formula) > 1e-8:
            assert auto @ (-G_formula) / (
                np.linalg.norm(auto) * np.linalg.norm(G_formula)
            ) == pytest.approx(1, abs=1e-12)


@pytest.mark.parametrize("seed", range(4))
def test_line4_needs_the_on_policy_sampler(seed):
    P, mu, tau, rng = GAMES[seed]
    n = len(mu)
    nu = random_policy(n, rng)
    _, model, th0 = _models(n, rng)[0]
    th, logpi, pi, nu, J, u = _setup(P, mu, tau, model, th0, sampler=nu)
    (auto,) = torch.autograd.grad(_loss(logpi, mu, P, tau, nu), th)
    auto = auto.numpy()
    L3 = 4 * np.einsum("i,i,ik->k", nu, u - nu @ u - (P @ nu - 0.5) / tau, J)
    L4_off = 4 * np.einsum(
        "i,i,ik->k", nu, u - P @ nu / tau, J
    )  # drop constants as if E_ν ∇log π = 0
    np.testing.assert_allclose(L3, auto, atol=1e-11 * (1 + np.abs(auto).max()))
    assert np.abs(L4_off - auto).max() > 1e-6
    np.testing.assert_allclose(
        np.einsum("i,ik->k", nu, J), nu - pi, atol=1e-12
    )  # E_ν ∇log π = ν − π ≠ 0


def test_library_expected_gradient():
    for P, mu, tau, rng in GAMES:
        z = rng.normal(size=len(mu))
        pi = np.exp(z - np.logaddexp.reduce(z))
        u = np.log(pi) - np.log(mu)
        J = np.eye(len(mu)) - pi
        expected = -4 / tau * np.einsum("i,i,ik->k", pi, P @ pi - 0.5 - tau * u, J)
        got = pw.expected_gradient(z, P, np.log(mu), tau, loss="ipo", sampler="online")
        np.testing.assert_allclose(got, expected, atol=1e-12 * (1 + np.abs(expected).max()))
