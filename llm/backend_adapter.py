"""Thin adapter: the pieces of the LLM backend that the FactSum pipeline needs.

**Why this file exists.**  The pipeline is meant to run on ``prefgame.llm`` (policies, samplers,
preference/reward models, the online trainer).  When this reproduction was written that package
had not landed yet (see ``/work/notes/requests-task.md``), so this module provides the minimum,
in one place, with the same vocabulary: swapping it for ``prefgame.llm`` changes only this file.
Every loss comes from :mod:`prefgame.losses`; nothing here re-derives a formula.

Contents (decoder-only Hugging Face models, prompts left-padded, completions right-padded):

* :func:`completion_logprobs` -- per-token log π(y_t | x, y_<t) of completions, ``[B, T]``.
* :func:`sample` -- y ∼ π, or the token-level mixture softmax((1−β)·logits_π + β·logits_μ)
  (Calandriello et al. §5 / NLHF §7), with a KV cache for both models.
* :class:`PairwisePM`, :class:`RewardModel` -- a transformer that reads (x, y, y') -> P(y ≻ y'),
  and one that reads (x, y) -> r(x, y); :func:`fit_pairs` trains either on labelled pairs.
* :func:`train_online` -- ONE loop for online_ipo, ipo_md, online_dpo, online_slic, nash_md_pg
  and rl, configured by :class:`AlignConfig`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from prefgame import losses as L

METHODS = ("online_ipo", "ipo_md", "online_dpo", "nash_md_pg", "online_slic", "rl")
_PAIRWISE = {"online_ipo": "ipo", "ipo_md": "ipo", "online_dpo": "dpo", "online_slic": "slic"}


# --- batching -------------------------------------------------------------------------------


def left_pad(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad token lists to ``ids [B, L]`` and ``mask [B, L]``."""
    n = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for i, s in enumerate(seqs):
        if len(s):
            ids[i, n - len(s):] = torch.tensor(s)
            mask[i, n - len(s):] = 1
    return ids, mask


def right_pad(seqs: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token lists to ``ids [B, T]`` and ``mask [B, T]``."""
    n = max(1, max(len(s) for s in seqs))
    ids = torch.full((len(seqs), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        mask[i, : len(s)] = 1
    return ids, mask


def _device(model) -> torch.device:
    return next(model.parameters()).device


def _positions(mask: torch.Tensor) -> torch.Tensor:
    return (mask.cumsum(-1) - 1).clamp(min=0)


# --- log-probs and sampling -----------------------------------------------------------------


def completion_logprobs(model, prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]],
                        pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token log-probs of ``completions`` given ``prompts``: ``(logp [B, T], mask [B, T])``.

    Sequence log-prob log π(y|x) = ``(logp * mask).sum(-1)``.  Padded positions are 0.
    """
    dev = _device(model)
    p_ids, p_mask = (t.to(dev) for t in left_pad(prompts, pad_id))
    c_ids, c_mask = (t.to(dev) for t in right_pad(completions, pad_id))
    ids, mask = torch.cat([p_ids, c_ids], 1), torch.cat([p_mask, c_mask], 1)
    logits = model(input_ids=ids, attention_mask=mask, position_ids=_positions(mask)).logits
    lp = p_ids.shape[1]
    logits = logits[:, lp - 1: lp - 1 + c_ids.shape[1]].float()
    logp = torch.log_softmax(logits, -1).gather(-1, c_ids[..., None]).squeeze(-1)
    return logp * c_mask, c_mask.to(logp.dtype)


@torch.no_grad()
def sample(policy, prompts: Sequence[Sequence[int]], *, eos_id: int, pad_id: int,
           max_new_tokens: int, ref=None, beta: float = 0.0, temperature: float = 1.0,
           generator: torch.Generator | None = None) -> list[list[int]]:
    """Sample completions (each ends with ``eos_id`` unless cut at ``max_new_tokens``).

    With ``beta > 0`` (and ``ref`` = μ) every token is drawn from the token-level geometric
    mixture softmax((1 − β)·logits_π + β·logits_μ), the approximation of π^{1−β} μ^β used for
    IPO-MD and Nash-MD-PG with LLMs (theory §6).  ``beta = 1`` samples from μ.
    """
    if not 0.0 <= beta <= 1.0:
        raise ValueError(f"beta = {beta!r}, must lie in [0, 1]")
    if beta > 0 and ref is None:
        raise ValueError("beta > 0 needs the reference model `ref`")
    models = [(policy, 1.0 - beta)] + ([(ref, beta)] if beta > 0 else [])
    dev = _device(policy)
    ids, mask = (t.to(dev) for t in left_pad(prompts, pad_id))
    pos = _positions(mask)
    caches, last = [], []
    for m, _ in models:
        out = m(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True)
        caches.append(out.past_key_values)
        last.append(out.logits[:, -1].float())
    done = torch.zeros(len(prompts), dtype=torch.bool, device=dev)
    steps = []
    for _ in range(max_new_tokens):
        logits = sum(w * torch.log_softmax(lg, -1) for (_, w), lg in zip(models, last))
        probs = torch.softmax(logits / temperature, -1)
        tok = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(-1).to(dev)
        tok = torch.where(done, torch.full_like(tok, pad_id), tok)
        steps.append(tok)
        done |= tok == eos_id
        if bool(done.all()):
            break
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], 1)
        pos = pos[:, -1:] + 1
        last = []
        for k, (m, _) in enumerate(models):
            out = m(input_ids=tok[:, None], attention_mask=mask, position_ids=pos,
                    past_key_values=caches[k], use_cache=True)
            caches[k] = out.past_key_values
            last.append(out.logits[:, -1].float())
    gen = torch.stack(steps, 1).tolist()
    result = []
    for row in gen:
        out_row = []
        for t in row:
            if t == pad_id:
                break
            out_row.append(t)
            if t == eos_id:
                break
        result.append(out_row)
    return result


