"""Side-by-side evaluation: a win-rate matrix between checkpoints, over seeds.

For methods A and B with seed instances A_1..A_m and B_1..B_n, every prompt x gets one completion
from each instance (seeded sampling), and the judge scores P(y_{A_i} ≻ y_{B_j} | x) for every seed
pairing (i, j) — the paper's 3×3 pairings (docs/notation.md).  The cell (A, B) reports

* ``mean``: the average over prompts and pairings;
* ``std``: the standard deviation over pairings of the per-pairing means (the paper's "(std)");
* ``ci_low``/``ci_high``: a normal-approximation confidence interval of the mean, with the
  standard error computed over prompts (per-prompt averages over pairings).

Only pairs A < B are judged; (B, A) is filled with 1 − (A, B) (exact for antisymmetric judges,
a convention otherwise), and the diagonal is ½.  :meth:`WinRateMatrix.from_wins` is the one
home of that table: it takes the per-pairing, per-prompt win probabilities and an interval
rule (normal approximation here, a paired bootstrap in the summarisation experiment).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from matplotlib.figure import Figure

from prefgame.llm.judges import Judge
from prefgame.llm.policy import Policy
from prefgame.llm.sampling import generate_text

__all__ = ["WinRateMatrix", "evaluate_checkpoints", "sample_completions", "win_rate_matrix"]


@dataclass
class WinRateMatrix:
    """P(row ≻ column) with spread and confidence intervals; arrays are ``[K, K]``."""

    names: list[str]
    mean: np.ndarray
    std: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    n: np.ndarray
    confidence: float = 0.95

    @classmethod
    def from_wins(
        cls,
        names: Sequence[str],
        wins: Callable[[str, str], np.ndarray],
        interval: Callable[[str, str, np.ndarray], tuple[float, float]],
        *,
        confidence: float = 0.95,
        ddof: int = 1,
    ) -> WinRateMatrix:
        """The matrix of the methods ``names`` from their win probabilities.

        For every pair a < b, ``wins(a, b)`` is W ``[S_a, S_b, N]``, W[s, t, n] =
        P(y_{a,s,n} ≻ y_{b,t,n} | x_n) for seed instances s, t and prompts n.  Then
        mean(a, b) = mean_{s,t,n} W;  std(a, b) = the standard deviation (``ddof``) over the
        S_a·S_b pairings of mean_n W (0 for one pairing);  ci(a, b) = ``interval(a, b, W)``;
        n(a, b) = W.size.  The cell (b, a) is 1 − mean(a, b), with the interval mirrored
        [1 − high, 1 − low] and the same std; the diagonal is ½.
        """
        names = list(names)
        k = len(names)
        mean = np.full((k, k), 0.5)
        std = np.zeros((k, k))
        lo, hi = np.full((k, k), 0.5), np.full((k, k), 0.5)
        n = np.zeros((k, k), dtype=int)
        for a in range(k):
            for b in range(a + 1, k):
                w = np.asarray(wins(names[a], names[b]), dtype=float)
                if w.ndim != 3:
                    raise ValueError(f"wins({names[a]!r}, {names[b]!r}) must be [S_a, S_b, N]")
                m = float(w.mean())
                pairings = w.mean(axis=2).reshape(-1)
                s = float(pairings.std(ddof=ddof)) if pairings.size > ddof else 0.0
                mean[a, b], mean[b, a] = m, 1.0 - m
                std[a, b] = std[b, a] = s
                lo[a, b], hi[a, b] = interval(names[a], names[b], w)
                lo[b, a], hi[b, a] = 1.0 - hi[a, b], 1.0 - lo[a, b]
                n[a, b] = n[b, a] = w.size
        return cls(names, mean, std, lo, hi, n, confidence)

    def to_markdown(self, digits: int = 3) -> str:
        """A table like the paper's Table 2: ``mean (std) [low, high]`` above the diagonal."""
        k = len(self.names)
        head = "| row \\ col | " + " | ".join(self.names) + " |"
        lines = [head, "|" + "---|" * (k + 1)]
        for i in range(k):
            cells = []
            for j in range(k):
                m = f"{self.mean[i, j]:.{digits}f}"
                if i < j:
                    m += (
                        f" ({self.std[i, j]:.{digits}f}) [{self.ci_low[i, j]:.{digits}f}, "
                        f"{self.ci_high[i, j]:.{digits}f}]"
                    )
                cells.append(m)
            lines.append(f"| {self.names[i]} | " + " | ".join(cells) + " |")
        lines.append("")
        lines.append(
            f"P(row ≻ column): mean (std over seed pairings) "
            f"[{self.confidence:.0%} CI over prompts]."
        )
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """Every field as JSON-ready lists."""
        return {
            "names": self.names,
            "confidence": self.confidence,
            **{k: getattr(self, k).tolist() for k in ("mean", "std", "ci_low", "ci_high", "n")},
        }

    def to_json(self, path: str | Path | None = None) -> str:
        """:meth:`to_dict` as JSON text, also written to ``path`` when given."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            Path(path).write_text(text)
        return text

    def plot(self, path: str | Path | None = None, *, title: str = "P(row ≻ column)") -> Figure:
        """A heatmap (matplotlib figure); saved to ``path`` when given."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        k = len(self.names)
        fig, ax = plt.subplots(figsize=(1.2 * k + 2, 1.0 * k + 1.5))
        im = ax.imshow(self.mean, vmin=0, vmax=1, cmap="RdBu_r")
        ax.set_xticks(range(k), self.names, rotation=45, ha="right")
        ax.set_yticks(range(k), self.names)
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{self.mean[i, j]:.2f}", ha="center", va="center", fontsize=8)
        ax.set_title(title)
        fig.colorbar(im, ax=ax)
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=150)
        return fig


