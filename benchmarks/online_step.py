"""Seconds per online step: prefgame against TRL, on the same tiny GPT-2 and reward model (CPU).

    make bench-envs                                     # the pinned TRL venvs in .bench/
    python benchmarks/online_step.py --preset long      # generation-dominated: 25M policy,
        # 64-token prompts, 128 new tokens, batch 8, fp32 for everyone; FLOP floor printed
    python benchmarks/online_step.py                    # full comparison (needs the TRL venvs)
    python benchmarks/online_step.py --precision fp32   # everyone in fp32
    python benchmarks/online_step.py --trl-defaults     # TRL exactly as configured by default
    python benchmarks/online_step.py --no-trl112        # skip the TRL 1.12 Nash-MD comparison
    python benchmarks/online_step.py --rounds 1 --steps 2   # smoke run
    python benchmarks/online_step.py --exactness-only   # max |Δ log p| of each mixture only
    python benchmarks/online_step.py --device cuda --model-size 100m --batch 32 --new-tokens 64
        # on a GPU: seconds/step, sampling tokens/s and peak memory, prefgame only

Setting (the same for every contestant): a ~3.3M-parameter GPT-2-style policy (4 layers,
d_model 256, 256-token word vocabulary, built locally), its initial weights as the reference, a
tiny GPT-2 reward model; ``--batch`` prompts of ``--prompt-len`` tokens per step, two completions
per prompt for the pairwise methods, ``--new-tokens`` new tokens at most, temperature 1, AdamW,
``--threads`` torch threads, ``--precision`` bf16 autocast (TRL's default; prefgame's ``bf16``
option) or fp32 for everyone.  TRL's gradient checkpointing (on by default) is switched off so
both do the same computation, unless ``--trl-defaults``.
The preference is derived from the reward model: TRL labels the higher-reward completion as
chosen; prefgame uses P = σ(r − r') (the same reward model, soft label).

Contestants, each run in its own subprocess and environment, alternately, ``--rounds`` times:

* ``prefgame online_ipo``  vs  TRL ``OnlineDPOTrainer(loss_type="ipo")``
  (``trl.experimental.online_dpo``, in ``--trl-python``'s venv);
* ``prefgame nash_md_pg`` and ``prefgame ipo_md`` (β = 0.125)  vs  ``trl==1.12.0``'s
  ``NashMDTrainer`` (mixture coefficient 0.125; in ``--trl112-python``'s venv);
* the mixture sampler against plain sampling (seconds per decoding step, same batch);
* what each mixture samples (once, before the timings; ``--exactness-only`` for just this):
  prefgame's KV-cached mixture sampler and TRL 1.12's ``GeometricMixtureWrapper`` each draw
  ``--batch`` completions at β = 0.125 (fp32, π a second seed of the policy, μ the policy),
  and the log-prob each assigns to every generated token is compared with the exact geometric
  mixture softmax((1 − β)·logits_π + β·logits_μ) recomputed by one uncached forward of each
  model over [prompt | completion]: max |Δ log p| at the first token and over all tokens.

Each worker times ``--steps`` optimiser steps after ``--warmup`` untimed ones and reports the
median; every ratio is taken within a round (the contestants of one round ran back to back) and
the script reports the median over rounds.  The last line printed is
``speedup_vs_trl=X speedup_vs_trl_nash_md=Y``: X = TRL online DPO (ipo) s/step ÷ prefgame online
IPO s/step, Y = TRL 1.12 Nash-MD s/step ÷ the slower of prefgame IPO-MD and Nash-MD-PG.

The FLOP floor (``flops`` worker, prefgame's environment, once per round): the model FLOPs of
one prefgame step as it executes them (sampling: prompt prefill and one decoding step per new
token for π, and for μ where the mixture runs it; the reference forward; the training forward
and backward = 3 × forward), completions counted at their padded length, each phase divided by
the matmul rate this machine reaches *at that phase's shapes and precision* (the four matmuls
of a GPT-2 block, M = rows × tokens of the phase, best of several repeats).  The step's
fraction of the floor is floor seconds ÷ measured seconds.

The TRL environments are ``.bench/trl116`` and ``.bench/trl112`` under the repository root
(``make bench-envs``), or ``--trl-python`` / ``--trl112-python``.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
REPO = HERE.parent.parent

#: Policy sizes: "3m" (3.26M parameters with the 256-word vocabulary), "25m" (25.5M, the
#: generation-dominated CPU setting) and "100m" (~85M, the GPU one).
MODEL_SIZES = {
    "3m": {"n_layer": 4, "n_embd": 256, "n_head": 4},
    "25m": {"n_layer": 8, "n_embd": 512, "n_head": 8},
    "100m": {"n_layer": 12, "n_embd": 768, "n_head": 12},
}

WORDS = [
    "the",
    "a",
    "cat",
    "dog",
    "sat",
    "ran",
    "on",
    "under",
    "mat",
    "rug",
    "far",
    "away",
    "near",
    "good",
    "bad",
    "fine",
    "short",
    "long",
    "text",
    "summary",
    "post",
    "reddit",
    "story",
    "about",
    "my",
    "friend",
    "and",
    "i",
    "went",
    "to",
    "see",
    "when",
    "it",
    "was",
    "very",
    "not",
    "so",
    "then",
    "we",
    "said",
    "that",
    "this",
    "is",
    "what",
    "you",
    "think",
    "how",
    "why",
    "who",
    "where",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "day",
    "night",
    "week",
    "year",
    "time",
    "home",
    "work",
    "school",
    "car",
    "bus",
    "road",
    "city",
    "town",
    "house",
    "room",
    "door",
    "window",
    "table",
    "chair",
    "food",
    "water",
    "coffee",
    "tea",
    "bread",
]


def _vocab_words(n: int) -> list[str]:
    words = list(dict.fromkeys(WORDS))
    i = 0
    while len(words) < n:
        words.append(f"w{i}")
        i += 1
    return words[:n]


# --- set-up (prefgame's environment) -----------------------------------------------------------


def setup(workdir: Path, args) -> dict:
    """Build tokenizer, policy, reward model and prompts once; save them for every worker."""
    import random

    import torch

    sys.path.insert(0, str(REPO))
    from prefgame.llm import build_word_tokenizer, tiny_gpt2, tiny_sequence_classifier

    words = _vocab_words(args.vocab - 4)
    tok = build_word_tokenizer([" ".join(words)], max_vocab=args.vocab)
    tok.padding_side = "left"
    size = MODEL_SIZES[args.model_size]
    # every position a contestant can reach.  TRL 1.12's mixture generation (use_cache=False,
    # under transformers 5.24) feeds GPT-2 position ids up to 2 × (prompt + completion) − 1
    # (measured: 63 for 16 + 16 tokens), and crashed with "IndexError: index out of range" in
    # the position embedding when n_positions only covered prompt + completion
    n_pos = 2 * (args.prompt_len + args.new_tokens) + 16
    policy = tiny_gpt2(tok, **size, n_positions=n_pos, seed=0)
    rm = tiny_sequence_classifier(tok, n_layer=2, n_embd=64, n_head=2, n_positions=n_pos, seed=1)
    rng = random.Random(0)
    prompts = [" ".join(rng.choice(words) for _ in range(args.prompt_len)) for _ in range(256)]
    # π of the mixture-exactness check (:func:`worker_exact_prefgame`): the same architecture,
    # another seed, so that π ≠ μ (the benchmark's π starts equal to μ, where every mixture is π)
    pi = tiny_gpt2(tok, **size, n_positions=n_pos, seed=2)
    for name, model in (("policy", policy), ("rm", rm), ("policy_pi", pi)):
        model.save_pretrained(workdir / name)
        tok.save_pretrained(workdir / name)
        # a class name that transformers 4.x (TRL 1.12's venv) also knows
        cfg_path = workdir / name / "tokenizer_config.json"
        cfg = json.loads(cfg_path.read_text())
        cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
        cfg_path.write_text(json.dumps(cfg))
    (workdir / "prompts.json").write_text(json.dumps(prompts))
    n_tok = max(len(tok(x, add_special_tokens=True)["input_ids"]) for x in prompts)
    if n_tok > args.prompt_len + 8:
        raise RuntimeError(f"prompts encode to {n_tok} tokens, more than --prompt-len + 8")
    n_params = sum(p.numel() for p in policy.parameters())
    del torch
    return {
        "policy_params": n_params,
        "vocab": len(tok),
        "rm_params": sum(p.numel() for p in rm.parameters()),
    }


# --- workers ----------------------------------------------------------------------------------


#: the clock of every timing: "cpu" (this process's CPU seconds, all its threads: on a machine
#: shared with other jobs, what an idle machine would take, without the time spent waiting for
#: a core) or "wall"; set from --clock in every worker
CLOCK = {"fn": time.process_time}


def _now() -> float:
    return CLOCK["fn"]()


def _timed(step, warmup: int, steps: int) -> tuple[list[float], list[float]]:
    """(clock seconds, wall seconds) of each timed step."""
    times, walls = [], []
    for i in range(warmup + steps):
        t0, w0 = _now(), time.perf_counter()
        step()
        if i >= warmup:
            times.append(_now() - t0)
            walls.append(time.perf_counter() - w0)
    return times, walls


def prefgame_trainer(args):
    """prefgame's ``OnlineTrainer`` for ``args.method`` on the policy, reward model and prompts
    that :func:`setup` saved in ``args.dir`` (β = 0.125 for the mixture methods)."""
    sys.path.insert(0, str(REPO))
    from prefgame.llm import OnlineConfig, OnlineTrainer, RewardModel, load_pretrained_policy

    d = Path(args.dir)
    prompts = json.loads((d / "prompts.json").read_text())
    policy = load_pretrained_policy(str(d / "policy"), device=args.device)
    judge = RewardModel.from_pretrained(str(d / "rm"))
    judge.model.to(args.device)
    cfg = OnlineConfig(
        method=args.method,
        beta=0.125 if args.method in ("ipo_md", "nash_md_pg") else 0.0,
        tau=args.tau,
        batch_size=args.batch,
        max_new_tokens=args.new_tokens,
        max_prompt_length=args.prompt_len,
        lr=1e-6,
        max_steps=10**6,
        win_rate_every=0,
        progress_bar=False,
        log_tensorboard=False,
        output_dir=str(d / f"out-{args.method}"),
        max_grad_norm=1.0,
        bf16=args.precision == "bf16",
    )
    return OnlineTrainer(cfg, policy, judge, prompts)


def worker_prefgame(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    trainer = prefgame_trainer(args)
    lengths, tok_s = [], []

    def step():
        logs = trainer.step()
        if cuda:
            torch.cuda.synchronize()
        lengths.append(logs["gen_len"])
        tok_s.append(logs["tokens_per_s"])

    times, walls = _timed(step, args.warmup, args.steps)
    out = {
        "seconds_per_step": statistics.median(times),
        "wall_seconds_per_step": statistics.median(walls),
        "times": times,
        "gen_len": statistics.mean(lengths),
        "sampling_tokens_per_s": statistics.median(tok_s[args.warmup :]),
    }
    if cuda:
        out["peak_memory_gib"] = torch.cuda.max_memory_allocated() / 2**30
    return out


def worker_mixture(args) -> dict:
    """Seconds per decoding step of the mixture sampler (β = 0.5) vs plain sampling (β = 0)."""
    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(REPO))
    from prefgame.llm import encode_prompts, generate, load_pretrained_policy

    d = Path(args.dir)
    prompts = json.loads((d / "prompts.json").read_text())[: 2 * args.batch]
    policy = load_pretrained_policy(str(d / "policy"), device=args.device)
    ref = policy.reference()
    ids, mask = encode_prompts(
        policy.tokenizer, prompts, max_length=args.prompt_len, device=args.device
    )
    gen = torch.Generator(device=args.device).manual_seed(0)
    per_step = {0.0: [], 0.5: []}
    autocast = torch.autocast(
        args.device.split(":")[0], dtype=torch.bfloat16, enabled=args.precision == "bf16"
    )
    for i in range(args.warmup + args.steps):
        for beta in (0.0, 0.5):
            t0 = _now()
            with autocast:
                b = generate(
                    policy,
                    ids,
                    mask,
                    ref=ref,
                    beta=beta,
                    max_new_tokens=args.new_tokens,
                    generator=gen,
                )
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            dt = _now() - t0
            if i >= args.warmup:
                per_step[beta].append(dt / b.completion_ids.shape[1])
    plain, mix = statistics.median(per_step[0.0]), statistics.median(per_step[0.5])
    return {"plain_s_per_token_step": plain, "mixture_s_per_token_step": mix, "ratio": mix / plain}


def _block_flops(d: int, ctx: float) -> float:
    """Forward FLOPs of one GPT-2 block for one token attending to ``ctx`` positions:
    2·(3d² + d² + 4d² + 4d²) for the four matmuls + 2·2·d·ctx for QKᵀ and AV."""
    return 24 * d * d + 4 * d * ctx


def _fwd_flops(n_layer: int, d: int, vocab: int, rows: int, ctx0: int, n: int, heads: int) -> float:
    """Forward FLOPs of ``rows`` sequences feeding ``n`` tokens at positions ctx0+1..ctx0+n
    (each attends to itself and everything before), with ``heads`` LM-head outputs per row."""
    mean_ctx = ctx0 + (n + 1) / 2
    return rows * (n_layer * n * _block_flops(d, mean_ctx) + heads * 2 * d * vocab)


def step_flops(
    method: str, n_layer: int, d: int, vocab: int, b: int, lp: int, t: int, ref_from_sampler: bool
) -> dict:
    """Model FLOPs of one prefgame step by phase, as executed (padded to ``t`` tokens).

    Pairwise methods (online IPO, IPO-MD): 2b rows sharing b prompts; the sampler prefills
    each prompt once and decodes t − 1 steps of 2b rows (π; and μ for the mixture); the μ
    forward and the training forward run each prompt once and 2b × (t − 1) completion tokens
    (the last token is predicted, never fed), 2b × t LM-head outputs.  IPO-MD skips the μ
    forward where the trainer takes log μ from the sampler (``ref_from_sampler``: fp32 at
    temperature 1).  Nash-MD-PG: y ~ π and y' ~ mixture in one batch: π prefills each prompt
    once and decodes 2b rows, μ prefills and decodes the b rows of y'; the μ and training
    forwards run on the b rows of y only, one full forward each.  Training = forward +
    backward = 3 × forward.
    Returns ``{phase: (flops, rows_per_matmul)}``.
    """
    f = functools.partial(_fwd_flops, n_layer, d, vocab)
    if method in ("online_ipo", "ipo_md"):
        models = 2 if method == "ipo_md" else 1
        prefill = f(b, 0, lp, 1)
        decode = f(2 * b, lp, t - 1, 1)
        fwd = f(b, 0, lp, 0) + f(2 * b, lp, t - 1, t)
        out = {
            "sampling prefill": (models * prefill, b * lp),
            "sampling decode": (models * decode, 2 * b),
            "reference forward": (fwd, 2 * b * t),
            "training fwd+bwd": (3 * fwd, 2 * b * t),
        }
        if method == "ipo_md" and ref_from_sampler:
            del out["reference forward"]
        return out
    if method == "nash_md_pg":
        prefill = f(b, 0, lp, 1)
        fwd = f(b, 0, lp + t, t + 1)
        return {
            "sampling prefill": (2 * prefill, b * lp),
            "sampling decode (π, y and y')": (f(2 * b, lp, t - 1, 1), 2 * b),
            "sampling decode (μ, y')": (f(b, lp, t - 1, 1), b),
            "reference forward": (fwd, b * (lp + t)),
            "training fwd+bwd": (3 * fwd, b * (lp + t)),
        }
    raise ValueError(method)


def worker_flops(args) -> dict:
    """Matmul rate (FLOP/s) of a GPT-2 block's four matmuls at each phase's row count, in the
    benchmark's precision, and the resulting floor (seconds) of each prefgame method's step."""
    import torch

    torch.set_num_threads(args.threads)
    size = MODEL_SIZES[args.model_size]
    d, n_layer = size["n_embd"], size["n_layer"]
    dev = torch.device(args.device)
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    gen = torch.Generator().manual_seed(0)
    ws = [torch.randn(d, k * d, generator=gen).to(dev, dtype) for k in (3, 1, 4)]
    w2 = torch.randn(4 * d, d, generator=gen).to(dev, dtype)
    rates: dict[int, float] = {}

    def rate(m: int) -> float:
        if m not in rates:
            x = torch.randn(m, d, generator=gen).to(dev, dtype)
            h = torch.randn(m, 4 * d, generator=gen).to(dev, dtype)

            def block():
                for w in ws:
                    x @ w
                h @ w2
                if dev.type == "cuda":
                    torch.cuda.synchronize()

            block()
            reps = max(3, int(2e9 / (24 * m * d * d)))  # ~2 GFLOP per timing
            best = float("inf")
            for _ in range(5):
                t0 = _now()
                for _ in range(reps):
                    block()
                best = min(best, (_now() - t0) / reps)
            rates[m] = 24 * m * d * d / best
        return rates[m]

    out = {}
    vocab = args.vocab
    for method in ("online_ipo", "ipo_md", "nash_md_pg"):
        phases = step_flops(
            method,
            n_layer,
            d,
            vocab,
            args.batch,
            args.prompt_len,
            args.new_tokens,
            ref_from_sampler=args.precision != "bf16",  # OnlineTrainer.reuses_sampler_ref_logp
        )
        out[method] = {
            name: {"flops": fl, "rows": m, "rate": rate(m), "seconds": fl / rate(m)}
            for name, (fl, m) in phases.items()
        }
        out[method]["floor_seconds"] = sum(v["seconds"] for v in out[method].values())
        out[method]["flops"] = sum(fl for fl, _ in phases.values())
    return out


class _StepTimer:
    """A transformers TrainerCallback (built lazily) recording the wall time of each step."""

    @staticmethod
    def make():
        from transformers import TrainerCallback

        class Timer(TrainerCallback):
            def __init__(self):
                self.times, self.walls, self._t0 = [], [], None

            def on_step_begin(self, args, state, control, **kw):
                self._t0 = (_now(), time.perf_counter())

            def on_step_end(self, args, state, control, **kw):
                self.times.append(_now() - self._t0[0])
                self.walls.append(time.perf_counter() - self._t0[1])

        return Timer()


def _trl_common(args):
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

    torch.set_num_threads(args.threads)
    d = Path(args.dir)
    prompts = json.loads((d / "prompts.json").read_text())
    tok = AutoTokenizer.from_pretrained(str(d / "policy"))
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(str(d / "policy"))
    ref = AutoModelForCausalLM.from_pretrained(str(d / "policy"))
    rm = AutoModelForSequenceClassification.from_pretrained(str(d / "rm"), num_labels=1)
    data = Dataset.from_dict({"prompt": prompts})
    common = {
        "output_dir": str(d / f"trl-{args.worker}"),
        "per_device_train_batch_size": args.batch,
        "max_new_tokens": args.new_tokens,
        "learning_rate": 1e-6,
        "beta": args.tau,
        "max_steps": args.warmup + args.steps,
        "logging_steps": 10**6,
        "save_strategy": "no",
        "report_to": [],
        "temperature": 1.0,
        "use_cpu": True,
        "seed": 0,
        "dataloader_num_workers": 0,
        "disable_tqdm": True,
    }
    if not args.trl_defaults:
        # the same computation as prefgame: the chosen precision, no activation recomputation
        # (TRL's defaults are bf16 autocast and gradient checkpointing; --trl-defaults keeps them)
        common.update(bf16=args.precision == "bf16", fp16=False, gradient_checkpointing=False)
    return tok, model, ref, rm, data, common


def _filtered(cls, kwargs: dict) -> dict:
    """Keep only the arguments that this TRL version's config class accepts."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in kwargs.items() if k in names}


