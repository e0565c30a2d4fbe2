"""One online trainer for every method of Calandriello et al. (2024).

A method is one object of :data:`prefgame.llm.methods.METHODS`: a sampler (how the step's
completions are drawn) and a loss from :mod:`prefgame.losses`; the table of the six methods of
the paper is in :mod:`prefgame.llm.methods`.

One optimiser step (:meth:`OnlineTrainer.step`) is

1. :meth:`~OnlineTrainer.collect` -- take ``batch_size`` prompts, sample in chunks of
   ``generation_batch_size`` (no gradient), decode, judge, and fill in log μ where the sampler
   did not already compute it;
2. :meth:`~OnlineTrainer.train_on` -- forward/backward in micro-batches of
   ``micro_batch_size`` prompts (gradient accumulation), clip, optimiser and scheduler step.

Logs per step (JSONL, TensorBoard, tqdm): loss, ``kl`` = mean Σ_t log π/μ over the step's
samples y (an unbiased KL(π‖μ) estimate when y ~ π; for IPO-MD, whose y come from the mixture,
it is E_mixture[log π/μ]), ``win_rate`` = judge P(y ≻ y_ref), y ~ π, y_ref ~ μ (every
``win_rate_every`` steps), generation length, tokens/s (generated tokens ÷ sampling time),
τ, β, lr, gradient norm.

Speed: for the pairwise methods each prompt's two samples share one prompt encoding (KV cache
or encoder states) in sampling, in the μ forward and in the training forward (with gradients),
see :func:`~prefgame.llm.policy.completion_logits`; under multi-process DDP this sharing is off.

Choices that keep the estimators what the theory says they are:

* dropout is off in every log-prob forward, the training forward included
  (``disable_dropout``, as TRL): with dropout, π = μ and P ≡ ½ (exact gradient 0) gives a
  gradient of norm ~10 per rollout on GPT-2;
* the sampler's temperature T is also applied to the loss's log π and log μ (the trained object
  is π_T = softmax(logits/T), as TRL does), so samples are on-policy for it; top-p < 1 is
  refused (see :class:`~prefgame.llm.config.OnlineConfig`);
* under bf16 autocast, or at a temperature ≠ 1, log μ is recomputed by the same forward path
  as the training forward's log π (not taken from the KV-cached sampler), so π = μ gives h = 0
  exactly; in fp32 at temperature 1 the mixture sampler's log μ is used as it is (it equals
  the training path's to 1e-5, ``tests/llm/test_kv_cache.py``: |h| ≤ 1e-5 at π = μ) and the
  step saves one μ forward (:attr:`OnlineTrainer.reuses_sampler_ref_logp`);
* RL's baseline is leave-one-out by default (unbiased; the batch mean that includes the
  sample's own reward scales the reward gradient by 1 − 1/B);
* ``ref`` may not be the policy itself (μ would move with π: no regularisation at all).

Distributed: ``accelerate`` (DDP) wraps the model for the training forward; sampling uses the
unwrapped module, prompts are sharded by process, each process samples with its own generator.
Under FSDP2 (accelerate's config, or ``ACCELERATE_USE_FSDP=true`` on CPU ranks) the shards are
gathered once per generation call (:meth:`OnlineTrainer._full_params`) and per snapshot
refresh.  Tested on CPU with two gloo ranks started by ``torchrun --nproc_per_node 2``, under
DDP and FSDP2 (the ranks stay identical and equal one process on the same global batch;
``tests/llm/test_distributed.py``); DeepSpeed ZeRO-3 follows its documented API, not run here.
Checkpoints go through ``accelerator.save_state`` / ``load_state`` (model, optimiser, RNG states
of every process, and -- registered for checkpointing -- the scheduler, the data position,
every process's sampling generator and the update rule's policy snapshots) every
``save_every`` steps; ``resume_from`` continues exactly as an uninterrupted run would.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from prefgame.llm.checkpoints import (  # noqa: F401 - re-exported for older imports
    check_resume_config,
    checkpoint_step,
    holds_a_run,
    latest_checkpoint,
    load_policy_checkpoint,
    move_previous_run,
    resolve_checkpoint,
)
from prefgame.llm.config import LR_SCHEDULES, OnlineConfig, schedule_value
from prefgame.llm.judges import Judge, RewardModel
from prefgame.llm.methods import METHODS, LossInput, rl_baseline
from prefgame.llm.policy import (
    Policy,
    SequenceBatch,
    encode_prompts,
    iter_chunks,
    token_logprobs,
)
from prefgame.llm.sampling import generate

if TYPE_CHECKING:
    from accelerate import Accelerator

__all__ = ["OnlineTrainer", "Rollout", "lr_scheduler"]


@dataclass
class Rollout:
    """Everything one step needs, produced without gradient by :meth:`OnlineTrainer.collect`.

    ``y`` (and ``y2`` for pairwise methods and Nash-MD-PG) are :class:`SequenceBatch` es with
    ``ref_logp`` filled; ``p`` = P(y ≻ y2 | x); ``reward`` = r(x, y) for RL.
    """

    prompts: list[str]
    y: SequenceBatch
    y2: SequenceBatch | None
    p: torch.Tensor | None
    reward: torch.Tensor | None
    tau: float
    beta: float
    texts: list[str] = field(default_factory=list)
    texts2: list[str] = field(default_factory=list)
    gen_seconds: float = 0.0
    win_rate: float | None = None


def lr_scheduler(
    optimizer: torch.optim.Optimizer, config: OnlineConfig
) -> torch.optim.lr_scheduler.LRScheduler:
    """The learning-rate schedule of ``config``, from ``transformers.get_scheduler``.

    With W = ``warmup_steps``, T = ``max_steps`` and the optimiser's peak ``lr``, step s uses
    lr · f(s):  f(s) = s / W while s < W, then ``constant`` 1, ``linear`` (T − s)/(T − W)
    or ``cosine`` ½ (1 + cos(π (s − W)/(T − W))) (transformers' convention: the first warm-up
    step has lr 0).
    """
    from transformers import get_scheduler

    return get_scheduler(
        LR_SCHEDULES[config.lr_schedule],
        optimizer,
        num_warmup_steps=config.warmup_steps,
        num_training_steps=config.max_steps,
    )


def _make_accelerator(mixed_precision: str) -> Accelerator:
    """An ``Accelerator``; a later trainer in the same process may change the precision
    (accelerate keeps one global state, which is reset then; the process group is kept).

    Without a GPU, a ``torchrun`` launch (WORLD_SIZE > 1) asks for accelerate's CPU mode:
    only then does accelerate start gloo ranks (otherwise each process runs alone).  With
    ``ACCELERATE_USE_FSDP=true`` there (``accelerate launch --config_file fsdp.yaml`` sets it),
    the ranks shard the model with accelerate's FSDP2 plugin (``FSDP_*`` variables), the path a
    multi-GPU FSDP run takes: accelerate itself turns FSDP on only for accelerator devices.
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    cpu = not torch.cuda.is_available() and int(os.environ.get("WORLD_SIZE", "1")) > 1
    try:
        acc = Accelerator(mixed_precision=mixed_precision, cpu=cpu)
    except ValueError:
        AcceleratorState._reset_state()
        acc = Accelerator(mixed_precision=mixed_precision, cpu=cpu)
    if cpu and os.environ.get("ACCELERATE_USE_FSDP", "false").lower() in ("1", "true"):
        _fsdp_on_cpu(acc)
    return acc


