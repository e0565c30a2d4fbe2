"""Models of the summarisation experiment: tokenizer, policy, PM/RM backbones, oracle judges.

* The policy is a small T5 encoder-decoder trained from scratch (FactSum; the paper's policy is
  a T5 too) or a hub model (TL;DR).  T5's cross-attention learns to copy document words within
  a few hundred SFT steps; a causal GPT-2 of the same size needs thousands (it has to form
  induction heads first), which the CPU budget of the experiment cannot afford.
* The PM and RM must *compare a summary with its document*: a summary is good when its entity
  words are the key facts of the document and not the distractors'.  A causal model started
  from the policy reads the document before the summary and cannot look back from a summary word
  to the document word it copies; here the backbone is a small bidirectional encoder (BERT
  architecture, from a config) over ``document | summary [| summary']``, in which every summary
  token attends to every document token.  The PM is
  :class:`~prefgame.llm.judges.PairwisePreferenceModel` (reads both summaries, exactly
  antisymmetric, so it can represent the style cycle), the RM is
  :class:`~prefgame.llm.judges.RewardModel` (Bradley–Terry).
* Oracle judges for the oracle arms: :class:`GoldPreference` (the gold judge itself as a
  :class:`~prefgame.llm.judges.Judge`) and :class:`GoldReward`, the Bradley–Terry reward that
  best fits the gold judge, r(x, y) = a·q(x, y) + b[style(y)], fitted by :func:`fit_gold_reward`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from scipy.optimize import minimize

from prefgame.llm.judges import Judge, PairwisePreferenceModel, RewardModel
from prefgame.tasks import factsum as FS

if TYPE_CHECKING:
    from transformers import (
        BertForSequenceClassification,
        PreTrainedModel,
        PreTrainedTokenizerBase,
        PreTrainedTokenizerFast,
        T5ForConditionalGeneration,
    )

__all__ = [
    "SEP",
    "GoldPreference",
    "GoldReward",
    "factsum_tokenizer",
    "fit_gold_reward",
    "make_pm",
    "make_rm",
    "policy_model",
    "scorer_backbone",
]

#: Separator between the document and the summaries in the PM/RM input.
SEP = "|"
PM_TEMPLATE = "{prompt} " + SEP + " {first} " + SEP + " {second}"
RM_TEMPLATE = "{prompt} " + SEP + " {completion}"


def factsum_tokenizer() -> PreTrainedTokenizerFast:
    """Word-level tokenizer over FactSum's vocabulary plus the separator (no unknown words)."""
    from prefgame.llm.tokenizers import build_word_tokenizer

    return build_word_tokenizer([" ".join([*FS.vocabulary(), SEP])], max_vocab=512)


def policy_model(
    tokenizer: PreTrainedTokenizerBase, *, layers: int, embd: int, heads: int, seed: int
) -> T5ForConditionalGeneration:
    """A T5 encoder-decoder from a config (seeded, dropout 0, feed-forward width 4·embd)."""
    from prefgame.llm.tokenizers import tiny_t5

    return tiny_t5(
        tokenizer, num_layers=layers, d_model=embd, num_heads=heads, d_ff=4 * embd, seed=seed
    )


def scorer_backbone(
    tokenizer: PreTrainedTokenizerBase,
    *,
    layers: int,
    embd: int,
    heads: int,
    positions: int,
    seed: int,
) -> BertForSequenceClassification:
    """A bidirectional BERT-architecture encoder with one output (seeded, dropout 0)."""
    from transformers import BertConfig, BertForSequenceClassification

    conf = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=embd,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=4 * embd,
        max_position_embeddings=positions,
        num_labels=1,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        pad_token_id=tokenizer.pad_token_id,
        type_vocab_size=1,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return BertForSequenceClassification(conf)


def make_pm(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, *, max_length: int = 256
) -> PairwisePreferenceModel:
    """The PM around a backbone: P = σ(g(x|y|y') − g(x|y'|y))."""
    return PairwisePreferenceModel(
        model, tokenizer, template=PM_TEMPLATE, max_length=max_length, batch_size=256
    )


def make_rm(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, *, max_length: int = 256
) -> RewardModel:
    """The RM around a backbone: r(x, y) = g(x|y), P = σ(r − r')."""
    return RewardModel(
        model, tokenizer, template=RM_TEMPLATE, max_length=max_length, batch_size=256
    )


