"""The one configuration of the summarisation experiment, validated before any work starts.

Every value is type-checked strictly (a bool is not an integer, 2.5 is not an integer, a string
is not a number), counts must be positive, unknown keys are refused: a bad config raises
``ValueError`` naming the field, and the command line turns it into one line on stderr and
exit status 2 before a model is built or a file is written.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefgame.llm.config import _f, check_types

__all__ = ["ARMS", "PAPER_BETA", "PAPER_ORDER", "PAPER_TAU", "ExperimentConfig", "load"]

#: The six methods in the row order of the paper's Table 2 (the registry's first six; the
#: registry also holds methods after the paper, and the user's own).
PAPER_ORDER = ("online_ipo", "ipo_md", "online_dpo", "nash_md_pg", "online_slic", "rl")
#: τ and β chosen by Calandriello et al. (2024, §6).
PAPER_TAU = {
    "online_ipo": 1.0,
    "ipo_md": 1.0,
    "online_dpo": 5.0,
    "online_slic": 10.0,
    "nash_md_pg": 0.008,
    "rl": 0.05,
}
PAPER_BETA = {"ipo_md": 0.125, "nash_md_pg": 0.125}
#: learned: the PM/RM trained on one-vote labels; oracle: the gold judge itself (RL: the
#: Bradley–Terry reward fitted to it); oracle_no_cycle: the same with the style cycle off (λ = 0).
ARMS = ("learned", "oracle", "oracle_no_cycle")
#: Two τ per method, the first points of the matched-KL search: read off the KL(π‖μ) on
#: *training* prompts of the earlier 4-point grids (0.3 … 0.002), interpolated in (log τ,
#: log KL) to about 1 and 2 nats; no gold-judge value was used.
_DEFAULT_TAU_GRID = {
    "online_ipo": [0.1, 0.05],
    "ipo_md": [0.1, 0.05],
    "online_dpo": [0.5, 0.25],
    "online_slic": [0.7, 0.3],
    "nash_md_pg": [0.1, 0.05],
    "rl": [0.6, 0.25],
}


@dataclass
class ExperimentConfig:
    """Every knob of the experiment (defaults: the full CPU run on FactSum)."""

    name: str = _f("factsum", "label of the run; the work folder is runs/<name>")
    seed: int = _f(0, "seed of data generation, SFT, PM and RM")
    # --- FactSum documents (defaults simplified from FactSumConfig: see docs) ---------------
    doc_min_distractors: int = _f(1, "distractor sentences per document, at least")
    doc_max_distractors: int = _f(2, "distractor sentences per document, at most")
    doc_max_filler: int = _f(1, "filler sentences per document, at most")
    cycle_weight: float = _f(0.3, "gold judge's λ, weight of the style cycle")
    # --- prompts ----------------------------------------------------------------------------
    n_align_prompts: int = _f(4000, "prompts seen by alignment")
    n_eval_prompts: int = _f(2000, "held-out prompts of the win rates")
    n_kl_prompts: int = _f(1024, "training prompts on which KL(π‖μ) chooses τ (the rule)")
    # --- models -----------------------------------------------------------------------------
    policy_layers: int = _f(2, "policy layers (T5 encoder and decoder each)")
    policy_embd: int = _f(64, "policy width")
    policy_heads: int = _f(4, "policy attention heads")
    scorer_layers: int = _f(2, "PM/RM encoder layers (bidirectional, reads the document)")
    scorer_embd: int = _f(64, "PM/RM width")
    scorer_heads: int = _f(4, "PM/RM attention heads")
    max_new_tokens: int = _f(16, "summary length limit (tokens)")
    max_prompt_length: int = _f(80, "prompt tokens kept (from the left)")
    # --- SFT --------------------------------------------------------------------------------
    sft_steps: int = _f(2000, "SFT steps, each on fresh noisy-writer summaries")
    sft_batch: int = _f(64, "SFT batch size")
    sft_lr: float = _f(3e-3, "SFT peak learning rate")
    sft_warmup: int = _f(100, "SFT warm-up steps")
    sft_decay_frac: float = _f(0.3, "share of SFT steps in the final decay")
    # --- PM / RM ----------------------------------------------------------------------------
    n_writer_pairs: int = _f(40000, "training pairs of two noisy-writer summaries")
    n_policy_pairs: int = _f(20000, "training pairs of two SFT-policy samples")
    n_heldout_pairs: int = _f(2000, "held-out pairs of each kind")
    votes: int = _f(5, "gold votes per training pair (soft label = share of votes)")
    scorer_epochs: int = _f(3, "epochs over the training pairs")
    scorer_batch: int = _f(64, "PM/RM batch size (pairs)")
    scorer_lr: float = _f(1e-3, "PM/RM learning rate")
    pm_gate: float = _f(0.85, "gate: agreement with the gold majority on writer pairs")
    pm_gate_policy: float = _f(0.70, "gate: agreement on pairs of SFT-policy samples")
    # --- alignment --------------------------------------------------------------------------
    arms: list = _f(list(ARMS), f"arms to run, from {ARMS}")  # noqa: RUF009
    methods: list = _f(list(PAPER_ORDER), "methods, from the paper's six")  # noqa: RUF009
    tau_grid: dict = _f(  # noqa: RUF009
        dict(_DEFAULT_TAU_GRID),
        "τ frontier per method (one seed per point; a partial table replaces those methods only)",
    )
    paper_tau: dict = _f(dict(PAPER_TAU), "the paper's τ per method (headline table 1)")  # noqa: RUF009
    beta: dict = _f(  # noqa: RUF009
        dict(PAPER_BETA),
        "mixture β of IPO-MD and Nash-MD-PG (a partial table keeps the other's paper value)",
    )
    kl_target: float = _f(
        1.0,
        "rule for headline table 2: per method the grid τ whose KL on "
        "training prompts is closest to this (log scale)",
    )
    logp_reduction: str = _f(
        "sum", "'sum' (sequence log-probability, the theory's π(y)) or 'mean' per token"
    )
    seeds: int = _f(3, "seeds per method at the headline τ's")
    paper_tau_table: bool = _f(False, "also run every method at the paper's τ (cfg.seeds seeds)")
    # --- matched KL (the Nash test) ----------------------------------------------------------
    matched_arms: list | None = _f(  # noqa: RUF009
        None,
        "arms in which τ is searched per method to hit every KL target (subset of arms; "
        "default: the oracle arms among them, [] for none)",
    )
    kl_targets: list = _f([1.0, 2.0], "KL(π‖μ) targets in nats, on training prompts")  # noqa: RUF009
    kl_tolerance: float = _f(0.1, "a target is hit when |KL/target − 1| <= this")
    search_steps: int = _f(5, "seed-0 runs the τ search may add per (arm, method, target)")
    matched_seeds: int = _f(5, "seeds at every matched τ (and sharpened-SFT streams)")
    margin: float = _f(
        0.02, "equivalence margin of the verdicts (exploitability and win-rate differences)"
    )
    align_steps: int = _f(150, "alignment steps per run")
    align_batch: int = _f(32, "prompts per alignment step")
    align_lr: float = _f(1e-3, "alignment learning rate (Adam, β1 = 0)")
    bootstrap: int = _f(1000, "paired bootstrap resamples for the CIs")
    jobs: int = _f(2, "alignment runs in parallel processes")
    device: str = _f("cpu", "'cpu', 'cuda' or 'auto'")

    def __post_init__(self) -> None:
        check_types(self)
        # a partial table overrides those methods only: {"nash_md_pg": 0.125} keeps IPO-MD's β
        # (replacing the whole table silently ran IPO-MD with β = 0, i.e. online IPO)
        for name, default in (("beta", PAPER_BETA), ("paper_tau", PAPER_TAU)):
            setattr(self, name, {**default, **getattr(self, name)})
        self.tau_grid = {**_DEFAULT_TAU_GRID, **self.tau_grid}
        _counts = (
            "n_align_prompts",
            "n_eval_prompts",
            "n_kl_prompts",
            "policy_layers",
            "policy_embd",
            "policy_heads",
            "scorer_layers",
            "scorer_embd",
            "scorer_heads",
            "max_new_tokens",
            "max_prompt_length",
            "sft_steps",
            "sft_batch",
            "n_heldout_pairs",
            "votes",
            "scorer_epochs",
            "scorer_batch",
            "seeds",
            "align_steps",
            "align_batch",
            "bootstrap",
            "jobs",
            "search_steps",
            "matched_seeds",
        )
        for name in _counts:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} = {getattr(self, name)!r}, must be >= 1")
        for name in (
            "seed",
            "doc_min_distractors",
            "doc_max_distractors",
            "doc_max_filler",
            "sft_warmup",
            "n_writer_pairs",
            "n_policy_pairs",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} = {getattr(self, name)!r}, must be >= 0")
        if self.n_writer_pairs + self.n_policy_pairs < 1:
            raise ValueError("n_writer_pairs + n_policy_pairs = 0: the PM/RM need pairs")
        if self.doc_min_distractors > self.doc_max_distractors:
            raise ValueError(
                f"doc_min_distractors = {self.doc_min_distractors} exceeds "
                f"doc_max_distractors = {self.doc_max_distractors}"
            )
        for name in ("sft_lr", "scorer_lr", "align_lr", "kl_target"):
            v = getattr(self, name)
            if not (v > 0 and math.isfinite(v)):
                raise ValueError(f"{name} = {v!r}, must be a finite number > 0")
        for part in ("policy", "scorer"):
            embd, heads = getattr(self, f"{part}_embd"), getattr(self, f"{part}_heads")
            if embd % heads:
                raise ValueError(
                    f"{part}_embd = {embd} is not a multiple of {part}_heads = {heads}"
                )
        if "rl" in self.methods and self.align_batch < 2:
            raise ValueError(
                f"align_batch = {self.align_batch}: RL's leave-one-out baseline needs >= 2"
            )
        for name in ("cycle_weight", "sft_decay_frac", "pm_gate", "pm_gate_policy"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} = {getattr(self, name)!r}, must lie in [0, 1]")
        if self.logp_reduction not in ("sum", "mean"):
            raise ValueError(f"logp_reduction = {self.logp_reduction!r}, must be 'sum' or 'mean'")
        if self.device not in ("cpu", "cuda", "auto"):
            raise ValueError(f"device = {self.device!r}, must be 'cpu', 'cuda' or 'auto'")
        _subset("arms", self.arms, ARMS)
        if self.matched_arms is None:
            self.matched_arms = [a for a in ("oracle", "oracle_no_cycle") if a in self.arms]
        elif not isinstance(self.matched_arms, list):
            raise ValueError(
                f"matched_arms = {self.matched_arms!r} ({type(self.matched_arms).__name__}), "
                "must be a list of arms"
            )
        if self.matched_arms:
            _subset("matched_arms", self.matched_arms, tuple(self.arms))
            if self.matched_seeds < self.seeds:
                raise ValueError(
                    f"matched_seeds = {self.matched_seeds} < seeds = {self.seeds}: the headline "
                    "table of a matched arm reads `seeds` seeds at the matched τ"
                )
        targets = self.kl_targets
        if not targets or any(
            isinstance(t, bool) or not isinstance(t, (int, float)) or not (0 < t < math.inf)
            for t in targets
        ):
            raise ValueError(f"kl_targets = {targets!r}, must be finite numbers > 0")
        if list(targets) != sorted(set(targets)):
            raise ValueError(f"kl_targets = {targets!r}, must be distinct and increasing")
        if not 0 < self.kl_tolerance < 1:
            raise ValueError(f"kl_tolerance = {self.kl_tolerance!r}, must lie in (0, 1)")
        if not 0 <= self.margin < 0.5:
            raise ValueError(f"margin = {self.margin!r}, must lie in [0, 0.5)")
        _subset("methods", self.methods, PAPER_ORDER)
        for m in self.methods:
            grid = self.tau_grid.get(m)
            if not grid:
                raise ValueError(f"tau_grid has no τ values for method {m!r}")
            for t in list(grid) + [self.paper_tau.get(m, 1.0)]:
                if (
                    isinstance(t, bool)
                    or not isinstance(t, (int, float))
                    or not (t > 0 and math.isfinite(t))
                ):
                    raise ValueError(
                        f"tau_grid[{m!r}] / paper_tau[{m!r}]: τ = {t!r}, must be a finite "
                        "number > 0"
                    )
            if m not in self.paper_tau:
                raise ValueError(f"paper_tau has no value for method {m!r}")
        for m, b in self.beta.items():
            if m not in PAPER_BETA:
                raise ValueError(
                    f"beta[{m!r}]: {m!r} samples from π, β has no effect; only "
                    f"{sorted(PAPER_BETA)} read β"
                )
            if isinstance(b, bool) or not isinstance(b, (int, float)) or not 0 <= b <= 1:
                raise ValueError(f"beta[{m!r}] = {b!r}, must be a number in [0, 1]")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _subset(name: str, values: list, allowed: tuple) -> None:
    bad = [v for v in values if v not in allowed]
    if bad or not values or len(set(values)) != len(values):
        raise ValueError(f"{name} = {values!r}: must be distinct values from {list(allowed)}")


def load(path: str | Path | None = None, **overrides: Any) -> ExperimentConfig:
    """Config from a JSON file (``_comment`` keys ignored) with keyword ``overrides``.

    Raises ``ValueError`` naming the file and the problem: missing, not JSON, not an object,
    unknown keys, or any invalid value.
    """
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ValueError(f"config file {str(p)!r} does not exist")
        try:
            data = json.loads(p.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"config file {str(p)!r} is not valid JSON: {e}") from None
        except RecursionError:
            raise ValueError(f"config file {str(p)!r}: JSON nested too deeply") from None
        if not isinstance(data, dict):
            raise ValueError(f"config file {str(p)!r} must hold a JSON object")
        data = {k: v for k, v in data.items() if not k.startswith("_")}
    data.update({k: v for k, v in overrides.items() if v is not None})
    names = {f.name for f in dataclasses.fields(ExperimentConfig)}
    unknown = sorted(set(data) - names)
    if unknown:
        where = f"{path}: " if path is not None else ""
        raise ValueError(f"{where}unknown config key(s) {unknown}")
    try:
        return ExperimentConfig(**data)
    except ValueError as e:
        raise ValueError(f"{path}: {e}" if path is not None else str(e)) from None
