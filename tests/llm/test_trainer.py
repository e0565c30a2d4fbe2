"""The online trainer: its loss is prefgame.losses on the same margins; training lowers the loss;
resume after a kill is bit-identical; micro-batching equals one big batch."""

import json

import pytest
import torch

from prefgame import losses as L
from prefgame.llm import (
    Judge,
    OnlineConfig,
    OnlineTrainer,
    Policy,
    add_lora,
    sequence_logprobs,
    tiny_gpt2,
    tiny_t5,
    token_logprobs,
)
from prefgame.llm.trainer import latest_checkpoint, load_checkpoint


def count_good(y: str) -> int:
    return y.split().count("good")


class GoodReward(Judge):
    """A programmatic Bradley–Terry reward: r(x, y) = number of "good" in y."""

    def reward(self, prompts, completions):
        return torch.tensor([float(count_good(y)) for y in completions])

    def logit(self, prompts, ys, ys2):
        return self.reward(prompts, ys) - self.reward(prompts, ys2)


def _cfg(tmp_path, **kw):
    base = {"batch_size": 4, "micro_batch_size": 2, "max_steps": 4, "max_new_tokens": 6, "lr": 1e-2,
                "output_dir": str(tmp_path), "progress_bar": False, "log_tensorboard": False,
                "win_rate_every": 0}
    base.update(kw)
    return OnlineConfig(**base)


@pytest.mark.parametrize("method,reduction", [("online_ipo", "sum"), ("online_ipo", "mean"),
                                              ("ipo_md", "sum"), ("online_dpo", "sum"),
                                              ("online_slic", "mean")])
def test_pairwise_loss_equals_shared_losses(tok, prompts, good_judge, tmp_path, method,
                                            reduction):
    beta = 0.25 if method == "ipo_md" else 0.0
    cfg = _cfg(tmp_path, method=method, beta=beta, tau=0.7, logp_reduction=reduction)
    policy = Policy(tiny_gpt2(tok), tok)
    ref = Policy(tiny_gpt2(tok), tok)  # an independent copy of the initial weights
    tr = OnlineTrainer(cfg, policy, good_judge, prompts)
    ro = tr.collect()
    with torch.no_grad():
        lp = [sequence_logprobs(policy, b, reduction) for b in (ro.y, ro.y2)]
        lr = [sequence_logprobs(ref, b, reduction) for b in (ro.y, ro.y2)]
    h = (lp[0] - lr[0]) - (lp[1] - lr[1])
    p = good_judge(ro.prompts, ro.y.texts(tok), ro.y2.texts(tok))
    loss_name = method.split("_")[-1] if method != "ipo_md" else "ipo"
    want = L.LOSSES[loss_name](h, p, tau=0.7).mean()
    got, _ = tr.loss(ro)
    torch.testing.assert_close(got.detach(), want, atol=1e-5, rtol=1e-5)
    logs = tr.train_on(ro)  # two micro-batches of 2 prompts: the same weighted mean
    assert abs(logs["loss"] - float(want)) < 1e-5


def test_nash_md_pg_loss_equals_shared_token_loss(tok, prompts, good_judge, tmp_path):
    cfg = _cfg(tmp_path, method="nash_md_pg", beta=0.125, tau=0.3)
    policy, ref = Policy(tiny_gpt2(tok), tok), Policy(tiny_gpt2(tok), tok)
    tr = OnlineTrainer(cfg, policy, good_judge, prompts)
    ro = tr.collect()
    assert ro.y2 is not None
    with torch.no_grad():
        tl, tr_ref = token_logprobs(policy, ro.y), token_logprobs(ref, ro.y)
    mask = ro.y.completion_mask.float()
    p = good_judge(ro.prompts, ro.y.texts(tok), ro.y2.texts(tok))
    want = L.nash_md_pg_token_loss(tl, tl - tr_ref, p, mask, tau=0.3).mean()
    got, _ = tr.loss(ro)
    torch.testing.assert_close(got.detach(), want, atol=1e-5, rtol=1e-5)


def test_rl_loss_is_regularised_reward_to_go(tok, prompts, tmp_path):
    cfg = _cfg(tmp_path, method="rl", tau=0.2)
    policy, ref = Policy(tiny_gpt2(tok), tok), Policy(tiny_gpt2(tok), tok)
    tr = OnlineTrainer(cfg, policy, GoodReward(), prompts)
    ro = tr.collect()
    with torch.no_grad():
        tl, tref = token_logprobs(policy, ro.y), token_logprobs(ref, ro.y)
    r = ro.reward - ro.reward.mean()
    m = ro.y.completion_mask.float()
    want = 0.0
    for i in range(len(r)):  # written out token by token, independently of prefgame.losses
        T = int(m[i].sum())
        for t in range(T):
            to_go = float((tl[i, t:T] - tref[i, t:T]).sum())
            want += -(float(r[i]) - 0.2 * to_go) * float(tl[i, t])
    want /= len(r)
    got, _ = tr.loss(ro)
    assert abs(float(got) - want) < 1e-4


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
    cfg = _cfg(tmp_path, method=method, tau=0.1, lr=1e-2, max_steps=25, batch_size=8,
               micro_batch_size=8, max_new_tokens=4, win_rate_every=0)

    def good_rate(policy):
        from prefgame.llm import generate_text

        texts = generate_text(policy, prompts * 8, max_new_tokens=4,
                              generator=torch.Generator().manual_seed(9))
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


