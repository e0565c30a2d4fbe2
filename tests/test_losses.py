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


def _fd(f, h, eps=1e-6):
    """Central finite difference of an elementwise f at h."""
    return (f(h + eps) - f(h - eps)) / (2 * eps)


@pytest.mark.parametrize("tau", [0.3, 0.7, 2.5])
def test_hard_losses_exact_values_at_chosen_points(tau):
    """Values known without the formula's code: each loss's zero, its value at h = 0, and one
    more point where the answer is an exact number."""
    ipo = lambda h: L.ipo_loss(np.asarray(h, dtype=np.float64), tau=tau)
    dpo = lambda h: L.dpo_loss(np.asarray(h, dtype=np.float64), tau=tau)
    slic = lambda h: L.slic_loss(np.asarray(h, dtype=np.float64), tau=tau)
    # IPO: zero exactly at the target margin 1/(2τ); 1/(4τ²) at h = 0; symmetric about the target.
    assert ipo(1 / (2 * tau)) == pytest.approx(0.0, abs=1e-15)
    assert ipo(0.0) == pytest.approx(1 / (4 * tau**2), rel=1e-14)
    assert ipo(1 / (2 * tau) + 3.0) == pytest.approx(ipo(1 / (2 * tau) - 3.0), rel=1e-14)
    # DPO: log 2 at h = 0; −log σ(log 3) = log(4/3) at τh = log 3; → 0 for large margins.
    assert dpo(0.0) == pytest.approx(np.log(2.0), rel=1e-14)
    assert dpo(np.log(3.0) / tau) == pytest.approx(np.log(4 / 3), rel=1e-13)
    assert dpo(-np.log(3.0) / tau) == pytest.approx(np.log(4.0), rel=1e-13)
    assert dpo(800.0 / tau) == 0.0 and np.isfinite(dpo(-800.0 / tau))  # no overflow
    # SLiC: 1 at h = 0, 0 from h = 1/τ on, 2 at h = −1/τ.
    assert slic(0.0) == 1.0
    assert slic(1 / tau) == pytest.approx(0.0, abs=1e-15) and slic(5 / tau) == 0.0
    assert slic(-1 / tau) == pytest.approx(2.0, rel=1e-14)


@pytest.mark.parametrize("tau", [0.3, 1.7])
def test_soft_loss_derivatives_by_finite_differences(tau):
    """∂ℓ/∂h (docs/theory.md §5): IPO 2(h − (p − ½)/τ), DPO τ(σ(τh) − p), SLiC
    −τp·1[τh < 1] + τ(1 − p)·1[τh > −1] — against central differences of the losses, at points
    away from the hinge's kinks, for h ≠ 0 and p ≠ ½."""
    rng = np.random.default_rng(3)
    h = rng.uniform(-4, 4, size=200) / tau
    h = h[np.abs(np.abs(tau * h) - 1) > 1e-3]
    p = rng.uniform(size=h.shape)
    sig = 1 / (1 + np.exp(-tau * h))
    closed = {
        "ipo": 2 * (h - (p - 0.5) / tau),
        "dpo": tau * (sig - p),
        "slic": -tau * p * (tau * h < 1) + tau * (1 - p) * (tau * h > -1),
    }
    for name, expected in closed.items():
        fd = _fd(lambda x, f=L.LOSSES[name]: f(x, p, tau=tau), h)
        np.testing.assert_allclose(fd, expected, rtol=1e-6, atol=1e-6, err_msg=name)


@settings(max_examples=60, deadline=None)
@given(h=st.floats(-30, 30), p=st.floats(0, 1), tau=st.floats(1e-2, 10))
def test_soft_dpo_is_binary_cross_entropy_of_the_label(h, p, tau):
    """Soft DPO = cross-entropy of the label distribution (p, 1 − p) against σ(τh), computed
    by torch's own ``binary_cross_entropy_with_logits`` (an independent implementation)."""
    ours = L.dpo_soft_loss(np.float64(h), np.float64(p), tau=tau)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor(tau * h, dtype=torch.float64), torch.tensor(p, dtype=torch.float64)
    )
    assert ours == pytest.approx(float(bce), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("tau", [0.4, 2.0])
def test_soft_slic_piecewise_closed_form(tau):
    """Soft SLiC = p(1 − τh)₊ + (1 − p)(1 + τh)₊ in its three regions:
    |τh| ≤ 1: 1 + τh(1 − 2p);  τh > 1: (1 − p)(1 + τh);  τh < −1: p(1 − τh)."""
    p = 0.8
    for th, expected in [
        (0.5, 1 + 0.5 * (1 - 2 * p)),
        (-0.25, 1 - 0.25 * (1 - 2 * p)),
        (3.0, (1 - p) * 4.0),
        (-2.0, p * 3.0),
    ]:
        got = L.slic_soft_loss(np.float64(th / tau), np.float64(p), tau=tau)
        assert got == pytest.approx(expected, rel=1e-13), th


def test_soft_losses_are_the_expected_hard_loss_over_a_drawn_label():
    """ℓ(h, p) = E_{label ∼ Bernoulli(p)}[L(±h)]: the exact expectation over the label of the
    hard loss, checked against a Monte-Carlo average over 400,000 drawn labels (CLT bound)."""
    rng = np.random.default_rng(7)
    h, p, tau, m = 0.9, 0.3, 0.8, 400_000
    first_wins = rng.random(m) < p
    for name, hard in (("ipo", L.ipo_loss), ("dpo", L.dpo_loss), ("slic", L.slic_loss)):
        samples = np.where(first_wins, hard(np.float64(h), tau=tau), hard(np.float64(-h), tau=tau))
        se = samples.std() / np.sqrt(m)
        exact = L.LOSSES[name](np.float64(h), np.float64(p), tau=tau)
        assert abs(samples.mean() - exact) <= 5 * se + 1e-12, name


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


def test_sppo_loss_values_and_its_minimiser_is_the_hedge_step():
    """SPPO's square loss (docs/theory.md §10) is zero exactly at log π/π_t = η(P(y ≻ π_t) − ½);
    minimising its expectation over y ∼ π_t in free log-ratios (scipy) gives that target, and
    normalising π_t · exp(target) is the Hedge/SPPO step of ``prefgame.dynamics``."""
    from scipy.optimize import minimize

    from prefgame import games as G
    from prefgame.dynamics.self_play_hedge import hedge_step

    eta = 0.7
    assert L.sppo_loss(np.float64(0.2), np.float64(0.9), eta=eta) == pytest.approx(
        (0.2 - 0.7 * 0.4) ** 2, rel=1e-14
    )
    game = G.random_intransitive(5, seed=2)
    pi_t = np.array([0.1, 0.3, 0.2, 0.25, 0.15])
    r = game.P @ pi_t  # P(y ≻ π_t)
    target = eta * (r - 0.5)
    assert np.all(L.sppo_loss(target, r, eta=eta) == 0.0)

    def expected_loss(u):
        return float(pi_t @ L.sppo_loss(u, r, eta=eta))

    u = minimize(expected_loss, np.zeros(5), method="BFGS", options={"gtol": 1e-12}).x
    np.testing.assert_allclose(u, target, atol=1e-6)
    step = np.exp(hedge_step(np.log(pi_t)[None], game.P[None], eta)[0])
    np.testing.assert_allclose(step, pi_t * np.exp(u) / np.sum(pi_t * np.exp(u)), atol=1e-6)
    with pytest.raises(ValueError, match="eta = 0.0, must be a finite number > 0"):
        L.sppo_loss(target, r, eta=0.0)
