"""INPO, SPPO and MPO on transformers: policy snapshots (refreshed, sampled from, checkpointed),
their losses against a second computation, and each iteration of each method against its exact
tabular map on the enumerable sequence game."""

import numpy as np
import pytest
import torch

from prefgame import losses as L
from prefgame.dynamics import hedge_step, inpo_step, sppo_regression_step
from prefgame.dynamics.policy_gradient import fit_bradley_terry
from prefgame.equilibrium import kl, solve
from prefgame.games import PreferenceGame
from prefgame.llm import CallableJudge, OnlineConfig, OnlineTrainer, Policy, tiny_gpt2
from prefgame.llm.exact import sequence_probs
from prefgame.llm.methods import METHODS, TARGETS
from prefgame.llm.policy import SequenceBatch, token_logprobs
from prefgame.llm.verify import VerifyConfig, initial_policy, run_method, targets
from prefgame.tasks.sequence_game import SequenceGame

TAU, ETA = 0.2, 2.5


def _cfg(tmp_path, method, **kw):
    return OnlineConfig(**{
        "method": method, "tau": 0.5, "eta": 1.0, "batch_size": 4, "micro_batch_size": 2,
        "max_steps": 6, "max_new_tokens": 4, "lr": 1e-2, "lr_schedule": "linear",
        "output_dir": str(tmp_path), "progress_bar": False, "log_tensorboard": False,
        "win_rate_every": 0, "seed": 0, "snapshot_every": 3, **kw,
    })  # fmt: skip


def _trainer(tok, prompts, judge, tmp_path, method, **kw):
    return OnlineTrainer(
        _cfg(tmp_path, method, **kw), Policy(tiny_gpt2(tok, seed=3), tok), judge, prompts
    )


def _weights(model):
    return [q.detach().clone() for q in model.parameters()]


def _equal(a, b):
    return all(torch.equal(x, y) for x, y in zip(a, b))


# --- the registry and the config --------------------------------------------------------------


def test_the_post_paper_methods_are_registered_with_their_tabular_twins_targets():
    expect = {"egpo": "nash", "inpo": "nash", "sppo": "nash_0", "mpo": "nash_0"}
    for name, target in expect.items():
        assert METHODS[name].target == target and target in TARGETS
    assert METHODS["inpo"].snapshots == ("anchor",) and METHODS["sppo"].snapshots == ("anchor",)
    assert METHODS["mpo"].snapshots == ("magnet",)
    assert METHODS["sppo"].feedback == "win_rate" and METHODS["sppo"].sampler.per_prompt == 4


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"method": "inpo", "snapshot_every": 0}, "set snapshot_every >= 1"),
        ({"method": "inpo", "eta": 3.0, "tau": 0.5}, r"eta \* tau = 3.0 \* 0.5 = 1.5 > 1"),
        ({"method": "sppo", "eta": 0.0}, "eta = 0.0, must be a finite number > 0"),
        ({"method": "online_ipo", "snapshot_every": -1}, "snapshot_every = -1"),
    ],
)
def test_config_refuses_what_the_iterated_methods_cannot_run(tmp_path, kw, match):
    with pytest.raises(ValueError, match=match):
        _cfg(tmp_path, **kw)


# --- snapshots -------------------------------------------------------------------------------


def test_refresh_rule_copies_pi_at_steps_0_k_2k_and_the_snapshot_stays_frozen(
    tok, prompts, good_judge, tmp_path
):
    tr = _trainer(tok, prompts, good_judge, tmp_path, "inpo")
    snap = tr.snapshot("anchor").model
    assert not any(q.requires_grad for q in snap.parameters())
    seen = {}
    for _ in range(6):
        before = _weights(tr.policy.model)
        logs = tr.step()
        seen[tr.step_count] = (before, _weights(snap), logs["iteration"])
    # the snapshot is π at the start of steps 0 and 3: equal to the weights before them ...
    assert _equal(seen[1][1], seen[1][0]) and _equal(seen[4][1], seen[4][0])
    # ... and it does not move inside an iteration, while π does
    assert _equal(seen[3][1], seen[1][1]) and not _equal(seen[3][0], seen[1][0])
    assert not _equal(seen[4][1], seen[1][1])
    assert [seen[k][2] for k in range(1, 7)] == [0, 0, 0, 1, 1, 1]  # the step's iteration
    with pytest.raises(ValueError, match="keeps no snapshot 'magnet'"):
        tr.snapshot("magnet")


def test_sampling_from_a_snapshot_draws_from_its_weights(tok, prompts, good_judge, tmp_path):
    tr = _trainer(tok, prompts, good_judge, tmp_path, "inpo")
    tr.step()
    tr.step()  # π has moved away from the snapshot
    snap = tr.snapshot("anchor")
    state = tr.sample_gen.get_state()
    from_snap = tr.sample(prompts, 0.0, per_prompt=2, policy=snap)
    tr.sample_gen.set_state(state)
    from_pi = tr.sample(prompts, 0.0, per_prompt=2)
    # the sampler's own log-probs are those of the policy it drew from
    group = tr.prompt_group
    with torch.no_grad():
        snap_lp = token_logprobs(snap, from_snap, group)
        pi_lp = token_logprobs(tr.policy, from_snap, group)
    torch.testing.assert_close(from_snap.policy_logp, snap_lp, atol=1e-5, rtol=0)
    assert (from_snap.policy_logp - pi_lp).abs().max() > 1e-3
    assert not torch.equal(from_snap.policy_logp, from_pi.policy_logp)


