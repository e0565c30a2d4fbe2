"""Seconds per online step under DDP, one process per GPU (or CPU gloo ranks), and a check
that the ranks hold identical weights afterwards.

    torchrun --nproc_per_node <GPUs> benchmarks/ddp_step.py --model-size 100m --batch 16
    torchrun --nproc_per_node 2 benchmarks/ddp_step.py --device cpu --model-size 3m --steps 2

Every rank builds the same GPT-2-style policy (seeded, ``online_step.MODEL_SIZES``) and a tiny
reward model, puts them on its own device and runs ``--warmup`` + ``--steps`` optimiser steps of
``--method`` with ``--batch`` prompts per rank (global batch = ranks × batch).  Rank 0 prints one
``RESULT {json}`` line: median seconds per step, generated tokens per second summed over ranks,
peak GPU memory (max over ranks), and ``ranks_identical`` (max |weight difference| across
ranks is 0).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))


def main(argv=None) -> int:
    import torch
    import torch.distributed as dist
    from online_step import MODEL_SIZES, _vocab_words

    from prefgame.llm import (
        OnlineConfig,
        OnlineTrainer,
        Policy,
        RewardModel,
        build_word_tokenizer,
        tiny_gpt2,
        tiny_sequence_classifier,
    )

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--method", default="online_ipo")
    p.add_argument("--model-size", choices=sorted(MODEL_SIZES), default="100m")
    p.add_argument("--batch", type=int, default=16, help="prompts per rank and step")
    p.add_argument("--prompt-len", type=int, default=64)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--precision", choices=("bf16", "fp32"), default="bf16")
    p.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    p.add_argument("--out", default="")
    args = p.parse_args(argv)

    local = int(os.environ.get("LOCAL_RANK", "0"))
    if args.device == "cuda":
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    else:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
        device = torch.device("cpu")
    words = _vocab_words(252)
    tok = build_word_tokenizer([" ".join(words)], max_vocab=256)
    n_pos = max(128, args.prompt_len + args.new_tokens + 8)
    policy = Policy(
        tiny_gpt2(tok, **MODEL_SIZES[args.model_size], n_positions=n_pos, seed=0).to(device), tok
    )
    rm = RewardModel(
        tiny_sequence_classifier(tok, n_positions=n_pos, seed=1).to(device).eval(), tok
    )
    rng = random.Random(0)
    prompts = [" ".join(rng.choice(words) for _ in range(args.prompt_len)) for _ in range(512)]
    beta = 0.125 if args.method in ("ipo_md", "nash_md_pg") else 0.0
    with tempfile.TemporaryDirectory() as tmp:
        cfg = OnlineConfig(
            method=args.method,
            beta=beta,
            tau=0.1,
            batch_size=args.batch,
            max_new_tokens=args.new_tokens,
            max_prompt_length=args.prompt_len,
            lr=1e-6,
            max_steps=10**6,
            win_rate_every=0,
            progress_bar=False,
            log_tensorboard=False,
            output_dir=tmp,
            bf16=args.precision == "bf16",
        )
        tr = OnlineTrainer(cfg, policy, rm, prompts)
        acc = tr.accelerator
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats()
        times, tok_s = [], []
        for i in range(args.warmup + args.steps):
            acc.wait_for_everyone()
            t0 = time.perf_counter()
            logs = tr.step()
            if device.type == "cuda":
                torch.cuda.synchronize()
            if i >= args.warmup:
                times.append(time.perf_counter() - t0)
                tok_s.append(logs["tokens_per_s"])
        flat = torch.cat([q.detach().float().flatten() for q in policy.model.parameters()])
        peak = torch.tensor(
            [torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else 0.0],
            device=device,
        )
        tps = torch.tensor([statistics.median(tok_s)], device=device)
        diff = torch.zeros(1, device=device)
        if acc.num_processes > 1:
            ref = flat.clone()
            dist.broadcast(ref, 0)
            diff = (flat - ref).abs().max().reshape(1)
            for t, op in (
                (peak, dist.ReduceOp.MAX),
                (tps, dist.ReduceOp.SUM),
                (diff, dist.ReduceOp.MAX),
            ):
                dist.all_reduce(t, op=op)
        result = {
            "ranks": acc.num_processes,
            "distributed_type": str(acc.distributed_type),
            "device": torch.cuda.get_device_name(local) if device.type == "cuda" else "cpu",
            "method": args.method,
            "model_size": args.model_size,
            "policy_params": sum(q.numel() for q in policy.model.parameters()),
            "batch_per_rank": args.batch,
            "new_tokens": args.new_tokens,
            "precision": args.precision,
            "seconds_per_step": statistics.median(times),
            "sampling_tokens_per_s_all_ranks": float(tps),
            "peak_memory_gib": float(peak),
            "ranks_identical": float(diff) == 0.0,
            "max_weight_diff_across_ranks": float(diff),
        }
        if acc.is_main_process:
            print("RESULT " + json.dumps(result), flush=True)
            if args.out:
                Path(args.out).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
