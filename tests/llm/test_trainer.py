"""The online trainer: its loss is prefgame.losses on the same margins; training lowers the loss;
resume after a kill is bit-identical; micro-batching equals one big batch."""

import json

import pytest
import torch

from prefgame.llm import (
    Judge,
    OnlineConfig,
    OnlineTrainer,
    Policy,
    SequenceBatch,
    add_lora,
    tiny_gpt2,
    tiny_t5,
    token_logprobs,
)
from prefgame.llm.trainer import latest_checkpoint, load_policy_checkpoint


def count_good(y: str) -> int:
    return y.split().count("good")


class GoodReward(Judge):
    """A programmatic Bradley–Terry reward: r(x, y) = number of "good" in y."""

    def reward(self, prompts, completions):
        return torch.tensor([float(count_good(y)) for y in completions])

    def logit(self, prompts, ys, ys2):
        return self.reward(prompts, ys) - self.reward(prompts, ys2)


def _cfg(tmp_path, **kw):
    base = {
        "batch_size": 4,
        "micro_batch_size": 2,
        "max_steps": 4,
        "max_new_tokens": 6,
        "lr": 1e-2,
        "output_dir": str(tmp_path),
        "progress_bar": False,
        "log_tensorboard": False,
        "win_rate_every": 0,
    }
    base.update(kw)
    return OnlineConfig(**base)


# --- the loss at π ≠ μ, h ≠ 0, asymmetric p, against formulas written out by hand -----------


def asym_judge():
    """A soft, position-biased P(y ≻ y') = σ((|y| − |y'|)/4 + 0.3): never ½, not antisymmetric."""
    import math

    from prefgame.llm import CallableJudge

    return CallableJudge(lambda x, y, y2: 1 / (1 + math.exp(-(len(y) - len(y2)) / 4 - 0.3)))


def hand_token_logp(model, batch, i, temperature=1.0):
    """log softmax(logits/T)[y_t] of row i: one unpadded forward of [prompt | completion]."""
    p_ids = batch.prompt_ids[i][batch.prompt_mask[i].bool()].tolist()
    c_ids = batch.completion_ids[i][batch.completion_mask[i].bool()].tolist()
    logits = model(input_ids=torch.tensor([p_ids + c_ids])).logits[0, len(p_ids) - 1 : -1]
    logp = (logits.double() / temperature).log_softmax(-1)
    return logp.gather(-1, torch.tensor(c_ids)[:, None])[:, 0]


def hand_pairwise_loss(name, pi, mu, ro, tau, reduction="sum", temperature=1.0):
    """Mean over prompts of the soft-label loss, every term written out; also the margins."""
    import torch.nn.functional as F

    total, hs = 0.0, []
    for i in range(len(ro.prompts)):
        u = []
        for b in (ro.y, ro.y2):
            lp = hand_token_logp(pi, b, i, temperature)
            with torch.no_grad():
                lm = hand_token_logp(mu, b, i, temperature)
            k = len(lp) if reduction == "mean" else 1
            u.append((lp.sum() - lm.sum()) / k)
        h, p = u[0] - u[1], float(ro.p[i])
        if name == "ipo":
            c = 1 / (2 * tau)
            loss = p * (h - c) ** 2 + (1 - p) * (-h - c) ** 2
        elif name == "dpo":
            loss = -p * F.logsigmoid(tau * h) - (1 - p) * F.logsigmoid(-tau * h)
        else:
            loss = p * torch.relu(1 - tau * h) + (1 - p) * torch.relu(1 + tau * h)
        total = total + loss
        hs.append(float(h))
    return total / len(ro.prompts), hs


