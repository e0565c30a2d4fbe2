"""Shared pieces of the summarisation pipeline: config, data, models, SFT, PM/RM, evaluation.

The pipeline reproduces the structure of Calandriello et al. (2024) §6 / Table 2:

    sft  ->  train_pm, train_rm  ->  align (6 methods x seeds)  ->  evaluate (gold judge)

On the embedded task (``task = "factsum"``, :mod:`prefgame.tasks.factsum`) everything is built
locally: a word-level tokenizer over the task's vocabulary, a tiny GPT-2 policy trained from
scratch, tiny GPT-2 preference / reward models trained on pairs labelled by the gold judge, and
the gold judge for evaluation only.  With ``task = "tldr"`` the same steps load hub models and
the TL;DR datasets (needs internet and, realistically, a GPU); that path is never run in tests.

Every step reads one :class:`PipelineConfig` (a JSON file under ``llm/configs/``) and a work
directory; artefacts of step k are inputs of step k+1.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers.utils import logging as _hf_logging

from prefgame.llm import (
    METHODS,
    PairwisePreferenceModel,
    Policy,
    RewardModel,
    SequenceBatch,
    encode_completions,
    encode_prompts,
    generate,
    generate_text,
    sequence_logprobs,
    token_logprobs,
    train_judge,
)

_hf_logging.disable_progress_bar()
_hf_logging.set_verbosity_error()

from prefgame.tasks import factsum as FS

SPECIAL = ["[PAD]", "[UNK]", "[BOS]", "[EOS]", "[SEP]"]
#: The six methods in the row order of the paper's Table 2 (all are ``prefgame.llm.METHODS``).
PAPER_ORDER = ["online_ipo", "ipo_md", "online_dpo", "nash_md_pg", "online_slic", "rl"]
assert set(PAPER_ORDER) == set(METHODS)


@dataclass
class PipelineConfig:
    """Every knob of the reproduction; ``llm/configs/*.json`` override the defaults."""

    name: str = field(default="factsum", metadata={"help": "label written into the results"})
    task: str = field(default="factsum", metadata={"help": "'factsum' (offline) or 'tldr' (hub)"})
    seed: int = field(default=0, metadata={"help": "seed of data generation and SFT/PM/RM"})
    # --- data (factsum) ---
    n_sft_docs: int = field(default=3000, metadata={"help": "documents for SFT"})
    sft_summaries_per_doc: int = field(default=2, metadata={"help": "noisy summaries per doc"})
    n_pair_prompts: int = field(default=3000, metadata={"help": "prompts for PM/RM pairs"})
    heldout_frac: float = field(default=0.2, metadata={"help": "held-out share of the pairs"})
    n_align_prompts: int = field(default=2000, metadata={"help": "prompts seen by alignment"})
    n_eval_prompts: int = field(default=500, metadata={"help": "held-out prompts for win rates"})
    n_val_prompts: int = field(default=200, metadata={"help": "prompts that score the τ sweep"})
    cycle_weight: float = field(default=0.3, metadata={"help": "gold judge's λ (style cycle)"})
    # --- models (factsum: tiny GPT-2 from scratch; tldr: hub names) ---
    policy_layers: int = 2
    policy_embd: int = 64
    policy_heads: int = 4
    pm_layers: int = 2
    pm_embd: int = 64
    pm_heads: int = 4
    max_positions: int = 128
    policy_model: str = field(default="", metadata={"help": "tldr: hub id of the policy"})
    pm_model: str = field(default="", metadata={"help": "tldr: hub id of the PM/RM backbone"})
    judge_model: str = field(default="", metadata={"help": "tldr: hub id of the LLM judge"})
    sft_dataset: str = field(default="trl-lib/tldr", metadata={"help": "tldr SFT data"})
    pref_dataset: str = field(default="trl-lib/tldr-preference", metadata={"help": "tldr pairs"})
    # --- SFT ---
    sft_steps: int = 1500
    sft_batch: int = 64
    sft_lr: float = 1e-3
    # --- PM / RM ---
    pm_steps: int = 1500
    pm_batch: int = 64
    pm_lr: float = 5e-4
    scorer_init: str = field(default="sft", metadata={
        "help": "factsum PM/RM backbone: 'sft' (the SFT policy's weights) or 'scratch'"})
    # --- alignment ---
    methods: list = field(default_factory=lambda: list(PAPER_ORDER))
    tau: dict = field(default_factory=lambda: {
        "online_ipo": 1.0, "ipo_md": 1.0, "online_dpo": 1.0, "online_slic": 1.0,
        "nash_md_pg": 0.1, "rl": 0.1})
    beta: dict = field(default_factory=lambda: {"ipo_md": 0.125, "nash_md_pg": 0.125})
    lr: dict = field(default_factory=dict)
    align_lr: float = 3e-4
    align_steps: int = 300
    align_batch: int = 32
    align_seeds: int = 3
    max_new_tokens: int = 16
    log_every: int = 25
    n_curve_prompts: int = 64
    sweep_tau: dict = field(default_factory=lambda: {
        "online_ipo": [1.0, 0.1], "ipo_md": [1.0, 0.1], "online_dpo": [5.0, 0.5],
        "online_slic": [10.0, 1.0], "nash_md_pg": [0.1, 0.008], "rl": [0.5, 0.05]})
    sweep_steps: int = field(default=120, metadata={"help": "alignment steps per sweep run"})
    jobs: int = field(default=2, metadata={"help": "alignment runs in parallel processes"})
    # --- evaluation ---
    eval_temperature: float = 1.0
    device: str = field(default="cpu", metadata={"help": "'cpu', 'cuda' or 'auto'"})

    def __post_init__(self) -> None:
        if self.task not in ("factsum", "tldr"):
            raise ValueError(f"task = {self.task!r}, must be 'factsum' or 'tldr'")
        bad = [m for m in self.methods if m not in METHODS]
        if bad:
            raise ValueError(f"unknown methods {bad}; known: {list(METHODS)}")
        if self.task == "tldr" and not (self.policy_model and self.pm_model and self.judge_model):
            raise ValueError("task 'tldr' needs policy_model, pm_model and judge_model")

    @classmethod
    def load(cls, path: str | Path | None, **overrides: Any) -> PipelineConfig:
        data = json.loads(Path(path).read_text()) if path else {}
        names = {f.name for f in fields(cls)}
        unknown = set(data) - names - {"_comment"}
        if unknown:
            raise ValueError(f"{path}: unknown config keys {sorted(unknown)}")
        data.pop("_comment", None)
        data.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**data)

    @property
    def max_prompt_length(self) -> int:
        """Prompt tokens kept (the last ones): the rest of the context is for the summary."""
        return self.max_positions - self.max_new_tokens

    def align_config(self, method: str, seed: int, out: Path):
        """The backend's :class:`prefgame.llm.OnlineConfig` for one alignment run."""
        from prefgame.llm import OnlineConfig

        return OnlineConfig(
            method=method, tau=self.tau[method], beta=self.beta.get(method, 0.0),
            max_steps=self.align_steps, batch_size=self.align_batch,
            lr=self.lr.get(method, self.align_lr), adam_beta1=0.0, weight_decay=0.0,
            max_new_tokens=self.max_new_tokens,
            max_prompt_length=self.max_prompt_length, seed=1000 + seed,
            output_dir=str(out), win_rate_every=0, log_tensorboard=False, progress_bar=False)


def device(cfg: PipelineConfig) -> torch.device:
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.device)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def save_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1))


# --- data ------------------------------------------------------------------------------------

# Disjoint seeds for the document sets, derived from cfg.seed.
_SPLIT = {"sft": 1, "pairs": 2, "align": 3, "eval": 4, "val": 5}


def documents(cfg: PipelineConfig, split: str) -> list[FS.Document]:
    n = {"sft": cfg.n_sft_docs, "pairs": cfg.n_pair_prompts, "align": cfg.n_align_prompts,
         "eval": cfg.n_eval_prompts, "val": cfg.n_val_prompts}[split]
    return FS.make_documents(n, seed=10_000 * cfg.seed + _SPLIT[split])


def prompts(cfg: PipelineConfig, split: str) -> list[str]:
    """Policy prompts of a split ("sft", "pairs", "align", "eval")."""
    if cfg.task == "tldr":
        return _tldr_prompts(cfg, split)
    return [FS.format_prompt(d) for d in documents(cfg, split)]


def gold_judge(cfg: PipelineConfig):
    if cfg.task == "tldr":
        return LLMJudge(cfg.judge_model)
    return FS.GoldJudge(cycle_weight=cfg.cycle_weight)


# --- tokenizer and models --------------------------------------------------------------------


def build_tokenizer(words: list[str]):
    """A word-level HF tokenizer (whitespace split) over ``words`` plus the special tokens."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(SPECIAL + [w for w in words if w not in SPECIAL])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # join words with spaces
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                   bos_token="[BOS]", eos_token="[EOS]", sep_token="[SEP]")


def tiny_gpt2(cfg: PipelineConfig, tokenizer, *, role: str, seed: int):
    """A small GPT-2 initialised from ``seed``: causal LM (role="policy") or a 1-output
    sequence classifier (role="pm"/"rm")."""
    from transformers import GPT2Config, GPT2ForSequenceClassification, GPT2LMHeadModel

    torch.manual_seed(seed)
    layers, embd, heads = ((cfg.policy_layers, cfg.policy_embd, cfg.policy_heads)
                           if role == "policy" else (cfg.pm_layers, cfg.pm_embd, cfg.pm_heads))
    conf = GPT2Config(vocab_size=len(tokenizer), n_positions=cfg.max_positions, n_embd=embd,
                      n_layer=layers, n_head=heads, bos_token_id=tokenizer.bos_token_id,
                      eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                      resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, num_labels=1)
    if role == "policy":
        return GPT2LMHeadModel(conf)
    return GPT2ForSequenceClassification(conf)


def load_policy(path: Path, dev: torch.device | str = "cpu"):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return AutoModelForCausalLM.from_pretrained(path).to(dev).eval(), tok


def scorer(net, tok, kind: str, max_length: int) -> PairwisePreferenceModel | RewardModel:
    """The backend's pairwise PM (``kind="pm"``) or Bradley–Terry RM (``kind="rm"``) around a
    1-output sequence classifier.  The pieces of the input are joined by the tokenizer's
    separator (FactSum's word tokenizer knows no other marker)."""
    sep = tok.sep_token or "\n\n"  # hub tokenizers may have none
    if kind == "pm":
        return PairwisePreferenceModel(net, tok, max_length=max_length,
                                       template=f"{{prompt}} {sep} {{first}} {sep} {{second}}")
    return RewardModel(net, tok, max_length=max_length, template=f"{{prompt}} {sep} {{completion}}")


def load_scorer(path: Path, kind: str, dev: torch.device | str = "cpu"):
    """Load a trained PM (``kind="pm"``) or RM (``kind="rm"``) saved by train_pm / train_rm."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).to(dev).eval()
    return scorer(model, tok, kind, getattr(model.config, "max_position_embeddings", 512))


# --- SFT -------------------------------------------------------------------------------------


def sft_examples(cfg: PipelineConfig) -> tuple[list[str], list[str]]:
    """(prompt, target summary) pairs: noisy human-like summaries of the SFT documents."""
    if cfg.task == "tldr":
        return _tldr_sft(cfg)
    rng = np.random.default_rng(cfg.seed + 77)
    xs, ys = [], []
    for d in documents(cfg, "sft"):
        for _ in range(cfg.sft_summaries_per_doc):
            xs.append(FS.format_prompt(d))
            ys.append(FS.noisy_summary(d, rng))
    return xs, ys


def sft_loss(policy: Policy, xs: list[str], ys: list[str], *, max_prompt_length: int):
    """Mean next-token cross-entropy of the targets ``ys`` (EOS included) given ``xs``."""
    dev = policy.device
    p_ids, p_mask = encode_prompts(policy.tokenizer, xs, max_length=max_prompt_length, device=dev)
    c_ids, c_mask = encode_completions(policy.tokenizer, ys, device=dev)
    batch = SequenceBatch(prompt_ids=p_ids, prompt_mask=p_mask, completion_ids=c_ids,
                          completion_mask=c_mask)
    return -token_logprobs(policy, batch).sum() / c_mask.sum()


def run_sft(cfg: PipelineConfig, work: Path) -> dict:
    """Train the SFT policy (also π_ref = μ) on noisy summaries; saves ``work/sft``."""
    torch.manual_seed(cfg.seed)
    if cfg.task == "tldr":
        from transformers import AutoModelForCausalLM, AutoTokenizer
        tok = AutoTokenizer.from_pretrained(cfg.policy_model)
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        model = AutoModelForCausalLM.from_pretrained(cfg.policy_model)
    else:
        tok = build_tokenizer(FS.vocabulary())
        model = tiny_gpt2(cfg, tok, role="policy", seed=cfg.seed)
    model.to(device(cfg))
    policy = Policy(model, tok)
    xs, ys = sft_examples(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.sft_lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 50) * 0.5 * (1 + math.cos(math.pi * s / cfg.sft_steps)))
    rng = np.random.default_rng(cfg.seed)
    curve, t0 = [], time.time()
    model.train()
    for step in range(cfg.sft_steps):
        idx = rng.integers(len(xs), size=cfg.sft_batch)
        loss = sft_loss(policy, [xs[i] for i in idx], [ys[i] for i in idx],
                        max_prompt_length=cfg.max_prompt_length)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        curve.append(float(loss.detach()))
        if step % 200 == 0 or step == cfg.sft_steps - 1:
            log(f"sft step {step}: nll/token {np.mean(curve[-50:]):.3f}")
    model.eval()
    out = work / "sft"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    info = {"steps": cfg.sft_steps, "final_nll_per_token": float(np.mean(curve[-50:])),
            "params": sum(p.numel() for p in model.parameters()), "time_s": time.time() - t0,
            "curve": curve[::10]}
    save_json(work / "sft_info.json", info)
    return info


# --- preference / reward model data and training ----------------------------------------------


def make_pairs(cfg: PipelineConfig, work: Path) -> dict:
    """Pairs (x, y, y') labelled by the gold judge, y, y' from the SFT policy; cached on disk.

    Label ~ Bernoulli(P_gold(y ≻ y' | x)), as human raters give one noisy vote each; the
    held-out part also keeps P_gold to measure agreement with the judge's majority.
    """
    path = work / "pairs.json"
    if path.exists():
        return json.loads(path.read_text())
    if cfg.task == "tldr":
        pairs = _tldr_pairs(cfg)
    else:
        policy, tok = load_policy(work / "sft", device(cfg))
        judge = gold_judge(cfg)
        xs = prompts(cfg, "pairs")
        gen = torch.Generator(policy.device).manual_seed(cfg.seed + 5)
        ys, ys2 = (generate_text(Policy(policy, tok), xs, max_new_tokens=cfg.max_new_tokens,
                                 max_prompt_length=cfg.max_prompt_length, batch_size=256,
                                 generator=gen) for _ in range(2))
        p = judge(xs, ys, ys2)
        rng = np.random.default_rng(cfg.seed + 6)
        label = (rng.random(len(p)) < p).astype(float)
        pairs = {"x": xs, "y": ys, "y2": ys2, "label": label.tolist(), "p_gold": p.tolist()}
    save_json(path, pairs)
    return pairs


def _split_pairs(cfg: PipelineConfig, pairs: dict) -> tuple[dict, dict]:
    n = len(pairs["x"])
    cut = round(n * (1 - cfg.heldout_frac))
    return ({k: v[:cut] for k, v in pairs.items()}, {k: v[cut:] for k, v in pairs.items()})


def train_scorer(cfg: PipelineConfig, work: Path, kind: str) -> dict:
    """Train the pairwise PM (``kind="pm"``) or the Bradley–Terry RM (``kind="rm"``)."""
    train, held = _split_pairs(cfg, make_pairs(cfg, work))
    if cfg.task == "tldr":
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        tok = AutoTokenizer.from_pretrained(cfg.pm_model)
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token
        net = AutoModelForSequenceClassification.from_pretrained(cfg.pm_model, num_labels=1)
        net.config.pad_token_id = tok.pad_token_id
    elif cfg.scorer_init == "sft":  # like the paper's PM/RM, start from a trained LM
        from transformers import AutoModelForSequenceClassification
        tok = build_tokenizer(FS.vocabulary())
        torch.manual_seed(cfg.seed + (11 if kind == "pm" else 12))
        net = AutoModelForSequenceClassification.from_pretrained(
            work / "sft", num_labels=1, pad_token_id=tok.pad_token_id)
    else:
        tok = build_tokenizer(FS.vocabulary())
        net = tiny_gpt2(cfg, tok, role=kind, seed=cfg.seed + (11 if kind == "pm" else 12))
    net.to(device(cfg))
    judge = scorer(net, tok, kind, cfg.max_positions)
    # pm_steps batches of pm_batch pairs, as whole epochs over the training pairs
    epochs = max(1, round(cfg.pm_steps * cfg.pm_batch / len(train["x"])))
    t0 = time.time()
    curve = train_judge(judge, train["x"], train["y"], train["y2"], labels=train["label"],
                        epochs=epochs, batch_size=cfg.pm_batch, lr=cfg.pm_lr, seed=cfg.seed + 13)
    log(f"{kind}: {len(curve)} steps ({epochs} epochs), final loss {np.mean(curve[-50:]):.3f}")
    info = {"kind": kind, "train_pairs": len(train["x"]), "heldout_pairs": len(held["x"]),
            "epochs": epochs, "steps": len(curve), "time_s": time.time() - t0,
            "curve": curve[::10]}
    info.update(scorer_accuracy(judge, held))
    net.save_pretrained(work / kind)
    tok.save_pretrained(work / kind)
    save_json(work / f"{kind}_info.json", info)
    log(f"{kind}: held-out accuracy {info['accuracy']:.3f} (vs judge majority "
        f"{info.get('agreement_with_judge', float('nan')):.3f})")
    return info


def scorer_accuracy(judge, held: dict) -> dict:
    """Held-out accuracy against the sampled labels, and (factsum) against the judge's majority
    (pairs with P_gold ≠ ½), the number the paper reports for its PM/RM."""
    p = judge(held["x"], held["y"], held["y2"]).numpy()
    label = np.asarray(held["label"])
    out = {"accuracy": float(np.mean((p > 0.5) == (label > 0.5)))}
    if "p_gold" in held:
        g = np.asarray(held["p_gold"])
        decided = np.abs(g - 0.5) > 1e-9
        out["agreement_with_judge"] = float(np.mean((p > 0.5)[decided] == (g > 0.5)[decided]))
        out["judge_label_accuracy"] = float(np.mean((g > 0.5) == (label > 0.5)))
        out["mean_abs_error_vs_judge"] = float(np.mean(np.abs(p - g)))
    return out


# --- alignment -------------------------------------------------------------------------------


def policy_stats(cfg: PipelineConfig, policy, ref, tok, xs: list[str], judge, *, seed: int,
                 temperature: float = 1.0) -> tuple[list[str], dict]:
    """Sample one summary per prompt; KL(π‖μ) estimate Σ_t log π/μ, gold quality, styles."""
    pi, mu = Policy(policy, tok), Policy(ref, tok)
    gen = torch.Generator(pi.device).manual_seed(seed)
    texts, kls = [], []
    for i in range(0, len(xs), 256):
        ids, mask = encode_prompts(tok, xs[i: i + 256], max_length=cfg.max_prompt_length,
                                   device=pi.device)
        batch = generate(pi, ids, mask, max_new_tokens=cfg.max_new_tokens, generator=gen,
                         temperature=temperature)
        with torch.no_grad():  # policy_logp: log π of the sampled tokens, untempered
            kls.append((batch.policy_logp.sum(-1) - sequence_logprobs(mu, batch)).cpu())
        texts.extend(batch.texts(tok))
    stats = {"kl": float(torch.cat(kls).mean()),
             "length": float(np.mean([len(t.split()) for t in texts]))}
    if isinstance(judge, FS.GoldJudge):
        parts = [judge.quality_parts(x, y) for x, y in zip(xs, texts)]
        for k in ("q", "covered", "invented", "repeated", "excess_len"):
            stats[f"gold_{k}"] = float(np.mean([p[k] for p in parts]))
        styles = [FS.summary_style(y) for y in texts]
        stats["styles"] = {s: styles.count(s) / len(styles) for s in FS.STYLES + ("none",)}
    return texts, stats


def run_align(cfg: PipelineConfig, work: Path, method: str, seed: int, *,
              tau: float | None = None, steps: int | None = None, subdir: str = "align") -> dict:
    """Align a copy of the SFT policy with one method and seed on ``prefgame.llm.OnlineTrainer``;
    saves the policy and ``log.json`` in ``work/align/<m>_s<k>``.

    ``tau``/``steps`` override the config (used by the τ sweep, which writes to ``subdir``).
    Every ``log_every`` steps the log gets the trainer's numbers averaged over the interval
    (loss, KL on the training samples, mean PM preference or RM reward) and an evaluation on
    ``n_curve_prompts`` held-out prompts (KL(π‖μ), gold quality) that never feeds a gradient.
    """
    from prefgame.llm import OnlineTrainer

    out = work / subdir / (f"{method}_s{seed}" + (f"_tau{tau:g}" if tau is not None else ""))
    if (out / "log.json").exists():
        return json.loads((out / "log.json").read_text())
    acfg = cfg.align_config(method, seed, out / "trainer")
    if tau is not None:
        acfg.tau = tau
    if steps is not None:
        acfg.max_steps = steps
    policy, tok = load_policy(work / "sft", device(cfg))
    ref, _ = load_policy(work / "sft", device(cfg))
    ref.requires_grad_(False)
    kind = "rm" if method == "rl" else "pm"
    judge_model = load_scorer(work / kind, kind, device(cfg))
    judge = gold_judge(cfg)
    curve_xs = prompts(cfg, "eval")[: cfg.n_curve_prompts]
    hist, acc, t0 = [], {"loss": [], "score": [], "kl_sample": []}, time.time()

    def evaluate_now(step: int) -> None:  # evaluation only: never feeds a gradient
        entry = {"step": step, "time_s": round(time.time() - t0, 2)}
        for k, v in acc.items():
            entry[k] = float(np.mean(v)) if v else None
            v.clear()
        policy.eval()
        _, s = policy_stats(cfg, policy, ref, tok, curve_xs, judge, seed=99)
        s.pop("styles", None)
        entry.update(s)
        hist.append(entry)

    def callback(trainer, logs: dict) -> None:
        acc["loss"].append(logs["loss"])
        acc["kl_sample"].append(logs["kl"])
        acc["score"].append(logs.get("reward", logs.get("p_mean")))
        if logs["step"] % cfg.log_every == 0 or logs["step"] == acfg.max_steps:
            evaluate_now(logs["step"])

    evaluate_now(0)
    trainer = OnlineTrainer(
        acfg, Policy(policy, tok), judge_model, prompts(cfg, "align"),
        ref=Policy(ref, tok), reward_model=judge_model if method == "rl" else None,
        callbacks=[callback])
    trainer.train()
    policy.eval()
    out.mkdir(parents=True, exist_ok=True)
    policy.save_pretrained(out)
    tok.save_pretrained(out)
    rec = {"method": method, "seed": seed, "config": acfg.to_dict(), "log": hist,
           "time_s": time.time() - t0}
    save_json(out / "log.json", rec)
    last = hist[-1]
    log(f"align {method} seed {seed}: {time.time() - t0:.0f}s, KL {last['kl']:.2f}, "
        f"gold q {last.get('gold_q', float('nan')):.2f}")
    return rec


def sweep_one(cfg: PipelineConfig, work: Path, method: str, tau: float) -> dict:
    """One τ-sweep run (seed 0, ``sweep_steps``), scored on the validation prompts: gold-judge
    win rate against the SFT policy, KL(π‖μ) and gold quality."""
    rec = run_align(cfg, work, method, 0, tau=tau, steps=cfg.sweep_steps, subdir="sweep")
    if "val" in rec:
        return rec
    path = work / "sweep" / f"{method}_s0_tau{tau:g}"
    policy, tok = load_policy(path, device(cfg))
    ref, _ = load_policy(work / "sft", device(cfg))
    judge, xs = gold_judge(cfg), prompts(cfg, "val")
    ys, st = policy_stats(cfg, policy, ref, tok, xs, judge, seed=7)
    y0, _ = policy_stats(cfg, ref, ref, tok, xs, judge, seed=8)
    st["winrate_vs_sft"] = float(np.mean(judge(xs, ys, y0)))
    rec["val"] = st
    save_json(path / "log.json", rec)
    log(f"sweep {method} tau={tau:g}: win vs SFT {st['winrate_vs_sft']:.3f}, KL {st['kl']:.2f}")
    return rec


# --- evaluation ------------------------------------------------------------------------------


def evaluate(cfg: PipelineConfig, work: Path) -> dict:
    """Side-by-side win rates under the gold judge, all seed pairings; KL and quality per policy.

    For every policy (method, seed) one summary per held-out prompt is sampled; for methods i, j
    and seeds s, s' the win rate is the mean over prompts of P_gold(y_i,s ≻ y_j,s' | x).  mean and
    std are over the seeds² pairings (the paper's "all 3×3 seed pairings").
    """
    judge = gold_judge(cfg)
    xs = prompts(cfg, "eval")
    ref, tok = load_policy(work / "sft", device(cfg))
    seeds = list(range(cfg.align_seeds))
    samples, stats = {}, {}
    for m in ["sft"] + list(cfg.methods):
        for s in ([0] if m == "sft" else seeds):
            pol = ref if m == "sft" else load_policy(work / "align" / f"{m}_s{s}", device(cfg))[0]
            texts, st = policy_stats(cfg, pol, ref, tok, xs, judge, seed=4242 + s,
                                     temperature=cfg.eval_temperature)
            samples[(m, s)], stats[f"{m}_s{s}"] = texts, st
    meths = list(cfg.methods)
    k = len(meths)
    mean, std = np.full((k, k), 0.5), np.zeros((k, k))
    for i, a in enumerate(meths):
        for j in range(i + 1, k):  # the judge is antisymmetric: P(j ≻ i) = 1 − P(i ≻ j)
            b = meths[j]
            rates = [float(np.mean(judge(xs, samples[(a, s)], samples[(b, t)])))
                     for s in seeds for t in seeds]
            mean[i, j], std[i, j] = np.mean(rates), np.std(rates)
            mean[j, i], std[j, i] = 1.0 - mean[i, j], std[i, j]
    vs_sft = {m: [float(np.mean(judge(xs, samples[(m, s)], samples[("sft", 0)]))) for s in seeds]
              for m in meths}
    result = {"methods": meths, "mean": mean.round(4).tolist(), "std": std.round(4).tolist(),
              "seeds": len(seeds), "prompts": len(xs),
              "judge": judge.describe() if hasattr(judge, "describe") else str(judge)}
    extra = {"vs_sft": {m: {"mean": float(np.mean(v)), "std": float(np.std(v))}
                        for m, v in vs_sft.items()},
             "policy_stats": stats,
             "examples": {f"{m}_s{s}": samples[(m, s)][:5] for (m, s) in samples},
             "eval_prompts_examples": xs[:5]}
    return {"winrates": result, "extra": extra}


# --- TL;DR (hub models, internet; never run in tests) ----------------------------------------


def _tldr_prompts(cfg: PipelineConfig, split: str) -> list[str]:
    from datasets import load_dataset

    hf_split, n = {"sft": ("train", cfg.n_sft_docs), "pairs": ("train", cfg.n_pair_prompts),
                   "align": ("train", cfg.n_align_prompts),
                   "eval": ("test", cfg.n_eval_prompts)}[split]
    ds = load_dataset(cfg.sft_dataset, split=hf_split)
    return [r["prompt"] for r in ds.select(range(min(n, len(ds))))]


def _tldr_sft(cfg: PipelineConfig) -> tuple[list[str], list[str]]:
    from datasets import load_dataset

    ds = load_dataset(cfg.sft_dataset, split="train")
    ds = ds.select(range(min(cfg.n_sft_docs, len(ds))))
    return [r["prompt"] for r in ds], [r["completion"] for r in ds]


def _tldr_pairs(cfg: PipelineConfig) -> dict:
    """Human preference pairs (Stiennon et al.), as the paper trains its PM/RM on."""
    from datasets import load_dataset

    ds = load_dataset(cfg.pref_dataset, split="train")
    ds = ds.shuffle(seed=cfg.seed).select(range(min(cfg.n_pair_prompts, len(ds))))
    rng = np.random.default_rng(cfg.seed)
    x, y, y2, label = [], [], [], []
    def text(v):  # plain string, or a list of chat messages (take the last one's content)
        return v if isinstance(v, str) else v[-1]["content"]

    for r in ds:  # random order so that the label is not always 1
        flip = bool(rng.random() < 0.5)
        x.append(r["prompt"])
        y.append(text(r["rejected"] if flip else r["chosen"]))
        y2.append(text(r["chosen"] if flip else r["rejected"]))
        label.append(0.0 if flip else 1.0)
    return {"x": x, "y": y, "y2": y2, "label": label}


class LLMJudge:
    """Side-by-side LLM judge (the paper's evaluation): asks an instruction-tuned hub model
    which of two summaries is better and reads P("1") vs P("2") from its next-token logits,
    averaged over both presentation orders so that P(y ≻ y') + P(y' ≻ y) = 1."""

    TEMPLATE = ("Which of the following summaries does a better job of summarising the most "
                "important points of the text, without including unimportant or irrelevant "
                "details?\n\nText:\n{x}\n\nSummary 1: {a}\n\nSummary 2: {b}\n\n"
                "Answer with 1 or 2.\nAnswer: ")

    def __init__(self, model_id: str, batch_size: int = 8):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tok = AutoTokenizer.from_pretrained(model_id, padding_side="left")
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        self.model = AutoModelForCausalLM.from_pretrained(model_id, torch_dtype="auto",
                                                          device_map="auto").eval()
        self.ids = [self.tok.encode(c, add_special_tokens=False)[0] for c in ("1", "2")]
        self.batch_size, self.model_id = batch_size, model_id

    def describe(self) -> str:
        return f"LLM side-by-side judge {self.model_id} (both orders averaged)"

    @torch.no_grad()
    def _p_first(self, xs, a, b) -> np.ndarray:
        out = []
        for i in range(0, len(xs), self.batch_size):
            texts = [self.TEMPLATE.format(x=x, a=u, b=v) for x, u, v in
                     zip(xs[i: i + self.batch_size], a[i: i + self.batch_size],
                         b[i: i + self.batch_size])]
            enc = self.tok(texts, return_tensors="pt", padding=True).to(self.model.device)
            logits = self.model(**enc).logits[:, -1, self.ids].float()
            out.append(torch.softmax(logits, -1)[:, 0].cpu().numpy())
        return np.concatenate(out)

    def __call__(self, xs, ys, ys2) -> np.ndarray:
        return 0.5 * (self._p_first(xs, ys, ys2) + 1.0 - self._p_first(xs, ys2, ys))