def _fsdp_on_cpu(acc: Accelerator) -> None:
    """Turn on FSDP2 for the gloo CPU ranks of ``acc`` (before ``prepare``)."""
    from accelerate import FullyShardedDataParallelPlugin
    from accelerate.state import AcceleratorState, PartialState
    from accelerate.utils import DistributedType

    os.environ.setdefault("FSDP_VERSION", "2")
    plugin = FullyShardedDataParallelPlugin()
    if plugin.fsdp_version != 2:
        raise ValueError(
            f"FSDP_VERSION = {plugin.fsdp_version}: FSDP on CPU ranks runs FSDP2 only (set 2)"
        )
    state = AcceleratorState()
    state.fsdp_plugin = plugin
    state.distributed_type = DistributedType.FSDP
    PartialState._shared_state["distributed_type"] = DistributedType.FSDP


class OnlineTrainer:
    """Online preference optimisation of ``policy`` against ``ref``, judged by ``judge``.

    Parameters
    ----------
    config : :class:`OnlineConfig` (method, τ, β, batch sizes, optimiser, checkpoints...).
    policy : the trained :class:`Policy` (its model's trainable parameters are optimised).
    judge : a :class:`~prefgame.llm.judges.Judge` giving P(y ≻ y' | x); for ``rl`` it must have
        ``reward(prompts, completions)`` (a :class:`~prefgame.llm.judges.RewardModel`), unless
        ``reward_model`` is given.  ``judge`` also scores the win rate against μ.
    prompts : a list of prompt strings (see :mod:`prefgame.llm.data`).
    ref : the reference μ; default ``policy.reference()`` (frozen copy, or adapters off).
    callbacks : functions ``f(trainer, logs)`` called after every step.
    """

    def __init__(
        self,
        config: OnlineConfig,
        policy: Policy,
        judge: Judge,
        prompts: Sequence[str],
        *,
        ref: Policy | None = None,
        reward_model: RewardModel | None = None,
        callbacks: Sequence[Callable[[OnlineTrainer, dict], object]] = (),
    ) -> None:
        if not isinstance(config, OnlineConfig):
            raise ValueError(f"config must be an OnlineConfig, got {type(config).__name__}")  # noqa: TRY004
        if not callable(judge):
            raise ValueError("judge must be callable as judge(prompts, ys, ys2)")  # noqa: TRY004
        self.method = METHODS[config.method]
        self.reward_model = (
            reward_model
            if reward_model is not None
            else (judge if hasattr(judge, "reward") else None)
        )
        if self.method.feedback == "reward" and self.reward_model is None:
            raise ValueError(
                "method 'rl' needs a reward model: pass reward_model= or a judge "
                "with a reward(prompts, completions) method"
            )
        prompts = list(prompts)
        if not prompts or not all(isinstance(x, str) for x in prompts):
            raise ValueError("prompts must be a non-empty list of strings")
        self.cfg, self.policy, self.judge, self.prompts = config, policy, judge, prompts
        self.callbacks = list(callbacks)
        self.ref = ref if ref is not None else policy.reference()
        if self.ref.same_weights_as(policy):
            raise ValueError(
                "ref is the policy itself: μ would move with π, so there is no KL "
                "regularisation at all"
                + (" and the mixture would mix π with itself" if self.method.uses_beta else "")
                + "; leave ref=None (a frozen copy, or the LoRA base)"
            )
        if self.ref.base_model is not policy.base_model:
            self.ref.model.eval()  # μ never runs dropout

        # the update rule's policy snapshots (INPO's π_t, MPO's magnet): frozen, unsharded
        # copies of π made before accelerate wraps it, checkpointed with the run
        self._snapshots = {name: policy.frozen_copy() for name in self.method.snapshots}
        self.accelerator = _make_accelerator("bf16" if config.bf16 else "no")
        self._seed_everything(config.seed + self.accelerator.process_index)
        params = [q for q in policy.model.parameters() if q.requires_grad]
        if not params:
            raise ValueError("the policy has no trainable parameters")
        self.optimizer = self._make_optimizer(params)
        self.scheduler = lr_scheduler(self.optimizer, config)
        self.model, self.optimizer = self.accelerator.prepare(policy.model, self.optimizer)
        self.train_policy = Policy(
            self.model, policy.tokenizer, adapters_off=False
        )  # forwards through DDP when wrapped
        # each process draws its own samples (process 0 as in a single-process run)
        self.sample_gen = torch.Generator(device=policy.device).manual_seed(
            config.seed + 1_000_003 * self.accelerator.process_index
        )
        self.data_gen = torch.Generator().manual_seed(config.seed)
        self.step_count, self.epoch, self.data_pos = 0, 0, 0
        self._order = self._epoch_order()
        self.accelerator.register_for_checkpointing(self.scheduler, _Progress(self))
        if self._snapshots:
            self.accelerator.register_for_checkpointing(_Snapshots(self))
        self.out = Path(config.output_dir)
        if not config.resume_from and holds_a_run(self.out):
            if not config.overwrite:
                raise ValueError(
                    f"output_dir = {config.output_dir!r} holds another run (log.jsonl or "
                    "checkpoints); give resume_from='latest' to continue it, overwrite=True "
                    "to move it aside, or another output_dir"
                )
            if self.accelerator.is_main_process:
                move_previous_run(self.out)
            self.accelerator.wait_for_everyone()
        self._log_file = None
        self._tb = None
        if config.resume_from:
            self.resume(config.resume_from)

    # --- set-up helpers ---------------------------------------------------------------------

    @staticmethod
    def _seed_everything(seed: int) -> None:
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)

    def _make_optimizer(self, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        c = self.cfg
        if c.optimizer == "adamw":
            return torch.optim.AdamW(
                params, lr=c.lr, betas=(c.adam_beta1, c.adam_beta2), weight_decay=c.weight_decay
            )
        from transformers.optimization import Adafactor

        return Adafactor(
            params,
            lr=c.lr,
            scale_parameter=False,
            relative_step=False,
            warmup_init=False,
            weight_decay=c.weight_decay,
        )

    def _epoch_order(self) -> list[int]:
        gen = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + self.epoch)
        n = len(self.prompts)
        shard = self.accelerator.process_index
        order = torch.randperm(n, generator=gen).tolist()
        return order[shard :: self.accelerator.num_processes] or order

    def next_prompts(self) -> list[str]:
        """The next ``batch_size`` prompts in a seeded per-epoch shuffle (resumable)."""
        out = []
        while len(out) < self.cfg.batch_size:
            if self.data_pos >= len(self._order):
                self.epoch, self.data_pos = self.epoch + 1, 0
                self._order = self._epoch_order()
            out.append(self.prompts[self._order[self.data_pos]])
            self.data_pos += 1
        return out

    def current_tau_beta(self) -> tuple[float, float]:
        """(τ, β) of the current step by :func:`~prefgame.llm.config.schedule_value` (β = 0 for
        the methods that do not read it; β clipped to [0, 1])."""
        c = self.cfg
        tau = schedule_value(c.tau_schedule, c.tau, self.step_count, c.max_steps)
        beta = (
            schedule_value(c.beta_schedule, c.beta, self.step_count, c.max_steps)
            if self.method.uses_beta
            else 0.0
        )
        return tau, min(max(beta, 0.0), 1.0)

    # --- sampling and judging ---------------------------------------------------------------

    @property
    def reuses_sampler_ref_logp(self) -> bool:
        """Whether the per-token log μ that the mixture sampler computed stands for the
        training path's: in fp32 (no autocast) at temperature 1, where the KV-cached and the
        training forward agree to 1e-5.  Under bf16 they differ by bf16 rounding, and the
        sampler's log-probs are untempered while the loss's are tempered: recomputed there."""
        return not self.cfg.bf16 and self.cfg.temperature == 1.0

    @property
    def shares_prompts(self) -> bool:
        """Whether the samples of one prompt share its encoding (not under multi-process DDP)."""
        return self.accelerator.num_processes == 1

    @property
    def prompt_group(self) -> int:
        """Samples per prompt that share one prompt encoding (1 under multi-process DDP)."""
        return self.method.sampler.per_prompt if self.shares_prompts else 1

    def _full_params(self) -> contextlib.AbstractContextManager:
        """Context that gathers sharded parameters for generation (FSDP, DeepSpeed ZeRO-3);
        a no-op otherwise.  FSDP2 (run on CPU ranks,
        ``tests/llm/test_distributed.py``): every sharded module is all-gathered once on entry
        and stays whole until exit, so the ranks may decode different numbers of tokens
        without meeting in a collective.  FSDP1 and ZeRO-3 follow the libraries' documented
        APIs (not run here: no GPU)."""
        from accelerate.utils import DistributedType

        kind = self.accelerator.distributed_type
        if kind == DistributedType.FSDP:
            from torch.distributed.fsdp import FSDPModule

            if isinstance(self.model, FSDPModule):
                plugin = self.accelerator.state.fsdp_plugin
                return _fsdp2_unsharded(self.model, bool(plugin.reshard_after_forward))
            from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

            return FSDP.summon_full_params(self.model, writeback=False)
        if kind == DistributedType.DEEPSPEED:
            import deepspeed

            return deepspeed.zero.GatheredParameters(list(self.model.parameters()))
        return contextlib.nullcontext()

    # --- snapshots: frozen copies of π that an update rule refreshes -------------------------

    def snapshot(self, name: str) -> Policy:
        """The frozen snapshot ``name`` of π (kept by the method's update rule, e.g.
        :class:`~prefgame.llm.methods.RefreshRule`; saved in every checkpoint)."""
        if name not in self._snapshots:
            raise ValueError(
                f"method {self.cfg.method!r} keeps no snapshot {name!r} "
                f"(it keeps {sorted(self._snapshots)}); declare it in its update rule's snapshots"
            )
        return self._snapshots[name]

    @torch.no_grad()
    def refresh_snapshot(self, name: str) -> None:
        """Copy π's current weights into the snapshot ``name`` (every rank calls this: FSDP2
        shards are all-gathered)."""
        weights = {
            k: v.full_tensor() if hasattr(v, "full_tensor") else v
            for k, v in self.policy.base_model.state_dict().items()
        }
        self.snapshot(name).model.load_state_dict(weights)

    def sample(
        self,
        prompts: list[str],
        beta: float | Sequence[float],
        per_prompt: int = 1,
        *,
        policy: Policy | None = None,
    ) -> SequenceBatch:
        """``per_prompt`` completions of each prompt from π^(1−β) μ^β, rows interleaved
        (p0, p0, p1, p1, ...), in generation chunks of ``generation_batch_size`` prompts.

        ``beta`` is one value, or ``per_prompt`` values: the k-th completion of every prompt
        is drawn with ``beta[k]``, all in one decoding batch (π runs once per token for all).
        ``policy``: draw from this policy in place of π (a :meth:`snapshot`).
        """
        c, tok = self.cfg, self.policy.tokenizer
        source = self.policy if policy is None else policy
        group = per_prompt if self.shares_prompts else 1
        rows = [x for x in prompts for _ in range(per_prompt)]
        per_row = [beta] * per_prompt if isinstance(beta, (int, float)) else list(beta)
        if len(per_row) != per_prompt:
            raise ValueError(f"{len(per_row)} values of beta for per_prompt = {per_prompt}")
        betas = per_row * len(prompts)  # rows are interleaved: p0's k completions, then p1's
        parts = []
        for sl in iter_chunks(len(rows), c.gen_batch * per_prompt):
            ids, mask = encode_prompts(
                tok, rows[sl], max_length=c.max_prompt_length, device=self.policy.device
            )
            with self._full_params(), self.accelerator.autocast():
                parts.append(
                    generate(
                        source,
                        ids,
                        mask,
                        ref=self.ref,
                        beta=betas[sl],
                        max_new_tokens=c.max_new_tokens,
                        temperature=c.temperature,
                        top_p=c.top_p,
                        generator=self.sample_gen,
                        group=group,
                    )
                )
        return SequenceBatch.cat(parts, tok.pad_token_id)

    @torch.no_grad()
    def frozen_logprobs(self, policy: Policy, batch: SequenceBatch, group: int = 1) -> torch.Tensor:
        """Per-token log-probs ``[B, T]`` of ``batch`` under a frozen ``policy`` (μ, a
        snapshot), by the same forward path as the training forward's log π (runs of ``group``
        rows share one prompt encoding), in chunks of ``2 · micro_batch_size`` rows."""
        parts = []
        for sl in iter_chunks(len(batch), self.cfg.micro * 2):
            with self.accelerator.autocast():
                parts.append(
                    token_logprobs(
                        policy, batch.select(sl), group, temperature=self.cfg.temperature
                    )
                )
        return torch.cat(parts)

    def fill_ref_logp(self, batch: SequenceBatch, group: int = 1) -> SequenceBatch:
        """``batch`` with its per-token log μ (``ref_logp``) computed where it is missing
        (:meth:`frozen_logprobs` under μ)."""
        if batch.ref_logp is None and len(batch):
            batch.ref_logp = self.frozen_logprobs(self.ref, batch, group)
        return batch

    @torch.no_grad()
    def collect(self, prompts: Sequence[str] | None = None) -> Rollout:
        """Sample, decode and judge one batch (the next prompts unless ``prompts`` is given)."""
        prompts = list(prompts) if prompts is not None else self.next_prompts()
        tau, beta = self.current_tau_beta()
        tok = self.policy.tokenizer
        self.policy.model.eval()
        self.ref.model.eval()
        t0 = time.perf_counter()
        y, y2 = self.method.sampler.draw(self, prompts, beta)
        gen_seconds = time.perf_counter() - t0
        texts = y.texts(tok)
        texts2 = y2.texts(tok) if y2 is not None else []
        p = reward = None
        if self.method.feedback == "reward":
            reward = self.reward_model.reward(prompts, texts).float().cpu()
        elif self.method.feedback == "win_rate":
            p = self.group_win_rates(prompts, texts)
        else:
            p = self.judge(prompts, texts, texts2).float()
        self.fill_ref_logp(y)  # one batched μ forward where the sampler did not run μ
        win = None
        every = self.cfg.win_rate_every
        if every and self.step_count % every == 0:
            # the step's own y are samples of π only for a sampler of π at β = 0
            on_policy = (
                beta == 0.0
                and len(texts) == len(prompts)
                and getattr(self.method.sampler, "source", "policy") == "policy"
            )
            win = self.win_rate_vs_reference(prompts, texts if on_policy else None)
        return Rollout(prompts, y, y2, p, reward, tau, beta, texts, texts2, gen_seconds, win)

    def group_win_rates(self, prompts: list[str], texts: list[str]) -> torch.Tensor:
        """r̂_i = (1/(k − 1)) Σ_{j ≠ i} P(y_i ≻ y_j | x) for the k = len(texts)/len(prompts)
        samples of each prompt (rows grouped by prompt), ``[len(texts)]``.  Each unordered pair
        is judged in both orders and symmetrised, P̂(y_i ≻ y_j) = (P(i ≻ j) + 1 − P(j ≻ i))/2,
        so that P̂(i ≻ j) + P̂(j ≻ i) = 1 for any judge."""
        n = len(prompts)
        k = len(texts) // n
        if k < 2 or k * n != len(texts):
            raise ValueError(f"{len(texts)} samples for {n} prompts: need k >= 2 per prompt")
        i, j = torch.triu_indices(k, k, offset=1)
        rows = torch.arange(n)[:, None] * k
        a, b = (rows + i).reshape(-1).tolist(), (rows + j).reshape(-1).tolist()
        xs = [prompts[r // k] for r in a]
        fwd = self.judge(xs, [texts[r] for r in a], [texts[r] for r in b]).float().cpu()
        bwd = self.judge(xs, [texts[r] for r in b], [texts[r] for r in a]).float().cpu()
        pij = 0.5 * (fwd + 1.0 - bwd)
        wins = torch.zeros(len(texts))
        wins.index_add_(0, torch.tensor(a), pij)
        wins.index_add_(0, torch.tensor(b), 1.0 - pij)
        return wins / (k - 1)

    @torch.no_grad()
    def win_rate_vs_reference(self, prompts: list[str], texts: list[str] | None = None) -> float:
        """Mean judge P(y ≻ y_ref | x), y ~ π (or the given ``texts``), y_ref ~ μ."""
        tok = self.policy.tokenizer
        if texts is None:
            texts = self.sample(prompts, 0.0).texts(tok)
        ref_batch = []
        for sl in iter_chunks(len(prompts), self.cfg.gen_batch):
            ids, mask = encode_prompts(
                tok, prompts[sl], max_length=self.cfg.max_prompt_length, device=self.policy.device
            )
            with self._full_params(), self.accelerator.autocast():
                ref_batch += generate(
                    self.ref,
                    ids,
                    mask,
                    max_new_tokens=self.cfg.max_new_tokens,
                    temperature=self.cfg.temperature,
                    top_p=self.cfg.top_p,
                    generator=self.sample_gen,
                ).texts(tok)
        return float(self.judge(prompts, texts, ref_batch).mean())

    # --- the loss ---------------------------------------------------------------------------

    def loss_input(self, rollout: Rollout, rows: slice) -> LossInput:
        """The training forward of the prompts ``rows`` of ``rollout``: the tensors the method's
        loss sees (:class:`~prefgame.llm.methods.LossInput`).  For a pairwise loss the rows are
        the pairs interleaved (y_0, y'_0, y_1, y'_1, ...), so that each prompt is encoded once;
        otherwise the samples y of the prompts (k per prompt for a group sampler)."""
        c, loss = self.cfg, self.method.loss
        k = len(rollout.y) // len(rollout.prompts)  # samples per prompt in y
        per_sample = slice(rows.start * k, rows.stop * k)
        y = rollout.y.select(per_sample)
        if loss.needs_pairs:
            y2 = rollout.y2.select(rows)
            inter = torch.arange(2 * len(y)).view(2, len(y)).T.reshape(-1)
            batch = SequenceBatch.cat([y, y2], self.policy.tokenizer.pad_token_id).select(inter)
        else:
            batch = y
        logp = token_logprobs(
            self.train_policy, batch, self.prompt_group, temperature=c.temperature
        )
        dev = logp.device
        p = advantage = None
        if loss.feedback == "reward":
            r = rollout.reward.to(dev)
            advantage = (r - rl_baseline(r, c.rl_baseline))[rows]
        else:
            p = rollout.p[per_sample if loss.feedback == "win_rate" else rows].to(dev)
        return LossInput(
            logp=logp,
            ref_logp=batch.ref_logp,
            mask=batch.completion_mask,
            tau=rollout.tau,
            eta=c.eta,
            reduction=c.logp_reduction,
            anchor_logp=batch.anchor_logp,
            p=p,
            advantage=advantage,
        )

    def loss(self, rollout: Rollout, rows: slice | None = None) -> tuple[torch.Tensor, dict]:
        """Mean loss over the prompts ``rows`` of ``rollout`` (gradient flows into π): the
        method's loss of :meth:`loss_input`.

        Returns the loss and detached statistics (``kl``: mean Σ_t log π/μ over y).
        """
        rows = rows if rows is not None else slice(0, len(rollout.prompts))
        return self.method.loss(self.loss_input(rollout, rows))

    def train_on(self, rollout: Rollout) -> dict:
        """One optimiser step on ``rollout``: :meth:`accumulate_gradients`, then
        :meth:`apply_update`."""
        self.optimizer.zero_grad(set_to_none=True)
        acc = self.accumulate_gradients(rollout)
        upd = self.apply_update()
        return {"loss": acc.pop("loss"), "kl": acc.pop("kl"), **upd, **acc}

    def accumulate_gradients(self, rollout: Rollout) -> dict:
        """Add ∇(mean loss over ``rollout``) to the parameters' ``.grad`` (micro-batches of
        ``micro_batch_size`` prompts, weighted so that the sum is the batch mean); returns the
        detached statistics (``loss``, ``kl``, the loss's own).  No optimiser step.

        The forward runs in eval mode (no dropout) unless ``disable_dropout=False``.
        """
        self.model.train(not self.cfg.disable_dropout)
        n = len(rollout.prompts)
        total, kls, extra = 0.0, [], {}
        chunks = list(iter_chunks(n, self.cfg.micro))
        for i, sl in enumerate(chunks):
            weight = (sl.stop - sl.start) / n
            sync = (
                self.accelerator.no_sync(self.model)
                if i < len(chunks) - 1
                else contextlib.nullcontext()
            )
            with sync, self.accelerator.autocast():
                loss, stats = self.loss(rollout, sl)
                self.accelerator.backward(loss * weight)
            total += float(loss.detach()) * weight
            kls.append(stats.pop("kl") * weight)
            for k, v in stats.items():
                extra[k] = extra.get(k, 0.0) + v * weight
        return {"loss": total, "kl": sum(kls), **extra}

    def apply_update(self) -> dict:
        """Clip the accumulated gradient to ``max_grad_norm``, take the optimiser and scheduler
        step, and clear the gradients; returns ``grad_norm`` and the ``lr`` used."""
        grad_norm = None
        if self.cfg.max_grad_norm:
            grad_norm = float(
                self.accelerator.clip_grad_norm_(
                    [q for q in self.model.parameters() if q.requires_grad], self.cfg.max_grad_norm
                )
            )
        lr = self.scheduler.get_last_lr()[0]
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        return {"grad_norm": grad_norm, "lr": lr}

    @contextlib.contextmanager
    def lookahead(self) -> Iterator[None]:
        """Context for a trial update: on exit the parameters, the optimiser's state and the
        scheduler are restored exactly to what they were on entry (gradients are left as they
        are, so a rule can keep the gradient it computed at the trial point)."""
        params = [q for q in self.model.parameters()]
        saved = [q.detach().clone() for q in params]
        opt_state = copy.deepcopy(self.optimizer.state_dict())
        sched_state = copy.deepcopy(self.scheduler.state_dict())
        try:
            yield
        finally:
            with torch.no_grad():
                for q, v in zip(params, saved):
                    q.copy_(v)
            self.optimizer.load_state_dict(opt_state)
            self.scheduler.load_state_dict(sched_state)

    # --- the loop ---------------------------------------------------------------------------

    def step(self) -> dict:
        """Collect one batch and take one optimiser step (or the method's own update rule,
        ``Method.update``); returns the step's log record."""
        t0 = time.perf_counter()
        if self.method.update is not None:
            rollout, logs = self.method.update.step(self)
        else:
            rollout = self.collect()
            logs = self.train_on(rollout)
        self.step_count += 1
        seconds = time.perf_counter() - t0
        n_tok = int(rollout.y.completion_mask.sum())
        if rollout.y2 is not None:
            n_tok += int(rollout.y2.completion_mask.sum())
        logs.update(
            step=self.step_count,
            tau=rollout.tau,
            beta=rollout.beta,
            gen_len=float(rollout.y.lengths.float().mean()),
            tokens_per_s=n_tok / max(rollout.gen_seconds, 1e-9),
            step_seconds=seconds,
            win_rate=rollout.win_rate,
        )
        if rollout.p is not None:
            logs["p_mean"] = float(rollout.p.mean())
        if rollout.reward is not None:
            logs["reward"] = float(rollout.reward.mean())
        return logs

    def train(self) -> list[dict]:
        """Run to ``max_steps`` (from the resumed step), logging and checkpointing."""
        from tqdm.auto import tqdm

        c = self.cfg
        main = self.accelerator.is_main_process
        history = []
        bar = tqdm(
            total=c.max_steps, initial=self.step_count, disable=not (c.progress_bar and main)
        )
        try:
            while self.step_count < c.max_steps:
                logs = self.step()
                history.append(logs)
                if main:
                    self._log(logs)
                    bar.update(1)
                    bar.set_postfix(loss=f"{logs['loss']:.3g}", kl=f"{logs['kl']:.3g}")
                if c.save_every and self.step_count % c.save_every == 0:
                    self.save_checkpoint()
                for cb in self.callbacks:
                    cb(self, logs)
            if not c.save_every or self.step_count % c.save_every:
                self.save_checkpoint()
        finally:
            bar.close()
            self.close()
        return history

    def close(self) -> None:
        """Close the log file and the TensorBoard writer (reopened by the next log)."""
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def _log(self, logs: dict) -> None:
        self.out.mkdir(parents=True, exist_ok=True)
        if self._log_file is None:
            self._log_file = open(self.out / "log.jsonl", "a")  # noqa: SIM115 - open for the run
        self._log_file.write(json.dumps(logs) + "\n")
        self._log_file.flush()
        if self.cfg.log_tensorboard:
            if self._tb is None:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.out / "tensorboard"))
            for k, v in logs.items():
                if k != "step" and isinstance(v, (int, float)):
                    self._tb.add_scalar(k, v, self.step_count)

    # --- checkpoints ------------------------------------------------------------------------

    def save_checkpoint(self) -> Path | None:
        """Write ``output_dir/checkpoint-<step>/`` with ``accelerator.save_state``.

        Every process takes part (FSDP / ZeRO-3 gather or shard the weights there); the state
        is written to a temporary folder and renamed, so a kill never leaves half a checkpoint.
        Returns the path on the main process, None elsewhere.
        """
        acc = self.accelerator
        path = self.out / f"checkpoint-{self.step_count}"
        tmp = self.out / f".tmp-checkpoint-{self.step_count}"
        if acc.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        acc.wait_for_everyone()
        acc.save_state(str(tmp))
        acc.wait_for_everyone()
        if not acc.is_main_process:
            acc.wait_for_everyone()
            return None
        (tmp / "config.json").write_text(json.dumps(self.cfg.to_dict(), indent=1))
        shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)
        if self.cfg.keep_checkpoints:
            # only this run's earlier checkpoints rotate out: never the one just written, never
            # a higher-numbered one (left by a run this one resumed from an earlier point)
            older = sorted(
                (q for q in self.out.glob("checkpoint-*") if checkpoint_step(q) < self.step_count),
                key=checkpoint_step,
            )
            for old in older[: max(len(older) - (self.cfg.keep_checkpoints - 1), 0)]:
                shutil.rmtree(old, ignore_errors=True)
        acc.wait_for_everyone()
        return path

    def resume(self, checkpoint: str | Path) -> None:
        """Restore weights, optimiser, scheduler, every process's RNG states, sampling
        generator and the data position (``accelerator.load_state``)."""
        path = resolve_checkpoint(checkpoint, self.cfg.output_dir)
        check_resume_config(path, self.cfg)
        self.accelerator.load_state(str(path))
        log = self.out / "log.jsonl"
        if self.accelerator.is_main_process and log.is_file():
            # drop the records of steps after the checkpoint: they are about to be redone
            kept = [
                line
                for line in log.read_text().splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= self.step_count
            ]
            log.write_text("".join(line + "\n" for line in kept))