def hand_pg_loss(pi, mu, ro, tau, advantage, temperature=1.0):
    """Mean over samples of −Σ_t sg(A − τ Σ_{s≥t} u_s) log π(y_t | ·), u_s = log π/μ."""
    total = 0.0
    for i in range(len(ro.prompts)):
        lp = hand_token_logp(pi, ro.y, i, temperature)
        with torch.no_grad():
            u = lp - hand_token_logp(mu, ro.y, i, temperature)
        for t in range(len(lp)):
            total = total - (float(advantage[i]) - tau * float(u[t:].sum())) * lp[t]
    return total / len(ro.prompts)


def assert_same_value_and_gradient(tr, ro, want):
    params = [q for q in tr.policy.model.parameters() if q.requires_grad]
    got, _ = tr.loss(ro)
    torch.testing.assert_close(got.double(), want.double(), atol=1e-5, rtol=1e-5)
    g1 = torch.autograd.grad(got, params, allow_unused=True)
    g2 = torch.autograd.grad(want, params, allow_unused=True)
    for a, b in zip(g1, g2):
        if a is not None or b is not None:
            torch.testing.assert_close(a.double(), b.double(), atol=1e-5, rtol=1e-3)


def two_policies(tok):
    """π and an independent μ (different random weights: every log-ratio is non-zero)."""
    return Policy(tiny_gpt2(tok, seed=0), tok), Policy(tiny_gpt2(tok, seed=1), tok)


@pytest.mark.parametrize(
    "method,reduction,temperature",
    [
        ("online_ipo", "sum", 1.0),
        ("online_ipo", "mean", 1.0),
        ("online_ipo", "sum", 0.7),
        ("ipo_md", "sum", 1.0),
        ("ipo_md", "sum", 1.5),
        ("online_dpo", "sum", 1.0),
        ("online_slic", "mean", 1.0),
    ],
)
def test_pairwise_loss_equals_the_formula_by_hand(
    tok, prompts, tmp_path, method, reduction, temperature
):
    beta = 0.25 if method == "ipo_md" else 0.0
    cfg = _cfg(
        tmp_path,
        method=method,
        beta=beta,
        tau=0.7,
        logp_reduction=reduction,
        temperature=temperature,
    )
    policy, ref = two_policies(tok)
    tr = OnlineTrainer(cfg, policy, asym_judge(), prompts, ref=ref)
    ro = tr.collect()
    name = {"online_dpo": "dpo", "online_slic": "slic"}.get(method, "ipo")
    want, hs = hand_pairwise_loss(name, policy.model, ref.model, ro, 0.7, reduction, temperature)
    assert max(abs(h) for h in hs) > 0.05 and (ro.p - 0.5).abs().mean() > 0.1
    assert_same_value_and_gradient(tr, ro, want)
    logs = tr.train_on(ro)  # two micro-batches of 2 prompts: the same weighted mean
    assert abs(logs["loss"] - float(want)) < 1e-5


@pytest.mark.parametrize("method", ["online_ipo", "online_dpo", "online_slic"])
def test_swapping_y_and_y2_changes_the_loss_unless_p_flips_too(tok, prompts, tmp_path, method):
    from dataclasses import replace

    cfg = _cfg(tmp_path, method=method, tau=0.7)
    policy, ref = two_policies(tok)
    tr = OnlineTrainer(cfg, policy, asym_judge(), prompts, ref=ref)
    ro = tr.collect()
    with torch.no_grad():
        loss = float(tr.loss(ro)[0])
        swapped = float(tr.loss(replace(ro, y=ro.y2, y2=ro.y))[0])
        both = float(tr.loss(replace(ro, y=ro.y2, y2=ro.y, p=1 - ro.p))[0])
    assert abs(swapped - loss) > 1e-3
    assert abs(both - loss) < 1e-5


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_nash_md_pg_loss_equals_the_token_sums_by_hand(tok, prompts, tmp_path, temperature):
    cfg = _cfg(tmp_path, method="nash_md_pg", beta=0.125, tau=0.3, temperature=temperature)
    policy, ref = two_policies(tok)
    tr = OnlineTrainer(cfg, policy, asym_judge(), prompts, ref=ref)
    ro = tr.collect()
    assert ro.y2 is not None and (ro.p - 0.5).abs().mean() > 0.1
    want = hand_pg_loss(policy.model, ref.model, ro, 0.3, ro.p - 0.5, temperature)
    assert_same_value_and_gradient(tr, ro, want)


