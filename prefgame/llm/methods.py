"""The online methods of Calandriello et al. (2024): each one object, a sampler and a loss.

A :class:`Method` holds how the completions of a step are drawn (its *sampler*, no gradient)
and what is minimised on them (its *loss*, one definition in :mod:`prefgame.losses`).
:data:`METHODS` is the one registry: the config's validation, the trainer, the command line
and the summarisation experiment all read it, so adding a method is one entry.

============  ====================================  ======================================  ======
method        samples (stop-gradient)               loss (``prefgame.losses``)              theory
============  ====================================  ======================================  ======
online_ipo    y, y' ~ π                             ipo_soft_loss(h, p, τ)                  §5, §6
ipo_md        y, y' ~ π^(1−β) μ^β, token by token   ipo_soft_loss(h, p, τ)                  §7
online_dpo    y, y' ~ π                             dpo_soft_loss(h, p, τ)                  §8
nash_md_pg    y ~ π, y' ~ π^(1−β) μ^β               nash_md_pg_token_loss(log π, u, p, τ)   §9
online_slic   y, y' ~ π                             slic_soft_loss(h, p, τ)                 §8
rl            y ~ π                                 regularised_pg_token_loss with          §9
                                                    advantage r − b (no y')
============  ====================================  ======================================  ======

(rows in the order of the paper's Table 2; "theory" is the section of docs/theory.md that
states the method and what it converges to), with h = log π(y)/μ(y) − log π(y')/μ(y')
(per-sequence log-probs, summed or averaged over tokens), p = P(y ≻ y' | x) from the judge
(soft labels, docs/notation.md), u_t the per-token log-ratio log π/μ.  Nash-MD-PG and RL
credit token t with the log-ratios from t on (reward-to-go of the KL term), as in the paper
(arXiv:2403.08635, §5; NLHF, arXiv:2312.00886, §7).

The samplers and losses call back into the :class:`~prefgame.llm.trainer.OnlineTrainer` for
the model plumbing (chunked generation, the μ forward, the training forward); the formulas are
all in :mod:`prefgame.losses`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import torch

from prefgame import losses as L
from prefgame.llm.policy import SequenceBatch, reduce_tokens, token_logprobs

if TYPE_CHECKING:
    from prefgame.llm.trainer import OnlineTrainer, Rollout

__all__ = [
    "METHODS",
    "Method",
    "MixtureOpponentSampler",
    "PairSampler",
    "PairwiseLoss",
    "PolicyGradientLoss",
    "PolicySampler",
    "rl_baseline",
]

Feedback = Literal["preference", "reward"]
Draw = tuple[SequenceBatch, SequenceBatch | None]


# --- samplers: how one step's completions are drawn (no gradient) -----------------------------


@dataclass(frozen=True)
class PairSampler:
    """y, y' ~ π^(1−β) μ^β, two completions of each prompt (β = 0: both from π).

    The two samples of a prompt share one prompt encoding (``per_prompt = 2``).  Their log μ
    is the mixture sampler's in fp32 at temperature 1 (equal to the training path's to 1e-5),
    else recomputed by the training forward's path, so that π = μ gives h = 0 exactly in bf16
    (:attr:`~prefgame.llm.trainer.OnlineTrainer.reuses_sampler_ref_logp`).  β = 0: μ is not run
    while sampling, one batched μ forward fills it.
    """

    per_prompt: int = 2
    draws_pairs: bool = True

    def draw(self, trainer: OnlineTrainer, prompts: list[str], beta: float) -> Draw:
        both = trainer.sample(prompts, beta, per_prompt=2)
        if not trainer.reuses_sampler_ref_logp:
            both.ref_logp = None  # recomputed by the training forward's path
        both = trainer.fill_ref_logp(both, trainer.prompt_group)
        return both.select(slice(0, None, 2)), both.select(slice(1, None, 2))


@dataclass(frozen=True)
class MixtureOpponentSampler:
    """y ~ π and an opponent y' ~ π^(1−β) μ^β (Nash-MD-PG's one-step-improved opponent).

    Both are drawn in one decoding batch, rows (y_0, y'_0, y_1, y'_1, ...) with β = (0, β)
    per prompt: π decodes all 2B rows, reading its weights once per token, and μ only the B
    rows of y' (on a CPU two 8-row decodes cost 1.6× one 16-row decode; benchmarks/RESULTS.md).
    Each half is trimmed to its own longest completion.
    """

    per_prompt: int = 1
    draws_pairs: bool = True

    def draw(self, trainer: OnlineTrainer, prompts: list[str], beta: float) -> Draw:
        both = trainer.sample(prompts, (0.0, beta), per_prompt=2)
        # μ did not decode y: its log μ(y) comes from one batched forward in collect
        return both.select(slice(0, None, 2)).trimmed(), both.select(slice(1, None, 2)).trimmed()


@dataclass(frozen=True)
class PolicySampler:
    """y ~ π alone (RL with a reward model: no opponent)."""

    per_prompt: int = 1
    draws_pairs: bool = False

    def draw(self, trainer: OnlineTrainer, prompts: list[str], beta: float) -> Draw:
        return trainer.sample(prompts, 0.0), None


Sampler = PairSampler | MixtureOpponentSampler | PolicySampler


# --- losses: what is minimised on a rollout (formulas in prefgame.losses) ---------------------


@dataclass(frozen=True)
class PairwiseLoss:
    """Mean soft-label pairwise loss ``fn(h, p, tau=τ)`` over the pairs (y, y') of the rows.

    h = [log π(y) − log μ(y)] − [log π(y') − log μ(y')] (:func:`prefgame.losses.log_ratio_margin`)
    from one training forward over the interleaved rows (y_0, y'_0, y_1, y'_1, ...), so that
    each prompt is encoded once.  Statistics: ``margin`` = mean |h|, ``kl`` = mean Σ_t u_t(y).
    """

    fn: Callable[..., torch.Tensor]
    feedback: Feedback = "preference"
    needs_pairs: bool = True

    def __call__(
        self, trainer: OnlineTrainer, rollout: Rollout, rows: slice
    ) -> tuple[torch.Tensor, dict[str, float]]:
        c, tau = trainer.cfg, rollout.tau
        y = rollout.y.select(rows)
        y2 = rollout.y2.select(rows)
        n = len(y)
        # rows interleaved (y_0, y'_0, y_1, y'_1, ...) so that each prompt is encoded once
        inter = torch.arange(2 * n).view(2, n).T.reshape(-1)
        both = SequenceBatch.cat([y, y2], trainer.policy.tokenizer.pad_token_id).select(inter)
        logp_tok = token_logprobs(
            trainer.train_policy, both, trainer.prompt_group, temperature=c.temperature
        )
        logp = reduce_tokens(logp_tok, both.completion_mask, c.logp_reduction)
        ref = reduce_tokens(both.ref_logp, both.completion_mask, c.logp_reduction)
        h = L.log_ratio_margin(logp[0::2], logp[1::2], ref[0::2], ref[1::2])
        p = rollout.p[rows].to(h.device)
        loss = self.fn(h, p, tau=tau).mean()
        u = (logp_tok[0::2].detach() - y.ref_logp).sum(-1)
        return loss, {"margin": float(h.detach().abs().mean()), "kl": float(u.mean())}


def rl_baseline(reward: torch.Tensor, kind: str = "loo") -> torch.Tensor:
    """Per-sample baseline b_i of the rewards ``[B]`` of one batch, ``[B]``.

    ``"loo"``: b_i = (Σ_j r_j − r_i)/(B − 1), the mean of the *other* samples (RLOO; independent
    of y_i, so E[(r_i − b_i) ∇log π(y_i)] = ∇E r exactly);  ``"mean"``: b_i = (1/B) Σ_j r_j,
    which contains r_i and scales that expectation by 1 − 1/B;  ``"none"``: 0.
    """
    if kind == "loo":
        n = reward.shape[0]
        if n < 2:
            raise ValueError("leave-one-out baseline needs at least 2 samples in the batch")
        return (reward.sum() - reward) / (n - 1)
    if kind == "mean":
        return reward.mean().expand_as(reward)
    if kind == "none":
        return torch.zeros_like(reward)
    raise ValueError(f"rl_baseline = {kind!r}; choose 'loo', 'mean' or 'none'")


@dataclass(frozen=True)
class PolicyGradientLoss:
    """Mean token-level policy-gradient surrogate ``fn(log π_t, u_t, signal, mask, tau=τ)``
    over the samples y ~ π of the rows (gradient through log π only).

    ``feedback = "preference"``: signal = p = P(y ≻ y' | x) (Nash-MD-PG, whose ``fn`` subtracts
    ½); ``"reward"``: signal = r(x, y) − b with the baseline b of ``cfg.rl_baseline``
    (:func:`rl_baseline`) taken over the whole batch, not the micro-batch, so that gradient
    accumulation is exact.  Statistic: ``kl`` = mean Σ_t u_t(y).
    """

    fn: Callable[..., torch.Tensor]
    feedback: Feedback = "preference"
    needs_pairs: bool = False

    def __call__(
        self, trainer: OnlineTrainer, rollout: Rollout, rows: slice
    ) -> tuple[torch.Tensor, dict[str, float]]:
        c, tau = trainer.cfg, rollout.tau
        y = rollout.y.select(rows)
        logp_tok = token_logprobs(trainer.train_policy, y, temperature=c.temperature)
        u_tok = logp_tok.detach() - y.ref_logp
        mask = y.completion_mask.to(logp_tok.dtype)
        if self.feedback == "preference":
            signal = rollout.p[rows].to(logp_tok.device)
        else:
            r = rollout.reward.to(logp_tok.device)
            signal = (r - rl_baseline(r, c.rl_baseline))[rows]
        loss = self.fn(logp_tok, u_tok, signal, mask, tau=tau).mean()
        return loss, {"kl": float(u_tok.sum(-1).mean())}


Loss = PairwiseLoss | PolicyGradientLoss


# --- the registry -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Method:
    """One online method: its name in the paper (``label``), its ``sampler``, its ``loss`` and
    whether it reads β.

    ``uses_beta``: the sampler draws from the mixture π^(1−β) μ^β (IPO-MD, Nash-MD-PG); for the
    other methods β must be 0 (:class:`~prefgame.llm.config.OnlineConfig` refuses it).

    ``target``: the policy its theory says it converges to, a key of
    :data:`prefgame.llm.verify.TARGETS` (``"nash"`` = π*_τ, ``"mixture_nash"`` = Prop. 5.2's
    BR_τ(π*_{τ/(1−β)}), ``"dpo_stationary"``, ``"slic_stationary"``, ``"rlhf"``);
    ``prefgame verify-llm`` measures how close the trained transformer gets to it.
    """

    name: str
    label: str
    sampler: Sampler
    loss: Loss
    uses_beta: bool = False
    target: str = "nash"

    def __post_init__(self) -> None:
        if self.loss.needs_pairs and not self.sampler.draws_pairs:
            raise ValueError(f"method {self.name!r}: a pairwise loss needs a sampler of pairs")
        if self.loss.feedback == "preference" and not self.sampler.draws_pairs:
            raise ValueError(f"method {self.name!r}: a preference needs an opponent y'")

    @property
    def feedback(self) -> Feedback:
        """``"preference"`` (a judge's P(y ≻ y' | x)) or ``"reward"`` (a reward model's r(x, y))."""
        return self.loss.feedback


def _registry(*methods: Method) -> dict[str, Method]:
    return {m.name: m for m in methods}


#: Every online method, by name, in the row order of the paper's Table 2.
METHODS: dict[str, Method] = _registry(
    Method("online_ipo", "IPO", PairSampler(), PairwiseLoss(L.ipo_soft_loss), target="nash"),
    Method(
        "ipo_md",
        "IPO-MD",
        PairSampler(),
        PairwiseLoss(L.ipo_soft_loss),
        uses_beta=True,
        target="mixture_nash",
    ),
    Method(
        "online_dpo",
        "DPO",
        PairSampler(),
        PairwiseLoss(L.dpo_soft_loss),
        target="dpo_stationary",
    ),
    Method(
        "nash_md_pg",
        "Nash-MD-PG",
        MixtureOpponentSampler(),
        PolicyGradientLoss(L.nash_md_pg_token_loss),
        uses_beta=True,
        target="mixture_nash",
    ),
    Method(
        "online_slic",
        "SLiC",
        PairSampler(),
        PairwiseLoss(L.slic_soft_loss),
        target="slic_stationary",
    ),
    Method(
        "rl",
        "RL",
        PolicySampler(),
        PolicyGradientLoss(L.regularised_pg_token_loss, "reward"),
        target="rlhf",
    ),
)
