"""LLM backend: Hugging Face transformer policies trained online with :mod:`prefgame.losses`.

Every method of Calandriello et al. (2024) -- online IPO, IPO-MD(β), online DPO, online SLiC,
Nash-MD-PG(β) and KL-regularised RL -- runs through ONE trainer; a method is a sampler plus a
loss from :mod:`prefgame.losses` (no formula is re-implemented here).

API overview (all names importable from ``prefgame.llm``):

Configs (:mod:`prefgame.llm.config`)
    ``OnlineConfig`` (typed dataclass, validated; ``OnlineConfig.from_args(argv)`` reads
    ``--config file.{json,yaml,toml}`` then ``--field value`` overrides), ``load_config(cls, path,
    overrides)``, ``config_from_args(cls, argv)``, ``schedule_value(spec, base, step, total)``,
    ``METHOD_NAMES``.
Tokenizers and tiny models (:mod:`prefgame.llm.tokenizers`, no downloads)
    ``build_word_tokenizer(texts, max_vocab=256)``, ``build_char_tokenizer(texts)``,
    ``tiny_gpt2(tokenizer, n_layer=2, n_embd=64, ...)``, ``tiny_t5(tokenizer, ...)``,
    ``tiny_sequence_classifier(tokenizer, ...)`` (reward / preference backbone).
Policies (:mod:`prefgame.llm.policy`)
    ``Policy(model, tokenizer)`` (``.reference()`` → frozen copy, or LoRA base with adapters
    off), ``load_policy(name_or_path, lora_r=0, ...)``, ``policy_from_config(cfg)`` → (π, μ),
    ``add_lora(model, r=...)``,
    ``SequenceBatch`` (prompt ids/mask left-padded, completion ids/mask right-padded, optional
    per-token ``policy_logp``/``ref_logp``/``sample_logp``), ``encode_prompts(tok, prompts)``,
    ``encode_completions(tok, completions)``, ``token_logprobs(policy, batch)`` → ``[B, T]``,
    ``next_token_distribution(policy, prompts)`` → ``[B, V]``;
    ``sequence_logprobs(policy, batch, reduction="sum"|"mean")`` → ``[B]`` (both take
    ``group=k`` when rows come in runs of k samples of one prompt: the prompt is encoded once).
Samplers (:mod:`prefgame.llm.sampling`)
    ``generate(policy, prompt_ids, prompt_mask, ref=None, beta=0.0, max_new_tokens=64,
    temperature=1.0, top_p=1.0, generator=None, group=1)`` → ``SequenceBatch`` -- β = 0: π,
    β = 1: μ, otherwise the KV-cached token-level mixture softmax((1−β) logits_π + β logits_μ);
    ``generate_text(policy, prompts, ...)`` → list of strings.
Judges (:mod:`prefgame.llm.judges`), all ``judge(prompts, ys, ys2) -> Tensor[B]`` = P(y ≻ y')
    ``PairwisePreferenceModel(model, tokenizer)`` (exactly antisymmetric),
    ``RewardModel(model, tokenizer)`` (Bradley–Terry; ``.reward(prompts, completions)``),
    ``CallableJudge(fn, batched=False, symmetrise=False)``, ``LLMJudge(model, tokenizer)``,
    ``train_judge(judge, prompts, chosen, rejected, epochs=1, ...)``; the HF ones also have
    ``.from_pretrained(name)``.
Trainer (:mod:`prefgame.llm.trainer`)
    ``OnlineTrainer(config, policy, judge, prompts, ref=None, reward_model=None,
    callbacks=())`` with ``.train()``, ``.step()``, ``.collect()``, ``.loss(rollout)``,
    ``.train_on(rollout)``, ``.save_checkpoint()``, ``.resume(path | "latest")``;
    ``METHODS``, ``load_checkpoint(template_policy, checkpoint_dir)``, ``latest_checkpoint(dir)``.
Evaluation (:mod:`prefgame.llm.evaluate`)
    ``win_rate_matrix(policies, prompts, judge, ...)`` → ``WinRateMatrix`` with
    ``.to_markdown()``, ``.to_json(path)``, ``.plot(path)``;
    ``evaluate_checkpoints(template, {method: [ckpt dirs per seed]}, prompts, judge, out_dir)``.
Data (:mod:`prefgame.llm.data`)
    ``load_prompts(source, column="prompt")``, ``load_preference_pairs(source, ...)``,
    ``load_tldr_prompts(split)``, ``load_tldr_preferences(split)`` (network; users only).

Command line (:mod:`prefgame.llm.__main__`)
    ``python -m prefgame.llm --config run.yaml [--field value ...]`` -- ``RunConfig`` =
    ``OnlineConfig`` + ``prompts``, ``prompt_column``, ``prompt_template``, ``judge_kind``
    (reward | pairwise), ``judge_name``; bad inputs exit with status 2 and one line.

Minimal run (CPU, offline)::

    from prefgame.llm import *
    tok = build_word_tokenizer(texts)
    policy = Policy(tiny_gpt2(tok), tok)
    judge = CallableJudge(lambda x, y, y2: float(len(y) < len(y2)), symmetrise=True)
    cfg = OnlineConfig(method="ipo_md", beta=0.125, max_steps=20, max_new_tokens=16)
    OnlineTrainer(cfg, policy, judge, prompts).train()
"""

