"""Thin adapter: the LLM pieces the FactSum pipeline used before ``prefgame.llm`` landed.

**Why this file exists.**  The pipeline is meant to run on ``prefgame.llm``.  When this
reproduction was started that package held only its ``__init__`` (see
``/work/notes/requests-task.md``), so SFT, sampling for the PM/RM data, and the PM/RM themselves
were written here, in one place and with the backend's vocabulary.  The *alignment* step --
all six methods -- runs on the backend's ``prefgame.llm.OnlineTrainer`` (``common.run_align``);
there is no second trainer and no copied loss.  Replacing the rest by ``prefgame.llm``
(``generate``, ``token_logprobs``, ``PairwisePreferenceModel``, ``RewardModel``,
``train_judge``) is a change confined to this file and ``common.py``.

Contents (decoder-only Hugging Face models, prompts left-padded, completions right-padded):

* :func:`completion_logprobs` -- per-token log π(y_t | x, y_<t) of completions, ``[B, T]``.
* :func:`sample` -- y ∼ π, or the token-level mixture softmax((1−β)·logits_π + β·logits_μ)
  (Calandriello et al. §5 / NLHF §7), with a KV cache for both models.
* :class:`PairwisePM`, :class:`RewardModel` -- a transformer that reads (x, y, y') -> P(y ≻ y'),
  and one that reads (x, y) -> r(x, y); :func:`fit_pairs` trains either on labelled pairs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

METHODS = ("online_ipo", "ipo_md", "online_dpo", "nash_md_pg", "online_slic", "rl")


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
        sep = self.tokenizer.sep_token or "\n\n"  # hub tokenizers may have none
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
        sep = self.tokenizer.sep_token or "\n\n"  # hub tokenizers may have none
        enc = self.tokenizer([f"{x} {sep} {y}" for x, y in zip(prompts, ys)],
                             return_tensors="pt", padding=True, truncation=True,
                             max_length=self.max_length).to(_device(self.model))
        return self.model(**enc).logits[:, 0].float()

    def reward(self, prompts, ys) -> torch.Tensor:
        """r(x, y) (the name ``prefgame.llm.OnlineTrainer`` calls for method "rl")."""
        return self(prompts, ys)

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
        x, y, y2, lab = ([pairs[k][i] for i in idx] for k in ("x", "y", "y2", "label"))
        label = torch.tensor(lab, dtype=torch.float32, device=_device(model.model))
        loss = model.pair_loss(x, y, y2, label)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        curve.append(float(loss.detach()))
        if log and (step % 50 == 0 or step == steps - 1):
            log(step, float(np.mean(curve[-50:])))
    model.eval()
    return curve
