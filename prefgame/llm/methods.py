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
states the method and what it converges to).  After the paper (``docs/algorithms.md``, each under
its tabular twin's name, with the same target): ``egpo`` (extragradient on the IPO loss),
``inpo`` (pairs from the snapshot π_t, :func:`~prefgame.losses.inpo_loss` against
μ^{ητ} π_t^{1−ητ}), ``sppo`` (K samples from π_t, :func:`~prefgame.losses.sppo_loss` on their
win rates) and ``mpo`` (IPO against a magnet refreshed to π), the last three kept by a
:class:`RefreshRule` and its checkpointed policy snapshot.
In the table, with h = log π(y)/μ(y) − log π(y')/μ(y')
(per-sequence log-probs, summed or averaged over tokens), p = P(y ≻ y' | x) from the judge
(soft labels, docs/notation.md), u_t the per-token log-ratio log π/μ.  Nash-MD-PG and RL
credit token t with the log-ratios from t on (reward-to-go of the KL term), as in the paper
(arXiv:2403.08635, §5; NLHF, arXiv:2312.00886, §7).

A loss sees tensors only (:class:`LossInput`: the rows' per-token log π with gradient, log μ,
the labels, τ); the trainer's training forward fills it.  A sampler draws through the
trainer's public sampling methods (:meth:`~prefgame.llm.trainer.OnlineTrainer.sample`,
``fill_ref_logp``, ``frozen_logprobs``, ``snapshot``); the formulas are all in
:mod:`prefgame.losses`.

**Your own method** (no edit of the package): :func:`register_method` adds it to the registry,
and the trainer, ``python -m prefgame.llm --plugin FILE --method NAME`` and ``prefgame
verify-llm --plugin FILE`` (which measures it exactly against the ``target`` it declares) all
read it from there. A loss written for the tabular protocol ``f(h, p, *, tau)`` plugs in as it
is (it is wrapped in :class:`PairwiseLoss`)::

    from prefgame.llm import PairSampler, register_method

    def my_loss(h, p, *, tau):                     # elementwise, numpy or torch
        return (tau * h - (p - 0.5)) ** 2          # IPO in units of τ: target π*_τ

    register_method("scaled_ipo", sampler=PairSampler(), loss=my_loss, target="nash")

This module imports no torch: the samplers and losses import it when they run, so the
configuration (:mod:`prefgame.llm.config`) can be validated without it.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from prefgame import losses as L

if TYPE_CHECKING:
    import torch

    from prefgame.llm.policy import SequenceBatch
    from prefgame.llm.trainer import OnlineTrainer, Rollout  # the samplers' and rules' argument

__all__ = [
    "METHODS",
    "TARGETS",
    "ExtragradientRule",
    "GroupSampler",
    "Loss",
    "LossInput",
    "Method",
    "MixtureOpponentSampler",
    "PairSampler",
    "PairwiseLoss",
    "PolicyGradientLoss",
    "PolicySampler",
    "RefreshRule",
    "Sampler",
    "SnapshotPairSampler",
    "UpdateRule",
    "WinRateLoss",
    "load_plugin",
    "pop_plugins",
    "register_method",
    "rl_baseline",
    "unregister_method",
]

Feedback = Literal["preference", "reward", "win_rate"]
Draw = tuple["SequenceBatch", "SequenceBatch | None"]

#: The targets a method can declare (``Method.target``): what its theory says it converges to,
#: computed exactly on the sequence game by :mod:`prefgame.llm.verify`.
TARGETS = {
    "nash": "π*_τ, the KL-regularised Nash equilibrium (Prop. 4.1)",
    "mixture_nash": "BR_τ(π*_{τ/(1−β)}), the sequence-level-mixture fixed point (Prop. 5.2)",
    "token_mixture_fixed_point": "π = softmax(log μ + P m(π)/τ), m the token-level mixture",
    "dpo_stationary": "online DPO's stationary point (App. F)",
    "slic_stationary": "online SLiC's measured stationary point",
    "rlhf": "μ exp(r/τ)/Z, r the Bradley–Terry reward fitted to P under μ",
    "mean_ipo": "online IPO with length-averaged log-probs: log π/μ = |y|(Pπ/τ + c)",
    "nash_0": "a τ = 0 Nash equilibrium (von Neumann winner) of P: SPPO's average iterate, "
    "MPO's last iterate",
}


@runtime_checkable
class Sampler(Protocol):
    """How one step's completions are drawn, without gradient.

    ``draw(trainer, prompts, beta)`` returns ``(y, y2)``: :class:`SequenceBatch` es of one
    completion per prompt each (``y2`` None when the method has no opponent). ``per_prompt``:
    completions drawn per prompt (for the generation chunking); ``draws_pairs``: whether it
    returns an opponent ``y2``.
    """

    per_prompt: int
    draws_pairs: bool

    def draw(self, trainer: OnlineTrainer, prompts: list[str], beta: float) -> Draw: ...


@dataclass
class LossInput:
    """What a loss sees of one micro-batch: tensors, never the model or the trainer.

    The trainer's training forward fills it (:meth:`~prefgame.llm.trainer.OnlineTrainer.
    loss_input`); row r is one completion:

    * ``logp``: ``[R, T]`` per-token log π_T(y_t | x, y_<t) *with gradient* (temperature T as
      sampled), zero where ``mask`` is 0;
    * ``ref_logp``: ``[R, T]`` log μ; ``anchor_logp``: ``[R, T]`` log π_snap under the update
      rule's snapshot (INPO's π_t, SPPO's π_t, MPO's magnet), or None;
    * ``mask``: ``[R, T]`` 1 on the completion's tokens (EOS included);
    * ``p``: the labels. For a loss with ``needs_pairs`` the rows are the pairs interleaved,
      (y_0, y'_0, y_1, y'_1, ...), and ``p[i]`` = P(y_i ≻ y'_i | x); otherwise one label per row:
      P(y ≻ y') (Nash-MD-PG) or the row's win rate r̂ (SPPO);
    * ``advantage``: ``[R]`` r(x, y) − b for reward feedback, the baseline b
      (:func:`rl_baseline`, ``cfg.rl_baseline``) taken over the whole batch;
    * ``tau``, ``eta``: τ (scheduled) and the iterated methods' step η; ``reduction``: how a
      sequence's log-prob is formed from its tokens (``"sum"`` or ``"mean"``).
    """

    logp: torch.Tensor
    ref_logp: torch.Tensor
    mask: torch.Tensor
    tau: float
    eta: float = 1.0
    reduction: str = "sum"
    anchor_logp: torch.Tensor | None = None
    p: torch.Tensor | None = None
    advantage: torch.Tensor | None = None


@runtime_checkable
class Loss(Protocol):
    """What is minimised on a micro-batch: ``loss(x)`` with ``x`` a :class:`LossInput` returns
    the mean loss over its rows (gradient into π through ``x.logp``) and detached statistics
    (``{"kl": ...}`` at least).  ``feedback``: ``"preference"`` (labels P(y ≻ y')), ``"reward"``
    (``x.advantage``) or ``"win_rate"`` (each sample's win rate against its prompt's other
    samples); ``needs_pairs``: whether the rows are pairs (y, y')."""

    feedback: Feedback
    needs_pairs: bool

    def __call__(self, x: LossInput) -> tuple[torch.Tensor, dict[str, float]]: ...


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


def _draw_anchored(
    trainer: OnlineTrainer, prompts: list[str], k: int, snapshot: str, from_snapshot: bool
) -> SequenceBatch:
    """``k`` completions of each prompt from the snapshot (or from π), rows grouped by prompt,
    with per-token log μ (``ref_logp``) and log π_snap (``anchor_logp``) computed by the
    training forward's path, so that π = π_snap gives a zero log-ratio exactly."""
    snap = trainer.snapshot(snapshot)
    ys = trainer.sample(prompts, 0.0, per_prompt=k, policy=snap if from_snapshot else None)
    ys.ref_logp = None  # log μ by the training path (the sampler did not run μ)
    ys = trainer.fill_ref_logp(ys, trainer.prompt_group)
    ys.anchor_logp = trainer.frozen_logprobs(snap, ys, trainer.prompt_group)
    return ys


@dataclass(frozen=True)
class SnapshotPairSampler:
    """y, y' from the snapshot π_t (``source="snapshot"``, INPO) or from π (``"policy"``, MPO),
    with the per-token log μ (``ref_logp``) and log π_t (``anchor_logp``) of both computed by
    the training forward's path, so that π = π_t gives a zero margin exactly.

    ``snapshot`` names the trainer's snapshot (:meth:`OnlineTrainer.snapshot`), which the
    method's :class:`RefreshRule` keeps.
    """

    source: Literal["snapshot", "policy"] = "snapshot"
    snapshot: str = "anchor"
    per_prompt: int = 2
    draws_pairs: bool = True

    def draw(self, trainer: OnlineTrainer, prompts: list[str], beta: float) -> Draw:
        both = _draw_anchored(trainer, prompts, 2, self.snapshot, self.source == "snapshot")
        return both.select(slice(0, None, 2)), both.select(slice(1, None, 2))


@dataclass(frozen=True)
class GroupSampler:
    """``per_prompt`` completions of each prompt from the snapshot π_t (SPPO's K samples), rows
    (p0, p0, ..., p1, ...), with log μ and log π_t filled; no opponent row.  The trainer then
    scores each sample's win rate against the others of its prompt
    (:meth:`OnlineTrainer.group_win_rates`, the loss's ``feedback = "win_rate"``)."""

    per_prompt: int = 4
    snapshot: str = "anchor"
    draws_pairs: bool = False

    def draw(self, trainer: OnlineTrainer, prompts: list[str], beta: float) -> Draw:
        return _draw_anchored(trainer, prompts, self.per_prompt, self.snapshot, True), None


# --- losses: what is minimised on a rollout (formulas in prefgame.losses) ---------------------


@dataclass(frozen=True)
class PairwiseLoss:
    """Mean soft-label pairwise loss ``fn(h, p, tau=τ)`` over the pairs (y, y') of the rows.

    h = [log π(y) − log ρ(y)] − [log π(y') − log ρ(y')] (:func:`prefgame.losses.log_ratio_margin`)
    with ρ = μ, or the anchor of ``anchor_weight``; per-sequence log-probs by ``x.reduction``.
    Statistics: ``margin`` = mean |h|, ``kl`` = mean Σ_t log π/μ over y.
    """

    fn: Callable[..., torch.Tensor]
    feedback: Feedback = "preference"
    needs_pairs: bool = True
    #: None: h against μ.  A function w(τ, η) in [0, 1]: h against the anchor
    #: log ρ = w log μ + (1 − w) log π_snap (``x.anchor_logp``; INPO: w = ητ; MPO's magnet: w = 0).
    anchor_weight: Callable[[float, float], float] | None = None
    #: the keyword through which ``fn`` takes its scale: ``"tau"`` (τ) or ``"eta"`` (η).
    scale: Literal["tau", "eta"] = "tau"

    def __call__(self, x: LossInput) -> tuple[torch.Tensor, dict[str, float]]:
        from prefgame.llm.policy import reduce_tokens

        anchor = x.ref_logp
        if self.anchor_weight is not None:
            w = self.anchor_weight(x.tau, x.eta)
            anchor = w * x.ref_logp + (1.0 - w) * x.anchor_logp
        logp = reduce_tokens(x.logp, x.mask, x.reduction)
        ref = reduce_tokens(anchor, x.mask, x.reduction)
        h = L.log_ratio_margin(logp[0::2], logp[1::2], ref[0::2], ref[1::2])
        loss = self.fn(h, x.p, **{self.scale: x.tau if self.scale == "tau" else x.eta}).mean()
        u = ((x.logp[0::2].detach() - x.ref_logp[0::2]) * x.mask[0::2]).sum(-1)
        return loss, {"margin": float(h.detach().abs().mean()), "kl": float(u.mean())}


def rl_baseline(reward: torch.Tensor, kind: str = "loo") -> torch.Tensor:
    """Per-sample baseline b_i of the rewards ``[B]`` of one batch, ``[B]``.

    ``"loo"``: b_i = (Σ_j r_j − r_i)/(B − 1), the mean of the *other* samples (RLOO; independent
    of y_i, so E[(r_i − b_i) ∇log π(y_i)] = ∇E r exactly);  ``"mean"``: b_i = (1/B) Σ_j r_j,
    which contains r_i and scales that expectation by 1 − 1/B;  ``"none"``: 0.
    """
    import torch

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
    over the rows y ~ π (gradient through log π only), u_t = log π_t − log μ_t.

    ``feedback = "preference"``: signal = p = P(y ≻ y' | x) (Nash-MD-PG, whose ``fn`` subtracts
    ½); ``"reward"``: signal = ``x.advantage`` = r(x, y) − b, the baseline b taken over the
    whole batch, not the micro-batch, so that gradient accumulation is exact.
    Statistic: ``kl`` = mean Σ_t u_t(y).
    """

    fn: Callable[..., torch.Tensor]
    feedback: Feedback = "preference"
    needs_pairs: bool = False

    def __call__(self, x: LossInput) -> tuple[torch.Tensor, dict[str, float]]:
        u_tok = x.logp.detach() - x.ref_logp
        mask = x.mask.to(x.logp.dtype)
        signal = x.p if self.feedback == "preference" else x.advantage
        loss = self.fn(x.logp, u_tok, signal, mask, tau=x.tau).mean()
        return loss, {"kl": float((u_tok * mask).sum(-1).mean())}


@dataclass(frozen=True)
class WinRateLoss:
    """Mean ``fn(u, r̂, eta=η)`` over the rows (every sample of the micro-batch's prompts), with
    u(y) = Σ_t [log π − log π_t] (π_t the snapshot, ``x.anchor_logp``) and r̂(y) = ``x.p`` the
    sample's mean judged win rate against the other samples of its prompt, an unbiased estimate
    of P(y ≻ π_t) (SPPO: ``fn`` = :func:`prefgame.losses.sppo_loss`).  Statistics: ``kl`` =
    mean Σ_t log π/μ over the samples (drawn from π_t, not π), ``u_abs`` = mean |u|."""

    fn: Callable[..., torch.Tensor]
    feedback: Feedback = "win_rate"
    needs_pairs: bool = False

    def __call__(self, x: LossInput) -> tuple[torch.Tensor, dict[str, float]]:
        u = ((x.logp - x.anchor_logp) * x.mask).sum(-1)
        loss = self.fn(u, x.p, eta=x.eta).mean()
        kl = ((x.logp.detach() - x.ref_logp) * x.mask).sum(-1)
        return loss, {"kl": float(kl.mean()), "u_abs": float(u.detach().abs().mean())}


# --- update rules: steps that are not one "sample, then one optimiser step" ---------------------


@runtime_checkable
class UpdateRule(Protocol):
    """One optimiser step of a method with its own update: ``step(trainer)`` returns the rollout
    to log and the step's statistics, built from the trainer's public pieces —
    :meth:`~prefgame.llm.trainer.OnlineTrainer.collect`,
    :meth:`~prefgame.llm.trainer.OnlineTrainer.accumulate_gradients`,
    :meth:`~prefgame.llm.trainer.OnlineTrainer.apply_update` and the
    :meth:`~prefgame.llm.trainer.OnlineTrainer.lookahead` context."""

    def step(self, trainer: OnlineTrainer) -> tuple[Rollout, dict]: ...


@dataclass(frozen=True)
class ExtragradientRule:
    """Extragradient on the method's loss (EGPO, arXiv:2503.08942, with online-IPO gradients):

        θ_{t+½} = U(θ_t, ∇L(θ_t; y ~ π_{θ_t})),   θ_{t+1} = U(θ_t, ∇L(θ_{t+½}; y ~ π_{θ_{t+½}})),

    U the optimiser's update (Adam, clipping, schedule).  The half step runs inside
    :meth:`~prefgame.llm.trainer.OnlineTrainer.lookahead`, which restores θ_t, the optimiser's
    moments and the schedule exactly; so the optimiser sees one update per step, taken with
    the gradient at the extrapolated point.  Two rollouts per step.  The tabular twin is
    :func:`prefgame.dynamics.extragradient` (target π*_τ, last iterate).
    """

    def step(self, trainer: OnlineTrainer) -> tuple[Rollout, dict]:
        with trainer.lookahead():
            trainer.train_on(trainer.collect())  # θ_{t+½}
            rollout = trainer.collect()  # samples of π_{θ_{t+½}}
            trainer.optimizer.zero_grad(set_to_none=True)
            acc = trainer.accumulate_gradients(rollout)  # ∇L at θ_{t+½}, kept in .grad
        upd = trainer.apply_update()  # from θ_t
        return rollout, {"loss": acc.pop("loss"), "kl": acc.pop("kl"), **upd, **acc}


@dataclass(frozen=True)
class RefreshRule:
    """Iterate on a moving anchor: at steps 0, K, 2K, ... (K = ``cfg.snapshot_every``) copy π
    into the snapshot ``name``, then take the ordinary step (collect, one optimiser step).

    The snapshot is π_t of INPO and SPPO (each iteration fits π_{t+1} to a loss anchored at
    π_t) and MPO's magnet (each period solves the game regularised towards the magnet, then the
    magnet moves to the solution: a proximal-point iteration towards the τ = 0 equilibrium).
    The trainer checkpoints the snapshot, so a resumed run continues exactly.  Logs
    ``iteration`` = step // K.
    """

    name: str = "anchor"

    @property
    def snapshots(self) -> tuple[str, ...]:
        return (self.name,)

    def step(self, trainer: OnlineTrainer) -> tuple[Rollout, dict]:
        every = trainer.cfg.snapshot_every
        if trainer.step_count % every == 0:
            trainer.refresh_snapshot(self.name)
        rollout = trainer.collect()
        logs = trainer.train_on(rollout)
        return rollout, {**logs, "iteration": trainer.step_count // every}


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

    ``update``: an :class:`UpdateRule` when one step is not "collect a rollout, one optimiser
    step on its loss" (extragradient: :class:`ExtragradientRule`); None for that default.
    """

    name: str
    label: str
    sampler: Sampler
    loss: Loss
    uses_beta: bool = False
    target: str = "nash"
    update: UpdateRule | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.sampler, Sampler):
            raise ValueError(  # noqa: TRY004 - the project's errors are ValueErrors
                f"method {self.name!r}: sampler {self.sampler!r} is not a Sampler (it needs "
                "per_prompt, draws_pairs and draw(trainer, prompts, beta))"
            )
        if not isinstance(self.loss, Loss):
            raise ValueError(  # noqa: TRY004
                f"method {self.name!r}: loss {self.loss!r} is not a Loss (it needs feedback, "
                "needs_pairs and __call__(x: LossInput))"
            )
        if self.loss.feedback not in ("preference", "reward", "win_rate"):
            raise ValueError(
                f"method {self.name!r}: loss.feedback = {self.loss.feedback!r}; "
                "choose 'preference', 'reward' or 'win_rate'"
            )
        if self.loss.feedback == "win_rate" and self.sampler.per_prompt < 2:
            raise ValueError(f"method {self.name!r}: win rates need >= 2 samples per prompt")
        if self.target not in TARGETS:
            raise ValueError(
                f"method {self.name!r}: target = {self.target!r}; choose one of {tuple(TARGETS)}"
            )
        if self.update is not None and not isinstance(self.update, UpdateRule):
            raise ValueError(
                f"method {self.name!r}: update {self.update!r} is not an UpdateRule (it needs "
                "step(trainer) -> (rollout, logs))"
            )
        if self.loss.needs_pairs and not self.sampler.draws_pairs:
            raise ValueError(f"method {self.name!r}: a pairwise loss needs a sampler of pairs")
        if self.loss.feedback == "preference" and not self.sampler.draws_pairs:
            raise ValueError(f"method {self.name!r}: a preference needs an opponent y'")

    @property
    def snapshots(self) -> tuple[str, ...]:
        """Names of the policy snapshots the method's update rule keeps (checkpointed)."""
        return tuple(getattr(self.update, "snapshots", ()))

    @property
    def feedback(self) -> Feedback:
        """``"preference"`` (a judge's P(y ≻ y' | x)), ``"reward"`` (a reward model's r(x, y))
        or ``"win_rate"`` (a sample's judged win rate against its prompt's other samples)."""
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
    # --- after the paper (docs/algorithms.md): the tabular twin names the same target
    Method(
        "egpo",
        "EGPO",
        PairSampler(),
        PairwiseLoss(L.ipo_soft_loss),
        target="nash",
        update=ExtragradientRule(),
    ),
    Method(
        "inpo",
        "INPO",
        SnapshotPairSampler("snapshot"),
        PairwiseLoss(L.inpo_loss, anchor_weight=lambda tau, eta: eta * tau, scale="eta"),
        target="nash",
        update=RefreshRule(),
    ),
    Method(
        "sppo",
        "SPPO",
        GroupSampler(4),
        WinRateLoss(L.sppo_loss),
        target="nash_0",
        update=RefreshRule(),
    ),
    Method(
        "mpo",
        "MPO",
        SnapshotPairSampler("policy", snapshot="magnet"),
        PairwiseLoss(L.ipo_soft_loss, anchor_weight=lambda tau, eta: 0.0),
        target="nash_0",
        update=RefreshRule("magnet"),
    ),
)