def _run(tok, prompts, judge, out, kill_at=None, resume=""):
    cfg = OnlineConfig(method="ipo_md", beta=0.5, beta_schedule="linear:0.1", tau=0.5,
                       batch_size=4, micro_batch_size=2, generation_batch_size=2, max_steps=6,
                       save_every=2, max_new_tokens=5, lr=1e-2, warmup_steps=2,
                       lr_schedule="linear", output_dir=str(out), progress_bar=False,
                       log_tensorboard=True, win_rate_every=3, resume_from=resume)
    policy = Policy(tiny_gpt2(tok), tok)

    def kill(trainer, logs):
        if trainer.step_count == kill_at:
            raise KeyboardInterrupt("simulated kill")

    tr = OnlineTrainer(cfg, policy, judge, prompts[:6], callbacks=[kill])
    try:
        tr.train()
    except KeyboardInterrupt:
        pass
    return policy.model.state_dict()


def test_resume_after_kill_gives_identical_weights(tok, prompts, good_judge, tmp_path):
    full = _run(tok, prompts, good_judge, tmp_path / "full")
    _run(tok, prompts, good_judge, tmp_path / "killed", kill_at=3)  # dies after step 3
    assert latest_checkpoint(tmp_path / "killed").name == "checkpoint-2"
    resumed = _run(tok, prompts, good_judge, tmp_path / "killed", resume="latest")
    assert full.keys() == resumed.keys()
    for k in full:
        assert torch.equal(full[k], resumed[k]), k
    assert (tmp_path / "full" / "tensorboard").is_dir()
    steps = [json.loads(x)["step"] for x in (tmp_path / "killed" / "log.jsonl").read_text()
             .splitlines()]
    assert steps == [1, 2, 3, 4, 5, 6]  # step 3's record before the kill was dropped, redone
    # a checkpoint loads back into a policy
    pol = load_checkpoint(Policy(tiny_gpt2(tok), tok), tmp_path / "full" / "checkpoint-6")
    assert torch.equal(pol.model.state_dict()["transformer.wte.weight"],
                       full["transformer.wte.weight"])


def test_gradient_accumulation_is_exact_on_a_fixed_rollout(tok, prompts, good_judge, tmp_path):
    grads = []
    for micro in (4, 1):
        cfg = _cfg(tmp_path, method="online_ipo", micro_batch_size=micro, max_grad_norm=0.0)
        policy = Policy(tiny_gpt2(tok), tok)
        tr = OnlineTrainer(cfg, policy, good_judge, prompts)
        ro = tr.collect(prompts[:4])
        tr.model.zero_grad()
        total = 0.0
        for sl in [slice(i, i + micro) for i in range(0, 4, micro)]:
            loss, _ = tr.loss(ro, sl)
            (loss * (sl.stop - sl.start) / 4).backward()
            total += float(loss) * (sl.stop - sl.start) / 4
        grads.append(policy.model.transformer.wte.weight.grad.clone())
    torch.testing.assert_close(grads[0], grads[1], atol=1e-6, rtol=1e-4)


def test_t5_lora_and_adafactor_steps(tok, prompts, good_judge, tmp_path):
    cfg = _cfg(tmp_path / "t5", method="nash_md_pg", beta=0.125, optimizer="adafactor",
               max_steps=1)
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
    cfg = _cfg(tmp_path, method="nash_md_pg", beta=0.5, beta_schedule="linear:0.1",
               tau=0.2, tau_schedule="inverse", max_steps=3, bf16=True)
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


def test_resume_after_sigkill_in_a_subprocess(tmp_path):
    import signal
    import subprocess
    import sys

    script = tmp_path / "run.py"
    script.write_text(_KILL_SCRIPT)

    def run(out, kill_at, resume="-"):
        return subprocess.run([sys.executable, str(script), str(out), str(kill_at), resume],
                              capture_output=True, text=True, check=False)

    assert run(tmp_path / "full", -1).returncode == 0
    killed = run(tmp_path / "k", 3)
    assert killed.returncode == -signal.SIGKILL
    assert run(tmp_path / "k", -1, "latest").returncode == 0
    a = torch.load(tmp_path / "full" / "final.pt")
    b = torch.load(tmp_path / "k" / "final.pt")
    assert all(torch.equal(a[k], b[k]) for k in a)
