"""Policies: a Hugging Face LM (causal or encoder-decoder) with per-sequence log-probabilities.

The sequence-level counterpart of the tabular :mod:`prefgame.policies`: there π is a vector of
probabilities over n actions; here it is a language model and an "action" is a completion y,
with log π(y | x) computed below.

A :class:`Policy` pairs a model with its tokenizer and knows whether it is an encoder-decoder
(T5, the paper's policy) or a causal LM (GPT-2, Llama, ...).  The reference μ is another
:class:`Policy`: a frozen copy of the initial weights, or — with LoRA — the *same* model with its
adapters disabled (``Policy.reference()``), so no second copy is held in memory.

Sequences are laid out as a :class:`SequenceBatch`: prompts left-padded, completions
right-padded, both with 0/1 masks.  For a causal LM the model reads ``[prompt | completion]``
with position ids that skip the left padding; for an encoder-decoder the encoder reads the
prompt and the decoder reads ``[start | completion]``.

    log π(y | x) = Σ_t m_t log π(y_t | x, y_<t)      (reduction "sum")
                 = Σ_t m_t log π(y_t | x, y_<t) / Σ_t m_t   (reduction "mean")
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedTokenizerBase

    from prefgame.llm.config import OnlineConfig

__all__ = [
    "Policy",
    "SequenceBatch",
    "add_lora",
    "check_tokenizer",
    "encode_completions",
    "encode_prompts",
    "encoder_outputs",
    "gather_logp",
    "load_pretrained_policy",
    "next_token_distribution",
    "policy_from_config",
    "prefill_prompts",
    "reduce_tokens",
    "sequence_logprobs",
    "token_logprobs",
]


def check_tokenizer(tokenizer: PreTrainedTokenizerBase) -> None:
    """Raise ``ValueError`` unless ``tokenizer`` has a pad token and an EOS token."""
    if getattr(tokenizer, "pad_token_id", None) is None:
        raise ValueError(
            "tokenizer has no pad token; set one first, e.g. "
            "tokenizer.pad_token = tokenizer.eos_token"
        )
    if getattr(tokenizer, "eos_token_id", None) is None:
        raise ValueError("tokenizer has no EOS token; generation could never stop")


@dataclass
class SequenceBatch:
    """Prompt/completion token ids with masks: ``[B, Lp]`` left-padded, ``[B, T]`` right-padded.

    The optional per-token log-prob fields (``[B, T]``, zero where the mask is 0) are filled by
    the samplers so that the trainer does not recompute them:

    * ``policy_logp`` -- log π(y_t | ·) at sampling time (no gradient, untempered);
    * ``ref_logp``    -- log μ(y_t | ·) (filled when the sampler ran μ, e.g. the mixture);
    * ``sample_logp`` -- log-prob under the distribution actually sampled (mixture, temperature
      and top-p included);
    * ``anchor_logp`` -- log π_t(y_t | ·) under the update rule's snapshot (INPO's previous
      iterate, SPPO's π_t, MPO's magnet), by the training forward's path.
    """

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    completion_ids: torch.Tensor
    completion_mask: torch.Tensor
    policy_logp: torch.Tensor | None = None
    ref_logp: torch.Tensor | None = None
    sample_logp: torch.Tensor | None = None
    anchor_logp: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.completion_ids.shape[0]

    @property
    def lengths(self) -> torch.Tensor:
        """Completion lengths (EOS included), shape ``[B]``."""
        return self.completion_mask.sum(-1)

    def select(self, index: torch.Tensor | slice | Sequence[int]) -> SequenceBatch:
        """Rows ``index`` (slice, list or tensor) of every field."""
        return replace(
            self,
            **{
                f.name: (None if v is None else v[index])
                for f in fields(self)
                for v in [getattr(self, f.name)]
            },
        )

    def trimmed(self) -> SequenceBatch:
        """The batch without the trailing completion columns that are padding in every row
        (a causal decoder never reads them: the log-probs of the other columns do not change)."""
        width = int(self.lengths.max()) if len(self) else 0
        if width == self.completion_ids.shape[1]:
            return self
        return replace(
            self,
            **{
                f.name: v[:, :width]
                for f in fields(self)
                if not f.name.startswith("prompt")
                for v in [getattr(self, f.name)]
                if v is not None
            },
        )

    def to(self, device: torch.device | str) -> SequenceBatch:
        return replace(
            self,
            **{
                f.name: (v.to(device) if v is not None else None)
                for f in fields(self)
                for v in [getattr(self, f.name)]
            },
        )

    @staticmethod
    def cat(batches: Sequence[SequenceBatch], pad_token_id: int) -> SequenceBatch:
        """Concatenate along the batch, re-padding prompts (left) and completions (right)."""
        out = {}
        for f in fields(SequenceBatch):
            vals = [getattr(b, f.name) for b in batches]
            if any(v is None for v in vals):
                out[f.name] = None
                continue
            left = f.name.startswith("prompt")
            width = max(v.shape[1] for v in vals)
            fill = pad_token_id if f.name.endswith("_ids") else 0
            padded = []
            for v in vals:
                pad = v.new_full((v.shape[0], width - v.shape[1]), fill)
                padded.append(torch.cat([pad, v] if left else [v, pad], dim=1))
            out[f.name] = torch.cat(padded, dim=0)
        return SequenceBatch(**out)

    def texts(self, tokenizer: PreTrainedTokenizerBase) -> list[str]:
        """Decoded completions (special tokens dropped)."""
        return [
            tokenizer.decode(ids[m.bool()], skip_special_tokens=True)
            for ids, m in zip(self.completion_ids, self.completion_mask)
        ]


@dataclass
class Policy:
    """A language model and its tokenizer; ``adapters_off`` views a LoRA model's base weights.

    Use :meth:`context` around every forward pass (it disables adapters when needed), or simply
    call :func:`token_logprobs` / the samplers, which do so.
    """

    model: torch.nn.Module
    tokenizer: object
    adapters_off: bool = False
    _is_lora: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        check_tokenizer(self.tokenizer)
        base = self.base_model
        self._is_lora = hasattr(base, "disable_adapter") and hasattr(base, "peft_config")
        if self.adapters_off and not self._is_lora:
            raise ValueError("adapters_off=True needs a peft (LoRA) model")

    @property
    def base_model(self) -> torch.nn.Module:
        """The model without a DDP/FSDP wrapper (``.module``), for config and adapters."""
        return getattr(self.model, "module", self.model)

    @property
    def config(self) -> PretrainedConfig:
        return self.base_model.config

    @property
    def is_encoder_decoder(self) -> bool:
        return bool(getattr(self.config, "is_encoder_decoder", False))

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def is_lora(self) -> bool:
        return self._is_lora

    def context(self) -> contextlib.AbstractContextManager:
        """Context manager under which the model computes this policy's logits."""
        if self.adapters_off:
            return self.base_model.disable_adapter()
        return contextlib.nullcontext()

    def reference(self) -> Policy:
        """The reference μ: base weights with adapters disabled under LoRA, else a frozen copy."""
        if self._is_lora:
            return Policy(self.base_model, self.tokenizer, adapters_off=True)
        return self.frozen_copy()

    def frozen_copy(self) -> Policy:
        """A copy of this policy's current model (adapters included), in eval mode, with no
        trainable parameter."""
        model = copy.deepcopy(self.base_model).eval()
        model.requires_grad_(False)
        return Policy(model, self.tokenizer)

    def same_weights_as(self, other: Policy) -> bool:
        """True when both views compute the same function (never mixed with itself)."""
        return self.base_model is other.base_model and self.adapters_off == other.adapters_off

    def decoder_start_id(self) -> int:
        cfg = self.config
        start = getattr(cfg, "decoder_start_token_id", None)
        return cfg.pad_token_id if start is None else start