_NAME = re.compile(r"[a-z][a-z0-9_]*")


def register_method(
    name: str,
    *,
    sampler: Sampler,
    loss: Loss | Callable[..., Any],
    label: str | None = None,
    uses_beta: bool | None = None,
    target: str = "nash",
    update: UpdateRule | None = None,
    replace: bool = False,
) -> Method:
    """Add a method to :data:`METHODS` (the trainer, the command lines and ``prefgame
    verify-llm`` read it from there) and return it.

    ``sampler``: a :class:`Sampler` (e.g. :class:`PairSampler`, :class:`MixtureOpponentSampler`
    or your own); ``loss``: a :class:`Loss`, or a function ``f(h, p, *, tau)`` of the tabular
    protocol (elementwise in the margin h and the soft label p; written with operations that
    torch tensors support), which is wrapped in :class:`PairwiseLoss`; ``uses_beta``: whether
    the sampler draws from the mixture π^(1−β) μ^β (default: for a
    :class:`MixtureOpponentSampler`); ``target``: the policy its theory converges to, a key of
    :data:`TARGETS` (check it first on the tabular game: ``prefgame.dynamics.
    preference_optimisation`` with the same loss); ``update``: an :class:`UpdateRule` for a
    step that is not one optimiser step on one rollout (e.g. :class:`ExtragradientRule`);
    ``replace``: allow replacing a registered method of the same name.  Bad input raises
    ``ValueError`` naming it.
    """
    if not (isinstance(name, str) and _NAME.fullmatch(name)):
        raise ValueError(f"method name {name!r}: use lower-case letters, digits and _")
    if name in METHODS and not replace:
        raise ValueError(f"method {name!r} is already registered; pass replace=True to replace it")
    if not isinstance(loss, Loss):
        if not callable(loss):
            msg = f"method {name!r}: loss {loss!r} is neither a Loss nor a function"
            raise ValueError(msg)  # noqa: TRY004
        loss = PairwiseLoss(loss)
    if uses_beta is None:
        uses_beta = isinstance(sampler, MixtureOpponentSampler)
    method = Method(
        name, label or name, sampler, loss, uses_beta=bool(uses_beta), target=target, update=update
    )
    METHODS[name] = method
    return method


