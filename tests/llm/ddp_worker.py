"""A few online steps per method on tiny models, in one process of a ``torchrun`` job.

    torchrun --nproc_per_node 2 tests/llm/ddp_worker.py OUT_DIR

Every process writes ``OUT_DIR/rank<r>.pt``: the world size it saw, and per method its rollouts,
the gradient handed to the optimiser at each step and the weights after each step, so that
``test_distributed.py`` can check that the ranks agree and that one process reproduces them
from the same global batch.
"""

import os
import sys

import torch

torch.set_num_threads(1)

from prefgame.llm import (
    CallableJudge,
    OnlineConfig,
    OnlineTrainer,
    Policy,
    build_word_tokenizer,
    tiny_gpt2,
)

WORDS = "the cat sat on a mat dog ran far away good bad fine short long text"
PROMPTS = [
    "the cat",
    "a dog ran",
    "good mat",
    "far away",
    "the mat",
    "bad dog",
    "fine text",
    "short long",
]
METHODS = {"online_ipo": 0.0, "ipo_md": 0.25, "inpo": 0.0}  # method: β


def judge_fn(x, y, y2):
    """A soft, asymmetric preference for the completion with more "good"."""
    d = y.split().count("good") - y2.split().count("good") + 0.1 * (len(y2) - len(y))
    return 1 / (1 + 2.718281828 ** (-d))


def config(method: str, out: str, batch_size: int, micro: int) -> OnlineConfig:
    return OnlineConfig(
        method=method,
        beta=METHODS[method],
        tau=0.5,
        batch_size=batch_size,
        micro_batch_size=micro,
        max_steps=3,
        max_new_tokens=4,
        lr=1e-2,
        output_dir=out,
        progress_bar=False,
        log_tensorboard=False,
        win_rate_every=0,
        snapshot_every=2 if method == "inpo" else 0,  # INPO refreshes π_t before step 2
    )


def full(t: torch.Tensor) -> torch.Tensor:
    """A plain tensor: an FSDP2 shard (DTensor) is all-gathered (every rank calls this)."""
    t = t.detach()
    return (t.full_tensor() if hasattr(t, "full_tensor") else t).clone()


def tokenizer():
    return build_word_tokenizer([WORDS])


def main(out: str) -> None:
    tok = tokenizer()
    result = {"world": int(os.environ.get("WORLD_SIZE", "1"))}
    for method in METHODS:
        tr = OnlineTrainer(
            config(method, os.path.join(out, method), 2, 1),
            Policy(tiny_gpt2(tok), tok),
            CallableJudge(judge_fn),
            PROMPTS,
        )
        rollouts, grads, weights = [], [], []
        collect = tr.collect

        def record(*args, collect=collect, rollouts=rollouts, **kw):
            ro = collect(*args, **kw)
            rollouts.append(ro)
            return ro

        tr.collect = record
        params = [q for q in tr.policy.model.parameters() if q.requires_grad]
        tr.optimizer.optimizer.register_step_pre_hook(
            lambda opt, a, k, params=params, grads=grads: grads.append(
                [full(q.grad) for q in params]
            )
        )
        tr.callbacks.append(
            lambda t, logs, weights=weights: weights.append(
                {k: full(v) for k, v in t.policy.model.state_dict().items()}
            )
        )
        tr.train()
        # resuming from the checkpoint just written restores this process's own generator
        again = OnlineTrainer(
            config(method, os.path.join(out, method), 2, 1).__class__(
                **{**tr.cfg.to_dict(), "resume_from": "latest"}
            ),
            Policy(tiny_gpt2(tok, seed=5), tok),
            CallableJudge(judge_fn),
            PROMPTS,
        )
        resumed = (
            again.step_count == 3
            and torch.equal(again.sample_gen.get_state(), tr.sample_gen.get_state())
            and all(
                torch.equal(full(v), full(again.policy.model.state_dict()[k]))
                for k, v in tr.policy.model.state_dict().items()
            )
        )
        snap = tr._snapshots.get("anchor")
        result[method] = {
            "snapshot": None
            if snap is None
            else {k: full(v) for k, v in snap.model.state_dict().items()},
            "distributed_type": str(tr.accelerator.distributed_type),
            # the fraction of the weights this rank holds (FSDP: about a half)
            "local_share": sum(
                (q.to_local() if hasattr(q, "to_local") else q).numel()
                for q in tr.model.parameters()
            )
            / sum(q.numel() for q in tr.model.parameters()),
            "num_processes": tr.accelerator.num_processes,
            "rank": tr.accelerator.process_index,
            "rollouts": rollouts,
            "grads": grads,
            "weights": weights,
            "resumed": resumed,
        }
        rank = tr.accelerator.process_index
    torch.save(result, os.path.join(out, f"rank{rank}.pt"))


if __name__ == "__main__":
    main(sys.argv[1])