def test_nash_md_pg_draws_y_from_pi_and_y2_from_the_mixture_in_one_batch(
    tok, prompts, tmp_path, input_shapes
):
    """The fused draw: y ~ π (its sampling log-prob is log π), y' ~ mixture (it is not), each
    trimmed to its own longest completion, log μ(y) from the training forward's path."""
    cfg = _cfg(tmp_path, method="nash_md_pg", beta=0.5, tau=0.3, max_new_tokens=12)
    policy, ref = two_policies(tok)

    def likely_eos(mod, args, out):  # completions of different lengths
        out[..., tok.eos_token_id] += 3.0
        return out

    policy.model.get_output_embeddings().register_forward_hook(likely_eos)
    rows = input_shapes(pi=policy, mu=ref)
    tr = OnlineTrainer(cfg, policy, asym_judge(), prompts, ref=ref)
    ro = tr.collect()
    y, y2 = ro.y, ro.y2
    b = cfg.batch_size
    # one decoding batch: π encodes each prompt once (then decodes y and y' together), μ
    # encodes the prompts of the y' rows once; every other forward feeds one token per row
    assert [r for r, n in rows["pi"] if n > 1] == [b]
    assert next(r for r, n in rows["mu"] if n > 1) == b
    assert max(r for r, n in rows["pi"] if n == 1) <= 2 * b
    assert max(r for r, n in rows["mu"] if n == 1) <= b
    assert len(y) == len(y2) == b
    torch.testing.assert_close(y.sample_logp, y.policy_logp, rtol=0, atol=1e-6)
    assert (y2.sample_logp - y2.policy_logp).abs().max() > 1e-2
    for half in (y, y2):
        assert half.completion_ids.shape[1] == int(half.lengths.max())
    torch.testing.assert_close(y.ref_logp, token_logprobs(ref, y), rtol=0, atol=1e-6)


def test_rl_loss_is_regularised_reward_to_go_with_a_leave_one_out_baseline(tok, prompts, tmp_path):
    cfg = _cfg(tmp_path, method="rl", tau=0.2)
    policy, ref = two_policies(tok)

    class LengthReward(GoodReward):
        def reward(self, prompts, completions):
            return torch.tensor([float(len(y)) for y in completions])

    tr = OnlineTrainer(cfg, policy, LengthReward(), prompts, ref=ref)
    ro = tr.collect()
    r = ro.reward.double()
    assert r.std() > 0
    b = torch.stack([torch.cat([r[:i], r[i + 1 :]]).mean() for i in range(len(r))])
    want = hand_pg_loss(policy.model, ref.model, ro, 0.2, r - b)
    assert_same_value_and_gradient(tr, ro, want)


def test_leave_one_out_baseline_is_unbiased_by_exact_enumeration():
    """E[(1/B) Σ_i (r_i − b_i) ∇log π(y_i)] = ∇ E_π r for a softmax policy over 3 outcomes,
    summing over all 3^B joint draws; the batch mean (which holds r_i) gives (1 − 1/B) of it."""
    import itertools

    from prefgame.llm.methods import rl_baseline

    theta = torch.tensor([0.3, -0.4, 0.8], dtype=torch.float64, requires_grad=True)
    r = torch.tensor([1.0, -0.5, 2.0], dtype=torch.float64)
    pi = torch.softmax(theta, 0)
    (want,) = torch.autograd.grad((pi * r).sum(), theta)
    score = torch.eye(3, dtype=torch.float64) - pi.detach()  # ∇ log π(y) = e_y − π
    B = 3
    for kind, factor in (("loo", 1.0), ("mean", 1 - 1 / B)):
        g = torch.zeros(3, dtype=torch.float64)
        for ys in itertools.product(range(3), repeat=B):
            prob = torch.prod(pi.detach()[list(ys)])
            rew = r[list(ys)]
            adv = rew - rl_baseline(rew, kind)
            g += prob * sum(adv[i] * score[y] for i, y in enumerate(ys)) / B
        torch.testing.assert_close(g, factor * want)
    with pytest.raises(ValueError, match="at least 2"):
        rl_baseline(torch.ones(1))