from prefgame.llm.config import (
    METHOD_NAMES,
    OnlineConfig,
    config_from_args,
    load_config,
    schedule_value,
)
from prefgame.llm.judges import (
    CallableJudge,
    Judge,
    LLMJudge,
    PairwisePreferenceModel,
    RewardModel,
    antisymmetric_sigmoid,
    train_judge,
)
from prefgame.llm.policy import (
    Policy,
    SequenceBatch,
    add_lora,
    encode_completions,
    encode_prompts,
    load_policy,
    next_token_distribution,
    policy_from_config,
    sequence_logprobs,
    token_logprobs,
)
from prefgame.llm.sampling import generate, generate_text, mixture_logits
from prefgame.llm.tokenizers import (
    build_char_tokenizer,
    build_word_tokenizer,
    tiny_gpt2,
    tiny_sequence_classifier,
    tiny_t5,
)
from prefgame.llm.trainer import METHODS, OnlineTrainer, Rollout, latest_checkpoint, load_checkpoint

__all__ = [
    "METHODS",
    "METHOD_NAMES",
    "CallableJudge",
    "Judge",
    "LLMJudge",
    "OnlineConfig",
    "OnlineTrainer",
    "PairwisePreferenceModel",
    "Policy",
    "RewardModel",
    "Rollout",
    "SequenceBatch",
    "add_lora",
    "antisymmetric_sigmoid",
    "build_char_tokenizer",
    "build_word_tokenizer",
    "config_from_args",
    "encode_completions",
    "encode_prompts",
    "generate",
    "generate_text",
    "latest_checkpoint",
    "load_checkpoint",
    "load_config",
    "load_policy",
    "mixture_logits",
    "next_token_distribution",
    "policy_from_config",
    "schedule_value",
    "sequence_logprobs",
    "tiny_gpt2",
    "tiny_sequence_classifier",
    "tiny_t5",
    "token_logprobs",
    "train_judge",
]

from prefgame.llm.data import (
    load_preference_pairs,
    load_prompts,
    load_tldr_preferences,
    load_tldr_prompts,
)
from prefgame.llm.evaluate import WinRateMatrix, evaluate_checkpoints, win_rate_matrix

__all__ += [
    "WinRateMatrix",
    "evaluate_checkpoints",
    "load_preference_pairs",
    "load_prompts",
    "load_tldr_preferences",
    "load_tldr_prompts",
    "win_rate_matrix",
]