def test_a_run_resumed_from_a_checkpoint_keeps_its_snapshot(tok, prompts, good_judge, tmp_path):
    """Stop at step 4 (one step into the second iteration), resume: weights, snapshot and the
    next steps equal an uninterrupted run's exactly."""
    full = _trainer(tok, prompts, good_judge, tmp_path / "full", "inpo", save_every=0)
    full.train()

    def kill(trainer, logs):
        if trainer.step_count == 4:
            raise KeyboardInterrupt("simulated kill")

    part = OnlineTrainer(
        _cfg(tmp_path / "part", "inpo", save_every=4),
        Policy(tiny_gpt2(tok, seed=3), tok),
        good_judge,
        prompts,
        callbacks=[kill],
    )
    with pytest.raises(KeyboardInterrupt):
        part.train()
    again = _trainer(
        tok, prompts, good_judge, tmp_path / "part", "inpo", resume_from="latest", save_every=0
    )
    assert again.step_count == 4
    assert _equal(_weights(again.snapshot("anchor").model), _weights(part.snapshot("anchor").model))
    again.train()
    assert _equal(_weights(again.policy.model), _weights(full.policy.model))
    assert _equal(_weights(again.snapshot("anchor").model), _weights(full.snapshot("anchor").model))


# --- the losses against a second computation --------------------------------------------------


def _moved(trainer, n=3):
    """Train ``n`` steps with a refresh in between (``snapshot_every=2``): π ≠ π_t ≠ μ."""
    for _ in range(n):
        trainer.step()
    return trainer


def _differ(a, b, by=1e-2):
    return float((a - b).abs().max()) > by


def _seq_logp(policy, batch, group=1):
    with torch.no_grad():
        return token_logprobs(policy, batch, group).sum(-1).double()


def test_inpo_loss_is_the_square_loss_on_the_margin_against_mu_and_pi_t(
    tok, prompts, good_judge, tmp_path
):
    tr = _trainer(tok, prompts, good_judge, tmp_path, "inpo", tau=0.5, eta=1.2, snapshot_every=2)
    ro = _moved(tr).collect()
    loss, stats = tr.loss(ro)
    snap = tr.snapshot("anchor")

    def parts(b: SequenceBatch):
        return _seq_logp(tr.policy, b), _seq_logp(tr.ref, b), _seq_logp(snap, b)

    (pi1, mu1, t1), (pi2, mu2, t2) = parts(ro.y), parts(ro.y2)
    assert _differ(t1, mu1) and _differ(pi1, t1)  # μ, π_t and π are three policies
    # the pairs are samples of π_t (the sampler's own log-probs are the snapshot's)
    torch.testing.assert_close(ro.y.policy_logp.sum(-1).double(), t1, atol=1e-4, rtol=0)
    w = 1.2 * 0.5  # ητ
    h = (pi1 - pi2) - w * (mu1 - mu2) - (1 - w) * (t1 - t2)
    assert h.abs().max() > 1e-2  # π ≠ π_t: the check below has something to see
    expect = ((h - 1.2 * (ro.p.double() - 0.5)) ** 2).mean()
    assert float(loss) == pytest.approx(float(expect), rel=1e-4)
    assert stats["kl"] == pytest.approx(float((pi1 - mu1).mean()), rel=1e-3, abs=1e-5)


def test_mpo_loss_is_ipo_against_the_magnet_not_mu(tok, prompts, good_judge, tmp_path):
    tr = _moved(_trainer(tok, prompts, good_judge, tmp_path, "mpo", snapshot_every=2))
    ro = tr.collect()
    loss, _ = tr.loss(ro)
    mag = tr.snapshot("magnet")
    h = (_seq_logp(tr.policy, ro.y) - _seq_logp(mag, ro.y)) - (
        _seq_logp(tr.policy, ro.y2) - _seq_logp(mag, ro.y2)
    )
    expect = L.ipo_soft_loss(h, ro.p.double(), tau=0.5).mean()
    assert float(loss) == pytest.approx(float(expect), rel=1e-4)
    h_mu = (_seq_logp(tr.policy, ro.y) - _seq_logp(tr.ref, ro.y)) - (
        _seq_logp(tr.policy, ro.y2) - _seq_logp(tr.ref, ro.y2)
    )
    wrong = L.ipo_soft_loss(h_mu, ro.p.double(), tau=0.5).mean()
    assert abs(float(wrong) - float(expect)) > 1e-3 * abs(float(expect))


