"""Scoring of the experiment: PM/RM against the gold judge, and win rates of the policies.

**PM / RM** (held-out pairs, one vote each).  With p_gold the gold probability and P̂ the
model's,

* label accuracy        = mean 1[(P̂ > ½) = vote]           (ceiling: E[max(p_gold, 1 − p_gold)],
  the accuracy of the gold judge itself against one vote);
* agreement             = mean 1[sign(P̂ − ½) = sign(p_gold − ½)] over pairs with p_gold ≠ ½
  (ceiling 100 %), on writer pairs and on pairs of SFT-policy samples;
* no-document baseline  = the agreement of the best *document-blind* model we fit: logistic
  regression on the difference of the two summaries' bag-of-words counts and lengths plus an
  antisymmetric style-pair term (it sees the summaries but not the document).  A model that
  does not read the document should not beat it by much.

A breakdown by what decides each pair (coverage, invented entities, repeats, length, style
only) and by how close to a tie it is (|p_gold − ½|) tells *why* a set of pairs is harder.

**Policies.**  Win rates by :mod:`prefgame.experiments.summarisation.stats` (all seed pairings,
paired bootstrap over prompts and seeds).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.optimize import minimize

from prefgame.tasks import factsum as FS

__all__ = ["breakdown", "doc_blind_model", "scorer_metrics", "sign_agreement"]

_PARTS = ("covered", "invented", "repeated", "excess_len")


def sign_agreement(p_hat: np.ndarray, p_gold: np.ndarray) -> float:
    """Share of decided pairs (p_gold ≠ ½) where P̂ − ½ has the sign of p_gold − ½ (a P̂ of
    exactly ½ counts half)."""
    p_hat, p_gold = np.asarray(p_hat, float), np.asarray(p_gold, float)
    decided = np.abs(p_gold - 0.5) > 1e-9
    if not decided.any():
        return float("nan")
    s = np.sign(p_hat - 0.5)[decided] * np.sign(p_gold - 0.5)[decided]
    return float(np.mean((s > 0) + 0.5 * (s == 0)))


def label_accuracy(p_hat: np.ndarray, votes: np.ndarray) -> float:
    """mean 1[(P̂ > ½) = vote], ties counted half."""
    p_hat, votes = np.asarray(p_hat, float), np.asarray(votes, float)
    s = np.sign(p_hat - 0.5) * np.sign(votes - 0.5)
    return float(np.mean((s > 0) + 0.5 * (s == 0)))


def _bow(summaries: Sequence[str], vocab: dict[str, int]) -> np.ndarray:
    out = np.zeros((len(summaries), len(vocab) + 1))
    for i, y in enumerate(summaries):
        words = y.split()
        for w in words:
            if w in vocab:
                out[i, vocab[w]] += 1
        out[i, -1] = max(0, len(words) - 10)
    return out


def _style_pairs(ys: Sequence[str], ys2: Sequence[str]) -> np.ndarray:
    """Antisymmetric style-pair features e_s ⊗ e_s' − e_s' ⊗ e_s (upper triangle, 3 columns)."""
    order = (*FS.STYLES, "none")
    a = np.array([order.index(FS.summary_style(y)) for y in ys])
    b = np.array([order.index(FS.summary_style(y)) for y in ys2])
    cols = [(0, 1), (1, 2), (2, 0)]
    return np.column_stack([(a == i) & (b == j) for i, j in cols]).astype(float) - np.column_stack(
        [(a == j) & (b == i) for i, j in cols]
    ).astype(float)


def doc_blind_model(train: dict, *, l2: float = 1e-3) -> Callable[[dict], np.ndarray]:
    """Fit the document-blind baseline on soft labels; returns ``predict(pairs) -> P̂``.

    P̂(y ≻ y') = σ(w · [bow(y) − bow(y'), style_pair(y, y')]): antisymmetric by construction.
    """
    vocab = {w: i for i, w in enumerate(FS.vocabulary())}

    def feats(pairs: dict) -> np.ndarray:
        return np.column_stack(
            [
                _bow(pairs["y"], vocab) - _bow(pairs["y2"], vocab),
                _style_pairs(pairs["y"], pairs["y2"]),
            ]
        )

    x, p = feats(train), np.asarray(train["label"], float)

    def nll(w):
        z = x @ w
        loss = np.mean(np.logaddexp(0.0, z) - p * z) + l2 * w @ w
        grad = (1.0 / (1.0 + np.exp(-z)) - p) @ x / len(p) + 2 * l2 * w
        return loss, grad

    w = minimize(nll, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B").x
    return lambda pairs: 1.0 / (1.0 + np.exp(-(feats(pairs) @ w)))


def breakdown(pairs: dict, p_hat: np.ndarray, gold: FS.GoldJudge) -> dict:
    """Agreement and share of pairs by the term that decides them and by closeness to a tie.

    "decided by" = the single term of q that differs (``covered``, ``invented``, ``repeated``,
    ``excess_len``), ``several`` when more differ, ``style only`` when q is equal.
    """
    p_gold = np.asarray(pairs["p_gold"], float)
    cats, margins = [], np.abs(p_gold - 0.5)
    for x, y, y2 in zip(pairs["x"], pairs["y"], pairs["y2"]):
        a, b = gold.quality_parts(x, y), gold.quality_parts(x, y2)
        diff = [k for k in _PARTS if a[k] != b[k]]
        cats.append(diff[0] if len(diff) == 1 else ("several" if diff else "style only"))
    cats = np.array(cats)
    out: dict = {"by_term": {}, "by_margin": {}}
    decided = margins > 1e-9
    for c in (*_PARTS, "several", "style only"):
        sel = (cats == c) & decided
        if sel.any():
            out["by_term"][c] = {
                "share": float(sel.mean()),
                "agreement": sign_agreement(p_hat[sel], p_gold[sel]),
            }
    for lo, hi in ((0.0, 0.05), (0.05, 0.15), (0.15, 0.51)):
        sel = decided & (margins > lo) & (margins <= hi)
        if sel.any():
            out["by_margin"][f"{lo:.2f}-{min(hi, 0.5):.2f}"] = {
                "share": float(sel.mean()),
                "agreement": sign_agreement(p_hat[sel], p_gold[sel]),
            }
    out["undecided_share"] = float((~decided).mean())
    return out


def scorer_metrics(
    pairs: dict, p_writer: np.ndarray, p_policy: np.ndarray, blind: tuple[np.ndarray, np.ndarray]
) -> dict:
    """The gate figures of a PM or RM (keys of ``summary.json``)."""
    w, pol = pairs["heldout_writer"], pairs["heldout_policy"]
    g = np.asarray(w["p_gold"], float)
    return {
        "label_accuracy": label_accuracy(p_writer, w["label"]),
        "agreement_with_gold_majority": sign_agreement(p_writer, g),
        "agreement_on_policy_pairs": sign_agreement(p_policy, pol["p_gold"]),
        "one_vote_ceiling": float(np.mean(np.maximum(g, 1 - g))),
        "no_document_ceiling": sign_agreement(blind[0], g),
        "no_document_ceiling_policy_pairs": sign_agreement(blind[1], pol["p_gold"]),
    }