def worker_trl_online_dpo(args) -> dict:
    import trl

    try:
        from trl.experimental.online_dpo import OnlineDPOConfig, OnlineDPOTrainer
    except ImportError:  # older TRL kept it at the top level
        from trl import OnlineDPOConfig, OnlineDPOTrainer
    tok, model, ref, rm, data, common = _trl_common(args)
    cfg = OnlineDPOConfig(
        **_filtered(
            OnlineDPOConfig,
            {**common, "loss_type": "ipo", "max_length": args.prompt_len + args.new_tokens + 8},
        )
    )
    timer = _StepTimer.make()
    import inspect

    params = inspect.signature(OnlineDPOTrainer.__init__).parameters
    kw = {
        "model": model,
        "ref_model": ref,
        "args": cfg,
        "train_dataset": data,
        "processing_class": tok,
        "callbacks": [timer],
    }
    if "reward_funcs" in params:
        kw["reward_funcs"] = rm
        if "reward_processing_classes" in params:
            kw["reward_processing_classes"] = tok
    else:
        kw["reward_model"] = rm
        if "reward_processing_class" in params:
            kw["reward_processing_class"] = tok
    trainer = OnlineDPOTrainer(**kw)
    trainer.train()
    times, walls = timer.times[args.warmup :], timer.walls[args.warmup :]
    return {
        "seconds_per_step": statistics.median(times),
        "wall_seconds_per_step": statistics.median(walls),
        "times": times,
        "trl_version": trl.__version__,
    }


