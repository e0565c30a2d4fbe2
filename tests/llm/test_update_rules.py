"""Update rules that are not one optimiser step on one rollout: the trainer's
accumulate_gradients / apply_update split, the lookahead context, and EGPO (extragradient)."""

import copy

import numpy as np
import pytest
import torch

from prefgame.dynamics.policy_gradient import fit_bradley_terry
from prefgame.games import PreferenceGame
from prefgame.llm import OnlineConfig, OnlineTrainer, Policy, tiny_gpt2
from prefgame.llm.exact import sequence_probs
from prefgame.llm.methods import METHODS, ExtragradientRule
from prefgame.llm.verify import VerifyConfig, initial_policy, run_method, targets
from prefgame.tasks.sequence_game import SequenceGame


def _trainer(tok, prompts, judge, tmp_path, method="online_ipo", seed=0):
    cfg = OnlineConfig(
        method=method, tau=0.5, batch_size=4, micro_batch_size=2, max_steps=4,
        max_new_tokens=4, lr=1e-2, lr_schedule="linear", output_dir=str(tmp_path),
        progress_bar=False, log_tensorboard=False, win_rate_every=0, seed=seed,
    )  # fmt: skip
    return OnlineTrainer(cfg, Policy(tiny_gpt2(tok, seed=3), tok), judge, prompts)


def _state(tr):
    """A copy (state_dict() hands out the live tensors, which the next step changes)."""
    return (
        [q.detach().clone() for q in tr.model.parameters()],
        copy.deepcopy(tr.optimizer.state_dict()),
        copy.deepcopy(tr.scheduler.state_dict()),
    )


def _same(a, b):
    for x, y in zip(a[0], b[0]):
        assert torch.equal(x, y)
    sa, sb = a[1]["state"], b[1]["state"]
    assert sa.keys() == sb.keys()
    for k in sa:
        for name in sa[k]:
            assert torch.equal(torch.as_tensor(sa[k][name]), torch.as_tensor(sb[k][name]))
    assert a[2] == b[2]


def test_lookahead_restores_weights_optimiser_and_schedule_exactly(
    tok, prompts, good_judge, tmp_path
):
    tr = _trainer(tok, prompts, good_judge, tmp_path)
    tr.train_on(tr.collect())  # Adam has moments now
    before = _state(tr)
    with tr.lookahead():
        tr.train_on(tr.collect())
        moved = _state(tr)
    assert not all(torch.equal(x, y) for x, y in zip(before[0], moved[0]))
    _same(_state(tr), before)


def test_train_on_is_accumulate_then_apply(tok, prompts, good_judge, tmp_path):
    a = _trainer(tok, prompts, good_judge, tmp_path / "a")
    b = _trainer(tok, prompts, good_judge, tmp_path / "b")
    ro = a.collect()
    la = a.train_on(ro)
    b.optimizer.zero_grad(set_to_none=True)
    lb = {**b.accumulate_gradients(ro), **b.apply_update()}
    assert la == pytest.approx(lb)
    _same(_state(a), _state(b))


def test_extragradient_step_uses_the_gradient_at_the_extrapolated_point(
    tok, prompts, good_judge, tmp_path, monkeypatch
):
    """EGPO's step from θ_t with fixed rollouts R1, R2 equals, by hand: a copy takes the half
    step on R1, its gradient on R2 is moved to a fresh copy at θ_t, which then steps."""
    eg = _trainer(tok, prompts, good_judge, tmp_path / "eg")
    r1, r2 = eg.collect(), eg.collect()
    queue = [r1, r2]
    monkeypatch.setattr(eg, "collect", lambda prompts=None: queue.pop(0))
    start = _state(eg)
    ExtragradientRule().step(eg)
    half = _trainer(tok, prompts, good_judge, tmp_path / "half")
    half.train_on(r1)
    half.optimizer.zero_grad(set_to_none=True)
    half.accumulate_gradients(r2)
    grads = [None if q.grad is None else q.grad.clone() for q in half.model.parameters()]
    full = _trainer(tok, prompts, good_judge, tmp_path / "full")
    _same(_state(full), start)
    for q, g in zip(full.model.parameters(), grads):
        q.grad = g
    full.apply_update()
    _same(_state(eg), _state(full))
    # and it is not the plain step on R2 from θ_t (the extrapolation matters)
    plain = _trainer(tok, prompts, good_judge, tmp_path / "plain")
    plain.train_on(r2)
    assert not all(torch.equal(x, y) for x, y in zip(_state(plain)[0], _state(eg)[0]))


@pytest.mark.slow  # training on the sequence game
def test_egpo_is_registered_with_its_tabular_twins_target_and_reaches_it():
    m = METHODS["egpo"]
    assert m.target == "nash" and isinstance(m.update, ExtragradientRule) and not m.uses_beta
    game = SequenceGame()
    cfg = VerifyConfig(
        methods=("egpo",), steps=150, batch_size=64, lr=3e-3, log_every=50, n_layer=1, tau=0.2
    )
    mu = sequence_probs(initial_policy(cfg, game), game)
    reward = fit_bradley_terry(PreferenceGame(game.P, mu))
    out = run_method(cfg, game, "egpo", targets(game, mu, 0.2, 0.5, reward), mu, reward)
    k = np.array(out["kl_to_target"])
    assert k[-1] < 0.2 * k[0], k
