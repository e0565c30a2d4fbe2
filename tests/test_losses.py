import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from prefgame import losses as L

TAUS = [0.05, 0.3, 1.0, 5.0]


@pytest.mark.parametrize("name", ["ipo", "dpo", "slic"])
@pytest.mark.parametrize("tau", TAUS)
def test_numpy_and_torch_give_equal_values(name, tau):
    rng = np.random.default_rng(0)
    h = rng.normal(scale=3, size=(7, 5))
    p = rng.uniform(size=(7, 5))
    f = L.LOSSES[name]
    a = f(h, p, tau=tau)
    b = f(torch.tensor(h), torch.tensor(p), tau=tau).numpy()
    assert isinstance(a, np.ndarray)
    np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-13)


def test_hard_losses_match_their_formulas():
    h = np.linspace(-4, 4, 41)
    tau = 0.7
    np.testing.assert_allclose(L.ipo_loss(h, tau=tau), (h - 1 / (2 * tau)) ** 2)
    np.testing.assert_allclose(L.dpo_loss(h, tau=tau), -np.log(1 / (1 + np.exp(-tau * h))))
    np.testing.assert_allclose(L.slic_loss(h, tau=tau), np.maximum(0, 1 - tau * h))


@settings(max_examples=60, deadline=None)
@given(
    h=st.floats(-20, 20),
    p=st.floats(0, 1),
    tau=st.floats(1e-2, 10),
)
def test_soft_ipo_is_a_shifted_square(h, p, tau):
    """p(h − 1/2τ)² + (1 − p)(−h − 1/2τ)² = (h − (p − ½)/τ)² + 1/(4τ²) − (p − ½)²/τ²."""
    lhs = L.ipo_soft_loss(np.float64(h), np.float64(p), tau=tau)
    rhs = (h - L.ipo_soft_target(p, tau=tau)) ** 2 + 1 / (4 * tau**2) - (p - 0.5) ** 2 / tau**2
    assert lhs == pytest.approx(rhs, rel=1e-9, abs=1e-9 * (1 + 1 / tau**2))


def test_nash_md_pg_gradient_is_the_paper_estimator():
    logits = torch.tensor([0.3, -1.0, 0.5], dtype=torch.float64, requires_grad=True)
    logmu = torch.log(torch.tensor([0.2, 0.3, 0.5], dtype=torch.float64))
    y, p, tau = 2, 0.8, 0.4
    logpi = torch.log_softmax(logits, 0)
    loss = L.nash_md_pg_loss(logpi[y], logpi[y] - logmu[y], torch.tensor(p), tau=tau)
    (g,) = torch.autograd.grad(loss, logits)
    pi = torch.softmax(logits, 0).detach()
    grad_logpi = torch.eye(3, dtype=torch.float64)[y] - pi
    score = p - 0.5 - tau * (logpi[y] - logmu[y]).detach()
    torch.testing.assert_close(-g, grad_logpi * score)


def test_token_level_credits_log_ratios_from_each_position_on():
    tok_logp = torch.tensor([[-1.0, -2.0, -0.5, -3.0]], dtype=torch.float64, requires_grad=True)
    tok_u = torch.tensor([[0.1, -0.2, 0.4, 9.0]], dtype=torch.float64)
    mask = torch.tensor([[1.0, 1.0, 1.0, 0.0]], dtype=torch.float64)
    p, tau = torch.tensor([0.9], dtype=torch.float64), 0.5
    loss = L.nash_md_pg_token_loss(tok_logp, tok_u, p, mask, tau=tau)
    (g,) = torch.autograd.grad(loss.sum(), tok_logp)
    to_go = torch.tensor([[0.3, 0.2, 0.4, 0.0]], dtype=torch.float64)  # padded u ignored
    expected = -(0.9 - 0.5 - tau * to_go) * mask
    torch.testing.assert_close(g, expected)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_tau_is_rejected_by_name(bad):
    with pytest.raises(ValueError, match="tau"):
        L.ipo_loss(np.zeros(2), tau=bad)


def test_regularised_pg_token_loss_with_a_reward_advantage():
    tok_logp = torch.tensor([[-1.0, -2.0, -0.5]], dtype=torch.float64, requires_grad=True)
    tok_u = torch.tensor([[0.2, 0.1, -0.3]], dtype=torch.float64)
    mask = torch.ones(1, 3, dtype=torch.float64)
    adv, tau = torch.tensor([1.5], dtype=torch.float64), 0.1
    loss = L.regularised_pg_token_loss(tok_logp, tok_u, adv, mask, tau=tau)
    (g,) = torch.autograd.grad(loss.sum(), tok_logp)
    torch.testing.assert_close(
        g, -(1.5 - tau * torch.tensor([[0.0, -0.2, -0.3]], dtype=torch.float64))
    )
    # Nash-MD-PG is the same loss with advantage P(y ≻ y') − ½.
    p = torch.tensor([0.8], dtype=torch.float64)
    torch.testing.assert_close(
        L.nash_md_pg_token_loss(tok_logp, tok_u, p, mask, tau=tau),
        L.regularised_pg_token_loss(tok_logp, tok_u, p - 0.5, mask, tau=tau),
    )
