"""Executable proof of statement 6 (prop_5_1_ipo_md_gradient.md): Prop. 5.1, corrected.

Theory: ``docs/theory.md`` §7.
"""

import numpy as np
import pytest
import torch
from _proof_helpers import best_response, games, mixture, random_game, random_policy, solve_pi, t64

from prefgame import losses as L
from prefgame.dynamics import pairwise as pw

GAMES = games(range(8))
BETAS = [0.0, 0.125, 0.5, 0.9]


def residual_w(P: np.ndarray, m: np.ndarray, u: np.ndarray, tau: float) -> np.ndarray:
    """w_β = u − E_mix[u] − (P(y ≻ mix) − ½)/τ, the residual shared by both gradients."""
    return u - m @ u - (P @ m - 0.5) / tau


def _model(kind, n, rng):
    if kind == "softmax":
        return (lambda th: th), rng.normal(size=n)
    W1, W2 = t64(rng.normal(size=(4, 4))), t64(rng.normal(size=(n, 4)))
    return (lambda th: W2 @ torch.tanh(W1 @ th)), rng.normal(size=4)


def _quantities(P, mu, tau, beta, model, th0):
    th = t64(th0).requires_grad_(True)
    logpi = torch.log_softmax(model(th), 0)
    pi = logpi.exp().detach().numpy()
    m = mixture(pi, mu, beta)
    u_t = logpi - t64(np.log(mu))
    loss = torch.sum(
        t64(np.outer(m, m)) * L.ipo_soft_loss(u_t[:, None] - u_t[None, :], t64(P), tau=tau)
    )
    (auto,) = torch.autograd.grad(loss, th)
    J = torch.autograd.functional.jacobian(
        lambda t: torch.log_softmax(model(t), 0), t64(th0)
    ).numpy()
    u = u_t.detach().numpy()
    w = residual_w(P, m, u, tau)
    # Nash-MD-PG(β) from the library surrogate: y ∼ π, y' ∼ m, G = −∇ E[nash_md_pg_loss]
    th2 = t64(th0).requires_grad_(True)
    lp = torch.log_softmax(model(th2), 0)
    sur = torch.sum(
        t64(np.outer(pi, m))
        * L.nash_md_pg_loss(lp[:, None], (lp - t64(np.log(mu)))[:, None], t64(P), tau=tau)
    )
    (gs,) = torch.autograd.grad(sur, th2)
    return {"auto": auto.numpy(), "J": J, "pi": pi, "m": m, "u": u, "w": w, "G": -gs.numpy()}


@pytest.mark.parametrize("kind", ["softmax", "mlp"])
@pytest.mark.parametrize("seed", range(len(GAMES)))
def test_exact_relations(seed, kind):
    P, mu, tau, rng = GAMES[seed]
    model, th0 = _model(kind, len(mu), rng)
    for beta in BETAS:
        q = _quantities(P, mu, tau, beta, model, th0)
        auto, J, pi, m, u, w, G = (q[k] for k in ("auto", "J", "pi", "m", "u", "w", "G"))
        sc = 1 + np.abs(auto).max()
        centred = -4 / tau * np.einsum("i,i,ik->k", m, P @ m - 0.5 - tau * (u - m @ u), J)
        np.testing.assert_allclose(4 * np.einsum("i,i,ik->k", m, w, J), auto, atol=1e-11 * sc)
        np.testing.assert_allclose(centred, auto, atol=1e-11 * sc)
        np.testing.assert_allclose(
            G, -tau * np.einsum("i,i,ik->k", pi, w, J), atol=1e-11 * (1 + np.abs(G).max())
        )
        uncentred = -4 / tau * np.einsum("i,i,ik->k", m, P @ m - 0.5 - tau * u, J)
        correction = -4 * (m @ u) * np.einsum("i,ik->k", m, J)
        np.testing.assert_allclose(auto - uncentred, correction, atol=1e-11 * sc)
        if kind == "softmax":
            np.testing.assert_allclose(np.einsum("i,ik->k", m, J), m - pi, atol=1e-13)
            np.testing.assert_allclose(auto, 4 * m * w, atol=1e-11 * sc)
            np.testing.assert_allclose(
                G, -tau * (pi * w - pi * (pi @ w)), atol=1e-11 * (1 + np.abs(G).max())
            )
        if beta == 0:
            np.testing.assert_allclose(uncentred, auto, atol=1e-11 * sc)
            np.testing.assert_allclose(auto, -4 / tau * G, atol=1e-11 * sc)


