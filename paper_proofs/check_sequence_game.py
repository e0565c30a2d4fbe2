"""Executable checks of statement 15 (sequence_game.md): exact quantities on sequence games.

Theory: ``docs/theory.md`` §7 and §9 (the token-level mixture); ``docs/verify_llm.md``.
"""

import numpy as np
import pytest
from _proof_helpers import grad, population_loss, random_P, random_policy, solve_pi

from prefgame.equilibrium import best_response
from prefgame.llm.verify import fixed_point, mean_ipo_target, token_mixture_fixed_point
from prefgame.tasks.sequence_game import SequenceGame

SHAPES = [(("a", "b"), 3), (("a", "b", "c"), 3), (("a", "b", "c"), 2)]


def _draw(seed: int):
    rng = np.random.default_rng(seed)
    words, L = SHAPES[seed % len(SHAPES)]
    game = SequenceGame(words=words, max_length=L, prompt="a")
    P = random_P(game.n, rng, low=0.2, high=0.8)
    mu = random_policy(game.n, rng, conc=2.0)
    tau = float(np.exp(rng.uniform(np.log(0.3), np.log(2.0))))
    beta = float(rng.uniform(0.1, 0.9))
    return game, P, mu, tau, beta, rng


@pytest.mark.parametrize("seed", range(6))
def test_step_1_a_distribution_is_the_product_of_its_conditionals(seed):
    game, _, mu, *_ = _draw(seed)
    cond = game.conditionals(mu)
    np.testing.assert_allclose(np.exp(cond).sum(-1), 1.0, atol=1e-13)
    np.testing.assert_allclose(game.from_conditionals(cond), mu, rtol=1e-11)


@pytest.mark.parametrize("seed", range(6))
def test_step_2_token_mixture_is_a_distribution_but_not_the_sequence_mixture(seed):
    game, _, mu, _, beta, rng = _draw(seed)
    pi = random_policy(game.n, rng, conc=2.0)
    tok = game.token_mixture(pi, mu, beta)
    seq = game.sequence_mixture(pi, mu, beta)
    assert tok.sum() == pytest.approx(1.0, abs=1e-12)
    # Step 2: m_tok(y) / m_seq(y) = Z / Π_t Z_t(y_<t), not constant in y for generic π, μ
    ratio = tok / seq
    assert ratio.max() / ratio.min() > 1.0 + 1e-3
    Z = np.exp((1 - beta) * np.log(pi) + beta * np.log(mu)).sum()
    per_step = (1 - beta) * game.conditionals(pi) + beta * game.conditionals(mu)
    log_Zt = np.log(np.exp(per_step).sum(-1))  # log Σ_v π(v|s)^(1−β) μ(v|s)^β per node
    tree = game._tree
    node = tree["node"]
    sum_log_Zt = np.where(node >= 0, log_Zt[np.maximum(node, 0)], 0.0).sum(-1)
    np.testing.assert_allclose(np.log(ratio), np.log(Z) - sum_log_Zt, atol=1e-10)


@pytest.mark.parametrize("seed", range(6))
def test_step_3_stationary_points_with_a_token_level_sampler(seed):
    """For a fixed sampler ν the IPO minimiser is BR_τ(ν); with ν = m_tok(π) (stop-gradient)
    online IPO-MD is stationary exactly where π = BR_τ(m_tok(π))."""
    game, P, mu, tau, beta, _ = _draw(seed)
    pi = token_mixture_fixed_point(game, mu, tau, beta, P=P)  # a random P over the sequences
    nu = game.token_mixture(pi, mu, beta)
    np.testing.assert_allclose(best_response(P, nu, tau, mu), pi, atol=1e-10)
    g = grad(lambda z: population_loss(z, P, mu, tau, nu), np.log(pi))
    assert np.abs(g).max() < 1e-9
    # Prop. 5.2's point is not stationary under the token-level sampler (they differ)
    star = best_response(P, solve_pi(P, mu, tau / (1 - beta)), tau, mu)
    g_star = grad(
        lambda z: population_loss(z, P, mu, tau, game.token_mixture(star, mu, beta)),
        np.log(star),
    )
    assert np.abs(g_star).max() > 1e-7
    # and with the sequence-level mixture in its place, the same Newton finds Prop. 5.2's point
    seq_fp = fixed_point(
        lambda z: np.log(best_response(P, game.sequence_mixture(np.exp(z), mu, beta), tau, mu)),
        np.log(mu),
    )
    np.testing.assert_allclose(np.exp(seq_fp), star, atol=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_step_4_averaged_log_probs_move_online_ipos_fixed_point(seed):
    """With g(y) = log(π/μ)(y)/|y| in the loss, stationarity is g(y) = P(y ≻ π)/τ + c."""
    import torch

    from prefgame import losses as L

    game, P, mu, tau, *_ = _draw(seed)
    pi = mean_ipo_target(game, mu, tau, P=P)
    lengths = torch.tensor(game.n_tokens, dtype=torch.float64)

    def loss(z):
        u = (torch.log_softmax(z, 0) - torch.tensor(np.log(mu))) / lengths
        w = torch.tensor(pi)  # the sampler: π itself, without gradient
        h = u[:, None] - u[None, :]
        return (w[:, None] * w[None, :] * L.ipo_soft_loss(h, torch.tensor(P), tau=tau)).sum()

    assert np.abs(grad(loss, np.log(pi))).max() < 1e-9
    g = (np.log(pi) - np.log(mu)) / game.n_tokens - P @ pi / tau
    assert np.ptp(g) < 1e-9  # the closed form: constant c
    if np.ptp(game.n_tokens) > 0:  # lengths differ: not π*_τ
        assert np.abs(pi - solve_pi(P, mu, tau)).max() > 1e-6