def load_pretrained_policy(
    name_or_path: str,
    *,
    tokenizer: PreTrainedTokenizerBase | None = None,
    lora_r: int = 0,
    lora_alpha: float = 16.0,
    lora_dropout: float = 0.0,
    lora_target_modules: Sequence[str] = (),
    dtype: str = "float32",
    device: str | torch.device | None = None,
    seed: int = 0,
) -> Policy:
    """Load a policy from the Hugging Face hub or a local directory, optionally with LoRA.

    The tokenizer is checked for a pad token *before* the weights are loaded; LoRA adapters
    are initialised from ``seed`` (the global RNG is left untouched).
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    if dtype not in ("float32", "bfloat16", "float16"):
        raise ValueError(f"dtype = {dtype!r}; choose float32, bfloat16 or float16")
    if tokenizer is None:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path)
    check_tokenizer(tokenizer)
    cfg = AutoConfig.from_pretrained(name_or_path)
    cls = (
        AutoModelForSeq2SeqLM if getattr(cfg, "is_encoder_decoder", False) else AutoModelForCausalLM
    )
    model = cls.from_pretrained(name_or_path, dtype=getattr(torch, dtype))
    if device is not None:
        model.to(device)
    if lora_r:
        model = add_lora(
            model,
            r=lora_r,
            alpha=lora_alpha,
            dropout=lora_dropout,
            target_modules=lora_target_modules,
            seed=seed,
        )
    return Policy(model, tokenizer)


def add_lora(
    model: torch.nn.Module,
    *,
    r: int,
    alpha: float = 16.0,
    dropout: float = 0.0,
    target_modules: Sequence[str] = (),
    seed: int = 0,
) -> torch.nn.Module:
    """Wrap ``model`` with peft LoRA adapters of rank ``r`` (the base stays frozen).

    The adapters' random initialisation (A ~ Kaiming-uniform, B = 0) is drawn from ``seed`` in
    a forked RNG: the same seed gives the same adapters whatever the global RNG state.
    """
    from peft import LoraConfig, TaskType, get_peft_model

    task = (
        TaskType.SEQ_2_SEQ_LM
        if getattr(model.config, "is_encoder_decoder", False)
        else TaskType.CAUSAL_LM
    )
    cfg = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        task_type=task,
        target_modules=list(target_modules) or None,
    )
    devices = [model.device] if getattr(model, "device", torch.device("cpu")).type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        return get_peft_model(model, cfg)


def special_token_frame(
    tokenizer: PreTrainedTokenizerBase, text: str
) -> tuple[list[int], list[int], list[int]]:
    """(prefix, body, suffix): the ids the tokenizer's standard encoding puts around ``text``.

    ``tokenizer(text)`` = prefix + body + suffix, with body = ``tokenizer(text,
    add_special_tokens=False)``: e.g. ``[<s>]`` + body for Llama, body + ``[</s>]`` for T5,
    nothing around it for GPT-2.  When the two encodings do not nest that way (an unusual
    post-processor) the whole standard encoding is returned as the body.
    """
    full = tokenizer(text)["input_ids"]
    body = tokenizer(text, add_special_tokens=False)["input_ids"]
    n = len(body)
    for start in range(len(full) - n + 1):
        if full[start : start + n] == body:
            return full[:start], body, full[start + n :]
    return [], full, []


def encode_prompts(
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    *,
    max_length: int = 512,
    device: torch.device | str | None = None,
    add_special_tokens: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded prompt ids and mask, ``[B, Lp]``; long prompts keep their last tokens.

    As in standard (SFT) tokenisation the tokenizer's special tokens frame each prompt (BOS for
    Llama, EOS after a T5 encoder input; none for GPT-2); a prompt longer than ``max_length``
    loses its *first text tokens*, never those special tokens.  ``add_special_tokens=False``
    encodes the bare text.
    """
    if max_length < 1:
        raise ValueError(f"max_length = {max_length}, must be >= 1")
    enc = []
    for p in prompts:
        if add_special_tokens:
            pre, body, post = special_token_frame(tokenizer, p)
        else:
            pre, body, post = [], tokenizer(p, add_special_tokens=False)["input_ids"], []
        keep = max_length - len(pre) - len(post)
        if keep < 0:
            raise ValueError(
                f"max_length = {max_length} cannot hold the tokenizer's "
                f"{len(pre) + len(post)} special tokens"
            )
        enc.append(pre + (body[len(body) - keep :] if keep else []) + post)
    width = max(1, max(len(e) for e in enc))
    ids = torch.full((len(enc), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(enc), width), dtype=torch.long)
    for i, e in enumerate(enc):
        if e:
            ids[i, width - len(e) :] = torch.tensor(e)
            mask[i, width - len(e) :] = 1
    if device is not None:
        ids, mask = ids.to(device), mask.to(device)
    return ids, mask