def worker_trl_nash_md(args) -> dict:
    import trl

    try:
        from trl import NashMDConfig, NashMDTrainer
    except ImportError:
        from trl.experimental.nash_md import NashMDConfig, NashMDTrainer
    tok, model, ref, rm, data, common = _trl_common(args)
    cfg = NashMDConfig(**_filtered(NashMDConfig, {**common, "mixture_coef": 0.125}))
    timer = _StepTimer.make()
    import inspect

    params = inspect.signature(NashMDTrainer.__init__).parameters
    kw = {
        "model": model,
        "ref_model": ref,
        "args": cfg,
        "train_dataset": data,
        "processing_class": tok,
        "callbacks": [timer],
    }
    kw["reward_funcs" if "reward_funcs" in params else "reward_model"] = rm
    kw = {k: v for k, v in kw.items() if k in params}
    # what the reference sees: Nash-MD's mixture generation (use_cache=False) should feed it
    # the whole prefix at every token; under transformers 5.x TRL 1.12 feeds only the last one
    fed = []
    ref.register_forward_pre_hook(
        lambda mod, a, k: fed.append(
            (k.get("input_ids") if k.get("input_ids") is not None else a[0]).shape[1]
        ),
        with_kwargs=True,
    )
    trainer = NashMDTrainer(**kw)
    trainer.train()
    times, walls = timer.times[args.warmup :], timer.walls[args.warmup :]
    import transformers

    return {
        "seconds_per_step": statistics.median(times),
        "wall_seconds_per_step": statistics.median(walls),
        "times": times,
        "trl_version": trl.__version__,
        "transformers_version": transformers.__version__,
        "ref_calls": len(fed),
        "ref_tokens_fed": sum(fed),
    }


