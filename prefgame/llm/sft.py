"""Supervised fine-tuning (SFT): the policy that alignment starts from and regularises towards.

Calandriello et al. (2024, §6) start every method from a T5 policy fine-tuned on human
summaries; that policy is also the reference μ.  SFT minimises the mean next-token negative
log-likelihood of the target completions,

    L(θ) = − Σ_i Σ_t log π_θ(y_{i,t} | x_i, y_{i,<t})  /  Σ_i |y_i|        (EOS included),

built from the same :func:`~prefgame.llm.policy.token_logprobs` that every alignment loss uses,
so the tokenisation of prompts and completions is identical in SFT and in alignment.

The schedule is warm-up, constant, then decay (``transformers.get_wsd_schedule``): small models
learn to *copy* from the prompt late and suddenly, and a constant phase followed by a decay
reaches a lower loss than a cosine of the same length.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch

from prefgame.llm.policy import (
    Policy,
    SequenceBatch,
    encode_completions,
    encode_prompts,
    token_logprobs,
)

__all__ = ["sft_loss", "train_sft"]

#: ``batches(rng, n) -> (prompts, targets)``: n fresh training examples (a stream of new
#: examples, or a sample from a fixed list).
BatchFn = Callable[[np.random.Generator, int], tuple[Sequence[str], Sequence[str]]]


def sft_loss(
    policy: Policy, prompts: Sequence[str], targets: Sequence[str], *, max_prompt_length: int = 512
) -> torch.Tensor:
    """Mean next-token NLL of ``targets`` (EOS appended) given ``prompts`` (formula above)."""
    if len(prompts) != len(targets) or not prompts:
        raise ValueError(
            f"need as many prompts as targets (> 0), got {len(prompts)} and {len(targets)}"
        )
    dev = policy.device
    p_ids, p_mask = encode_prompts(
        policy.tokenizer, prompts, max_length=max_prompt_length, device=dev
    )
    c_ids, c_mask = encode_completions(policy.tokenizer, targets, device=dev)
    batch = SequenceBatch(
        prompt_ids=p_ids, prompt_mask=p_mask, completion_ids=c_ids, completion_mask=c_mask
    )
    return -token_logprobs(policy, batch).sum() / c_mask.sum()


def train_sft(
    policy: Policy,
    batches: BatchFn,
    *,
    steps: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    warmup_steps: int = 100,
    decay_frac: float = 0.3,
    weight_decay: float = 0.01,
    max_grad_norm: float = 1.0,
    seed: int = 0,
    max_prompt_length: int = 512,
    callback: Callable[[int, float], None] | None = None,
) -> dict:
    """Fit ``policy`` by AdamW on :func:`sft_loss` for ``steps`` steps of ``batch_size``.

    Learning rate: linear warm-up for ``warmup_steps``, constant, then a cosine decay to 0 over
    the last ``decay_frac`` of the steps.  ``callback(step, loss)`` runs after every step.
    Returns ``{"steps", "final_nll_per_token", "curve", "time_s", "params"}``; the model is left
    in eval mode.
    """
    for name, v in (("steps", steps), ("batch_size", batch_size), ("warmup_steps", warmup_steps)):
        if (
            isinstance(v, bool)
            or not isinstance(v, int)
            or v < (0 if name == "warmup_steps" else 1)
        ):
            raise ValueError(
                f"{name} = {v!r}, must be an integer >= {0 if name == 'warmup_steps' else 1}"
            )
    if not 0.0 <= decay_frac <= 1.0:
        raise ValueError(f"decay_frac = {decay_frac!r}, must lie in [0, 1]")
    if not lr > 0:
        raise ValueError(f"lr = {lr!r}, must be > 0")
    from transformers import get_wsd_schedule

    model = policy.model
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    params = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    warm = min(warmup_steps, steps)
    decay = min(round(decay_frac * steps), steps - warm)
    sched = get_wsd_schedule(
        opt, num_warmup_steps=warm, num_decay_steps=decay, num_stable_steps=steps - warm - decay
    )
    curve: list[float] = []
    t0 = time.time()
    model.train()
    for step in range(steps):
        xs, ys = batches(rng, batch_size)
        loss = sft_loss(policy, list(xs), list(ys), max_prompt_length=max_prompt_length)
        if not torch.isfinite(loss):
            raise FloatingPointError(f"SFT loss is {float(loss)} at step {step}")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if max_grad_norm:
            torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        opt.step()
        sched.step()
        curve.append(float(loss.detach()))
        if callback is not None:
            callback(step + 1, curve[-1])
    model.eval()
    tail = curve[-max(1, min(50, len(curve))) :]
    return {
        "steps": steps,
        "final_nll_per_token": float(np.mean(tail)),
        "curve": curve,
        "time_s": time.time() - t0,
        "params": sum(p.numel() for p in model.parameters()),
    }