# --- preference and reward models -----------------------------------------------------------


class PairwisePM(torch.nn.Module):
    """P(y ≻ y' | x) from a sequence classifier reading ``"x [SEP] y [SEP] y'"``.

    The output is symmetrised, P = ½[σ(f(x, y, y')) + 1 − σ(f(x, y', y))], so P(y ≻ y') +
    P(y' ≻ y) = 1 and P(y ≻ y) = ½ hold exactly (theory §1).
    """

    def __init__(self, model, tokenizer, max_length: int = 128):
        super().__init__()
        self.model, self.tokenizer, self.max_length = model, tokenizer, max_length

    def logits(self, prompts, ys, ys2) -> torch.Tensor:
        sep = self.tokenizer.sep_token
        texts = [f"{x} {sep} {y} {sep} {y2}" for x, y, y2 in zip(prompts, ys, ys2)]
        enc = self.tokenizer(texts, return_tensors="pt", padding=True, truncation=True,
                             max_length=self.max_length).to(_device(self.model))
        return self.model(**enc).logits[:, 0].float()

    def forward(self, prompts, ys, ys2) -> torch.Tensor:
        a = torch.sigmoid(self.logits(prompts, ys, ys2))
        b = torch.sigmoid(self.logits(prompts, ys2, ys))
        return 0.5 * (a + 1.0 - b)

    def pair_loss(self, prompts, ys, ys2, label: torch.Tensor) -> torch.Tensor:
        """Cross-entropy on both orders: label = 1 if y won."""
        la, lb = self.logits(prompts, ys, ys2), self.logits(prompts, ys2, ys)
        return 0.5 * (F.binary_cross_entropy_with_logits(la, label)
                      + F.binary_cross_entropy_with_logits(lb, 1.0 - label))


class RewardModel(torch.nn.Module):
    """Bradley–Terry reward r(x, y) from a sequence classifier reading ``"x [SEP] y"``."""

    def __init__(self, model, tokenizer, max_length: int = 128):
        super().__init__()
        self.model, self.tokenizer, self.max_length = model, tokenizer, max_length

    def forward(self, prompts, ys) -> torch.Tensor:
        sep = self.tokenizer.sep_token
        enc = self.tokenizer([f"{x} {sep} {y}" for x, y in zip(prompts, ys)],
                             return_tensors="pt", padding=True, truncation=True,
                             max_length=self.max_length).to(_device(self.model))
        return self.model(**enc).logits[:, 0].float()

    def prob(self, prompts, ys, ys2) -> torch.Tensor:
        """The BT preference σ(r(x, y) − r(x, y'))."""
        return torch.sigmoid(self(prompts, ys) - self(prompts, ys2))

    def pair_loss(self, prompts, ys, ys2, label: torch.Tensor) -> torch.Tensor:
        d = self(prompts, ys) - self(prompts, ys2)
        return F.binary_cross_entropy_with_logits(d, label)