class GoldPreference(Judge):
    """The FactSum gold judge P(y ≻ y' | x) as a :class:`~prefgame.llm.judges.Judge`."""

    def __init__(self, gold: FS.GoldJudge) -> None:
        self.gold = gold

    def preference(
        self, prompts: Sequence[str], ys: Sequence[str], ys2: Sequence[str]
    ) -> torch.Tensor:
        return torch.as_tensor(self.gold(list(prompts), list(ys), list(ys2)), dtype=torch.float32)

    def describe(self) -> str:
        return self.gold.describe()


def _style_onehot(summaries: Sequence[str]) -> np.ndarray:
    """[N, 3] indicators of the who/where/when styles ("none" is the zero row)."""
    styles = [FS.summary_style(y) for y in summaries]
    return np.array([[s == t for t in FS.STYLES] for s in styles], dtype=float)


def gold_reward_features(
    gold: FS.GoldJudge, prompts: Sequence[str], summaries: Sequence[str]
) -> np.ndarray:
    """φ(x, y) = (q(x, y), 1[who-first], 1[where-first], 1[when-first]), ``[N, 4]``."""
    q = np.array([gold.quality(x, y) for x, y in zip(prompts, summaries)])
    return np.column_stack([q, _style_onehot(summaries)])


def fit_gold_reward(
    gold: FS.GoldJudge, prompts: Sequence[str], ys: Sequence[str], ys2: Sequence[str]
) -> np.ndarray:
    """The Bradley–Terry reward r = w·φ(x, y) that best fits the gold judge on pairs.

    Minimises the expected cross-entropy of σ(r − r') against the gold probability p,

        w* = argmin_w  −mean[ p log σ(w·Δφ) + (1 − p) log σ(−w·Δφ) ],   Δφ = φ(y) − φ(y'),

    with φ from :func:`gold_reward_features` (the quality and the style; "none" is the base
    style).  Convex in w (L-BFGS).  With λ = 0 the gold judge *is* Bradley–Terry with reward
    q/T, and the fit returns w = (1/T, 0, 0, 0) up to optimisation error.
    """
    p = np.asarray(gold(list(prompts), list(ys), list(ys2)), dtype=float)
    d = gold_reward_features(gold, prompts, ys) - gold_reward_features(gold, prompts, ys2)

    def nll(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = d @ w
        # −[p log σ(z) + (1 − p) log σ(−z)] = softplus(z) − p z  (stable form)
        loss = np.logaddexp(0.0, z) - p * z
        grad = (1.0 / (1.0 + np.exp(-z)) - p) @ d / len(p)
        return float(loss.mean()), grad

    w0 = np.array([1.0 / gold.temperature, 0.0, 0.0, 0.0])
    res = minimize(nll, w0, jac=True, method="L-BFGS-B")
    if not res.success:
        raise RuntimeError(f"Bradley–Terry fit to the gold judge failed: {res.message}")
    return res.x


class GoldReward(RewardModel):
    """The oracle RL reward r(x, y) = w·φ(x, y) (:func:`fit_gold_reward`); P = σ(r − r')."""

    def __init__(self, gold: FS.GoldJudge, weights: Sequence[float]) -> None:
        self.gold, self.weights = gold, np.asarray(weights, dtype=float)
        if self.weights.shape != (4,):
            raise ValueError(f"weights has shape {self.weights.shape}, must be (4,)")

    def reward(self, prompts: Sequence[str], completions: Sequence[str]) -> torch.Tensor:
        if len(prompts) != len(completions):
            raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
        phi = gold_reward_features(self.gold, prompts, completions)
        return torch.as_tensor(phi @ self.weights, dtype=torch.float32)

    def logit(self, prompts: Sequence[str], ys: Sequence[str], ys2: Sequence[str]) -> torch.Tensor:
        return self.reward(prompts, ys) - self.reward(prompts, ys2)

    def describe(self) -> str:
        a, b = self.weights[0], self.weights[1:]
        return (
            f"Bradley–Terry fit to {self.gold.name}: r = {a:.4f}*q + style bonus "
            f"(who {b[0]:+.4f}, where {b[1]:+.4f}, when {b[2]:+.4f})"
        )