def sample_completions(
    policies: Mapping[str, Sequence[Policy]],
    prompts: Sequence[str],
    *,
    seed: int = 0,
    batch_size: int = 32,
    **sampling: Any,
) -> dict:
    """``{name: [completions of seed instance i]}``, each instance sampled with its own seed."""
    out = {}
    for name, instances in policies.items():
        out[name] = []
        for i, pol in enumerate(instances):
            gen = torch.Generator(device=pol.device).manual_seed(seed + 7919 * i)
            pol.model.eval()
            out[name].append(
                generate_text(pol, list(prompts), batch_size=batch_size, generator=gen, **sampling)
            )
    return out


def win_rate_matrix(
    policies: Mapping[str, Policy | Sequence[Policy]],
    prompts: Sequence[str],
    judge: Judge,
    *,
    confidence: float = 0.95,
    seed: int = 0,
    batch_size: int = 32,
    completions: Mapping[str, Sequence[Sequence[str]]] | None = None,
    **sampling: Any,
) -> WinRateMatrix:
    """Judge every pair of methods over all seed pairings (see module docstring).

    ``policies`` maps a method name to one policy or a list of seed instances; ``sampling``
    goes to :func:`~prefgame.llm.sampling.generate` (``max_new_tokens``, ``temperature``,
    ``top_p``, ``max_prompt_length``).  Pass ``completions`` to judge pre-sampled texts instead.
    """
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence = {confidence}, must lie in (0, 1)")
    prompts = list(prompts)
    if not prompts:
        raise ValueError("no prompts to evaluate on")
    if completions is None:
        policies = {k: ([v] if isinstance(v, Policy) else list(v)) for k, v in policies.items()}
        if len(policies) < 2 or any(not v for v in policies.values()):
            raise ValueError("win_rate_matrix needs at least two methods, each with >= 1 policy")
        completions = sample_completions(
            policies, prompts, seed=seed, batch_size=batch_size, **sampling
        )
    z = NormalDist().inv_cdf(0.5 + confidence / 2)

    def wins(a: str, b: str) -> np.ndarray:  # [S_a, S_b, N]: the judge on every pairing
        return np.array(
            [
                [judge(prompts, list(ya), list(yb)).double().numpy() for yb in completions[b]]
                for ya in completions[a]
            ]
        )

    def normal_interval(a: str, b: str, w: np.ndarray) -> tuple[float, float]:
        """mean ± z·se, se over prompts of the per-prompt averages over pairings, in [0, 1]."""
        per_prompt = w.reshape(-1, w.shape[-1]).mean(0)
        se = float(per_prompt.std(ddof=1) / math.sqrt(w.shape[-1])) if w.shape[-1] > 1 else 0.0
        m = float(w.mean())
        return max(0.0, m - z * se), min(1.0, m + z * se)

    return WinRateMatrix.from_wins(list(completions), wins, normal_interval, confidence=confidence)


def evaluate_checkpoints(
    template: Policy,
    checkpoints: Mapping[str, Sequence[str | Path]],
    prompts: Sequence[str],
    judge: Judge,
    *,
    out_dir: str | Path | None = None,
    **kwargs: Any,
) -> WinRateMatrix:
    """Load ``{method: [checkpoint dirs, one per seed]}`` into copies of ``template`` and build
    the win-rate matrix; with ``out_dir`` write ``win_rates.md``, ``.json`` and ``.png``.

    A checkpoint entry ``"reference"`` (or the template itself) may be given as the string
    ``"init"`` to use ``template``'s own weights.
    """
    from prefgame.llm.checkpoints import load_policy_checkpoint

    policies = {
        name: [template if str(c) == "init" else load_policy_checkpoint(template, c) for c in ckpts]
        for name, ckpts in checkpoints.items()
    }
    result = win_rate_matrix(policies, prompts, judge, **kwargs)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "win_rates.md").write_text(result.to_markdown() + "\n")
        result.to_json(out / "win_rates.json")
        import matplotlib.pyplot as plt

        plt.close(result.plot(out / "win_rates.png"))
    return result
