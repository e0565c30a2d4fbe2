"""Paired-bootstrap statistics of side-by-side win rates.

Every policy is evaluated on the same N held-out prompts, one sample per prompt and per seed,
from its own random stream.  For methods i, j with seeds s, t the per-prompt win probability is

    W_ij[s, t, n] = P_gold(y_{i,s,n} ≻ y_{j,t,n} | x_n),

and the reported win rate is its mean over prompts and over all seed pairings.  The 95 %
interval comes from a *paired* bootstrap over prompts and seeds: each replicate draws N prompt
indices with replacement (the same indices for every cell of the table: the comparisons are
paired by prompt) and, for every method, as many seeds as it has, with replacement (the same
draw for every cell in which that method appears).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["Resamples", "bootstrap_win_rate", "draw_resamples", "percentile_ci"]


class Resamples:
    """Shared bootstrap draws: prompt counts ``[B, N]`` and per-method seed indices."""

    def __init__(self, counts: np.ndarray, seeds: Mapping[str, np.ndarray]) -> None:
        self.counts, self.seeds = counts, dict(seeds)

    @property
    def size(self) -> int:
        return self.counts.shape[0]


def draw_resamples(
    n_prompts: int, seeds: Mapping[str, int], *, size: int, rng: np.random.Generator
) -> Resamples:
    """``size`` replicates: multinomial prompt counts (N draws of N) and, per policy name,
    that many seed indices drawn with replacement from its seeds."""
    if n_prompts < 1 or size < 1:
        raise ValueError(f"need n_prompts >= 1 and size >= 1, got {n_prompts} and {size}")
    counts = rng.multinomial(n_prompts, np.full(n_prompts, 1.0 / n_prompts), size=size)
    draws = {name: rng.integers(k, size=(size, k)) for name, k in seeds.items()}
    return Resamples(counts.astype(float), draws)


def bootstrap_win_rate(w: np.ndarray, res: Resamples, a: str, b: str) -> np.ndarray:
    """Bootstrap replicates of mean_{s,t,n} W[s, t, n] for policies ``a`` (rows s) and ``b``.

    ``w`` is ``[S_a, S_b, N]``.  Replicate r uses prompt counts ``res.counts[r]`` and seeds
    ``res.seeds[a][r]`` × ``res.seeds[b][r]``:  Σ_n c_rn · mean_{s∈S_r, t∈T_r} W[s, t, n] / N.
    """
    sa, sb, n = w.shape
    per_pair = np.einsum("stn,rn->str", w, res.counts) / n  # [S_a, S_b, B]
    ia, ib = res.seeds[a], res.seeds[b]  # [B, S_a], [B, S_b]
    if ia.shape[1] != sa or ib.shape[1] != sb:
        raise ValueError(f"seed draws {ia.shape[1]}, {ib.shape[1]} do not match W's {sa}, {sb}")
    r = np.arange(res.size)
    picked = per_pair[ia[:, :, None], ib[:, None, :], r[:, None, None]]  # [B, S_a, S_b]
    return picked.mean(axis=(1, 2))


def percentile_ci(reps: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The (1 − level)/2 and (1 + level)/2 percentiles of the bootstrap replicates."""
    lo, hi = np.percentile(reps, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)