def encode_completions(
    tokenizer: PreTrainedTokenizerBase,
    completions: Sequence[str],
    *,
    max_length: int = 512,
    add_eos: bool = True,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded completion ids and mask, ``[B, T]`` (EOS appended unless ``add_eos=False``)."""
    enc = []
    for c in completions:
        e = tokenizer(c, add_special_tokens=False)["input_ids"][: max_length - int(add_eos)]
        enc.append(e + [tokenizer.eos_token_id] if add_eos else e)
    width = max(1, max(len(e) for e in enc))
    ids = torch.full((len(enc), width), tokenizer.pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(enc), width), dtype=torch.long)
    for i, e in enumerate(enc):
        ids[i, : len(e)] = torch.tensor(e, dtype=torch.long)
        mask[i, : len(e)] = 1
    if device is not None:
        ids, mask = ids.to(device), mask.to(device)
    return ids, mask


@torch.no_grad()
def next_token_distribution(policy: Policy, prompts: Sequence[str]) -> torch.Tensor:
    """π(· | x): the distribution of the first completion token after each prompt, ``[B, V]``.

    The same logits as :func:`completion_logits` gives for a completion's first token (positions
    continue after the last real prompt token; T5 starts from its decoder start token).
    """
    ids, mask = encode_prompts(policy.tokenizer, prompts, device=policy.device)
    with policy.context():
        if policy.is_encoder_decoder:
            start = torch.full(
                (len(prompts), 1), policy.decoder_start_id(), dtype=torch.long, device=policy.device
            )
            logits = policy.model(
                input_ids=ids, attention_mask=mask, decoder_input_ids=start, use_cache=False
            ).logits[:, -1]
        else:
            pos = (mask.cumsum(-1) - 1).clamp(min=0)
            logits = policy.model(
                input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False
            ).logits[:, -1]
    return torch.softmax(logits.float(), dim=-1)


def gather_logp(logits: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[ids] without materialising the full log-softmax twice."""
    logits = logits.float()
    return logits.gather(-1, ids.unsqueeze(-1)).squeeze(-1) - torch.logsumexp(logits, dim=-1)