# --- the silent-wrong-result cases of issue 10 -----------------------------------------------


@pytest.mark.parametrize("method", ["online_ipo", "nash_md_pg"])
def test_no_dropout_in_the_training_forward(tok, prompts, tmp_path, method):
    """π = μ and P ≡ ½: the exact gradient is 0; with dropout 0.1 it was of norm ~10."""
    from prefgame.llm import CallableJudge

    half = CallableJudge(lambda x, y, y2: 0.5)
    for disable in (True, False):
        cfg = _cfg(
            tmp_path,
            method=method,
            beta=0.125 if method == "nash_md_pg" else 0.0,
            disable_dropout=disable,
        )
        tr = OnlineTrainer(cfg, Policy(tiny_gpt2(tok, dropout=0.1), tok), half, prompts)
        logs = tr.train_on(tr.collect())
        # off: rounding only (grad-enabled and no-grad attention kernels); on: norm ~ 1
        assert logs["grad_norm"] < 1e-3 if disable else logs["grad_norm"] > 0.1, logs


def test_tempered_sampling_is_on_policy_for_the_loss(tok, prompts, tmp_path):
    """At T ≠ 1 the loss's log π of y is the log-prob of the distribution y was drawn from."""
    cfg = _cfg(tmp_path, method="online_ipo", temperature=0.6)
    policy, ref = two_policies(tok)
    tr = OnlineTrainer(cfg, policy, asym_judge(), prompts, ref=ref)
    ro = tr.collect()
    with torch.no_grad():
        lp = token_logprobs(tr.train_policy, ro.y, temperature=cfg.temperature)
    torch.testing.assert_close(lp, ro.y.sample_logp, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="top_p"):
        OnlineConfig(top_p=0.9)


def test_ipo_md_margin_is_exactly_zero_at_pi_equal_mu_in_bf16(tok, prompts, good_judge, tmp_path):
    """log μ comes from the same forward path as log π (not from the KV-cached sampler).

    On CPUs with native bf16 (avx512_bf16) the cached and the full forward can round alike, so
    the margin alone cannot tell the paths apart there: the test also counts μ's full forwards
    (one prompt encoding in the sampler, then the recomputation over the completions)."""
    cfg = _cfg(tmp_path, method="ipo_md", beta=0.5, bf16=True)
    tr = OnlineTrainer(cfg, Policy(tiny_gpt2(tok), tok), good_judge, prompts)
    assert not tr.reuses_sampler_ref_logp
    long_mu_forwards = []
    tr.ref.model.register_forward_pre_hook(
        lambda mod, args, kw: long_mu_forwards.append(kw["input_ids"].shape[1] > 1),
        with_kwargs=True,
    )
    ro = tr.collect()
    assert sum(long_mu_forwards) >= 2  # the sampler's prompt encoding, then the recomputation
    with torch.no_grad(), tr.accelerator.autocast():
        _, stats = tr.loss(ro)
    assert stats["margin"] == 0.0