#: mixture coefficient of the exactness check: the benchmark's β (TRL's mixture_coef)
EXACT_BETA = 0.125


def _exact_mixture_logp(pi, mu, prompt_ids, prompt_mask, comp_ids, comp_mask, beta):
    """log of the exact geometric mixture softmax((1 − β)·logits_π + β·logits_μ) at each
    completion token, ``[B, T]`` float64: one uncached forward of each model over the whole
    [prompt | completion] sequence (positions continue after the last real prompt token)."""
    import torch

    ids = torch.cat([prompt_ids, comp_ids], dim=1)
    mask = torch.cat([prompt_mask, comp_mask], dim=1)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    lp = prompt_ids.shape[1]
    with torch.no_grad():
        logits = [
            m(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False)
            .logits[:, lp - 1 : -1]
            .double()
            for m in (pi, mu)
        ]
    mix = torch.log_softmax((1.0 - beta) * logits[0] + beta * logits[1], dim=-1)
    return mix.gather(-1, comp_ids.unsqueeze(-1)).squeeze(-1)


def _exactness(sampled, exact, mask) -> dict:
    """max |Δ log p| over every completion token and at the first one, and the mean."""
    d = (sampled.double() - exact).abs() * mask
    n = mask.sum()
    return {
        "max_abs_dlogp": float(d.max()),
        "max_abs_dlogp_first": float(d[:, 0].max()),
        "mean_abs_dlogp": float(d.sum() / n),
        "tokens": int(n),
        "beta": EXACT_BETA,
    }


