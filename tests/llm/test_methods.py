"""The method registry (one object per method) and the schedules, against closed forms."""

import math

import pytest
import torch

from prefgame import losses as L
from prefgame.experiments.summarisation.config import PAPER_ORDER
from prefgame.llm import (
    METHODS,
    Method,
    MixtureOpponentSampler,
    OnlineConfig,
    OnlineTrainer,
    PairSampler,
    PairwiseLoss,
    Policy,
    PolicyGradientLoss,
    PolicySampler,
    lr_scheduler,
    schedule_value,
    tiny_gpt2,
)


def test_the_registry_is_the_papers_six_methods_with_the_losses_of_prefgame_losses():
    assert "egpo" in METHODS  # a method after the paper, registered after the six
    assert (
        tuple(METHODS)[:6]
        == PAPER_ORDER
        == (
            "online_ipo",
            "ipo_md",
            "online_dpo",
            "nash_md_pg",
            "online_slic",
            "rl",
        )
    )
    want = {  # (sampler, loss function, feedback, reads β) as in the paper's §5
        "online_ipo": (PairSampler, L.ipo_soft_loss, "preference", False),
        "ipo_md": (PairSampler, L.ipo_soft_loss, "preference", True),
        "online_dpo": (PairSampler, L.dpo_soft_loss, "preference", False),
        "nash_md_pg": (MixtureOpponentSampler, L.nash_md_pg_token_loss, "preference", True),
        "online_slic": (PairSampler, L.slic_soft_loss, "preference", False),
        "rl": (PolicySampler, L.regularised_pg_token_loss, "reward", False),
    }
    for name, (sampler, fn, feedback, beta) in want.items():
        m = METHODS[name]
        assert m.name == name and isinstance(m.sampler, sampler) and m.loss.fn is fn
        assert (m.feedback, m.uses_beta) == (feedback, beta)
    labels = [METHODS[m].label for m in PAPER_ORDER]
    assert labels == ["IPO", "IPO-MD", "DPO", "Nash-MD-PG", "SLiC", "RL"]
    pairwise = {m.loss.fn for m in METHODS.values() if isinstance(m.loss, PairwiseLoss)}
    assert pairwise == set(L.LOSSES.values()) | {L.inpo_loss}  # INPO: after the paper


def test_a_method_must_fit_its_sampler():
    with pytest.raises(ValueError, match="pairwise loss needs a sampler of pairs"):
        Method("x", "X", PolicySampler(), PairwiseLoss(L.ipo_soft_loss))
    with pytest.raises(ValueError, match="needs an opponent"):
        Method("x", "X", PolicySampler(), PolicyGradientLoss(L.nash_md_pg_token_loss))


def test_a_new_method_is_one_registry_entry(monkeypatch, tok, prompts, good_judge, tmp_path):
    """DPO on pairs from the β-mixture ("DPO-MD", not in the paper): one entry, and the config,
    the β check and the trainer all know it."""
    kw = {"batch_size": 2, "max_new_tokens": 3, "output_dir": str(tmp_path), "progress_bar": False}
    with pytest.raises(ValueError, match="unknown method 'dpo_md'"):
        OnlineConfig(method="dpo_md", **kw)
    dpo_md = Method(
        "dpo_md", "DPO-MD", PairSampler(), PairwiseLoss(L.dpo_soft_loss), uses_beta=True
    )
    monkeypatch.setitem(METHODS, "dpo_md", dpo_md)
    cfg = OnlineConfig(method="dpo_md", beta=0.5, tau=2.0, log_tensorboard=False, **kw)
    torch.manual_seed(0)
    trainer = OnlineTrainer(cfg, Policy(tiny_gpt2(tok), tok), good_judge, prompts)
    rollout = trainer.collect()
    assert rollout.beta == 0.5 and rollout.y2 is not None  # pairs from the mixture
    loss, stats = trainer.loss(rollout)
    # the value: soft DPO of the margins, computed here from sequence log-probs
    from prefgame.llm import sequence_logprobs

    with torch.no_grad():
        lp = [sequence_logprobs(trainer.policy, b) for b in (rollout.y, rollout.y2)]
        lr = [sequence_logprobs(trainer.ref, b) for b in (rollout.y, rollout.y2)]
    h = (lp[0] - lr[0]) - (lp[1] - lr[1])
    p = rollout.p
    want = -(p * torch.nn.functional.logsigmoid(2.0 * h))
    want = want - (1 - p) * torch.nn.functional.logsigmoid(-2.0 * h)
    assert float(loss.detach()) == pytest.approx(float(want.mean()), rel=1e-5, abs=1e-6)
    assert stats["margin"] == pytest.approx(float(h.abs().mean()), rel=1e-5, abs=1e-6)


# --- schedules --------------------------------------------------------------------------------


def _lr_curve(schedule: str, warmup: int, steps: int, lr: float = 0.5) -> list[float]:
    cfg = OnlineConfig(lr=lr, lr_schedule=schedule, warmup_steps=warmup, max_steps=steps)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = lr_scheduler(opt, cfg)
    out = []
    for _ in range(steps + 1):
        out.append(sched.get_last_lr()[0])
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine"])
def test_lr_without_warmup_is_the_closed_form_the_trainer_always_used(schedule):
    """transformers.get_scheduler gives, without warm-up, exactly the factors of the former
    hand-written schedule: 1, 1 − s/T, ½(1 + cos(π s/T))."""
    T, lr = 8, 0.5
    closed = {
        "constant": lambda s: 1.0,
        "linear": lambda s: max(0.0, 1.0 - s / T),
        "cosine": lambda s: 0.5 * (1.0 + math.cos(math.pi * min(s / T, 1.0))),
    }[schedule]
    got = _lr_curve(schedule, 0, T, lr)
    assert got == pytest.approx([lr * closed(s) for s in range(T + 1)], abs=1e-15)