def test_sppo_win_rates_and_loss_against_a_hand_computation(tok, prompts, tmp_path):
    """A judge that is not antisymmetric (P(y ≻ y') + P(y' ≻ y) ≠ 1): the win rates are the
    symmetrised means over the other samples of the prompt, and the loss the mean of
    (log π/π_t − η(r̂ − ½))² over all samples."""

    def p(x, y, y2):
        return 0.3 + 0.1 * (len(y) > len(y2)) + 0.05 * len(y.split()) / 4

    judge = CallableJudge(p)
    tr = _moved(_trainer(tok, prompts, judge, tmp_path, "sppo", eta=0.7, snapshot_every=2))
    ro = tr.collect()
    snap = tr.snapshot("anchor")
    assert _differ(_seq_logp(snap, ro.y), _seq_logp(tr.ref, ro.y))  # π_t ≠ μ
    torch.testing.assert_close(  # the K samples are π_t's
        ro.y.policy_logp.sum(-1).double(), _seq_logp(snap, ro.y), atol=1e-4, rtol=0
    )
    k = 4
    assert len(ro.y) == k * len(ro.prompts) and ro.y2 is None
    texts = ro.texts
    for i in range(len(ro.prompts)):
        g = texts[i * k : (i + 1) * k]
        for a in range(k):
            others = [
                0.5 * (p(None, g[a], g[b]) + 1 - p(None, g[b], g[a])) for b in range(k) if b != a
            ]
            assert float(ro.p[i * k + a]) == pytest.approx(np.mean(others), abs=1e-6)
    loss, _ = tr.loss(ro)
    u = _seq_logp(tr.policy, ro.y) - _seq_logp(snap, ro.y)
    assert u.abs().max() > 1e-2
    expect = ((u - 0.7 * (ro.p.double() - 0.5)) ** 2).mean()
    assert float(loss) == pytest.approx(float(expect), rel=1e-4)


# --- each iteration lands on its exact tabular map (sequence game) ----------------------------


def _step_map(method, P, mu, prev):
    if method == "inpo":  # log π_{t+1} = normalise((1 − ητ) log π_t + ητ log μ + η Pπ_t)
        return np.exp(inpo_step(np.log(prev), P, np.log(mu), TAU, ETA))
    if method == "sppo":  # argmin over distributions of SPPO's square loss
        return sppo_regression_step(P, prev, ETA)
    return solve(PreferenceGame(P, prev), TAU).policy  # MPO: π*_τ with the magnet as μ


@pytest.mark.slow  # training a transformer for 400 steps
@pytest.mark.parametrize("method", ["inpo", "sppo", "mpo"])
def test_each_iteration_lands_on_the_exact_tabular_map(method):
    """Two iterations of K = 200 steps from μ; the second starts at π_1 ≠ μ.  The transformer's
    exact sequence distribution after iteration i is within a few % (in KL) of the tabular map
    applied to its distribution after iteration i − 1 (measured: 1.5 %, 0.6 %, 2.2 %)."""
    game = SequenceGame()
    cfg = VerifyConfig(
        methods=(method,), steps=400, batch_size=64, lr=3e-3, log_every=200, n_layer=1,
        tau=TAU, eta=ETA, snapshot_every=200,
    )  # fmt: skip
    mu = sequence_probs(initial_policy(cfg, game), game)
    reward = fit_bradley_terry(PreferenceGame(game.P, mu))
    run = run_method(cfg, game, method, targets(game, mu, TAU, 0.5, reward), mu, reward)
    assert run["steps"] == [0, 200, 400] and run["target"] == METHODS[method].target
    pi0, pi1, pi2 = (np.array(q) for q in run["policies"])
    np.testing.assert_allclose(pi0, mu, atol=1e-12)
    for prev, now, bound in ((pi0, pi1, 0.2), (pi1, pi2, 0.1)):
        goal = _step_map(method, game.P, mu, prev)
        assert kl(goal, now) < bound * kl(goal, prev), (kl(goal, now), kl(goal, prev))
    # the map moved π somewhere the other methods' maps do not go
    others = {m: _step_map(m, game.P, mu, pi1) for m in ("inpo", "sppo", "mpo") if m != method}
    own = kl(_step_map(method, game.P, mu, pi1), pi2)
    for m, goal in others.items():
        assert kl(goal, pi2) > 3 * own, (m, kl(goal, pi2), own)


def test_sppo_regression_step_solves_its_stationarity_condition_and_is_near_hedge():
    """u − a = c e^u for one c (the normalisation's multiplier), at a random π_t ≠ uniform; the
    Hedge step is the same point only up to that bend."""
    rng = np.random.default_rng(0)
    n = 7
    A = rng.uniform(0, 1, (n, n))
    P = np.triu(A, 1) + np.tril(1 - A.T, -1) + 0.5 * np.eye(n)
    pi_t = rng.dirichlet(np.ones(n))
    for eta in (0.5, 4.0):
        new = sppo_regression_step(P, pi_t, eta)
        u = np.log(new / pi_t)
        a = eta * (P @ pi_t - 0.5)
        c = (u - a) / np.exp(u)
        np.testing.assert_allclose(c, c.mean(), atol=1e-8)
        assert new.sum() == pytest.approx(1.0, abs=1e-12)
        hedge = np.exp(hedge_step(np.log(pi_t), P, eta))
        assert 0 < kl(hedge, new) < (0.05 if eta < 1 else 1.0)
