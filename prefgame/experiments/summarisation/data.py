"""Prompts, SFT examples and labelled pairs of the summarisation experiment.

FactSum documents are generated from disjoint seeds per split (sft, pairs, heldout, align,
eval), so no evaluation prompt is ever seen in training.  A pair (x, y, y') gets

* ``p_gold`` = P_gold(y ≻ y' | x), the gold judge's probability (never shown to training);
* ``label`` = the share of ``votes`` independent Bernoulli(p_gold) votes (training pairs: soft
  labels from several raters) or one vote (held-out pairs: the one-vote labels that the label
  accuracy and its ceiling E[max(p, 1 − p)] refer to).

Pairs are of two kinds: two noisy-writer summaries of the same document ("writer", the human
data) and two samples of the SFT policy ("policy", the distribution the PM scores during
alignment).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from prefgame.experiments.summarisation.config import ExperimentConfig
from prefgame.tasks import factsum as FS

__all__ = [
    "doc_config",
    "documents",
    "gold_judge",
    "label_pairs",
    "prompts",
    "writer_batches",
    "writer_pairs",
]

_SPLIT_SEED = {"sft": 1, "pairs": 2, "heldout": 3, "align": 4, "eval": 5}


def doc_config(cfg: ExperimentConfig) -> FS.FactSumConfig:
    """The document generator of this experiment (writer noise as in FactSum)."""
    return FS.FactSumConfig(
        min_distractors=cfg.doc_min_distractors,
        max_distractors=cfg.doc_max_distractors,
        max_filler=cfg.doc_max_filler,
    )


def gold_judge(cfg: ExperimentConfig, *, cycle: bool = True) -> FS.GoldJudge:
    """The gold judge (λ = ``cfg.cycle_weight``), or its control without the cycle (λ = 0)."""
    return FS.GoldJudge(
        cycle_weight=cfg.cycle_weight if cycle else 0.0,
        name="factsum-gold" if cycle else "factsum-gold-no-cycle",
    )


def documents(cfg: ExperimentConfig, split: str, n: int) -> list[FS.Document]:
    """``n`` documents of ``split``, a deterministic function of (cfg.seed, split)."""
    return FS.make_documents(
        n, seed=100_000 * cfg.seed + _SPLIT_SEED[split], config=doc_config(cfg)
    )


def prompts(cfg: ExperimentConfig, split: str, n: int | None = None) -> list[str]:
    """Policy prompts of ``split`` ("align" or "eval"; default size from the config)."""
    n = n if n is not None else {"align": cfg.n_align_prompts, "eval": cfg.n_eval_prompts}[split]
    return [FS.format_prompt(d) for d in documents(cfg, split, n)]


def writer_batches(
    cfg: ExperimentConfig,
) -> Callable[[np.random.Generator, int], tuple[list[str], list[str]]]:
    """``batches(rng, n)`` for :func:`prefgame.llm.sft.train_sft`: n fresh documents and one
    noisy-writer summary each (an endless stream: SFT never sees a document twice)."""
    dcfg = doc_config(cfg)
    base = 100_000 * cfg.seed + _SPLIT_SEED["sft"]

    def batches(rng: np.random.Generator, n: int) -> tuple[list[str], list[str]]:
        docs = FS.make_documents(n, seed=int(rng.integers(2**62)) ^ base, config=dcfg)
        return [FS.format_prompt(d) for d in docs], [FS.noisy_summary(d, rng, dcfg) for d in docs]

    return batches


def writer_pairs(cfg: ExperimentConfig, split: str, n: int, *, seed: int) -> dict:
    """``n`` pairs of two noisy-writer summaries of the same document (unlabelled)."""
    dcfg = doc_config(cfg)
    rng = np.random.default_rng(seed)
    docs = documents(cfg, split, n)
    return {
        "x": [FS.format_prompt(d) for d in docs],
        "y": [FS.noisy_summary(d, rng, dcfg) for d in docs],
        "y2": [FS.noisy_summary(d, rng, dcfg) for d in docs],
    }


def label_pairs(pairs: dict, gold: FS.GoldJudge, *, votes: int, seed: int) -> dict:
    """Add ``p_gold`` and ``label`` = mean of ``votes`` Bernoulli(p_gold) votes."""
    p = np.asarray(gold(pairs["x"], pairs["y"], pairs["y2"]), dtype=float)
    rng = np.random.default_rng(seed)
    label = rng.binomial(votes, p) / votes
    return {**pairs, "p_gold": p.tolist(), "label": label.tolist()}
