"""Fingerprint of the LLM trainer: every method for 3 steps on a tiny GPT-2, printed as JSON
(per-step logs and a hash of the final weights).  Two checkouts that print the same JSON train
identically, so a refactor that should change structure only can be checked against the code
before it:

    git archive <old commit> | tar -x -C /tmp/old
    PYTHONPATH=/tmp/old python tools/llm_fingerprint.py > old.json
    PYTHONPATH=. python tools/llm_fingerprint.py > new.json && cmp old.json new.json

Covers τ's ``inverse`` schedule, the cosine learning rate, gradient accumulation (micro-batches
of 2), the β-mixture samplers and the win rate against μ.  CPU, about a minute.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile

import torch

from prefgame.llm import (
    CallableJudge,
    OnlineConfig,
    OnlineTrainer,
    Policy,
    build_word_tokenizer,
    tiny_gpt2,
)

WORDS = [
    "the",
    "cat",
    "sat",
    "on",
    "a",
    "mat",
    "dog",
    "ran",
    "far",
    "away",
    "good",
    "bad",
    "fine",
    "short",
    "long",
    "text",
]
METHODS = ("online_ipo", "ipo_md", "online_dpo", "online_slic", "nash_md_pg", "rl")


def _good(y: str) -> int:
    return y.split().count("good")


class _Judge(CallableJudge):
    """More "good" wins (ties ½); the reward of RL is the count itself."""

    def reward(self, prompts: list[str], completions: list[str]) -> torch.Tensor:
        return torch.tensor([float(_good(y)) for y in completions])


def fingerprint(lr_schedule: str = "cosine") -> dict:
    """``{method: {"hash": weights, "hist": logs without timings}}`` of 3-step runs."""
    torch.set_num_threads(1)
    tok = build_word_tokenizer([" ".join(WORDS)])
    prompts = [" ".join(WORDS[i : i + 2 + i % 3]) for i in range(8)]
    judge = _Judge(lambda x, y, y2: 0.5 + 0.5 * ((_good(y) > _good(y2)) - (_good(y) < _good(y2))))
    out = {}
    for m in METHODS:
        with tempfile.TemporaryDirectory() as d:
            cfg = OnlineConfig(
                method=m,
                beta=0.25 if m in ("ipo_md", "nash_md_pg") else 0.0,
                tau=0.5,
                tau_schedule="inverse",
                batch_size=4,
                micro_batch_size=2,
                max_steps=3,
                max_new_tokens=5,
                lr=1e-2,
                lr_schedule=lr_schedule,
                output_dir=d,
                progress_bar=False,
                log_tensorboard=False,
                win_rate_every=2,
                seed=3,
            )
            torch.manual_seed(0)
            policy = Policy(tiny_gpt2(tok), tok)
            hist = OnlineTrainer(cfg, policy, judge, prompts).train()
        weights = b"".join(v.detach().numpy().tobytes() for v in policy.model.state_dict().values())
        out[m] = {
            "hash": hashlib.sha256(weights).hexdigest()[:16],
            "hist": [
                {k: v for k, v in r.items() if k not in ("step_seconds", "tokens_per_s")}
                for r in hist
            ],
        }
    return out


if __name__ == "__main__":
    print(json.dumps(fingerprint(*sys.argv[1:2]), indent=1))
