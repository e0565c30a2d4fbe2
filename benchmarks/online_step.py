"""Seconds per online step: prefgame against TRL, on the same tiny GPT-2 and reward model (CPU).

    python benchmarks/online_step.py                    # full comparison (needs the TRL venvs)
    python benchmarks/online_step.py --precision fp32   # everyone in fp32
    python benchmarks/online_step.py --trl-defaults     # TRL exactly as configured by default
    python benchmarks/online_step.py --no-trl112        # skip the TRL 1.12 Nash-MD comparison
    python benchmarks/online_step.py --rounds 1 --steps 2   # smoke run
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
* the mixture sampler against plain sampling (seconds per decoding step, same batch).

Each worker times ``--steps`` optimiser steps after ``--warmup`` untimed ones and reports the
median; the script reports the median over rounds.  The last line printed is
``speedup_vs_trl=<TRL s/step ÷ prefgame s/step>`` (online IPO vs TRL online DPO-IPO).
"""

from __future__ import annotations

import argparse
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

#: Policy sizes: "3m" (3.26M parameters with the 256-word vocabulary) and "100m" (~85M).
MODEL_SIZES = {
    "3m": {"n_layer": 4, "n_embd": 256, "n_head": 4},
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
    n_pos = max(128, args.prompt_len + args.new_tokens + 8)
    policy = tiny_gpt2(tok, **size, n_positions=n_pos, seed=0)
    rm = tiny_sequence_classifier(tok, n_layer=2, n_embd=64, n_head=2, n_positions=n_pos, seed=1)
    rng = random.Random(0)
    prompts = [" ".join(rng.choice(words) for _ in range(args.prompt_len)) for _ in range(256)]
    for name, model in (("policy", policy), ("rm", rm)):
        model.save_pretrained(workdir / name)
        tok.save_pretrained(workdir / name)
    (workdir / "prompts.json").write_text(json.dumps(prompts))
    n_params = sum(p.numel() for p in policy.parameters())
    del torch
    return {
        "policy_params": n_params,
        "vocab": len(tok),
        "rm_params": sum(p.numel() for p in rm.parameters()),
    }


# --- workers ----------------------------------------------------------------------------------


def _timed(step, warmup: int, steps: int) -> list[float]:
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return times


def worker_prefgame(args) -> dict:
    import torch

    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(REPO))
    from prefgame.llm import OnlineConfig, OnlineTrainer, RewardModel, load_pretrained_policy

    d = Path(args.dir)
    prompts = json.loads((d / "prompts.json").read_text())
    policy = load_pretrained_policy(str(d / "policy"), device=args.device)
    judge = RewardModel.from_pretrained(str(d / "rm"))
    judge.model.to(args.device)
    beta = 0.125 if args.method in ("ipo_md", "nash_md_pg") else 0.0
    cuda = args.device.startswith("cuda")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    cfg = OnlineConfig(
        method=args.method,
        beta=beta,
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
    trainer = OnlineTrainer(cfg, policy, judge, prompts)
    lengths, tok_s = [], []

    def step():
        logs = trainer.step()
        if cuda:
            torch.cuda.synchronize()
        lengths.append(logs["gen_len"])
        tok_s.append(logs["tokens_per_s"])

    times = _timed(step, args.warmup, args.steps)
    out = {
        "seconds_per_step": statistics.median(times),
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
            t0 = time.perf_counter()
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
            dt = time.perf_counter() - t0
            if i >= args.warmup:
                per_step[beta].append(dt / b.completion_ids.shape[1])
    plain, mix = statistics.median(per_step[0.0]), statistics.median(per_step[0.5])
    return {"plain_s_per_token_step": plain, "mixture_s_per_token_step": mix, "ratio": mix / plain}


class _StepTimer:
    """A transformers TrainerCallback (built lazily) recording the wall time of each step."""

    @staticmethod
    def make():
        from transformers import TrainerCallback

        class Timer(TrainerCallback):
            def __init__(self):
                self.times, self._t0 = [], None

            def on_step_begin(self, args, state, control, **kw):
                self._t0 = time.perf_counter()

            def on_step_end(self, args, state, control, **kw):
                self.times.append(time.perf_counter() - self._t0)

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
    times = timer.times[args.warmup :]
    return {
        "seconds_per_step": statistics.median(times),
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
    trainer = NashMDTrainer(**kw)
    trainer.train()
    times = timer.times[args.warmup :]
    return {
        "seconds_per_step": statistics.median(times),
        "times": times,
        "trl_version": trl.__version__,
    }


WORKERS = {
    "prefgame": worker_prefgame,
    "mixture": worker_mixture,
    "trl_online_dpo": worker_trl_online_dpo,
    "trl_nash_md": worker_trl_nash_md,
}


# --- driver -----------------------------------------------------------------------------------


def _run_worker(python: str, worker: str, args, method: str = "") -> dict:
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
        str(args.steps),
        "--warmup",
        str(args.warmup),
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--worker", default="", help=argparse.SUPPRESS)
    p.add_argument("--dir", default="", help=argparse.SUPPRESS)
    p.add_argument("--method", default="online_ipo", help=argparse.SUPPRESS)
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    p.add_argument("--steps", type=int, default=4, help="timed steps per worker and round")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps first")
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
    p.add_argument("--trl-python", default="/work/trl-venv/bin/python")
    p.add_argument("--trl112-python", default="/work/trl112-venv/bin/python")
    p.add_argument("--no-trl", action="store_true", help="skip the TRL online DPO comparison")
    p.add_argument(
        "--precision",
        choices=("bf16", "fp32"),
        default="bf16",
        help="bf16 autocast (TRL's default; fast on CPUs with AVX512-BF16/AMX) or "
        "fp32, for every contestant",
    )
    p.add_argument(
        "--trl-defaults",
        action="store_true",
        help="run TRL exactly with its defaults (bf16 autocast and gradient "
        "checkpointing); default: --precision, no checkpointing, like prefgame",
    )
    p.add_argument("--no-trl112", action="store_true", help="skip the TRL 1.12 Nash-MD runs")
    p.add_argument("--device", default="cpu", help="cpu or cuda (prefgame workers)")
    p.add_argument(
        "--model-size",
        choices=sorted(MODEL_SIZES),
        default="3m",
        help="3m: the CPU comparison; 100m: ~100M parameters (GPU: tokens/s, memory; "
        "TRL runs are skipped)",
    )
    p.add_argument("--out", default="", help="write all measurements to this JSON file")
    args = p.parse_args(argv)

    if args.model_size != "3m" or args.device != "cpu":
        args.no_trl = args.no_trl112 = True  # the TRL comparison is the CPU one
    if args.worker:
        result = WORKERS[args.worker](args)
        print("RESULT " + json.dumps(result), flush=True)
        return 0

    with tempfile.TemporaryDirectory(prefix="online_step_") as tmp:
        args.dir = tmp
        info = setup(Path(tmp), args)
        print(
            f"setting: policy {info['policy_params'] / 1e6:.2f}M params, vocab {info['vocab']}, "
            f"RM {info['rm_params'] / 1e6:.2f}M, batch {args.batch}, prompt {args.prompt_len} "
            f"tokens, <= {args.new_tokens} new tokens, {args.threads} threads, "
            f"{args.precision}{', TRL defaults' if args.trl_defaults else ''}",
            flush=True,
        )
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
        results: dict[str, list[dict]] = {name: [] for name, *_ in plan}
        for r in range(args.rounds):
            for name, python, worker, method in plan:
                res = _run_worker(python, worker, args, method)
                results[name].append(res)
                val = res.get("seconds_per_step", res.get("ratio"))
                print(f"round {r + 1}/{args.rounds}  {name:24s} {val:.4f}", flush=True)

    def med(name, key="seconds_per_step"):
        return statistics.median(x[key] for x in results[name])

    summary = {
        "setting": {
            **info,
            **{
                k: getattr(args, k)
                for k in (
                    "batch",
                    "new_tokens",
                    "prompt_len",
                    "threads",
                    "rounds",
                    "steps",
                    "warmup",
                    "tau",
                    "precision",
                    "trl_defaults",
                )
            },
        },
        "raw": results,
    }
    print("\nmedian seconds per step:")
    for name, runs in results.items():
        if name != "mixture sampler":
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
    print(f"  mixture sampler / plain sampling per decoding step: {mix:.2f}x")
    if "TRL 1.12 NashMD" in results:
        t = summary["TRL 1.12 NashMD"]
        for name in ("prefgame nash_md_pg", "prefgame ipo_md"):
            summary[f"speedup_{name.split()[1]}_vs_trl_nash_md"] = t / summary[name]
            print(f"  speedup {name} vs TRL 1.12 NashMD: {t / summary[name]:.2f}x")
    if args.out:
        Path(args.out).write_text(json.dumps(summary, indent=1))
    if "TRL online DPO (ipo)" in results:
        speed = summary["TRL online DPO (ipo)"] / summary["prefgame online_ipo"]
        print(f"speedup_vs_trl={speed:.2f}")
    else:
        print("speedup_vs_trl=nan")
    return 0


if __name__ == "__main__":
    sys.exit(main())