@pytest.mark.parametrize("temperature", [1.0, 0.7])
def test_ipo_md_log_mu_from_the_sampler_equals_the_training_path_in_fp32(
    tok, prompts, good_judge, tmp_path, temperature
):
    """fp32, temperature 1: the mixture sampler's log μ is used (no μ forward after sampling)
    and equals the training path's to 1e-5, at π ≠ μ; at temperature 0.7 it is recomputed."""
    cfg = _cfg(tmp_path, method="ipo_md", beta=0.5, temperature=temperature)
    policy, ref = two_policies(tok)
    tr = OnlineTrainer(cfg, policy, good_judge, prompts, ref=ref)
    assert tr.reuses_sampler_ref_logp == (temperature == 1.0)
    long_mu_forwards = []
    ref.model.register_forward_pre_hook(
        lambda mod, args, kw: long_mu_forwards.append(kw["input_ids"].shape[1] > 1),
        with_kwargs=True,
    )
    ro = tr.collect()
    # the sampler's prompt encoding only, or also the training path's forwards (recomputed)
    assert (sum(long_mu_forwards) == 1) == (temperature == 1.0)
    both = SequenceBatch.cat([ro.y, ro.y2], tok.pad_token_id)
    want = token_logprobs(ref, both, temperature=temperature)
    torch.testing.assert_close(both.ref_logp, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("method", ["online_ipo", "online_dpo", "rl"])
def test_ref_equal_to_the_policy_is_refused_for_every_method(tok, prompts, tmp_path, method):
    policy = Policy(tiny_gpt2(tok), tok)
    with pytest.raises(ValueError, match="no KL regularisation"):
        OnlineTrainer(_cfg(tmp_path, method=method), policy, GoodReward(), prompts, ref=policy)


def test_training_on_a_fixed_rollout_lowers_the_loss(tok, prompts, tmp_path):
    """IPO drives the margin h to its soft target (p − ½)/τ; the loss falls to its floor."""
    import math

    from prefgame.llm import CallableJudge

    judge = CallableJudge(lambda x, y, y2: 1 / (1 + math.exp(len(y) - len(y2))))
    cfg = _cfg(tmp_path, method="online_ipo", tau=0.5, lr=3e-3)
    tr = OnlineTrainer(cfg, Policy(tiny_gpt2(tok), tok), judge, prompts)
    ro = tr.collect()
    floor = float((1 / (4 * 0.25) - (ro.p - 0.5) ** 2 / 0.25).mean())  # min over h
    first = float(tr.loss(ro)[0])
    for _ in range(30):
        tr.train_on(ro)
    last = float(tr.loss(ro)[0])
    assert last < first and (last - floor) < 0.2 * (first - floor), (first, last, floor)


@pytest.mark.parametrize("method", ["online_ipo", "rl"])
def test_a_tiny_online_run_learns_the_preference(tok, prompts, tmp_path, method):
    """Online IPO and RL both raise the frequency of the preferred word "good"."""
    cfg = _cfg(
        tmp_path,
        method=method,
        tau=0.1,
        lr=1e-2,
        max_steps=25,
        batch_size=8,
        micro_batch_size=8,
        max_new_tokens=4,
        win_rate_every=0,
    )

    def good_rate(policy):
        from prefgame.llm import generate_text

        texts = generate_text(
            policy, prompts * 8, max_new_tokens=4, generator=torch.Generator().manual_seed(9)
        )
        return sum(count_good(t) for t in texts) / len(texts)

    policy = Policy(tiny_gpt2(tok), tok)
    before = good_rate(policy)
    judge = GoodReward()
    hist = OnlineTrainer(cfg, policy, judge, prompts).train()
    after = good_rate(policy)
    assert after > before + 0.5, (before, after)
    assert {"loss", "kl", "win_rate", "gen_len", "tokens_per_s"} <= set(hist[-1])
    lines = (tmp_path / "log.jsonl").read_text().splitlines()
    assert len(lines) == 25 and json.loads(lines[-1])["step"] == 25


def _run(tok, prompts, judge, out, kill_at=None, resume="", dropout=0.0):
    cfg = OnlineConfig(
        method="ipo_md",
        beta=0.5,
        beta_schedule="linear:0.1",
        tau=0.5,
        batch_size=4,
        micro_batch_size=2,
        generation_batch_size=2,
        max_steps=6,
        save_every=2,
        max_new_tokens=5,
        lr=1e-2,
        warmup_steps=2,
        lr_schedule="linear",
        output_dir=str(out),
        progress_bar=False,
        log_tensorboard=True,
        win_rate_every=3,
        resume_from=resume,
        disable_dropout=not dropout,
    )
    policy = Policy(tiny_gpt2(tok, dropout=dropout), tok)

    def kill(trainer, logs):
        if trainer.step_count == kill_at:
            raise KeyboardInterrupt("simulated kill")

    tr = OnlineTrainer(cfg, policy, judge, prompts[:6], callbacks=[kill])
    try:
        tr.train()
    except KeyboardInterrupt:
        pass
    return policy.model.state_dict()


@pytest.mark.parametrize("dropout", [0.0, 0.1])
def test_resume_after_kill_gives_identical_weights(tok, prompts, good_judge, tmp_path, dropout):
    """Bit-identical weights after a kill and resume; with dropout on in the training forward
    (``disable_dropout=False``) every step also consumes the global torch RNG, which the
    checkpoint must restore."""
    full = _run(tok, prompts, good_judge, tmp_path / "full", dropout=dropout)
    _run(tok, prompts, good_judge, tmp_path / "killed", kill_at=3, dropout=dropout)
    assert latest_checkpoint(tmp_path / "killed").name == "checkpoint-2"
    torch.rand(1000)  # whatever ran in between leaves the global RNG elsewhere
    resumed = _run(tok, prompts, good_judge, tmp_path / "killed", resume="latest", dropout=dropout)
    assert full.keys() == resumed.keys()
    for k in full:
        assert torch.equal(full[k], resumed[k]), k
    assert (tmp_path / "full" / "tensorboard").is_dir()
    steps = [
        json.loads(x)["step"] for x in (tmp_path / "killed" / "log.jsonl").read_text().splitlines()
    ]
    assert steps == [1, 2, 3, 4, 5, 6]  # step 3's record before the kill was dropped, redone
    # a checkpoint loads back into a policy
    pol = load_policy_checkpoint(Policy(tiny_gpt2(tok), tok), tmp_path / "full" / "checkpoint-6")
    assert torch.equal(
        pol.model.state_dict()["transformer.wte.weight"], full["transformer.wte.weight"]
    )


@pytest.mark.parametrize("method", ["online_ipo", "nash_md_pg", "rl"])
def test_gradient_accumulation_in_train_on_is_exact(tok, prompts, tmp_path, method):
    """The gradient that train_on hands to the optimiser is the same for 1, 2 or 4
    micro-batches and equals the gradient of the full-batch loss."""
    beta = 0.125 if method == "nash_md_pg" else 0.0
    judge = GoodReward() if method == "rl" else asym_judge()
    rollout, grads = None, {}
    for micro in (4, 2, 1, "full"):
        cfg = _cfg(
            tmp_path,
            method=method,
            beta=beta,
            micro_batch_size=4 if micro == "full" else micro,
            max_grad_norm=0.0,
        )
        policy, ref = two_policies(tok)
        tr = OnlineTrainer(cfg, policy, judge, prompts, ref=ref)
        rollout = rollout or tr.collect(prompts[:4])
        params = [q for q in policy.model.parameters() if q.requires_grad]
        if micro == "full":
            loss, _ = tr.loss(rollout)
            grads[micro] = torch.autograd.grad(loss, params, allow_unused=True)
            continue
        seen = []
        tr.optimizer.optimizer.register_step_pre_hook(
            lambda opt, args, kw, seen=seen, params=params: seen.append(
                [q.grad.clone() if q.grad is not None else None for q in params]
            )
        )
        tr.train_on(rollout)
        grads[micro] = seen[0]
    for micro in (4, 2, 1):
        for a, b in zip(grads[micro], grads["full"]):
            if a is not None:
                torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-4)