@contextlib.contextmanager
def _fsdp2_unsharded(model: torch.nn.Module, reshard_after_forward: bool) -> Iterator[None]:
    """All-gather every FSDP2 module of ``model`` (a collective: every rank enters), keep the
    parameters whole through any number of forwards, reshard on exit and restore
    ``reshard_after_forward`` (the plugin's setting)."""
    from torch.distributed.fsdp import FSDPModule

    mods = [m for m in model.modules() if isinstance(m, FSDPModule)]
    for m in mods:
        m.set_reshard_after_forward(False, recurse=False)
        m.unshard()
    try:
        yield
    finally:
        for m in mods:
            m.reshard()
            m.set_reshard_after_forward(reshard_after_forward, recurse=False)


class _Snapshots:
    """The update rule's policy snapshots, registered with
    ``accelerator.register_for_checkpointing``: their weights, by name."""

    def __init__(self, trainer: OnlineTrainer) -> None:
        self.trainer = trainer

    def state_dict(self) -> dict:
        return {k: v.model.state_dict() for k, v in self.trainer._snapshots.items()}

    def load_state_dict(self, state: dict) -> None:
        for name, weights in state.items():
            self.trainer.snapshot(name).model.load_state_dict(weights)


class _Progress:
    """The trainer's position, registered with ``accelerator.register_for_checkpointing``:
    step, epoch, data position and every process's sampling / data generator states."""

    def __init__(self, trainer: OnlineTrainer) -> None:
        self.trainer = trainer

    def _mine(self) -> dict:
        t = self.trainer
        return {"sample_gen": t.sample_gen.get_state(), "data_gen": t.data_gen.get_state()}

    def state_dict(self) -> dict:
        t = self.trainer
        gens = [self._mine()]
        if t.accelerator.num_processes > 1:  # every process calls this (save_state)
            from accelerate.utils import gather_object

            gens = gather_object(gens)
        return {"step": t.step_count, "epoch": t.epoch, "data_pos": t.data_pos, "generators": gens}

    def load_state_dict(self, state: dict) -> None:
        t = self.trainer
        gens = state["generators"]
        if len(gens) != t.accelerator.num_processes:
            raise ValueError(
                f"checkpoint was written by {len(gens)} process(es), this run has "
                f"{t.accelerator.num_processes}"
            )
        mine = gens[t.accelerator.process_index]
        t.sample_gen.set_state(mine["sample_gen"])
        t.data_gen.set_state(mine["data_gen"])
        t.step_count, t.epoch, t.data_pos = state["step"], state["epoch"], state["data_pos"]
        t._order = t._epoch_order()