def unregister_method(name: str) -> Method:
    """Remove ``name`` from :data:`METHODS` and return it (``ValueError`` if absent)."""
    if name not in METHODS:
        raise ValueError(f"method {name!r} is not registered")
    return METHODS.pop(name)


def load_plugin(spec: str) -> None:
    """Import a user's module that calls :func:`register_method`: a ``.py`` file path or an
    importable module name.  ``ValueError`` names a missing file or a module that fails."""
    path = Path(spec)
    try:
        if spec.endswith(".py") or path.exists():
            if not path.is_file():
                raise ValueError(f"--plugin {spec}: no such file")
            name = f"prefgame_plugin_{re.sub(r'[^0-9a-zA-Z_]', '_', path.stem)}"
            mod_spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(mod_spec)
            sys.modules[name] = module
            mod_spec.loader.exec_module(module)
        else:
            importlib.import_module(spec)
    except ValueError:
        raise
    except Exception as exc:  # noqa: BLE001 -- any failure of the user's module is named
        raise ValueError(
            f"--plugin {spec}: importing it failed ({type(exc).__name__}: {exc})"
        ) from None


def pop_plugins(argv: list[str]) -> list[str]:
    """Load every ``--plugin X`` / ``--plugin=X`` of ``argv`` (:func:`load_plugin`) and return
    the other arguments."""
    rest, i = [], 0
    while i < len(argv):
        a = argv[i]
        if a == "--plugin":
            if i + 1 >= len(argv):
                raise ValueError("missing value after '--plugin'")
            load_plugin(argv[i + 1])
            i += 2
            continue
        if a.startswith("--plugin="):
            load_plugin(a.split("=", 1)[1])
        else:
            rest.append(a)
        i += 1
    return rest
