"""The steps of the summarisation experiment, each reading the config and a work folder.

    sft  →  pairs  →  pm, rm (learned arm), gold reward fit (oracle arms)
         →  align: arm × method × τ × seed  →  evaluate (gold judge)  →  report

Every step writes its artefact into the work folder and is skipped when that artefact exists,
so an interrupted run continues where it stopped.  Alignment runs are independent jobs,
executed in ``cfg.jobs`` worker processes; each saves ``run.json`` with its samples on the
evaluation prompts, drawn from a random stream of its own (a hash of arm, method, τ and seed),
and with per-sample log π/μ, from which KL(π‖μ) is estimated.

Which runs exist: for every arm and method, one seed at every τ of the frontier grid; then the
headline τ's get ``cfg.seeds`` seeds each:

* the paper's τ (Calandriello et al. 2024, §6), when ``paper_tau_table`` is on;
* the *rule* τ: the grid value whose KL(π‖μ) on training prompts (seed 0) is closest to
  ``cfg.kl_target`` on a log scale.  The rule reads only the policy's own log-probabilities on
  training prompts: it never looks at the gold judge or at the evaluation prompts.  In the
  arms of ``matched_arms`` the rule τ is instead the τ searched to hit the KL target
  (:mod:`~prefgame.experiments.summarisation.matched`), which also runs ``matched_seeds`` seeds
  at the τ of every target in ``kl_targets``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from prefgame.experiments.summarisation import data as D
from prefgame.experiments.summarisation import models as M
from prefgame.experiments.summarisation.config import ExperimentConfig
from prefgame.files import atomic_write
from prefgame.llm import (
    OnlineConfig,
    OnlineTrainer,
    Policy,
    encode_prompts,
    generate,
    load_pretrained_policy,
)
from prefgame.llm.judges import Judge, PairwisePreferenceModel, RewardModel
from prefgame.llm.policy import sequence_logprobs
from prefgame.llm.sft import train_sft
from prefgame.tasks import factsum as FS

__all__ = [
    "align_run",
    "arm_judges",
    "fit_oracle_reward",
    "make_pairs",
    "planned_runs",
    "rule_tau",
    "run_dir",
    "run_sft",
    "sample_policy",
    "train_scorer",
]


def quiet_transformers() -> None:
    """No weight-loading progress bars or advisory warnings in the experiment's output."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    import logging
    import warnings

    logging.getLogger("accelerate").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=".*past_key_values.*", category=FutureWarning)


quiet_transformers()


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def save_json(path: Path, obj: Any) -> None:
    """Write JSON atomically (a crash never leaves a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, json.dumps(obj, indent=1))


#: Keys every cached result must hold (a file of another version, or edited, is named).
CACHE_KEYS = {
    "sft.json": ("time_s", "covered", "invented", "q", "data_covered", "data_invented"),
    "pairs.json": ("pairs_writer", "pairs_policy", "heldout_writer", "heldout_policy"),
    "pm.json": ("kind", "time_s", "steps", "p_heldout_writer", "p_heldout_policy"),
    "rm.json": ("kind", "time_s", "steps", "p_heldout_writer", "p_heldout_policy"),
    "run.json": ("arm", "method", "tau", "seed", "kl_train", "kl_eval", "texts", "time_s"),
    "sft_samples.json": ("texts",),
    "gold_reward.json": ("weights",),
    "gold_reward_no_cycle.json": ("weights",),
}
_FORCE = "rerun with --force to move the work folder aside and rebuild"


def read_json(path: Path) -> Any:
    """The JSON value stored in ``path``; a cached result (:data:`CACHE_KEYS`) that is not
    JSON, or lacks a key, raises ``ValueError`` naming the file."""
    path = Path(path)
    try:
        obj = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"cached file {str(path)!r} is corrupt ({type(exc).__name__}); {_FORCE}")
    missing = [
        k for k in CACHE_KEYS.get(path.name, ()) if not isinstance(obj, dict) or k not in obj
    ]
    if missing:
        raise ValueError(f"cached file {str(path)!r} lacks {missing}; {_FORCE}")
    return obj


def folder_hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file of a saved model folder, by name."""
    return {
        f.name: hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(Path(folder).iterdir())
        if f.is_file()
    }