def worker_exact_prefgame(args) -> dict:
    """prefgame's KV-cached mixture sampler: its ``sample_logp`` against the exact mixture
    recomputed without cache (π: ``policy_pi``, μ: the benchmark's policy; fp32)."""
    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(REPO))
    import transformers

    from prefgame.llm import encode_prompts, generate, load_pretrained_policy
    from prefgame.llm.policy import completion_logits

    d = Path(args.dir)
    prompts = json.loads((d / "prompts.json").read_text())[: args.batch]
    pi = load_pretrained_policy(str(d / "policy_pi"))
    mu = load_pretrained_policy(str(d / "policy"))
    ids, mask = encode_prompts(pi.tokenizer, prompts, max_length=args.prompt_len)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        b = generate(
            pi, ids, mask, ref=mu, beta=EXACT_BETA, max_new_tokens=args.new_tokens, generator=gen
        )
        lg = [completion_logits(m, b).double() for m in (pi, mu)]
    mix = torch.log_softmax((1.0 - EXACT_BETA) * lg[0] + EXACT_BETA * lg[1], dim=-1)
    exact = mix.gather(-1, b.completion_ids.unsqueeze(-1)).squeeze(-1)
    m = b.completion_mask.double()
    # the same check through the plain recomputation that the TRL worker uses
    plain = _exact_mixture_logp(
        pi.model,
        mu.model,
        b.prompt_ids,
        b.prompt_mask,
        b.completion_ids,
        b.completion_mask,
        EXACT_BETA,
    )
    out = _exactness(b.sample_logp, exact, m)
    out["max_abs_dlogp_plain_recompute"] = float(((b.sample_logp.double() - plain).abs() * m).max())
    out["transformers_version"] = transformers.__version__
    return out


def worker_exact_trl(args) -> dict:
    """TRL's ``GeometricMixtureWrapper`` (as its NashMDTrainer builds it, generation config as
    the trainer's with gradient checkpointing off): the log-softmax of the wrapper's logits at
    each generated token against the exact mixture recomputed without cache."""
    import torch
    import transformers
    import trl
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    try:
        from trl.experimental.nash_md.nash_md_trainer import GeometricMixtureWrapper
    except ImportError:  # older TRL: trl/models/modeling_base.py
        from trl.models.modeling_base import GeometricMixtureWrapper

    torch.set_num_threads(args.threads)
    d = Path(args.dir)
    prompts = json.loads((d / "prompts.json").read_text())[: args.batch]
    tok = AutoTokenizer.from_pretrained(str(d / "policy"))
    tok.padding_side = "left"
    pi = AutoModelForCausalLM.from_pretrained(str(d / "policy_pi")).eval()
    mu = AutoModelForCausalLM.from_pretrained(str(d / "policy")).eval()
    # what each model is handed at its first calls: (tokens fed, length of the cache passed in)
    seen: dict[str, list] = {"pi": [], "mu": []}

    def hook(name, mod, a, k):
        ids = k.get("input_ids") if k.get("input_ids") is not None else a[0]
        pkv = k.get("past_key_values")
        if pkv is None:
            pkv = k.get("cache")
        n = pkv.get_seq_length() if hasattr(pkv, "get_seq_length") else None
        seen[name].append((ids.shape[1], n))

    for name, model in (("pi", pi), ("mu", mu)):
        model.register_forward_pre_hook(functools.partial(hook, name), with_kwargs=True)
    cfg = GenerationConfig(
        max_new_tokens=args.new_tokens,
        do_sample=True,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        temperature=1.0,
        top_k=0,
        top_p=1.0,
        use_cache=True,
        output_logits=True,  # the wrapper's logits at each step (not in the trainer's config)
        return_dict_in_generate=True,
    )
    wrapper = GeometricMixtureWrapper(
        model=pi,
        ref_model=mu,
        generation_config=cfg,
        mixture_coef=EXACT_BETA,
        device=torch.device("cpu"),
    )
    enc = tok(prompts, return_tensors="pt", padding=True)
    torch.manual_seed(0)
    with torch.no_grad():
        out = wrapper.generate(
            input_ids=enc["input_ids"],
            attention_mask=enc["attention_mask"],
            generation_config=cfg,
        )
    lp = enc["input_ids"].shape[1]
    comp = out.sequences[:, lp:]
    # the completion up to and including the first EOS (TRL's truncate_right)
    is_eos = comp == tok.eos_token_id
    after = (is_eos.cumsum(1) - is_eos.long()) > 0
    cmask = (~after).long()
    logits = torch.stack(list(out.logits), dim=1)[:, : comp.shape[1]].double()
    sampled = torch.log_softmax(logits, dim=-1).gather(-1, comp.unsqueeze(-1)).squeeze(-1)
    exact = _exact_mixture_logp(
        pi, mu, enc["input_ids"], enc["attention_mask"], comp, cmask, EXACT_BETA
    )
    res = _exactness(sampled, exact, cmask.double())
    res.update(
        trl_version=trl.__version__,
        transformers_version=transformers.__version__,
        policy_calls_first=[list(x) for x in seen["pi"][:3]],
        ref_calls_first=[list(x) for x in seen["mu"][:3]],
    )
    return res