def test_decision_on_random_draws():
    """The published 'same integrand' reading fails for β > 0; −∇L and G are not even aligned."""
    rels, cosines = [], []
    for s in range(120):
        P, mu, tau, rng = random_game(100 + s)
        n = len(mu)
        for _ in range(20):
            beta = rng.uniform(0.05, 0.95)
            pi = random_policy(n, rng, conc=float(rng.choice([0.3, 1.0, 3.0])))
            m = mixture(pi, mu, beta)
            u = np.log(pi / mu)
            w = residual_w(P, m, u, tau)
            gL = 4 * m * w  # exact, logits
            G = -tau * (pi * w - pi * (pi @ w))  # Nash-MD-PG(β), logits
            f = P @ m - 0.5 - tau * u
            uncentred = -4 / tau * (m * f - pi * (m @ f))
            rels.append(np.linalg.norm(uncentred - gL) / np.linalg.norm(gL))
            c = -gL @ G / (np.linalg.norm(gL) * np.linalg.norm(G))
            if n == 2:  # one centred direction only: the two fields are always parallel
                assert c == pytest.approx(1.0, abs=1e-9)
            else:
                cosines.append(c)
    rels, cosines = np.array(rels), np.array(cosines)
    assert len(rels) == 2400 and len(cosines) > 1500
    assert np.median(rels) > 0.01 and rels.max() > 1.0
    assert cosines.max() < 1 - 1e-9  # never a positive multiple
    assert cosines.min() < 0  # sometimes pointing against Nash-MD-PG(β)
    assert 0.001 < np.mean(cosines < 0) < 0.1


def test_same_stationary_point_but_uncentred_reading_fails_there():
    norms = [
        _at_stationary_point(*GAMES[s][:3], beta)
        for s in range(len(GAMES))
        for beta in (0.125, 0.5, 0.9)
    ]
    assert max(norms) > 1e-2


def _at_stationary_point(P, mu, tau, beta):
    m_star = solve_pi(P, mu, tau / (1 - beta))  # statement 7
    pi = best_response(P, m_star, tau, mu)  # π*_β
    m = mixture(pi, mu, beta)
    np.testing.assert_allclose(m, m_star, atol=1e-10)
    u = np.log(pi / mu)
    w = residual_w(P, m, u, tau)
    assert np.abs(4 * m * w).max() < 1e-9
    assert np.abs(tau * (pi * w - pi * (pi @ w))).max() < 1e-9
    f = P @ m - 0.5 - tau * u
    uncentred = -4 / tau * (m * f - pi * (m @ f))
    np.testing.assert_allclose(uncentred, 4 * (m @ u) * (m - pi), atol=1e-9)
    return np.linalg.norm(uncentred)


def test_library_mixture_gradient():
    for P, mu, tau, rng in GAMES:
        z = rng.normal(size=len(mu))
        pi = np.exp(z - np.logaddexp.reduce(z))
        for beta in BETAS:
            m = mixture(pi, mu, beta)
            u = np.log(pi / mu)
            w = residual_w(P, m, u, tau)
            got = pw.expected_gradient(
                z, P, np.log(mu), tau, loss="ipo", sampler="mixture", beta=beta
            )
            np.testing.assert_allclose(got, 4 * m * w, atol=1e-12 * (1 + np.abs(w).max()))


def test_library_nash_md_pg_gradient_is_minus_tau_S_w():
    """prefgame's Nash-MD-PG(β) direction is −τ (diag π − ππᵀ) w_β, the same residual as IPO-MD."""
    from prefgame.dynamics import nash_md_pg_gradient

    for P, mu, tau, rng in GAMES:
        z = rng.normal(size=len(mu))
        pi = np.exp(z - np.logaddexp.reduce(z))
        for beta in BETAS:
            m = mixture(pi, mu, beta)
            u = np.log(pi / mu)
            w = residual_w(P, m, u, tau)
            got = nash_md_pg_gradient(z[None], P[None], np.log(mu)[None], tau, beta)[0]
            np.testing.assert_allclose(got, -tau * (pi * w - pi * (pi @ w)), atol=1e-12)