def fit_pairs(model: PairwisePM | RewardModel, pairs: dict, *, steps: int, batch_size: int,
              lr: float, seed: int, log: Callable[[int, float], None] | None = None) -> list:
    """Train a PM or RM on ``pairs = {"x": [...], "y": [...], "y2": [...], "label": [...]}``."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    n, curve = len(pairs["x"]), []
    model.train()
    for step in range(steps):
        idx = rng.integers(n, size=batch_size)
        get = lambda k: [pairs[k][i] for i in idx]  # noqa: E731
        label = torch.tensor(get("label"), dtype=torch.float32, device=_device(model.model))
        loss = model.pair_loss(get("x"), get("y"), get("y2"), label)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        curve.append(float(loss.detach()))
        if log and (step % 50 == 0 or step == steps - 1):
            log(step, float(np.mean(curve[-50:])))
    model.eval()
    return curve


# --- the online trainer ---------------------------------------------------------------------


@dataclass
class AlignConfig:
    """One online alignment run (Calandriello et al. 2024, §6)."""

    method: str = field(default="online_ipo", metadata={"help": f"one of {METHODS}"})
    tau: float = field(default=1.0, metadata={"help": "KL-regularisation τ (DPO's β)"})
    beta: float = field(default=0.0, metadata={"help": "mixture weight of μ (ipo_md, nash_md_pg)"})
    steps: int = field(default=200, metadata={"help": "optimiser steps"})
    batch_size: int = field(default=32, metadata={"help": "prompts per step"})
    lr: float = field(default=1e-4, metadata={"help": "Adam learning rate"})
    adam_beta1: float = field(default=0.0, metadata={"help": "Adam β1 (0: no momentum, §8 note)"})
    max_new_tokens: int = field(default=16, metadata={"help": "longest sampled summary"})
    seed: int = field(default=0, metadata={"help": "sampling and batching seed"})
    log_every: int = field(default=20, metadata={"help": "steps between logged evaluations"})

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method = {self.method!r}, must be one of {METHODS}")
        if not self.tau > 0:
            raise ValueError(f"tau = {self.tau!r}, must be > 0")
        if not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"beta = {self.beta!r}, must lie in [0, 1]")
        if self.beta > 0 and self.method not in ("ipo_md", "nash_md_pg"):
            raise ValueError(f"beta > 0 is only used by ipo_md and nash_md_pg, not {self.method}")


def _reward_to_go(u: torch.Tensor) -> torch.Tensor:
    """Σ_{s ≥ t} u_s along the last axis."""
    return u.flip(-1).cumsum(-1).flip(-1)


def alignment_loss(cfg: AlignConfig, lp, rlp, mask, lp2, rlp2, mask2, score, score2=None):
    """The method's loss for a batch, from per-token log-probs of π (``lp``) and μ (``rlp``).

    * online_ipo / ipo_md / online_dpo / online_slic: the soft-label pair loss
      ``prefgame.losses.LOSSES[name](h, p, tau)`` with h = h_π(y, y') and p = PM(x, y, y').
    * nash_md_pg: ``prefgame.losses.nash_md_pg_token_loss`` with p = PM(x, y, y'), y' from the
      mixture.
    * rl: REINFORCE with the other sample as baseline (both samples y, y' ∼ π) and the KL to μ
      as a per-token penalty-to-go: A_t = r(y) − r(y') − τ Σ_{s≥t} u_s, through
      ``prefgame.losses.policy_gradient_loss``.
    """
    if cfg.method in _PAIRWISE:
        h = L.log_ratio_margin(lp.sum(-1), lp2.sum(-1), rlp.sum(-1), rlp2.sum(-1))
        return L.LOSSES[_PAIRWISE[cfg.method]](h, score, tau=cfg.tau).mean()
    if cfg.method == "nash_md_pg":
        return L.nash_md_pg_token_loss(lp, (lp - rlp).detach(), score, mask, tau=cfg.tau).mean()
    # rl
    losses = []
    for a, b, m, r, r2 in ((lp, rlp, mask, score, score2), (lp2, rlp2, mask2, score2, score)):
        adv = (r - r2)[:, None] - cfg.tau * _reward_to_go((a - b).detach() * m)
        losses.append((L.policy_gradient_loss(a, adv) * m).sum(-1))
    return 0.5 * (losses[0] + losses[1]).mean()


def train_online(cfg: AlignConfig, policy, ref, tokenizer, prompts: Sequence[str], *,
                 pm: PairwisePM | None = None, rm: RewardModel | None = None,
                 eval_fn: Callable[[object], dict] | None = None) -> list[dict]:
    """Train ``policy`` in place with ``cfg.method``; returns the log (one dict per log point).

    Each step draws ``batch_size`` prompts, samples y, y' (both ∼ π for the online methods and
    rl; both ∼ mixture for ipo_md; y ∼ π and y' ∼ mixture for nash_md_pg), scores them with the
    learned PM (or RM for rl), and takes one Adam step on :func:`alignment_loss`.  ``eval_fn``
    (called every ``log_every`` steps) adds evaluation numbers to the log; it is never used for
    gradients.
    """
    if cfg.method == "rl" and rm is None:
        raise ValueError("rl needs a reward model `rm`")
    if cfg.method != "rl" and pm is None:
        raise ValueError(f"{cfg.method} needs a preference model `pm`")
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    pad, eos = tokenizer.pad_token_id, tokenizer.eos_token_id
    enc = [tokenizer(p)["input_ids"] for p in prompts]
    opt = torch.optim.Adam(policy.parameters(), lr=cfg.lr, betas=(cfg.adam_beta1, 0.999))
    ref.eval()
    for prm in ref.parameters():
        prm.requires_grad_(False)
    log, acc, t0 = [], {"loss": [], "score": [], "kl_sample": []}, time.time()
    mix = cfg.beta if cfg.method in ("ipo_md", "nash_md_pg") else 0.0
    for step in range(cfg.steps + 1):
        if step % cfg.log_every == 0 or step == cfg.steps:
            entry = {"step": step, "time_s": round(time.time() - t0, 2)}
            for k, v in acc.items():
                entry[k] = float(np.mean(v)) if v else None
                v.clear()
            if eval_fn is not None:
                policy.eval()
                entry.update(eval_fn(policy))
            log.append(entry)
        if step == cfg.steps:
            break
        idx = rng.integers(len(prompts), size=cfg.batch_size)
        xb, xt = [enc[i] for i in idx], [prompts[i] for i in idx]
        policy.eval()
        kw = dict(eos_id=eos, pad_id=pad, max_new_tokens=cfg.max_new_tokens, generator=gen)
        y1 = sample(policy, xb, ref=ref, beta=mix if cfg.method == "ipo_md" else 0.0, **kw)
        y2 = sample(policy, xb, ref=ref, beta=mix, **kw)
        t1 = tokenizer.batch_decode(y1, skip_special_tokens=True)
        t2 = tokenizer.batch_decode(y2, skip_special_tokens=True)
        with torch.no_grad():
            if cfg.method == "rl":
                s1, s2 = rm(xt, t1), rm(xt, t2)
            else:
                s1, s2 = pm(xt, t1, t2), None
            rlp, rmask = completion_logprobs(ref, xb + xb, y1 + y2, pad)
        policy.train()
        lp, mask = completion_logprobs(policy, xb + xb, y1 + y2, pad)
        b = len(xb)
        loss = alignment_loss(cfg, lp[:b], rlp[:b], mask[:b], lp[b:], rlp[b:], mask[b:], s1, s2)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        opt.step()
        acc["loss"].append(float(loss.detach()))
        acc["score"].append(float(s1.mean()))
        acc["kl_sample"].append(float((lp[:b] - rlp[:b]).sum(-1).mean()))
    policy.eval()
    return log


def config_dict(cfg) -> dict:
    return asdict(cfg)