@pytest.mark.parametrize("schedule", ["constant", "linear", "cosine"])
def test_lr_warmup_follows_transformers(schedule):
    """Warm-up W: lr·s/W for s < W (step 0 has lr 0, transformers' convention), then the decay
    over the remaining T − W steps."""
    T, W, lr = 10, 4, 0.5
    after = {
        "constant": lambda s: 1.0,
        "linear": lambda s: (T - s) / (T - W),
        "cosine": lambda s: 0.5 * (1.0 + math.cos(math.pi * (s - W) / (T - W))),
    }[schedule]
    want = [lr * (s / W if s < W else after(s)) for s in range(T + 1)]
    assert _lr_curve(schedule, W, T, lr) == pytest.approx(want, abs=1e-15)


@pytest.mark.parametrize(
    ("spec", "closed"),
    [
        ("constant", lambda b, t, T: b),
        ("linear:0.1", lambda b, t, T: b + (0.1 - b) * min(t, T) / T),
        (
            "cosine:0.2",
            lambda b, t, T: 0.2 + (b - 0.2) * (1 + math.cos(math.pi * min(t, T) / T)) / 2,
        ),
        ("inverse", lambda b, t, T: 2 * b / (t + 2)),
    ],
)
def test_tau_beta_schedule_values_at_many_steps(spec, closed):
    base, T = 0.7, 12
    for t in (0, 1, 5, 11, 12, 20):
        assert schedule_value(spec, base, t, T) == pytest.approx(closed(base, t, T), abs=1e-15)


def test_the_trainer_uses_both_schedules(tok, prompts, good_judge, tmp_path):
    """Logged lr, τ and β of a run equal the closed forms at every step."""
    cfg = OnlineConfig(
        method="ipo_md",
        tau=1.0,
        tau_schedule="inverse",
        beta=0.4,
        beta_schedule="linear:0.0",
        lr=1e-3,
        lr_schedule="linear",
        max_steps=4,
        batch_size=2,
        max_new_tokens=2,
        win_rate_every=0,
        output_dir=str(tmp_path),
        progress_bar=False,
        log_tensorboard=False,
    )
    hist = OnlineTrainer(cfg, Policy(tiny_gpt2(tok), tok), good_judge, prompts)
    hist = hist.train()
    for s, h in enumerate(hist):
        assert h["tau"] == pytest.approx(2.0 / (s + 2))
        assert h["beta"] == pytest.approx(0.4 * (1 - s / 4))
        assert h["lr"] == pytest.approx(1e-3 * (1 - s / 4))


def test_a_loss_is_a_function_of_tensors_alone():
    """No model, no trainer: each loss of the registry on a hand-made LossInput equals its
    formula (π ≠ μ ≠ π_t, ragged masks, mean and sum reductions)."""
    from prefgame.llm.methods import LossInput, WinRateLoss

    g = torch.Generator().manual_seed(0)
    R, T = 6, 5
    logp = -torch.rand(R, T, generator=g, dtype=torch.float64)
    ref = -torch.rand(R, T, generator=g, dtype=torch.float64)
    snap = -torch.rand(R, T, generator=g, dtype=torch.float64)
    mask = torch.ones(R, T, dtype=torch.long)
    mask[1, 3:] = 0
    mask[4, 2:] = 0
    logp, ref, snap = logp * mask, ref * mask, snap * mask
    p = torch.tensor([0.2, 0.7, 0.9], dtype=torch.float64)
    for reduction in ("sum", "mean"):
        n = mask.sum(-1) if reduction == "mean" else torch.ones(R, dtype=torch.long)
        x = LossInput(logp, ref, mask, tau=0.4, eta=1.5, reduction=reduction, anchor_logp=snap, p=p)

        def seq(v, n=n):
            return v.sum(-1) / n

        h = (seq(logp) - seq(ref))[0::2] - (seq(logp) - seq(ref))[1::2]
        loss, _ = METHODS["online_ipo"].loss(x)
        assert float(loss) == pytest.approx(float(L.ipo_soft_loss(h, p, tau=0.4).mean()))
        w = 1.5 * 0.4  # INPO's anchor μ^{ητ} π_t^{1−ητ}
        a = seq(logp) - w * seq(ref) - (1 - w) * seq(snap)
        loss, _ = METHODS["inpo"].loss(x)
        expect = ((a[0::2] - a[1::2]) - 1.5 * (p - 0.5)) ** 2
        assert float(loss) == pytest.approx(float(expect.mean()))
    r = torch.linspace(0.1, 0.9, R, dtype=torch.float64)
    x = LossInput(logp, ref, mask, tau=0.4, eta=0.7, anchor_logp=snap, p=r)
    loss, stats = WinRateLoss(L.sppo_loss)(x)
    u = (logp - snap).sum(-1)
    assert float(loss) == pytest.approx(float(((u - 0.7 * (r - 0.5)) ** 2).mean()))
    assert stats["kl"] == pytest.approx(float((logp - ref).sum(-1).mean()))