def checked_folder(work: Path, name: str) -> str:
    """``work/<name>`` after checking its files against the hashes saved in ``<name>.json``
    when it was written (a replaced or truncated weight file is named, never used)."""
    folder, info = work / name, work / f"{name}.json"
    saved = read_json(info).get("hashes") if info.exists() else None
    if saved is not None:
        now = folder_hashes(folder) if folder.is_dir() else {}
        for fname, digest in saved.items():
            if fname not in now:
                raise ValueError(f"cached model file {str(folder / fname)!r} is missing; {_FORCE}")
            if now[fname] != digest:
                raise ValueError(
                    f"cached model file {str(folder / fname)!r} does not match the hash saved in "
                    f"{str(info)!r} (replaced or truncated); {_FORCE}"
                )
    return str(folder)


def device(cfg: ExperimentConfig) -> torch.device:
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.device)


def stream_seed(*parts: object) -> int:
    """A 63-bit seed from a stable hash of ``parts`` (independent streams per run)."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


# --- the SFT policy ----------------------------------------------------------------------------


def run_sft(cfg: ExperimentConfig, work: Path) -> dict:
    """Train the SFT policy μ (a T5 from a config) on noisy
    writer summaries (a fresh document every example), then measure its gold quality against
    its training data's on the evaluation prompts.  Saves ``work/sft`` and ``sft.json``."""
    info_path = work / "sft.json"
    if info_path.exists():
        return read_json(info_path)
    torch.manual_seed(cfg.seed)
    tok = M.factsum_tokenizer()
    model = M.policy_model(
        tok, layers=cfg.policy_layers, embd=cfg.policy_embd, heads=cfg.policy_heads, seed=cfg.seed
    )
    policy = Policy(model.to(device(cfg)), tok)
    every = max(1, cfg.sft_steps // 10)

    def progress(step: int, loss: float) -> None:
        if step % every == 0:
            log(f"sft step {step}/{cfg.sft_steps}: nll/token {loss:.3f}")

    info = train_sft(
        policy,
        D.writer_batches(cfg),
        steps=cfg.sft_steps,
        batch_size=cfg.sft_batch,
        lr=cfg.sft_lr,
        warmup_steps=cfg.sft_warmup,
        decay_frac=cfg.sft_decay_frac,
        seed=cfg.seed,
        max_prompt_length=cfg.max_prompt_length,
        callback=progress,
    )
    out = work / "sft"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    info["hashes"] = folder_hashes(out)
    info["curve"] = info["curve"][:: max(1, len(info["curve"]) // 200)]
    info.update(sft_quality(cfg, policy))
    save_json(info_path, info)
    log(
        f"sft: {info['time_s']:.0f}s, covered {info['covered']:.2f} (data "
        f"{info['data_covered']:.2f}), invented {info['invented']:.2f} (data "
        f"{info['data_invented']:.2f})"
    )
    return info


def sft_quality(cfg: ExperimentConfig, policy: Policy) -> dict:
    """Gold-quality terms of SFT samples and of writer summaries on the evaluation prompts."""
    docs = D.documents(cfg, "eval", cfg.n_eval_prompts)
    xs = [FS.format_prompt(d) for d in docs]
    gold = D.gold_judge(cfg)
    ys, _ = sample_policy(cfg, policy, policy, xs, seed=stream_seed("sft-quality", cfg.seed))
    rng = np.random.default_rng(stream_seed("writer-quality", cfg.seed))
    data = [FS.noisy_summary(d, rng, D.doc_config(cfg)) for d in docs]
    out = {}
    for prefix, texts in (("", ys), ("data_", data)):
        parts = [gold.quality_parts(x, y) for x, y in zip(xs, texts)]
        for k in ("q", "covered", "invented", "repeated", "excess_len"):
            out[prefix + k] = float(np.mean([p[k] for p in parts]))
    return out


@torch.no_grad()
def sample_policy(
    cfg: ExperimentConfig,
    policy: Policy,
    ref: Policy,
    xs: list[str],
    *,
    seed: int,
    batch: int = 500,
    temperature: float = 1.0,
) -> tuple[list[str], np.ndarray]:
    """One sample y ~ π per prompt and its log π(y)/μ(y) (summed over tokens).

    With ``temperature`` T ≠ 1 the sample comes from the sharpened policy π_T (each token from
    softmax(logits/T)) and the ratio is log π_T(y)/μ(y), π_T's own sequence probability."""
    gen = torch.Generator(policy.device).manual_seed(seed)
    texts, ratios = [], []
    for i in range(0, len(xs), batch):
        ids, mask = encode_prompts(
            policy.tokenizer,
            xs[i : i + batch],
            max_length=cfg.max_prompt_length,
            device=policy.device,
        )
        b = generate(
            policy,
            ids,
            mask,
            max_new_tokens=cfg.max_new_tokens,
            generator=gen,
            temperature=temperature,
        )
        logp = b.policy_logp if temperature == 1.0 else b.sample_logp
        ratios.append((logp.sum(-1) - sequence_logprobs(ref, b)).cpu().numpy())
        texts.extend(b.texts(policy.tokenizer))
    return texts, np.concatenate(ratios)


# --- pairs, PM and RM ----------------------------------------------------------------------------


def make_pairs(cfg: ExperimentConfig, work: Path) -> dict:
    """Training and held-out pairs of both kinds, labelled by the gold judge (λ of the config).

    Training: ``n_writer_pairs`` writer pairs + ``n_policy_pairs`` pairs of two SFT samples,
    soft labels from ``votes`` votes.  Held-out (documents of a split of their own):
    ``n_heldout_pairs`` of each kind with one vote each.  Saved in ``pairs.json``.
    """
    path = work / "pairs.json"
    if path.exists():
        return read_json(path)
    run_sft(cfg, work)
    gold = D.gold_judge(cfg)
    policy = load_pretrained_policy(checked_folder(work, "sft"), device=device(cfg))
    out = {}
    for split, n_w, n_p, votes in (
        ("pairs", cfg.n_writer_pairs, cfg.n_policy_pairs, cfg.votes),
        ("heldout", cfg.n_heldout_pairs, cfg.n_heldout_pairs, 1),
    ):
        w = D.writer_pairs(cfg, split, n_w + n_p, seed=stream_seed("writer", split, cfg.seed))
        writer = {k: v[:n_w] for k, v in w.items()}
        xs = w["x"][n_w:]  # the policy pairs use documents of the same split, not the writer's
        ys, _ = sample_policy(cfg, policy, policy, xs, seed=stream_seed("pol-a", split, cfg.seed))
        ys2, _ = sample_policy(cfg, policy, policy, xs, seed=stream_seed("pol-b", split, cfg.seed))
        pol = {"x": xs, "y": ys, "y2": ys2}
        for kind, pairs in (("writer", writer), ("policy", pol)):
            out[f"{split}_{kind}"] = D.label_pairs(
                pairs, gold, votes=votes, seed=stream_seed("votes", split, kind)
            )
    save_json(path, out)
    return out


def _scorer(cfg: ExperimentConfig, kind: str, tok, *, seed: int):
    net = M.scorer_backbone(
        tok,
        layers=cfg.scorer_layers,
        embd=cfg.scorer_embd,
        heads=cfg.scorer_heads,
        positions=256,
        seed=seed,
    )
    return net, (M.make_pm(net, tok) if kind == "pm" else M.make_rm(net, tok))


def load_scorer(
    cfg: ExperimentConfig, work: Path, kind: str
) -> PairwisePreferenceModel | RewardModel:
    """The trained PM (``kind="pm"``) or RM (``"rm"``)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = checked_folder(work, kind)
    tok = AutoTokenizer.from_pretrained(path)
    net = AutoModelForSequenceClassification.from_pretrained(path).to(device(cfg)).eval()
    return M.make_pm(net, tok) if kind == "pm" else M.make_rm(net, tok)


def train_scorer(cfg: ExperimentConfig, work: Path, kind: str) -> dict:
    """Fit the PM or RM on all training pairs (soft labels), AdamW with a linear decay.
    Saves ``work/<kind>`` and ``<kind>.json`` with its held-out predictions."""
    from prefgame.llm import train_judge

    info_path = work / f"{kind}.json"
    if info_path.exists():
        return read_json(info_path)
    pairs = make_pairs(cfg, work)
    train = {
        k: pairs["pairs_writer"][k] + pairs["pairs_policy"][k] for k in ("x", "y", "y2", "label")
    }
    tok = M.factsum_tokenizer()
    net, judge = _scorer(cfg, kind, tok, seed=cfg.seed + (11 if kind == "pm" else 12))
    net.to(device(cfg))
    t0 = time.time()
    curve = train_judge(
        judge,
        train["x"],
        train["y"],
        train["y2"],
        labels=train["label"],
        epochs=cfg.scorer_epochs,
        batch_size=cfg.scorer_batch,
        lr=cfg.scorer_lr,
        seed=cfg.seed + 13,
    )
    net.eval()
    info = {
        "kind": kind,
        "train_pairs": len(train["x"]),
        "epochs": cfg.scorer_epochs,
        "steps": len(curve),
        "time_s": time.time() - t0,
        "curve": curve[:: max(1, len(curve) // 200)],
        "params": sum(p.numel() for p in net.parameters()),
    }
    with torch.no_grad():
        for held in ("heldout_writer", "heldout_policy"):
            h = pairs[held]
            info[f"p_{held}"] = judge(h["x"], h["y"], h["y2"]).numpy().tolist()
    net.save_pretrained(work / kind)
    tok.save_pretrained(work / kind)
    info["hashes"] = folder_hashes(work / kind)
    save_json(info_path, info)
    log(f"{kind}: {info['time_s']:.0f}s, {len(curve)} steps, final loss {np.mean(curve[-50:]):.3f}")
    return info


def fit_oracle_reward(cfg: ExperimentConfig, work: Path, *, cycle: bool) -> list[float]:
    """The Bradley–Terry reward fitted to the gold judge (with or without its cycle) on the
    training pairs of SFT samples (the oracle RL arm's reward; chosen before any result)."""
    path = work / f"gold_reward{'' if cycle else '_no_cycle'}.json"
    if path.exists():
        return read_json(path)["weights"]
    pairs = make_pairs(cfg, work)["pairs_policy"]
    if not pairs["x"]:
        pairs = make_pairs(cfg, work)["pairs_writer"]
    gold = D.gold_judge(cfg, cycle=cycle)
    w = M.fit_gold_reward(gold, pairs["x"], pairs["y"], pairs["y2"]).tolist()
    save_json(
        path,
        {
            "weights": w,
            "features": ["q", "who", "where", "when"],
            "describe": M.GoldReward(gold, w).describe(),
        },
    )
    return w


def arm_judges(cfg: ExperimentConfig, work: Path, arm: str) -> tuple[Judge, Judge]:
    """(pairwise judge, reward model) that alignment in ``arm`` trains against."""
    if arm == "learned":
        return load_scorer(cfg, work, "pm"), load_scorer(cfg, work, "rm")
    cycle = arm == "oracle"
    gold = D.gold_judge(cfg, cycle=cycle)
    return M.GoldPreference(gold), M.GoldReward(gold, fit_oracle_reward(cfg, work, cycle=cycle))


def eval_judge(cfg: ExperimentConfig, arm: str) -> FS.GoldJudge:
    """The gold judge that scores ``arm``: the control arm is scored in its own world (λ = 0)."""
    return D.gold_judge(cfg, cycle=arm != "oracle_no_cycle")


# --- alignment runs ------------------------------------------------------------------------------


def run_dir(work: Path, arm: str, method: str, tau: float, seed: int) -> Path:
    """``work/align/<arm>/<method>/tau<τ as repr>_s<seed>`` (exact τ in the name)."""
    return work / "align" / arm / method / f"tau{float(tau)!r}_s{seed}"


def align_run(
    cfg: ExperimentConfig, work: Path, arm: str, method: str, tau: float, seed: int
) -> dict:
    """Align a copy of the SFT policy with one method, τ and seed against ``arm``'s judge, then
    sample it on the evaluation prompts and on ``n_kl_prompts`` training prompts."""
    out = run_dir(work, arm, method, tau, seed)
    if (out / "run.json").exists():
        return read_json(out / "run.json")
    dev = device(cfg)
    sft = checked_folder(work, "sft")  # hashed once: π and μ load the same files
    policy = load_pretrained_policy(sft, device=dev)
    ref = load_pretrained_policy(sft, device=dev)
    ref.model.requires_grad_(False)
    judge, reward = arm_judges(cfg, work, arm)
    ocfg = OnlineConfig(
        method=method,
        tau=float(tau),
        beta=float(cfg.beta.get(method, 0.0)),
        logp_reduction=cfg.logp_reduction,
        max_steps=cfg.align_steps,
        batch_size=cfg.align_batch,
        lr=cfg.align_lr,
        adam_beta1=0.0,
        weight_decay=0.0,
        max_new_tokens=cfg.max_new_tokens,
        max_prompt_length=cfg.max_prompt_length,
        seed=stream_seed("train", arm, method, float(tau), seed) % 2**31,
        output_dir=str(out / "trainer"),
        win_rate_every=0,
        log_tensorboard=False,
        progress_bar=False,
    )
    t0 = time.time()
    trainer = OnlineTrainer(
        ocfg, policy, judge, D.prompts(cfg, "align"), ref=ref, reward_model=reward
    )
    history = trainer.train()
    policy.model.eval()
    xs_eval = D.prompts(cfg, "eval")
    texts, ratio = sample_policy(
        cfg, policy, ref, xs_eval, seed=stream_seed("eval", arm, method, float(tau), seed)
    )
    _, ratio_train = sample_policy(
        cfg,
        policy,
        ref,
        D.prompts(cfg, "align")[: cfg.n_kl_prompts],
        seed=stream_seed("kl", arm, method, float(tau), seed),
    )
    import shutil

    shutil.rmtree(out / "trainer", ignore_errors=True)  # checkpoints: not needed afterwards
    rec = {
        "arm": arm,
        "method": method,
        "tau": float(tau),
        "seed": seed,
        "beta": ocfg.beta,
        "time_s": time.time() - t0,
        "kl_eval": float(ratio.mean()),
        "kl_train": float(ratio_train.mean()),
        "log": [
            {k: h.get(k) for k in ("step", "loss", "kl", "p_mean", "reward")}
            for h in history[:: max(1, len(history) // 50)]
        ],
        "texts": texts,
        "log_ratio": ratio.round(4).tolist(),
    }
    save_json(out / "run.json", rec)
    log(
        f"{arm:>15} {method:>11} τ={tau:<6g} seed {seed}: {rec['time_s']:.0f}s, "
        f"KL train {rec['kl_train']:.2f}"
    )
    return rec


def sft_samples(cfg: ExperimentConfig, work: Path) -> dict:
    """``seeds`` independent sets of SFT samples on the evaluation prompts (the baseline)."""
    path = work / "sft_samples.json"
    if path.exists():
        return read_json(path)
    policy = load_pretrained_policy(checked_folder(work, "sft"), device=device(cfg))
    xs = D.prompts(cfg, "eval")
    sets = [
        sample_policy(cfg, policy, policy, xs, seed=stream_seed("sft-eval", s))[0]
        for s in range(cfg.seeds)
    ]
    save_json(path, {"texts": sets})
    return {"texts": sets}


def planned_runs(cfg: ExperimentConfig, rule: dict | None = None) -> list[tuple]:
    """(arm, method, τ, seed) of every run: the grid at seed 0, then (when ``rule`` — the
    rule τ per arm and method — is known) the headline τ's at every seed."""
    jobs = []
    for arm in cfg.arms:
        for m in cfg.methods:
            jobs += [(arm, m, float(t), 0) for t in cfg.tau_grid[m]]
    if rule is None:
        return jobs
    for s in range(cfg.seeds):
        for arm in cfg.arms:
            for m in cfg.methods:
                taus = [float(cfg.paper_tau[m])] if cfg.paper_tau_table else []
                for t in [*taus, float(rule[arm][m])]:
                    if (arm, m, t, s) not in jobs:
                        jobs.append((arm, m, t, s))
    return jobs


def rule_tau(cfg: ExperimentConfig, work: Path, searched: dict | None = None) -> dict:
    """Per arm and method: the grid τ whose seed-0 KL on training prompts is closest to
    ``kl_target`` on a log scale (ties: the larger τ); in an arm of ``searched`` (the matched-KL
    search), the τ matched to the KL target closest to ``kl_target``."""
    out: dict = {}
    for arm in cfg.arms:
        out[arm] = {}
        for m in cfg.methods:
            if searched and arm in searched:
                target = min(cfg.kl_targets, key=lambda t: abs(math.log(t / cfg.kl_target)))
                out[arm][m] = float(searched[arm][m][str(float(target))]["tau"])
                continue
            best = None
            for t in sorted(cfg.tau_grid[m], reverse=True):
                kl = read_json(run_dir(work, arm, m, float(t), 0) / "run.json")["kl_train"]
                d = abs(math.log(max(kl, 1e-6)) - math.log(cfg.kl_target))
                if best is None or d < best[0] - 1e-12:
                    best = (d, float(t))
            out[arm][m] = best[1]
    return out


def _init_worker(threads: int) -> None:
    torch.set_num_threads(threads)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def parallel_map(fn: Callable[..., Any], jobs: list[tuple], processes: int) -> list:
    """``[fn(*j) for j in jobs]``, in ``processes`` spawned workers when > 1 (one torch thread
    each: the models are small, so processes scale better than threads)."""
    if processes <= 1 or len(jobs) <= 1:
        return [fn(*j) for j in jobs]
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(processes, initializer=_init_worker, initargs=(1,)) as pool:
        return pool.starmap(fn, jobs, chunksize=1)