@functools.lru_cache(maxsize=64)
def _cache_kwarg_for(forward) -> str:
    params = inspect.signature(forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def cache_kwarg(model: torch.nn.Module) -> str:
    """The name of the KV-cache argument of ``model``'s forward: ``"cache"`` where the
    installed transformers has renamed it (5.x; ``past_key_values`` is deprecated there),
    else ``"past_key_values"``.  DDP (``.module``) and peft wrappers are looked through."""
    inner = model
    for _ in range(4):
        inner = getattr(inner, "module", inner)
        if hasattr(inner, "get_base_model"):
            inner = inner.get_base_model()
    return _cache_kwarg_for(type(inner).forward)


def check_groups(prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, group: int) -> None:
    """Raise ``ValueError`` unless rows come in runs of ``group`` equal prompts."""
    bsz = prompt_ids.shape[0]
    if group < 1 or bsz % group:
        raise ValueError(f"batch of {bsz} rows is not a whole number of groups of {group}")
    if group > 1:
        for t in (prompt_ids * prompt_mask, prompt_mask):
            g = t.view(bsz // group, group, -1)
            if not torch.equal(g, g[:, :1].expand_as(g)):
                raise ValueError(f"group={group}: rows of a group must share one prompt")


def encoder_outputs(
    policy: Policy, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, group: int
) -> Any:
    """Encoder states of each distinct prompt, repeated ``group`` times (encoder-decoder)."""
    from transformers.modeling_outputs import BaseModelOutput

    enc = policy.model.get_encoder()(
        input_ids=prompt_ids[::group], attention_mask=prompt_mask[::group]
    )
    hidden = enc.last_hidden_state
    return BaseModelOutput(
        last_hidden_state=hidden.repeat_interleave(group, 0) if group > 1 else hidden
    )


def completion_logits(policy: Policy, batch: SequenceBatch, group: int = 1) -> torch.Tensor:
    """Logits that predict each completion token, ``[B, T, V]``.

    ``group = k > 1`` declares that rows come in runs of k completions of the same prompt (two
    samples per prompt in the pairwise methods): each prompt is then encoded once and its
    keys/values (or encoder states) are shared by the k completions, gradients included --
    the same numbers, with the prompt's share of the compute divided by k.
    """
    model = policy.model
    check_groups(batch.prompt_ids, batch.prompt_mask, group)
    if policy.is_encoder_decoder:
        start = torch.full_like(batch.completion_ids[:, :1], policy.decoder_start_id())
        dec_in = torch.cat([start, batch.completion_ids[:, :-1]], dim=1)
        dec_mask = torch.cat([torch.ones_like(start), batch.completion_mask[:, :-1]], dim=1)
        with policy.context():
            kw = (
                {
                    "encoder_outputs": encoder_outputs(
                        policy, batch.prompt_ids, batch.prompt_mask, group
                    )
                }
                if group > 1
                else {"input_ids": batch.prompt_ids}
            )
            out = model(
                attention_mask=batch.prompt_mask,
                decoder_input_ids=dec_in,
                decoder_attention_mask=dec_mask,
                use_cache=False,
                **kw,
            )
        return out.logits
    if group > 1:
        return _shared_prompt_logits(policy, batch, group)
    ids = torch.cat([batch.prompt_ids, batch.completion_ids], dim=1)
    mask = torch.cat([batch.prompt_mask, batch.completion_mask], dim=1)
    # Positions continue after the last real prompt token; completion padding is masked out.
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    lp = batch.prompt_ids.shape[1]
    with policy.context():
        out = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=pos,
            use_cache=False,
            logits_to_keep=batch.completion_ids.shape[1] + 1,
        )
    # logits_to_keep keeps the last T+1 positions; position lp−1+t predicts completion token t.
    logits = out.logits
    if logits.shape[1] != batch.completion_ids.shape[1] + 1:  # model ignored logits_to_keep
        logits = logits[:, lp - 1 :]
    return logits[:, :-1]


def prefill_prompts(
    policy: Policy, prompt_ids: torch.Tensor, prompt_mask: torch.Tensor, group: int = 1
) -> tuple[Any, torch.Tensor, torch.Tensor]:
    """Causal LM: encode each distinct prompt once (rows come in runs of ``group`` equal
    prompts) into a new KV cache, repeated to every row.

    Returns (cache, the logits at each row's last prompt position ``[B, V]``, the position id
    of each row's next token ``[B, 1]``).  Runs under the caller's grad mode and context: the
    sampler decodes from the cache, the training forward feeds it the completions.
    """
    from transformers import DynamicCache

    model = policy.model
    p_ids, p_mask = prompt_ids[::group], prompt_mask[::group]
    pos = (p_mask.cumsum(-1) - 1).clamp(min=0)
    cache = DynamicCache()
    out = model(
        input_ids=p_ids,
        attention_mask=p_mask,
        position_ids=pos,
        use_cache=True,
        logits_to_keep=1,
        **{cache_kwarg(model): cache},
    )
    logits, next_pos = out.logits[:, -1], pos[:, -1:] + 1
    if group > 1:
        cache.batch_repeat_interleave(group)
        logits, next_pos = logits.repeat_interleave(group, 0), next_pos.repeat_interleave(group, 0)
    return cache, logits, next_pos


def _shared_prompt_logits(policy: Policy, batch: SequenceBatch, group: int) -> torch.Tensor:
    """Causal LM: run each distinct prompt once, repeat its KV cache, then the completions."""
    model = policy.model
    with policy.context():
        cache, first, start = prefill_prompts(policy, batch.prompt_ids, batch.prompt_mask, group)
        first = first[:, None]
        steps = batch.completion_ids.shape[1] - 1
        if steps == 0:
            return first
        mask = torch.cat([batch.prompt_mask, batch.completion_mask[:, :-1]], dim=1)
        cpos = start + torch.arange(steps, device=start.device)
        rest = model(
            input_ids=batch.completion_ids[:, :-1],
            attention_mask=mask,
            position_ids=cpos,
            use_cache=True,
            **{cache_kwarg(model): cache},
        ).logits
    return torch.cat([first, rest], dim=1)


def token_logprobs(
    policy: Policy, batch: SequenceBatch, group: int = 1, *, temperature: float = 1.0
) -> torch.Tensor:
    """log π_T(y_t | x, y_<t) = log softmax(logits / T)[y_t] for every completion token,
    ``[B, T]``, zero where masked (T = ``temperature``, 1 = the model itself).

    Gradients flow when called outside ``torch.no_grad()``.  ``group`` as in
    :func:`completion_logits` (rows in runs of ``group`` completions of one prompt).
    """
    if not (temperature > 0 and math.isfinite(temperature)):
        raise ValueError(f"temperature = {temperature!r}, must be a finite number > 0")
    logits = completion_logits(policy, batch, group)
    if temperature != 1.0:
        logits = logits.float() / temperature
    logp = gather_logp(logits, batch.completion_ids)
    return torch.where(batch.completion_mask.bool(), logp, torch.zeros_like(logp))


def reduce_tokens(
    token_values: torch.Tensor, mask: torch.Tensor, reduction: str = "sum"
) -> torch.Tensor:
    """Σ_t m_t v_t (``"sum"``) or its per-token average (``"mean"``), shape ``[B]``."""
    total = (token_values * mask).sum(-1)
    if reduction == "sum":
        return total
    if reduction == "mean":
        return total / mask.sum(-1).clamp(min=1)
    raise ValueError(f"reduction = {reduction!r}; choose 'sum' or 'mean'")


def sequence_logprobs(
    policy: Policy,
    batch: SequenceBatch,
    reduction: str = "sum",
    group: int = 1,
    *,
    temperature: float = 1.0,
) -> torch.Tensor:
    """log π(y | x) per sequence, ``[B]``: prompt and padding tokens masked (see module doc)."""
    return reduce_tokens(
        token_logprobs(policy, batch, group, temperature=temperature),
        batch.completion_mask,
        reduction,
    )


def iter_chunks(n: int, size: int) -> Iterator[slice]:
    """Slices ``[0:size], [size:2 size], ...`` covering ``range(n)``."""
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def policy_from_config(
    cfg: OnlineConfig,
    *,
    tokenizer: PreTrainedTokenizerBase | None = None,
    device: torch.device | str | None = None,
) -> tuple[Policy, Policy]:
    """(policy, reference) from an :class:`~prefgame.llm.config.OnlineConfig`.

    ``cfg.policy_name`` is loaded (with LoRA when ``cfg.lora_r > 0``); the reference is
    ``cfg.ref_name`` when set, else ``policy.reference()`` (frozen copy or adapters off).
    """
    if not cfg.policy_name:
        raise ValueError("policy_name is empty: set it, or build a Policy yourself")
    policy = load_pretrained_policy(
        cfg.policy_name,
        tokenizer=tokenizer,
        lora_r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        lora_target_modules=cfg.lora_target_modules,
        dtype=cfg.dtype,
        device=device,
        seed=cfg.seed,
    )
    if cfg.ref_name:
        ref = load_pretrained_policy(
            cfg.ref_name, tokenizer=policy.tokenizer, dtype=cfg.dtype, device=device
        )
        ref.model.eval().requires_grad_(False)
    else:
        ref = policy.reference()
    return policy, ref