def test_t5_lora_and_adafactor_steps(tok, prompts, good_judge, tmp_path):
    cfg = _cfg(tmp_path / "t5", method="nash_md_pg", beta=0.125, optimizer="adafactor", max_steps=1)
    OnlineTrainer(cfg, Policy(tiny_t5(tok), tok), good_judge, prompts).train()
    lora = add_lora(tiny_gpt2(tok), r=2, target_modules=["c_attn"])
    base_before = {k: v.clone() for k, v in lora.named_parameters() if "lora" not in k}
    cfg = _cfg(tmp_path / "lora", method="ipo_md", beta=0.5, max_steps=2)
    tr = OnlineTrainer(cfg, Policy(lora, tok), good_judge, prompts)
    assert tr.ref.adapters_off and tr.ref.model is lora
    tr.train()
    for k, v in lora.named_parameters():
        if "lora" not in k:
            assert torch.equal(v, base_before[k])  # μ (the base) never moves


def test_schedules_and_bf16_autocast(tok, prompts, good_judge, tmp_path):
    cfg = _cfg(
        tmp_path,
        method="nash_md_pg",
        beta=0.5,
        beta_schedule="linear:0.1",
        tau=0.2,
        tau_schedule="inverse",
        max_steps=3,
        bf16=True,
    )
    hist = OnlineTrainer(cfg, Policy(tiny_gpt2(tok), tok), good_judge, prompts).train()
    assert [h["beta"] for h in hist] == pytest.approx([0.5, 0.5 - 0.4 / 3, 0.5 - 0.8 / 3])
    assert [h["tau"] for h in hist] == pytest.approx([0.2, 0.2 * 2 / 3, 0.2 * 2 / 4])
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in hist)