WORKERS = {
    "exact_prefgame": worker_exact_prefgame,
    "exact_trl": worker_exact_trl,
    "prefgame": worker_prefgame,
    "mixture": worker_mixture,
    "flops": worker_flops,
    "trl_online_dpo": worker_trl_online_dpo,
    "trl_nash_md": worker_trl_nash_md,
}


# --- driver -----------------------------------------------------------------------------------


def _run_worker(python: str, worker: str, args, method: str = "") -> dict:
    steps, warmup = args.steps, args.warmup
    if worker == "trl_nash_md" and args.trl112_steps:
        steps, warmup = args.trl112_steps, args.trl112_warmup
    cmd = [
        python,
        str(HERE),
        "--worker",
        worker,
        "--dir",
        args.dir,
        "--method",
        method or "-",
        "--batch",
        str(args.batch),
        "--new-tokens",
        str(args.new_tokens),
        "--prompt-len",
        str(args.prompt_len),
        "--steps",
        str(steps),
        "--warmup",
        str(warmup),
        "--vocab",
        str(args.vocab),
        "--clock",
        args.clock,
        "--threads",
        str(args.threads),
        "--tau",
        str(args.tau),
        "--device",
        args.device,
        "--model-size",
        args.model_size,
    ]
    cmd += ["--precision", args.precision] + (["--trl-defaults"] if args.trl_defaults else [])
    env = {
        **os.environ,
        "TOKENIZERS_PARALLELISM": "false",
        "WANDB_DISABLED": "true",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONWARNINGS": "ignore",
    }
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(REPO), check=False)
    for line in reversed(proc.stdout.strip().splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(
        f"worker {worker} {method} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}"
    )


PRESETS = {
    # generation-dominated: 25M policy, 64-token prompts, 128 new tokens, batch 8.  fp32 for
    # everyone (as --precision auto picks on a CPU without AVX512-BF16/AMX, which runs bf16
    # matmuls far slower than fp32: 0.5 against 47 GFLOP/s on the AVX2 machine of RESULTS.md).
    "long": {
        "model_size": "25m",
        "prompt_len": 64,
        "new_tokens": 128,
        "batch": 8,
        "precision": "fp32",
        "rounds": 2,
        "steps": 2,
        "warmup": 1,
    },
}


def _run_exactness(args) -> dict:
    """Each contestant's mixture sampler against the exact mixture recomputed without cache,
    once (β = EXACT_BETA, fp32, ``--batch`` prompts, ``--new-tokens``; π: the ``policy_pi``
    of :func:`setup`, μ: the benchmark's policy); printed and returned by contestant."""
    plan = [("prefgame mixture sampler", sys.executable, "exact_prefgame")]
    if not args.no_trl112:
        plan.append(("TRL 1.12 GeometricMixtureWrapper", args.trl112_python, "exact_trl"))
    out = {}
    print(
        f"mixture exactness (β = {EXACT_BETA}, fp32, max |Δ log p| per token against one "
        "uncached recomputation of softmax((1 − β)·logits_π + β·logits_μ)):",
        flush=True,
    )
    for name, python, worker in plan:
        res = _run_worker(python, worker, args)
        out[name] = res
        print(
            f"  {name:34s} transformers {res['transformers_version']:8s} first token "
            f"{res['max_abs_dlogp_first']:.1e}, all {res['tokens']} tokens "
            f"{res['max_abs_dlogp']:.1e} (mean {res['mean_abs_dlogp']:.1e})",
            flush=True,
        )
        if "ref_calls_first" in res:
            print(
                "    (tokens fed, cache length passed) at the first calls: π "
                f"{res['policy_calls_first']}, μ {res['ref_calls_first']}",
                flush=True,
            )
    return out


def _cpu_has_bf16() -> bool:
    """True when the CPU has bf16 matmul instructions (AVX512-BF16 or AMX-BF16, Linux)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def _fmt(xs) -> str:
    return "[" + ", ".join(f"{x:.2f}" for x in xs) + "]"


def _median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", default="", help=argparse.SUPPRESS)
    p.add_argument("--dir", default="", help=argparse.SUPPRESS)
    p.add_argument("--method", default="online_ipo", help=argparse.SUPPRESS)
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="",
        help="long: the generation-dominated setting (25M policy, 64-token prompts, 128 new "
        "tokens, batch 8, fp32); explicit options still override it",
    )
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    p.add_argument("--steps", type=int, default=4, help="timed steps per worker and round")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    p.add_argument(
        "--trl112-steps", type=int, default=0, help="timed steps of TRL 1.12 (0: --steps)"
    )
    p.add_argument("--trl112-warmup", type=int, default=0, help="its warm-up steps")
    p.add_argument("--batch", type=int, default=8, help="prompts per step")
    p.add_argument("--new-tokens", type=int, default=32, help="max new tokens")
    p.add_argument("--prompt-len", type=int, default=32, help="prompt length in tokens")
    p.add_argument("--vocab", type=int, default=256, help="vocabulary size")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads in every worker (1: the 2 shared cores thrash with 2)",
    )
    p.add_argument("--tau", type=float, default=0.1, help="τ (TRL's beta)")
    p.add_argument(
        "--trl-python",
        default=str(REPO / ".bench" / "trl116" / "bin" / "python"),
        help="python of the TRL 1.16 venv (default: .bench/trl116, made by make bench-envs)",
    )
    p.add_argument(
        "--trl112-python",
        default=str(REPO / ".bench" / "trl112" / "bin" / "python"),
        help="python of the TRL 1.12 venv (default: .bench/trl112)",
    )
    p.add_argument("--no-trl", action="store_true", help="skip the TRL online DPO comparison")
    p.add_argument(
        "--precision",
        choices=("auto", "bf16", "fp32"),
        default="auto",
        help="bf16 autocast (TRL's default; fast on GPUs and on CPUs with AVX512-BF16/AMX) or "
        "fp32, for every contestant; auto: bf16 where the hardware has it, else fp32",
    )
    p.add_argument(
        "--trl-defaults",
        action="store_true",
        help="run TRL exactly with its defaults (bf16 autocast and gradient "
        "checkpointing); default: --precision, no checkpointing, like prefgame",
    )
    p.add_argument("--no-trl112", action="store_true", help="skip the TRL 1.12 Nash-MD runs")
    p.add_argument(
        "--exactness-only",
        action="store_true",
        help="only the mixture-exactness check (max |Δ log p| of each contestant's mixture "
        "against an uncached recomputation), no timings",
    )
    p.add_argument("--no-exactness", action="store_true", help="skip the exactness check")
    p.add_argument("--device", default="cpu", help="cpu or cuda (prefgame workers)")
    p.add_argument(
        "--model-size",
        choices=sorted(MODEL_SIZES),
        default="3m",
        help="3m: the CPU comparison; 25m: the generation-dominated one (--preset long); "
        "100m: ~100M parameters (GPU: tokens/s, memory; TRL runs are skipped)",
    )
    p.add_argument(
        "--clock",
        choices=("cpu", "wall"),
        default="cpu",
        help="cpu: each worker's own CPU seconds (robust on a machine shared with other jobs; "
        "every worker runs --threads threads); wall: elapsed seconds",
    )
    p.add_argument("--out", default="", help="write all measurements to this JSON file")
    argv = list(sys.argv[1:] if argv is None else argv)
    args = p.parse_args(argv)
    if args.preset:
        given = {a.split("=")[0].lstrip("-").replace("-", "_") for a in argv if a.startswith("--")}
        for k, v in PRESETS[args.preset].items():
            if k not in given:
                setattr(args, k, v)

    if args.precision == "auto":
        args.precision = "bf16" if args.device != "cpu" or _cpu_has_bf16() else "fp32"
    if args.model_size == "100m" or args.device != "cpu":
        args.no_trl = args.no_trl112 = True  # the TRL comparison is the CPU one
    if args.exactness_only:
        args.no_trl = True  # only TRL 1.12's mixture is checked
    if args.device != "cpu":
        args.clock = "wall"  # a GPU's work is not this process's CPU time
    CLOCK["fn"] = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.worker:
        result = WORKERS[args.worker](args)
        print("RESULT " + json.dumps(result), flush=True)
        return 0
    for flag, path in (("trl", args.trl_python), ("trl112", args.trl112_python)):
        if not getattr(args, f"no_{flag}") and not Path(path).is_file():
            print(
                f"online_step.py: --{flag}-python {path}: no such interpreter "
                "(run `make bench-envs`, or pass --no-" + flag + ")",
                file=sys.stderr,
            )
            return 2

    with tempfile.TemporaryDirectory(prefix="online_step_") as tmp:
        args.dir = tmp
        info = setup(Path(tmp), args)
        print(
            f"setting: policy {info['policy_params'] / 1e6:.2f}M params, vocab {info['vocab']}, "
            f"RM {info['rm_params'] / 1e6:.2f}M, batch {args.batch}, prompt {args.prompt_len} "
            f"tokens, <= {args.new_tokens} new tokens, {args.threads} threads, "
            f"{args.precision}{', TRL defaults' if args.trl_defaults else ''}, "
            f"device {args.device}",
            flush=True,
        )
        exactness = {}
        if not args.no_exactness and args.device == "cpu":
            exactness = _run_exactness(args)
        if args.exactness_only:
            if args.out:
                Path(args.out).write_text(json.dumps({"exactness": exactness}, indent=1))
            return 0
        plan = [("prefgame online_ipo", sys.executable, "prefgame", "online_ipo")]
        if not args.no_trl:
            plan.append(("TRL online DPO (ipo)", args.trl_python, "trl_online_dpo", ""))
        plan += [
            ("prefgame ipo_md", sys.executable, "prefgame", "ipo_md"),
            ("prefgame nash_md_pg", sys.executable, "prefgame", "nash_md_pg"),
        ]
        if not args.no_trl112:
            plan.append(("TRL 1.12 NashMD", args.trl112_python, "trl_nash_md", ""))
        plan.append(("mixture sampler", sys.executable, "mixture", ""))
        plan.append(("FLOP floor", sys.executable, "flops", ""))
        results: dict[str, list[dict]] = {name: [] for name, *_ in plan}
        for r in range(args.rounds):
            for name, python, worker, method in plan:
                res = _run_worker(python, worker, args, method)
                results[name].append(res)
                if worker == "flops":
                    val = res["online_ipo"]["floor_seconds"]
                else:
                    val = res.get("seconds_per_step", res.get("ratio"))
                print(f"round {r + 1}/{args.rounds}  {name:24s} {val:.4f}", flush=True)

    def med(name, key="seconds_per_step"):
        return _median(x[key] for x in results[name])

    def per_round(num: str, den: str, key: str = "seconds_per_step") -> list[float]:
        return [a[key] / b[key] for a, b in zip(results[num], results[den])]

    summary = {
        "setting": {
            **info,
            **{
                k: getattr(args, k)
                for k in (
                    "preset",
                    "model_size",
                    "batch",
                    "new_tokens",
                    "prompt_len",
                    "threads",
                    "rounds",
                    "steps",
                    "warmup",
                    "trl112_steps",
                    "trl112_warmup",
                    "tau",
                    "precision",
                    "trl_defaults",
                    "device",
                    "clock",
                )
            },
        },
        "raw": results,
        "exactness": exactness,
    }
    print(f"\nmedian seconds per step ({args.clock} clock):")
    for name, runs in results.items():
        if name in ("mixture sampler", "FLOP floor"):
            continue
        summary[name] = med(name)
        extra = ""
        if "sampling_tokens_per_s" in runs[0]:
            summary[f"{name} sampling tokens/s"] = med(name, "sampling_tokens_per_s")
            extra = f"   sampling {summary[f'{name} sampling tokens/s']:.0f} tokens/s"
        if "peak_memory_gib" in runs[0]:
            summary[f"{name} peak GiB"] = max(x["peak_memory_gib"] for x in runs)
            extra += f", peak {summary[f'{name} peak GiB']:.2f} GiB"
        print(f"  {name:24s} {summary[name]:.4f}{extra}")
    mix = med("mixture sampler", "ratio")
    summary["mixture_over_plain"] = mix
    print(f"  mixture sampler / plain sampling per decoding step: {mix:.2f}x (target <= 2.2)")

    print("\nFLOP floor (model FLOPs / matmul rate at the same shapes and precision):")
    for method in ("online_ipo", "ipo_md", "nash_md_pg"):
        floors = [x[method]["floor_seconds"] for x in results["FLOP floor"]]
        fracs = [f / s["seconds_per_step"] for f, s in zip(floors, results[f"prefgame {method}"])]
        last = results["FLOP floor"][-1][method]
        phases = ", ".join(
            f"{k} {v['flops'] / 1e9:.0f} GFLOP @ {v['rate'] / 1e9:.0f} GFLOP/s"
            for k, v in last.items()
            if isinstance(v, dict)
        )
        summary[f"floor_seconds {method}"] = _median(floors)
        summary[f"fraction_of_floor {method}"] = _median(fracs)
        print(
            f"  {method:11s} {last['flops'] / 1e9:.0f} GFLOP, floor {_median(floors):.3f} s, "
            f"prefgame at {100 * _median(fracs):.0f}% of it (goal >= 60%)\n    {phases}"
        )

    speed = speed_md = float("nan")
    if "TRL online DPO (ipo)" in results:
        rounds = per_round("TRL online DPO (ipo)", "prefgame online_ipo")
        walls = per_round("TRL online DPO (ipo)", "prefgame online_ipo", "wall_seconds_per_step")
        speed = _median(rounds)
        summary["speedup_vs_trl per round"] = rounds
        summary["speedup_vs_trl per round, wall clock"] = walls
        print(f"\n  online IPO vs TRL online DPO (ipo), per round: {_fmt(rounds)}")
        print(f"    the same in wall-clock seconds: {_fmt(walls)}")
    if "TRL 1.12 NashMD" in results:
        worst = []
        for method in ("nash_md_pg", "ipo_md"):
            rounds = per_round("TRL 1.12 NashMD", f"prefgame {method}")
            walls = per_round("TRL 1.12 NashMD", f"prefgame {method}", "wall_seconds_per_step")
            summary[f"speedup_{method}_vs_trl_nash_md per round"] = rounds
            summary[f"speedup_{method}_vs_trl_nash_md per round, wall clock"] = walls
            print(f"  {method} vs TRL 1.12 Nash-MD, per round: {_fmt(rounds)}")
            print(f"    the same in wall-clock seconds: {_fmt(walls)}")
            worst.append(_median(rounds))
        speed_md = min(worst)
        r0 = results["TRL 1.12 NashMD"][0]
        steps = args.trl112_steps or args.steps
        warm = args.trl112_warmup if args.trl112_steps else args.warmup
        per_step = r0["ref_tokens_fed"] / max(1, steps + warm)
        print(
            f"  TRL {r0['trl_version']} (transformers {r0['transformers_version']}): its "
            f"reference read {per_step:.0f} tokens per step in "
            f"{r0['ref_calls'] / max(1, steps + warm):.0f} calls"
            + (
                "  -- FEWER than the prompt per call: its mixture saw no context"
                if r0["ref_calls"] and per_step * (steps + warm) / r0["ref_calls"] < args.prompt_len
                else ""
            )
        )
    summary["speedup_vs_trl"], summary["speedup_vs_trl_nash_md"] = speed, speed_md
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=1))
    print(f"speedup_vs_trl={speed:.2f} speedup_vs_trl_nash_md={speed_md:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