_KILL_SCRIPT = """
import os, signal, sys, torch
torch.set_num_threads(1)
from prefgame.llm import (CallableJudge, OnlineConfig, OnlineTrainer, Policy,
                          build_word_tokenizer, tiny_gpt2)
out, kill_at, resume = sys.argv[1], int(sys.argv[2]), sys.argv[3]
tok = build_word_tokenizer(["the cat sat on a mat dog ran far away good bad fine"])
prompts = ["the cat", "a dog ran", "good mat", "far away", "the mat", "bad dog"]
judge = CallableJudge(lambda x, y, y2: 0.5 + 0.5 * ((len(y) < len(y2)) - (len(y) > len(y2))))
cfg = OnlineConfig(method="nash_md_pg", beta=0.25, tau=0.3, batch_size=4, micro_batch_size=2,
                   max_steps=5, save_every=2, max_new_tokens=5, lr=1e-2, output_dir=out,
                   progress_bar=False, log_tensorboard=False, win_rate_every=0,
                   resume_from=resume if resume != "-" else "")
def kill(trainer, logs):
    if trainer.step_count == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
policy = Policy(tiny_gpt2(tok), tok)
OnlineTrainer(cfg, policy, judge, prompts, callbacks=[kill]).train()
torch.save(policy.model.state_dict(), os.path.join(out, "final.pt"))
"""


@pytest.mark.slow  # training in a subprocess
def test_resume_after_sigkill_in_a_subprocess(tmp_path):
    import os
    import signal
    import subprocess
    import sys

    script = tmp_path / "run.py"
    script.write_text(_KILL_SCRIPT)

    from pathlib import Path

    # the script must import this checkout's prefgame, not an installed one
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}

    def run(out, kill_at, resume="-"):
        return subprocess.run(
            [sys.executable, str(script), str(out), str(kill_at), resume],
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )

    assert run(tmp_path / "full", -1).returncode == 0
    killed = run(tmp_path / "k", 3)
    assert killed.returncode == -signal.SIGKILL
    assert run(tmp_path / "k", -1, "latest").returncode == 0
    a = torch.load(tmp_path / "full" / "final.pt")
    b = torch.load(tmp_path / "k" / "final.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
